"""network: ports' extra DHCP options, agents' first report and description; image:
the import tasks (GET /v2/images/{id}/tasks)

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
    op.create_table(
        'image_tasks',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('image_id', sa.String(length=36), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('input', sa.JSON(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_image_tasks_image_id', 'image_tasks', ['image_id'])


def downgrade() -> None:
    op.drop_index('ix_image_tasks_image_id', table_name='image_tasks')
    op.drop_table('image_tasks')
    with op.batch_alter_table('net_agents') as batch:
        batch.drop_column('description')
        batch.drop_column('heartbeat_at')
        batch.drop_column('created_at')
    with op.batch_alter_table('net_ports') as batch:
        batch.drop_column('extra_dhcp_opts')
