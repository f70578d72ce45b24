"""incremental volume backups: each backup names the one it builds on; an imported
backup record names the account its objects are in; backups carry metadata (3.43)

Revision ID: 0020_backup_chain
Revises: 0018_backups
Create Date: 2026-12-07 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020_backup_chain'
down_revision = '0018_backups'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('volume_backups') as batch:
        batch.add_column(sa.Column('parent_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('object_account', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('backup_metadata', sa.JSON(), nullable=True))
        batch.create_index('ix_volume_backups_parent_id', ['parent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('volume_backups') as batch:
        batch.drop_index('ix_volume_backups_parent_id')
        batch.drop_column('backup_metadata')
        batch.drop_column('object_account')
        batch.drop_column('parent_id')
