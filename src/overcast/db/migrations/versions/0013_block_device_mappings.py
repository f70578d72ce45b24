"""servers' volumes: compute_block_device_mappings

Revision ID: 0013_block_device_mappings
Revises: 0008_requested_networks
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_block_device_mappings'
down_revision = '0008_requested_networks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'compute_block_device_mappings',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('volume_id', sa.String(36), nullable=True),
        sa.Column('attachment_id', sa.String(36), nullable=True),
        sa.Column('device_name', sa.String(255), nullable=True),
        sa.Column('boot_index', sa.Integer(), nullable=True),
        sa.Column('source_type', sa.String(16), nullable=False),
        sa.Column('destination_type', sa.String(16), nullable=False),
        sa.Column('source_id', sa.String(36), nullable=True),
        sa.Column('volume_size', sa.Integer(), nullable=True),
        sa.Column('delete_on_termination', sa.Boolean(), nullable=False),
        sa.Column('tag', sa.String(60), nullable=True),
        sa.Column('connection_info', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_compute_block_device_mappings_instance_uuid',
                    'compute_block_device_mappings', ['instance_uuid'])
    op.create_index('ix_compute_block_device_mappings_volume_id',
                    'compute_block_device_mappings', ['volume_id'])


def downgrade() -> None:
    op.drop_table('compute_block_device_mappings')
