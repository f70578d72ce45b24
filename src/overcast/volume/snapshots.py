"""Snapshots: point-in-time copies of a volume, kept on its storage host.

Of an `available` volume, or of an `in-use` one with `force` (crash-consistent:
the storage host reads the live file shared). Like volumes, the record is written
`creating` first and the storage host's answer makes it `available` or `error`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, exists, select

from overcast.bus.messages import CreateSnapshot, DeleteSnapshot
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, messages, policy, schemas, views
from overcast.volume import models as m
from overcast.volume.common import Store
from overcast.volume.quotas import Quotas
from overcast.volume.volumes import Page, page_rows, parse_dict

SORT_KEYS = {"id": "id", "name": "name", "display_name": "name", "status": "status",
             "size": "size", "created_at": "created_at", "updated_at": "updated_at",
             "volume_id": "volume_id", "project_id": "project_id"}


class Snapshots:
    def __init__(self, store: Store, quotas: Quotas) -> None:
        self.store = store
        self.quotas = quotas

    def views(self, s: Any, rows: list[m.Snapshot], ver: APIVersion) -> list[dict[str, Any]]:
        meta = common.metadata_of(s, m.SnapshotMetadata, "snapshot_id", [r.id for r in rows])
        return [views.snapshot(r, meta[r.id], ver) for r in rows]

    def show(self, ctx: RequestContext, snapshot_id: str, ver: APIVersion) -> dict[str, Any]:
        with self.store.db.session() as s:
            snap = common.snapshot(s, ctx, snapshot_id)
            policy.read(ctx, snap.project_id, "volume:get_snapshot")
            return self.views(s, [snap], ver)[0]

    def page(self, ctx: RequestContext, params: dict[str, str], ver: APIVersion, *,
             detail: bool) -> Page:
        stmt = select(m.Snapshot)
        if not (ctx.is_admin and schemas.flag(params.get("all_tenants", "0"))):
            stmt = stmt.where(m.Snapshot.project_id == (ctx.project_id or ""))
        elif params.get("project_id"):
            stmt = stmt.where(m.Snapshot.project_id == params["project_id"])
        for key, col in (("name", m.Snapshot.name), ("display_name", m.Snapshot.name),
                         ("status", m.Snapshot.status),
                         ("volume_id", m.Snapshot.volume_id)):
            if key in params:
                stmt = stmt.where(col == params[key])
        if "metadata" in params and ver.at_least("3.22"):
            for k, v in parse_dict(params["metadata"]).items():
                stmt = stmt.where(exists().where(and_(
                    m.SnapshotMetadata.snapshot_id == m.Snapshot.id,
                    m.SnapshotMetadata.key == k, m.SnapshotMetadata.value == v)))
        with self.store.db.session() as s:
            rows, marker, count = page_rows(s, ctx, stmt, m.Snapshot, params, ver, SORT_KEYS,
                                            "Snapshot")
            items = self.views(s, rows, ver)
        if not detail:
            keep = ("id", "name", "description", "volume_id", "status", "size",
                    "created_at", "updated_at", "metadata")
            items = [{k: x[k] for k in keep} for x in items]
        return Page(items, marker, count)

    def create(self, ctx: RequestContext, body: dict[str, Any], ver: APIVersion, *,
               group_snapshot_id: str | None = None) -> dict[str, Any]:
        req = body["snapshot"]
        force = schemas.flag(req.get("force", False))
        sid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            # a null volume_id is no volume (Cinder's 404, "Volume None ...")
            v = common.volume(s, ctx, str(req["volume_id"]), lock=True)
            policy.write(ctx, v.project_id, "volume:create_snapshot")
            if v.status == "in-use" and not force:
                raise errors.invalid_volume(f"Volume {v.id} status must be available, but "
                                            f"current status is: in-use. (use force)")
            if v.status not in ("available", "in-use"):
                raise errors.invalid_volume(f"Volume {v.id} status must be available or "
                                            f"in-use, but current status is: {v.status}.")
            vtype = s.get(m.VolumeType, v.volume_type_id or "")
            self.quotas.check(s, v.project_id, vtype.name if vtype else None, snapshots=1,
                              gigabytes=v.size)
            name = req.get("name") if req.get("name") is not None else req.get(
                "display_name")
            desc = req.get("description") if req.get("description") is not None else \
                req.get("display_description")
            snap = m.Snapshot(id=sid, project_id=v.project_id, user_id=ctx.user_id or "",
                              volume_id=v.id, volume_type_id=v.volume_type_id, name=name,
                              description=desc, size=v.size, status="creating",
                              host=v.host, group_snapshot_id=group_snapshot_id)
            s.add(snap)
            s.flush()
            if req.get("metadata"):
                common.set_metadata(s, m.SnapshotMetadata, "snapshot_id", sid,
                                    req["metadata"], replace=True)
            out = written(self.views(s, [snap], ver)[0])
            host = v.host
        if host is None:
            self._finish(sid, False, "the volume has no storage host")
        else:
            self.store.storage.spawn(self._make, sid, host, req["volume_id"])
        return out

    def _make(self, snapshot_id: str, host: str, volume_id: str) -> None:
        reply = self.store.storage.call(host, CreateSnapshot(snapshot_id=snapshot_id,
                                                             volume_id=volume_id))
        self._finish(snapshot_id, reply.ok, reply.error)

    def _finish(self, snapshot_id: str, ok: bool, error: str | None) -> None:
        with self.store.db.transaction() as s:
            snap = s.get(m.Snapshot, snapshot_id)
            if snap is None or snap.status != "creating":
                return
            snap.status = "available" if ok else "error"
            snap.progress = "100%" if ok else snap.progress
            snap.fault = None if ok else (error or "")[:1024]
            if not ok:
                messages.record(s, snap.project_id, "SNAPSHOT", snap.id, "009", "001", error)
            if snap.group_snapshot_id:
                common.settle_group_snapshot(s, snap.group_snapshot_id)

    def update(self, ctx: RequestContext, snapshot_id: str, body: dict[str, Any],
               ver: APIVersion) -> dict[str, Any]:
        req = body["snapshot"]
        with self.store.db.transaction() as s:
            snap = common.snapshot(s, ctx, snapshot_id, lock=True)
            policy.write(ctx, snap.project_id, "volume:update_snapshot")
            for key, attr in (("name", "name"), ("display_name", "name"),
                              ("description", "description"),
                              ("display_description", "description")):
                if key in req:
                    setattr(snap, attr, req[key])
            snap.updated_at = utcnow()
            s.flush()
            return written(self.views(s, [snap], ver)[0])

    def delete(self, ctx: RequestContext, snapshot_id: str, *, force: bool = False) -> None:
        with self.store.db.transaction() as s:
            snap = common.snapshot(s, ctx, snapshot_id, lock=True)
            policy.write(ctx, snap.project_id, "volume:delete_snapshot")
            if not force and (snap.status not in ("available", "error")
                              or snap.group_snapshot_id is not None):
                raise errors.invalid_snapshot("Volume Snapshot status must be available or "
                                              "error and must not be part of a group.")
            snap.status = "deleting"
            host = snap.host
        self.store.storage.spawn(self._destroy, snapshot_id, host)

    def _destroy(self, snapshot_id: str, host: str | None) -> None:
        if host is not None:
            reply = self.store.storage.call(host, DeleteSnapshot(snapshot_id=snapshot_id))
            if not reply.ok:
                with self.store.db.transaction() as s:
                    snap = s.get(m.Snapshot, snapshot_id)
                    if snap is not None:
                        snap.status, snap.fault = "error_deleting", (reply.error or "")[:1024]
                return
        with self.store.db.transaction() as s:
            snap = s.get(m.Snapshot, snapshot_id)
            if snap is not None:
                s.delete(snap)

    def reset_status(self, ctx: RequestContext, snapshot_id: str, status: str) -> None:
        policy.admin(ctx, "volume_extension:snapshot_admin_actions:reset_status")
        with self.store.db.transaction() as s:
            common.snapshot(s, ctx, snapshot_id, lock=True).status = status

    #: os-update_snapshot_status: the statuses each status may be updated to
    STATUS_UPDATES = {"creating": ("creating", "available", "error"),
                      "deleting": ("deleting", "error_deleting")}

    def update_status(self, ctx: RequestContext, snapshot_id: str, status: str,
                      progress: str | None) -> None:
        """Cinder's os-update_snapshot_status (what Nova calls while it makes an
        assisted snapshot): a project member moves a snapshot on from `creating`
        or `deleting`, with its progress."""
        with self.store.db.transaction() as s:
            snap = common.snapshot(s, ctx, snapshot_id, lock=True)
            policy.write(ctx, snap.project_id,
                         "snapshot_extension:snapshot_actions:update_snapshot_status")
            allowed = self.STATUS_UPDATES.get(snap.status)
            if allowed is None:
                raise BadRequest(f"Snapshot status {snap.status} not allowed for "
                                 "update_snapshot_status")
            if status not in allowed:
                raise BadRequest(f"Provided snapshot status {status} not allowed for "
                                 f"snapshot with status {snap.status}.")
            snap.status = status
            if progress:
                snap.progress = progress[:8]

    # ------------------------------------------------------------ metadata
    def metadata(self, ctx: RequestContext, snapshot_id: str) -> dict[str, str]:
        with self.store.db.session() as s:
            snap = common.snapshot(s, ctx, snapshot_id)
            policy.read(ctx, snap.project_id, "volume:get_snapshot_metadata")
            return common.metadata_of(s, m.SnapshotMetadata, "snapshot_id",
                                      [snap.id])[snap.id]

    def set_metadata(self, ctx: RequestContext, snapshot_id: str, values: dict[str, str],
                     *, replace: bool) -> dict[str, str]:
        with self.store.db.transaction() as s:
            snap = common.snapshot(s, ctx, snapshot_id, lock=True)
            policy.write(ctx, snap.project_id, "volume:update_snapshot_metadata")
            common.set_metadata(s, m.SnapshotMetadata, "snapshot_id", snap.id, values,
                                replace=replace)
            s.flush()
            return common.metadata_of(s, m.SnapshotMetadata, "snapshot_id",
                                      [snap.id])[snap.id]

    def delete_metadata(self, ctx: RequestContext, snapshot_id: str, key: str) -> None:
        with self.store.db.transaction() as s:
            snap = common.snapshot(s, ctx, snapshot_id, lock=True)
            policy.write(ctx, snap.project_id, "volume:delete_snapshot_metadata")
            row = s.get(m.SnapshotMetadata, (snap.id, key))
            if row is None:
                raise errors.metadata_key_not_found(key, "Snapshot", snap.id)
            s.delete(row)


def written(view: dict[str, Any]) -> dict[str, Any]:
    """A snapshot as Cinder answers its create or update: its own fields, without
    the extended attributes its reads carry (project, progress)."""
    for key in ("os-extended-snapshot-attributes:project_id",
                "os-extended-snapshot-attributes:progress"):
        view.pop(key, None)
    return view
