"""instance listing indexes

Revision ID: 0004_instance_listing_indexes
Revises: 0003_compute
Create Date: 2026-11-25 00:15:00
"""

from __future__ import annotations

from alembic import op

revision = '0004_instance_listing_indexes'
down_revision = '0003_compute'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_instances') as batch:
        batch.drop_index('ix_compute_instances_project_deleted')
        batch.create_index('ix_compute_instances_project_listing',
                           ['project_id', 'deleted', 'created_at', 'uuid'])
        batch.create_index('ix_compute_instances_listing', ['deleted', 'created_at', 'uuid'])


def downgrade() -> None:
    with op.batch_alter_table('compute_instances') as batch:
        batch.drop_index('ix_compute_instances_listing')
        batch.drop_index('ix_compute_instances_project_listing')
        batch.create_index('ix_compute_instances_project_deleted', ['project_id', 'deleted'])
