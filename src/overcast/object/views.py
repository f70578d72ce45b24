"""Swift's wire shapes: response headers of accounts, containers and objects,
and listings as json, xml or plain text, from records already loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

import orjson

from overcast.object.ranges import http_date
from overcast.object.records import (
    AccountInfo,
    ContainerEntry,
    ContainerInfo,
    Entry,
    ObjectInfo,
    Subdir,
)
from overcast.object.store import iso_time

TYPES = {"json": "application/json; charset=utf-8",
         "xml": "application/xml; charset=utf-8",
         "plain": "text/plain; charset=utf-8"}


def timestamp(ts: float) -> str:
    return f"{ts:016.5f}"


def listing_format(query: Mapping[str, str], accept: str | None) -> str:
    """?format= wins; then the Accept header (Swift's get_listing_content_type)."""
    fmt = query.get("format")
    if fmt:  # an unknown format is plain text, as in Swift
        fmt = fmt.lower()
        return fmt if fmt in TYPES else "plain"
    accept = (accept or "").lower()
    for media, name in (("application/json", "json"), ("application/xml", "xml"),
                        ("text/xml", "xml"), ("text/plain", "plain")):
        if media in accept:
            return name
    return "plain"


def _meta(kind: str, meta: Mapping[str, str]) -> dict[str, str]:
    return {f"X-{kind}-Meta-{k.title()}": v for k, v in meta.items()}


#: What only the account's owners see (Swift's swift_owner_headers): ACLs and keys.
OWNER_HEADERS = ("x-container-read", "x-container-write", "x-account-meta-temp-url-key",
                 "x-account-meta-temp-url-key-2", "x-container-meta-temp-url-key",
                 "x-container-meta-temp-url-key-2")


def _for(headers: dict[str, str], owner: bool) -> dict[str, str]:
    if owner:
        return headers
    return {k: v for k, v in headers.items() if k.lower() not in OWNER_HEADERS}


def account_headers(a: AccountInfo, owner: bool = True) -> dict[str, str]:
    h = {"X-Account-Container-Count": str(a.container_count),
         "X-Account-Object-Count": str(a.object_count),
         "X-Account-Bytes-Used": str(a.bytes_used),
         "X-Timestamp": timestamp(a.created_at),
         "X-Put-Timestamp": timestamp(a.created_at),
         "Accept-Ranges": "bytes"}
    h.update(_meta("Account", a.meta))
    if a.quota_bytes is not None:
        h["X-Account-Meta-Quota-Bytes"] = str(a.quota_bytes)
    if a.container_count:
        # usage per storage policy; there is one, Policy-0 (/info lists it)
        h["X-Account-Storage-Policy-Policy-0-Bytes-Used"] = str(a.bytes_used)
        h["X-Account-Storage-Policy-Policy-0-Object-Count"] = str(a.object_count)
        h["X-Account-Storage-Policy-Policy-0-Container-Count"] = str(a.container_count)
    return _for(h, owner)


def container_headers(c: ContainerInfo, owner: bool = True) -> dict[str, str]:
    h = {"X-Container-Object-Count": str(c.object_count),
         "X-Container-Bytes-Used": str(c.bytes_used),
         "X-Timestamp": timestamp(c.created_at),
         "X-Put-Timestamp": timestamp(c.created_at),
         "Last-Modified": http_date(c.created_at),
         "Accept-Ranges": "bytes",
         "X-Storage-Policy": "Policy-0"}
    h.update(_meta("Container", c.meta))
    if c.read_acl:
        h["X-Container-Read"] = c.read_acl
    if c.write_acl:
        h["X-Container-Write"] = c.write_acl
    if c.versions_location:
        h["X-Versions-Location" if c.versions_mode == "stack" else "X-History-Location"] = \
            c.versions_location
    return _for(h, owner)


def object_headers(o: ObjectInfo, *, etag: str | None = None, size: int | None = None
                   ) -> dict[str, str]:
    h = {"Content-Type": o.content_type,
         "Etag": etag or o.etag,
         "Content-Length": str(o.size if size is None else size),
         "Last-Modified": http_date(o.timestamp),
         "X-Timestamp": timestamp(o.timestamp),
         "Accept-Ranges": "bytes"}
    h.update(_meta("Object", o.meta))
    for k, v in o.headers.items():
        h["-".join(p.capitalize() for p in k.split("-"))] = v
    if o.delete_at is not None:
        h["X-Delete-At"] = str(o.delete_at)
    if o.dlo_manifest is not None:
        h["X-Object-Manifest"] = o.dlo_manifest
    if o.slo_manifest is not None:
        h["X-Static-Large-Object"] = "True"
    if o.manifest_etag:
        h["X-Manifest-Etag"] = o.manifest_etag
    return h


def account_listing(account: str, entries: Sequence[ContainerEntry | Subdir],
                    fmt: str) -> bytes:
    if fmt == "json":
        return orjson.dumps([
            {"subdir": e.name} if isinstance(e, Subdir) else
            {"name": e.name, "count": e.count, "bytes": e.bytes,
             "last_modified": iso_time(e.timestamp)} for e in entries])
    if fmt == "xml":
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<account name="{escape(account)}">']
        for e in entries:
            if isinstance(e, Subdir):
                parts.append(f'<subdir name="{escape(e.name)}"><name>{escape(e.name)}</name>'
                             "</subdir>")
            else:
                parts.append(f"<container><name>{escape(e.name)}</name><count>{e.count}"
                             f"</count><bytes>{e.bytes}</bytes><last_modified>"
                             f"{iso_time(e.timestamp)}</last_modified></container>")
        parts.append("</account>")
        return "".join(parts).encode()
    return "".join(e.name + "\n" for e in entries).encode()


def container_listing(container: str, entries: Sequence[Entry | Subdir], fmt: str) -> bytes:
    if fmt == "json":
        # one loop, no helper calls but the time's: a 10,000-object page is built
        # here, and every call per entry shows in its time
        out: list[dict[str, Any]] = []
        append = out.append
        for e in entries:
            if type(e) is Subdir:
                append({"subdir": e.name})
                continue
            assert isinstance(e, Entry)
            item: dict[str, Any] = {"name": e.name, "hash": e.manifest_etag or e.etag,
                                    "bytes": e.size, "content_type": e.content_type,
                                    "last_modified": iso_time(e.timestamp)}
            if e.manifest_etag:
                item["slo_etag"] = f'"{e.etag}"'
            if e.symlink_path:
                item["symlink_path"] = e.symlink_path
            append(item)
        return orjson.dumps(out)
    if fmt == "xml":
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n'
                 f'<container name="{escape(container)}">']
        for e in entries:
            if isinstance(e, Subdir):
                parts.append(f'<subdir name="{escape(e.name)}"><name>{escape(e.name)}</name>'
                             "</subdir>")
            else:
                parts.append(f"<object><name>{escape(e.name)}</name><hash>"
                             f"{e.manifest_etag or e.etag}</hash>"
                             f"<bytes>{e.size}</bytes><content_type>"
                             f"{escape(e.content_type)}</content_type><last_modified>"
                             f"{iso_time(e.timestamp)}</last_modified></object>")
        parts.append("</container>")
        return "".join(parts).encode()
    return "".join(e.name + "\n" for e in entries).encode()


def info(tempurl_digests: Sequence[str]) -> dict[str, Any]:
    """/info: what this object store really does (Swift's capabilities document)."""
    from overcast.object import schemas

    return {
        "swift": {**schemas.CONSTRAINTS, "version": "2.30.0", "strict_cors_mode": True,
                  "account_autocreate": True, "allow_account_management": False,
                  "policies": [{"name": "Policy-0", "default": True}]},
        "tempurl": {"methods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
                    "incoming_remove_headers": ["x-timestamp"],
                    "incoming_allow_headers": [],
                    "outgoing_remove_headers": ["x-object-meta-*"],
                    "outgoing_allow_headers": ["x-object-meta-public-*"],
                    "allowed_digests": list(tempurl_digests)},
        "slo": {"max_manifest_segments": schemas.SLO_MAX_MANIFEST_SEGMENTS,
                "max_manifest_size": schemas.SLO_MAX_MANIFEST_SIZE,
                "min_segment_size": schemas.SLO_MIN_SEGMENT_SIZE,
                "yield_frequency": 10, "allow_async_delete": False},
        "dlo": {"max_get_time": 86400},
        "staticweb": {},
        "symlink": {"symloop_max": 2, "static_links": True},
        "formpost": {"allowed_digests": list(tempurl_digests)},
        "versioned_writes": {"allowed_flags": ["x-versions-location",
                                               "x-history-location"]},
        "account_quotas": {},
        "container_quotas": {},
        "bulk_upload": {"max_containers_per_extraction": 10000,
                        "max_failed_extractions": 1000},
        "bulk_delete": {"max_deletes_per_request": schemas.MAX_DELETES_PER_REQUEST,
                        "max_failed_deletes": 1000},
        "keystoneauth": {},
    }
