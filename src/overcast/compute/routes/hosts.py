"""Compute hosts as the API shows them: `os-services`, `os-hypervisors` and
`os-availability-zone` (aggregates: `routes.aggregates`). All admin-only but the zone
list."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.bus import BusTimeout
from overcast.bus.messages import HostUptime
from overcast.compute import schemas, views
from overcast.compute.hosts import Hypervisor
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import (
    JSON_BODY,
    Ctx,
    base_url,
    reply,
    router,
    service,
    service_up,
    version,
)
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion
from overcast.kit.paging import next_href
from overcast.kit.schema import accepts

routes = router()


@routes.get("/v2.1/os-services", dependencies=[ADMIN])
@accepts(query=schemas.SERVICE_LIST_QUERY)
def list_services(request: Request) -> Response:
    v, q = version(request), request.query_params
    items = [views.service(s, v, service_up(request, s)) for s in service(request).services()
             if (not q.get("host") or s.host == q["host"]) and
             (not q.get("binary") or s.binary == q["binary"])]
    return reply(request, {"services": items})


@routes.put("/v2.1/os-services/{action}", dependencies=[ADMIN])
@accepts(body=schemas.SERVICE_UPDATE)
def update_service(action: str, request: Request, body: Any = JSON_BODY) -> Response:
    if version(request).at_least("2.53"):
        return _update_service_v253(action, request, body)
    host, binary, data = schemas.service_update(action, body, version(request))
    hosts = service(request).hosts
    match = [s for s in hosts.services() if s.host == host and s.binary == binary]
    if not match:
        raise NotFound(f"Service {binary} on host {host} not found.")
    svc = hosts.update_service(match[0].uuid, data)
    out: dict[str, Any] = {"host": host, "binary": binary,
                           "status": "disabled" if svc.disabled else "enabled"}
    if action.startswith("disable"):
        out["disabled_reason"] = svc.disabled_reason
    if action == "force-down":
        out = {"host": host, "binary": binary, "forced_down": svc.forced_down}
    return reply(request, {"service": out})


def _update_service_v253(service_id: str, request: Request, body: Any) -> Response:
    """PUT /os-services/{service_uuid} (2.53): the body says what changes, the reply
    is the whole service; only compute services may be changed, as in Nova."""
    data = schemas.service_update_v253(service_id, body)
    hosts = service(request).hosts
    found = next((s for s in hosts.services() if s.uuid == service_id), None)
    if found is None:
        raise NotFound(f"Service {service_id} could not be found.")
    if found.binary != "nova-compute":
        raise BadRequest(f"Updating a {found.binary} service is not supported. Only "
                         f"nova-compute services can be updated.")
    svc = hosts.update_service(service_id, data)
    return reply(request, {"service": views.service(svc, version(request),
                                                    service_up(request, svc))})


def _page(request: Request, rows: list[Hypervisor], limit: int | None,
          marker: str | None) -> tuple[list[Hypervisor], bool]:
    """A page of hypervisors after `marker` (an id; a UUID from 2.53), as Nova pages."""
    if marker is not None:
        ids = [str(views.hypervisor(r[0], version(request), True, {}, 0, False)["id"])
               for r in rows]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        rows = rows[ids.index(marker) + 1:]
    if limit is None or len(rows) <= limit:
        return rows, False
    return rows[:limit], True


def _hypervisors(request: Request, detail: bool) -> Response:
    v = version(request)
    q = schemas.hypervisor_query(request.query_params, v)
    pattern = q["pattern"]
    rows = [r for r in service(request).hosts.hypervisors()
            if not pattern or pattern in r[0].host]
    if pattern and not rows and v.at_least("2.53"):
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    rows, more = _page(request, rows, q["limit"], q["marker"])
    servers = service(request).hosts.servers_by_host([r[0].host for r in rows]) \
        if q["with_servers"] else {}
    uptimes = _uptimes(request, [r[0] for r in rows]) if detail else {}
    items = [views.hypervisor(svc, v, service_up(request, svc), used, n, detail,
                              servers.get(svc.host) or [] if q["with_servers"] else None,
                              uptimes.get(svc.host))
             for svc, used, n in rows]
    body: dict[str, Any] = {"hypervisors": items}
    if more:
        path = "/v2.1/os-hypervisors/detail" if detail else "/v2.1/os-hypervisors"
        body["hypervisors_links"] = [{"rel": "next", "href": next_href(
            base_url(request), path, dict(request.query_params), str(items[-1]["id"]))}]
    return reply(request, body)


@routes.get("/v2.1/os-hypervisors", dependencies=[ADMIN])
@accepts(query=schemas.HYPERVISOR_LIST_QUERY)
def list_hypervisors(request: Request) -> Response:
    return _hypervisors(request, False)


@routes.get("/v2.1/os-hypervisors/detail", dependencies=[ADMIN])
@accepts(query=schemas.HYPERVISOR_LIST_QUERY)
def list_hypervisors_detail(request: Request) -> Response:
    return _hypervisors(request, True)


def _gone_from_2_88(request: Request) -> None:
    """statistics and uptime are Nova's up to 2.87 (uptime is in the detail after)."""
    if version(request).at_least("2.88"):
        raise NotFound("The resource could not be found.")


def _uptime(request: Request, svc: Any) -> str | None:
    """2.88: a hypervisor detail's `uptime`, asked of the host (None when it does not
    answer or is down, as Nova leaves it)."""
    if not version(request).at_least("2.88") or not service_up(request, svc):
        return None
    try:
        return service(request).call(f"agent.{svc.host}", HostUptime(),
                                     timeout=5).uptime or None
    except BusTimeout:
        return None


def _uptimes(request: Request, services: list[Any]) -> dict[str, str | None]:
    """2.88: every listed hypervisor's `uptime`, asked of all the live hosts at once
    (Nova asks them one after another; a host that does not answer within 5 s for
    the whole page shows none)."""
    if not version(request).at_least("2.88"):
        return {}
    live = [svc.host for svc in services if service_up(request, svc)]
    answers = service(request).call_many([(f"agent.{h}", HostUptime()) for h in live],
                                         timeout=5)
    return {h: (a.uptime or None) if a is not None else None
            for h, a in zip(live, answers, strict=True)}


@routes.get("/v2.1/os-hypervisors/statistics", dependencies=[ADMIN])
def hypervisor_stats(request: Request) -> Response:
    _gone_from_2_88(request)
    rows = [views.hypervisor(svc, APIVersion(2, 1), service_up(request, svc), used, n, True)
            for svc, used, n in service(request).hosts.hypervisors()]
    keys = ["vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
            "free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
            "disk_available_least"]
    stats = {k: sum(int(r[k]) for r in rows) for k in keys}
    stats["count"] = len(rows)
    return reply(request, {"hypervisor_statistics": stats})


def _find(request: Request, hid: str) -> Hypervisor:
    """A hypervisor by its id (from 2.53 its UUID: anything else is a 400, as Nova)."""
    if version(request).at_least("2.53") and not schemas.is_uuid(hid):
        raise BadRequest(f"Invalid uuid {hid}")
    for found in service(request).hosts.hypervisors():
        if hid in (found[0].uuid, str(found[0].id)):
            return found
    raise NotFound(f"Hypervisor {hid} could not be found.")


@routes.get("/v2.1/os-hypervisors/{hid}/uptime", dependencies=[ADMIN])
def hypervisor_uptime(hid: str, request: Request) -> Response:
    _gone_from_2_88(request)
    svc, used, n = _find(request, hid)
    up = service_up(request, svc)
    body = views.hypervisor(svc, version(request), up, used, n, False)
    # asked of the host itself, as Nova does (it changes every second: no heartbeat
    # carries it); a host that does not answer is unavailable, as in Nova
    unavailable = BadRequest(f"Compute service of {svc.host} is unavailable at this time.")
    if not up:
        raise unavailable
    try:
        body["uptime"] = service(request).call(f"agent.{svc.host}", HostUptime(),
                                               timeout=10).uptime or None
    except BusTimeout:
        raise unavailable from None
    return reply(request, {"hypervisor": body})


@routes.get("/v2.1/os-hypervisors/{hid}", dependencies=[ADMIN])
def get_hypervisor(hid: str, request: Request) -> Response:
    v = version(request)
    svc, used, n = _find(request, hid)
    servers = service(request).hosts.servers_by_host([svc.host]).get(svc.host) or [] \
        if schemas.hypervisor_with_servers(request.query_params, v) else None
    return reply(request, {"hypervisor": views.hypervisor(svc, v, service_up(request, svc), used, n,
                                                          True, servers,
                                                          _uptime(request, svc))})


def _zones(request: Request, detail: bool) -> Response:
    zones: dict[str, dict[str, Any]] = {}
    for svc in service(request).services():
        z = zones.setdefault(svc.zone, {"zoneName": svc.zone,
                                        "zoneState": {"available": False}, "hosts": {}})
        up = service_up(request, svc) and not svc.disabled
        z["zoneState"]["available"] = z["zoneState"]["available"] or up
        z["hosts"].setdefault(svc.host, {})[svc.binary] = {
            "available": up, "active": not svc.disabled,
            "updated_at": views.usage_time(svc.last_seen_at)}
    items = []
    for z in zones.values():
        if not detail:
            z = {"zoneName": z["zoneName"], "zoneState": z["zoneState"], "hosts": None}
        items.append(z)
    return reply(request, {"availabilityZoneInfo": items})


@routes.get("/v2.1/os-availability-zone")
def availability_zones(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _zones(request, False)


@routes.get("/v2.1/os-availability-zone/detail", dependencies=[ADMIN])
def availability_zones_detail(request: Request) -> Response:
    return _zones(request, True)
