"""servers' own bookkeeping: compute_instances.auto_disk_config and system_metadata

Revision ID: 0019_instance_system_metadata
Revises: 0013_block_device_mappings
Create Date: 2026-12-07 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019_instance_system_metadata'
down_revision = '0013_block_device_mappings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_instances') as batch:
        batch.add_column(sa.Column('auto_disk_config', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('system_metadata', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_instances') as batch:
        batch.drop_column('system_metadata')
        batch.drop_column('auto_disk_config')
