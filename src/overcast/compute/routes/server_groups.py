"""Server groups (`/os-server-groups`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas, views
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service, version
from overcast.kit.context import RequestContext
from overcast.kit.schema import accepts

routes = router()


@routes.get("/v2.1/os-server-groups")
@accepts(query=schemas.SERVER_GROUP_LIST_QUERY)
def list_groups(request: Request, ctx: RequestContext = Ctx) -> Response:
    v = version(request)
    all_projects = request.query_params.get("all_projects", "").lower() in ("true", "1")
    return reply(request, {"server_groups": [
        views.server_group(g, members, v)
        for g, members in service(request).server_groups.list(ctx, all_projects)]})


@routes.post("/v2.1/os-server-groups")
@accepts(body=schemas.SERVER_GROUP_CREATE)
def create_group(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    v = version(request)
    name, policy, rules = schemas.server_group_create(body, v)
    group = service(request).server_groups.create(ctx, name, policy, rules)
    return reply(request, {"server_group": views.server_group(group, [], v)})


@routes.get("/v2.1/os-server-groups/{gid}")
def get_group(gid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    g, members = service(request).server_groups.get(ctx, gid)
    return reply(request, {"server_group": views.server_group(g, members, version(request))})


@routes.delete("/v2.1/os-server-groups/{gid}")
def delete_group(gid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    service(request).server_groups.delete(ctx, gid)
    return reply(request, None, 204)
