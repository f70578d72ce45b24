"""What every compute route module shares: the version range, the router that
negotiates it, the context and body parameters, and the service lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, Depends, Request

from overcast.compute.service import ComputeService
from overcast.compute.versions import VERSIONS
from overcast.kit.web import get_context

if TYPE_CHECKING:
    from overcast.compute import models as m

__all__ = ["VERSIONS", "JSON_BODY", "Ctx", "reply", "version", "router", "service", "service_up",
           "base_url"]
JSON_BODY: Any = Body(None)
Ctx: Any = Depends(get_context)
reply = VERSIONS.reply
version = VERSIONS.of


def router(*, authenticated: bool = True) -> APIRouter:
    """A router whose every route negotiates the microversion before its handler.

    Authentication comes first, as keystonemiddleware runs before Nova's router: a
    request without a valid token is 401 whatever version it asks for, then 406 for
    a version out of range, then 403 from a route's own policy (FastAPI runs the
    context dependency once per request; the handler's `ctx` reuses it)."""
    deps = [Depends(VERSIONS.dependency)]
    if authenticated:
        deps.insert(0, Depends(get_context))
    return APIRouter(dependencies=deps)


def service(request: Request) -> ComputeService:
    return request.app.state.compute  # type: ignore[no-any-return]


def service_up(request: Request, svc: m.Service) -> bool:
    """Whether a compute service is up, by this cloud's rule (`hosts.ServiceGroup`)."""
    return service(request).servicegroup.is_up(svc)


def base_url(request: Request) -> str:
    """Where compute is mounted (links are built from it)."""
    return f"{request.app.state.settings.base_url}/compute"
