"""Images: list, upload with a progress bar, edit properties, share, delete.

An upload is two requests from the page's script: `POST /images/new` creates the
image record (Glance's `POST /v2/images`), then the file goes as the raw body of
`POST /images/{id}/upload`, which the console streams chunk by chunk into Glance's
`PUT /v2/images/{id}/file` (the token stays on the server, and nothing holds the
whole file in memory). The browser's upload progress events drive the bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from overcast.dashboard.client import IMAGE, APIError
from overcast.dashboard.web import console, field_of

router = APIRouter()
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
#: Properties the edit form shows as their own fields (the rest are free key=value).
CORE = ("name", "visibility", "min_disk", "min_ram", "protected")
#: Glance's read-only and base fields, never offered as custom properties.
BASE = {"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size",
        "created_at", "updated_at", "owner", "file", "schema", "self", "tags", "locations",
        "direct_url", "disk_format", "container_format", "stores", "os_hidden", *CORE}
PAGE = 100


@router.get("/images")
async def images(request: Request) -> Response:
    ctx = await console(request)
    marker = request.query_params.get("marker") or None
    body = await ctx.api.get(f"{IMAGE}/images", limit=PAGE, marker=marker)
    listed = body["images"]
    return ctx.render("images.html", images=listed, marker=marker,
                      next_marker=listed[-1]["id"] if len(listed) == PAGE else None)


@router.post("/images/new")
async def create(request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    body = {"name": field_of(form, "name"), "disk_format": field_of(form, "disk_format", "raw"),
            "container_format": field_of(form, "container_format", "bare"),
            "visibility": field_of(form, "visibility", "private")}
    try:
        made = await ctx.api.post(f"{IMAGE}/images", body)
    except APIError as exc:
        return JSONResponse({"message": exc.message}, status_code=exc.status)
    return JSONResponse({"id": made["id"], "upload": f"/images/{made['id']}/upload"},
                        status_code=201)


@router.post("/images/{image_id}/upload")
async def upload(image_id: str, request: Request) -> Response:
    ctx = await console(request)
    ctx.check_csrf_header()

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    headers = {"Content-Type": "application/octet-stream"}
    if length := request.headers.get("content-length"):
        headers["Content-Length"] = length
    try:
        await ctx.api.call("PUT", f"{IMAGE}/images/{image_id}/file", content=chunks(),
                           headers=headers)
    except APIError as exc:
        return JSONResponse({"message": exc.message}, status_code=exc.status)
    return JSONResponse({"next": f"/images/{image_id}"})


@router.get("/images/{image_id}")
async def detail(image_id: str, request: Request) -> Response:
    ctx = await console(request)
    image, members = await asyncio.gather(
        ctx.api.get(f"{IMAGE}/images/{image_id}"), _members(ctx.api, image_id))
    custom = {k: v for k, v in image.items() if k not in BASE}
    return ctx.render("image.html", image=image, custom=custom, members=members)


async def _members(api: Any, image_id: str) -> list[dict[str, Any]]:
    try:
        return list((await api.get(f"{IMAGE}/images/{image_id}/members"))["members"])
    except APIError:
        return []  # not shared (Glance refuses the list for a non-shared image)


@router.post("/images/{image_id}/edit")
async def edit(image_id: str, request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    image = await ctx.api.get(f"{IMAGE}/images/{image_id}")
    ops: list[dict[str, Any]] = []
    for key in ("name", "visibility"):
        value = field_of(form, key)
        if value and value != image.get(key):
            ops.append({"op": "replace", "path": f"/{key}", "value": value})
    for key in ("min_disk", "min_ram"):
        raw = field_of(form, key, "0") or "0"
        if not raw.isdigit():
            return ctx.redirect(f"/images/{image_id}", f"{key} must be a whole number.",
                                "error")
        if int(raw) != image.get(key):
            ops.append({"op": "replace", "path": f"/{key}", "value": int(raw)})
    wanted: dict[str, str] = {}
    for line in (form.get("properties") or [""])[0].splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            if k.strip():
                wanted[k.strip()] = v.strip()
    current = {k: v for k, v in image.items() if k not in BASE}
    for k, v in wanted.items():
        if current.get(k) != v:
            ops.append({"op": "add" if k not in current else "replace", "path": f"/{k}",
                        "value": v})
    ops += [{"op": "remove", "path": f"/{k}"} for k in current if k not in wanted]
    if ops:
        await ctx.api.call("PATCH", f"{IMAGE}/images/{image_id}", json=ops,
                           headers={"Content-Type": PATCH_TYPE})
    return ctx.redirect(f"/images/{image_id}", "Image saved." if ops else "Nothing changed.")


@router.post("/images/{image_id}/share")
async def share(image_id: str, request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    member = field_of(form, "project_id")
    await ctx.api.post(f"{IMAGE}/images/{image_id}/members", {"member": member})
    return ctx.redirect(f"/images/{image_id}", f"Shared with project {member}.")


@router.post("/images/{image_id}/delete")
async def delete(image_id: str, request: Request) -> Response:
    ctx = await console(request)
    await ctx.form()
    await ctx.api.delete(f"{IMAGE}/images/{image_id}")
    return ctx.redirect("/images", "Image deleted.")
