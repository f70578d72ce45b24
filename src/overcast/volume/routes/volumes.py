"""Volumes (`/v3/{project_id}/volumes`): list, detail, show, create, update, delete,
metadata, actions and the summary."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound, PreconditionFailed
from overcast.kit.schema import accepts
from overcast.volume import errors, schemas
from overcast.volume.policy import ADMIN
from overcast.volume.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    base_url,
    page_reply,
    params,
    reply,
    router,
    service,
    version,
)
from overcast.volume.routes.metadata import item_routes

routes = router()
P = "/v3/{project_id}/volumes"


def _list(request: Request, project_id: str, ctx: RequestContext, detail: bool
          ) -> Response:
    page = service(request).volumes.page(ctx, params(request), base_url(request),
                                         version(request), detail=detail)
    return page_reply(request, project_id, "volumes", page)


@routes.get(P)
@accepts(query=schemas.LIST_QUERY)
def list_volumes(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, project_id, ctx, False)


@routes.get(P + "/detail")
@accepts(query=schemas.LIST_QUERY)
def list_volumes_detail(project_id: str, request: Request, ctx: RequestContext = Ctx
                        ) -> Response:
    return _list(request, project_id, ctx, True)


@routes.get(P + "/summary")
@accepts(query=schemas.EMPTY_QUERY)
def volumes_summary(project_id: str, request: Request, ctx: RequestContext = Ctx
                    ) -> Response:
    VERSIONS.require(request, "3.12")
    every = schemas.flag(request.query_params.get("all_tenants", "0"))
    return reply(request, {"volume-summary": service(request).volumes.summary(
        ctx, every, version(request))})


@routes.post(P, status_code=202)
@accepts(body=schemas.VOLUME_CREATE)
def create_volume(project_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    out = service(request).volumes.create(ctx, body, base_url(request), version(request))
    return reply(request, {"volume": out}, 202)


@routes.get(P + "/")
@routes.put(P + "/")
@routes.delete(P + "/")
def volume_without_id(project_id: str, request: Request, ctx: RequestContext = Ctx
                      ) -> Response:
    """`/volumes/` names a volume with an empty id: none (Cinder's 404), not the list
    a redirect to `/volumes` would answer (or refuse with 405)."""
    raise NotFound("The resource could not be found.")


@routes.get(P + "/{volume_id}")
def show_volume(project_id: str, volume_id: str, request: Request,
                ctx: RequestContext = Ctx) -> Response:
    out = service(request).volumes.show(ctx, volume_id, base_url(request), version(request))
    return reply(request, {"volume": out})


@routes.put(P + "/{volume_id}")
@accepts(body=schemas.VOLUME_UPDATE)
def update_volume(project_id: str, volume_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    if not body["volume"]:
        raise errors.invalid_input("Missing required element 'volume' in request body.")
    out = service(request).volumes.update(ctx, volume_id, body, base_url(request),
                                          version(request))
    return reply(request, {"volume": out})


@routes.delete(P + "/{volume_id}", status_code=202)
@accepts(query=schemas.Schema({"type": "object", "properties": {
    "cascade": {"type": "string", "maxLength": 8}, "force": {"type": "string",
                                                              "maxLength": 8}},
    "additionalProperties": False}, schemas.STYLE))
def delete_volume(project_id: str, volume_id: str, request: Request,
                  ctx: RequestContext = Ctx) -> Response:
    q = request.query_params
    force = schemas.flag(q.get("force", "false")) and version(request).at_least("3.23")
    service(request).volumes.delete(ctx, volume_id, cascade=schemas.flag(
        q.get("cascade", "false")), force=force)
    return reply(request, None, 202)


@routes.post(P + "/{volume_id}/action")
@accepts(body=schemas.VOLUME_ACTION)
def volume_action(project_id: str, volume_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    if "os-unmanage" in body:
        service(request).manage.unmanage(ctx, volume_id)
        return reply(request, None, 202)
    status, out = service(request).actions.run(ctx, volume_id, body, version(request))
    return reply(request, out, status)


# ----------------------------------------------------------------- manage existing
@routes.post("/v3/{project_id}/os-volume-manage", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.MANAGE)
def manage_volume(project_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    out = service(request).manage.manage(ctx, body["volume"], base_url(request),
                                         version(request))
    return reply(request, {"volume": out}, 202)


@routes.post("/v3/{project_id}/manageable_volumes", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.MANAGE)
def manage_volume_v38(project_id: str, request: Request, body: Any = JSON_BODY,
                      ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.8")
    out = service(request).manage.manage(ctx, body["volume"], base_url(request),
                                         version(request))
    return reply(request, {"volume": out}, 202)


def _manageable(request: Request, detail: bool) -> Response:
    VERSIONS.require(request, "3.8")
    host = request.query_params.get("host")
    if not host:
        raise errors.invalid_input("Either the host or cluster must be specified.")
    return reply(request, {"manageable-volumes": service(request).manage.manageable(
        host, detail)})


@routes.get("/v3/{project_id}/manageable_volumes", dependencies=[ADMIN])
@accepts(query=schemas.MANAGEABLE_QUERY)
def manageable_volumes(project_id: str, request: Request, ctx: RequestContext = Ctx
                       ) -> Response:
    return _manageable(request, False)


@routes.get("/v3/{project_id}/manageable_volumes/detail", dependencies=[ADMIN])
@accepts(query=schemas.MANAGEABLE_QUERY)
def manageable_volumes_detail(project_id: str, request: Request,
                              ctx: RequestContext = Ctx) -> Response:
    return _manageable(request, True)


# ----------------------------------------------------------------- metadata
def _etag(meta: dict[str, str]) -> str:
    return hashlib.md5(json.dumps(meta, sort_keys=True).encode(),
                       usedforsecurity=False).hexdigest()


@routes.get(P + "/{volume_id}/metadata")
def get_metadata(project_id: str, volume_id: str, request: Request,
                 ctx: RequestContext = Ctx) -> Response:
    meta = service(request).volumes.metadata(ctx, volume_id)
    # 3.15: an ETag, for a later update to name the state it read (If-Match)
    headers = {"ETag": _etag(meta)} if version(request).at_least("3.15") else None
    return reply(request, {"metadata": meta}, headers=headers)


@routes.post(P + "/{volume_id}/metadata")
@accepts(body=schemas.METADATA_SET)
def add_metadata(project_id: str, volume_id: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    out = service(request).volumes.set_metadata(ctx, volume_id, body["metadata"],
                                                replace=False)
    return reply(request, {"metadata": out})


@routes.put(P + "/{volume_id}/metadata")
@accepts(body=schemas.METADATA_SET)
def replace_metadata(project_id: str, volume_id: str, request: Request,
                     body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    if_match = request.headers.get("if-match")
    if if_match and version(request).at_least("3.15"):
        # checked again inside the update's transaction would be stricter; Cinder
        # checks it before the update as well
        current = service(request).volumes.metadata(ctx, volume_id)
        if if_match.strip('"') != _etag(current):
            raise PreconditionFailed("Metadata was changed since it was read "
                                     "(If-Match does not match its ETag).")
    out = service(request).volumes.set_metadata(ctx, volume_id, body["metadata"],
                                                replace=True)
    return reply(request, {"metadata": out})


item_routes(routes, P + "/{resource_id}", lambda request: service(request).volumes,
            "Volume")
