"""`/servers/{id}/tags` (from 2.26): list, replace, delete all; and one tag: check
(204/404), add (201 with Location, or 204 when there), delete (`compute.server_tags`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.routes.base import JSON_BODY, VERSIONS, Ctx, reply, router, service
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest
from overcast.kit.schema import Schema, accepts

routes = router()
T = "/v2.1/servers/{uuid}/tags"
#: Nova's update_all: the whole list, at most 50 tags
TAGS_BODY = Schema({"type": "object", "properties": {"tags": {
    "type": "array", "items": schemas.TAG, "maxItems": 50}}, "required": ["tags"],
    "additionalProperties": False}, "nova")
_TAG = Schema(schemas.TAG, "nova")
#: adding one tag takes no body (whatever comes is ignored, as Nova ignores it)
NO_BODY = Schema({}, "nova")


def _tag(tag: str) -> str:
    try:
        _TAG.check(tag)
    except BadRequest as exc:
        raise BadRequest(f"Tag '{tag}' is invalid. It must be a non empty string without "
                         f"characters '/' and ','. Validation error message: {exc}") from None
    return tag


@routes.get(T)
def list_tags(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.26")
    return reply(request, {"tags": service(request).tags.names(ctx, uuid)})


@routes.put(T)
@accepts(body=TAGS_BODY)
def replace_tags(uuid: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.26")
    return reply(request, {"tags": service(request).tags.replace(ctx, uuid, body["tags"])})


@routes.delete(T)
def delete_tags(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.26")
    service(request).tags.remove(ctx, uuid, None)
    return reply(request, None, 204)


@routes.get(T + "/{tag}")
def check_tag(uuid: str, tag: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.26")
    service(request).tags.has(ctx, uuid, tag)
    return reply(request, None, 204)


@routes.put(T + "/{tag}")
@accepts(body=NO_BODY)
def add_tag(uuid: str, tag: str, request: Request, body: Any = JSON_BODY,
            ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.26")
    if not service(request).tags.add(ctx, uuid, _tag(tag)):
        return reply(request, None, 204)
    location = f"{request.app.state.settings.base_url}/compute/v2.1/servers/{uuid}/tags/{tag}"
    return reply(request, None, 201, headers={"Location": location})


@routes.delete(T + "/{tag}")
def delete_tag(uuid: str, tag: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.26")
    service(request).tags.remove(ctx, uuid, tag)
    return reply(request, None, 204)
