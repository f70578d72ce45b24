"""network: ports' extra DHCP options; agents' first report, state and description

Revision ID: 0014_tempest_network
Revises: 0009_net_agents
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014_tempest_network'
down_revision = '0009_net_agents'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('net_ports') as batch:
        batch.add_column(sa.Column('extra_dhcp_opts', sa.JSON(), nullable=True))
    with op.batch_alter_table('net_agents') as batch:
        batch.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('description', sa.String(length=255), nullable=False,
                                   server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('net_agents') as batch:
        batch.drop_column('description')
        batch.drop_column('heartbeat_at')
        batch.drop_column('created_at')
    with op.batch_alter_table('net_ports') as batch:
        batch.drop_column('extra_dhcp_opts')
