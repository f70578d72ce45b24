"""A server's tags (`/servers/{id}/tags`, from 2.26): list, replace, clear, and one
tag's check, add and removal. The work is `compute.server_tags.ServerTags`'."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    base_url,
    reply,
    router,
    service,
)
from overcast.compute.server_tags import ServerTags
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest
from overcast.kit.schema import accepts

routes = router()
PATH = "/v2.1/servers/{uuid}/tags"
_TAG = re.compile(r"^[^,/]{1,60}$")


def _tags(request: Request) -> ServerTags:
    VERSIONS.require(request, "2.26")
    return ServerTags(service(request))


@routes.get(PATH)
def list_tags(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"tags": _tags(request).tags(ctx, uuid)})


@routes.put(PATH)
@accepts(body=schemas.SERVER_TAGS_SET)
def replace_tags(uuid: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"tags": _tags(request).replace(ctx, uuid, body["tags"])})


@routes.delete(PATH)
def delete_tags(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _tags(request).remove(ctx, uuid, None)
    return reply(request, None, 204)


@routes.get(PATH + "/{tag}")
def check_tag(uuid: str, tag: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _tags(request).has(ctx, uuid, tag)
    return reply(request, None, 204)


@routes.put(PATH + "/{tag}")
@accepts(body=schemas.SERVER_TAG_ADD)
def add_tag(uuid: str, tag: str, request: Request, body: Any = JSON_BODY,
            ctx: RequestContext = Ctx) -> Response:
    tags = _tags(request)
    if not _TAG.match(tag):
        raise BadRequest(f"Tag '{tag}' is invalid. It must be a non empty string without "
                         f"characters '/' and ','.")
    if not tags.add(ctx, uuid, tag):
        return reply(request, None, 204)
    location = f"{base_url(request)}/v2.1/servers/{uuid}/tags/{tag}"
    return reply(request, None, 201, headers={"Location": location})


@routes.delete(PATH + "/{tag}")
def delete_tag(uuid: str, tag: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _tags(request).remove(ctx, uuid, tag)
    return reply(request, None, 204)
