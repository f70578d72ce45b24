"""who asked for a move: the user and project on each migration record (compute 2.80)

Revision ID: 0032_migration_owner
Revises: 0030_live_migration_progress
Create Date: 2026-12-07 23:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0032_migration_owner'
down_revision = '0030_live_migration_progress'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_migrations') as batch:
        batch.add_column(sa.Column('user_id', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('project_id', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_migrations') as batch:
        batch.drop_column('project_id')
        batch.drop_column('user_id')
