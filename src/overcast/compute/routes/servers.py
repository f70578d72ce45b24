"""Servers (`/servers`): create, list, show, update, delete, their addresses,
diagnostics, metadata and instance actions. Actions on a server are in `server_actions`."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from fastapi import Request, Response

from overcast.compute import (
    action_log,
    diagnostics,
    multiattach,
    policy,
    requested_destination,
    schemas,
    trusted_certs,
    views,
    volume_types,
)
from overcast.compute.policy import ADMIN
from overcast.compute.routes import server_views
from overcast.compute.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    base_url,
    reply,
    router,
    service,
    version,
)
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.paging import next_href
from overcast.kit.schema import accepts

routes = router()


@routes.post("/v2.1/servers")
@accepts(body=schemas.SERVER_CREATE)
def create_server(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    req = schemas.server_create(body, version(request))
    svc = service(request)
    trusted_certs.for_create(req)  # a boot from volume with them: 400 before all else
    if version(request).at_least("2.74"):
        requested_destination.apply(svc.db, ctx, body["server"], req)
    multiattach.check(svc.volume, ctx, [d["uuid"] for d in req["block_devices"]
                                        if d["source_type"] == "volume"], version(request))
    volume_types.resolve(svc.volume, ctx, req["block_devices"])
    uuids = svc.create_servers(ctx, req)
    if req["return_reservation_id"]:
        return reply(request, {"reservation_id": svc.reservation_id(uuids[0])}, 202)
    uuid = uuids[0]
    out = {"id": uuid, "links": views.links(base_url(request), "servers", uuid),
           "OS-DCF:diskConfig": views.disk_config(req["auto_disk_config"]),
           "security_groups": [{"name": n} for n in req["security_groups"] or ["default"]],
           "adminPass": req["admin_pass"] or uuidlib.uuid4().hex[:12]}
    return reply(request, {"server": out}, 202)


def _list(request: Request, ctx: RequestContext, detail: bool) -> Response:
    q = request.query_params
    if schemas.all_tenants(q):
        policy.require_admin(ctx)
    v = version(request)
    query = schemas.server_list_query(q, ctx.is_admin, v.at_least("2.73"),
                                      strict_sort=v.at_least("2.75"),
                                      wide_filters=v.at_least("2.83"),
                                      hostname_filter=v.at_least("2.90"))
    if query is None:
        return reply(request, {"servers": []})
    if v.at_least("2.66"):
        query["filters"]["changes-before"] = action_log.changes_before(
            q, query["filters"].get("changes-since"))
    rows, more = service(request).list_servers(ctx, query["filters"], limit=query["limit"],
                                               marker=query["marker"], sort=query["sort"])
    items = server_views.listed(request, ctx, rows) if detail else \
        [views.server_brief(base_url(request), r) for r in rows]
    body: dict[str, Any] = {"servers": items}
    if more and rows:
        path = "/v2.1/servers/detail" if detail else "/v2.1/servers"
        body["servers_links"] = [{"rel": "next", "href": next_href(
            base_url(request), path, dict(q.multi_items()), rows[-1].uuid)}]
    return reply(request, body)


@routes.get("/v2.1/servers")
@accepts(query=schemas.SERVER_LIST_QUERY)
def list_servers(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, ctx, False)


@routes.get("/v2.1/servers/detail")
@accepts(query=schemas.SERVER_LIST_QUERY)
def list_servers_detail(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, ctx, True)


@routes.get("/v2.1/servers/{uuid}")
def get_server(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"server": server_views.with_groups(
        request, uuid, server_views.one(request, ctx, uuid))})


@routes.put("/v2.1/servers/{uuid}")
@accepts(body=schemas.SERVER_UPDATE)
def update_server(uuid: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    service(request).update_server(ctx, uuid, schemas.server_update(body, version(request)))
    return reply(request, {"server": server_views.with_groups(
        request, uuid, views.server_action_reply(server_views.one(request, ctx, uuid),
                                           version(request)))})


@routes.delete("/v2.1/servers/{uuid}")
def delete_server(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    service(request).delete_server(ctx, uuid)
    return reply(request, None, 204)


@routes.get("/v2.1/servers/{uuid}/ips")
def server_ips(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    addresses = server_views.one(request, ctx, uuid)["addresses"]
    return reply(request, {"addresses": views.basic_addresses(addresses)})


@routes.get("/v2.1/servers/{uuid}/ips/{network}")
def server_ips_of_network(uuid: str, network: str, request: Request,
                          ctx: RequestContext = Ctx) -> Response:
    addresses = views.basic_addresses(server_views.one(request, ctx, uuid)["addresses"])
    if network not in addresses:
        raise NotFound("Instance is not a member of specified network")
    return reply(request, {network: addresses[network]})


@routes.get("/v2.1/servers/{uuid}/diagnostics", dependencies=[ADMIN])
def server_diagnostics(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    found = diagnostics.gather(service(request), ctx, uuid)
    return reply(request, views.diagnostics(found, version(request)))


@routes.get("/v2.1/servers/{uuid}/topology")
def server_topology(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    """2.78: the server's NUMA topology (any reader of the server; the host's node
    and CPU pinning for admins). overcast's drivers give no guest NUMA cells nor
    pinned CPUs (flavors' hw:numa_* and hw:cpu_policy are not applied), so every
    server is one without a NUMA topology, which Nova shows as no nodes."""
    VERSIONS.require(request, "2.78")
    service(request).instance(ctx, uuid)  # 404 for a server the caller cannot see
    return reply(request, {"nodes": [], "pagesize_kb": None})


# ------------------------------------------------------------------ metadata
@routes.get("/v2.1/servers/{uuid}/metadata")
def get_metadata(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"metadata": server_views.one(request, ctx, uuid)["metadata"]})


@routes.post("/v2.1/servers/{uuid}/metadata")
@accepts(body=schemas.METADATA_SET)
def update_metadata(uuid: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    meta = schemas.metadata_body(body)
    return reply(request, {"metadata": service(request).set_metadata(ctx, uuid, meta, False)})


@routes.put("/v2.1/servers/{uuid}/metadata")
@accepts(body=schemas.METADATA_SET)
def replace_metadata(uuid: str, request: Request, body: Any = JSON_BODY,
                     ctx: RequestContext = Ctx) -> Response:
    meta = schemas.metadata_body(body)
    return reply(request, {"metadata": service(request).set_metadata(ctx, uuid, meta, True)})


@routes.get("/v2.1/servers/{uuid}/metadata/{key}")
def get_meta_item(uuid: str, key: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    meta = server_views.one(request, ctx, uuid)["metadata"]
    if key not in meta:
        raise NotFound("Metadata item was not found")
    return reply(request, {"meta": {key: meta[key]}})


@routes.put("/v2.1/servers/{uuid}/metadata/{key}")
@accepts(body=schemas.META_ITEM)
def put_meta_item(uuid: str, key: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    meta = schemas.meta_item(body, key)
    service(request).set_metadata(ctx, uuid, meta, False)
    return reply(request, {"meta": meta})


@routes.delete("/v2.1/servers/{uuid}/metadata/{key}")
def delete_meta_item(uuid: str, key: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    service(request).delete_metadata(ctx, uuid, key)
    return reply(request, None, 204)


# ----------------------------------------------------------- instance actions
@routes.get("/v2.1/servers/{uuid}/os-instance-actions")
def list_actions(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    v = version(request)
    if not v.at_least("2.58"):
        return reply(request, {"instanceActions": [views.action(a, v) for a in
                                                   service(request).actions(ctx, uuid)]})
    q = request.query_params
    page = action_log.page_query(q, v)
    rows = action_log.list_page(service(request).db, ctx, uuid, **page)
    body: dict[str, Any] = {"instanceActions": [views.action(a, v) for a in rows]}
    if rows and len(rows) == page["limit"]:  # Nova links a full page to the next
        body["links"] = [{"rel": "next", "href": next_href(
            base_url(request), f"/v2.1/servers/{uuid}/os-instance-actions",
            dict(q.multi_items()), rows[-1].request_id)}]
    return reply(request, body)


@routes.get("/v2.1/servers/{uuid}/os-instance-actions/{request_id}")
def get_action(uuid: str, request_id: str, request: Request,
               ctx: RequestContext = Ctx) -> Response:
    v = version(request)
    act, events = service(request).action(ctx, uuid, request_id)
    body = views.action(act, v)
    if ctx.is_admin or v.at_least("2.51"):  # 2.51: everyone sees the events
        project = action_log.server_project(service(request).db, uuid)
        body["events"] = [views.event(e, v, ctx.is_admin, project) for e in events]
    return reply(request, {"instanceAction": body})
