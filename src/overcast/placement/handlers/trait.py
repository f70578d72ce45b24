"""Routes of traits (1.6): /traits and a provider's /resource_providers/{uuid}/traits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import NotFound
from overcast.kit.schema import accepts
from overcast.placement import views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import trait as schema
from overcast.placement.versions import VERSION, VERSIONS, require

router = APIRouter(dependencies=[ADMIN, VERSION, require("1.6")])


@router.get("/traits")
@accepts(query=schema.LIST_QUERY)
def list_traits(request: Request) -> Response:
    q = request.query_params
    names = placement(request).trait_names(q.get("name"), schema.associated(q.get("associated")))
    return VERSIONS.reply(request, {"traits": names})


@router.get("/traits/{name}")
def get_trait(name: str, request: Request) -> Response:
    if name not in placement(request).trait_names(f"in:{name}"):
        raise NotFound(f"No such trait(s): {name}.")
    return VERSIONS.reply(request, None, 204)


@router.put("/traits/{name}")
def put_trait(name: str, request: Request) -> Response:
    created = placement(request).create_trait(schema.custom_trait(name))
    return VERSIONS.reply(request, None, 201 if created else 204, views.trait_location(name))


@router.delete("/traits/{name}")
def delete_trait(name: str, request: Request) -> Response:
    placement(request).delete_trait(name)
    return VERSIONS.reply(request, None, 204)


@router.get("/resource_providers/{uuid}/traits")
def get_provider_traits(uuid: str, request: Request) -> Response:
    gen, traits = placement(request).provider_traits(uuid)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "traits": traits})


@router.put("/resource_providers/{uuid}/traits")
@accepts(body=schema.PUT_PROVIDER_TRAITS)
def put_provider_traits(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    traits = body["traits"]
    gen = placement(request).put_provider_traits(uuid, body["resource_provider_generation"],
                                                 traits)
    return VERSIONS.reply(request, {"resource_provider_generation": gen,
                                    "traits": sorted(set(traits))})


@router.delete("/resource_providers/{uuid}/traits")
def delete_provider_traits(uuid: str, request: Request) -> Response:
    svc = placement(request)
    gen, _ = svc.provider_traits(uuid)
    svc.put_provider_traits(uuid, gen, [])
    return VERSIONS.reply(request, None, 204)
