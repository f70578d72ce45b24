"""`os-hypervisors/{pattern}/search` and `os-hypervisors/{pattern}/servers` (admin,
up to 2.52 as in Nova): the hypervisors whose host name contains the pattern, and the
live servers on each (404 when none matches)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import views
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import reply, router, service, service_up, version
from overcast.kit.errors import NotFound

routes = router()


def _matching(request: Request, pattern: str) -> list[dict[str, Any]]:
    if version(request).at_least("2.53"):
        raise NotFound("The resource could not be found.")
    found = [views.hypervisor(svc, version(request), service_up(request, svc), used, n, False)
             for svc, used, n in service(request).hosts.hypervisors() if pattern in svc.host]
    if not found:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return found


@routes.get("/v2.1/os-hypervisors/{pattern}/search", dependencies=[ADMIN])
def search_hypervisors(pattern: str, request: Request) -> Response:
    return reply(request, {"hypervisors": _matching(request, pattern)})


@routes.get("/v2.1/os-hypervisors/{pattern}/servers", dependencies=[ADMIN])
def hypervisor_servers(pattern: str, request: Request) -> Response:
    hypervisors = _matching(request, pattern)
    rows = service(request).hosts.servers_on([h["hypervisor_hostname"] for h in hypervisors])
    for h in hypervisors:
        servers = [{"uuid": uuid, "name": name} for host, uuid, name in rows
                   if host == h["hypervisor_hostname"]]
        if servers:  # Nova leaves the key out for a host with none
            h["servers"] = servers
    return reply(request, {"hypervisors": hypervisors})
