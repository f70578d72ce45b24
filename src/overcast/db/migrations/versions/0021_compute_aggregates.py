"""host aggregates (compute_aggregates, their hosts and metadata), quota classes and
migration records

Revision ID: 0021_compute_aggregates
Revises: 0013_block_device_mappings
Create Date: 2026-12-07 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021_compute_aggregates'
down_revision = '0013_block_device_mappings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'compute_aggregates',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('uuid'), sa.UniqueConstraint('name'))
    op.create_table(
        'compute_aggregate_hosts',
        sa.Column('aggregate_id', sa.Integer(),
                  sa.ForeignKey('compute_aggregates.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('host', sa.String(255), primary_key=True))
    op.create_index(op.f('ix_compute_aggregate_hosts_host'), 'compute_aggregate_hosts',
                    ['host'], unique=False)
    op.create_table(
        'compute_aggregate_metadata',
        sa.Column('aggregate_id', sa.Integer(),
                  sa.ForeignKey('compute_aggregates.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('key', sa.String(255), primary_key=True),
        sa.Column('value', sa.String(255), nullable=False))
    op.create_table(
        'compute_quota_classes',
        sa.Column('class_name', sa.String(255), primary_key=True),
        sa.Column('resource', sa.String(64), primary_key=True),
        sa.Column('hard_limit', sa.Integer(), nullable=False))
    op.create_table(
        'compute_migrations',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('migration_type', sa.String(16), nullable=False),
        sa.Column('source_compute', sa.String(255), nullable=True),
        sa.Column('dest_compute', sa.String(255), nullable=True),
        sa.Column('old_flavor_id', sa.String(255), nullable=True),
        sa.Column('new_flavor_id', sa.String(255), nullable=True),
        sa.Column('status', sa.String(32), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('uuid'))
    op.create_index(op.f('ix_compute_migrations_instance_uuid'), 'compute_migrations',
                    ['instance_uuid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_compute_migrations_instance_uuid'),
                  table_name='compute_migrations')
    op.drop_table('compute_migrations')
    op.drop_table('compute_quota_classes')
    op.drop_table('compute_aggregate_metadata')
    op.drop_index(op.f('ix_compute_aggregate_hosts_host'),
                  table_name='compute_aggregate_hosts')
    op.drop_table('compute_aggregate_hosts')
    op.drop_table('compute_aggregates')
