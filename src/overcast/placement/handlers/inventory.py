"""Routes of /resource_providers/{uuid}/inventories: all of a provider's, or one class's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import NotFound
from overcast.placement import schemas, views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])
PATH = "/resource_providers/{uuid}/inventories"


@router.get(PATH)
def get_inventories(uuid: str, request: Request) -> Response:
    gen, invs = placement(request).inventories(uuid)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "inventories": invs})


@router.put(PATH)
def put_inventories(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    seen, invs = schemas.inventories(body)
    gen, clean = placement(request).put_inventories(uuid, seen, invs)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "inventories": clean})


@router.delete(PATH)
def delete_inventories(uuid: str, request: Request) -> Response:
    VERSIONS.require(request, "1.5")
    placement(request).delete_inventories(uuid)
    return VERSIONS.reply(request, None, 204)


@router.post(PATH)
def post_inventory(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    seen, rc, data = schemas.new_inventory(body)
    gen, inv = placement(request).put_inventory(uuid, seen, rc, data, create_only=True)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "resource_class": rc,
                                    **inv}, 201, views.inventory_location(uuid, rc))


@router.get(PATH + "/{rc}")
def get_inventory(uuid: str, rc: str, request: Request) -> Response:
    gen, invs = placement(request).inventories(uuid)
    if rc not in invs:
        raise NotFound(f"No inventory of class {rc} for {uuid}")
    return VERSIONS.reply(request, {"resource_provider_generation": gen, **invs[rc]})


@router.put(PATH + "/{rc}")
def put_inventory(uuid: str, rc: str, request: Request, body: Any = JSON_BODY) -> Response:
    seen, data = schemas.inventory(body)
    gen, inv = placement(request).put_inventory(uuid, seen, rc, data)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, **inv})


@router.delete(PATH + "/{rc}")
def delete_inventory(uuid: str, rc: str, request: Request) -> Response:
    placement(request).delete_inventory(uuid, rc)
    return VERSIONS.reply(request, None, 204)
