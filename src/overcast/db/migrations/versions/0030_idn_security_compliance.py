"""identity security compliance: per-user options, failed-authentication counters,
password expiry and self-service flag, the password history; domain configurations

Revision ID: 0030_idn_security_compliance
Revises: 0017_identity_tempest
Create Date: 2026-12-07 17:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030_idn_security_compliance'
down_revision = '0017_identity_tempest'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identity_users') as batch:
        batch.add_column(sa.Column('options', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('failed_auth_count', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('failed_auth_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('password_expires_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('password_self_service', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        'identity_password_history',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['identity_users.id'], ondelete='CASCADE'),
    )
    op.create_index('ix_identity_password_history_user_id', 'identity_password_history',
                    ['user_id'])
    op.create_table(
        'identity_domain_configs',
        sa.Column('domain_id', sa.String(length=64), nullable=False),
        sa.Column('group', sa.String(length=255), nullable=False),
        sa.Column('option', sa.String(length=255), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.Column('sensitive', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('domain_id', 'group', 'option'),
        sa.ForeignKeyConstraint(['domain_id'], ['identity_domains.id'],
                                ondelete='CASCADE'),
    )


def downgrade() -> None:
    op.drop_table('identity_domain_configs')
    op.drop_index('ix_identity_password_history_user_id', 'identity_password_history')
    op.drop_table('identity_password_history')
    with op.batch_alter_table('identity_users') as batch:
        for col in ('password_self_service', 'password_expires_at', 'failed_auth_at',
                    'failed_auth_count', 'options'):
            batch.drop_column(col)
