"""Glance v2 on the wire: /image/v2/images, data, members, tags, schemas, import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from overcast.image.inspect import CONTAINER_FORMATS, DISK_FORMATS
from overcast.image.service import ImageService, Quotas
from overcast.image.store import FilesystemStore
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, UnsupportedMediaType
from overcast.kit.paging import parse_limit
from overcast.kit.web import ServiceSpec, get_context, json_response

router = APIRouter()
Ctx = Depends(get_context)

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
VERSIONS = [f"2.{n}" for n in range(17, -1, -1)]


def _svc(request: Request) -> ImageService:
    svc: ImageService = request.app.state.images
    return svc


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/image"


def _versions(request: Request) -> dict[str, Any]:
    return {"versions": [
        {"id": f"v{v}", "status": "CURRENT" if i == 0 else "SUPPORTED",
         "links": [{"rel": "self", "href": f"{_base(request)}/v2/"}]}
        for i, v in enumerate(VERSIONS)]}


@router.get("")
@router.get("/")
def root(request: Request) -> Response:
    return json_response(_versions(request), 300)


@router.get("/versions")
def versions(request: Request) -> Response:
    return json_response(_versions(request))


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise BadRequest("Request body is required: a JSON document.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed JSON in request body.")


# ------------------------------------------------------------------ images
@router.get("/v2/images")
def list_images(request: Request, ctx: RequestContext = Ctx) -> Response:
    q = request.query_params
    limit = parse_limit(q.get("limit"), default=25, maximum=1000) or 0
    if q.get("limit") == "0":
        limit = 0
    images, more = _svc(request).list_images(ctx, list(q.multi_items()), limit=limit or 25,
                                      marker=q.get("marker"))
    if limit == 0:
        images, more = [], False
    params = [(k, v) for k, v in q.multi_items() if k != "marker"]
    from urllib.parse import urlencode

    first = "/v2/images" + (f"?{urlencode(params)}" if params else "")
    body: dict[str, Any] = {"images": images, "schema": "/v2/schemas/images", "first": first}
    if more and images:
        body["next"] = "/v2/images?" + urlencode([*params, ("marker", images[-1]["id"])])
    return json_response(body)


@router.post("/v2/images")
async def create_image(request: Request, ctx: RequestContext = Ctx) -> Response:
    body = await _json(request)
    image = await asyncio.to_thread(_svc(request).create, ctx, body)
    return json_response(image, 201, headers={
        "Location": f"{_base(request)}/v2/images/{image['id']}"})


@router.get("/v2/images/{image_id}")
def show_image(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response(_svc(request).show(ctx, image_id))


@router.patch("/v2/images/{image_id}")
async def update_image(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype != PATCH_TYPE:
        raise UnsupportedMediaType(f"Unsupported Content-Type {ctype or '(none)'}: image "
                                   f"updates are JSON patches sent as {PATCH_TYPE}.")
    ops = await _json(request)
    image = await asyncio.to_thread(_svc(request).update, ctx, image_id, ops)
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


@router.put("/v2/images/{image_id}/tags/{tag}", status_code=204)
def add_tag(image_id: str, tag: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    svc = _svc(request)
    tags = svc.show(ctx, image_id)["tags"]
    if tag not in tags:
        svc.update(ctx, image_id, [{"op": "replace", "path": "/tags", "value": [*tags, tag]}])
    return Response(status_code=204)


@router.delete("/v2/images/{image_id}/tags/{tag}", status_code=204)
def delete_tag(image_id: str, tag: str, request: Request, ctx: RequestContext = Ctx
               ) -> Response:
    svc = _svc(request)
    tags = svc.show(ctx, image_id)["tags"]
    if tag not in tags:
        from overcast.kit.errors import NotFound

        raise NotFound(f"Tag {tag} not found")
    svc.update(ctx, image_id, [{"op": "replace", "path": "/tags",
                                "value": [t for t in tags if t != tag]}])
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
                               staging=staging)
    return Response(status_code=204)


@router.put("/v2/images/{image_id}/file", status_code=204)
async def upload(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return await _receive(request, False, image_id, ctx)


@router.put("/v2/images/{image_id}/stage", status_code=204)
async def stage(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return await _receive(request, True, image_id, ctx)


@router.post("/v2/images/{image_id}/import", status_code=202)
async def import_image(image_id: str, request: Request, ctx: RequestContext = Ctx
                       ) -> Response:
    body = await _json(request)
    await asyncio.to_thread(_svc(request).import_image, ctx, image_id, body)
    return Response(status_code=202)


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
async def add_member(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    body = await _json(request)
    member = body.get("member") if isinstance(body, dict) else None
    out = await asyncio.to_thread(_svc(request).add_member, ctx, image_id, member)
    return json_response(out)


@router.get("/v2/images/{image_id}/members/{member_id}")
def show_member(image_id: str, member_id: str, request: Request,
                ctx: RequestContext = Ctx) -> Response:
    return json_response(_svc(request).get_member(ctx, image_id, member_id))


@router.put("/v2/images/{image_id}/members/{member_id}")
async def update_member(image_id: str, member_id: str, request: Request,
                        ctx: RequestContext = Ctx) -> Response:
    body = await _json(request)
    status = body.get("status") if isinstance(body, dict) else None
    out = await asyncio.to_thread(_svc(request).update_member, ctx, image_id, member_id,
                                  status)
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
    return json_response({"stores": [{"id": "file", "default": True,
                                      "description": "Filesystem store in the data dir"}]})


def image_schema() -> dict[str, Any]:
    def s(t: Any, desc: str, **kw: Any) -> dict[str, Any]:
        return {"type": t, "description": desc, **kw}

    ro = {"readOnly": True}
    return {
        "name": "image", "additionalProperties": {"type": "string"},
        "properties": {
            "id": s("string", "An identifier for the image",
                    pattern="^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                            "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"),
            "name": s(["null", "string"], "Descriptive name for the image", maxLength=255),
            "status": s("string", "Status of the image", **ro,
                        enum=["queued", "saving", "active", "killed", "deleted", "uploading",
                              "importing", "pending_delete", "deactivated"]),
            "visibility": s("string", "Scope of image accessibility",
                            enum=["community", "public", "private", "shared"]),
            "protected": s("boolean", "If true, image will not be deletable."),
            "os_hidden": s("boolean", "If true, image will not appear in default image list "
                                      "response."),
            "checksum": s(["null", "string"], "md5 hash of image contents.", **ro,
                          maxLength=32),
            "os_hash_algo": s(["null", "string"], "Algorithm to calculate the os_hash_value",
                              **ro, maxLength=64),
            "os_hash_value": s(["null", "string"], "Hexdigest of the image contents using "
                               "the algorithm specified by the os_hash_algo", **ro,
                               maxLength=128),
            "owner": s(["null", "string"], "Owner of the image", maxLength=255),
            "size": s(["null", "integer"], "Size of image file in bytes", **ro),
            "virtual_size": s(["null", "integer"], "Virtual size of image in bytes", **ro),
            "container_format": s(["null", "string"], "Format of the container",
                                  enum=[None, *CONTAINER_FORMATS]),
            "disk_format": s(["null", "string"], "Format of the disk",
                             enum=[None, *DISK_FORMATS]),
            "created_at": s("string", "Date and time of image registration", **ro),
            "updated_at": s("string", "Date and time of the last image modification", **ro),
            "tags": s("array", "List of strings related to the image",
                      items={"type": "string", "maxLength": 255}),
            "direct_url": s("string", "URL to access the image file kept in external store",
                            **ro),
            "min_ram": s("integer", "Amount of ram (in MB) required to boot image."),
            "min_disk": s("integer", "Amount of disk space (in GB) required to boot image."),
            "self": s("string", "An image self url", **ro),
            "file": s("string", "An image file url", **ro),
            "stores": s("string", "Store in which image data resides.", **ro),
            "schema": s("string", "An image schema url", **ro),
            "locations": s("array", "A set of URLs to access the image file kept in "
                                    "external store", items={"type": "object"}),
            "kernel_id": s(["null", "string"], "ID of image stored in Glance that should be "
                           "used as the kernel when booting an AMI-style image.",
                           is_base=False),
            "ramdisk_id": s(["null", "string"], "ID of image stored in Glance that should "
                            "be used as the ramdisk when booting an AMI-style image.",
                            is_base=False),
            "os_distro": s("string", "Common name of operating system distribution",
                           is_base=False),
            "os_version": s("string", "Operating system version as specified by the "
                                      "distributor", is_base=False),
            "architecture": s("string", "Operating system architecture", is_base=False),
            "hypervisor_type": s("string", "Hypervisor type required by the image",
                                 is_base=False),
        },
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def member_schema() -> dict[str, Any]:
    return {"name": "member", "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member "
                                                         "creation"},
        "image_id": {"type": "string", "description": "An identifier for the image"},
        "member_id": {"type": "string", "description": "An identifier for the image member "
                                                       "(tenantId)"},
        "schema": {"type": "string", "readOnly": True},
        "status": {"type": "string", "description": "The status of this image member",
                   "enum": ["pending", "accepted", "rejected"]},
        "updated_at": {"type": "string", "description": "Date and time of last modification "
                                                         "of image member"}}}


@router.get("/v2/schemas/image")
def schema_image(request: Request) -> Response:
    return json_response(image_schema())


@router.get("/v2/schemas/images")
def schema_images(request: Request) -> Response:
    return json_response({
        "name": "images", "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"}, "first": {"type": "string"},
            "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]})


@router.get("/v2/schemas/member")
def schema_member(request: Request) -> Response:
    return json_response(member_schema())


@router.get("/v2/schemas/members")
def schema_members(request: Request) -> Response:
    return json_response({"name": "members", "properties": {
        "members": {"type": "array", "items": member_schema()},
        "schema": {"type": "string"}},
        "links": [{"rel": "schema", "href": "{schema}"}]})


def setup(app: FastAPI) -> None:
    settings = app.state.settings
    store = FilesystemStore(settings.data_dir / "images")
    svc = ImageService(app.state.db, store, Quotas(count=settings.image_quota_count,
                                                   bytes=settings.image_quota_bytes))
    app.state.images = svc

    async def start(app: FastAPI) -> None:
        await asyncio.to_thread(svc.recover)

    app.state.specs.append(ServiceSpec(
        name="glance", type="image", prefix="/image", error_style="glance",
        endpoint_path="/image", routers=[router], on_startup=[start],
        raw_body_paths=[r"/v2/images/[^/]+/(?:file|stage)"]))
