"""The metadata definitions catalog (Glance's metadefs): namespaces of documented
properties, objects and tags that clients (Horizon, the CLI) offer for images,
flavors, volumes and servers, and the resource types each namespace applies to.

Glance's default policy: anyone may read a public namespace, its project a private
one; only admins create, change or delete anything. Protected namespaces cannot be
deleted until unprotected. Objects, properties and tags are rows of one table
(`kind`), each named uniquely in its namespace; what else defines them (a
property's JSON-schema keywords, an object's properties) is kept as given, after
its request schema checked it. The resource types are Glance's five, seeded by the
migration. No HTTP here: `metadefs_api.py` holds the routes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.db.base import utcnow
from overcast.image import models as m
from overcast.image.views import glance_time
from overcast.kit.context import RequestContext
from overcast.kit.errors import Conflict, Forbidden, NotFound

KINDS = ("object", "property", "tag")
#: reply fields a client may send back; not part of a definition
IGNORED = ("name", "schema", "self", "created_at", "updated_at")
_NS_FIELDS = ("display_name", "description", "visibility", "protected")


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("You are not authorized to complete this action: metadata "
                        "definitions are changed by admins only.")


def item_view(ns: str, item: m.MetadefItem) -> dict[str, Any]:
    body = dict(item.body or {})
    if item.kind == "tag":
        return {"name": item.name, "created_at": glance_time(item.created_at),
                "updated_at": glance_time(item.updated_at)}
    body["name"] = item.name
    if item.kind == "object":
        body.setdefault("required", [])
        body.setdefault("properties", {})
        body.update({"created_at": glance_time(item.created_at),
                     "updated_at": glance_time(item.updated_at),
                     "schema": "/v2/schemas/metadefs/object",
                     "self": f"/v2/metadefs/namespaces/{ns}/objects/{item.name}"})
    return body


def assoc_view(a: m.MetadefAssociation) -> dict[str, Any]:
    out: dict[str, Any] = {"name": a.resource_type,
                           "created_at": glance_time(a.created_at),
                           "updated_at": glance_time(a.updated_at)}
    if a.prefix is not None:
        out["prefix"] = a.prefix
    if a.properties_target is not None:
        out["properties_target"] = a.properties_target
    return out


class Metadefs:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----- namespaces ---------------------------------------------------------------
    def _visible(self, ctx: RequestContext) -> Any:
        if ctx.is_admin:
            return m.MetadefNamespace.id.isnot(None)
        return or_(m.MetadefNamespace.visibility == "public",
                   m.MetadefNamespace.owner == (ctx.project_id or ""))

    def _ns(self, s: Session, ctx: RequestContext, name: str) -> m.MetadefNamespace:
        ns = s.scalar(select(m.MetadefNamespace).where(
            m.MetadefNamespace.namespace == name, self._visible(ctx)))
        if ns is None:
            raise NotFound(f"Metadata definition namespace={name} was not found.")
        return ns

    def _ns_view(self, s: Session, ns: m.MetadefNamespace, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "namespace": ns.namespace, "display_name": ns.display_name,
            "description": ns.description, "visibility": ns.visibility,
            "protected": ns.protected, "owner": ns.owner,
            "created_at": glance_time(ns.created_at), "updated_at": glance_time(ns.updated_at),
            "schema": "/v2/schemas/metadefs/namespace",
            "self": f"/v2/metadefs/namespaces/{ns.namespace}"}
        out = {k: v for k, v in out.items() if v is not None}
        assocs = [assoc_view(a) for a in s.scalars(select(m.MetadefAssociation).where(
            m.MetadefAssociation.namespace_id == ns.id))]
        if assocs:
            out["resource_type_associations"] = assocs
        if full:
            items = list(s.scalars(select(m.MetadefItem).where(
                m.MetadefItem.namespace_id == ns.id).order_by(m.MetadefItem.name)))
            props = {i.name: item_view(ns.namespace, i) for i in items if i.kind == "property"}
            objects = [item_view(ns.namespace, i) for i in items if i.kind == "object"]
            tags = [{"name": i.name} for i in items if i.kind == "tag"]
            if props:
                out["properties"] = props
            if objects:
                out["objects"] = objects
            if tags:
                out["tags"] = tags
        return out

    def list_namespaces(self, ctx: RequestContext, params: dict[str, str]
                        ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(m.MetadefNamespace).where(self._visible(ctx))
            if params.get("visibility"):
                q = q.where(m.MetadefNamespace.visibility == params["visibility"])
            if params.get("resource_types"):
                wanted = params["resource_types"].split(",")
                q = q.where(m.MetadefNamespace.id.in_(select(
                    m.MetadefAssociation.namespace_id).where(
                    m.MetadefAssociation.resource_type.in_(wanted))))
            rows = s.scalars(q.order_by(m.MetadefNamespace.created_at,
                                        m.MetadefNamespace.namespace))
            return [self._ns_view(s, ns, False) for ns in rows]

    def show_namespace(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        with self.db.session() as s:
            return self._ns_view(s, self._ns(s, ctx, name), True)

    def create_namespace(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        _admin(ctx)
        now = utcnow()
        try:
            with self.db.transaction() as s:
                if s.scalar(select(m.MetadefNamespace.id).where(
                        m.MetadefNamespace.namespace == body["namespace"])):
                    raise Conflict(f"Metadata definition namespace={body['namespace']} "
                                   "already exists.")
                ns = m.MetadefNamespace(
                    id=str(uuid.uuid4()), namespace=body["namespace"],
                    display_name=body.get("display_name"),
                    description=body.get("description"),
                    visibility=body.get("visibility") or "private",
                    protected=bool(body.get("protected", False)),
                    owner=body.get("owner") or ctx.project_id or "",
                    created_at=now, updated_at=now)
                s.add(ns)
                s.flush()
                for a in body.get("resource_type_associations") or []:
                    self._associate(s, ns, a)
                for kind, key in (("property", "properties"), ("object", "objects"),
                                  ("tag", "tags")):
                    given = body.get(key) or ({} if key == "properties" else [])
                    entries = given.items() if isinstance(given, dict) else \
                        ((x["name"], x) for x in given)
                    for name, definition in entries:
                        self._add_item(s, ns, kind, {**definition, "name": name})
                s.flush()
                return self._ns_view(s, ns, True)
        except IntegrityError:
            raise Conflict(f"Metadata definition namespace={body['namespace']} already "
                           "exists.") from None

    def update_namespace(self, ctx: RequestContext, name: str, body: dict[str, Any]
                         ) -> dict[str, Any]:
        _admin(ctx)
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, name)
            new_name = body.get("namespace", name)
            if new_name != name and s.scalar(select(m.MetadefNamespace.id).where(
                    m.MetadefNamespace.namespace == new_name)):
                raise Conflict(f"Metadata definition namespace={new_name} already exists.")
            ns.namespace = new_name
            for key in _NS_FIELDS:
                if key in body:
                    setattr(ns, key, body[key] if key != "protected" else bool(body[key]))
            if "owner" in body and body["owner"]:
                ns.owner = body["owner"]
            ns.updated_at = utcnow()
            s.flush()
            return self._ns_view(s, ns, True)

    def delete_namespace(self, ctx: RequestContext, name: str) -> None:
        _admin(ctx)
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, name)
            if ns.protected:
                raise Forbidden(f"Metadata definition namespace {name} is protected and "
                                "cannot be deleted.")
            s.execute(delete(m.MetadefItem).where(m.MetadefItem.namespace_id == ns.id))
            s.execute(delete(m.MetadefAssociation).where(
                m.MetadefAssociation.namespace_id == ns.id))
            s.delete(ns)

    # ----- objects, properties, tags ------------------------------------------------
    @staticmethod
    def _add_item(s: Session, ns: m.MetadefNamespace, kind: str, definition: dict[str, Any]
                  ) -> m.MetadefItem:
        name = definition["name"]
        if s.scalar(select(m.MetadefItem.id).where(
                m.MetadefItem.namespace_id == ns.id, m.MetadefItem.kind == kind,
                m.MetadefItem.name == name)):
            raise Conflict(f"A metadata definition {kind} with name={name} already exists "
                           f"in namespace={ns.namespace}.")
        now = utcnow()
        item = m.MetadefItem(id=str(uuid.uuid4()), namespace_id=ns.id, kind=kind, name=name,
                             body={k: v for k, v in definition.items() if k not in IGNORED},
                             created_at=now, updated_at=now)
        s.add(item)
        s.flush()
        return item

    @staticmethod
    def _item(s: Session, ns: m.MetadefNamespace, kind: str, name: str) -> m.MetadefItem:
        item = s.scalar(select(m.MetadefItem).where(
            m.MetadefItem.namespace_id == ns.id, m.MetadefItem.kind == kind,
            m.MetadefItem.name == name))
        if item is None:
            raise NotFound(f"Metadata definition {kind} not found for namespace="
                           f"{ns.namespace} and {kind}={name}.")
        return item

    def list_items(self, ctx: RequestContext, ns_name: str, kind: str
                   ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            ns = self._ns(s, ctx, ns_name)
            return [item_view(ns.namespace, i) for i in s.scalars(
                select(m.MetadefItem).where(m.MetadefItem.namespace_id == ns.id,
                                            m.MetadefItem.kind == kind)
                .order_by(m.MetadefItem.created_at, m.MetadefItem.name))]

    def show_item(self, ctx: RequestContext, ns_name: str, kind: str, name: str
                  ) -> dict[str, Any]:
        with self.db.session() as s:
            ns = self._ns(s, ctx, ns_name)
            return item_view(ns.namespace, self._item(s, ns, kind, name))

    def create_item(self, ctx: RequestContext, ns_name: str, kind: str,
                    definition: dict[str, Any]) -> dict[str, Any]:
        _admin(ctx)
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, ns_name)
            return item_view(ns.namespace, self._add_item(s, ns, kind, definition))

    def update_item(self, ctx: RequestContext, ns_name: str, kind: str, name: str,
                    definition: dict[str, Any]) -> dict[str, Any]:
        """Replace the definition (Glance's PUT), renaming it when `name` changes."""
        _admin(ctx)
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, ns_name)
            item = self._item(s, ns, kind, name)
            new = definition.get("name", name)
            if new != name and s.scalar(select(m.MetadefItem.id).where(
                    m.MetadefItem.namespace_id == ns.id, m.MetadefItem.kind == kind,
                    m.MetadefItem.name == new)):
                raise Conflict(f"A metadata definition {kind} with name={new} already "
                               f"exists in namespace={ns.namespace}.")
            item.name = new
            item.body = {k: v for k, v in definition.items() if k not in IGNORED}
            item.updated_at = utcnow()
            s.flush()
            return item_view(ns.namespace, item)

    def delete_item(self, ctx: RequestContext, ns_name: str, kind: str, name: str) -> None:
        _admin(ctx)
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, ns_name)
            s.delete(self._item(s, ns, kind, name))

    def delete_items(self, ctx: RequestContext, ns_name: str, kind: str) -> None:
        _admin(ctx)
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, ns_name)
            s.execute(delete(m.MetadefItem).where(m.MetadefItem.namespace_id == ns.id,
                                                  m.MetadefItem.kind == kind))

    def replace_tags(self, ctx: RequestContext, ns_name: str, names: list[str],
                     append: bool) -> list[dict[str, Any]]:
        """POST .../tags: these tags (Glance replaces the namespace's unless the client
        asks to append with X-Openstack-Append)."""
        _admin(ctx)
        if len(set(names)) != len(names):
            raise Conflict("Duplicate tags in the request.")
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, ns_name)
            if not append:
                s.execute(delete(m.MetadefItem).where(m.MetadefItem.namespace_id == ns.id,
                                                      m.MetadefItem.kind == "tag"))
            made = [self._add_item(s, ns, "tag", {"name": n}) for n in names]
            return [item_view(ns.namespace, t) for t in made]

    # ----- resource types -----------------------------------------------------------
    def resource_types(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [{"name": t.name, "created_at": glance_time(t.created_at),
                     "updated_at": glance_time(t.updated_at)}
                    for t in s.scalars(select(m.MetadefResourceType)
                                       .order_by(m.MetadefResourceType.name))]

    def associations(self, ctx: RequestContext, ns_name: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            ns = self._ns(s, ctx, ns_name)
            return [assoc_view(a) for a in s.scalars(select(m.MetadefAssociation).where(
                m.MetadefAssociation.namespace_id == ns.id)
                .order_by(m.MetadefAssociation.resource_type))]

    @staticmethod
    def _associate(s: Session, ns: m.MetadefNamespace, body: dict[str, Any]
                   ) -> m.MetadefAssociation:
        name = body["name"]
        if s.get(m.MetadefResourceType, name) is None:
            raise NotFound(f"Metadata definition resource-type={name} was not found.")
        if s.get(m.MetadefAssociation, (ns.id, name)) is not None:
            raise Conflict(f"The metadata definition resource-type association of "
                           f"resource-type={name} to namespace={ns.namespace} already "
                           "exists.")
        now = utcnow()
        a = m.MetadefAssociation(namespace_id=ns.id, resource_type=name,
                                 prefix=body.get("prefix"),
                                 properties_target=body.get("properties_target"),
                                 created_at=now, updated_at=now)
        s.add(a)
        s.flush()
        return a

    def associate(self, ctx: RequestContext, ns_name: str, body: dict[str, Any]
                  ) -> dict[str, Any]:
        _admin(ctx)
        with self.db.transaction() as s:
            return assoc_view(self._associate(s, self._ns(s, ctx, ns_name), body))

    def dissociate(self, ctx: RequestContext, ns_name: str, name: str) -> None:
        _admin(ctx)
        with self.db.transaction() as s:
            ns = self._ns(s, ctx, ns_name)
            a = s.get(m.MetadefAssociation, (ns.id, name))
            if a is None:
                raise NotFound(f"The metadata definition resource-type association of "
                               f"resource-type={name} to namespace={ns_name}, was not "
                               "found.")
            s.delete(a)
