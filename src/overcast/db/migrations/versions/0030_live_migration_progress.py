"""a live migration's progress counters on its migration record

Revision ID: 0030_live_migration_progress
Revises: 0021_compute_aggregates
Create Date: 2026-12-07 17:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030_live_migration_progress'
down_revision = '0021_compute_aggregates'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_migrations') as batch:
        batch.add_column(sa.Column('progress', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_migrations') as batch:
        batch.drop_column('progress')
