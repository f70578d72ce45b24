"""Routes of /resource_classes (1.2; PUT creates one from 1.7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import BadRequest, NotFound
from overcast.placement import schemas, views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/resource_classes")
def list_resource_classes(request: Request) -> Response:
    VERSIONS.require(request, "1.2")
    names = placement(request).resource_classes()
    return VERSIONS.reply(request, {"resource_classes": [views.resource_class(n)
                                                         for n in names]})


@router.post("/resource_classes")
def create_resource_class(request: Request, body: Any = JSON_BODY) -> Response:
    VERSIONS.require(request, "1.2")
    name = schemas.obj(body).get("name")
    if not isinstance(name, str) or not schemas.CUSTOM_NAME.match(name):
        raise BadRequest("JSON does not validate: 'name' must match ^CUSTOM_[A-Z0-9_]+$.")
    placement(request).create_resource_class(name, exist_ok=False)
    return VERSIONS.reply(request, None, 201, views.resource_class_location(name))


@router.get("/resource_classes/{name}")
def get_resource_class(name: str, request: Request) -> Response:
    VERSIONS.require(request, "1.2")
    if name not in placement(request).resource_classes():
        raise NotFound(f"No such resource class {name}.")
    return VERSIONS.reply(request, views.resource_class(name))


@router.put("/resource_classes/{name}")
def put_resource_class(name: str, request: Request) -> Response:
    VERSIONS.require(request, "1.7")
    if not schemas.CUSTOM_NAME.match(name):
        raise BadRequest(f"JSON does not validate: {name!r} must match ^CUSTOM_[A-Z0-9_]+$.")
    created = placement(request).create_resource_class(name, exist_ok=True)
    return VERSIONS.reply(request, None, 201 if created else 204,
                          views.resource_class_location(name))


@router.delete("/resource_classes/{name}")
def delete_resource_class(name: str, request: Request) -> Response:
    VERSIONS.require(request, "1.2")
    placement(request).delete_resource_class(name)
    return VERSIONS.reply(request, None, 204)
