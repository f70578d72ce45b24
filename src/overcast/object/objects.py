"""Objects: streamed writes, reads, metadata, copies, deletes, expiry and recovery.

A write streams the body to a backend `Writer` while md5 is computed, both on
worker threads and overlapped with the next read from the client, so memory
stays flat (a few MiB) for any size. Only once every byte is durable does one
transaction lock the container row, check the quotas again, and insert (or
replace) the object row and the container's counters; the blob an overwrite
replaced is deleted after that commit. A client that goes away, a wrong ETag or
a quota refusal aborts the writer: no row, no file. At start-up `recover`
removes what a crash left (temporary files, blobs no row names).

Durability, and where the fsyncs stay. A small PUT pays two fsyncs, the blob's
and its directory's (about 6 ms each on this project's disk, 18 ms together when
the machine is busy: most of a 4 KiB PUT), then one short SQLite transaction. The
two fsyncs make the bytes and their name durable BEFORE the row that names them
commits, so after a power loss no row ever names missing or short bytes. The
row's commit is the moment the object exists and the durability point of the
listing: in SQLite's WAL it survives a crash of the process (kill -9) at once;
with `synchronous=NORMAL` (the cloud-wide setting) a power loss may lose the
last commits, whose blobs are then orphans that `recover` sweeps (PostgreSQL
with synchronous_commit on makes the acknowledgement itself survive it). Neither
fsync can go without breaking that order; what went instead is every other cost
of the path: the quota pre-check and the versioning lookup (now read inside the
row's transaction), the ORM (Core SQL), and all but one worker-thread hop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import mimetypes
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from overcast.kit.http import ClientGone, ClientTimeout, DirectBody
from overcast.object import accounts, containers
from overcast.object import errors as e
from overcast.object import models as m
from overcast.object.backends.base import Writer
from overcast.object.records import ObjectInfo, Segment
from overcast.object.schemas import MAX_FILE_SIZE, apply_updates
from overcast.object.store import ObjectStore, live, now
from overcast.object.store import reap_expired as reap_expired  # the expirer's entry

log = logging.getLogger("overcast.object")

#: md5 and the write of one buffer run on two threads at once (both release the GIL).
_IO_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=16,
                                                 thread_name_prefix="object-io")
#: How much of the body is gathered before it is hashed and written.
BUFFER = 4 << 20
#: Bodies of at most this many bytes (Content-Length known) take the one-hop path.
SMALL = 64 << 10
#: Bodies of at least this many bytes (Content-Length known) are received off the
#: event loop when the server allows it (`overcast.kit.http.DirectBody`).
DIRECT = 1 << 20


@dataclass
class NewObject:
    """What a PUT says about the object besides its bytes."""

    content_type: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delete_at: int | None = None
    #: the ETag the client computed (422 when the bytes differ)
    etag: str | None = None
    #: the Content-Length it declared (None: chunked)
    length: int | None = None
    dlo_manifest: str | None = None
    slo_manifest: list[dict[str, Any]] | None = None
    manifest_etag: str | None = None
    symlink_path: str | None = None
    #: for a manifest: its size and etag (the segments'), not those of its body
    size_override: int | None = None
    etag_override: str | None = None


def guess_type(name: str) -> str:
    ctype, _ = mimetypes.guess_type(name, strict=False)
    return ctype or "application/octet-stream"


def info(row: m.Object, account: str, container: str) -> ObjectInfo:
    return ObjectInfo(account, container, row.name, int(row.size), row.etag,
                      row.content_type, row.timestamp, dict(row.meta or {}),
                      dict(row.headers or {}), row.delete_at, row.location,
                      row.dlo_manifest, row.slo_manifest, row.manifest_etag,
                      row.symlink_path)


def _find(s: Session, cid: int, name: str) -> m.Object | None:
    return s.scalar(select(m.Object).where(m.Object.container_id == cid,
                                           m.Object.name == name, live()))


# The statements of the hot paths (every GET/HEAD, every PUT), built once with
# bound parameters. Building a statement per call (`select(...).where(a == b)`),
# with its cache key, was most of a small GET's and PUT's CPU: about 1 ms of
# SQLAlchemy expression work around a 50 us SQLite query. A prebuilt statement
# keeps its cache key and compiled form; a call only binds values.
_OT, _CT = cast(Table, m.Object.__table__), cast(Table, m.Container.__table__)
_O, _C, _A = _OT.c, _CT.c, cast(Table, m.Account.__table__).c
#: live: not past its X-Delete-At at :now (expired objects vanish at once)
_LIVE = or_(_O.delete_at.is_(None), _O.delete_at > bindparam("now"))
#: An object's columns in `ObjectInfo`'s order (after account and container).
_INFO = (_O.name, _O.size, _O.etag, _O.content_type, _O.timestamp, _O.meta, _O.headers,
         _O.delete_at, _O.location, _O.dlo_manifest, _O.slo_manifest, _O.manifest_etag,
         _O.symlink_path)
#: One query joining the container by (account, name) to the object's
#: (container_id, name) index.
_HEAD = select(*_INFO).join_from(_OT, _CT, _C.id == _O.container_id).where(
    _C.account == bindparam("account"), _C.name == bindparam("container"),
    _O.name == bindparam("name"), _LIVE)
_CONTAINER = select(_C.id, _C.meta, _C.object_count, _C.bytes_used,
                    _C.versions_location).where(_C.account == bindparam("account"),
                                                _C.name == bindparam("container"))
_CONTAINER_LOCKED = _CONTAINER.with_for_update()
_OLD = select(_O.id, _O.size, _O.location).where(_O.container_id == bindparam("cid"),
                                                  _O.name == bindparam("name"))
_OLD_LIVE_SIZE = select(_O.size).where(_O.container_id == bindparam("cid"),
                                       _O.name == bindparam("name"), _LIVE)
_ACCOUNT_QUOTA = select(_A.quota_bytes).where(_A.name == bindparam("account"))
_INSERT = insert(_OT)
_UPDATE = update(_OT).where(_O.id == bindparam("b_id"))
_COUNTERS = update(_CT).where(_C.id == bindparam("b_cid")).values(
    object_count=_C.object_count + bindparam("d_count"),
    bytes_used=_C.bytes_used + bindparam("d_bytes"))


def _now() -> int:
    return int(time.time())


def head(store: ObjectStore, account: str, container: str, name: str) -> ObjectInfo:
    """The live object, or 404 (no container or no object: Swift answers alike).

    The hot path of every GET and HEAD: one prebuilt Core query, no ORM objects
    and no second round trip; a read transaction, never the write lock."""
    with store.db.engine.connect() as conn:
        row = conn.execute(_HEAD, {"account": account, "container": container,
                                   "name": name, "now": _now()}).first()
    if row is None:
        raise e.not_found()
    return ObjectInfo(account, container, row[0], int(row[1]), row[2], row[3], row[4],
                      dict(row[5] or {}), dict(row[6] or {}), *row[7:])


def fetch(store: ObjectStore, account: str, container: str, name: str, *,
          read_limit: int) -> tuple[ObjectInfo, bytes | None]:
    """`head`, and the bytes too when the object is one plain blob of at most
    `read_limit` bytes: a small GET costs one worker-thread hop, not three (head,
    segments, then the streamed read)."""
    for attempt in (1, 2):
        o = head(store, account, container, name)
        if (o.location is None or o.is_manifest or o.symlink_path is not None
                or o.size > read_limit):
            return o, None
        try:
            return o, b"".join(store.backend.read(o.location))
        except FileNotFoundError:
            if attempt == 2:
                raise
            # an overwrite committed between the row and the read, and deleted the
            # blob that row named: the new row names the new blob
    raise AssertionError("unreachable")


def lookup(store: ObjectStore, account: str, container: str, name: str
           ) -> ObjectInfo | None:
    try:
        return head(store, account, container, name)
    except e.NotFound:
        return None


# ----------------------------------------------------------------- quotas
def _budget(conn: Connection, store: ObjectStore, account: str, meta: dict[str, str],
            object_count: int, bytes_used: int, *, objects: int) -> int | None:
    """Bytes the container may still take given every quota over it (None: no
    limit); raises 413 when one more object (`objects`) is already too many.
    The account's usage (a sum over its containers) is read only when an account
    or project quota asks for it."""
    limits: list[int] = []
    qb, qc = meta.get("quota-bytes"), meta.get("quota-count")
    if qc is not None and qc.isdigit() and object_count + objects > int(qc):
        raise e.quota_exceeded()
    if qb is not None and qb.isdigit():
        limits.append(int(qb) - bytes_used)
    quota_bytes = conn.execute(_ACCOUNT_QUOTA, {"account": account}).scalar()
    if quota_bytes is None and store.quotas.objects is None and store.quotas.bytes is None:
        return min(limits) if limits else None
    _, count, used = accounts.usage(conn, account)
    if quota_bytes is not None:
        limits.append(quota_bytes - used)
    if store.quotas.objects is not None and count + objects > store.quotas.objects:
        raise e.quota_exceeded()
    if store.quotas.bytes is not None:
        limits.append(store.quotas.bytes - used)
    return min(limits) if limits else None


def _container_row(conn: Connection, account: str, container: str, *, lock: bool
                   ) -> Any:
    """(id, meta, object_count, bytes_used, versions_location) of the container,
    or 404."""
    row = conn.execute(_CONTAINER_LOCKED if lock else _CONTAINER,
                       {"account": account, "container": container}).first()
    if row is None:
        raise e.not_found()
    return row


def _precheck(store: ObjectStore, account: str, container: str, name: str,
              length: int | None) -> int | None:
    with store.db.engine.connect() as conn:
        c = _container_row(conn, account, container, lock=False)
        old = conn.execute(_OLD_LIVE_SIZE, {"cid": c[0], "name": name,
                                            "now": _now()}).first()
        budget = _budget(conn, store, account, c[1] or {}, int(c[2]), int(c[3]),
                         objects=0 if old else 1)
        if budget is not None and old is not None:
            budget += int(old[0])
        if budget is not None and length is not None and length > budget:
            raise e.quota_exceeded()
        return budget


# ----------------------------------------------------------------- writes
def _feed(fn: Any, parts: list[bytes]) -> None:
    for p in parts:
        fn(p)


async def receive(store: ObjectStore, chunks: AsyncIterator[bytes], *,
                  limit: int | None) -> tuple[Writer, int, str]:
    """Stream `chunks` into a new blob: (writer, size, md5 hex). The caller commits
    or aborts the writer; on any error here it is already aborted."""
    writer = await asyncio.to_thread(store.backend.open_write)
    md5 = hashlib.md5(usedforsecurity=False)
    loop = asyncio.get_running_loop()
    size = 0
    buf: list[bytes] = []
    buffered = 0
    pending: asyncio.Future[Any] | None = None

    async def flush() -> None:
        nonlocal pending, buf, buffered
        parts, buf, buffered = buf, [], 0
        if pending is not None:
            await pending
        pending = asyncio.gather(loop.run_in_executor(_IO_POOL, _feed, md5.update, parts),
                                 loop.run_in_executor(_IO_POOL, _feed, writer.write, parts))

    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > MAX_FILE_SIZE:
                raise e.too_large()
            if limit is not None and size > limit:
                raise e.quota_exceeded()
            buf.append(chunk)
            buffered += len(chunk)
            if buffered >= BUFFER:
                await flush()
        if buf:
            await flush()
        if pending is not None:
            await pending
            pending = None
    except BaseException:
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending
        await asyncio.to_thread(writer.abort)
        raise
    return writer, size, md5.hexdigest()


async def receive_direct(store: ObjectStore, body: DirectBody, *, limit: int | None
                         ) -> tuple[Writer, int, str]:
    """`receive` for a body taken off the event loop (`DirectBody`): worker threads
    receive it from the socket into large buffers while md5 and the write of
    each run on threads of their own; the loop is not involved until the end."""
    writer = await asyncio.to_thread(store.backend.open_write)
    md5 = hashlib.md5(usedforsecurity=False)

    def check(total: int) -> None:
        if total > MAX_FILE_SIZE:
            raise e.too_large()
        if limit is not None and total > limit:
            raise e.quota_exceeded()

    try:
        size = await body.pump([md5.update, writer.write], limit=check)
    except BaseException as exc:
        await asyncio.to_thread(writer.abort)
        if isinstance(exc, ClientTimeout):
            raise e.RequestTimeout() from None
        if isinstance(exc, ClientGone):
            raise e.ClientDisconnected() from None
        raise
    return writer, size, md5.hexdigest()


#: Work a PUT does before its row is written when the container keeps versions
#: (archive the current copy); run by `record`, on the write's worker thread.
Prepare = Callable[[], None]


async def put(store: ObjectStore, account: str, container: str, name: str,
              chunks: AsyncIterator[bytes], new: NewObject,
              prepare: Prepare | None = None, direct: DirectBody | None = None
              ) -> ObjectInfo:
    """Store an object from a stream of bytes; visible only once complete. A
    large body of known length the server lets us take (`direct`) is received
    off the event loop instead of from `chunks`."""
    if new.length is not None and new.length <= SMALL:
        return await _put_small(store, account, container, name, chunks, new, prepare)
    budget = await asyncio.to_thread(_precheck, store, account, container, name, new.length)
    if direct is not None and new.length is not None and new.length >= DIRECT \
            and direct.take():
        writer, size, md5 = await receive_direct(store, direct, limit=budget)
    else:
        writer, size, md5 = await receive(store, chunks, limit=budget)
    try:
        if new.length is not None and size != new.length:
            raise e.ClientDisconnected()
        if new.etag is not None and new.etag.strip('"').lower() != md5:
            raise e.Unprocessable()
        location = await asyncio.to_thread(writer.commit)
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
    try:
        return await asyncio.to_thread(record, store, account, container, name, new,
                                       location, size, md5, prepare)
    except BaseException:
        await asyncio.to_thread(store.backend.delete, location)
        raise


async def _put_small(store: ObjectStore, account: str, container: str, name: str,
                     chunks: AsyncIterator[bytes], new: NewObject,
                     prepare: Prepare | None) -> ObjectInfo:
    """A body of known small length: read into memory (hashed on the loop: 64 KiB
    of md5 is tens of microseconds), then checked, written, fsynced and recorded
    in ONE worker-thread hop. The streaming path takes five hops, and on a busy
    machine each hop waits for the scheduler: that wait, not the disk, was most
    of a small PUT's time."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > SMALL:  # more than declared: the server would cut it; refuse
            raise e.ClientDisconnected()
        parts.append(chunk)
    data = b"".join(parts)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return await asyncio.to_thread(_write_small, store, account, container, name, new,
                                   data, md5, prepare)


def _write_small(store: ObjectStore, account: str, container: str, name: str,
                 new: NewObject, data: bytes, md5: str, prepare: Prepare | None
                 ) -> ObjectInfo:
    """No quota pre-check here (the streaming path has one to refuse a large body
    before reading it): the bytes are already in memory, and `record` checks every
    quota again inside its transaction, so the pre-check was a second read of the
    same rows. A refused or failed record deletes the blob just written."""
    if len(data) != new.length:
        raise e.ClientDisconnected()
    if new.etag is not None and new.etag.strip('"').lower() != md5:
        raise e.Unprocessable()
    writer = store.backend.open_write()
    try:
        if data:
            writer.write(data)
        location = writer.commit()
    except BaseException:
        writer.abort()
        raise
    try:
        return record(store, account, container, name, new, location, len(data), md5,
                      prepare)
    except BaseException:
        store.backend.delete(location)
        raise


class _Versioned(Exception):
    """The container keeps old versions: `prepare` must run before the row is written."""


def record(store: ObjectStore, account: str, container: str, name: str, new: NewObject,
           location: str | None, size: int, md5: str, prepare: Prepare | None = None
           ) -> ObjectInfo:
    """Insert or replace the object's row for bytes already committed at `location`.

    One write transaction in Core SQL (no ORM unit of work: it was most of a small
    PUT's database time): lock the container row, read the old row, check the
    quotas, write the object row and bump the container's counters. Its commit is
    the moment the object exists; the blob an overwrite replaced is deleted after.
    `prepare` (archiving the current copy) runs only when the container row says
    it keeps versions, before a second try: an unversioned container, the usual
    case, pays no extra read for it."""
    try:
        return _record(store, account, container, name, new, location, size, md5,
                       versioned=prepare is not None)
    except _Versioned:
        assert prepare is not None
        prepare()
        return _record(store, account, container, name, new, location, size, md5,
                       versioned=False)


def _record(store: ObjectStore, account: str, container: str, name: str, new: NewObject,
            location: str | None, size: int, md5: str, *, versioned: bool) -> ObjectInfo:
    size = new.size_override if new.size_override is not None else size
    etag = new.etag_override or md5
    ts = now()
    ctype = new.content_type or guess_type(name)
    values = {"size": size, "etag": etag, "timestamp": ts, "content_type": ctype,
              "meta": dict(new.meta), "headers": dict(new.headers),
              "delete_at": new.delete_at, "location": location,
              "dlo_manifest": new.dlo_manifest, "slo_manifest": new.slo_manifest,
              "manifest_etag": new.manifest_etag, "symlink_path": new.symlink_path}
    with store.db.transaction() as s:
        conn = s.connection()
        cid, meta, count, used, keeps = _container_row(conn, account, container, lock=True)
        if versioned and keeps:
            raise _Versioned()
        old = conn.execute(_OLD, {"cid": cid, "name": name}).first()
        old_size = int(old[1]) if old is not None else 0
        budget = _budget(conn, store, account, meta or {}, int(count), int(used),
                         objects=0 if old is not None else 1)
        if budget is not None and size - old_size > budget:
            raise e.quota_exceeded()
        if old is None:
            conn.execute(_INSERT, {"container_id": cid, "name": name, **values})
        else:
            conn.execute(_UPDATE, {"b_id": old[0], **values})
        conn.execute(_COUNTERS, {"b_cid": cid, "d_count": 0 if old is not None else 1,
                                 "d_bytes": size - old_size})
    old_location = old[2] if old is not None else None
    if old_location and old_location != location:
        store.backend.delete(old_location)
    return ObjectInfo(account, container, name, size, etag, ctype, ts, dict(new.meta),
                      dict(new.headers), new.delete_at, location, new.dlo_manifest,
                      new.slo_manifest, new.manifest_etag, new.symlink_path)


def post(store: ObjectStore, account: str, container: str, name: str,
         meta: dict[str, str], *, content_type: str | None, headers: dict[str, str],
         delete_at: int | None | bool = False, dlo_manifest: str | None | bool = False
         ) -> ObjectInfo:
    """Replace the object's metadata (Swift's POST: what is not sent is dropped)."""
    with store.db.transaction() as s:
        c = containers.find(s, account, container)
        row = _find(s, c.id, name)
        if row is None:
            raise e.not_found()
        row.meta = apply_updates({}, dict(meta))
        row.headers = dict(headers)
        if content_type:
            row.content_type = content_type
        if delete_at is not False:
            row.delete_at = delete_at  # type: ignore[assignment]
        if dlo_manifest is not False:
            row.dlo_manifest = dlo_manifest  # type: ignore[assignment]
        row.timestamp = now()
        return info(row, account, container)


def delete(store: ObjectStore, account: str, container: str, name: str) -> ObjectInfo:
    with store.db.transaction() as s:
        c = containers.find(s, account, container, lock=True)
        row = _find(s, c.id, name)
        if row is None:
            raise e.not_found()
        out = info(row, account, container)
        c.object_count -= 1
        c.bytes_used -= int(row.size)
        s.delete(row)
    if out.location:
        store.backend.delete(out.location)
    return out


# ----------------------------------------------------------------- reads
def read(store: ObjectStore, segments: list[Segment], start: int, end: int,
         chunk: int = 1 << 20) -> Iterator[bytes]:
    """Bytes [start, end) of the concatenation of `segments`."""
    offset = 0
    for seg in segments:
        seg_end = offset + seg.length
        if seg_end > start and offset < end:
            lo = max(start, offset) - offset + seg.start
            hi = min(end, seg_end) - offset + seg.start
            yield from store.backend.read(seg.location, lo, hi, chunk)
        offset = seg_end
        if offset >= end:
            return


async def copy_stream(store: ObjectStore, segments: list[Segment], size: int
                      ) -> AsyncIterator[bytes]:
    """The bytes of `segments` as an async stream (a server-side copy's body)."""
    it = read(store, segments, 0, size)
    sentinel = b""
    while True:
        data = await asyncio.to_thread(next, it, sentinel)
        if not data:
            return
        yield data


async def copy(store: ObjectStore, segments: list[Segment], size: int, dest_account: str,
               dest_container: str, dest_name: str, new: NewObject) -> ObjectInfo:
    """Write a new object holding `segments`' bytes. One whole blob is linked
    (no bytes move); anything else (a large object's parts) is streamed."""
    if len(segments) == 1 and segments[0].start == 0 and \
            segments[0].length == size and new.etag:
        await asyncio.to_thread(_precheck, store, dest_account, dest_container, dest_name,
                                size)
        location = await asyncio.to_thread(store.backend.link, segments[0].location)
        if location is not None:
            try:
                return await asyncio.to_thread(record, store, dest_account, dest_container,
                                               dest_name, new, location, size, new.etag)
            except BaseException:
                await asyncio.to_thread(store.backend.delete, location)
                raise
    new.length = size
    return await put(store, dest_account, dest_container, dest_name,
                     copy_stream(store, segments, size), new)


# ----------------------------------------------------------------- upkeep
def recover(store: ObjectStore) -> tuple[int, int]:
    """At start-up: remove temporary files of interrupted writes, then blobs that
    no object names (written, but their row never committed)."""
    partials = store.backend.clean_partials()
    with store.db.session() as s:
        known = set(s.scalars(select(m.Object.location).where(
            m.Object.location.is_not(None))))
    orphans = store.backend.sweep(known)  # type: ignore[arg-type]
    if partials or orphans:
        log.info("object store recovery: %d partial writes and %d orphan blobs removed",
                 partials, orphans)
    return partials, orphans


