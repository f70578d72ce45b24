"""Object storage (when the catalog has it): containers and their objects.

The project's Swift account is `/object/v1/AUTH_<project_id>`. The containers page
lists, creates and deletes containers; a container's page shows whether anyone may
read it (Swift's `X-Container-Read: .r:*,.rlistings`, the same switch Horizon's
"public container" flips) and lists its objects one level at a time: names are
split on "/" into pseudo-folders with Swift's own `delimiter`/`prefix` listing, as
`openstack object list --delimiter /` does.

An upload is one request from the page's script: the file is the raw body of
`POST /containers/{name}/upload?name=...`, which the console streams chunk by chunk
into Swift's `PUT` (the browser's upload progress drives the bar; nothing holds the
whole file). A download streams Swift's answer back the same way (`API.stream`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from overcast.dashboard.client import OBJECT, APIError
from overcast.dashboard.web import Console, Refused, console, field_of, harden, services

router = APIRouter()
PAGE = 500
#: The read ACL of a public container: anyone may read its objects and list it.
PUBLIC_READ = ".r:*,.rlistings"
#: Headers of an object passed on to the browser with a download.
PASSED = ("content-type", "content-length", "etag", "last-modified")


async def _objects(request: Request) -> tuple[Console, str]:
    ctx = await console(request)
    if "object-store" not in services(request):
        raise Refused(404, "This cloud has no object storage.")
    return ctx, f"{OBJECT}/AUTH_{ctx.session.project_id}"


def _q(name: str) -> str:
    return quote(name, safe="/")


@router.get("/containers")
async def containers(request: Request) -> Response:
    ctx, account = await _objects(request)
    marker = request.query_params.get("marker") or None
    listed = await ctx.api.get(account, format="json", limit=PAGE, marker=marker)
    return ctx.render("containers.html", containers=listed, account=account,
                      next_marker=listed[-1]["name"] if len(listed) == PAGE else None)


@router.post("/containers/new")
async def create(request: Request) -> Response:
    ctx, account = await _objects(request)
    form = await ctx.form()
    name = field_of(form, "name")
    if not name or "/" in name:
        return ctx.redirect("/containers", "A container's name is not empty and has no "
                                           "\"/\".", "error")
    headers = {"X-Container-Read": PUBLIC_READ} if field_of(form, "public") == "yes" else {}
    await ctx.api.call("PUT", f"{account}/{_q(name)}", headers=headers)
    return ctx.redirect(f"/containers/{_q(name)}", f"Container {name} created.")


@router.get("/containers/{name}")
async def container(name: str, request: Request) -> Response:
    ctx, account = await _objects(request)
    prefix = request.query_params.get("prefix") or ""
    marker = request.query_params.get("marker") or None
    url = f"{account}/{_q(name)}"
    r = await ctx.api.call("GET", url, params={
        "format": "json", "delimiter": "/", "prefix": prefix, "limit": PAGE,
        **({"marker": marker} if marker else {})})
    entries: list[dict[str, Any]] = r.json()
    read_acl = r.headers.get("x-container-read", "")
    folders = [e["subdir"] for e in entries if "subdir" in e]
    objects = [e for e in entries if "name" in e]
    crumbs, acc = [], ""
    for part in [p for p in prefix.split("/") if p]:
        acc += part + "/"
        crumbs.append((part, acc))
    last = entries[-1] if entries else {}
    return ctx.render(
        "container.html", container=name, prefix=prefix, folders=folders, objects=objects,
        crumbs=crumbs, public=".r:*" in read_acl, read_acl=read_acl,
        count=r.headers.get("x-container-object-count", "0"),
        used=int(r.headers.get("x-container-bytes-used", "0") or 0),
        public_url=f"{request.base_url}{url.lstrip('/')}",
        next_marker=(last.get("name") or last.get("subdir")) if len(entries) == PAGE
        else None)


@router.post("/containers/{name}/public")
async def public(name: str, request: Request) -> Response:
    """Let anyone read the container (and list it), or only the project again."""
    ctx, account = await _objects(request)
    form = await ctx.form()
    make_public = field_of(form, "public") == "yes"
    headers = {"X-Container-Read": PUBLIC_READ} if make_public else \
        {"X-Remove-Container-Read": "x"}
    await ctx.api.call("POST", f"{account}/{_q(name)}", headers=headers)
    return ctx.redirect(f"/containers/{_q(name)}", "Anyone may now read the container."
                        if make_public else "Only the project may read the container now.")


@router.post("/containers/{name}/delete")
async def delete(name: str, request: Request) -> Response:
    ctx, account = await _objects(request)
    await ctx.form()
    await ctx.api.call("DELETE", f"{account}/{_q(name)}")
    return ctx.redirect("/containers", f"Container {name} deleted.")


@router.post("/containers/{name}/upload")
async def upload(name: str, request: Request) -> Response:
    """The raw body becomes object `?name=` (a path: "a/b.txt" lands in folder a/)."""
    ctx, account = await _objects(request)
    ctx.check_csrf_header()
    obj = request.query_params.get("name", "").lstrip("/")
    if not obj:
        return JSONResponse({"message": "The object needs a name."}, status_code=400)

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    headers = {"Content-Type": request.headers.get("x-object-type") or
               "application/octet-stream"}
    if length := request.headers.get("content-length"):
        headers["Content-Length"] = length
    try:
        await ctx.api.call("PUT", f"{account}/{_q(name)}/{_q(obj)}", content=chunks(),
                           headers=headers)
    except APIError as exc:
        return JSONResponse({"message": exc.message}, status_code=exc.status)
    folder = obj.rpartition("/")[0]
    nxt = f"/containers/{_q(name)}" + (f"?prefix={quote(folder + '/', safe='')}"
                                       if folder else "")
    return JSONResponse({"next": nxt, "name": obj}, status_code=201)


@router.get("/containers/{name}/download/{obj:path}")
async def download(name: str, obj: str, request: Request) -> Response:
    ctx, account = await _objects(request)
    found = await ctx.api.stream(f"{account}/{_q(name)}/{_q(obj)}")
    headers = {k: found.headers[k] for k in PASSED if k in found.headers}
    filename = obj.rpartition("/")[2] or "object"
    headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return harden(StreamingResponse(found.chunks(), headers=headers))


@router.post("/containers/{name}/delete-object")
async def delete_object(name: str, request: Request) -> Response:
    ctx, account = await _objects(request)
    form = await ctx.form()
    obj = field_of(form, "object")
    await ctx.api.call("DELETE", f"{account}/{_q(name)}/{_q(obj)}")
    folder = obj.rpartition("/")[0]
    back = f"/containers/{_q(name)}" + (f"?prefix={quote(folder + '/', safe='')}"
                                        if folder else "")
    return ctx.redirect(back, f"Object {obj} deleted.")
