"""Nova's deprecated block storage proxies: `os-volumes` and `os-snapshots` (the
volumes and snapshots of block storage, in Nova's older shapes) and `os-volumes_boot`
(a server create under another name). Nova serves the first two up to 2.35 and
answers 404 from 2.36, as here; each call is block storage's own (`VolumePort`),
made as the caller, so the same tenant rules hold."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.ports import VolumePort
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service, version
from overcast.compute.routes.servers import create_server
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.schema import accepts

routes = router()
MAX = "2.35"


def _port(request: Request) -> VolumePort:
    """Block storage, when the version still has the proxies (404 otherwise, as Nova
    answers a method its version does not have)."""
    if version(request).at_least("2.36"):
        raise NotFound("The resource could not be found.")
    port = service(request).volume
    if port is None:
        raise NotFound("The resource could not be found.")
    return port


def _volume_view(v: dict[str, Any]) -> dict[str, Any]:
    """Nova's volume (an unattached one has `attachments: [{}]`, as Nova shows it)."""
    attachments = [{"id": a.get("attachment_id") or a.get("id"), "volumeId": v["id"],
                    "serverId": a.get("server_id"), "device": a.get("device")}
                   for a in v.get("attachments") or [] if a.get("server_id")]
    return {"id": v["id"], "status": v["status"], "size": v["size"],
            "availabilityZone": v.get("availability_zone"),
            "createdAt": v.get("created_at"), "displayName": v.get("name"),
            "displayDescription": v.get("description"),
            "volumeType": v.get("volume_type"), "snapshotId": v.get("snapshot_id"),
            "metadata": v.get("metadata") or {}, "attachments": attachments or [{}]}


def _snapshot_view(s: dict[str, Any]) -> dict[str, Any]:
    return {"id": s["id"], "volumeId": s["volume_id"], "status": s["status"],
            "size": s["size"], "createdAt": s.get("created_at"),
            "displayName": s.get("name"), "displayDescription": s.get("description")}


def _page(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    q = request.query_params
    offset = int(q.get("offset") or 0)
    limit = int(q["limit"]) if q.get("limit") else None
    return items[offset:offset + limit if limit is not None else None]


# ----------------------------------------------------------------- volumes
@routes.get("/v2.1/os-volumes")
@routes.get("/v2.1/os-volumes/detail")
@accepts(query=schemas.PROXY_LIST_QUERY)
def list_volumes(request: Request, ctx: RequestContext = Ctx) -> Response:
    vols = _port(request).list_volumes(ctx, {})
    return reply(request, {"volumes": [_volume_view(v) for v in _page(request, vols)]})


@routes.get("/v2.1/os-volumes/{volume_id}")
def show_volume(volume_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    port = _port(request)
    try:
        v = port.lookup(ctx, volume_id)
    except NotFound:
        raise NotFound(f"Volume {volume_id} could not be found.")
    return reply(request, {"volume": _volume_view(v)})


@routes.post("/v2.1/os-volumes")
@accepts(body=schemas.PROXY_VOLUME_CREATE)
def create_volume(request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    port = _port(request)
    vol = body["volume"]
    req: dict[str, Any] = {"size": int(vol["size"]), "name": vol.get("display_name"),
                           "description": vol.get("display_description"),
                           "metadata": vol.get("metadata") or {}}
    for ours, theirs in (("volume_type", "volume_type"), ("snapshot_id", "snapshot_id"),
                         ("availability_zone", "availability_zone")):
        if vol.get(ours):
            req[theirs] = vol[ours]
    if vol.get("snapshot_id"):
        try:
            port.show_snapshot(ctx, vol["snapshot_id"])
        except NotFound:
            raise NotFound(f"Snapshot {vol['snapshot_id']} could not be found.")
    try:
        made = port.create_volume(ctx, {"volume": req})
    except NotFound as exc:
        raise BadRequest(exc.message)
    return reply(request, {"volume": _volume_view(port.lookup(ctx, made["id"]))})


@routes.delete("/v2.1/os-volumes/{volume_id}")
def delete_volume(volume_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    port = _port(request)
    try:
        port.delete_volume(ctx, volume_id)
    except NotFound:
        raise NotFound(f"Volume {volume_id} could not be found.")
    return reply(request, None, 202)


# --------------------------------------------------------------- snapshots
@routes.get("/v2.1/os-snapshots")
@routes.get("/v2.1/os-snapshots/detail")
@accepts(query=schemas.PROXY_LIST_QUERY)
def list_snapshots(request: Request, ctx: RequestContext = Ctx) -> Response:
    snaps = _port(request).list_snapshots(ctx, {})
    return reply(request, {"snapshots": [_snapshot_view(s) for s in _page(request, snaps)]})


@routes.get("/v2.1/os-snapshots/{snapshot_id}")
def show_snapshot(snapshot_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    port = _port(request)
    try:
        snap = port.show_snapshot(ctx, snapshot_id)
    except NotFound:
        raise NotFound(f"Snapshot {snapshot_id} could not be found.")
    return reply(request, {"snapshot": _snapshot_view(snap)})


@routes.post("/v2.1/os-snapshots")
@accepts(body=schemas.PROXY_SNAPSHOT_CREATE)
def create_snapshot(request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    port = _port(request)
    snap = body["snapshot"]
    force = snap.get("force", False)
    force = force if isinstance(force, bool) else force in schemas.TRUE_STRINGS
    try:
        port.lookup(ctx, snap["volume_id"])
    except NotFound:
        raise NotFound(f"Volume {snap['volume_id']} could not be found.")
    made = port.create_snapshot(ctx, {"snapshot": {
        "volume_id": snap["volume_id"], "force": force,
        "name": snap.get("display_name"), "description": snap.get("display_description")}})
    return reply(request, {"snapshot": _snapshot_view(made)})


@routes.delete("/v2.1/os-snapshots/{snapshot_id}")
def delete_snapshot(snapshot_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    port = _port(request)
    try:
        port.delete_snapshot(ctx, snapshot_id)
    except NotFound:
        raise NotFound(f"Snapshot {snapshot_id} could not be found.")
    return reply(request, None, 202)


# ------------------------------------------------------- os-volumes_boot
@routes.post("/v2.1/os-volumes_boot")
@accepts(body=schemas.SERVER_CREATE)
def volumes_boot(request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    """Nova's old name for a server create (with block_device_mapping)."""
    return create_server.__wrapped__(request, body, ctx)  # type: ignore[attr-defined]
