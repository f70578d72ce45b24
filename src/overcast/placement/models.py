"""Placement's tables: resource providers (nested by parent/root), inventories,
consumers with their allocations, custom resource classes, traits, aggregates.

Every provider write bumps `generation` (optimistic concurrency: a writer that
saw an older generation loses with 409); consumers carry their own generation.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.base import Base, utcnow


class Provider(Base):
    __tablename__ = "placement_providers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("placement_providers.id"), nullable=True, index=True)
    root_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Inventory(Base):
    __tablename__ = "placement_inventories"
    __table_args__ = (UniqueConstraint("provider_id", "resource_class"),
                      Index("ix_placement_inv_rc", "resource_class", "provider_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("placement_providers.id", ondelete="CASCADE"))
    resource_class: Mapped[str] = mapped_column(String(255))
    total: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    min_unit: Mapped[int] = mapped_column(Integer, default=1)
    max_unit: Mapped[int] = mapped_column(Integer)
    step_size: Mapped[int] = mapped_column(Integer, default=1)
    allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)


class Consumer(Base):
    __tablename__ = "placement_consumers"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    consumer_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Allocation(Base):
    __tablename__ = "placement_allocations"
    __table_args__ = (Index("ix_placement_alloc_rc", "resource_class", "provider_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("placement_providers.id"))
    consumer_id: Mapped[str] = mapped_column(String(36), index=True)
    resource_class: Mapped[str] = mapped_column(String(255))
    used: Mapped[int] = mapped_column(Integer)


class CustomResourceClass(Base):
    __tablename__ = "placement_resource_classes"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class CustomTrait(Base):
    __tablename__ = "placement_traits"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class ProviderTrait(Base):
    __tablename__ = "placement_provider_traits"
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("placement_providers.id", ondelete="CASCADE"), primary_key=True)
    trait: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class ProviderAggregate(Base):
    __tablename__ = "placement_provider_aggregates"
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("placement_providers.id", ondelete="CASCADE"), primary_key=True)
    aggregate: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
