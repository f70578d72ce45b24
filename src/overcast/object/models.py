"""The object store's tables: accounts, containers and objects (metadata only).

Object bytes live in a backend (`backends/`); a row names them by `location`.
Listings are index range scans: objects are keyed (container_id, name) with the
name compared bytewise ("C" collation on PostgreSQL, BINARY on SQLite), which is
the order Swift lists in, so prefix/marker/limit over 100,000 objects reads only
the rows it returns. Counts and bytes are kept on the container row, updated in
the transaction that adds or removes an object, so HEADs never scan.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.base import Base, utcnow

#: 64-bit ids (an INTEGER PRIMARY KEY on SQLite, which autoincrements only that type).
_ID = BigInteger().with_variant(Integer, "sqlite")


def _bytewise(length: int) -> Any:
    """A string column sorted by bytes, as Swift sorts names (UTF-8 order)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Account(Base):
    """One Swift account (`AUTH_<project_id>`), made on first write."""

    __tablename__ = "object_accounts"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    #: User metadata (`X-Account-Meta-*`, lower-cased names), temp-URL keys included.
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: Bytes the account may hold (`X-Account-Meta-Quota-Bytes`, set by a reseller admin).
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class Container(Base):
    __tablename__ = "object_containers"
    __table_args__ = (UniqueConstraint("account", "name"),)
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("object_accounts.name"), index=True)
    name: Mapped[str] = mapped_column(_bytewise(256))
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    read_acl: Mapped[str | None] = mapped_column(Text, nullable=True)
    write_acl: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Legacy versioning: the container old versions go to (`X-Versions-Location`,
    #: mode "stack", or `X-History-Location`, mode "history").
    versions_location: Mapped[str | None] = mapped_column(String(256), nullable=True)
    versions_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Swift's X-Timestamp of creation (seconds since the epoch).
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Object(Base):
    __tablename__ = "object_objects"
    __table_args__ = (
        UniqueConstraint("container_id", "name"),
        # the reaper's scan: only rows with an expiry, oldest first
        Index("ix_object_objects_delete_at", "delete_at"),
    )
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    container_id: Mapped[int] = mapped_column(
        ForeignKey("object_containers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(_bytewise(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    #: md5 hex of the bytes; for a manifest, Swift's etag of the segments' etags.
    etag: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(256))
    #: Swift's X-Timestamp of the write (seconds since the epoch, 5 decimals).
    timestamp: Mapped[float] = mapped_column(Float)
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: Other headers kept with the object (Content-Disposition, Content-Encoding, ...).
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: Unix time after which the object is gone (X-Delete-At), or None.
    delete_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: "<backend>:<key>" of the bytes; None for a DLO manifest (it has no bytes).
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: DLO: "<container>/<prefix>" (X-Object-Manifest).
    dlo_manifest: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: SLO: the segments as stored JSON ([{name, hash, bytes, range?}, ...]).
    #: A symlink's target, "/v1/<account>/<container>/<object>" (listings show it).
    symlink_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: SLO: the md5 of the stored manifest (listings' "hash", GET's X-Manifest-Etag).
    manifest_etag: Mapped[str | None] = mapped_column(String(32), nullable=True)
    slo_manifest: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True)
