"""Volumes (when the catalog has block storage): list, create, attach, detach, extend,
snapshot, delete.

Cinder's v3 API is per project (`/volume/v3/{project_id}/...`). A new volume may be
blank or made from an image or a snapshot, of any volume type the project sees.
Attaching and detaching go through compute (`os-volume_attachments` on the server),
as `openstack server add volume` does, so Nova and Cinder agree on the attachment;
the instance page offers the same two actions. While a volume or snapshot is
changing state by itself the list polls (htmx) until everything is still.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.dashboard.client import COMPUTE, IMAGE, VOLUME, APIError
from overcast.dashboard.web import Console, Refused, console, field_of, services

router = APIRouter()
PAGE = 100
#: The version the console speaks: extending an attached volume needs 3.42.
VOLUME_VERSION = {"OpenStack-API-Version": "volume 3.42"}
#: Statuses a volume or snapshot leaves by itself (the list keeps polling).
MOVING = {"creating", "deleting", "attaching", "detaching", "extending", "downloading",
          "reserved", "backing-up", "restoring-backup", "uploading", "retyping",
          "maintenance"}


def has_volumes(request: Request) -> bool:
    return bool({"block-storage", "volumev3"} & services(request))


async def _volumes(request: Request) -> tuple[Console, str]:
    ctx = await console(request)
    if not has_volumes(request):
        raise Refused(404, "This cloud has no block storage.")
    return ctx, f"{VOLUME}/{ctx.session.project_id}"


async def _get(ctx: Console, path: str, **params: Any) -> Any:
    clean = {k: v for k, v in params.items() if v is not None}
    r = await ctx.api.call("GET", path, params=clean, headers=VOLUME_VERSION)
    return r.json()


@router.get("/volumes")
async def volumes(request: Request) -> Response:
    ctx, base = await _volumes(request)
    marker = request.query_params.get("marker") or None
    listed, snaps, types, images = await asyncio.gather(
        _get(ctx, f"{base}/volumes/detail", limit=PAGE, marker=marker),
        _get(ctx, f"{base}/snapshots/detail", limit=PAGE),
        _get(ctx, f"{base}/types"),
        ctx.api.get(f"{IMAGE}/images", limit=200, status="active"))
    vols, snapshots = listed["volumes"], snaps["snapshots"]
    polling = any(x.get("status") in MOVING for x in [*vols, *snapshots])
    return ctx.render("volumes.html", volumes=vols, snapshots=snapshots,
                      types=types["volume_types"], images=images["images"], marker=marker,
                      polling=polling,
                      next_marker=vols[-1]["id"] if len(vols) == PAGE else None)


def _size(form: dict[str, list[str]], name: str = "size") -> int | None:
    raw = field_of(form, name, "1")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else None


@router.post("/volumes/new")
async def create(request: Request) -> Response:
    ctx, base = await _volumes(request)
    form = await ctx.form()
    size = _size(form)
    if size is None:
        return ctx.redirect("/volumes", "The size is a whole number of GB, at least 1.",
                            "error")
    name = field_of(form, "name")
    body: dict[str, Any] = {"name": name, "size": size}
    if vtype := field_of(form, "volume_type"):
        body["volume_type"] = vtype
    source, _, ref = field_of(form, "source").partition(":")
    if source == "image" and ref:
        body["imageRef"] = ref
    elif source == "snapshot" and ref:
        body["snapshot_id"] = ref
    await ctx.api.call("POST", f"{base}/volumes", json={"volume": body},
                       headers=VOLUME_VERSION)
    return ctx.redirect("/volumes", f"Creating volume {name}.")


@router.get("/volumes/{volume_id}")
async def detail(volume_id: str, request: Request) -> Response:
    ctx, base = await _volumes(request)
    volume, servers = await asyncio.gather(
        _get(ctx, f"{base}/volumes/{volume_id}"),
        ctx.api.get(f"{COMPUTE}/servers/detail", limit=200))
    vol = volume["volume"]
    names = {s["id"]: s["name"] for s in servers["servers"]}
    attachable = [s for s in servers["servers"] if s["status"] in ("ACTIVE", "SHUTOFF")]
    return ctx.render("volume.html", volume=vol, servers=attachable, names=names,
                      polling=vol.get("status") in MOVING)


@router.post("/volumes/{volume_id}/action")
async def action(volume_id: str, request: Request) -> Response:
    """One form for every volume action (the posted `action` says which)."""
    ctx, base = await _volumes(request)
    form = await ctx.form()
    act = field_of(form, "action")
    back = field_of(form, "back") or f"/volumes/{volume_id}"
    back = back if back.startswith("/") and not back.startswith("//") else "/volumes"
    if act == "attach":
        server = field_of(form, "server_id")
        if not server:
            return ctx.redirect(back, "Choose an instance to attach the volume to.", "error")
        await attach(ctx, server, volume_id)
        return ctx.redirect(back, "Attaching the volume.")
    if act == "detach":
        await detach(ctx, field_of(form, "server_id"), volume_id)
        return ctx.redirect(back, "Detaching the volume.")
    if act == "extend":
        size = _size(form, "new_size")
        if size is None:
            return ctx.redirect(back, "The new size is a whole number of GB.", "error")
        await ctx.api.call("POST", f"{base}/volumes/{volume_id}/action",
                           json={"os-extend": {"new_size": size}}, headers=VOLUME_VERSION)
        return ctx.redirect(back, f"Extending the volume to {size} GB.")
    if act == "snapshot":
        name = field_of(form, "snapshot_name") or f"snapshot-{volume_id[:8]}"
        await ctx.api.call("POST", f"{base}/snapshots", json={"snapshot": {
            "volume_id": volume_id, "name": name,
            "force": field_of(form, "force") == "yes"}}, headers=VOLUME_VERSION)
        return ctx.redirect(back, f"Snapshot {name} is being made.")
    return ctx.redirect(back, f"Unknown action {act!r}.", "error")


@router.post("/volumes/{volume_id}/delete")
async def delete(volume_id: str, request: Request) -> Response:
    ctx, base = await _volumes(request)
    await ctx.form()
    await ctx.api.call("DELETE", f"{base}/volumes/{volume_id}", headers=VOLUME_VERSION)
    return ctx.redirect("/volumes", "Deleting the volume.")


@router.post("/volumes/snapshots/{snapshot_id}/delete")
async def delete_snapshot(snapshot_id: str, request: Request) -> Response:
    ctx, base = await _volumes(request)
    await ctx.form()
    await ctx.api.call("DELETE", f"{base}/snapshots/{snapshot_id}", headers=VOLUME_VERSION)
    return ctx.redirect("/volumes", "Deleting the snapshot.")


async def attach(ctx: Console, server_id: str, volume_id: str) -> None:
    await ctx.api.post(f"{COMPUTE}/servers/{server_id}/os-volume_attachments",
                       {"volumeAttachment": {"volumeId": volume_id}})


async def detach(ctx: Console, server_id: str, volume_id: str) -> None:
    if not server_id:
        raise APIError(409, "The volume is not attached to an instance.")
    await ctx.api.delete(f"{COMPUTE}/servers/{server_id}/os-volume_attachments/{volume_id}")


async def of_server(ctx: Console, request: Request, server_id: str
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(attached, available) volumes for the instance page; none without Cinder."""
    if not has_volumes(request):
        return [], []
    base = f"{VOLUME}/{ctx.session.project_id}"
    attached, free = await asyncio.gather(
        ctx.api.get(f"{COMPUTE}/servers/{server_id}/os-volume_attachments"),
        _get(ctx, f"{base}/volumes/detail", status="available", limit=PAGE))
    return attached["volumeAttachments"], free["volumes"]
