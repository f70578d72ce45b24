"""Networks: networks and subnets, routers, floating IPs, security groups and rules,
and the topology picture.

The topology is drawn on the server (`charts.topology`) from four Neutron and Nova
lists fetched at once; its page reloads the picture every five seconds through htmx,
so an instance launched elsewhere appears on its network without a reload.
"Create network" makes the network, its subnet and, when asked, a router with a
gateway on the external network and an interface on the subnet: the three steps a
person does in Horizon, in one form.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.dashboard.charts import topology
from overcast.dashboard.client import COMPUTE, NETWORK, APIError
from overcast.dashboard.web import Console, console, field_of

router = APIRouter()


async def _lists(ctx: Console) -> dict[str, Any]:
    nets, subnets, routers, fips, groups = await asyncio.gather(
        ctx.api.get(f"{NETWORK}/networks"), ctx.api.get(f"{NETWORK}/subnets"),
        ctx.api.get(f"{NETWORK}/routers"), ctx.api.get(f"{NETWORK}/floatingips"),
        ctx.api.get(f"{NETWORK}/security-groups", project_id=ctx.session.project_id))
    by_net: dict[str, list[dict[str, Any]]] = {}
    for sub in subnets["subnets"]:
        by_net.setdefault(sub["network_id"], []).append(sub)
    networks = nets["networks"]
    for net in networks:
        net["_subnets"] = by_net.get(net["id"], [])
        net["_cidrs"] = [s["cidr"] for s in net["_subnets"]]
    return {"networks": networks, "routers": routers["routers"],
            "floatingips": fips["floatingips"], "groups": groups["security_groups"]}


@router.get("/networks")
async def networks(request: Request) -> Response:
    ctx = await console(request)
    lists = await _lists(ctx)
    external = [n for n in lists["networks"] if n.get("router:external")]
    return ctx.render("networks.html", external=external, **lists)


@router.post("/networks/new")
async def create_network(request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    name, cidr = field_of(form, "name"), field_of(form, "cidr")
    net = (await ctx.api.post(f"{NETWORK}/networks", {"network": {"name": name}}))["network"]
    made = [f"network {name}"]
    try:
        if cidr:
            sub = (await ctx.api.post(f"{NETWORK}/subnets", {"subnet": {
                "network_id": net["id"], "cidr": cidr, "ip_version": 6 if ":" in cidr else 4,
                "name": f"{name}-subnet"}}))["subnet"]
            made.append(f"subnet {cidr}")
            if field_of(form, "router"):
                body: dict[str, Any] = {"name": f"{name}-router"}
                if ext := field_of(form, "external"):
                    body["external_gateway_info"] = {"network_id": ext}
                rtr = (await ctx.api.post(f"{NETWORK}/routers", {"router": body}))["router"]
                await ctx.api.put(f"{NETWORK}/routers/{rtr['id']}/add_router_interface",
                                  {"subnet_id": sub["id"]})
                made.append(f"router {name}-router")
    except APIError as exc:
        return ctx.redirect("/networks", f"Made {', '.join(made)}; then: {exc.message}",
                            "error")
    return ctx.redirect("/networks", f"Created {', '.join(made)}.")


@router.post("/networks/{net_id}/delete")
async def delete_network(net_id: str, request: Request) -> Response:
    ctx = await console(request)
    await ctx.form()
    await ctx.api.delete(f"{NETWORK}/networks/{net_id}")
    return ctx.redirect("/networks", "Network deleted.")


@router.post("/routers/{router_id}/delete")
async def delete_router(router_id: str, request: Request) -> Response:
    """Detach the router's interfaces and gateway, then delete it (Neutron refuses
    to delete a router that still has interfaces)."""
    ctx = await console(request)
    await ctx.form()
    ports = (await ctx.api.get(f"{NETWORK}/ports", device_id=router_id))["ports"]
    for port in ports:
        if port.get("device_owner") == "network:router_interface":
            await ctx.api.put(f"{NETWORK}/routers/{router_id}/remove_router_interface",
                              {"port_id": port["id"]})
    await ctx.api.delete(f"{NETWORK}/routers/{router_id}")
    return ctx.redirect("/networks", "Router deleted.")


@router.post("/floatingips/new")
async def allocate_fip(request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    made = await ctx.api.post(f"{NETWORK}/floatingips", {"floatingip": {
        "floating_network_id": field_of(form, "network_id")}})
    return ctx.redirect("/networks", "Allocated floating IP "
                                     f"{made['floatingip']['floating_ip_address']}.")


@router.post("/floatingips/{fip_id}/delete")
async def release_fip(fip_id: str, request: Request) -> Response:
    ctx = await console(request)
    await ctx.form()
    await ctx.api.delete(f"{NETWORK}/floatingips/{fip_id}")
    return ctx.redirect("/networks", "Floating IP released.")


@router.post("/security-groups/new")
async def create_group(request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    await ctx.api.post(f"{NETWORK}/security-groups", {"security_group": {
        "name": field_of(form, "name"), "description": field_of(form, "description")}})
    return ctx.redirect("/networks", "Security group created.")


@router.post("/security-groups/{group_id}/delete")
async def delete_group(group_id: str, request: Request) -> Response:
    ctx = await console(request)
    await ctx.form()
    await ctx.api.delete(f"{NETWORK}/security-groups/{group_id}")
    return ctx.redirect("/networks", "Security group deleted.")


@router.post("/security-groups/{group_id}/rules")
async def add_rule(group_id: str, request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    rule: dict[str, Any] = {"security_group_id": group_id,
                            "direction": field_of(form, "direction", "ingress"),
                            "ethertype": field_of(form, "ethertype", "IPv4")}
    if proto := field_of(form, "protocol"):
        rule["protocol"] = proto
    for key in ("port_range_min", "port_range_max"):
        value = field_of(form, key)
        if value:
            if not value.isdigit():
                return ctx.redirect("/networks", "Ports are whole numbers.", "error")
            rule[key] = int(value)
    if prefix := field_of(form, "remote_ip_prefix"):
        rule["remote_ip_prefix"] = prefix
    await ctx.api.post(f"{NETWORK}/security-group-rules", {"security_group_rule": rule})
    return ctx.redirect("/networks", "Rule added.")


@router.post("/security-group-rules/{rule_id}/delete")
async def delete_rule(rule_id: str, request: Request) -> Response:
    ctx = await console(request)
    await ctx.form()
    await ctx.api.delete(f"{NETWORK}/security-group-rules/{rule_id}")
    return ctx.redirect("/networks", "Rule deleted.")


async def _picture(ctx: Console) -> Any:
    nets, subnets, routers, ports = await asyncio.gather(
        ctx.api.get(f"{NETWORK}/networks"), ctx.api.get(f"{NETWORK}/subnets"),
        ctx.api.get(f"{NETWORK}/routers"), ctx.api.get(f"{NETWORK}/ports"))
    # instance names only when some instance has a port to draw (Nova's plain list)
    servers: dict[str, Any] = {"servers": []}
    if any((p.get("device_owner") or "").startswith("compute:") for p in ports["ports"]):
        servers = await ctx.api.get(f"{COMPUTE}/servers", limit=1000)
    cidrs: dict[str, list[str]] = {}
    for sub in subnets["subnets"]:
        cidrs.setdefault(sub["network_id"], []).append(sub["cidr"])
    for net in nets["networks"]:
        net["_cidrs"] = cidrs.get(net["id"], [])
    return topology(nets["networks"], routers["routers"], ports["ports"], servers["servers"])


@router.get("/topology")
async def topology_page(request: Request) -> Response:
    ctx = await console(request)
    return ctx.render("topology.html", picture=await _picture(ctx))


@router.get("/topology/svg")
async def topology_fragment(request: Request) -> Response:
    ctx = await console(request)
    return ctx.render("topology_fragment.html", picture=await _picture(ctx))
