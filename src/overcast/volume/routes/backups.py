"""Backups (`/v3/{project_id}/backups`): list, detail, show, create, restore,
delete, the admin's actions and record export/import, over `volume.backups` (the
objects in the object store). Where no object store runs, every route answers as Cinder does
without a cinder-backup service."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.schema import Schema, Versioned, accepts
from overcast.volume import errors, schemas
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

routes = router()
P = "/v3/{project_id}/backups"

BACKUP_CREATE = schemas._obj("backup", {
    "volume_id": {"type": "string", "format": "uuid"},
    "container": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                  "pattern": "^[^/]+$"},
    "name": schemas.NAME, "description": schemas.DESCRIPTION,
    "incremental": schemas.BOOL, "force": schemas.BOOL,
    "snapshot_id": schemas.UUID_OR_NULL, "metadata": schemas.METADATA_OR_NULL,
    "availability_zone": {"type": ["string", "null"], "maxLength": 255}},
    ["volume_id"])
BACKUP_UPDATE = Versioned(VERSIONS, {
    "3.0": schemas._obj("backup", {"name": schemas.NAME,
                                   "description": schemas.DESCRIPTION}),
    # 3.43: a backup's metadata
    "3.43": schemas._obj("backup", {"name": schemas.NAME,
                                    "description": schemas.DESCRIPTION,
                                    "metadata": schemas.METADATA_OR_NULL})})
BACKUP_RESTORE = Schema({"type": "object", "properties": {"restore": {
    "type": ["object", "null"], "properties": {
        "volume_id": schemas.UUID_OR_NULL, "name": schemas.NAME},
    "additionalProperties": False}}, "required": ["restore"],
    "additionalProperties": False}, schemas.STYLE)
BACKUP_IMPORT = Schema({"type": "object", "properties": {"backup-record": {
    "type": "object", "properties": {
        "backup_service": {"type": "string", "minLength": 1, "maxLength": 255},
        "backup_url": {"type": "string", "minLength": 1, "maxLength": 65536}},
    "required": ["backup_service", "backup_url"], "additionalProperties": False}},
    "required": ["backup-record"], "additionalProperties": False}, schemas.STYLE)
BACKUP_ACTION = Schema({"type": "object", "properties": {
    "os-reset_status": {"type": "object", "properties": {"status": {
        "type": "string", "maxLength": 32}}, "required": ["status"],
        "additionalProperties": False},
    "os-force_delete": {"type": ["object", "null"]}},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False}, schemas.STYLE)


def _backups(request: Request) -> Any:
    return service(request).backups


def _list(request: Request, project_id: str, ctx: RequestContext, detail: bool
          ) -> Response:
    b = _backups(request)
    if not b.available:
        return reply(request, {"backups": []})
    page = b.page(ctx, params(request), base_url(request), version(request), detail=detail)
    return page_reply(request, project_id, "backups", page)


@routes.get(P)
@accepts(query=schemas.LIST_QUERY)
def list_backups(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, project_id, ctx, False)


@routes.get(P + "/detail")
@accepts(query=schemas.LIST_QUERY)
def list_backups_detail(project_id: str, request: Request, ctx: RequestContext = Ctx
                        ) -> Response:
    return _list(request, project_id, ctx, True)


@routes.get(P + "/{backup_id}")
def show_backup(project_id: str, backup_id: str, request: Request, ctx: RequestContext = Ctx
                ) -> Response:
    b = _backups(request)
    if not b.available:
        raise errors.backup_unavailable()
    return reply(request, {"backup": b.show(ctx, backup_id, base_url(request),
                                            version(request))})


@routes.post(P, status_code=202)
@accepts(body=BACKUP_CREATE)
def create_backup(project_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    out = _backups(request).create(ctx, body, base_url(request), version(request))
    return reply(request, {"backup": out}, 202)


@routes.put(P + "/{backup_id}")
@accepts(body=BACKUP_UPDATE)
def update_backup(project_id: str, backup_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.9")
    return reply(request, {"backup": _backups(request).update(
        ctx, backup_id, body, base_url(request), version(request))})


@routes.post(P + "/{backup_id}/restore", status_code=202)
@accepts(body=BACKUP_RESTORE)
def restore_backup(project_id: str, backup_id: str, request: Request,
                   body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    svc = service(request)

    def create_volume(vbody: dict[str, Any]) -> dict[str, Any]:
        return dict(svc.volumes.create(ctx, vbody, base_url(request), version(request)))

    out = svc.backups.restore(ctx, backup_id, body, create_volume)
    return reply(request, {"restore": out}, 202)


@routes.get(P + "/{backup_id}/export_record")
def export_backup(project_id: str, backup_id: str, request: Request,
                  ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"backup-record": _backups(request).export_record(ctx,
                                                                           backup_id)})


@routes.post(P + "/import_record", status_code=201)
@accepts(body=BACKUP_IMPORT)
def import_backup(project_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    record = body["backup-record"]
    out = _backups(request).import_record(ctx, record["backup_service"],
                                          record["backup_url"], base_url(request))
    return reply(request, {"backup": out}, 201)


@routes.delete(P + "/{backup_id}", status_code=202)
def delete_backup(project_id: str, backup_id: str, request: Request,
                  ctx: RequestContext = Ctx) -> Response:
    _backups(request).delete(ctx, backup_id)
    return reply(request, None, 202)


@routes.post(P + "/{backup_id}/action", status_code=202)
@accepts(body=BACKUP_ACTION)
def backup_action(project_id: str, backup_id: str, request: Request,
                  body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    b = _backups(request)
    if "os-reset_status" in body:
        b.reset_status(ctx, backup_id, body["os-reset_status"]["status"])
    else:
        b.force_delete(ctx, backup_id)
    return reply(request, None, 202)
