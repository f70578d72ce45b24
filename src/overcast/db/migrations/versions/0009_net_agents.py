"""network agents (VXLAN tunnel endpoints)

Revision ID: 0009_net_agents
Revises: 0007_network
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009_net_agents'
down_revision = '0007_network'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'net_agents',
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('tunnel_ip', sa.String(length=64), nullable=False),
        sa.Column('network_host', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('host'),
    )


def downgrade() -> None:
    op.drop_table('net_agents')
