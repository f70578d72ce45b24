"""Volume types (`/v3/{project_id}/types`), their extra specs and access lists."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.schema import accepts
from overcast.volume import schemas
from overcast.volume.policy import ADMIN
from overcast.volume.routes.base import (
    JSON_BODY,
    Ctx,
    params,
    reply,
    router,
    service,
    version,
)

routes = router()
P = "/v3/{project_id}/types"


@routes.get(P)
@accepts(query=schemas.LIST_QUERY)
def list_types(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"volume_types": service(request).types.listing(
        ctx, params(request), version(request))})


@routes.get(P + "/{type_id}")
def show_type(project_id: str, type_id: str, request: Request, ctx: RequestContext = Ctx
              ) -> Response:
    return reply(request, {"volume_type": service(request).types.show(ctx, type_id)})


@routes.post(P, dependencies=[ADMIN])
@accepts(body=schemas.TYPE_CREATE)
def create_type(project_id: str, request: Request, body: Any = JSON_BODY,
                ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"volume_type": service(request).types.create(ctx, body)})


@routes.put(P + "/{type_id}", dependencies=[ADMIN])
@accepts(body=schemas.TYPE_UPDATE)
def update_type(project_id: str, type_id: str, request: Request, body: Any = JSON_BODY,
                ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"volume_type": service(request).types.update(ctx, type_id, body)})


@routes.delete(P + "/{type_id}", status_code=202, dependencies=[ADMIN])
def delete_type(project_id: str, type_id: str, request: Request, ctx: RequestContext = Ctx
                ) -> Response:
    service(request).types.delete(ctx, type_id)
    return reply(request, None, 202)


@routes.get(P + "/{type_id}/extra_specs")
def get_extra_specs(project_id: str, type_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"extra_specs": service(request).types.extra_specs(ctx, type_id)})


@routes.post(P + "/{type_id}/extra_specs", dependencies=[ADMIN])
@accepts(body=schemas.EXTRA_SPECS_SET)
def set_extra_specs(project_id: str, type_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"extra_specs": service(request).types.set_extra_specs(
        type_id, body["extra_specs"])})


@routes.get(P + "/{type_id}/extra_specs/{key}")
def get_extra_spec(project_id: str, type_id: str, key: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    specs = service(request).types.extra_specs(ctx, type_id)
    if key not in specs:
        raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
    return reply(request, {key: specs[key]})


@routes.put(P + "/{type_id}/extra_specs/{key}", dependencies=[ADMIN])
@accepts(body=schemas.EXTRA_SPEC_ITEM)
def set_extra_spec(project_id: str, type_id: str, key: str, request: Request,
                   body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    return reply(request, service(request).types.set_extra_specs(type_id, body))


@routes.delete(P + "/{type_id}/extra_specs/{key}", status_code=202, dependencies=[ADMIN])
def delete_extra_spec(project_id: str, type_id: str, key: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    service(request).types.delete_extra_spec(type_id, key)
    return reply(request, None, 202)


@routes.get(P + "/{type_id}/encryption")
def type_encryption(project_id: str, type_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    """No type here encrypts its volumes: Cinder answers an empty object then."""
    service(request).types.show(ctx, type_id)
    return reply(request, {})


@routes.get(P + "/{type_id}/os-volume-type-access", dependencies=[ADMIN])
def type_access(project_id: str, type_id: str, request: Request, ctx: RequestContext = Ctx
                ) -> Response:
    return reply(request, {"volume_type_access": service(request).types.access(type_id)})


@routes.post(P + "/{type_id}/action", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.TYPE_ACTION)
def type_action(project_id: str, type_id: str, request: Request, body: Any = JSON_BODY,
                ctx: RequestContext = Ctx) -> Response:
    add = "addProjectAccess" in body
    arg = body["addProjectAccess" if add else "removeProjectAccess"]
    service(request).types.change_access(type_id, arg["project"], add)
    return reply(request, None, 202)
