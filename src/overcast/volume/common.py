"""What the block storage domain modules share: the `Store` (database, the bridge
to the storage components, the image service) and the lookups every resource does.

The domain code is synchronous and runs in worker threads (the routes are plain
`def`s). Storage work crosses the bus to `storage.<host>`; `Storage.call` waits for
the component's answer from the worker thread on the app's event loop, and
`Storage.spawn` runs a step after the request has answered (Cinder's 202: the
volume is `creating`, the bytes come later).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.bus import Bus
from overcast.bus.messages import Message, StorageReply
from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.volume import errors, policy
from overcast.volume import models as m

log = logging.getLogger("overcast.volume")

#: how long a storage step may take (a 100 GiB image copy is minutes)
STORAGE_TIMEOUT = 3600.0
DEFAULT_TYPE = "__DEFAULT__"


class ImageSource(Protocol):
    """The image service as block storage uses it (its public functions)."""

    def lookup(self, ctx: RequestContext, image_id: str, /) -> dict[str, Any]: ...

    def create(self, ctx: RequestContext, body: dict[str, Any], /) -> dict[str, Any]: ...

    def import_file(self, image_id: str, path: Path, disk_format: str, /) -> None: ...

    def discard(self, image_id: str, /) -> None: ...


class Storage:
    """The control plane's side of the storage bus."""

    def __init__(self, bus: Bus | None = None) -> None:
        self.bus = bus
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = threading.Lock()
        #: steps started and not finished (tests and shutdown wait on it)
        self.running = 0
        # Volume steps wait on storage hosts for as long as a copy takes: they get
        # their own threads, so a burst of image copies never starves the default
        # executor the other services' requests run on.
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="volume")
        self.closed = False
        self._busy: dict[str, int] = {}

    def busy(self, ident: str) -> bool:
        """Whether a step of this process is working on record `ident` now."""
        with self._lock:
            return ident in self._busy

    def close(self) -> None:
        """Stop waiting on storage hosts (at shutdown): steps in flight end at once."""
        self.closed = True
        self.executor.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def topic(host: str) -> str:
        """`storage.<machine>` for Cinder's `machine@backend#pool`."""
        return "storage." + host.split("@", 1)[0]

    def call(self, host: str, msg: Message, timeout: float = STORAGE_TIMEOUT
             ) -> StorageReply:
        """Send `msg` to the storage host and wait (from a worker thread) for its reply;
        a host that does not answer is a failed step."""
        if self.bus is None or self.loop is None:
            return StorageReply(ok=False, error="the storage service is not running")
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(
            self.bus.call(self.topic(host), msg, timeout), self.loop)
        while True:
            if self.closed:
                # shutting down: the record keeps its transitional state, which the
                # storage host's sync settles at the next start
                fut.cancel()
                return StorageReply(ok=False, error="the volume service stopped")
            try:
                reply = fut.result(1.0)
                break
            except FutureTimeout:
                continue
            except Exception as exc:  # noqa: BLE001 - a lost host is the step's failure
                return StorageReply(ok=False, error=f"storage host {host} did not answer: "
                                                    f"{type(exc).__name__}: {exc}")
        assert isinstance(reply, StorageReply)
        return reply

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` in a worker thread after the current request. The step's
        first argument names the record it works on (a volume, snapshot or backup
        id): that record is `busy` until the step ends, so a cleanup leaves it be."""
        ident = args[0] if args and isinstance(args[0], str) else None
        with self._lock:
            self.running += 1
            if ident is not None:
                self._busy[ident] = self._busy.get(ident, 0) + 1

        def done(_: Any) -> None:
            with self._lock:
                self.running -= 1
                if ident is not None:
                    left = self._busy.pop(ident, 1) - 1
                    if left > 0:
                        self._busy[ident] = left

        async def go() -> None:
            try:
                assert self.loop is not None
                await self.loop.run_in_executor(self.executor, fn, *args)
            except Exception:  # noqa: BLE001 - the step records its own failure
                log.exception("volume background step %s failed", fn.__name__)

        if self.loop is None:
            try:
                fn(*args)
            finally:
                done(None)
            return

        def start() -> None:
            task = asyncio.ensure_future(go())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(done)

        self.loop.call_soon_threadsafe(start)


class ServerEvents(Protocol):
    """What block storage tells compute (Nova's `os-server-external-events`, as
    Cinder calls it): events such as `volume-extended` (tag: the volume id) for the
    servers a volume is attached to. Wired in app.py; this service never imports
    compute. The answer is the events with a `code` each (200, 404, 422)."""

    def external_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class Store:
    def __init__(self, db: Database, storage: Storage, images: ImageSource | None = None,
                 *, availability_zone: str = "nova") -> None:
        self.db = db
        self.storage = storage
        self.images = images
        self.availability_zone = availability_zone
        #: compute, when this cloud runs one (app.py sets it)
        self.compute: ServerEvents | None = None


# ------------------------------------------------------------------ lookups
def volume(s: Session, ctx: RequestContext, volume_id: str, *, lock: bool = False
           ) -> m.Volume:
    stmt = select(m.Volume).where(m.Volume.id == volume_id)
    if lock:
        stmt = stmt.with_for_update()
    row = s.scalar(stmt)
    if row is None or not policy.can_see(ctx, row.project_id):
        raise errors.volume_not_found(volume_id)
    return row


def snapshot(s: Session, ctx: RequestContext, snapshot_id: str, *, lock: bool = False
             ) -> m.Snapshot:
    stmt = select(m.Snapshot).where(m.Snapshot.id == snapshot_id)
    if lock:
        stmt = stmt.with_for_update()
    row = s.scalar(stmt)
    if row is None or not policy.can_see(ctx, row.project_id):
        raise errors.snapshot_not_found(snapshot_id)
    return row


def type_visible(s: Session, ctx: RequestContext, t: m.VolumeType) -> bool:
    if t.is_public or ctx.is_admin:
        return True
    return s.get(m.TypeAccess, (t.id, ctx.project_id or "")) is not None


def volume_type(s: Session, ctx: RequestContext, ident: str) -> m.VolumeType:
    """A type by id or name, as Cinder's `volume_type` field takes either."""
    t = s.get(m.VolumeType, ident)
    if t is None:
        t = s.scalar(select(m.VolumeType).where(m.VolumeType.name == ident))
    if t is None or not type_visible(s, ctx, t):
        raise errors.type_not_found(ident)
    return t


def default_type(s: Session) -> m.VolumeType:
    t = s.scalar(select(m.VolumeType).where(m.VolumeType.name == DEFAULT_TYPE))
    if t is None:
        raise errors.type_name_not_found(DEFAULT_TYPE)
    return t


def set_metadata(s: Session, model: Any, owner_col: str, owner_id: str,
                 values: dict[str, str], *, replace: bool) -> None:
    """Write metadata rows (all of them replaced, or only the keys given)."""
    rows = {r.key: r for r in s.scalars(select(model).where(
        getattr(model, owner_col) == owner_id))}
    if replace:
        for key, row in rows.items():
            if key not in values:
                s.delete(row)
    for key, value in values.items():
        if key in rows:
            rows[key].value = str(value)
        else:
            s.add(model(**{owner_col: owner_id, "key": key, "value": str(value)}))


def metadata_of(s: Session, model: Any, owner_col: str, ids: list[str]
                ) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for r in s.scalars(select(model).where(getattr(model, owner_col).in_(ids))):
            out[getattr(r, owner_col)][r.key] = r.value
    return out


def settle_group_snapshot(s: Session, group_snapshot_id: str) -> None:
    """A group snapshot being made is available once a snapshot of each of its
    group's volumes is made (error if one failed); its status is kept from then on,
    so an admin's reset stays as set."""
    gs = s.get(m.GroupSnapshot, group_snapshot_id)
    if gs is None or gs.status != "creating":
        return
    states = [x.status for x in s.scalars(select(m.Snapshot).where(
        m.Snapshot.group_snapshot_id == gs.id))]
    members = s.scalar(select(func.count()).select_from(m.Volume).where(
        m.Volume.group_id == gs.group_id)) or 0
    if "creating" in states or len(states) < members:
        return
    gs.status = "error" if "error" in states else "available"
