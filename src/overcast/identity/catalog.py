"""The catalog's resources: regions, services and their endpoints, and the
registration of overcast's own services at bootstrap.

What a token shows of the catalog is rendered (and cached) by auth.py; every
change here that can alter that view bumps the identity generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import new_id
from overcast.kit.errors import BadRequest, Forbidden

INTERFACES = ("public", "internal", "admin")
#: Marks the rows `register` owns, so that it may keep their URLs current.
MANAGED = "overcast_managed"


@dataclass
class CatalogService:
    """What a service asks to be registered in the catalog."""

    type: str
    name: str
    path: str  # endpoint path, may contain $(project_id)s
    description: str = ""


def register(s: Session, services: Sequence[CatalogService], base_url: str,
             region: str) -> None:
    """Make sure each service has a row and one endpoint per interface; an endpoint
    this function created follows `base_url` when it changes, one an operator
    edited is left alone."""
    for svc in services:
        row = s.scalar(select(m.Service).where(m.Service.type == svc.type,
                                               m.Service.name == svc.name))
        if row is None:
            row = m.Service(id=new_id(), type=svc.type, name=svc.name,
                            description=svc.description, enabled=True,
                            extra={MANAGED: True})
            s.add(row)
            s.flush()
        url = base_url + svc.path
        existing = {ep.interface: ep for ep in s.scalars(
            select(m.Endpoint).where(m.Endpoint.service_id == row.id))}
        for interface in INTERFACES:
            ep = existing.get(interface)
            if ep is None:
                s.add(m.Endpoint(id=new_id(), service_id=row.id, interface=interface,
                                 region_id=region, url=url, enabled=True,
                                 extra={MANAGED: True}))
            elif (ep.extra or {}).get(MANAGED) and ep.url != url:
                ep.url = url


def get_region(s: Session, region_id: str) -> m.Region:
    r = s.get(m.Region, region_id)
    if r is None:
        raise e.not_found("region", region_id)
    return r


def get_service(s: Session, service_id: str) -> m.Service:
    svc = s.get(m.Service, service_id)
    if svc is None:
        raise e.not_found("service", service_id)
    return svc


def get_endpoint(s: Session, endpoint_id: str) -> m.Endpoint:
    ep = s.get(m.Endpoint, endpoint_id)
    if ep is None:
        raise e.not_found("endpoint", endpoint_id)
    return ep


def _no_such_parent(parent: str) -> BadRequest:
    return BadRequest(f"The parent region {parent} does not exist.")


class Regions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Region:
        with self.db.transaction() as s:
            rid = data.get("id") or new_id()
            if s.get(m.Region, rid) is not None:
                raise e.conflict("region", f"Duplicate ID, {rid}")
            parent = data.get("parent_region_id")
            if parent and s.get(m.Region, parent) is None:
                raise _no_such_parent(parent)
            r = m.Region(id=rid, description=data.get("description") or "",
                         parent_region_id=parent, extra=data.get("extra", {}))
            s.add(r)
            return r

    def find(self, filters: dict[str, Any]) -> list[m.Region]:
        with self.db.session() as s:
            q = select(m.Region).order_by(m.Region.id)
            if "parent_region_id" in filters:
                q = q.where(m.Region.parent_region_id == filters["parent_region_id"])
            return list(s.scalars(q))

    def show(self, region_id: str) -> m.Region:
        with self.db.session() as s:
            return get_region(s, region_id)

    def update(self, region_id: str, data: dict[str, Any]) -> m.Region:
        with self.db.transaction() as s:
            r = get_region(s, region_id)
            if "description" in data:
                r.description = data["description"] or ""
            if "parent_region_id" in data:
                parent = data["parent_region_id"]
                if parent == region_id:
                    raise BadRequest("A region cannot be its own parent.")
                if parent and s.get(m.Region, parent) is None:
                    raise _no_such_parent(parent)
                r.parent_region_id = parent
            return r

    def delete(self, region_id: str) -> None:
        with self.db.transaction() as s:
            r = get_region(s, region_id)
            if s.scalar(select(func.count()).select_from(m.Region).where(
                    m.Region.parent_region_id == region_id)):
                raise Forbidden(f"Unable to delete region {region_id} because it or its child "
                                f"regions have associated endpoints.")
            s.delete(r)


class Services:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Service:
        with self.db.transaction() as s:
            svc = m.Service(id=new_id(), type=data["type"], name=data.get("name") or "",
                            description=data.get("description") or "",
                            enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(svc)
            auth.bump_generation(s)
            return svc

    def find(self, filters: dict[str, Any]) -> list[m.Service]:
        with self.db.session() as s:
            q = select(m.Service).order_by(m.Service.type)
            for key in ("type", "name"):
                if key in filters:
                    q = q.where(getattr(m.Service, key) == filters[key])
            return list(s.scalars(q))

    def show(self, service_id: str) -> m.Service:
        with self.db.session() as s:
            return get_service(s, service_id)

    def update(self, service_id: str, data: dict[str, Any]) -> m.Service:
        with self.db.transaction() as s:
            svc = get_service(s, service_id)
            for key in ("type", "name", "description", "enabled"):
                if key in data:
                    setattr(svc, key, data[key])
            auth.bump_generation(s)
            return svc

    def delete(self, service_id: str) -> None:
        with self.db.transaction() as s:
            svc = get_service(s, service_id)
            s.execute(delete(m.Endpoint).where(m.Endpoint.service_id == service_id))
            s.delete(svc)
            auth.bump_generation(s)


def _endpoint_refs(s: Session, data: dict[str, Any]) -> None:
    if "service_id" in data and s.get(m.Service, data["service_id"]) is None:
        raise BadRequest(f"Could not find service: {data['service_id']}.")
    if data.get("region_id") and s.get(m.Region, data["region_id"]) is None:
        if data.get("legacy_region"):
            s.add(m.Region(id=data["region_id"], description="", parent_region_id=None,
                           extra={}))
            s.flush()
            return
        raise BadRequest(f"Could not find region: {data['region_id']}.")


class Endpoints:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Endpoint:
        with self.db.transaction() as s:
            _endpoint_refs(s, data)
            ep = m.Endpoint(id=new_id(), service_id=data["service_id"],
                            interface=data["interface"], region_id=data.get("region_id"),
                            url=data["url"], enabled=data.get("enabled", True),
                            extra=data.get("extra", {}))
            s.add(ep)
            auth.bump_generation(s)
            return ep

    def find(self, filters: dict[str, Any]) -> list[m.Endpoint]:
        with self.db.session() as s:
            q = select(m.Endpoint).order_by(m.Endpoint.service_id, m.Endpoint.interface)
            for key in ("service_id", "interface", "region_id"):
                if key in filters:
                    q = q.where(getattr(m.Endpoint, key) == filters[key])
            return list(s.scalars(q))

    def show(self, endpoint_id: str) -> m.Endpoint:
        with self.db.session() as s:
            return get_endpoint(s, endpoint_id)

    def update(self, endpoint_id: str, data: dict[str, Any]) -> m.Endpoint:
        """Update an endpoint; a new URL makes it the operator's (no longer kept
        current by `register`)."""
        with self.db.transaction() as s:
            ep = get_endpoint(s, endpoint_id)
            _endpoint_refs(s, data)
            for key in ("service_id", "interface", "region_id", "url", "enabled"):
                if key in data:
                    setattr(ep, key, data[key])
            if "url" in data:
                ep.extra = {k: v for k, v in (ep.extra or {}).items() if k != MANAGED}
            auth.bump_generation(s)
            return ep

    def delete(self, endpoint_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(get_endpoint(s, endpoint_id))
            s.execute(delete(m.ProjectEndpoint).where(
                m.ProjectEndpoint.endpoint_id == endpoint_id))
            auth.bump_generation(s)
