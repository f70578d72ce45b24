"""Routes of a provider's aggregates (1.1; generations in the body from 1.19)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.placement import schemas, views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/resource_providers/{uuid}/aggregates")
def get_aggregates(uuid: str, request: Request) -> Response:
    VERSIONS.require(request, "1.1")
    gen, aggs = placement(request).provider_aggregates(uuid)
    return VERSIONS.reply(request, views.aggregates(VERSIONS.of(request), gen, aggs))


@router.put("/resource_providers/{uuid}/aggregates")
def put_aggregates(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    VERSIONS.require(request, "1.1")
    v = VERSIONS.of(request)
    seen, aggs = schemas.aggregates(v, body)
    gen = placement(request).put_provider_aggregates(uuid, seen, aggs)
    return VERSIONS.reply(request, views.aggregates(v, gen, sorted(set(aggs))))
