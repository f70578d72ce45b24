"""What the object store's domain functions return: plain records, no HTTP.

The Swift routes turn these into headers and listings (`views.py`); an S3 front
end turns the same records into its XML. Times are Unix seconds (floats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AccountInfo:
    name: str
    container_count: int
    object_count: int
    bytes_used: int
    meta: dict[str, str]
    quota_bytes: int | None
    created_at: float
    exists: bool


@dataclass
class ContainerInfo:
    account: str
    name: str
    object_count: int
    bytes_used: int
    meta: dict[str, str]
    read_acl: str | None
    write_acl: str | None
    created_at: float
    versions_location: str | None = None
    versions_mode: str | None = None

    @property
    def quota_bytes(self) -> int | None:
        return _int_or_none(self.meta.get("quota-bytes"))

    @property
    def quota_count(self) -> int | None:
        return _int_or_none(self.meta.get("quota-count"))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class ObjectInfo:
    account: str
    container: str
    name: str
    size: int
    etag: str
    content_type: str
    timestamp: float
    meta: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delete_at: int | None = None
    location: str | None = None
    dlo_manifest: str | None = None
    slo_manifest: list[dict[str, Any]] | None = None
    manifest_etag: str | None = None
    symlink_path: str | None = None

    @property
    def is_manifest(self) -> bool:
        return self.dlo_manifest is not None or self.slo_manifest is not None


@dataclass(slots=True)
class Entry:
    """One line of a container listing."""

    name: str
    size: int
    etag: str
    content_type: str
    timestamp: float
    #: for an SLO: the md5 of its manifest (the listing's "hash"; `etag` is then the
    #: SLO's etag, shown as "slo_etag")
    manifest_etag: str | None = None
    #: for a symlink: its target's path
    symlink_path: str | None = None


@dataclass(slots=True)
class ContainerEntry:
    """One line of an account listing."""

    name: str
    count: int
    bytes: int
    timestamp: float


@dataclass(slots=True)
class Subdir:
    """A common prefix (`delimiter` listings)."""

    name: str


@dataclass
class Segment:
    """A piece of a large object's bytes: [start, end) of one stored blob."""

    location: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start
