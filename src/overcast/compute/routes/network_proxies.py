"""Nova's deprecated network proxies: `os-security-groups`, `os-security-group-rules`,
`os-floating-ips`, `os-floating-ip-pools`, `os-networks`, `os-tenant-networks`, a
server's `os-security-groups`, and the server actions `addFloatingIp` and
`removeFloatingIp`. Nova serves the collections up to 2.35 and answers 404 from 2.36
(the actions: up to 2.43), as here; the translation to and from the network service
is `compute.network_proxies`."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.network_proxies import NetworkProxies
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service, version
from overcast.compute.routes.server_actions import ACTIONS, Action, Call
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.schema import accepts

routes = router()
NOT_FOUND = "The resource could not be found."


def _proxies(request: Request, until: str = "2.36") -> NetworkProxies:
    """The proxies, when the version still has them (404 otherwise, as Nova answers a
    method its version does not have)."""
    port = service(request).network
    if version(request).at_least(until) or port is None:
        raise NotFound(NOT_FOUND)
    return NetworkProxies(port)


# ------------------------------------------------------------- security groups
@routes.get("/v2.1/os-security-groups")
def list_security_groups(request: Request, ctx: RequestContext = Ctx) -> Response:
    everyone = request.query_params.get("all_tenants", "") not in ("", "0", "false", "False")
    return reply(request, {"security_groups": _proxies(request).list_groups(ctx, everyone)})


@routes.get("/v2.1/os-security-groups/{sg_id}")
def show_security_group(sg_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"security_group": _proxies(request).show_group(ctx, sg_id)})


@routes.post("/v2.1/os-security-groups")
@accepts(body=schemas.PROXY_SECURITY_GROUP_CREATE)
def create_security_group(request: Request, body: Any = JSON_BODY,
                          ctx: RequestContext = Ctx) -> Response:
    sg = body["security_group"]
    made = _proxies(request).create_group(ctx, sg["name"], sg.get("description") or "")
    return reply(request, {"security_group": made})


@routes.put("/v2.1/os-security-groups/{sg_id}")
@accepts(body=schemas.PROXY_SECURITY_GROUP_UPDATE)
def update_security_group(sg_id: str, request: Request, body: Any = JSON_BODY,
                          ctx: RequestContext = Ctx) -> Response:
    made = _proxies(request).update_group(ctx, sg_id, body["security_group"])
    return reply(request, {"security_group": made})


@routes.delete("/v2.1/os-security-groups")
def delete_no_security_group(request: Request) -> Response:
    """DELETE /os-security-groups/ (no id): Nova has no such route."""
    raise NotFound(NOT_FOUND)


@routes.delete("/v2.1/os-security-groups/{sg_id}")
def delete_security_group(sg_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _proxies(request).delete_group(ctx, sg_id)
    return reply(request, None, 202)


@routes.get("/v2.1/servers/{uuid}/os-security-groups")
def server_security_groups(uuid: str, request: Request, ctx: RequestContext = Ctx
                           ) -> Response:
    proxies = _proxies(request)
    service(request).instance(ctx, uuid)  # 404 for a server the caller cannot see
    return reply(request, {"security_groups": proxies.server_groups(ctx, uuid)})


@routes.post("/v2.1/os-security-group-rules")
@accepts(body=schemas.PROXY_SECURITY_GROUP_RULE_CREATE)
def create_security_group_rule(request: Request, body: Any = JSON_BODY,
                               ctx: RequestContext = Ctx) -> Response:
    made = _proxies(request).create_rule(ctx, body["security_group_rule"])
    return reply(request, {"security_group_rule": made})


@routes.delete("/v2.1/os-security-group-rules/{rule_id}")
def delete_security_group_rule(rule_id: str, request: Request,
                               ctx: RequestContext = Ctx) -> Response:
    _proxies(request).delete_rule(ctx, rule_id)
    return reply(request, None, 202)


# ---------------------------------------------------------------- floating IPs
@routes.get("/v2.1/os-floating-ips")
def list_floating_ips(request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"floating_ips": _proxies(request).list_fips(ctx)})


@routes.get("/v2.1/os-floating-ips/{fip_id}")
def show_floating_ip(fip_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"floating_ip": _proxies(request).show_fip(ctx, fip_id)})


@routes.post("/v2.1/os-floating-ips")
@accepts(body=schemas.PROXY_FLOATING_IP_CREATE)
def create_floating_ip(request: Request, body: Any = JSON_BODY,
                       ctx: RequestContext = Ctx) -> Response:
    pool = (body or {}).get("pool")
    return reply(request, {"floating_ip": _proxies(request).allocate_fip(ctx, pool)})


@routes.delete("/v2.1/os-floating-ips/{fip_id}")
def delete_floating_ip(fip_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _proxies(request).release_fip(ctx, fip_id)
    return reply(request, None, 202)


@routes.get("/v2.1/os-floating-ip-pools")
def list_floating_ip_pools(request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"floating_ip_pools": _proxies(request).pools(ctx)})


def _floating_ip_action(c: Call) -> Response:
    """addFloatingIp / removeFloatingIp (up to 2.43)."""
    proxies = _proxies(c.request, until="2.44")
    schema = schemas.ADD_FLOATING_IP if c.name == "addFloatingIp" else \
        schemas.REMOVE_FLOATING_IP
    arg = schema.check(c.arg)
    service(c.request).instance(c.ctx, c.uuid)
    if c.name == "addFloatingIp":
        proxies.associate(c.ctx, c.uuid, arg["address"], arg.get("fixed_address"))
    else:
        proxies.disassociate(c.ctx, c.uuid, arg["address"])
    return reply(c.request, None, 202)


ACTIONS.update({"addFloatingIp": Action(_floating_ip_action),
                "removeFloatingIp": Action(_floating_ip_action)})


# -------------------------------------------------------------------- networks
@routes.get("/v2.1/os-networks")
def list_networks(request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"networks": _proxies(request).list_networks(ctx, tenant=False)})


@routes.get("/v2.1/os-networks/{net_id}")
def show_network(net_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"network": _proxies(request).show_network(ctx, net_id, False)})


@routes.get("/v2.1/os-tenant-networks")
def list_tenant_networks(request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"networks": _proxies(request).list_networks(ctx, tenant=True)})


@routes.get("/v2.1/os-tenant-networks/{net_id}")
def show_tenant_network(net_id: str, request: Request, ctx: RequestContext = Ctx
                        ) -> Response:
    return reply(request, {"network": _proxies(request).show_network(ctx, net_id, True)})
