"""Builds the ASGI app: every service mounted under its prefix on one port.

`create_app(settings)` is a factory (tests build apps with a tmp dir and port
0); it never reads globals. Each service's `api` module has a `setup(app)` that
creates its service objects on `app.state` and appends its `ServiceSpec`. Then
`wire(app)` hands the services the others they call (compute's ports: network,
image, placement): this is the one place services meet, so the order of
SERVICE_MODULES does not matter.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from starlette.routing import Mount

from overcast.bus import Bus
from overcast.compute.service import ComputeService
from overcast.config import Settings
from overcast.dashboard.mount import RAW_BODY_PATHS
from overcast.dashboard.mount import mount as mount_dashboard
from overcast.db import Database
from overcast.identity.service import CatalogService
from overcast.kit.body import BodyGuard
from overcast.kit.schema import openapi_document
from overcast.kit.web import (
    RequestIdAndLogMiddleware,
    ServiceSpec,
    error_response,
    install_error_handlers,
    style_for_path,
)

log = logging.getLogger("overcast.app")

if TYPE_CHECKING:  # mypy checks that the services fit the ports compute is given
    from overcast.compute.events import ServerEvents
    from overcast.compute.ports import ImagePort, NetworkPort, PlacementPort
    from overcast.image.service import ImageService
    from overcast.network.service import NetworkService
    from overcast.placement.service import PlacementService
    from overcast.volume.common import ServerEvents as VolumeServerEvents

    def _fits(n: NetworkService, i: ImageService, p: PlacementService
              ) -> tuple[NetworkPort, ImagePort, PlacementPort]:
        return n, i, p

    def _tells(e: ServerEvents) -> VolumeServerEvents:
        return e

#: Service API modules, in mount order. Each has `setup(app)`.
SERVICE_MODULES = [
    "overcast.identity.api",
    "overcast.placement.api",
    "overcast.compute.api",
    "overcast.image.api",
    "overcast.network.api",
    "overcast.volume.api",
    "overcast.object.api",
    "overcast.object.s3.api",
]


#: The parts a process can play (`overcast.serve` has the process model):
#: "all" is one process doing everything (tests, `overcast up --workers 1`);
#: "api" serves requests only (one of N API workers); "engine" runs what must run
#: once per cloud (conductor, scheduler, local agents and storage, bus
#: subscriptions, periodic tasks) and serves no requests.
ROLES = ("all", "api", "engine")


def create_app(settings: Settings, *, db: Database | None = None, role: str = "all",
               bus: Bus | None = None) -> FastAPI:
    """The app with every service; `role` picks which start hooks its lifespan runs
    (`ServiceSpec.on_startup` in every role, `on_engine_start` in "all" and
    "engine"); `bus` is the bus to use (default: `make_bus(settings.bus_url)`)."""
    if role not in ROLES:
        raise ValueError(f"unknown process role {role!r}: use one of {', '.join(ROLES)}")
    database = db or Database(settings.db_url)
    engine = role != "api"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for spec in app.state.specs:
            for hook in spec.on_startup + (spec.on_engine_start if engine else []):
                result = hook(app)
                if inspect.isawaitable(result):
                    await result
        try:
            yield
        finally:
            for spec in reversed(app.state.specs):
                for hook in (spec.on_engine_stop if engine else []) + spec.on_shutdown:
                    try:
                        result = hook(app)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:  # noqa: BLE001 - shutdown must go on
                        log.exception("shutdown hook failed")

    app = FastAPI(title="overcast", version="0.1.0", docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.db = database
    app.state.role = role
    app.state.specs = []
    if bus is not None:
        app.state.bus = bus
    for name in SERVICE_MODULES:
        importlib.import_module(name).setup(app)
    wire(app)
    specs: list[ServiceSpec] = app.state.specs
    app.state.error_styles = sorted(((s.prefix, s.error_style) for s in specs),
                                    key=lambda x: -len(x[0]))
    # the longest prefix first: /object/s3 (S3) must be tried before /object (Swift)
    for spec in sorted(specs, key=lambda s: -len(s.prefix)):
        # Each service is a Mount: a request is matched against its own service's
        # routes only, not against every route of the cloud in turn (route
        # matching was a third of a small request's CPU with all routes flat).
        # The service's root document ("/compute", "/compute/") stays on the app.
        inner, root = APIRouter(), APIRouter()
        for router in spec.routers:
            for route in router.routes:
                path = getattr(route, "path", None)
                (root if path in ("", "/") else inner).routes.append(route)
        app.include_router(root, prefix=spec.prefix)
        app.router.routes.append(Mount(spec.prefix, app=inner))
    # The web console, at "/" after the APIs: a client of them, not a catalog service.
    mount_dashboard(app)
    install_error_handlers(app)
    # /openapi.json: every route, with the request schemas it declares (kit.schema)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    # The door, outermost first: every request gets its id (and every error carries
    # it), then JSON bodies are bounded and checked before any route runs; raw data
    # routes (image bytes) stream past.
    app.add_middleware(
        BodyGuard, render=lambda request, status, message: error_response(
            request, status, message),
        style=lambda request: style_for_path(request.app, request.url.path),
        raw_body_paths=[spec.prefix + p for spec in specs for p in spec.raw_body_paths]
        + RAW_BODY_PATHS)
    app.add_middleware(RequestIdAndLogMiddleware)
    return app


def wire(app: FastAPI) -> None:
    """Give each service its collaborators, after every service exists.

    Compute is made here with its ports (`compute.ports`): the network service
    (`app.state.network`), the image service (`app.state.images`), Placement
    (`app.state.placement`) and block storage (`app.state.volume.instances`). A
    service that is not mounted is passed as None and compute keeps its fallback (no
    networks, no image checks, no snapshots, no volumes)."""
    state = app.state
    if any(spec.type == "compute" for spec in state.specs):
        state.compute = ComputeService(
            state.db, state.bus, network=getattr(state, "network", None),
            image=getattr(state, "images", None), placement=getattr(state, "placement", None),
            volume=getattr(getattr(state, "volume", None), "instances", None),
            reclaim_instance_interval=state.settings.reclaim_instance_interval,
            shelved_offload_time=state.settings.shelved_offload_time,
            service_down_time=state.settings.service_down_time)
        if getattr(state, "volume", None) is not None:
            # block storage tells compute of in-use volumes it grew (Cinder's
            # volume-extended event), through its own port (volume.common.ServerEvents)
            state.volume.store.compute = state.compute.events
    if any(spec.type == "s3" for spec in state.specs):
        from overcast.object.s3.api import wire_auth

        wire_auth(app)


def catalog_services(app: FastAPI) -> list[CatalogService]:
    """What `bootstrap` registers in the catalog: one entry per mounted service."""
    out = []
    for spec in app.state.specs:
        out.append(CatalogService(type=spec.type, name=spec.name, path=spec.endpoint_path))
        for typ, name, path in spec.aliases:
            out.append(CatalogService(type=typ, name=name, path=path))
    return out
