"""Instances: the table (refreshing itself while anything moves), launch, actions, detail.

The table is a fragment (`/instances/table`) that the page includes; while any
instance is in a transitional state (BUILD, a task state) the fragment asks htmx to
fetch it again in two seconds, so a launch is seen becoming ACTIVE without a reload,
and polling stops once everything is still. Lists are paged with Nova's own
limit/marker, so a project with thousands of instances costs one page of them.

Actions are plain forms (they work without JavaScript) posting to
`/instances/{id}/action`; each maps to one Nova server action or, for floating IPs,
to Neutron's `PUT /floatingips/{id}` on the instance's port.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.dashboard.client import COMPUTE, IMAGE, NETWORK, APIError
from overcast.dashboard.pages import volumes
from overcast.dashboard.web import Console, console, field_of

router = APIRouter()
PAGE = 50
#: Server statuses that change by themselves (the table keeps polling).
MOVING = {"BUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "REBUILD", "MIGRATING",
          "VERIFY_RESIZE_PENDING", "DELETING"}

#: Form action name -> Nova's action body.
ACTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "stop": ({"os-stop": None}, "Stopping"), "start": ({"os-start": None}, "Starting"),
    "reboot": ({"reboot": {"type": "SOFT"}}, "Rebooting"),
    "hard-reboot": ({"reboot": {"type": "HARD"}}, "Hard rebooting"),
    "pause": ({"pause": None}, "Pausing"), "unpause": ({"unpause": None}, "Unpausing"),
    "suspend": ({"suspend": None}, "Suspending"), "resume": ({"resume": None}, "Resuming"),
    "confirm-resize": ({"confirmResize": None}, "Confirming the resize of"),
    "revert-resize": ({"revertResize": None}, "Reverting the resize of"),
}


def moving(server: dict[str, Any]) -> bool:
    return server.get("status") in MOVING or bool(server.get("OS-EXT-STS:task_state"))


async def _page(ctx: Console, marker: str | None) -> dict[str, Any]:
    body = await ctx.api.get(f"{COMPUTE}/servers/detail", limit=PAGE, marker=marker)
    servers = body["servers"]
    return {"servers": servers, "polling": any(moving(s) for s in servers),
            "next_marker": servers[-1]["id"] if len(servers) == PAGE else None,
            "marker": marker}


@router.get("/instances")
async def instances(request: Request) -> Response:
    ctx = await console(request)
    page = await _page(ctx, request.query_params.get("marker") or None)
    return ctx.render("instances.html", **page)


@router.get("/instances/table")
async def table(request: Request) -> Response:
    ctx = await console(request)
    page = await _page(ctx, request.query_params.get("marker") or None)
    return ctx.render("instances_table.html", **page)


async def _launch_choices(ctx: Console) -> dict[str, Any]:
    images, flavors, networks, keys, groups = await asyncio.gather(
        ctx.api.get(f"{IMAGE}/images", limit=200, status="active"),
        ctx.api.get(f"{COMPUTE}/flavors/detail"),
        ctx.api.get(f"{NETWORK}/networks"),
        ctx.api.get(f"{COMPUTE}/os-keypairs"),
        ctx.api.get(f"{NETWORK}/security-groups", project_id=ctx.session.project_id))
    return {"images": images["images"], "flavors": flavors["flavors"],
            "networks": [n for n in networks["networks"] if not n.get("router:external")],
            "keypairs": [k["keypair"] for k in keys["keypairs"]],
            "groups": groups["security_groups"]}


@router.get("/instances/launch")
async def launch_form(request: Request) -> Response:
    ctx = await console(request)
    return ctx.render("launch.html", **await _launch_choices(ctx))


@router.post("/instances/launch")
async def launch(request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    name = field_of(form, "name")
    try:
        count = int(field_of(form, "count", "1") or "1")
    except ValueError:
        return ctx.redirect("/instances/launch", "Count must be a whole number.", "error")
    server: dict[str, Any] = {
        "name": name, "imageRef": field_of(form, "image"), "flavorRef": field_of(form, "flavor"),
        "min_count": count, "max_count": count}
    nets = [n for n in form.get("network", []) if n]
    server["networks"] = [{"uuid": n} for n in nets] if nets else "auto"
    if key := field_of(form, "key_name"):
        server["key_name"] = key
    groups = [g for g in form.get("security_group", []) if g]
    if groups:
        server["security_groups"] = [{"name": g} for g in groups]
    user_data = (form.get("user_data") or [""])[0]
    if user_data.strip():
        server["user_data"] = base64.b64encode(user_data.encode()).decode()
    await ctx.api.post(f"{COMPUTE}/servers", {"server": server})
    what = f"{count} instances" if count > 1 else f"instance {name}"
    return ctx.redirect("/instances", f"Launching {what}.")


async def _port_of(ctx: Console, server_id: str) -> str:
    ports = (await ctx.api.get(f"{NETWORK}/ports", device_id=server_id))["ports"]
    if not ports:
        raise APIError(409, "The instance has no port to attach a floating IP to.")
    return str(ports[0]["id"])


async def _associate(ctx: Console, server_id: str, fip: str) -> str:
    port = await _port_of(ctx, server_id)
    if fip == "new":
        nets = (await ctx.api.get(f"{NETWORK}/networks", **{"router:external": "true"}))
        if not nets["networks"]:
            raise APIError(409, "There is no external network to take a floating IP from.")
        made = await ctx.api.post(f"{NETWORK}/floatingips", {"floatingip": {
            "floating_network_id": nets["networks"][0]["id"], "port_id": port}})
        return str(made["floatingip"]["floating_ip_address"])
    done = await ctx.api.put(f"{NETWORK}/floatingips/{fip}", {"floatingip": {"port_id": port}})
    return str(done["floatingip"]["floating_ip_address"])


@router.post("/instances/{server_id}/action")
async def action(server_id: str, request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    act = field_of(form, "action")
    back = field_of(form, "back") or "/instances"
    back = back if back.startswith("/") and not back.startswith("//") else "/instances"
    url = f"{COMPUTE}/servers/{server_id}"
    if act in ACTIONS:
        body, verb = ACTIONS[act]
        await ctx.api.post(f"{url}/action", body)
        return ctx.redirect(back, f"{verb} the instance.")
    if act == "delete":
        await ctx.api.delete(url)
        return ctx.redirect("/instances", "Deleting the instance.")
    if act == "snapshot":
        name = field_of(form, "snapshot_name") or f"snapshot-{server_id[:8]}"
        await ctx.api.post(f"{url}/action", {"createImage": {"name": name}})
        return ctx.redirect(back, f"Snapshot {name} is being made.")
    if act == "resize":
        await ctx.api.post(f"{url}/action", {"resize": {"flavorRef": field_of(form, "flavor")}})
        return ctx.redirect(back, "Resizing the instance.")
    if act == "associate":
        address = await _associate(ctx, server_id, field_of(form, "floatingip", "new"))
        return ctx.redirect(back, f"Floating IP {address} associated.")
    if act == "attach-volume":
        await volumes.attach(ctx, server_id, field_of(form, "volume_id"))
        return ctx.redirect(back, "Attaching the volume.")
    if act == "detach-volume":
        await volumes.detach(ctx, server_id, field_of(form, "volume_id"))
        return ctx.redirect(back, "Detaching the volume.")
    if act == "disassociate":
        fip = field_of(form, "floatingip")
        await ctx.api.put(f"{NETWORK}/floatingips/{fip}", {"floatingip": {"port_id": None}})
        return ctx.redirect(back, "Floating IP disassociated.")
    return ctx.redirect(back, f"Unknown action {act!r}.", "error")


@router.get("/instances/{server_id}")
async def detail(server_id: str, request: Request) -> Response:
    ctx = await console(request)
    url = f"{COMPUTE}/servers/{server_id}"
    server, ports, actions, fips, flavors, (attached, free) = await asyncio.gather(
        ctx.api.get(url), ctx.api.get(f"{NETWORK}/ports", device_id=server_id),
        ctx.api.get(f"{url}/os-instance-actions"), ctx.api.get(f"{NETWORK}/floatingips"),
        ctx.api.get(f"{COMPUTE}/flavors"), volumes.of_server(ctx, request, server_id))
    port_ids = {p["id"] for p in ports["ports"]}
    try:
        log = (await ctx.api.post(f"{url}/action", {"os-getConsoleOutput": {"length": 200}}
                                  ))["output"]
    except APIError as exc:
        log = f"(no console log: {exc.message})"
    return ctx.render(
        "instance.html", server=server["server"], ports=ports["ports"],
        action_log=actions["instanceActions"], console_log=log,
        attached=[f for f in fips["floatingips"] if f.get("port_id") in port_ids],
        free_fips=[f for f in fips["floatingips"] if not f.get("port_id")],
        flavors=flavors["flavors"], polling=moving(server["server"]),
        volumes_attached=attached, volumes_free=free,
        has_volumes=volumes.has_volumes(request))
