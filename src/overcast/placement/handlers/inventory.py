"""Routes of /resource_providers/{uuid}/inventories: all of a provider's, or one class's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import NotFound
from overcast.kit.schema import accepts
from overcast.placement import views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import inventory as schema
from overcast.placement.versions import VERSION, VERSIONS, require

router = APIRouter(dependencies=[ADMIN, VERSION])
PATH = "/resource_providers/{uuid}/inventories"


@router.get(PATH)
def get_inventories(uuid: str, request: Request) -> Response:
    gen, invs = placement(request).inventories(uuid)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "inventories": invs})


@router.put(PATH)
@accepts(body=schema.PUT_ALL)
def put_inventories(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    invs = {rc: schema.record(inv) for rc, inv in body["inventories"].items()}
    gen, clean = placement(request).put_inventories(
        uuid, body["resource_provider_generation"], invs)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "inventories": clean})


@router.delete(PATH, dependencies=[require("1.5")])
def delete_inventories(uuid: str, request: Request) -> Response:
    placement(request).delete_inventories(uuid)
    return VERSIONS.reply(request, None, 204)


@router.post(PATH)
@accepts(body=schema.POST)
def post_inventory(uuid: str, request: Request, body: Any = JSON_BODY) -> Response:
    rc = body["resource_class"]
    gen, inv = placement(request).put_inventory(
        uuid, body.get("resource_provider_generation"), rc, schema.record(body),
        create_only=True)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "resource_class": rc,
                                    **inv}, 201, views.inventory_location(uuid, rc))


@router.get(PATH + "/{rc}")
def get_inventory(uuid: str, rc: str, request: Request) -> Response:
    gen, invs = placement(request).inventories(uuid)
    if rc not in invs:
        raise NotFound(f"No inventory of class {rc} for {uuid}")
    return VERSIONS.reply(request, {"resource_provider_generation": gen, **invs[rc]})


@router.put(PATH + "/{rc}")
@accepts(body=schema.PUT_ONE)
def put_inventory(uuid: str, rc: str, request: Request, body: Any = JSON_BODY) -> Response:
    gen, inv = placement(request).put_inventory(
        uuid, body["resource_provider_generation"], rc, schema.record(body))
    return VERSIONS.reply(request, {"resource_provider_generation": gen, **inv})


@router.delete(PATH + "/{rc}")
def delete_inventory(uuid: str, rc: str, request: Request) -> Response:
    placement(request).delete_inventory(uuid, rc)
    return VERSIONS.reply(request, None, 204)
