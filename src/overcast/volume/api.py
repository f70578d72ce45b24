"""Cinder v3 on the wire: `/volume/` and `/volume/v3/` (version discovery) and
`/volume/v3/{project_id}/...` (the resources, in `volume.routes`).

This module mounts the routes, declares the catalog entries (`block-storage`, and
`volumev3` for the clients that still look that type up), and at start-up opens the
`volume` topic to the storage components (their heartbeats and start-up syncs) and
starts the all-in-one cloud's own storage host (`local.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from overcast.kit.web import ServiceSpec
from overcast.volume.routes import backups, groups, others, qos, snapshots, types, volumes
from overcast.volume.service import VolumeService
from overcast.volume.versions import VERSIONS

__all__ = ["VERSIONS", "setup"]

root = APIRouter()
discovery = APIRouter()


def _version_doc(request: Request) -> dict[str, Any]:
    base = f"{request.app.state.settings.base_url}/volume"
    return {"id": "v3.0", "status": "CURRENT", "version": str(VERSIONS.max),
            "min_version": str(VERSIONS.min), "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": f"{base}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


@root.get("")
@root.get("/")
def versions(request: Request) -> Response:
    """Cinder answers its root with 300 Multiple Choices."""
    return JSONResponse({"versions": [_version_doc(request)]}, status_code=300)


@discovery.get("/v3")
@discovery.get("/v3/")
def version(request: Request) -> Response:
    return JSONResponse({"versions": [_version_doc(request)]})


ROUTERS = [root, discovery, volumes.routes, snapshots.routes, types.routes, groups.routes,
           qos.routes, others.routes, backups.routes]


def setup(app: FastAPI) -> None:
    from overcast.bus import make_bus

    settings = app.state.settings
    bus = getattr(app.state, "bus", None) or make_bus(settings.bus_url,
                                                      settings.bus_namespace)
    app.state.bus = bus
    svc = VolumeService(app.state.db, images=getattr(app.state, "images", None))
    app.state.volume = svc

    async def start(app: FastAPI) -> None:
        svc.store.images = getattr(app.state, "images", None)
        # backups live in the object store (none: no backup service runs)
        svc.object_store = getattr(app.state, "object_store", None)
        svc.storage.bus, svc.storage.loop = bus, asyncio.get_running_loop()
        await bus.start()

    async def start_engine(app: FastAPI) -> None:
        from overcast.bus.messages import Message

        if svc.backups.available:
            await asyncio.to_thread(svc.backups.recover)
        await asyncio.to_thread(svc.types.ensure_default)

        async def handle(msg: Message) -> Any:
            return await asyncio.to_thread(svc.handle, msg)

        await bus.subscribe("volume", handle)
        app.state.local_storage = None
        if settings.local_storage:
            from overcast.volume.local import start_local_storage

            app.state.local_storage = await start_local_storage(app, settings, bus)

    async def stop_engine(app: FastAPI) -> None:
        component = getattr(app.state, "local_storage", None)
        if component is not None:
            await component.stop()

    async def stop(app: FastAPI) -> None:
        svc.storage.close()

    app.state.specs.append(ServiceSpec(
        name="cinder", type="block-storage", prefix="/volume", error_style="cinder",
        endpoint_path="/volume/v3/$(project_id)s", routers=ROUTERS,
        aliases=[("volumev3", "cinderv3", "/volume/v3/$(project_id)s")],
        on_startup=[start], on_shutdown=[stop], on_engine_start=[start_engine],
        on_engine_stop=[stop_engine]))
