"""identity policies, endpoint groups (OS-EP-FILTER) and OAuth1 consumers

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


def downgrade() -> None:
    op.drop_table('identity_oauth1_consumers')
    op.drop_table('identity_endpoint_groups')
    op.drop_table('identity_policies')
