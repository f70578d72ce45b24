"""Nova's deprecated image proxy: `/images` (up to 2.35; Nova answers 404 from 2.36)
and `/images/{id}/metadata` (up to 2.38). Each call is the image service's, made as
the caller; the translation is `compute.image_proxies`."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.image_proxies import ImageProxies, metadata
from overcast.compute.routes.base import JSON_BODY, Ctx, base_url, reply, router, service, version
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.schema import accepts

routes = router()


def _proxy(request: Request, until: str = "2.36") -> ImageProxies:
    """The proxy, when the version still has it (404 otherwise, as Nova answers)."""
    port = service(request).image
    if version(request).at_least(until) or port is None:
        raise NotFound("The resource could not be found.")
    image_base = f"{request.app.state.settings.base_url}/image"
    return ImageProxies(port, base_url(request), image_base)


def _list(request: Request, ctx: RequestContext, detail: bool) -> Response:
    proxy = _proxy(request)
    images = proxy.list_images(ctx, request.query_params)
    return reply(request, {"images": [proxy.view(i, detail) for i in images]})


@routes.get("/v2.1/images")
def list_images(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, ctx, False)


@routes.get("/v2.1/images/detail")
def list_images_detail(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, ctx, True)


@routes.get("/v2.1/images/{image_id}")
def show_image(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    proxy = _proxy(request)
    return reply(request, {"image": proxy.view(proxy.show(ctx, image_id))})


@routes.delete("/v2.1/images")
def delete_no_image(request: Request) -> Response:
    """DELETE /images/ (no id): Nova has no such route."""
    raise NotFound("The resource could not be found.")


@routes.delete("/v2.1/images/{image_id}")
def delete_image(image_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _proxy(request).delete(ctx, image_id)
    return reply(request, None, 204)


# ---------------------------------------------------------------- metadata
@routes.get("/v2.1/images/{image_id}/metadata")
def list_image_metadata(image_id: str, request: Request, ctx: RequestContext = Ctx
                        ) -> Response:
    image = _proxy(request, "2.39").show(ctx, image_id)
    return reply(request, {"metadata": metadata(image)})


@routes.post("/v2.1/images/{image_id}/metadata")
@accepts(body=schemas.METADATA_SET)
def update_image_metadata(image_id: str, request: Request, body: Any = JSON_BODY,
                          ctx: RequestContext = Ctx) -> Response:
    meta = _proxy(request, "2.39").set_metadata(ctx, image_id, body["metadata"], False)
    return reply(request, {"metadata": meta})


@routes.put("/v2.1/images/{image_id}/metadata")
@accepts(body=schemas.METADATA_SET)
def set_image_metadata(image_id: str, request: Request, body: Any = JSON_BODY,
                       ctx: RequestContext = Ctx) -> Response:
    meta = _proxy(request, "2.39").set_metadata(ctx, image_id, body["metadata"], True)
    return reply(request, {"metadata": meta})


@routes.get("/v2.1/images/{image_id}/metadata/{key}")
def show_image_metadata_item(image_id: str, key: str, request: Request,
                             ctx: RequestContext = Ctx) -> Response:
    meta = metadata(_proxy(request, "2.39").show(ctx, image_id))
    if key not in meta:
        raise NotFound("Invalid metadata key")
    return reply(request, {"meta": {key: meta[key]}})


@routes.put("/v2.1/images/{image_id}/metadata/{key}")
@accepts(body=schemas.META_ITEM)
def set_image_metadata_item(image_id: str, key: str, request: Request,
                            body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    proxy = _proxy(request, "2.39")
    if key not in body["meta"]:
        raise BadRequest("Request body and URI mismatch")
    proxy.set_metadata(ctx, image_id, body["meta"], False)
    return reply(request, {"meta": body["meta"]})


@routes.delete("/v2.1/images/{image_id}/metadata/{key}")
def delete_image_metadata_item(image_id: str, key: str, request: Request,
                               ctx: RequestContext = Ctx) -> Response:
    _proxy(request, "2.39").delete_item(ctx, image_id, key)
    return reply(request, None, 204)
