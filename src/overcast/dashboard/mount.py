"""Mounting the console on the app: `mount(app)` adds its routes at "/" after every API
is mounted (so /identity, /compute, ... keep their own routes) and registers no catalog
entry: the console is a client of the APIs, not a service.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI

from overcast.dashboard.client import APIError
from overcast.dashboard.pages import ROUTERS
from overcast.dashboard.session import Sessions
from overcast.dashboard.web import (
    RAW_BODY_PATHS,
    LoginRequired,
    Refused,
    on_api_error,
    on_login_required,
    on_refused,
    static_route,
)

__all__ = ["RAW_BODY_PATHS", "mount"]


def mount(app: FastAPI) -> None:
    """Add the console at "/" (call after the API mounts)."""
    settings = app.state.settings
    app.state.dashboard_sessions = Sessions(settings.data_dir / "dashboard.key",
                                            settings.dashboard_idle_timeout)
    app.state.dashboard_http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://overcast.internal",
        timeout=httpx.Timeout(120.0))
    router = APIRouter(include_in_schema=False)
    static_route(router)
    for r in ROUTERS:
        router.routes.extend(r.routes)
    app.include_router(router)
    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(Refused, on_refused)
