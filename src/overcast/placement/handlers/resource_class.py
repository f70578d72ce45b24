"""Routes of /resource_classes (1.2; PUT creates one from 1.7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import NotFound
from overcast.kit.schema import accepts
from overcast.placement import views
from overcast.placement.handlers import JSON_BODY, placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import resource_class as schema
from overcast.placement.versions import VERSION, VERSIONS, require

router = APIRouter(dependencies=[ADMIN, VERSION, require("1.2")])


@router.get("/resource_classes")
def list_resource_classes(request: Request) -> Response:
    names = placement(request).resource_classes()
    return VERSIONS.reply(request, {"resource_classes": [views.resource_class(n)
                                                         for n in names]})


@router.post("/resource_classes")
@accepts(body=schema.POST)
def create_resource_class(request: Request, body: Any = JSON_BODY) -> Response:
    name = body["name"]
    placement(request).create_resource_class(name, exist_ok=False)
    return VERSIONS.reply(request, None, 201, views.resource_class_location(name))


@router.get("/resource_classes/{name}")
def get_resource_class(name: str, request: Request) -> Response:
    if name not in placement(request).resource_classes():
        raise NotFound(f"No such resource class {name}.")
    return VERSIONS.reply(request, views.resource_class(name))


@router.put("/resource_classes/{name}", dependencies=[require("1.7")])
def put_resource_class(name: str, request: Request) -> Response:
    created = placement(request).create_resource_class(schema.custom_class(name),
                                                       exist_ok=True)
    return VERSIONS.reply(request, None, 201 if created else 204,
                          views.resource_class_location(name))


@router.delete("/resource_classes/{name}")
def delete_resource_class(name: str, request: Request) -> Response:
    placement(request).delete_resource_class(name)
    return VERSIONS.reply(request, None, 204)

