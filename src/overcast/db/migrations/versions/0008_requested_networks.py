"""instance requested networks

Revision ID: 0008_requested_networks
Revises: 0006_resize_source
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008_requested_networks'
down_revision = '0006_resize_source'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_networks', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_instances', schema=None) as batch_op:
        batch_op.drop_column('requested_networks')
