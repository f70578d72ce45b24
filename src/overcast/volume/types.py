"""Volume types: names for kinds of volumes, with extra specs (what the scheduler
matches: `volume_backend_name`) and private access lists.

`__DEFAULT__` exists from the start (Cinder's migration makes it) and is the
type of any volume created without one; it cannot be deleted. Admins manage
types; everyone reads the public ones and the private ones shared with their
project. An unknown or invisible type is 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, schemas, views
from overcast.volume import models as m
from overcast.volume.common import DEFAULT_TYPE, Store
from overcast.volume.volumes import parse_dict

#: extra specs a non-admin may filter types by (3.52), as Cinder allows
USER_VISIBLE_SPECS = {"RESKEY:availability_zones", "multiattach", "replication_enabled"}


def _specs(s: Session, type_ids: list[str]) -> dict[str, dict[str, str]]:
    return common.metadata_of(s, m.TypeExtraSpec, "type_id", type_ids)


class Types:
    def __init__(self, store: Store) -> None:
        self.store = store

    def ensure_default(self) -> None:
        with self.store.db.transaction() as s:
            if s.scalar(select(m.VolumeType).where(m.VolumeType.name == DEFAULT_TYPE)):
                return
            s.add(m.VolumeType(id=str(uuid.uuid4()), name=DEFAULT_TYPE,
                               description="Default Volume Type", is_public=True))

    def listing(self, ctx: RequestContext, params: dict[str, str], ver: APIVersion
                ) -> list[dict[str, Any]]:
        raw = params.get("is_public")
        is_public: bool | None = True
        if ctx.is_admin and raw is not None and raw.lower() in ("none", "all"):
            is_public = None
        elif raw is not None:
            is_public = schemas.flag(raw)
        stmt = select(m.VolumeType)
        if is_public is not None:
            if ctx.is_admin:
                stmt = stmt.where(m.VolumeType.is_public.is_(is_public))
            else:
                shared = select(m.TypeAccess.type_id).where(
                    m.TypeAccess.project_id == (ctx.project_id or ""))
                stmt = stmt.where(or_(m.VolumeType.is_public.is_(is_public),
                                      m.VolumeType.id.in_(shared)))
        wanted: dict[str, str] = {}
        if "extra_specs" in params and ver.at_least("3.52"):
            wanted = parse_dict(params["extra_specs"])
            if not ctx.is_admin and set(wanted) - USER_VISIBLE_SPECS:
                raise errors.invalid_input(
                    "Invalid filter keys: "
                    + ", ".join(sorted(set(wanted) - USER_VISIBLE_SPECS)))
        with self.store.db.session() as s:
            rows = list(s.scalars(stmt.order_by(m.VolumeType.created_at, m.VolumeType.id)))
            rows = [r for r in rows if common.type_visible(s, ctx, r)]
            specs = _specs(s, [r.id for r in rows])
            rows = [r for r in rows if all(specs[r.id].get(k) == v for k, v in wanted.items())]
            return [views.volume_type(r, specs[r.id], ctx.is_admin) for r in rows]

    def show(self, ctx: RequestContext, ident: str) -> dict[str, Any]:
        with self.store.db.session() as s:
            found = common.default_type(s) if ident == "default" else s.get(
                m.VolumeType, ident)
            if found is None or not common.type_visible(s, ctx, found):
                raise errors.type_not_found(ident)
            t = found
            return views.volume_type(t, _specs(s, [t.id])[t.id], ctx.is_admin)

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        req = body["volume_type"]
        name = req["name"].strip()
        if not name:
            raise errors.invalid_input("Volume type name can not be empty.")
        public = req.get("os-volume-type-access:is_public", req.get("is_public", True))
        tid = str(uuid.uuid4())
        try:
            with self.store.db.transaction() as s:
                if s.scalar(select(m.VolumeType.id).where(m.VolumeType.name == name)):
                    raise errors.type_exists(name)
                s.add(m.VolumeType(id=tid, name=name, description=req.get("description"),
                                   is_public=schemas.flag(public)))
                s.flush()
                common.set_metadata(s, m.TypeExtraSpec, "type_id", tid,
                                    {k: _spec(v) for k, v in
                                     (req.get("extra_specs") or {}).items()}, replace=True)
        except IntegrityError:
            raise errors.type_exists(name) from None
        out = self.show(ctx, tid)
        # Cinder's create answers without the QoS link (its view adds it on reads)
        out.pop("qos_specs_id", None)
        return out

    def update(self, ctx: RequestContext, type_id: str, body: dict[str, Any]
               ) -> dict[str, Any]:
        req = body["volume_type"]
        if not any(k in req for k in ("name", "description", "is_public")):
            raise errors.invalid_input("Specify volume type name, description, is_public or "
                                       "a combination thereof.")
        with self.store.db.transaction() as s:
            t = s.get(m.VolumeType, type_id)
            if t is None:
                raise errors.type_not_found(type_id)
            if req.get("name") is not None:
                name = req["name"].strip()
                if not name:
                    raise errors.invalid_input("Volume type name can not be empty.")
                if t.name == DEFAULT_TYPE and name != DEFAULT_TYPE:
                    raise BadRequest("The __DEFAULT__ volume type cannot be renamed.")
                if s.scalar(select(m.VolumeType.id).where(m.VolumeType.name == name,
                                                          m.VolumeType.id != t.id)):
                    raise errors.type_exists(name)
                t.name = name
            if "description" in req:
                t.description = req["description"]
            if "is_public" in req:
                t.is_public = schemas.flag(req["is_public"])
        out = self.show(ctx, type_id)
        # as Cinder's update: the type's own fields, not its access flag or QoS link
        for key in ("qos_specs_id", "os-volume-type-access:is_public"):
            out.pop(key, None)
        return out

    def delete(self, ctx: RequestContext, type_id: str) -> None:
        with self.store.db.transaction() as s:
            t = s.get(m.VolumeType, type_id)
            if t is None:
                raise errors.type_not_found(type_id)
            if t.name == DEFAULT_TYPE:
                raise BadRequest("Default volume type can not be deleted.")
            used = s.scalar(select(func.count()).select_from(m.Volume).where(
                m.Volume.volume_type_id == t.id))
            if used:
                raise errors.type_in_use(type_id)
            s.delete(t)

    # ------------------------------------------------------------ extra specs
    def extra_specs(self, ctx: RequestContext, type_id: str) -> dict[str, str]:
        with self.store.db.session() as s:
            t = s.get(m.VolumeType, type_id)
            if t is None or not common.type_visible(s, ctx, t):
                raise errors.type_not_found(type_id)
            specs = _specs(s, [t.id])[t.id]
            return specs if ctx.is_admin else {}

    def set_extra_specs(self, type_id: str, values: dict[str, Any]) -> dict[str, str]:
        with self.store.db.transaction() as s:
            if s.get(m.VolumeType, type_id) is None:
                raise errors.type_not_found(type_id)
            clean = {k: _spec(v) for k, v in values.items()}
            common.set_metadata(s, m.TypeExtraSpec, "type_id", type_id, clean,
                                replace=False)
            return clean

    def delete_extra_spec(self, type_id: str, key: str) -> None:
        with self.store.db.transaction() as s:
            if s.get(m.VolumeType, type_id) is None:
                raise errors.type_not_found(type_id)
            row = s.get(m.TypeExtraSpec, (type_id, key))
            if row is None:
                raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
            s.delete(row)

    # ------------------------------------------------------------ private access
    def access(self, type_id: str) -> list[dict[str, str]]:
        with self.store.db.session() as s:
            t = s.get(m.VolumeType, type_id)
            if t is None:
                raise errors.type_not_found(type_id)
            if t.is_public:
                raise NotFound("Access list not available for public volume types.")
            return [{"volume_type_id": type_id, "project_id": a.project_id}
                    for a in s.scalars(select(m.TypeAccess).where(
                        m.TypeAccess.type_id == type_id).order_by(m.TypeAccess.project_id))]

    def change_access(self, type_id: str, project_id: str, add: bool) -> None:
        with self.store.db.transaction() as s:
            t = s.get(m.VolumeType, type_id)
            if t is None:
                raise errors.type_not_found(type_id)
            if t.is_public:
                raise errors.invalid_type("Type access modification is not applicable to "
                                          "public volume type.")
            row = s.get(m.TypeAccess, (type_id, project_id))
            if add:
                if row is not None:
                    raise errors.type_access_exists(type_id, project_id)
                s.add(m.TypeAccess(type_id=type_id, project_id=project_id))
            else:
                if row is None:
                    raise errors.type_access_not_found(type_id, project_id)
                s.delete(row)


def _spec(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)
