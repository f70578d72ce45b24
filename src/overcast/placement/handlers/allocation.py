"""Routes of allocations: a consumer's (/allocations/{consumer}), several consumers'
at once (POST /allocations, 1.13) and a provider's (read-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import NotFound
from overcast.kit.schema import accepts
from overcast.placement import views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import allocation as schema
from overcast.placement.schemas import common
from overcast.placement.versions import VERSION, VERSIONS, require

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/allocations/{consumer}")
def get_allocations(consumer: str, request: Request) -> Response:
    allocs, cons, gens = placement(request).consumer_allocations(consumer)
    return VERSIONS.reply(request, views.consumer_allocations(VERSIONS.of(request), allocs,
                                                              cons, gens))


@router.put("/allocations/{consumer}")
@accepts(body=schema.PUT)
def put_allocations(consumer: str, request: Request, body: Any = JSON_BODY) -> Response:
    consumer = common.uuid(consumer, "consumer")
    placement(request).set_allocations({consumer: schema.spec(body)})
    return VERSIONS.reply(request, None, 204)


@router.post("/allocations", dependencies=[require("1.13")])
@accepts(body=schema.POST)
def post_allocations(request: Request, body: Any = JSON_BODY) -> Response:
    specs = {common.uuid(c, "consumer"): schema.spec(item) for c, item in body.items()}
    placement(request).set_allocations(specs)
    return VERSIONS.reply(request, None, 204)


@router.delete("/allocations/{consumer}")
def delete_allocations(consumer: str, request: Request) -> Response:
    svc = placement(request)
    if not svc.get_allocations(consumer):
        raise NotFound(f"No allocations for consumer '{consumer}'")
    svc.release(consumer)
    return VERSIONS.reply(request, None, 204)


@router.get("/resource_providers/{uuid}/allocations")
def provider_allocations(uuid: str, request: Request) -> Response:
    gen, allocs = placement(request).provider_allocations(uuid)
    return VERSIONS.reply(request, views.provider_allocations(gen, allocs))
