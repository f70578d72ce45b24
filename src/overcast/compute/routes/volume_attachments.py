"""A server's volumes (`/servers/{id}/os-volume_attachments`): list, show, attach,
detach, from 2.85 an update of an attachment's delete_on_termination, and swap
refused as Nova refuses it when Cinder is not migrating the volume. The work is
`compute.volumes.ServerVolumes`'."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import multiattach, schemas
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service, version
from overcast.compute.volumes import attachment_view, with_attachment_ids
from overcast.kit.context import RequestContext
from overcast.kit.errors import Conflict, NotFound
from overcast.kit.schema import accepts

routes = router()
PATH = "/v2.1/servers/{uuid}/os-volume_attachments"


@routes.get(PATH)
@accepts(query=schemas.VOLUME_ATTACHMENTS_QUERY)
def list_attachments(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    svc = service(request)
    svc.instance(ctx, uuid)
    rows = svc.volumes_attached([uuid]).get(uuid, [])
    q = request.query_params
    offset = int(q.get("offset") or 0)
    limit = int(q["limit"]) if q.get("limit") else None
    rows = rows[offset:offset + limit if limit is not None else None]
    v = version(request)
    return reply(request, {"volumeAttachments": [
        with_attachment_ids(attachment_view(uuid, b, v), b, v) for b in rows]})


@routes.get(PATH + "/{volume_id}")
def show_attachment(uuid: str, volume_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    svc = service(request)
    svc.instance(ctx, uuid)
    bdm = svc.server_volumes.one(uuid, volume_id)
    v = version(request)
    return reply(request, {"volumeAttachment": with_attachment_ids(
        attachment_view(uuid, bdm, v), bdm, v)})


@routes.post(PATH)
@accepts(body=schemas.VOLUME_ATTACH)
def attach(uuid: str, request: Request, body: Any = JSON_BODY,
           ctx: RequestContext = Ctx) -> Response:
    att = body["volumeAttachment"]
    svc = service(request)
    svc.instance(ctx, uuid)  # 404 first
    multiattach.check(svc.volume, ctx, [att["volumeId"]], version(request))
    bdm = svc.attach_volume(ctx, uuid, att["volumeId"], att.get("device"), att.get("tag"),
                            schemas.boolean(att.get("delete_on_termination", False)))
    return reply(request, {"volumeAttachment": attachment_view(uuid, bdm, version(request))})


@routes.put(PATH + "/{volume_id}")
@accepts(body=schemas.VOLUME_SWAP)
def swap(uuid: str, volume_id: str, request: Request, body: Any = JSON_BODY,
         ctx: RequestContext = Ctx) -> Response:
    """Before 2.85 a swap (admins); from 2.85 an update of the attachment (its
    `delete_on_termination`), then a swap when `volumeId` names another volume."""
    svc = service(request)
    svc.instance(ctx, uuid)
    att = body["volumeAttachment"]
    if version(request).at_least("2.85"):
        svc.server_volumes.update(uuid, volume_id, att)
        if att["volumeId"] == volume_id:
            return reply(request, None, 202)
    if svc.volume is None:
        raise NotFound(f"Volume {volume_id} could not be found.")
    try:
        svc.volume.lookup(ctx, volume_id)
    except NotFound:
        raise NotFound(f"Volume {volume_id} could not be found.")
    # Nova swaps only for Cinder's volume migration, which this cloud never runs.
    raise Conflict(f"volume {volume_id} is not migrating; this API should only be "
                   f"called by Cinder")


@routes.delete(PATH + "/{volume_id}")
def detach(uuid: str, volume_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    service(request).detach_volume(ctx, uuid, volume_id)
    return reply(request, None, 202)
