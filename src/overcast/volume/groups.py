"""Generic volume groups (3.11 group types, 3.13 groups, 3.14 group snapshots):
volumes of a project handled together. A group is a record only (the file backend
has nothing to make for it); a group snapshot is one snapshot of each of its
volumes, taken by the storage host like any snapshot, and a group made from a
group snapshot (or from another group) is one new volume from each member.

A volume in a group cannot be deleted on its own (Cinder's rule): remove it from
the group, or delete the group with `delete-volumes`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.kit import paging
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound, RequestEntityTooLarge
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, policy, schemas, views
from overcast.volume import models as m
from overcast.volume.common import Store
from overcast.volume.snapshots import Snapshots
from overcast.volume.volumes import Volumes, sort_params

#: what a group type list sorts by
TYPE_SORT_KEYS = {"id": "id", "name": "name", "created_at": "created_at",
                  "is_public": "is_public", "description": "description"}


def type_view(t: m.GroupType, specs: dict[str, str], admin: bool) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "description": t.description,
            "is_public": t.is_public, "group_specs": specs if admin else {}}


def group_view(g: m.Group, ver: APIVersion, volumes: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": g.id, "name": g.name, "description": g.description, "status": g.status,
        "availability_zone": g.availability_zone, "created_at": views.when(g.created_at),
        "group_type": g.group_type_id, "volume_types": list(g.volume_type_ids or [])}
    if ver.at_least("3.14"):
        out["group_snapshot_id"] = g.group_snapshot_id
        out["source_group_id"] = g.source_group_id
    if ver.at_least("3.38"):
        out["replication_status"] = "disabled"
    if volumes is not None:
        out["volumes"] = volumes
    return out


class Groups:
    def __init__(self, store: Store, volumes: Volumes, snapshots: Snapshots) -> None:
        self.store = store
        self.volumes = volumes
        self.snapshots = snapshots

    # ------------------------------------------------------------ group types
    def _type(self, s: Session, ctx: RequestContext, ident: str) -> m.GroupType:
        t = s.get(m.GroupType, ident) or s.scalar(select(m.GroupType).where(
            m.GroupType.name == ident))
        if t is None or not (t.is_public or ctx.is_admin):
            raise NotFound(f"Group type {ident} could not be found.")
        return t

    def types(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        """Cinder's group type list: public types, or for the admin those `is_public`
        asks for (true, false, or "None" for both); sorted by `sort` (or
        sort_key/sort_dir; oldest first when none is given), `limit` at most."""
        public: bool | None = True
        raw = params.get("is_public")
        if ctx.is_admin and raw is not None:
            if raw.strip().lower() == "none":
                public = None
            elif raw.strip().lower() in schemas.TRUE | schemas.FALSE:
                public = schemas.flag(raw)
            else:
                raise errors.invalid_input(f"Invalid is_public filter [{raw}]")
        with self.store.db.session() as s:
            rows = [t for t in s.scalars(select(m.GroupType).order_by(m.GroupType.created_at))
                    if public is None or bool(t.is_public) == public]
            if params.get("sort") or params.get("sort_key"):
                for key, direction in reversed(sort_params(params, TYPE_SORT_KEYS)):
                    rows.sort(key=lambda t, k=key: getattr(t, k) or "",  # type: ignore[misc]
                              reverse=direction == "desc")
            if params.get("limit"):
                rows = rows[:paging.parse_limit(params["limit"], default=None,
                                                maximum=1000) or len(rows)]
            specs = common.metadata_of(s, m.GroupTypeSpec, "type_id", [t.id for t in rows])
            return [type_view(t, specs[t.id], ctx.is_admin) for t in rows]

    def show_type(self, ctx: RequestContext, ident: str) -> dict[str, Any]:
        with self.store.db.session() as s:
            t = self._type(s, ctx, ident)
            specs = common.metadata_of(s, m.GroupTypeSpec, "type_id", [t.id])[t.id]
            return type_view(t, specs, ctx.is_admin)

    def create_type(self, ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
        tid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            if s.scalar(select(m.GroupType.id).where(m.GroupType.name == req["name"])):
                raise Conflict(f"Group Type {req['name']} already exists.")
            s.add(m.GroupType(id=tid, name=req["name"], description=req.get("description"),
                              is_public=schemas.flag(req.get("is_public", True))))
            s.flush()
            common.set_metadata(s, m.GroupTypeSpec, "type_id", tid,
                                {k: str(v) for k, v in (req.get("group_specs") or {}).items()},
                                replace=True)
        return self.show_type(ctx, tid)

    def update_type(self, ctx: RequestContext, type_id: str, req: dict[str, Any]
                    ) -> dict[str, Any]:
        with self.store.db.transaction() as s:
            t = self._type(s, ctx, type_id)
            if req.get("name"):
                t.name = req["name"]
            if "description" in req:
                t.description = req["description"]
            if "is_public" in req:
                t.is_public = schemas.flag(req["is_public"])
        return self.show_type(ctx, type_id)

    def delete_type(self, ctx: RequestContext, type_id: str) -> None:
        with self.store.db.transaction() as s:
            t = self._type(s, ctx, type_id)
            if s.scalar(select(func.count()).select_from(m.Group).where(
                    m.Group.group_type_id == t.id)):
                raise BadRequest(f"Group Type {type_id} deletion is not allowed with groups "
                                 "present with the type.")
            s.delete(t)

    def type_specs(self, ctx: RequestContext, type_id: str) -> dict[str, str]:
        with self.store.db.session() as s:
            t = self._type(s, ctx, type_id)
            return common.metadata_of(s, m.GroupTypeSpec, "type_id", [t.id])[t.id]

    def set_type_specs(self, ctx: RequestContext, type_id: str, values: dict[str, Any]
                       ) -> dict[str, str]:
        with self.store.db.transaction() as s:
            t = self._type(s, ctx, type_id)
            clean = {k: str(v) for k, v in values.items()}
            common.set_metadata(s, m.GroupTypeSpec, "type_id", t.id, clean, replace=False)
            return clean

    def delete_type_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        with self.store.db.transaction() as s:
            t = self._type(s, ctx, type_id)
            row = s.get(m.GroupTypeSpec, (t.id, key))
            if row is None:
                raise NotFound(f"Group Type {type_id} has no specs with key {key}.")
            s.delete(row)

    # ------------------------------------------------------------ groups
    def _group(self, s: Session, ctx: RequestContext, group_id: str) -> m.Group:
        g = s.get(m.Group, group_id)
        if g is None or not policy.can_see(ctx, g.project_id):
            raise NotFound(f"Group {group_id} could not be found.")
        return g

    def _members(self, s: Session, group_id: str) -> list[m.Volume]:
        return list(s.scalars(select(m.Volume).where(m.Volume.group_id == group_id)
                              .order_by(m.Volume.created_at, m.Volume.id)))

    def listing(self, ctx: RequestContext, params: dict[str, str], ver: APIVersion,
                detail: bool) -> list[dict[str, Any]]:
        stmt = select(m.Group)
        if not (ctx.is_admin and schemas.flag(params.get("all_tenants", "0"))):
            stmt = stmt.where(m.Group.project_id == (ctx.project_id or ""))
        with self.store.db.session() as s:
            rows = list(s.scalars(stmt.order_by(m.Group.created_at.desc(), m.Group.id)))
            with_vols = ver.at_least("3.25") and schemas.flag(params.get("list_volume", "0"))
            out = [group_view(g, ver, [v.id for v in self._members(s, g.id)]
                              if with_vols else None) for g in rows]
        if not detail:
            out = [{"id": x["id"], "name": x["name"]} for x in out]
        return out

    def show(self, ctx: RequestContext, group_id: str, ver: APIVersion,
             list_volume: bool = False) -> dict[str, Any]:
        with self.store.db.session() as s:
            g = self._group(s, ctx, group_id)
            policy.read(ctx, g.project_id, "group:get")
            vols = [v.id for v in self._members(s, g.id)] if list_volume and ver.at_least(
                "3.25") else None
            return group_view(g, ver, vols)

    def create(self, ctx: RequestContext, req: dict[str, Any], *,
               snapshot_id: str | None = None, source_id: str | None = None
               ) -> dict[str, Any]:
        policy.write(ctx, ctx.project_id or "", "group:create")
        gid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            if source_id or snapshot_id:
                src = self._group(s, ctx, source_id) if source_id else None
                gsnap = self._group_snapshot(s, ctx, snapshot_id) if snapshot_id else None
                origin = src or self._group(s, ctx, gsnap.group_id if gsnap else "")
                gtype_id, type_ids, az = (origin.group_type_id, origin.volume_type_ids,
                                          origin.availability_zone)
            else:
                gtype_id = self._type(s, ctx, req["group_type"]).id
                type_ids = [common.volume_type(s, ctx, t).id for t in req["volume_types"]]
                az = req.get("availability_zone") or self.store.availability_zone
            used = s.scalar(select(func.count()).select_from(m.Group).where(
                m.Group.project_id == (ctx.project_id or "")))
            limit = self.volumes.quotas.limits(s, ctx.project_id or "").get("groups", -1)
            if limit >= 0 and (used or 0) + 1 > limit:
                raise RequestEntityTooLarge(
                    f"GroupLimitExceeded: Maximum number of groups allowed ({limit}) "
                    "exceeded")
            s.add(m.Group(id=gid, project_id=ctx.project_id or "", user_id=ctx.user_id or "",
                          name=req.get("name"), description=req.get("description"),
                          group_type_id=gtype_id, volume_type_ids=list(type_ids),
                          availability_zone=az, status="available",
                          group_snapshot_id=snapshot_id, source_group_id=source_id))
            sources: list[dict[str, Any]] = []
            if source_id:
                sources = [{"source_volid": v.id, "size": v.size}
                           for v in self._members(s, source_id)]
            elif snapshot_id:
                sources = [{"snapshot_id": x.id, "size": x.size} for x in s.scalars(
                    select(m.Snapshot).where(m.Snapshot.group_snapshot_id == snapshot_id))]
        for body in sources:
            self.volumes.create(ctx, {"volume": {**body, "group_id": gid}}, "",
                                APIVersion(3, 13))
        return {"id": gid, "name": req.get("name")}

    def update(self, ctx: RequestContext, group_id: str, req: dict[str, Any]) -> None:
        add = [x for x in (req.get("add_volumes") or "").split(",") if x.strip()]
        remove = [x for x in (req.get("remove_volumes") or "").split(",") if x.strip()]
        with self.store.db.transaction() as s:
            g = self._group(s, ctx, group_id)
            policy.write(ctx, g.project_id, "group:update")
            if g.status != "available" and (add or remove):
                raise BadRequest(f"Invalid group: Group status must be available, but "
                                 f"current status is: {g.status}.")
            for key in ("name", "description"):
                if key in req:
                    setattr(g, key, req[key])
            for vid in add:
                v = common.volume(s, ctx, vid.strip())
                if v.project_id != g.project_id or v.group_id not in (None, g.id):
                    raise errors.invalid_volume(f"Volume {v.id} cannot be added to group "
                                                f"{g.id}: it is in another group or project.")
                if v.volume_type_id not in (g.volume_type_ids or []):
                    raise errors.invalid_volume(f"Volume {v.id}'s type is not one of group "
                                                f"{g.id}'s volume types.")
                if v.status not in ("available", "in-use"):
                    raise errors.invalid_volume(f"Volume {v.id} must be available or in-use "
                                                f"to join a group, not {v.status}.")
                v.group_id = g.id
            for vid in remove:
                v = common.volume(s, ctx, vid.strip())
                if v.group_id != g.id:
                    raise errors.invalid_volume(f"Volume {v.id} is not in group {g.id}.")
                v.group_id = None

    def delete(self, ctx: RequestContext, group_id: str, delete_volumes: bool) -> None:
        with self.store.db.transaction() as s:
            g = self._group(s, ctx, group_id)
            policy.write(ctx, g.project_id, "group:delete")
            members = self._members(s, g.id)
            if members and not delete_volumes:
                raise BadRequest(f"Invalid group: Group {g.id} still contains volumes. The "
                                 "delete-volumes flag is required to delete it.")
            if s.scalar(select(m.GroupSnapshot.id).where(m.GroupSnapshot.group_id == g.id)):
                raise BadRequest(f"Invalid group: Group {g.id} has group snapshots.")
            for v in members:
                if v.status not in ("available", "error", "error_deleting") or s.scalar(
                        select(m.Attachment.id).where(m.Attachment.volume_id == v.id)):
                    raise errors.invalid_volume(f"Volume {v.id} of the group must be "
                                                "available or error and not attached.")
                v.group_id = None
            ids = [v.id for v in members]
            s.delete(g)
        for vid in ids:
            self.volumes.delete(ctx, vid, cascade=True)

    def reset_status(self, ctx: RequestContext, group_id: str, status: str) -> None:
        policy.admin(ctx, "group:reset_status")
        with self.store.db.transaction() as s:
            self._group(s, ctx, group_id).status = status

    # ------------------------------------------------------------ group snapshots
    def _group_snapshot(self, s: Session, ctx: RequestContext, ident: str | None
                        ) -> m.GroupSnapshot:
        x = s.get(m.GroupSnapshot, ident or "")
        if x is None or not policy.can_see(ctx, x.project_id):
            raise NotFound(f"GroupSnapshot {ident} could not be found.")
        return x

    def _snapshot_view(self, s: Session, x: m.GroupSnapshot) -> dict[str, Any]:
        # the status is kept: its members' last one settles it (snapshots.py), and an
        # admin's reset stays as set (it was derived from the members at each read)
        return {"id": x.id, "group_id": x.group_id, "status": x.status, "name": x.name,
                "description": x.description, "created_at": views.when(x.created_at),
                "group_type_id": x.group_type_id}

    def snapshots_listing(self, ctx: RequestContext, detail: bool) -> list[dict[str, Any]]:
        with self.store.db.session() as s:
            rows = list(s.scalars(select(m.GroupSnapshot).where(
                m.GroupSnapshot.project_id == (ctx.project_id or ""))
                .order_by(m.GroupSnapshot.created_at.desc(), m.GroupSnapshot.id)))
            out = [self._snapshot_view(s, x) for x in rows]
        return out if detail else [{"id": x["id"], "name": x["name"]} for x in out]

    def show_snapshot(self, ctx: RequestContext, ident: str) -> dict[str, Any]:
        with self.store.db.session() as s:
            return self._snapshot_view(s, self._group_snapshot(s, ctx, ident))

    def create_snapshot(self, ctx: RequestContext, req: dict[str, Any], ver: APIVersion
                        ) -> dict[str, Any]:
        sid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            g = self._group(s, ctx, req["group_id"])
            policy.write(ctx, g.project_id, "group:create_group_snapshot")
            if g.status != "available":
                raise BadRequest(f"Invalid group: Group {g.id} status must be available.")
            members = [v.id for v in self._members(s, g.id)]
            gtype = g.group_type_id
            s.add(m.GroupSnapshot(id=sid, project_id=g.project_id, group_id=g.id,
                                  group_type_id=g.group_type_id, name=req.get("name"),
                                  description=req.get("description"), status="creating"))
        for vid in members:
            self.snapshots.create(ctx, {"snapshot": {"volume_id": vid, "force": True}}, ver,
                                  group_snapshot_id=sid)
        with self.store.db.transaction() as s:
            common.settle_group_snapshot(s, sid)  # the members made already (or none)
        # Cinder's summary of a group snapshot names its group type too
        return {"id": sid, "name": req.get("name"), "group_type_id": gtype}

    def delete_snapshot(self, ctx: RequestContext, ident: str) -> None:
        with self.store.db.transaction() as s:
            x = self._group_snapshot(s, ctx, ident)
            policy.write(ctx, x.project_id, "group:delete_group_snapshot")
            members = [snap.id for snap in s.scalars(select(m.Snapshot).where(
                m.Snapshot.group_snapshot_id == x.id))]
            s.delete(x)
        for sid in members:
            self.snapshots.delete(ctx, sid, force=True)

    def reset_snapshot_status(self, ctx: RequestContext, ident: str, status: str) -> None:
        policy.admin(ctx, "group:reset_group_snapshot_status")
        with self.store.db.transaction() as s:
            self._group_snapshot(s, ctx, ident).status = status
