"""network: subnet pools, ports' extra DHCP options, agents' first report and
description; image: the import tasks (GET /v2/images/{id}/tasks) and the metadata
definitions catalog (metadefs), with Glance's five resource types

Revision ID: 0014_tempest_network
Revises: 0009_net_agents
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

#: the resource types Glance's own migrations seed
RESOURCE_TYPES = ("OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor",
                  "OS::Nova::Aggregate", "OS::Nova::Server")


revision = '0014_tempest_network'
down_revision = '0009_net_agents'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'net_subnetpools',
        sa.Column('ip_version', sa.Integer(), nullable=False),
        sa.Column('prefixes', sa.JSON(), nullable=False),
        sa.Column('default_prefixlen', sa.Integer(), nullable=False),
        sa.Column('min_prefixlen', sa.Integer(), nullable=False),
        sa.Column('max_prefixlen', sa.Integer(), nullable=False),
        sa.Column('shared', sa.Boolean(), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_net_subnetpools')),
    )
    op.create_index(op.f('ix_net_subnetpools_project_id'), 'net_subnetpools',
                    ['project_id'])
    with op.batch_alter_table('net_subnets') as batch:
        batch.add_column(sa.Column('subnetpool_id', sa.String(length=36), nullable=True))
        batch.create_index(batch.f('ix_net_subnets_subnetpool_id'), ['subnetpool_id'])
    with op.batch_alter_table('net_ports') as batch:
        batch.add_column(sa.Column('extra_dhcp_opts', sa.JSON(), nullable=True))
    with op.batch_alter_table('net_agents') as batch:
        batch.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('description', sa.String(length=255), nullable=False,
                                   server_default=''))
    op.create_table(
        'image_tasks',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('image_id', sa.String(length=36), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('input', sa.JSON(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_image_tasks_image_id', 'image_tasks', ['image_id'])
    op.create_table(
        'image_metadef_namespaces',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('namespace', sa.String(length=80), nullable=False),
        sa.Column('display_name', sa.String(length=80), nullable=True),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('visibility', sa.String(length=32), nullable=False),
        sa.Column('protected', sa.Boolean(), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_image_metadef_namespaces')),
        sa.UniqueConstraint('namespace', name=op.f('uq_image_metadef_namespaces_namespace')),
    )
    op.create_table(
        'image_metadef_items',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('namespace_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['namespace_id'], ['image_metadef_namespaces.id'], ondelete='CASCADE',
            name=op.f('fk_image_metadef_items_namespace_id_image_metadef_namespaces')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_image_metadef_items')),
        sa.UniqueConstraint('namespace_id', 'kind', 'name',
                            name=op.f('uq_image_metadef_items_namespace_id_kind_name')),
    )
    op.create_index(op.f('ix_image_metadef_items_namespace_id'), 'image_metadef_items',
                    ['namespace_id'])
    types = op.create_table(
        'image_metadef_resource_types',
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('protected', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_image_metadef_resource_types')),
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    op.bulk_insert(types, [{"name": n, "protected": True, "created_at": now,
                            "updated_at": now} for n in RESOURCE_TYPES])
    op.create_table(
        'image_metadef_assocs',
        sa.Column('namespace_id', sa.String(length=36), nullable=False),
        sa.Column('resource_type', sa.String(length=80), nullable=False),
        sa.Column('prefix', sa.String(length=80), nullable=True),
        sa.Column('properties_target', sa.String(length=80), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['namespace_id'], ['image_metadef_namespaces.id'], ondelete='CASCADE',
            name=op.f('fk_image_metadef_assocs_namespace_id_image_metadef_namespaces')),
        sa.PrimaryKeyConstraint('namespace_id', 'resource_type',
                                name=op.f('pk_image_metadef_assocs')),
    )


def downgrade() -> None:
    op.drop_table('image_metadef_assocs')
    op.drop_table('image_metadef_resource_types')
    op.drop_index(op.f('ix_image_metadef_items_namespace_id'), table_name='image_metadef_items')
    op.drop_table('image_metadef_items')
    op.drop_table('image_metadef_namespaces')
    with op.batch_alter_table('net_subnets') as batch:
        batch.drop_index(batch.f('ix_net_subnets_subnetpool_id'))
        batch.drop_column('subnetpool_id')
    op.drop_index(op.f('ix_net_subnetpools_project_id'), table_name='net_subnetpools')
    op.drop_table('net_subnetpools')
    op.drop_index('ix_image_tasks_image_id', table_name='image_tasks')
    op.drop_table('image_tasks')
    with op.batch_alter_table('net_agents') as batch:
        batch.drop_column('description')
        batch.drop_column('heartbeat_at')
        batch.drop_column('created_at')
    with op.batch_alter_table('net_ports') as batch:
        batch.drop_column('extra_dhcp_opts')
