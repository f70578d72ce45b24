"""What every resource module of the network service shares.

`Store` is the service's state (the database, the uplink MTU that bounds every
network's MTU, and the hook told of each committed change: the dataplane's
trigger). Below it: the revision bump with Neutron's If-Match check, and the
readers of the plain body fields every resource has (names, flags, address pairs).
`Collection` is what each resource module offers the generic routes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from sqlalchemy import Select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.network import errors, ipam


class Store:
    """The network service's shared state."""

    def __init__(self, db: Database, *, uplink_mtu: int = 1400,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.db = db
        self.uplink_mtu = uplink_mtu
        #: Told (kind, id) after each committed change: the dataplane's trigger.
        self.on_change = on_change

    def changed(self, kind: str, ident: str) -> None:
        if self.on_change is not None:
            self.on_change(kind, ident)


class Collection(Protocol):
    """A resource as the generic routes see it (networks, ports, routers, ...)."""

    #: the table, for listing and tags
    model: ClassVar[Any]
    #: query filter name -> model attribute
    filters: ClassVar[dict[str, str]]

    def query(self, ctx: RequestContext) -> Select[Any]: ...

    def get(self, s: Session, ctx: RequestContext, ident: str) -> Any: ...

    def views(self, s: Session, rows: list[Any]) -> list[dict[str, Any]]: ...

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]: ...

    def update(self, ctx: RequestContext, ident: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]: ...

    def delete(self, ctx: RequestContext, ident: str) -> None: ...


#: Filters every resource with standard attributes accepts.
COMMON_FILTERS = {"id": "id", "name": "name", "description": "description",
                  "project_id": "project_id", "tenant_id": "project_id",
                  "revision_number": "revision_number"}


def new_id() -> str:
    return str(uuid.uuid4())


def bump(obj: Any, if_match: str | None = None) -> None:
    """Count a change in the resource's revision, first checking the client's
    If-Match (`revision_number=N`) when it sent one."""
    if if_match is not None:
        want = if_match.strip().removeprefix("revision_number=")
        if not want.isdigit() or int(want) != obj.revision_number:
            raise errors.revision_mismatch(want, obj.revision_number)
    obj.revision_number += 1


def owner_project(ctx: RequestContext, body: dict[str, Any]) -> Any:
    """The project a new resource belongs to: the body's, else the caller's (as
    sent: policy refuses another project's id to all but admins)."""
    return body.get("project_id") or body.get("tenant_id") or ctx.project_id or ""


def text(body: dict[str, Any], key: str) -> str:
    v = body.get(key)
    if v is None:
        return ""
    if not isinstance(v, str) or len(v) > 255:
        raise errors.invalid_string(key, v)
    return v


def flag(body: dict[str, Any], key: str, default: bool) -> bool:
    v = body.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
        return v.lower() in ("true", "1")
    raise errors.invalid_boolean(key, v)


def address_pairs(raw: Any) -> list[dict[str, str]]:
    """A port's allowed_address_pairs, each address (or CIDR) normalised."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.address_pairs_not_list()
    out = []
    for p in raw:
        if not isinstance(p, dict) or "ip_address" not in p:
            raise errors.address_pair_missing_ip()
        ip = p["ip_address"]
        net = (ipam.parse_cidr(ip, of_subnet=False) if "/" in str(ip)
               else ipam.parse_ip(ip, "ip_address"))
        pair = {"ip_address": str(net)}
        if p.get("mac_address"):
            pair["mac_address"] = str(p["mac_address"]).lower()
        out.append(pair)
    return out
