"""A server create's requested destination (2.74): an admin names the `host` and/or
`hypervisor_hostname` (here one and the same: each compute host is one hypervisor)
the server must go to. Unlike `availability_zone` "zone:host" it is asked for with
fields of its own, and both may not be used at once; the host is then held to the
scheduler's checks as any other (up, enabled, room, the server group's policy).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from overcast.compute import models as m
from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden

FQDN: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": r"^[a-zA-Z0-9-._]*$"}


def apply(db: Database, ctx: RequestContext, server: dict[str, Any],
          req: dict[str, Any]) -> None:
    """Fold `host`/`hypervisor_hostname` of the create's `server` into `req` (the
    scheduler's forced host), after Nova's checks (403, 400s)."""
    host, node = server.get("host"), server.get("hypervisor_hostname")
    if not host and not node:
        return
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow compute:servers:create:requested_destination "
                        "to be performed.")
    az = req.get("availability_zone") or ""
    if ":" in az:
        raise BadRequest("One mechanism with host and/or hypervisor_hostname and another "
                         "mechanism with zone:host:node are mutually exclusive.")
    target = str(host or node)
    if host and node and host != node:
        raise BadRequest(f"Compute host {node} could not be found.")
    with db.session() as s:
        if s.scalar(select(m.Service.id).where(m.Service.binary == "nova-compute",
                                               m.Service.host == target)) is None:
            raise BadRequest(f"Compute host {target} could not be found.")
    req["availability_zone"] = f"{az}:{target}"
