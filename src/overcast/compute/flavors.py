"""Flavors, their extra specs and access lists (the domain side, no HTTP)."""

from __future__ import annotations

import builtins
import uuid as uuidlib
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound

#: Flavors a fresh cloud has, with Nova's classic ids.
DEFAULT_FLAVORS = [
    ("1", "m1.tiny", 1, 512, 1), ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40), ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160), ("42", "m1.nano", 1, 128, 1),
    ("84", "m1.micro", 1, 192, 1),
]


def snapshot(f: m.Flavor, extra_specs: dict[str, str]) -> dict[str, Any]:
    """What an instance keeps of its flavor (Nova's embedded flavor)."""
    return {"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk,
            "ephemeral": f.ephemeral, "swap": f.swap, "extra_specs": dict(extra_specs)}


class FlavorService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_defaults(self) -> None:
        with self.db.transaction() as s:
            if s.scalar(select(func.count()).select_from(m.Flavor)):
                return
            for i, (fid, name, vcpus, ram, disk) in enumerate(DEFAULT_FLAVORS):
                s.add(m.Flavor(id=fid, name=name, vcpus=vcpus, ram=ram, disk=disk, seq=i))

    def get(self, s: Session, flavor_id: str, ctx: RequestContext | None = None) -> m.Flavor:
        f = s.get(m.Flavor, flavor_id)
        if f is None or (ctx is not None and not self.visible(s, f, ctx)):
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        return f

    def visible(self, s: Session, f: m.Flavor, ctx: RequestContext) -> bool:
        if f.is_public or ctx.is_admin:
            return True
        return s.get(m.FlavorAccess, (f.id, ctx.project_id or "")) is not None

    def show(self, flavor_id: str, ctx: RequestContext) -> tuple[m.Flavor, dict[str, str]]:
        """A flavor the caller may see (404 otherwise), with its extra specs."""
        with self.db.session() as s:
            return self.get(s, flavor_id, ctx), self.extra_specs(s, flavor_id)

    def extra_specs(self, s: Session, flavor_id: str) -> dict[str, str]:
        return {e.key: e.value for e in s.scalars(select(m.FlavorExtraSpec).where(
            m.FlavorExtraSpec.flavor_id == flavor_id))}

    def create(self, data: dict[str, Any]) -> str:
        with self.db.transaction() as s:
            fid = data.get("id") or str(uuidlib.uuid4())
            if s.get(m.Flavor, fid) is not None:
                raise Conflict(f"Flavor with ID {fid} already exists.")
            if s.scalar(select(m.Flavor).where(m.Flavor.name == data["name"])):
                raise Conflict(f"Flavor with name {data['name']} already exists.")
            seq = (s.scalar(select(func.max(m.Flavor.seq))) or 0) + 1
            s.add(m.Flavor(id=fid, name=data["name"], vcpus=data["vcpus"], ram=data["ram"],
                           disk=data["disk"], ephemeral=data.get("ephemeral", 0),
                           swap=data.get("swap", 0), rxtx_factor=data.get("rxtx_factor", 1.0),
                           is_public=data.get("is_public", True),
                           description=data.get("description"), seq=seq))
            return fid

    def list(self, ctx: RequestContext, *, is_public: bool | None, min_ram: int | None,
             min_disk: int | None, sort_key: str, sort_dir: str, limit: int | None,
             marker: str | None) -> list[tuple[m.Flavor, dict[str, str]]]:
        with self.db.session() as s:
            q = select(m.Flavor)
            if not ctx.is_admin:
                access = select(m.FlavorAccess.flavor_id).where(
                    m.FlavorAccess.project_id == (ctx.project_id or ""))
                if is_public is None or is_public:
                    q = q.where(or_(m.Flavor.is_public.is_(True), m.Flavor.id.in_(access)))
                else:
                    q = q.where(m.Flavor.is_public.is_(False), m.Flavor.id.in_(access))
            elif is_public is not None:
                q = q.where(m.Flavor.is_public.is_(is_public))
            if min_ram is not None:
                q = q.where(m.Flavor.ram >= min_ram)
            if min_disk is not None:
                q = q.where(m.Flavor.disk >= min_disk)
            col: Any = {"flavorid": m.Flavor.id, "id": m.Flavor.id, "name": m.Flavor.name,
                   "memory_mb": m.Flavor.ram, "ram": m.Flavor.ram, "vcpus": m.Flavor.vcpus,
                   "root_gb": m.Flavor.disk, "disk": m.Flavor.disk,
                   "swap": m.Flavor.swap, "created_at": m.Flavor.seq,
                   "ephemeral_gb": m.Flavor.ephemeral,
                   "rxtx_factor": m.Flavor.rxtx_factor}.get(sort_key)
            if col is None:
                raise BadRequest(f"Invalid sort_key {sort_key}.")
            if sort_dir not in ("asc", "desc"):
                raise BadRequest(f"Invalid sort_dir {sort_dir}: it must be asc or desc.")
            order: list[Any] = [col.desc() if sort_dir == "desc" else col.asc(), m.Flavor.id.asc()]
            rows = list(s.scalars(q.order_by(*order)))
            if marker is not None:
                ids = [f.id for f in rows]
                if marker not in ids:
                    raise BadRequest(f"marker [{marker}] not found")
                rows = rows[ids.index(marker) + 1:]
            if limit is not None:
                rows = rows[:limit]
            return [(f, self.extra_specs(s, f.id)) for f in rows]

    def delete(self, flavor_id: str) -> None:
        with self.db.transaction() as s:
            f = self.get(s, flavor_id)
            s.delete(f)

    def update_description(self, flavor_id: str, description: str | None) -> None:
        with self.db.transaction() as s:
            self.get(s, flavor_id).description = description

    def set_extra_specs(self, flavor_id: str, specs: dict[str, str]) -> dict[str, str]:
        with self.db.transaction() as s:
            self.get(s, flavor_id)
            for k, v in specs.items():
                row = s.get(m.FlavorExtraSpec, (flavor_id, k))
                if row is None:
                    s.add(m.FlavorExtraSpec(flavor_id=flavor_id, key=k, value=v))
                else:
                    row.value = v
            s.flush()
            return self.extra_specs(s, flavor_id)

    def delete_extra_spec(self, flavor_id: str, key: str) -> None:
        with self.db.transaction() as s:
            self.get(s, flavor_id)
            row = s.get(m.FlavorExtraSpec, (flavor_id, key))
            if row is None:
                raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
            s.delete(row)

    def access(self, flavor_id: str) -> builtins.list[str]:
        with self.db.session() as s:
            f = self.get(s, flavor_id)
            if f.is_public:
                raise NotFound("Access list not available for public flavors.")
            return list(s.scalars(select(m.FlavorAccess.project_id).where(
                m.FlavorAccess.flavor_id == flavor_id).order_by(m.FlavorAccess.project_id)))

    def add_access(self, flavor_id: str, project_id: str) -> builtins.list[str]:
        with self.db.transaction() as s:
            f = self.get(s, flavor_id)
            if f.is_public:
                raise Conflict("Can not add access to a public flavor.")
            if s.get(m.FlavorAccess, (flavor_id, project_id)) is not None:
                raise Conflict(f"Flavor access already exists for flavor {flavor_id} and "
                               f"project {project_id} combination.")
            s.add(m.FlavorAccess(flavor_id=flavor_id, project_id=project_id))
        return self.access(flavor_id)

    def remove_access(self, flavor_id: str, project_id: str) -> builtins.list[str]:
        with self.db.transaction() as s:
            self.get(s, flavor_id)
            res = s.execute(delete(m.FlavorAccess).where(
                m.FlavorAccess.flavor_id == flavor_id, m.FlavorAccess.project_id == project_id))
            if not res.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"Flavor access not found for {flavor_id} / {project_id} "
                               f"combination.")
        return self.access(flavor_id)
