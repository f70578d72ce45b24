"""the volume type a server's new volume is made with (compute 2.67)

Revision ID: 0022_bdm_volume_type
Revises: 0021_compute_aggregates
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022_bdm_volume_type'
down_revision = '0021_compute_aggregates'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_block_device_mappings') as batch:
        batch.add_column(sa.Column('volume_type', sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_block_device_mappings') as batch:
        batch.drop_column('volume_type')
