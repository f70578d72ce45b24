"""Large objects: static (SLO) and dynamic (DLO) manifests, as Swift builds them.

An SLO manifest is a list of segments (`container/object`, etag, size, optional
byte range) checked when it is stored: each segment must exist in the account,
match the etag and size given, and hold at least one byte. Its ETag is the md5
of the segments' etags (Swift's), its size their sum. A DLO manifest names a
container and prefix: its bytes are every object under the prefix, in name
order, at the time of reading. Both resolve to `records.Segment`s for reads
and copies; neither depends on HTTP (S3 multipart uploads complete into one).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from overcast.object import containers, ranges
from overcast.object import errors as e
from overcast.object import models as m
from overcast.object.objects import lookup
from overcast.object.records import ObjectInfo, Segment
from overcast.object.schemas import SLO_MIN_SEGMENT_SIZE
from overcast.object.store import ObjectStore, iso_time, live, prefix_end

#: How deep SLOs may nest (slo.py's max_manifest_depth... kept small).
MAX_DEPTH = 10
#: DLO: at most this many segments are read (dlo.py's max_get_time bounds it there).
DLO_MAX_SEGMENTS = 10000


def split_path(path: str) -> tuple[str, str]:
    """"/container/object" or "container/object" -> (container, object)."""
    container, _, obj = path.lstrip("/").partition("/")
    if not container or not obj:
        raise e.bad_request(f"Invalid segment path {path!r}: it names a container and "
                            "an object, as container/object.")
    return container, obj


def build_slo(store: ObjectStore, account: str, segments: list[dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], int, str]:
    """Check an SLO manifest's segments; return (stored manifest, size, etag)."""
    problems: list[str] = []
    stored: list[dict[str, Any]] = []
    total = 0
    etags = hashlib.md5(usedforsecurity=False)
    for i, seg in enumerate(segments):
        container, name = split_path(seg["path"])
        found = lookup(store, account, container, name)
        path = f"/{container}/{name}"
        if found is None:
            problems.append(f"{path}, 404 Not Found")
            continue
        seg_etag = found.etag.strip('"')
        if seg.get("etag") and seg["etag"].strip('"').lower() != seg_etag:
            problems.append(f"{path}, Etag Mismatch")
        if seg.get("size_bytes") is not None and seg["size_bytes"] != found.size:
            problems.append(f"{path}, Size Mismatch")
        length = found.size
        entry: dict[str, Any] = {"name": path, "hash": seg_etag, "bytes": found.size,
                                 "content_type": found.content_type,
                                 "last_modified": found.timestamp}
        if seg.get("range"):
            spans = _one_range(seg["range"], found.size)
            if spans is None:
                problems.append(f"{path}, Unsatisfiable Range")
                continue
            entry["range"] = f"{spans[0]}-{spans[1] - 1}"
            length = spans[1] - spans[0]
        if length < SLO_MIN_SEGMENT_SIZE and i < len(segments) - 1:
            problems.append(f"{path}, Too Small; each segment must be at least "
                            f"{SLO_MIN_SEGMENT_SIZE} byte.")
        if found.slo_manifest is not None:
            entry["sub_slo"] = True
        total += length
        etags.update(f"{seg_etag}:{entry['range']};".encode() if "range" in entry
                     else seg_etag.encode())
        stored.append(entry)
    if problems:
        raise e.bad_request("Errors:\n" + "\n".join(problems))
    return stored, total, etags.hexdigest()


def _one_range(text: str, size: int) -> tuple[int, int] | None:
    try:
        spans = ranges.spans(f"bytes={text}", size)
    except e.OvercastError:
        return None
    return spans[0] if spans and len(spans) == 1 else None


def segments(store: ObjectStore, obj: ObjectInfo, depth: int = 0) -> list[Segment]:
    """Where the object's bytes are, in order."""
    if obj.slo_manifest is not None:
        return _slo_segments(store, obj, depth)
    if obj.dlo_manifest is not None:
        return _dlo_segments(store, obj.account, obj.dlo_manifest)
    if obj.location is None:
        return []
    return [Segment(obj.location, 0, obj.size)]


def _slo_segments(store: ObjectStore, obj: ObjectInfo, depth: int) -> list[Segment]:
    if depth > MAX_DEPTH:
        raise e.Conflict("Max recursion depth exceeded on the manifest.")
    out: list[Segment] = []
    for entry in obj.slo_manifest or []:
        container, name = split_path(entry["name"])
        seg = lookup(store, obj.account, container, name)
        if seg is None or seg.etag.strip('"') != entry["hash"]:
            raise e.Conflict(f"Object segment no longer valid: {entry['name']} "
                             "(missing or changed).")
        inner = segments(store, seg, depth + 1)
        if "range" in entry:
            lo, hi = (int(x) for x in entry["range"].split("-"))
            inner = _cut(inner, lo, hi + 1)
        out.extend(inner)
    return out


def _cut(segs: list[Segment], start: int, end: int) -> list[Segment]:
    out: list[Segment] = []
    offset = 0
    for seg in segs:
        seg_end = offset + seg.length
        if seg_end > start and offset < end:
            lo = max(start, offset) - offset + seg.start
            hi = min(end, seg_end) - offset + seg.start
            out.append(Segment(seg.location, lo, hi))
        offset = seg_end
    return out


def _dlo_rows(store: ObjectStore, account: str, manifest: str) -> list[m.Object]:
    container, _, prefix = manifest.partition("/")
    with store.db.session() as s:
        c = containers.find(s, account, container)
        q = select(m.Object).where(m.Object.container_id == c.id, live())
        if prefix:
            q = q.where(m.Object.name >= prefix)
            end = prefix_end(prefix)
            if end is not None:
                q = q.where(m.Object.name < end)
        rows = list(s.scalars(q.order_by(m.Object.name).limit(DLO_MAX_SEGMENTS)))
        s.expunge_all()
        return rows


def _dlo_segments(store: ObjectStore, account: str, manifest: str) -> list[Segment]:
    try:
        rows = _dlo_rows(store, account, manifest)
    except e.NotFound:
        return []
    return [Segment(r.location, 0, int(r.size)) for r in rows
            if r.location and r.dlo_manifest is None and r.slo_manifest is None]


def dlo_totals(store: ObjectStore, account: str, manifest: str) -> tuple[int, str]:
    """A DLO's size and ETag (md5 of its segments' etags, as dlo.py computes it)."""
    try:
        rows = _dlo_rows(store, account, manifest)
    except e.NotFound:
        rows = []
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    for r in rows:
        if r.dlo_manifest is None and r.slo_manifest is None:
            md5.update(r.etag.strip('"').encode())
            size += int(r.size)
    return size, md5.hexdigest()


def slo_segment_paths(obj: ObjectInfo) -> list[tuple[str, str]]:
    """The (container, object) of each segment of an SLO (for ?multipart-manifest=delete)."""
    return [split_path(entry["name"]) for entry in obj.slo_manifest or []]


def manifest_listing(obj: ObjectInfo) -> list[dict[str, Any]]:
    """The manifest as `?multipart-manifest=get` returns it."""
    out = []
    for entry in obj.slo_manifest or []:
        item = {k: v for k, v in entry.items() if k != "last_modified"}
        item["last_modified"] = iso_time(float(entry.get("last_modified", 0)))
        out.append(item)
    return out
