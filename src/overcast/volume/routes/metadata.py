"""One metadata key of a volume or a snapshot (`.../metadata/{key}`: show, set,
delete): the same three routes for both resources, made here from the resource's
path and its domain part, as the network service makes its routes from a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.schema import accepts
from overcast.volume import errors, schemas
from overcast.volume.routes.base import JSON_BODY, Ctx, reply

#: The domain part that keeps a resource's metadata (`metadata`, `set_metadata`,
#: `delete_metadata`), from the request.
Part = Callable[[Request], Any]


def item_routes(routes: APIRouter, path: str, part: Part, label: str) -> None:
    """Add the metadata-item routes under `path` (which ends in `{resource_id}`);
    `label` names the resource in the not-found message ("Volume", "Snapshot")."""
    item = path + "/metadata/{key}"

    @routes.get(item)
    def get_metadata_item(project_id: str, resource_id: str, key: str, request: Request,
                          ctx: RequestContext = Ctx) -> Response:
        meta = part(request).metadata(ctx, resource_id)
        if key not in meta:
            raise errors.metadata_key_not_found(key, label, resource_id)
        return reply(request, {"meta": {key: meta[key]}})

    @routes.put(item)
    @accepts(body=schemas.METADATA_ITEM)
    def set_metadata_item(project_id: str, resource_id: str, key: str, request: Request,
                          body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
        if key not in body["meta"]:
            raise errors.invalid_input("Request body and URI mismatch")
        part(request).set_metadata(ctx, resource_id, body["meta"], replace=False)
        return reply(request, {"meta": body["meta"]})

    @routes.delete(item)
    def delete_metadata_item(project_id: str, resource_id: str, key: str, request: Request,
                             ctx: RequestContext = Ctx) -> Response:
        part(request).delete_metadata(ctx, resource_id, key)
        return reply(request, None, 200)
