"""The storage component: cinder-volume's part on a storage host.

It takes the volume service's typed messages on topic `storage.<host>` and runs
its `StorageDriver`, answering each with a `StorageReply` (ok, or the error that
becomes the record's fault). It reports its backend to the volume service with a
`StorageHeartbeat` (cast, topic `volume`), which the service list and the
scheduler read.

Crash safety: on start it tells the volume service what the host really holds
(`StorageSync`); the service settles every record stuck in a transitional state
from that (creating -> available or error, deleting -> gone, attaching -> in-use or
available, ...) and answers with the volumes whose NBD exports records own: every
other export is withdrawn, and those missing are made again. Bytes of records that
no longer exist are removed.

A workers cleanup (`CleanupStorage`, Cinder's 3.24) runs that sync again.

Backups: the volume service reads a volume chunk by chunk (`ReadVolumeChunk`)
and writes a restore the same way (`WriteVolumeChunk`); the bytes cross the bus
zlib-compressed, with a sha256 made and checked here, so the control plane
never opens a volume.

It runs in `overcast up` (the all-in-one, `volume/local.py`) or beside a remote
host agent; it never touches the database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from overcast.agent.storage.base import StorageDriver, StorageError
from overcast.bus import Bus, BusTimeout
from overcast.bus.messages import (
    CleanupStorage,
    CopyVolumeToImage,
    CreateSnapshot,
    CreateVolume,
    DeleteSnapshot,
    DeleteVolume,
    ExportVolume,
    ExtendVolume,
    ListManageable,
    ManageSnapshot,
    ManageVolume,
    Message,
    ReadVolumeChunk,
    RevertVolume,
    StorageHeartbeat,
    StorageReply,
    StorageSync,
    StorageSyncReply,
    UnexportVolume,
    UnmanageSnapshot,
    UnmanageVolume,
    WriteVolumeChunk,
)

log = logging.getLogger("overcast.agent.storage")

ImagePath = Callable[[str], Awaitable[Path]]


class StorageComponent:
    def __init__(self, host: str, driver: StorageDriver, *,
                 image_path: ImagePath | None = None, availability_zone: str = "nova",
                 heartbeat_interval: float = 10.0, work_dir: Path | None = None) -> None:
        self.host = host
        self.driver = driver
        self.image_path = image_path
        self.availability_zone = availability_zone
        self.heartbeat_interval = heartbeat_interval
        #: where volumes written out as images wait for the image service
        self.work_dir = work_dir
        self.bus: Bus | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: completed start-up reconciles (tests wait on it)
        self.synced = 0

    @property
    def topic(self) -> str:
        return f"storage.{self.host}"

    @property
    def backend_host(self) -> str:
        """Cinder's `host@backend` for this component's backend."""
        return f"{self.host}@{self.driver.name}"

    # ------------------------------------------------------------ lifecycle
    async def start(self, agent: Any) -> None:
        """As a component of a host agent (the Agent's bus and host)."""
        await self.start_on(agent.bus)

    async def start_on(self, bus: Bus) -> None:
        self.bus = bus
        await self.driver.start()
        await bus.subscribe(self.topic, self.handle)
        await self.heartbeat()
        self._tasks.append(asyncio.create_task(self._beat()))
        self._tasks.append(asyncio.create_task(self.reconcile()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.driver.stop()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.heartbeat()
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.exception("storage heartbeat failed on %s", self.host)

    async def heartbeat(self) -> None:
        assert self.bus is not None
        total, free = await asyncio.to_thread(self.driver.capacity)
        await self.bus.cast("volume", StorageHeartbeat(
            host=self.backend_host, backend=self.driver.name,
            availability_zone=self.availability_zone, total_gb=total, free_gb=free))

    async def reconcile(self) -> None:
        """Settle the records against what is really here (see the module's doc)."""
        assert self.bus is not None
        for attempt in range(30):  # the volume service may still be starting
            try:
                reply: StorageSyncReply = await self.bus.call("volume", StorageSync(
                    host=self.backend_host, volumes=await self.driver.list_volumes(),
                    snapshots=await self.driver.list_snapshots(),
                    exports=await self.driver.list_exports()), timeout=10)
                break
            except BusTimeout:
                log.warning("volume service did not answer the storage sync (try %d)",
                            attempt + 1)
        else:
            return
        wanted = set(reply.exports)
        for vid in set(await self.driver.list_exports()) - wanted:
            await self.driver.unexport(vid)
        for vid in wanted - set(await self.driver.list_exports()):
            with contextlib.suppress(StorageError):
                await self.driver.export(vid, {"host": "", "transport": "nbd"})
        for vid in reply.delete_volumes:
            await self.driver.delete(vid)
        for sid in reply.delete_snapshots:
            await self.driver.delete_snapshot(sid)
        self.synced += 1

    # ------------------------------------------------------------ the work
    async def handle(self, msg: Message) -> Any:
        try:
            data = await self._do(msg)
        except StorageError as exc:
            log.warning("storage %s failed: %s", msg.kind, exc)
            return StorageReply(ok=False, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure is the caller's fault text
            log.exception("storage %s failed", msg.kind)
            return StorageReply(ok=False, error=f"{type(exc).__name__}: {exc}")
        return StorageReply(ok=True, data=data)

    async def _do(self, msg: Message) -> dict[str, Any]:
        d = self.driver
        if isinstance(msg, CreateVolume):
            if msg.image_id:
                if self.image_path is None:
                    raise StorageError("this storage host cannot read images")
                path = await self.image_path(msg.image_id)
                size = await d.create_from_image(msg.volume_id, msg.size_gb, path,
                                                 msg.image_format)
            elif msg.snapshot_id:
                size = await d.create_from_snapshot(msg.volume_id, msg.snapshot_id,
                                                    msg.size_gb)
            elif msg.nbd_source:
                size = await d.copy_from_nbd(msg.volume_id, msg.nbd_source, msg.size_gb)
            elif msg.source_volid:
                size = await d.clone(msg.volume_id, msg.source_volid, msg.size_gb)
            else:
                size = await d.create_blank(msg.volume_id, msg.size_gb)
            return {"size_bytes": size}
        if isinstance(msg, DeleteVolume):
            await d.delete(msg.volume_id)
            return {}
        if isinstance(msg, ExtendVolume):
            return {"size_bytes": await d.extend(msg.volume_id, msg.size_gb)}
        if isinstance(msg, CreateSnapshot):
            return {"size_bytes": await d.create_snapshot(msg.snapshot_id, msg.volume_id)}
        if isinstance(msg, ManageVolume):
            return {"size_bytes": await d.manage(msg.volume_id, msg.source_name)}
        if isinstance(msg, ManageSnapshot):
            return {"size_bytes": await d.manage_snapshot(msg.snapshot_id, msg.source_name)}
        if isinstance(msg, UnmanageSnapshot):
            await d.unmanage_snapshot(msg.snapshot_id)
            return {}
        if isinstance(msg, UnmanageVolume):
            await d.unmanage(msg.volume_id)
            return {}
        if isinstance(msg, ListManageable):
            return {"volumes": [{"name": n, "size": b} for n, b in
                                await d.list_manageable()]}
        if isinstance(msg, RevertVolume):
            await d.revert(msg.volume_id, msg.snapshot_id)
            return {}
        if isinstance(msg, DeleteSnapshot):
            await d.delete_snapshot(msg.snapshot_id)
            return {}
        if isinstance(msg, ExportVolume):
            return await d.export(msg.volume_id, msg.connector, msg.read_only)
        if isinstance(msg, UnexportVolume):
            await d.unexport(msg.volume_id)
            return {}
        if isinstance(msg, CopyVolumeToImage):
            if self.work_dir is None:
                raise StorageError("this storage host has no place for image files")
            dest = self.work_dir / f"{msg.image_id}.{msg.disk_format}"
            await d.copy_to_image(msg.volume_id, dest, msg.disk_format)
            return {"path": str(dest)}
        if isinstance(msg, ReadVolumeChunk):
            data = await d.read_chunk(msg.volume_id, msg.offset, msg.length,
                                      snapshot_id=msg.snapshot_id)
            sha = hashlib.sha256(data).hexdigest()
            if msg.unless_sha256 and sha == msg.unless_sha256:
                return {"unchanged": True, "length": len(data), "sha256": sha}
            packed = await asyncio.to_thread(zlib.compress, data, 1)
            return {"data_b64": base64.b64encode(packed).decode(), "length": len(data),
                    "sha256": sha}
        if isinstance(msg, WriteVolumeChunk):
            data = await asyncio.to_thread(zlib.decompress, base64.b64decode(msg.data_b64))
            if hashlib.sha256(data).hexdigest() != msg.sha256:
                raise StorageError("a backup chunk does not match its sha256")
            await d.write_chunk(msg.volume_id, msg.offset, data)
            return {"length": len(data)}
        if isinstance(msg, CleanupStorage):
            # the sync calls the volume service, which may be waiting on this reply
            self._tasks.append(asyncio.create_task(self.reconcile()))
            return {}
        raise StorageError(f"the storage component does not take {msg.kind} messages")
