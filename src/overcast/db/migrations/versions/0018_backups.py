"""volume backups (Cinder's backups, kept in the object store)

Revision ID: 0018_backups
Revises: 0010_volume
Create Date: 2026-12-07 05:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018_backups'
down_revision = '0010_volume'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'volume_backups',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('volume_id', sa.String(length=36), nullable=False),
        sa.Column('snapshot_id', sa.String(length=36), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('description', sa.String(length=255), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('fail_reason', sa.String(length=1024), nullable=True),
        sa.Column('availability_zone', sa.String(length=255), nullable=False),
        sa.Column('container', sa.String(length=255), nullable=False),
        sa.Column('prefix', sa.String(length=255), nullable=False),
        sa.Column('object_count', sa.BigInteger(), nullable=False),
        sa.Column('is_incremental', sa.Boolean(), nullable=False),
        sa.Column('volume_status', sa.String(length=32), nullable=True),
        sa.Column('restore_volume_id', sa.String(length=36), nullable=True),
        sa.Column('data_timestamp', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_volume_backups_project_created', 'volume_backups',
                    ['project_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_volume_backups_volume_id'), 'volume_backups', ['volume_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_volume_backups_volume_id'), table_name='volume_backups')
    op.drop_index('ix_volume_backups_project_created', table_name='volume_backups')
    op.drop_table('volume_backups')
