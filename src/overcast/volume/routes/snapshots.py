"""Snapshots (`/v3/{project_id}/snapshots`): list, detail, show, create, update,
delete, metadata and the admin's actions."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.schema import accepts
from overcast.volume import errors, schemas
from overcast.volume.policy import ADMIN
from overcast.volume.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    page_reply,
    params,
    reply,
    router,
    service,
    version,
)
from overcast.volume.routes.metadata import item_routes

routes = router()
P = "/v3/{project_id}/snapshots"


def _list(request: Request, project_id: str, ctx: RequestContext, detail: bool
          ) -> Response:
    page = service(request).snapshots.page(ctx, params(request), version(request),
                                           detail=detail)
    return page_reply(request, project_id, "snapshots", page)


@routes.get(P)
@accepts(query=schemas.LIST_QUERY)
def list_snapshots(project_id: str, request: Request, ctx: RequestContext = Ctx
                   ) -> Response:
    return _list(request, project_id, ctx, False)


@routes.get(P + "/detail")
@accepts(query=schemas.LIST_QUERY)
def list_snapshots_detail(project_id: str, request: Request, ctx: RequestContext = Ctx
                          ) -> Response:
    return _list(request, project_id, ctx, True)


@routes.post(P, status_code=202)
@accepts(body=schemas.SNAPSHOT_CREATE)
def create_snapshot(project_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    out = service(request).snapshots.create(ctx, body, version(request))
    return reply(request, {"snapshot": out}, 202)


@routes.get(P + "/{snapshot_id}")
def show_snapshot(project_id: str, snapshot_id: str, request: Request,
                  ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"snapshot": service(request).snapshots.show(
        ctx, snapshot_id, version(request))})


@routes.put(P + "/{snapshot_id}")
@accepts(body=schemas.SNAPSHOT_UPDATE)
def update_snapshot(project_id: str, snapshot_id: str, request: Request,
                    body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    if not body["snapshot"]:
        raise errors.invalid_input("Missing required element 'snapshot' in request body.")
    return reply(request, {"snapshot": service(request).snapshots.update(
        ctx, snapshot_id, body, version(request))})


@routes.delete(P + "/{snapshot_id}", status_code=202)
def delete_snapshot(project_id: str, snapshot_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    service(request).snapshots.delete(ctx, snapshot_id)
    return reply(request, None, 202)


@routes.post(P + "/{snapshot_id}/action")
@accepts(body=schemas.SNAPSHOT_ACTION)
def snapshot_action(project_id: str, snapshot_id: str, request: Request,
                    body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    snaps = service(request).snapshots
    if "os-reset_status" in body:
        snaps.reset_status(ctx, snapshot_id, body["os-reset_status"]["status"])
    elif "os-unmanage" in body:
        service(request).manage.unmanage_snapshot(ctx, snapshot_id)
    elif "os-force_delete" in body:
        if not ctx.is_admin:
            raise errors.forbidden("volume_extension:snapshot_admin_actions:force_delete")
        snaps.delete(ctx, snapshot_id, force=True)
    else:
        arg = body["os-update_snapshot_status"]
        snaps.update_status(ctx, snapshot_id, arg["status"], arg.get("progress"))
    return reply(request, None, 202)


@routes.get(P + "/{snapshot_id}/metadata")
def get_metadata(project_id: str, snapshot_id: str, request: Request,
                 ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"metadata": service(request).snapshots.metadata(ctx, snapshot_id)})


@routes.post(P + "/{snapshot_id}/metadata")
@accepts(body=schemas.METADATA_SET)
def add_metadata(project_id: str, snapshot_id: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"metadata": service(request).snapshots.set_metadata(
        ctx, snapshot_id, body["metadata"], replace=False)})


@routes.put(P + "/{snapshot_id}/metadata")
@accepts(body=schemas.METADATA_SET)
def replace_metadata(project_id: str, snapshot_id: str, request: Request,
                     body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"metadata": service(request).snapshots.set_metadata(
        ctx, snapshot_id, body["metadata"], replace=True)})


item_routes(routes, P + "/{resource_id}", lambda request: service(request).snapshots,
            "Snapshot")


# ----------------------------------------------------------------- manage existing
def _manage(request: Request, ctx: RequestContext, body: Any) -> Response:
    svc = service(request)
    out = svc.manage.manage_snapshot(ctx, body["snapshot"], version(request),
                                     svc.snapshots.views)
    return reply(request, {"snapshot": out}, 202)


@routes.post("/v3/{project_id}/os-snapshot-manage", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.SNAPSHOT_MANAGE)
def manage_snapshot(project_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    return _manage(request, ctx, body)


@routes.post("/v3/{project_id}/manageable_snapshots", status_code=202,
             dependencies=[ADMIN])
@accepts(body=schemas.SNAPSHOT_MANAGE)
def manage_snapshot_v38(project_id: str, request: Request, body: Any = JSON_BODY,
                        ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.8")
    return _manage(request, ctx, body)


def _manageable(request: Request, detail: bool) -> Response:
    VERSIONS.require(request, "3.8")
    host = request.query_params.get("host")
    if not host:
        raise errors.invalid_input("Either the host or cluster must be specified.")
    return reply(request, {"manageable-snapshots": service(
        request).manage.manageable_snapshots(host, detail)})


@routes.get("/v3/{project_id}/manageable_snapshots", dependencies=[ADMIN])
@accepts(query=schemas.MANAGEABLE_QUERY)
def manageable_snapshots(project_id: str, request: Request, ctx: RequestContext = Ctx
                         ) -> Response:
    return _manageable(request, False)


@routes.get("/v3/{project_id}/manageable_snapshots/detail", dependencies=[ADMIN])
@accepts(query=schemas.MANAGEABLE_QUERY)
def manageable_snapshots_detail(project_id: str, request: Request,
                                ctx: RequestContext = Ctx) -> Response:
    return _manageable(request, True)
