"""identity policies, endpoint groups (OS-EP-FILTER), OAuth1 consumers, trusts,
endpoint-project associations

Revision ID: 0017_identity_tempest
Revises: 0012_credentials
Create Date: 2026-12-07 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0017_identity_tempest'
down_revision = '0012_credentials'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'identity_policies',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('type', sa.String(length=255), nullable=False),
        sa.Column('blob', sa.Text(), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'identity_endpoint_groups',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'identity_oauth1_consumers',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'identity_trusts',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('trustor_user_id', sa.String(length=64), nullable=False),
        sa.Column('trustee_user_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=True),
        sa.Column('impersonation', sa.Boolean(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('remaining_uses', sa.Integer(), nullable=True),
        sa.Column('role_ids', sa.JSON(), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_identity_trusts_trustor_user_id', 'identity_trusts',
                    ['trustor_user_id'])
    op.create_index('ix_identity_trusts_trustee_user_id', 'identity_trusts',
                    ['trustee_user_id'])
    op.create_table(
        'identity_project_endpoints',
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('endpoint_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'endpoint_id'),
    )
    op.create_table(
        'identity_project_endpoint_groups',
        sa.Column('endpoint_group_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('endpoint_group_id', 'project_id'),
    )


def downgrade() -> None:
    op.drop_table('identity_project_endpoint_groups')
    op.drop_table('identity_project_endpoints')
    op.drop_table('identity_trusts')
    op.drop_table('identity_oauth1_consumers')
    op.drop_table('identity_endpoint_groups')
    op.drop_table('identity_policies')
