"""Routes of traits (1.6): /traits and a provider's /resource_providers/{uuid}/traits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import BadRequest, NotFound
from overcast.placement import schemas, views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/traits")
def list_traits(request: Request) -> Response:
    VERSIONS.require(request, "1.6")
    q = request.query_params
    assoc = q.get("associated")
    associated = None if assoc is None else assoc.lower() == "true"
    names = placement(request).trait_names(q.get("name"), associated)
    return VERSIONS.reply(request, {"traits": names})


@router.get("/traits/{name}")
def get_trait(name: str, request: Request) -> Response:
    VERSIONS.require(request, "1.6")
    if name not in placement(request).trait_names(f"in:{name}"):
        raise NotFound(f"No such trait(s): {name}.")
    return VERSIONS.reply(request, None, 204)


@router.put("/traits/{name}")
def put_trait(name: str, request: Request) -> Response:
    VERSIONS.require(request, "1.6")
    if not schemas.CUSTOM_NAME.match(name) or len(name) > 255:
        raise BadRequest(f"The trait is invalid. A valid trait must be no longer than 255 "
                         f"characters, start with the prefix \"CUSTOM_\" and use following "
                         f"characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\": {name}")
    created = placement(request).create_trait(name)
    return VERSIONS.reply(request, None, 201 if created else 204, views.trait_location(name))


@router.delete("/traits/{name}")
def delete_trait(name: str, request: Request) -> Response:
    VERSIONS.require(request, "1.6")
    placement(request).delete_trait(name)
    return VERSIONS.reply(request, None, 204)


@router.get("/resource_providers/{uuid}/traits")
def get_provider_traits(uuid: str, request: Request) -> Response:
    VERSIONS.require(request, "1.6")
    gen, traits = placement(request).provider_traits(uuid)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "traits": traits})


@router.put("/resource_providers/{uuid}/traits")
def put_provider_traits(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    VERSIONS.require(request, "1.6")
    seen, traits = schemas.traits(body)
    gen = placement(request).put_provider_traits(uuid, seen, traits)
    return VERSIONS.reply(request, {"resource_provider_generation": gen,
                                    "traits": sorted(set(traits))})


@router.delete("/resource_providers/{uuid}/traits")
def delete_provider_traits(uuid: str, request: Request) -> Response:
    VERSIONS.require(request, "1.6")
    svc = placement(request)
    gen, _ = svc.provider_traits(uuid)
    svc.put_provider_traits(uuid, gen, [])
    return VERSIONS.reply(request, None, 204)
