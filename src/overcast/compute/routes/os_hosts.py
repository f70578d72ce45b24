"""Nova's deprecated `os-hosts` (up to 2.42; 404 from 2.43): the compute hosts by
zone, a host's resources (total, used now, used at most, and per project), enabling
or disabling a host, and the host power actions. All admin-only.

A host's status is its nova-compute service's `disabled` flag (what `os-services`
changes too), so a disabled host takes no new servers. Maintenance mode and the power
actions (startup, shutdown, reboot of the host itself) are what Nova's libvirt driver
does not implement either: 501, as Nova answers them there.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas, views
from overcast.compute.hosts import Hypervisor
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import (
    JSON_BODY,
    Ctx,
    reply,
    router,
    service,
    service_up,
    version,
)
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound, NotImplementedYet
from overcast.kit.microversion import APIVersion
from overcast.kit.schema import accepts

routes = router()


def _compute_hosts(request: Request) -> list[Hypervisor]:
    """The hosts, when the version still has os-hosts (404 from 2.43, as Nova)."""
    if version(request).at_least("2.43"):
        raise NotFound("The resource could not be found.")
    return service(request).hosts.hypervisors()


def _host(request: Request, name: str) -> Hypervisor:
    for found in _compute_hosts(request):
        if found[0].host == name:
            return found
    raise NotFound(f"Compute host {name} could not be found.")


@routes.get("/v2.1/os-hosts", dependencies=[ADMIN])
def list_hosts(request: Request) -> Response:
    zone = request.query_params.get("zone")
    hosts = [{"host_name": svc.host, "service": "compute", "zone": svc.zone}
             for svc, _, _ in _compute_hosts(request) if not zone or svc.zone == zone]
    return reply(request, {"hosts": hosts})


def _resource(host: str, project: str, cpu: int, memory_mb: int, disk_gb: int
              ) -> dict[str, Any]:
    return {"resource": {"host": host, "project": project, "cpu": cpu,
                         "memory_mb": memory_mb, "disk_gb": disk_gb}}


@routes.get("/v2.1/os-hosts/{host}", dependencies=[ADMIN])
def show_host(host: str, request: Request) -> Response:
    svc, used, running = _host(request, host)
    hv = views.hypervisor(svc, APIVersion(2, 1), service_up(request, svc), used, running, True)
    rows = [_resource(host, "(total)", hv["vcpus"], hv["memory_mb"], hv["local_gb"]),
            _resource(host, "(used_now)", hv["vcpus_used"], hv["memory_mb_used"],
                      hv["local_gb_used"])]
    per_project = service(request).hosts.usage_by_project(host)
    rows.append(_resource(host, "(used_max)", *[sum(u[i] for u in per_project.values())
                                                for i in range(3)]))
    rows += [_resource(host, p, *u) for p, u in sorted(per_project.items())]
    return reply(request, {"host": rows})


@routes.put("/v2.1/os-hosts/{host}", dependencies=[ADMIN])
@accepts(body=schemas.HOST_UPDATE)
def update_host(host: str, request: Request, body: Any = JSON_BODY,
                ctx: RequestContext = Ctx) -> Response:
    if not body:
        raise BadRequest("'status' or 'maintenance_mode' needed for host update")
    svc, _, _ = _host(request, host)
    if "maintenance_mode" in body:
        raise NotImplementedYet("Virt driver does not implement host maintenance mode.")
    service(request).hosts.update_service(svc.uuid, {"disabled": body["status"] == "disable"})
    return reply(request, {"host": host,
                           "status": "disabled" if body["status"] == "disable" else "enabled"})


@routes.get("/v2.1/os-hosts/{host}/{action}", dependencies=[ADMIN])
def host_power_action(host: str, action: str, request: Request) -> Response:
    if action not in ("startup", "shutdown", "reboot"):
        raise NotFound("The resource could not be found.")
    _host(request, host)
    raise NotImplementedYet("Virt driver does not implement host power management.")
