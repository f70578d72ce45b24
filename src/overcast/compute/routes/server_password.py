"""`/servers/{id}/os-server-password`: read (GET) and clear (DELETE, 204) the password
a server's guest posted (`compute.server_password`)."""

from __future__ import annotations

from fastapi import Request, Response

from overcast.compute.routes.base import Ctx, reply, router, service
from overcast.kit.context import RequestContext

routes = router()


@routes.get("/v2.1/servers/{uuid}/os-server-password")
def get_password(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"password": service(request).passwords.get(ctx, uuid)})


@routes.delete("/v2.1/servers/{uuid}/os-server-password")
def clear_password(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    service(request).passwords.clear(ctx, uuid)
    return reply(request, None, 204)
