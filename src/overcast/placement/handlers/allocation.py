"""Routes of allocations: a consumer's (/allocations/{consumer}), several consumers'
at once (POST /allocations, 1.13) and a provider's (read-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import NotFound
from overcast.placement import schemas, views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/allocations/{consumer}")
def get_allocations(consumer: str, request: Request) -> Response:
    allocs, cons, gens = placement(request).consumer_allocations(consumer)
    return VERSIONS.reply(request, views.consumer_allocations(VERSIONS.of(request), allocs,
                                                              cons, gens))


@router.put("/allocations/{consumer}")
def put_allocations(consumer: str, request: Request, body: Any = JSON_BODY) -> Response:
    consumer = schemas.uuid(consumer, "consumer")
    spec = schemas.allocations(VERSIONS.of(request), body, consumer)
    placement(request).set_allocations({consumer: spec})
    return VERSIONS.reply(request, None, 204)


@router.post("/allocations")
def post_allocations(request: Request, body: Any = JSON_BODY) -> Response:
    VERSIONS.require(request, "1.13")
    v = VERSIONS.of(request)
    specs = {schemas.uuid(c, "consumer"): schemas.allocations(v, item, None)
             for c, item in schemas.obj(body).items()}
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
