"""Servers as the API shows them: the row's view (`views.server`) completed with
what lives outside the row (addresses and security groups from the network port,
Nova's host_status for admins), and the cache of rendered rows that listings use.
Shared by the server and server-action routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from overcast.compute import models as m
from overcast.compute import views
from overcast.compute.hosts import ServiceGroup
from overcast.compute.routes.base import base_url, service, version
from overcast.kit.context import RequestContext

#: Rendered server views by (uuid, updated_at, states, microversion, admin, base).
#: A server's row changes updated_at on every write (the column's onupdate), so a
#: hit is current; what lives outside the row (addresses, host status) is added
#: per request. Bounded: cleared when it grows past the limit.
_VIEW_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}
_VIEW_CACHE_MAX = 50_000


def _host_status(group: ServiceGroup, svc_by_host: dict[str, m.Service],
                 inst: m.Instance) -> str:
    if not inst.host:
        return ""
    svc = svc_by_host.get(inst.host)
    if svc is None:
        return "UNKNOWN"
    if not group.is_up(svc):
        return "DOWN"
    return "MAINTENANCE" if svc.disabled else "UP"


def volumes_view(rows: list[m.BlockDeviceMapping], v: Any) -> list[dict[str, Any]]:
    """Nova's `os-extended-volumes:volumes_attached` (delete_on_termination from 2.3)."""
    if v.at_least("2.3"):
        return [{"id": b.volume_id, "delete_on_termination": b.delete_on_termination}
                for b in rows]
    return [{"id": b.volume_id} for b in rows]


def render(request: Request, ctx: RequestContext, rows: list[m.Instance]
           ) -> list[dict[str, Any]]:
    """Full views of these servers."""
    v, svc = version(request), service(request)
    want_host = ctx.is_admin and v.at_least("2.16")
    hosts = {s.host: s for s in svc.services()} if want_host else {}
    uuids = [i.uuid for i in rows]
    addrs, groups = svc.addresses(uuids), svc.security_groups(uuids)
    vols = svc.volumes_attached(uuids)
    out = []
    for i in rows:
        host_status = _host_status(svc.servicegroup, hosts, i) if want_host else None
        body = views.server(base_url(request), i, v, admin=ctx.is_admin,
                            addresses=addrs.get(i.uuid, {}), host_status=host_status)
        if i.uuid in groups:  # as Nova: absent when the server's ports have none
            body["security_groups"] = groups[i.uuid]
        if i.uuid in vols:
            body["os-extended-volumes:volumes_attached"] = volumes_view(vols[i.uuid], v)
        out.append(body)
    return out


def one(request: Request, ctx: RequestContext, uuid: str) -> dict[str, Any]:
    """The view of one server the caller may see (404 otherwise)."""
    return render(request, ctx, [service(request).instance(ctx, uuid)])[0]


def listed(request: Request, ctx: RequestContext, keys: list[Any]) -> list[dict[str, Any]]:
    """Detailed views of listed servers (`keys` are KEY_ATTRS rows)."""
    v, base, svc = version(request), base_url(request), service(request)
    admin = ctx.is_admin
    want_host = admin and v.at_least("2.16")
    hosts = svc.host_statuses() if want_host else {}
    vkey = str(v)
    cache = _VIEW_CACHE
    cache_keys = [(k.uuid, k.updated_at, k.vm_state, k.task_state, k.power_state, vkey,
                   admin, base) for k in keys]
    missing = [ck[0] for ck in cache_keys if ck not in cache]
    if missing:
        full = svc.server_rows(missing)
        if len(cache) + len(full) > _VIEW_CACHE_MAX:
            cache.clear()
        for ck in cache_keys:
            row = full.get(ck[0])
            if row is not None:
                cache[ck] = views.server(base, row, v, admin=admin, addresses={})
    uuids = [k.uuid for k in keys]
    addrs, groups = svc.addresses(uuids), svc.security_groups(uuids)
    vols = svc.volumes_attached(uuids)
    out = []
    for k, ck in zip(keys, cache_keys, strict=True):
        body = cache.get(ck)
        if body is None:  # gone between the two reads
            continue
        body = dict(body)
        if addrs:
            body["addresses"] = addrs.get(k.uuid, {})
        if k.uuid in groups:  # as Nova: absent when the server's ports have none
            body["security_groups"] = groups[k.uuid]
        if want_host:
            body["host_status"] = hosts.get(k.host, "UNKNOWN") if k.host else ""
        if k.uuid in vols:
            body["os-extended-volumes:volumes_attached"] = volumes_view(vols[k.uuid], v)
        out.append(body)
    return out


def with_groups(request: Request, uuid: str, body: dict[str, Any]) -> dict[str, Any]:
    """From 2.71, a server's show, update and rebuild views name its server groups
    (never the listings, as in Nova)."""
    if version(request).at_least("2.71"):
        body["server_groups"] = service(request).server_groups.of_server(uuid)
    return body
