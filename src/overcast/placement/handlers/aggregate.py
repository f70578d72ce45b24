"""Routes of a provider's aggregates (1.1; generations in the body from 1.19)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.schema import accepts
from overcast.placement import views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import aggregate as schema
from overcast.placement.versions import VERSION, VERSIONS, require

router = APIRouter(dependencies=[ADMIN, VERSION, require("1.1")])


@router.get("/resource_providers/{uuid}/aggregates")
def get_aggregates(uuid: str, request: Request) -> Response:
    gen, aggs = placement(request).provider_aggregates(uuid)
    return VERSIONS.reply(request, views.aggregates(VERSIONS.of(request), gen, aggs))


@router.put("/resource_providers/{uuid}/aggregates")
@accepts(body=schema.PUT)
def put_aggregates(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    seen, aggs = schema.aggregates(body)
    gen = placement(request).put_provider_aggregates(uuid, seen, aggs)
    return VERSIONS.reply(request, views.aggregates(VERSIONS.of(request), gen,
                                                    sorted(set(aggs))))
