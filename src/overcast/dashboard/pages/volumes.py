"""Volumes (when the catalog has block storage): list, create, delete.

Cinder's v3 API is per project (`/volume/v3/{project_id}/volumes`). Attaching a
volume to an instance waits for compute's side of attachments; until then the page
shows where a volume is attached but offers no attach button.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.dashboard.client import VOLUME
from overcast.dashboard.web import Console, Refused, console, field_of, services

router = APIRouter()
PAGE = 100


async def _volumes(request: Request) -> tuple[Console, str]:
    ctx = await console(request)
    if not {"block-storage", "volumev3"} & services(request):
        raise Refused(404, "This cloud has no block storage.")
    return ctx, f"{VOLUME}/{ctx.session.project_id}/volumes"


@router.get("/volumes")
async def volumes(request: Request) -> Response:
    ctx, base = await _volumes(request)
    marker = request.query_params.get("marker") or None
    listed = (await ctx.api.get(f"{base}/detail", limit=PAGE, marker=marker))["volumes"]
    return ctx.render("volumes.html", volumes=listed, marker=marker,
                      next_marker=listed[-1]["id"] if len(listed) == PAGE else None)


@router.post("/volumes/new")
async def create(request: Request) -> Response:
    ctx, base = await _volumes(request)
    form = await ctx.form()
    size = field_of(form, "size", "1")
    if not size.isdigit() or int(size) < 1:
        return ctx.redirect("/volumes", "The size is a whole number of GB, at least 1.",
                            "error")
    name = field_of(form, "name")
    await ctx.api.post(base, {"volume": {"name": name, "size": int(size)}})
    return ctx.redirect("/volumes", f"Creating volume {name}.")


@router.post("/volumes/{volume_id}/delete")
async def delete(volume_id: str, request: Request) -> Response:
    ctx, base = await _volumes(request)
    await ctx.form()
    await ctx.api.delete(f"{base}/{volume_id}")
    return ctx.redirect("/volumes", "Deleting the volume.")
