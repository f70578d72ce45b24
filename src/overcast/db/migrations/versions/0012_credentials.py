"""identity credentials (/v3/credentials, OS-EC2), blobs encrypted at rest

Revision ID: 0012_credentials
Revises: 0001
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012_credentials'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'identity_credentials',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=True),
        sa.Column('type', sa.String(length=255), nullable=False),
        sa.Column('encrypted_blob', sa.Text(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['identity_users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_identity_credentials_user_id', 'identity_credentials', ['user_id'])
    op.create_index('ix_identity_credentials_project_id', 'identity_credentials',
                    ['project_id'])
    op.create_index('ix_identity_credentials_type', 'identity_credentials', ['type'])


def downgrade() -> None:
    op.drop_table('identity_credentials')
