"""Glance v2 on the wire: /image/v2/images, data, members, tags, schemas, import, tasks
(the metadata definitions catalog's routes are `metadefs_api.py`).

Routes only: each parses the request, calls `app.state.images` (the domain
service, `service.py`) and answers with its view. Every JSON body and query
string is checked first against its request schema (`requests.py`, declared with
`@accepts`); the JSON-schema documents clients download are `schemas.py`, reply
shapes `views.py`. Blocking service calls of async routes
run on a worker thread; image data streams both ways without being buffered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from overcast.image import metadefs_api, schemas, views
from overcast.image import requests as req
from overcast.image.legacy_tasks import LegacyTasks
from overcast.image.metadefs import Metadefs
from overcast.image.object_store import ObjectImageStore
from overcast.image.service import ImageService, Quotas
from overcast.image.store import FilesystemStore, Store
from overcast.kit.body import is_json_type
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound, UnsupportedMediaType
from overcast.kit.http import direct_body
from overcast.kit.paging import parse_limit
from overcast.kit.schema import accepts
from overcast.kit.web import ServiceSpec, get_context, json_response

router = APIRouter()
Ctx = Depends(get_context)

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
#: The first patch media type (JSON-patch draft 4), which Glance still accepts.
PATCH_TYPE_V20 = "application/openstack-images-v2.0-json-patch"
VERSIONS = views.VERSIONS


def _svc(request: Request) -> ImageService:
    svc: ImageService = request.app.state.images
    return svc


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/image"


@router.get("")
@router.get("/")
def root(request: Request) -> Response:
    return json_response(views.versions(_base(request)), 300)


@router.get("/versions")
def versions(request: Request) -> Response:
    return json_response(views.versions(_base(request)))


async def _parse(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("Body expected in request.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed JSON in request body.")


async def _json_body(request: Request) -> Any:
    """The parsed JSON body of a create, member or import request (415 for a body
    sent as anything but JSON, which the door would not have checked)."""
    ctype = request.headers.get("content-type", "")
    if not is_json_type(ctype):
        raise UnsupportedMediaType(f"Unsupported Content-Type {ctype.split(';')[0]}: "
                                   "this request's body is JSON, sent as application/json.")
    return await _parse(request)


async def _patch_body(request: Request) -> Any:
    """The parsed JSON patch of an image update, in the v2.1 form ({"op", "path",
    "value"}) whichever of Glance's two patch media types it came as; Glance answers
    415 to any other type."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype not in (PATCH_TYPE, PATCH_TYPE_V20):
        raise UnsupportedMediaType(f"Unsupported Content-Type {ctype or '(none)'}: image "
                                   f"updates are JSON patches sent as {PATCH_TYPE}.",
                                   headers={"Accept-Patch": f"{PATCH_TYPE}, {PATCH_TYPE_V20}"})
    body = await _parse(request)
    if ctype == PATCH_TYPE_V20 and isinstance(body, list):
        return [_from_v20(op) for op in body]
    return body


def _from_v20(op: Any) -> Any:
    """One operation of the older (draft 4) patch form, where the operation's name is
    the key of its path (`{"replace": "/name", "value": "x"}`), in the v2.1 form. The
    form still in use by Tempest's image client; refused in Glance's words when it
    names no operation or more than one."""
    if not isinstance(op, dict):
        return op  # the schema refuses it as it refuses any non-object operation
    kinds = [k for k in ("add", "remove", "replace") if k in op]
    if len(kinds) > 1:
        raise BadRequest('Operation objects must contain only one member named "add", '
                         '"remove", or "replace".')
    if not kinds:
        raise BadRequest('Operation objects must contain exactly one member named "add", '
                         '"remove", or "replace".')
    out = {"op": kinds[0], "path": op[kinds[0]]}
    if "value" in op:
        out["value"] = op["value"]
    return out


JsonBody = Depends(_json_body)
PatchBody = Depends(_patch_body)


# ------------------------------------------------------------------ images
@router.get("/v2/images")
@accepts(query=req.IMAGE_LIST_QUERY)
def list_images(request: Request, ctx: RequestContext = Ctx) -> Response:
    q = request.query_params
    limit = parse_limit(q.get("limit"), default=25, maximum=1000) or 0
    if q.get("limit") == "0":
        limit = 0
    images, more = _svc(request).list_images(ctx, list(q.multi_items()), limit=limit or 25,
                                             marker=q.get("marker"))
    if limit == 0:
        images, more = [], False
    return json_response(views.image_list(images, more, q.multi_items()))


@router.post("/v2/images")
@accepts(body=req.IMAGE)
async def create_image(request: Request, ctx: RequestContext = Ctx,
                       body: Any = JsonBody) -> Response:
    image = await asyncio.to_thread(_svc(request).create, ctx, body)
    return json_response(image, 201, headers={
        "Location": f"{_base(request)}/v2/images/{image['id']}"})


@router.get("/v2/images/{image_id}")
def show_image(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response(_svc(request).show(ctx, image_id))


@router.api_route("/v2/images/", methods=["GET", "HEAD", "PATCH", "DELETE"],
                  include_in_schema=False)
def image_without_id(request: Request, ctx: RequestContext = Ctx) -> Response:
    """An image path with an empty id names no image: 404, as Glance answers, rather
    than the redirect to the collection that a trailing slash would otherwise get
    (which would turn a show of image "" into a listing)."""
    raise NotFound("The resource could not be found.")


@router.patch("/v2/images/{image_id}")
@accepts(body=req.IMAGE_PATCH)
async def update_image(image_id: str, request: Request, ctx: RequestContext = Ctx,
                       body: Any = PatchBody) -> Response:
    image = await asyncio.to_thread(_svc(request).update, ctx, image_id, body)
    return json_response(image)


@router.delete("/v2/images/{image_id}", status_code=204)
def delete_image(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).delete(ctx, image_id)
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/deactivate", status_code=204)
def deactivate(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).set_active(ctx, image_id, False)
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/reactivate", status_code=204)
def reactivate(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).set_active(ctx, image_id, True)
    return Response(status_code=204)


# ------------------------------------------------------------------ tags
@router.put("/v2/images/{image_id}/tags/{tag}", status_code=204)
def add_tag(image_id: str, tag: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    req.TAG.check(tag)  # Glance checks a new tag as the image's {"tags": [tag]}
    _svc(request).add_tag(ctx, image_id, tag)
    return Response(status_code=204)


@router.delete("/v2/images/{image_id}/tags/{tag}", status_code=204)
def delete_tag(image_id: str, tag: str, request: Request, ctx: RequestContext = Ctx
               ) -> Response:
    try:
        req.TAG.check(tag)
    except BadRequest:  # no image holds such a tag
        raise NotFound(f"Tag {tag[:255]} not found") from None
    _svc(request).delete_tag(ctx, image_id, tag)
    return Response(status_code=204)


# ------------------------------------------------------------------ data
def _declared_size(request: Request) -> int | None:
    raw = request.headers.get("x-openstack-image-size") or request.headers.get(
        "content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid image size {raw!r}.")


async def _receive(request: Request, staging: bool, image_id: str,
                   ctx: RequestContext) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype and ctype != "application/octet-stream":
        raise UnsupportedMediaType(f"Unsupported Content-Type {ctype}: image data is sent "
                                   "as application/octet-stream.")
    chunks: AsyncIterator[bytes] = request.stream()
    await _svc(request).upload(ctx, image_id, chunks, _declared_size(request),
                               staging=staging, direct=direct_body(request.scope))
    return Response(status_code=204)


@router.put("/v2/images/{image_id}/file", status_code=204)
async def upload(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return await _receive(request, False, image_id, ctx)


@router.put("/v2/images/{image_id}/stage", status_code=204)
async def stage(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return await _receive(request, True, image_id, ctx)


@router.post("/v2/images/{image_id}/import", status_code=202)
@accepts(body=req.IMPORT)
async def import_image(image_id: str, request: Request, ctx: RequestContext = Ctx,
                       body: Any = JsonBody) -> Response:
    await asyncio.to_thread(_svc(request).import_image, ctx, image_id, body)
    return Response(status_code=202)


@router.get("/v2/images/{image_id}/tasks")
def image_tasks(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"tasks": _svc(request).image_tasks(ctx, image_id)})


@router.post("/v2/tasks", status_code=201)
async def create_task(request: Request, ctx: RequestContext = Ctx,
                      body: Any = JsonBody) -> Response:
    tasks: LegacyTasks = request.app.state.image_tasks
    return json_response(await asyncio.to_thread(tasks.create, ctx, body), 201)


@router.get("/v2/tasks")
def list_tasks(request: Request, ctx: RequestContext = Ctx) -> Response:
    tasks: LegacyTasks = request.app.state.image_tasks
    found = tasks.find(ctx, dict(request.query_params))
    return json_response({"tasks": found, "first": "/v2/tasks", "schema": "/v2/schemas/tasks"})


@router.get("/v2/tasks/{task_id}")
def show_task(task_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    tasks: LegacyTasks = request.app.state.image_tasks
    return json_response(tasks.show(ctx, task_id))


@router.get("/v2/images/{image_id}/file")
def download(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    view, chunks, span = _svc(request).open_data(ctx, image_id,
                                                 request.headers.get("range"))
    if chunks is None:
        return Response(status_code=204)
    size = int(view["size"])
    headers = {"Content-Type": "application/octet-stream"}
    if view.get("checksum"):
        headers["Content-MD5"] = view["checksum"]
    if span is not None:
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        return StreamingResponse(chunks, status_code=206, headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(chunks, status_code=200, headers=headers)


# ------------------------------------------------------------------ members
@router.get("/v2/images/{image_id}/members")
def list_members(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"members": _svc(request).members(ctx, image_id),
                          "schema": "/v2/schemas/members"})


@router.post("/v2/images/{image_id}/members")
@accepts(body=req.MEMBER_CREATE)
async def add_member(image_id: str, request: Request, ctx: RequestContext = Ctx,
                     body: Any = JsonBody) -> Response:
    out = await asyncio.to_thread(_svc(request).add_member, ctx, image_id, body["member"])
    return json_response(out)


@router.get("/v2/images/{image_id}/members/{member_id}")
def show_member(image_id: str, member_id: str, request: Request,
                ctx: RequestContext = Ctx) -> Response:
    return json_response(_svc(request).get_member(ctx, image_id, member_id))


@router.put("/v2/images/{image_id}/members/{member_id}")
@accepts(body=req.MEMBER_UPDATE)
async def update_member(image_id: str, member_id: str, request: Request,
                        ctx: RequestContext = Ctx, body: Any = JsonBody) -> Response:
    out = await asyncio.to_thread(_svc(request).update_member, ctx, image_id, member_id,
                                  body["status"])
    return json_response(out)


@router.delete("/v2/images/{image_id}/members/{member_id}", status_code=204)
def delete_member(image_id: str, member_id: str, request: Request,
                  ctx: RequestContext = Ctx) -> Response:
    _svc(request).delete_member(ctx, image_id, member_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ info, schemas
@router.get("/v2/info/import")
def info_import(request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": ["glance-direct"]}})


@router.get("/v2/info/stores")
def info_stores(request: Request, ctx: RequestContext = Ctx) -> Response:
    name = request.app.state.images.store.name
    about = ("Object store (the Swift API's store)" if name == "swift"
             else "Filesystem store in the data dir")
    return json_response({"stores": [{"id": name, "default": True, "description": about}]})


@router.get("/v2/schemas/image")
def schema_image(request: Request) -> Response:
    return json_response(schemas.image_schema())


@router.get("/v2/schemas/images")
def schema_images(request: Request) -> Response:
    return json_response(schemas.images_schema())


@router.get("/v2/schemas/member")
def schema_member(request: Request) -> Response:
    return json_response(schemas.member_schema())


@router.get("/v2/schemas/members")
def schema_members(request: Request) -> Response:
    return json_response(schemas.members_schema())


def setup(app: FastAPI) -> None:
    settings = app.state.settings
    store: Store
    if settings.image_store == "object":
        store = ObjectImageStore(lambda: app.state.object_store,
                                 settings.data_dir / "images" / "object-cache")
    elif settings.image_store == "file":
        store = FilesystemStore(settings.data_dir / "images")
    else:
        raise ValueError(f"image_store must be 'file' or 'object', not "
                         f"{settings.image_store!r}")
    svc = ImageService(app.state.db, store, Quotas(count=settings.image_quota_count,
                                                   bytes=settings.image_quota_bytes))
    app.state.images = svc
    app.state.image_tasks = LegacyTasks(app.state.db, svc, settings.data_dir / "image-tasks",
                                        settings.image_quota_bytes)
    app.state.metadefs = Metadefs(app.state.db)

    async def start(app: FastAPI) -> None:
        await asyncio.to_thread(svc.recover)

    app.state.specs.append(ServiceSpec(
        name="glance", type="image", prefix="/image", error_style="glance",
        endpoint_path="/image", routers=[router, metadefs_api.router],
        on_engine_start=[start],
        raw_body_paths=[r"/v2/images/[^/]+/(?:file|stage)"]))
