"""Generic volume groups: group types (3.11), groups (3.13), group snapshots and
groups made from them (3.14), their admin status resets (3.19, 3.20)."""

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
    VERSIONS,
    Ctx,
    params,
    reply,
    router,
    service,
    version,
)

routes = router()
T = "/v3/{project_id}/group_types"
G = "/v3/{project_id}/groups"
S = "/v3/{project_id}/group_snapshots"


# ----------------------------------------------------------------- group types
@routes.get(T)
@accepts(query=schemas.LIST_QUERY)
def list_group_types(project_id: str, request: Request, ctx: RequestContext = Ctx
                     ) -> Response:
    VERSIONS.require(request, "3.11")
    return reply(request, {"group_types": service(request).groups.types(ctx,
                                                                         params(request))})


@routes.get(T + "/{type_id}")
def show_group_type(project_id: str, type_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    return reply(request, {"group_type": service(request).groups.show_type(ctx, type_id)})


@routes.post(T, dependencies=[ADMIN])
@accepts(body=schemas.GROUP_TYPE_CREATE)
def create_group_type(project_id: str, request: Request, body: Any = JSON_BODY,
                      ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    # Cinder answers a group type's create (and its specs') with 202
    return reply(request, {"group_type": service(request).groups.create_type(
        ctx, body["group_type"])}, 202)


@routes.put(T + "/{type_id}", dependencies=[ADMIN])
@accepts(body=schemas.GROUP_TYPE_UPDATE)
def update_group_type(project_id: str, type_id: str, request: Request,
                      body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    return reply(request, {"group_type": service(request).groups.update_type(
        ctx, type_id, body["group_type"])})


@routes.delete(T + "/{type_id}", status_code=202, dependencies=[ADMIN])
def delete_group_type(project_id: str, type_id: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    service(request).groups.delete_type(ctx, type_id)
    return reply(request, None, 202)


@routes.get(T + "/{type_id}/group_specs")
def get_group_specs(project_id: str, type_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    return reply(request, {"group_specs": service(request).groups.type_specs(ctx, type_id)})


@routes.post(T + "/{type_id}/group_specs", dependencies=[ADMIN])
@accepts(body=schemas.GROUP_SPECS_SET)
def set_group_specs(project_id: str, type_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    return reply(request, {"group_specs": service(request).groups.set_type_specs(
        ctx, type_id, body["group_specs"])}, 202)


@routes.get(T + "/{type_id}/group_specs/{key}")
def get_group_spec(project_id: str, type_id: str, key: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    specs = service(request).groups.type_specs(ctx, type_id)
    if key not in specs:
        raise NotFound(f"Group Type {type_id} has no specs with key {key}.")
    return reply(request, {key: specs[key]})


@routes.put(T + "/{type_id}/group_specs/{key}", dependencies=[ADMIN])
@accepts(body=schemas.GROUP_SPEC_ITEM)
def set_group_spec(project_id: str, type_id: str, key: str, request: Request,
                   body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    return reply(request, service(request).groups.set_type_specs(ctx, type_id, body))


@routes.delete(T + "/{type_id}/group_specs/{key}", status_code=202, dependencies=[ADMIN])
def delete_group_spec(project_id: str, type_id: str, key: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.11")
    service(request).groups.delete_type_spec(ctx, type_id, key)
    return reply(request, None, 202)


# ----------------------------------------------------------------- groups
@routes.get(G)
@accepts(query=schemas.LIST_QUERY)
def list_groups(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.13")
    return reply(request, {"groups": service(request).groups.listing(
        ctx, params(request), version(request), False)})


@routes.get(G + "/detail")
@accepts(query=schemas.LIST_QUERY)
def list_groups_detail(project_id: str, request: Request, ctx: RequestContext = Ctx
                       ) -> Response:
    VERSIONS.require(request, "3.13")
    return reply(request, {"groups": service(request).groups.listing(
        ctx, params(request), version(request), True)})


@routes.get(G + "/{group_id}")
@accepts(query=schemas.EMPTY_QUERY)
def show_group(project_id: str, group_id: str, request: Request, ctx: RequestContext = Ctx
               ) -> Response:
    VERSIONS.require(request, "3.13")
    listed = schemas.flag(request.query_params.get("list_volume", "false"))
    return reply(request, {"group": service(request).groups.show(
        ctx, group_id, version(request), listed)})


@routes.post(G, status_code=202)
@accepts(body=schemas.GROUP_CREATE)
def create_group(project_id: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.13")
    return reply(request, {"group": service(request).groups.create(ctx, body["group"])},
                 202)


@routes.post(G + "/action", status_code=202)
@accepts(body=schemas.GROUP_FROM_SRC)
def create_group_from_src(project_id: str, request: Request, body: Any = JSON_BODY,
                          ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.14")
    req = body["create-from-src"]
    if bool(req.get("group_snapshot_id")) == bool(req.get("source_group_id")):
        raise BadRequest("Invalid input received: Either 'group_snapshot_id' or "
                         "'source_group_id' must be provided to create group from source.")
    out = service(request).groups.create(ctx, req, snapshot_id=req.get("group_snapshot_id"),
                                         source_id=req.get("source_group_id"))
    return reply(request, {"group": out}, 202)


@routes.put(G + "/{group_id}", status_code=202)
@accepts(body=schemas.GROUP_UPDATE)
def update_group(project_id: str, group_id: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.13")
    if not body["group"]:
        raise BadRequest("Invalid input received: Name, description, add_volumes, and "
                         "remove_volumes can not be all empty in the request body.")
    service(request).groups.update(ctx, group_id, body["group"])
    return reply(request, None, 202)


@routes.post(G + "/{group_id}/action", status_code=202)
@accepts(body=schemas.GROUP_ACTION)
def group_action(project_id: str, group_id: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.13")
    groups = service(request).groups
    if "delete" in body:
        groups.delete(ctx, group_id, schemas.flag(body["delete"].get("delete-volumes",
                                                                     False)))
    else:
        VERSIONS.require(request, "3.20")
        groups.reset_status(ctx, group_id, body["reset_status"]["status"])
    return reply(request, None, 202)


# ----------------------------------------------------------------- group snapshots
@routes.get(S)
@accepts(query=schemas.LIST_QUERY)
def list_group_snapshots(project_id: str, request: Request, ctx: RequestContext = Ctx
                         ) -> Response:
    VERSIONS.require(request, "3.14")
    return reply(request, {"group_snapshots": service(request).groups.snapshots_listing(
        ctx, False)})


@routes.get(S + "/detail")
@accepts(query=schemas.LIST_QUERY)
def list_group_snapshots_detail(project_id: str, request: Request,
                                ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.14")
    return reply(request, {"group_snapshots": service(request).groups.snapshots_listing(
        ctx, True)})


@routes.get(S + "/{snapshot_id}")
def show_group_snapshot(project_id: str, snapshot_id: str, request: Request,
                        ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.14")
    return reply(request, {"group_snapshot": service(request).groups.show_snapshot(
        ctx, snapshot_id)})


@routes.post(S, status_code=202)
@accepts(body=schemas.GROUP_SNAPSHOT_CREATE)
def create_group_snapshot(project_id: str, request: Request, body: Any = JSON_BODY,
                          ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.14")
    return reply(request, {"group_snapshot": service(request).groups.create_snapshot(
        ctx, body["group_snapshot"], version(request))}, 202)


@routes.delete(S + "/{snapshot_id}", status_code=202)
def delete_group_snapshot(project_id: str, snapshot_id: str, request: Request,
                          ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.14")
    service(request).groups.delete_snapshot(ctx, snapshot_id)
    return reply(request, None, 202)


@routes.post(S + "/{snapshot_id}/action", status_code=202)
@accepts(body=schemas.GROUP_SNAPSHOT_ACTION)
def group_snapshot_action(project_id: str, snapshot_id: str, request: Request,
                          body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.19")
    service(request).groups.reset_snapshot_status(ctx, snapshot_id,
                                                  body["reset_status"]["status"])
    return reply(request, None, 202)
