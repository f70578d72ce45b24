"""Volume backups (Cinder's backups API) kept in the object store, as Cinder's
Swift backup driver keeps them.

A backup of volume V is a set of objects in a container (`volumebackups` unless
the request names one) of the volume's project account, `AUTH_<project>`:
`volume_<V>/<YYYYmmddHHMMSS>/az_<zone>_backup_<id>-00001`, `-00002`, ... (each
`CHUNK` bytes of the volume, zlib-compressed) and `..._metadata` (JSON: every
chunk's offset, length, md5 of the stored object and sha256 of the volume's
bytes), so the user sees (and pays quota for) what their backups hold, as with
Cinder. The storage host reads and writes the volume (`ReadVolumeChunk`,
`WriteVolumeChunk`, with the sha256 made and checked there): the control plane
never opens a volume; it moves chunks between the bus and the object service's
public domain functions (never its tables).

Status machine, as Cinder's: creating -> available | error; available ->
restoring -> available; available | error -> deleting -> (gone) | error_deleting.
The volume is `backing-up` (or `restoring-backup`) meanwhile and returns to its
previous status. A backup of a snapshot (`snapshot_id`, one of the volume's)
reads the snapshot's bytes: the snapshot is `backing-up` meanwhile, the volume is
left as it is.

Incremental backups (`incremental: true`) build on the volume's latest available
backup (`parent_id`): the storage host is asked for each chunk unless it still has
the sha256 the parent recorded for it (`ReadVolumeChunk.unless_sha256`), so only
changed chunks cross the bus and are stored; the metadata object lists every chunk
of the volume, naming the object (and container) of the backup in the chain that
holds it, so a restore reads one metadata object and reassembles the chain from
it. A backup with incremental backups built on it cannot be deleted (400, as
Cinder's `Incremental backups exist for this backup.`); its view says
`has_dependent_backups`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.bus.messages import ReadVolumeChunk, WriteVolumeChunk
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound, RequestEntityTooLarge
from overcast.kit.microversion import APIVersion
from overcast.object import containers, objects
from overcast.object import errors as oe
from overcast.object.records import Segment
from overcast.object.store import ObjectStore
from overcast.volume import common, errors, policy, schemas, views
from overcast.volume import models as m
from overcast.volume.backup_models import Backup
from overcast.volume.backup_models import account as account_of
from overcast.volume.common import Store
from overcast.volume.quotas import Quotas
from overcast.volume.volumes import Page, page_rows

log = logging.getLogger("overcast.volume.backups")

#: Bytes of volume per backup object (Cinder's Swift driver: 50 MiB; smaller here
#: because each crosses the bus in one message).
CHUNK = 8 << 20
DEFAULT_CONTAINER = "volumebackups"
#: what an exported record names as its backup service (Cinder's Swift driver's)
BACKUP_SERVICE = "cinder.backup.drivers.swift.SwiftBackupDriver"
GiB = 1 << 30
SORT_KEYS = {"id": "id", "name": "name", "display_name": "name", "status": "status",
             "size": "size", "created_at": "created_at", "updated_at": "updated_at",
             "volume_id": "volume_id", "project_id": "project_id"}
SUMMARY = ("id", "name", "links")


def not_found(backup_id: str) -> NotFound:
    return NotFound(f"Backup {backup_id} could not be found.")


def invalid(reason: str) -> BadRequest:
    return BadRequest(f"Invalid backup: {reason}")


class Backups:
    def __init__(self, store: Store, quotas: Quotas,
                 objects_of: Callable[[], ObjectStore | None]) -> None:
        self.store = store
        self.quotas = quotas
        self._objects = objects_of

    @property
    def available(self) -> bool:
        """A backup service runs only where the object store does."""
        return self._objects() is not None

    def objects(self) -> ObjectStore:
        obj = self._objects()
        if obj is None:
            raise errors.backup_unavailable()
        return obj

    # ------------------------------------------------------------ reading
    def _get(self, s: Session, ctx: RequestContext, backup_id: str, *,
             lock: bool = False) -> Backup:
        stmt = select(Backup).where(Backup.id == backup_id)
        if lock:
            stmt = stmt.with_for_update()
        row = s.scalar(stmt)
        if row is None or not policy.can_see(ctx, row.project_id):
            raise not_found(backup_id)
        return row

    @staticmethod
    def _parents(s: Session, ids: list[str]) -> set[str]:
        """Which of `ids` have incremental backups built on them."""
        if not ids:
            return set()
        return {p for p in s.scalars(select(Backup.parent_id).where(
            Backup.parent_id.in_(ids))) if p}

    def view(self, b: Backup, base: str, ver: APIVersion, has_dependents: bool = False
             ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": b.id, "name": b.name, "description": b.description, "status": b.status,
            "availability_zone": b.availability_zone, "container": b.container,
            "created_at": views.when(b.created_at), "updated_at": views.when(b.updated_at),
            "data_timestamp": views.when(b.data_timestamp), "fail_reason": b.fail_reason,
            "has_dependent_backups": has_dependents, "is_incremental": b.is_incremental,
            "object_count": int(b.object_count), "size": int(b.size),
            "snapshot_id": b.snapshot_id, "volume_id": b.volume_id,
            "links": views.links(base, b.project_id, "backups", b.id)}
        if ver.at_least("3.18"):
            out["os-backup-project-attr:project_id"] = b.project_id
        if ver.at_least("3.43"):
            out["metadata"] = dict(b.backup_metadata or {})
        return out

    def show(self, ctx: RequestContext, backup_id: str, base: str, ver: APIVersion
             ) -> dict[str, Any]:
        with self.store.db.session() as s:
            b = self._get(s, ctx, backup_id)
            policy.read(ctx, b.project_id, "backup:get")
            return self.view(b, base, ver, bool(self._parents(s, [b.id])))

    def page(self, ctx: RequestContext, params: dict[str, str], base: str,
             ver: APIVersion, *, detail: bool) -> Page:
        stmt = select(Backup)
        if not (ctx.is_admin and schemas.flag(params.get("all_tenants", "0"))):
            stmt = stmt.where(Backup.project_id == (ctx.project_id or ""))
        elif params.get("project_id"):
            stmt = stmt.where(Backup.project_id == params["project_id"])
        for key, col in (("name", Backup.name), ("display_name", Backup.name),
                         ("status", Backup.status), ("volume_id", Backup.volume_id)):
            if key in params:
                stmt = stmt.where(col == params[key])
        with self.store.db.session() as s:
            rows, marker, count = page_rows(s, ctx, stmt, Backup, params, ver, SORT_KEYS,
                                            "Backup")
            parents = self._parents(s, [b.id for b in rows])
            items = [self.view(b, base, ver, b.id in parents) for b in rows]
        if not detail:
            items = [{k: x[k] for k in SUMMARY} for x in items]
        return Page(items, marker, count)

    # ------------------------------------------------------------ quotas
    @staticmethod
    def usage(s: Session, project_id: str) -> tuple[int, int]:
        """(backups, GiB of backups) the project holds."""
        count, gb = s.execute(select(func.count(), func.sum(Backup.size))
                              .where(Backup.project_id == project_id)).one()
        return int(count), int(gb or 0)

    def _check_quota(self, s: Session, project_id: str, size: int) -> None:
        limits = self.quotas.limits(s, project_id)
        count, gb = self.usage(s, project_id)
        if 0 <= limits["backups"] < count + 1:
            raise RequestEntityTooLarge(f"BackupLimitExceeded: Maximum number of backups "
                                        f"allowed ({limits['backups']}) exceeded")
        if 0 <= limits["backup_gigabytes"] < gb + size:
            raise RequestEntityTooLarge(
                f"VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed "
                f"Backup gigabytes quota. Requested {size}G, quota is "
                f"{limits['backup_gigabytes']}G and {gb}G has been consumed.")

    def update(self, ctx: RequestContext, backup_id: str, body: dict[str, Any], base: str,
               ver: APIVersion) -> dict[str, Any]:
        """Rename or redescribe a backup (3.9); the reply is the backup's summary, as
        Cinder's (id, name and links)."""
        req = body["backup"]
        with self.store.db.transaction() as s:
            b = self._get(s, ctx, backup_id, lock=True)
            policy.write(ctx, b.project_id, "backup:update")
            if "name" in req:
                b.name = req["name"]
            if "description" in req:
                b.description = req["description"]
            if "metadata" in req and ver.at_least("3.43"):
                b.backup_metadata = dict(req["metadata"] or {})
            s.flush()
            return {"id": b.id, "name": b.name,
                    "links": views.links(base, b.project_id, "backups", b.id)}

    # ------------------------------------------------------------ create
    def create(self, ctx: RequestContext, body: dict[str, Any], base: str,
               ver: APIVersion) -> dict[str, Any]:
        req = body["backup"]
        self.objects()
        incremental = schemas.flag(req.get("incremental", False))
        force = schemas.flag(req.get("force", False))
        bid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, req["volume_id"], lock=True)
            policy.write(ctx, v.project_id, "backup:create")
            snap = self._snapshot(s, ctx, v, req["snapshot_id"]) if req.get(
                "snapshot_id") else None
            if snap is None and v.status == "in-use" and not force:
                raise errors.invalid_volume(f"Volume {v.id} status must be available, but "
                                            "current status is: in-use.")
            if snap is None and v.status not in ("available", "in-use"):
                raise errors.invalid_volume(f"Volume {v.id} status must be available or "
                                            f"in-use, but current status is: {v.status}.")
            self._check_quota(s, v.project_id, int(v.size))
            parent = self._latest(s, v.id, v.project_id) if incremental else None
            if incremental and parent is None:
                raise invalid("No backups available to do an incremental backup.")
            zone = v.availability_zone
            if ver.at_least("3.51") and req.get("availability_zone"):
                # 3.51: a backup service of another zone; the one here is the zone's
                zone = req["availability_zone"]
                if zone != self.store.availability_zone:
                    raise errors.backup_unavailable()
            stamp = utcnow()
            # a snapshot's data is as old as the snapshot (Cinder's data_timestamp)
            data_stamp = snap.created_at if snap is not None else stamp
            prefix = (f"volume_{v.id}/{stamp.strftime('%Y%m%d%H%M%S')}/"
                      f"az_{v.availability_zone}_backup_{bid}")
            b = Backup(id=bid, project_id=v.project_id, user_id=ctx.user_id or "",
                       volume_id=v.id, name=req.get("name"),
                       description=req.get("description"), size=int(v.size),
                       status="creating", availability_zone=zone,
                       backup_metadata=dict(req.get("metadata") or {})
                       if ver.at_least("3.43") else None,
                       container=req.get("container") or DEFAULT_CONTAINER, prefix=prefix,
                       volume_status=v.status, data_timestamp=data_stamp,
                       created_at=stamp, is_incremental=parent is not None,
                       parent_id=parent.id if parent is not None else None,
                       snapshot_id=snap.id if snap is not None else None)
            s.add(b)
            if snap is not None:
                # the volume stays as it is: the snapshot's bytes are read
                snap.status, host = "backing-up", snap.host
            else:
                v.status, host = "backing-up", v.host
            out = {"id": bid, "name": b.name,
                   "links": views.links(base, v.project_id, "backups", bid)}
        self.store.storage.spawn(self._make, bid, host)
        return out

    @staticmethod
    def _snapshot(s: Session, ctx: RequestContext, v: m.Volume, snapshot_id: str
                  ) -> m.Snapshot:
        """The snapshot of `v` a backup reads instead of the volume (Cinder's rules)."""
        snap = common.snapshot(s, ctx, snapshot_id, lock=True)
        if snap.volume_id != v.id:
            raise errors.invalid_volume(f"Volume {v.id} does not match with "
                                        f"snapshot.volume_id {snap.volume_id}.")
        if snap.status != "available":
            raise errors.invalid_snapshot(f"Snapshot to be backed up must be available, "
                                          f"but the current status is \"{snap.status}\".")
        return snap

    @staticmethod
    def _latest(s: Session, volume_id: str, project_id: str) -> Backup | None:
        """An incremental backup's parent: the volume's latest available backup
        (Cinder's: the one with the latest data_timestamp)."""
        return s.scalar(select(Backup).where(
            Backup.volume_id == volume_id, Backup.project_id == project_id,
            Backup.status == "available")
            .order_by(Backup.data_timestamp.desc(), Backup.created_at.desc()).limit(1))

    def _make(self, backup_id: str, host: str | None) -> None:
        try:
            count = self._write_objects(backup_id, host)
        except Exception as exc:  # noqa: BLE001 - the record keeps the reason
            log.warning("backup %s failed: %s", backup_id, exc)
            self._cleanup_objects(backup_id)
            self._finish(backup_id, "creating", "error", str(exc) or type(exc).__name__)
            return
        self._finish(backup_id, "creating", "available", None, object_count=count)

    def _write_objects(self, backup_id: str, host: str | None) -> int:
        """Store the volume's chunks (an incremental backup: those its parent does not
        hold as they are now) and the metadata object; how many objects were stored."""
        with self.store.db.session() as s:
            b = s.get(Backup, backup_id)
            assert b is not None
            account, container, prefix = account_of(b), b.container, b.prefix
            volume_id, size = b.volume_id, int(b.size) * GiB
            snapshot_id = b.snapshot_id or ""
            meta: dict[str, Any] = {
                "version": "1.0.0", "backup_id": b.id, "volume_id": b.volume_id,
                "backup_name": b.name, "backup_description": b.description,
                "parent_id": b.parent_id,
                "created_at": views.when(b.created_at), "objects": [],
                # as Cinder's volume_meta: what a restore gives the volume back
                "volume_meta": self._volume_meta(s, b.volume_id)}
            parent = s.get(Backup, b.parent_id) if b.parent_id else None
            before = (account_of(parent), parent.container, parent.prefix) \
                if parent is not None else None
        if host is None:
            raise RuntimeError("the volume has no storage host")
        obj = self.objects()
        # what the parent holds, by offset: its entry names the object in the chain
        held = {int(info["offset"]): (name, info)
                for name, info in _chunks(_metadata(obj, *before))} if before else {}
        containers.put(obj, account, container, {})
        offset, n, stored = 0, 0, 0
        while offset < size:
            had = held.get(offset)
            reply = self.store.storage.call(host, ReadVolumeChunk(
                volume_id=volume_id, offset=offset, length=min(CHUNK, size - offset),
                unless_sha256=had[1]["sha256"] if had else "", snapshot_id=snapshot_id))
            if not reply.ok:
                raise RuntimeError(reply.error or "the storage host could not read")
            length = int(reply.data["length"])
            if length == 0:
                break
            n += 1
            if had is not None and reply.data.get("unchanged"):
                name, info = had
                info = {**info, "container": info.get("container") or before[1]} \
                    if before else info
            else:
                name = f"{prefix}-{n:05d}"
                packed = base64.b64decode(reply.data["data_b64"])
                md5 = _put(obj, account, container, name, packed)
                stored += 1
                info = {"offset": offset, "length": length, "compression": "zlib",
                        "md5": md5, "sha256": reply.data["sha256"]}
            meta["objects"].append({name: info})
            offset += length
        _put(obj, account, container, f"{prefix}_metadata",
             json.dumps(meta, indent=2).encode(), "application/json")
        return stored + 1

    def _finish(self, backup_id: str, expect: str, status: str, error: str | None, *,
                object_count: int | None = None) -> None:
        with self.store.db.transaction() as s:
            b = s.get(Backup, backup_id)
            if b is None or b.status != expect:
                return
            b.status = status
            b.fail_reason = None if error is None else error[:1024]
            if object_count is not None:
                b.object_count = object_count
            vid = b.restore_volume_id if expect == "restoring" else b.volume_id
            busy = "restoring-backup" if expect == "restoring" else "backing-up"
            v = s.get(m.Volume, vid) if vid else None
            if v is not None and v.status == busy:
                if expect == "restoring" and error is not None:
                    v.status = "error_restoring"
                else:
                    v.status = b.volume_status or "available"
            b.restore_volume_id = None
            snap = s.get(m.Snapshot, b.snapshot_id) if b.snapshot_id else None
            if expect == "creating" and snap is not None and snap.status == "backing-up":
                snap.status = "available"

    # ------------------------------------------------------------ restore
    def restore(self, ctx: RequestContext, backup_id: str, body: dict[str, Any],
                create_volume: Callable[[dict[str, Any]], dict[str, Any]]
                ) -> dict[str, Any]:
        """Restore into `volume_id` (available, at least as big) or a new volume
        made by `create_volume` (a volume create body)."""
        req = body.get("restore") or {}
        self.objects()
        with self.store.db.session() as s:
            b = self._get(s, ctx, backup_id)
            policy.write(ctx, b.project_id, "backup:restore")
            if b.status != "available":
                raise invalid(f"Backup status must be available, but current status is: "
                              f"{b.status}.")
            size, name = int(b.size), req.get("name")
        target = req.get("volume_id")
        if not target:
            created = create_volume({"volume": {"size": size, "name": name or
                                                f"restore_backup_{backup_id}"}})
            target = created["id"]
            self._wait_available(target)
        with self.store.db.transaction() as s:
            b = self._get(s, ctx, backup_id, lock=True)
            v = common.volume(s, ctx, target, lock=True)
            policy.write(ctx, v.project_id, "backup:restore")
            if b.status != "available":
                raise invalid(f"Backup status must be available, but current status is: "
                              f"{b.status}.")
            if v.status != "available":
                raise errors.invalid_volume(f"Volume to be restored to must be available, "
                                            f"but current status is: {v.status}.")
            if int(v.size) < int(b.size):
                raise errors.invalid_volume(f"volume size {v.size} is too small to restore "
                                            f"backup of size {b.size}.")
            b.status, b.restore_volume_id = "restoring", v.id
            b.volume_status = None
            v.status = "restoring-backup"
            host, out = v.host, {"backup_id": b.id, "volume_id": v.id,
                                 "volume_name": v.name}
        self.store.storage.spawn(self._restore, backup_id, target, host)
        return out

    # ------------------------------------------------------------ volumes from backups
    def source_size(self, s: Session, ctx: RequestContext, backup_id: str) -> int:
        """3.47: the size (GiB) of the backup a new volume is made from, which must be
        one the caller sees and available (Cinder's wording)."""
        b = self._get(s, ctx, backup_id)
        if b.status != "available":
            raise invalid("Originating backup status must be one of 'available' values")
        return int(b.size)

    def restore_new(self, backup_id: str, volume_id: str) -> None:
        """After the storage host made the new volume (still `creating`): restore the
        backup into it, as a restore to an existing volume goes on; a backup that is
        no longer available leaves the volume in error."""
        with self.store.db.transaction() as s:
            b = s.scalar(select(Backup).where(Backup.id == backup_id).with_for_update())
            v = s.get(m.Volume, volume_id)
            if v is None or v.status != "creating":
                return
            if b is None or b.status != "available" or self._objects() is None:
                v.status, v.fault = "error", f"backup {backup_id} is not available"
                return
            b.status, b.restore_volume_id, b.volume_status = "restoring", v.id, None
            v.status, host = "restoring-backup", v.host
        self._restore(backup_id, volume_id, host)

    def _wait_available(self, volume_id: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.store.db.session() as s:
                v = s.get(m.Volume, volume_id)
                status = v.status if v is not None else "gone"
            if status == "available":
                return
            if status in ("error", "gone") or time.monotonic() > deadline:
                raise errors.invalid_volume(f"the volume made for the restore is {status}")
            time.sleep(0.05)

    def _restore(self, backup_id: str, volume_id: str, host: str | None) -> None:
        try:
            if host is None:
                raise RuntimeError("the volume has no storage host")
            with self.store.db.session() as s:
                b = s.get(Backup, backup_id)
                assert b is not None
                account, container, prefix = account_of(b), b.container, b.prefix
            obj = self.objects()
            meta = _metadata(obj, account, container, prefix)
            # an incremental backup's metadata names the chain's objects it reuses
            for name, info in _chunks(meta):
                packed = b"".join(_read(obj, account, info.get("container") or container,
                                        name))
                if hashlib.md5(packed, usedforsecurity=False).hexdigest() != info["md5"]:
                    raise RuntimeError(f"backup object {name} does not match its md5")
                reply = self.store.storage.call(host, WriteVolumeChunk(
                    volume_id=volume_id, offset=int(info["offset"]),
                    data_b64=base64.b64encode(packed).decode(), sha256=info["sha256"]))
                if not reply.ok:
                    raise RuntimeError(reply.error or "the storage host could not write")
            self._give_volume_meta(volume_id, meta.get("volume_meta") or {})
        except Exception as exc:  # noqa: BLE001 - the record keeps the reason
            log.warning("restore of backup %s failed: %s", backup_id, exc)
            self._finish(backup_id, "restoring", "available", str(exc) or
                         type(exc).__name__)
            return
        self._finish(backup_id, "restoring", "available", None)

    @staticmethod
    def _volume_meta(s: Session, volume_id: str) -> dict[str, Any]:
        """The volume's metadata, image metadata and bootable flag at backup time."""
        v = s.get(m.Volume, volume_id)
        return {"metadata": common.metadata_of(s, m.VolumeMetadata, "volume_id",
                                               [volume_id])[volume_id],
                "image_metadata": common.metadata_of(s, m.VolumeImageMetadata,
                                                     "volume_id", [volume_id])[volume_id],
                "bootable": bool(v and v.bootable)}

    def _give_volume_meta(self, volume_id: str, meta: dict[str, Any]) -> None:
        """A restore gives the volume the backed-up volume's metadata (kept keys of
        its own stay), image metadata and bootable flag, as Cinder's does."""
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is None:
                return
            if meta.get("metadata"):
                common.set_metadata(s, m.VolumeMetadata, "volume_id", v.id,
                                    meta["metadata"], replace=False)
            if meta.get("image_metadata"):
                common.set_metadata(s, m.VolumeImageMetadata, "volume_id", v.id,
                                    meta["image_metadata"], replace=True)
            v.bootable = bool(meta.get("bootable")) or v.bootable

    # ------------------------------------------------------------ delete
    def delete(self, ctx: RequestContext, backup_id: str, *, force: bool = False) -> None:
        self.objects()
        with self.store.db.transaction() as s:
            b = self._get(s, ctx, backup_id, lock=True)
            policy.write(ctx, b.project_id, "backup:delete")
            allowed = ("available", "error", "error_deleting") + (
                ("creating", "restoring") if force else ())
            if b.status not in allowed:
                raise invalid("Backup status must be available or error, but current "
                              f"status is: {b.status}.")
            if self._parents(s, [b.id]):
                # their chunks may be this backup's objects
                raise invalid("Incremental backups exist for this backup.")
            b.status = "deleting"
        self.store.storage.spawn(self._delete, backup_id)

    def _delete(self, backup_id: str) -> None:
        try:
            self._cleanup_objects(backup_id, strict=True)
        except Exception as exc:  # noqa: BLE001 - the record keeps the reason
            with self.store.db.transaction() as s:
                b = s.get(Backup, backup_id)
                if b is not None:
                    b.status, b.fail_reason = "error_deleting", str(exc)[:1024]
            return
        with self.store.db.transaction() as s:
            b = s.get(Backup, backup_id)
            if b is not None:
                s.delete(b)

    def _cleanup_objects(self, backup_id: str, *, strict: bool = False) -> None:
        """Remove every object of the backup (those a failed create left too)."""
        with self.store.db.session() as s:
            b = s.get(Backup, backup_id)
            if b is None or not b.prefix:
                return
            account, container, prefix = account_of(b), b.container, b.prefix
        obj = self._objects()
        if obj is None:
            return
        while True:
            try:
                _, entries = containers.list_objects(obj, account, container,
                                                     prefix=prefix, limit=1000)
            except oe.NotFound:
                return
            names = [getattr(en, "name", "") for en in entries]
            for name in names:
                try:
                    objects.delete(obj, account, container, name)
                except oe.NotFound:
                    continue
                except Exception:
                    if strict:
                        raise
            if len(names) < 1000:
                return

    # ------------------------------------------------------------ export / import
    def export_record(self, ctx: RequestContext, backup_id: str) -> dict[str, str]:
        """The backup's record, for an import after a loss of the database (or into
        another project): Cinder's backup_service and base64 JSON backup_url."""
        policy.admin(ctx, "backup:export-import")
        with self.store.db.session() as s:
            b = self._get(s, ctx, backup_id)
            if b.status != "available":
                raise invalid(f"Backup status must be available and not {b.status}.")
            record = {"id": b.id, "volume_id": b.volume_id, "snapshot_id": b.snapshot_id,
                      "display_name": b.name, "display_description": b.description,
                      "size": int(b.size), "container": b.container,
                      "object_account": account_of(b), "service_metadata": b.prefix,
                      "object_count": int(b.object_count), "parent_id": b.parent_id,
                      "is_incremental": b.is_incremental,
                      "availability_zone": b.availability_zone,
                      "data_timestamp": views.when(b.data_timestamp)}
        url = base64.b64encode(json.dumps(record).encode()).decode()
        return {"backup_service": BACKUP_SERVICE, "backup_url": url}

    def import_record(self, ctx: RequestContext, service: str, url: str, base: str
                      ) -> dict[str, Any]:
        """A backup record exported before: the backup is the importer's, its objects
        stay where they are (checked: the metadata object must be there)."""
        policy.admin(ctx, "backup:export-import")
        obj = self.objects()
        if service != BACKUP_SERVICE:
            raise errors.invalid_input(f"Backup service {service} is not this cloud's "
                                       f"({BACKUP_SERVICE}).")
        try:
            record = json.loads(base64.b64decode(url, validate=True))
            bid, size = str(uuid.UUID(str(record["id"]))), int(record["size"])
            where = (str(record["object_account"]), str(record["container"]),
                     str(record["service_metadata"]))
        except (ValueError, TypeError, KeyError):
            raise errors.invalid_input("Can't parse backup record.") from None
        try:
            _metadata(obj, *where)
        except Exception:  # noqa: BLE001 - any unreadable record is refused alike
            raise invalid("The backup's objects are not in the object store.") from None
        with self.store.db.transaction() as s:
            old = s.get(Backup, bid)
            if old is not None and old.status != "error":
                raise invalid("Backup already exists in database.")
            if old is not None:
                s.delete(old)
                s.flush()
            stamp = utcnow()
            b = Backup(id=bid, project_id=ctx.project_id or "", user_id=ctx.user_id or "",
                       volume_id=str(record.get("volume_id") or ""),
                       snapshot_id=record.get("snapshot_id"),
                       name=record.get("display_name"),
                       description=record.get("display_description"), size=size,
                       status="available", availability_zone=str(
                           record.get("availability_zone") or self.store.availability_zone),
                       container=where[1], prefix=where[2], object_account=where[0],
                       object_count=int(record.get("object_count") or 0),
                       is_incremental=bool(record.get("is_incremental")),
                       parent_id=record.get("parent_id"), data_timestamp=stamp,
                       created_at=stamp)
            s.add(b)
            return {"id": bid, "name": b.name,
                    "links": views.links(base, b.project_id, "backups", bid)}

    # ------------------------------------------------------------ crash recovery
    def recover(self) -> int:
        """At start-up: a step cut by a crash leaves nothing transitional. A backup
        being made goes to error (its partial objects removed), one being restored
        back to available (the volume it was writing to error_restoring), one being
        deleted is deleted again; how many were settled."""
        with self.store.db.session() as s:
            stuck = [(b.id, b.status) for b in s.scalars(select(Backup).where(
                Backup.status.in_(("creating", "restoring", "deleting"))))]
        for bid, status in stuck:
            if status == "creating":
                self._cleanup_objects(bid)
                self._finish(bid, "creating", "error", "the backup service stopped while "
                             "the backup was being made")
            elif status == "restoring":
                self._finish(bid, "restoring", "available", "the backup service stopped "
                             "during the restore")
            else:
                self.store.storage.spawn(self._delete, bid)
        return len(stuck)

    # ------------------------------------------------------------ admin actions
    def reset_status(self, ctx: RequestContext, backup_id: str, status: str) -> None:
        policy.admin(ctx, "backup:backup-reset_status")
        if status not in ("available", "error"):
            raise invalid(f"status {status!r}: a backup may be reset to available or "
                          "error.")
        with self.store.db.transaction() as s:
            self._get(s, ctx, backup_id, lock=True).status = status

    def force_delete(self, ctx: RequestContext, backup_id: str) -> None:
        policy.admin(ctx, "backup:force_delete")
        self.delete(ctx, backup_id, force=True)


# ------------------------------------------------------------------ helpers
def _put(obj: ObjectStore, account: str, container: str, name: str, data: bytes,
         content_type: str = "application/octet-stream") -> str:
    """Store `data` as an object through the object service's domain functions
    (the backend writer, then the row); its md5."""
    writer = obj.backend.open_write()
    try:
        writer.write(data)
        location = writer.commit()
    except BaseException:
        writer.abort()
        raise
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    try:
        objects.record(obj, account, container, name,
                       objects.NewObject(content_type=content_type), location,
                       len(data), md5)
    except BaseException:
        obj.backend.delete(location)
        raise
    return md5


def _metadata(obj: ObjectStore, account: str, container: str, prefix: str
              ) -> dict[str, Any]:
    """A backup's metadata object (its chunk list)."""
    data: dict[str, Any] = json.loads(b"".join(_read(obj, account, container,
                                                     f"{prefix}_metadata")))
    return data


def _chunks(meta: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(object name, its entry) of every chunk a metadata object lists."""
    return [next(iter(entry.items())) for entry in meta["objects"]]


def _read(obj: ObjectStore, account: str, container: str, name: str) -> Any:
    info = objects.head(obj, account, container, name)
    if info.location is None:
        raise RuntimeError(f"backup object {name} has no data")
    return objects.read(obj, [Segment(info.location, 0, info.size)], 0, info.size)
