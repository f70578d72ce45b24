"""Routes of /resource_providers: create, list (filtered), show, update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.schema import accepts
from overcast.placement import views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import common
from overcast.placement.schemas import resource_provider as schema
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.post("/resource_providers")
@accepts(body=schema.CREATE)
def create_resource_provider(request: Request, body: Any = JSON_BODY) -> Response:
    v = VERSIONS.of(request)
    data = schema.provider(body)
    p = placement(request).create_provider(data["name"], data.get("uuid"),
                                           data.get("parent_uuid"))
    loc = views.provider_location(p["uuid"])
    if v.at_least("1.20"):
        return VERSIONS.reply(request, views.provider(v, p), 200, loc)
    return VERSIONS.reply(request, None, 201, loc)


@router.get("/resource_providers")
@accepts(query=schema.LIST_QUERY)
def list_resource_providers(request: Request) -> Response:
    common.check_query(schema.LIST_QUERIES, request)
    v = VERSIONS.of(request)
    filters = schema.filters(v, request.query_params)
    rps = placement(request).list_providers_filtered(**filters)
    return VERSIONS.reply(request, {"resource_providers": [views.provider(v, r) for r in rps]})


@router.get("/resource_providers/{uuid}")
def get_resource_provider(uuid: str, request: Request) -> Response:
    rp = placement(request).get_provider(uuid)
    return VERSIONS.reply(request, views.provider(VERSIONS.of(request), rp))


@router.put("/resource_providers/{uuid}")
@accepts(body=schema.UPDATE)
def update_resource_provider(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    v = VERSIONS.of(request)
    data = schema.provider(body)
    rp = placement(request).update_provider(uuid, data["name"], data.get("parent_uuid", ...))
    return VERSIONS.reply(request, views.provider(v, rp))


@router.delete("/resource_providers/{uuid}")
def delete_resource_provider(uuid: str, request: Request) -> Response:
    placement(request).delete_provider(uuid)
    return VERSIONS.reply(request, None, 204)
