"""Adopting disks a backend already holds (Cinder's manage existing: the
`os-volume-manage` extension, and from 3.8 `/manageable_volumes`), and giving
volumes back (`os-unmanage`). An admin's. The file backend's manageable disks are
raw files in its directory that no volume or snapshot is; an unmanaged volume's
file stays there as `unmanaged-<id>`, manageable again.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select

from overcast.bus.messages import (
    ListManageable,
    ManageSnapshot,
    ManageVolume,
    Message,
    UnmanageSnapshot,
    UnmanageVolume,
)
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, messages, policy, schemas
from overcast.volume import models as m
from overcast.volume.common import Store
from overcast.volume.quotas import Quotas
from overcast.volume.services import VOLUME_BINARY
from overcast.volume.volumes import Volumes

#: what unmanage releases: a volume's record or a snapshot's
_Disk = TypeVar("_Disk", m.Volume, m.Snapshot)

GiB = 1 << 30


class Manage:
    def __init__(self, store: Store, volumes: Volumes, quotas: Quotas) -> None:
        self.store = store
        self.volumes = volumes
        self.quotas = quotas

    def _backend(self, host: str) -> str:
        """Cinder's `host@backend#pool` of a known storage service."""
        base = host.split("#", 1)[0]
        with self.store.db.session() as s:
            svc = s.get(m.StorageService, (base, VOLUME_BINARY))
            if svc is None:
                raise errors.invalid_input(f"Service {host} could not be found.")
            return f"{svc.host}#{svc.backend}"

    def manageable(self, host: str, detail: bool) -> list[dict[str, Any]]:
        backend = self._backend(host)
        reply = self.store.storage.call(backend, ListManageable(), timeout=60)
        if not reply.ok:
            raise errors.invalid_input(f"The backend did not list its disks: {reply.error}")
        out = []
        for x in reply.data.get("volumes", []):
            item: dict[str, Any] = {"reference": {"source-name": x["name"]},
                                    "size": max(1, -(-int(x["size"]) // GiB)),
                                    "safe_to_manage": True}
            if detail:
                item.update({"reason_not_safe": None, "cinder_id": None,
                             "extra_info": None})
            out.append(item)
        return out

    def manage(self, ctx: RequestContext, req: dict[str, Any], base: str, ver: APIVersion
               ) -> dict[str, Any]:
        ref = req.get("ref") or {}
        name = ref.get("source-name")
        if not name:
            raise errors.invalid_input("Manage existing volume requires 'ref' with "
                                       "'source-name'.")
        backend = self._backend(req["host"])
        vid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            vtype = common.volume_type(s, ctx, req["volume_type"]) if req.get(
                "volume_type") else common.default_type(s)
            self.quotas.check(s, ctx.project_id or "", vtype.name, volumes=1)
            row = m.Volume(id=vid, project_id=ctx.project_id or "", user_id=ctx.user_id or "",
                           name=req.get("name"), description=req.get("description"),
                           size=0, status="managing", host=backend,
                           volume_type_id=vtype.id,
                           availability_zone=req.get("availability_zone")
                           or self.store.availability_zone,
                           bootable=schemas.flag(req.get("bootable", False)))
            s.add(row)
            s.flush()
            if req.get("metadata"):
                common.set_metadata(s, m.VolumeMetadata, "volume_id", vid, req["metadata"],
                                    replace=True)
            out = self.volumes.views(s, ctx, [row], base, ver)[0]
        self.store.storage.spawn(self._adopt, vid, backend, name)
        return out

    def _adopt(self, volume_id: str, backend: str, name: str) -> None:
        reply = self.store.storage.call(backend, ManageVolume(volume_id=volume_id,
                                                              source_name=name))
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is None or v.status != "managing":
                return
            if reply.ok:
                v.size = int(reply.data["size_bytes"]) // GiB
                v.status, v.launched_at = "available", utcnow()
            else:
                v.status, v.fault = "error_managing", (reply.error or "")[:1024]
                messages.record(s, v.project_id, "VOLUME", v.id, "001", "001", reply.error)

    def unmanage(self, ctx: RequestContext, volume_id: str) -> None:
        policy.admin(ctx, "volume_extension:volume_unmanage")
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            busy = s.scalar(select(m.Attachment.id).where(m.Attachment.volume_id == v.id)) \
                or s.scalar(select(m.Snapshot.id).where(m.Snapshot.volume_id == v.id))
            if v.status not in ("available", "error", "error_managing") or busy \
                    or v.group_id is not None:
                raise errors.invalid_volume(f"Volume {v.id} must be available or error, "
                                            "with no attachments, snapshots or group, to "
                                            "be unmanaged.")
            v.status = "unmanaging"
            host = v.host
        self.store.storage.spawn(self._release, volume_id, host, m.Volume,
                                 UnmanageVolume(volume_id=volume_id))

    def _release(self, ident: str, host: str | None, model: type[_Disk],
                 message: Message) -> None:
        """Unmanage's second half (a volume's or a snapshot's, `model`): the storage
        host lets go of the disk (`message`) and the record is forgotten; if the host
        refuses, the record stays, in error with the host's reason."""
        if host is not None:
            reply = self.store.storage.call(host, message)
            if not reply.ok:
                with self.store.db.transaction() as s:
                    row = s.get(model, ident)
                    if row is not None:
                        row.status, row.fault = "error", (reply.error or "")[:1024]
                return
        with self.store.db.transaction() as s:
            row = s.get(model, ident)
            if row is not None:
                s.delete(row)

    # ------------------------------------------------------------ snapshots
    def manageable_snapshots(self, host: str, detail: bool) -> list[dict[str, Any]]:
        """The same disks as volumes: any of them may be adopted as a snapshot of a
        volume of this backend (the backend cannot tell which volume a disk was
        copied from: `source_reference` is unknown)."""
        out = self.manageable(host, detail)
        for x in out:
            x["source_reference"] = None
        return out

    def manage_snapshot(self, ctx: RequestContext, req: dict[str, Any], ver: APIVersion,
                        views: Any) -> dict[str, Any]:
        name = (req.get("ref") or {}).get("source-name")
        if not name:
            raise errors.invalid_input("Manage existing snapshot requires 'ref' with "
                                       "'source-name'.")
        sid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, req["volume_id"])
            if v.host is None:
                raise errors.invalid_volume(f"Volume {v.id} has no storage host.")
            vtype = s.get(m.VolumeType, v.volume_type_id or "")
            self.quotas.check(s, v.project_id, vtype.name if vtype else None, snapshots=1)
            snap = m.Snapshot(id=sid, project_id=v.project_id, user_id=ctx.user_id or "",
                              volume_id=v.id, volume_type_id=v.volume_type_id,
                              name=req.get("name"), description=req.get("description"),
                              size=v.size, status="managing", host=v.host)
            s.add(snap)
            s.flush()
            if req.get("metadata"):
                common.set_metadata(s, m.SnapshotMetadata, "snapshot_id", sid,
                                    req["metadata"], replace=True)
            out = views(s, [snap], ver)[0]
            host = v.host
        self.store.storage.spawn(self._adopt_snapshot, sid, host, name)
        return dict(out)

    def _adopt_snapshot(self, snapshot_id: str, host: str, name: str) -> None:
        reply = self.store.storage.call(host, ManageSnapshot(snapshot_id=snapshot_id,
                                                             source_name=name))
        with self.store.db.transaction() as s:
            snap = s.get(m.Snapshot, snapshot_id)
            if snap is None or snap.status != "managing":
                return
            if reply.ok:
                snap.size = int(reply.data["size_bytes"]) // GiB
                snap.status, snap.progress = "available", "100%"
            else:
                snap.status, snap.fault = "error_managing", (reply.error or "")[:1024]
                messages.record(s, snap.project_id, "SNAPSHOT", snap.id, "009", "001",
                                reply.error)

    def unmanage_snapshot(self, ctx: RequestContext, snapshot_id: str) -> None:
        policy.admin(ctx, "volume_extension:snapshot_unmanage")
        with self.store.db.transaction() as s:
            snap = common.snapshot(s, ctx, snapshot_id, lock=True)
            if snap.status not in ("available", "error", "error_managing") or \
                    snap.group_snapshot_id is not None:
                raise errors.invalid_snapshot(f"Snapshot {snap.id} must be available or "
                                              "error, and in no group snapshot, to be "
                                              "unmanaged.")
            snap.status = "unmanaging"
            host = snap.host
        self.store.storage.spawn(self._release, snapshot_id, host, m.Snapshot,
                                 UnmanageSnapshot(snapshot_id=snapshot_id))
