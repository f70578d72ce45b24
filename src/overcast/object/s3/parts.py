"""Where S3 multipart uploads live in the object store, as Swift's s3api keeps
them, so that a completed upload is an ordinary Swift static large object:

- every bucket `B` has a hidden container `B+segments` (not a valid bucket
  name, so ListBuckets leaves it out; Swift lists it);
- an upload in progress is a marker object `<key>/<upload id>` there, whose
  content type and metadata are the future object's;
- part N is the object `<key>/<upload id>/<N, five digits>`;
- CompleteMultipartUpload writes an SLO manifest at `B/<key>` over the parts
  (its ETag S3's md5-of-md5s-N) and removes the marker and unused parts;
  deleting or overwriting the object through S3 removes its parts too.

The parts count in the account's usage as in Swift (the manifest's size too).
"""

from __future__ import annotations

import asyncio
import re
import uuid

from overcast.kit.errors import OvercastError
from overcast.object import large, objects
from overcast.object.records import ObjectInfo
from overcast.object.s3.common import Target
from overcast.object.store import ObjectStore

SUFFIX = "+segments"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def segments_container(bucket: str) -> str:
    return bucket + SUFFIX


def new_upload_id() -> str:
    return uuid.uuid4().hex


def is_upload_id(value: str) -> bool:
    return bool(_UPLOAD_ID.match(value))


def marker_name(key: str, upload_id: str) -> str:
    return f"{key}/{upload_id}"


def part_name(key: str, upload_id: str, number: int) -> str:
    return f"{key}/{upload_id}/{number:05d}"


def parse_marker(name: str) -> tuple[str, str] | None:
    """(key, upload id) of an upload marker's name, None for anything else."""
    key, _, uid = name.rpartition("/")
    return (key, uid) if key and is_upload_id(uid) else None


def own_parts(t: Target, key: str, o: ObjectInfo) -> list[tuple[str, str]]:
    """The (container, name) of the parts of `o` if it is an S3 multipart object of
    this bucket and key (an SLO made elsewhere keeps its segments)."""
    if o.slo_manifest is None:
        return []
    out = []
    container = segments_container(t.bucket)
    for c, name in large.slo_segment_paths(o):
        if c != container or not name.startswith(key + "/"):
            return []
        out.append((c, name))
    return out


def delete_all(store: ObjectStore, account: str, paths: list[tuple[str, str]]) -> None:
    for c, name in paths:
        try:
            objects.delete(store, account, c, name)
        except OvercastError:
            continue  # already gone


async def drop_parts(store: ObjectStore, t: Target, key: str, old: ObjectInfo | None,
                     keep: ObjectInfo | None = None) -> None:
    """After `old` was replaced or deleted: remove its parts (those `keep`, the
    object now there, does not use)."""
    if old is None:
        return
    paths = own_parts(t, key, old)
    if keep is not None:
        paths = [p for p in paths if p not in set(own_parts(t, key, keep))]
    if paths:
        await asyncio.to_thread(delete_all, store, t.account, paths)
