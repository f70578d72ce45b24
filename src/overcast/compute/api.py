"""Nova v2.1 (microversions from 2.1, `versions.VERSIONS`): the version documents and `setup`.

The routes are in `compute.routes`, one module per resource; this module mounts
them, starts the conductor (and the all-in-one cloud's own agents) with the app,
and declares the version range (`VERSIONS`). The ComputeService itself is made in
`app.py`, which hands it its ports.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from overcast.compute.routes import (
    admin_actions,
    aggregates,
    extensions,
    flavors,
    hosts,
    hypervisor_servers,
    image_proxies,
    instance_usage_audit_log,
    interfaces,
    keypairs,
    live_migration,
    migrations,
    network_proxies,
    os_hosts,
    quota_classes,
    quotas,
    server_actions,
    server_external_events,
    server_groups,
    server_password,
    server_tags,
    servers,
    simple_tenant_usage,
    volume_attachments,
    volume_proxies,
)
from overcast.compute.routes.base import VERSIONS, base_url, reply, router
from overcast.compute.service import ComputeService
from overcast.kit.web import ServiceSpec

__all__ = ["VERSIONS", "setup"]

#: The service's root document: no microversion (it says which ones there are).
root = APIRouter()
versioned = router(authenticated=False)


def _version_doc(request: Request) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": str(VERSIONS.max),
            "min_version": str(VERSIONS.min), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base_url(request)}/v2.1/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@root.get("")
@root.get("/")
def versions(request: Request) -> Response:
    v20 = {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
           "updated": "2025-07-04T12:00:00Z",
           "links": [{"rel": "self", "href": f"{base_url(request)}/v2/"}]}
    return JSONResponse({"versions": [v20, _version_doc(request)]})


@versioned.get("/v2.1")
@versioned.get("/v2.1/")
def version(request: Request) -> Response:
    return reply(request, {"version": _version_doc(request)})


ROUTERS = [root, versioned, flavors.routes, keypairs.routes, servers.routes,
           server_actions.routes, hosts.routes, quotas.routes, server_groups.routes,
           volume_attachments.routes, server_external_events.routes,
           volume_proxies.routes, network_proxies.routes, server_tags.routes,
           image_proxies.routes, os_hosts.routes, extensions.routes,
           extensions.v20, aggregates.routes, simple_tenant_usage.routes,
           quota_classes.routes, hypervisor_servers.routes,
           instance_usage_audit_log.routes, admin_actions.routes,
           migrations.routes, server_password.routes, interfaces.routes,
           live_migration.routes]
#: admin_actions, live_migration and network_proxies also add server actions to
#: server_actions.ACTIONS


def setup(app: FastAPI) -> None:
    """Mount compute's routes and its bus; `app.py` makes the ComputeService itself
    (`app.state.compute`), with its ports, once every service exists."""
    from overcast.bus import make_bus
    settings = app.state.settings
    bus = getattr(app.state, "bus", None) or make_bus(settings.bus_url,
                                                      settings.bus_namespace)
    app.state.bus = bus

    async def start(app: FastAPI) -> None:
        compute: ComputeService = app.state.compute
        compute.loop = asyncio.get_running_loop()
        await bus.start()

    async def start_engine(app: FastAPI) -> None:
        from overcast.compute.conductor import Conductor

        compute: ComputeService = app.state.compute
        await asyncio.to_thread(compute.flavors.ensure_defaults)
        assert compute.placement is not None
        conductor = Conductor(app.state.db, bus, compute, compute.placement,
                              network=compute.network, image=compute.image,
                              audit_interval=settings.audit_interval)
        app.state.conductor = conductor
        await conductor.start()
        agents = []
        if settings.local_agent:
            from overcast.compute.local import start_local_agents

            agents = await start_local_agents(app, settings, bus)
        app.state.local_agents = agents

    async def stop_engine(app: FastAPI) -> None:
        if getattr(app.state, "conductor", None) is not None:
            await app.state.conductor.stop()
        for agent in getattr(app.state, "local_agents", []):
            await agent.stop()

    async def stop(app: FastAPI) -> None:
        await bus.stop()

    app.state.specs.append(ServiceSpec(
        name="nova", type="compute", prefix="/compute", error_style="nova",
        endpoint_path="/compute/v2.1", routers=ROUTERS, on_startup=[start],
        on_shutdown=[stop], on_engine_start=[start_engine], on_engine_stop=[stop_engine]))
