"""application credential access rules: a user's rules, and the rules each
application credential carries

Revision ID: 0031_idn_access_rules
Revises: 0030_idn_security_compliance
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0031_idn_access_rules'
down_revision = '0030_idn_security_compliance'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'identity_access_rules',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('service', sa.String(length=64), nullable=False),
        sa.Column('path', sa.String(length=255), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'service', 'path', 'method'),
    )
    op.create_index('ix_identity_access_rules_user_id', 'identity_access_rules',
                    ['user_id'])
    with op.batch_alter_table('identity_app_creds') as batch:
        batch.add_column(sa.Column('access_rules', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('identity_app_creds') as batch:
        batch.drop_column('access_rules')
    op.drop_index('ix_identity_access_rules_user_id', 'identity_access_rules')
    op.drop_table('identity_access_rules')
