"""Quota classes (`/os-quota-class-sets`, admin-only): the `default` class is what
every project gets where it has no limit of its own (`compute.quotas`). Below 2.50 a
class has the network resources and not the server groups', as in Nova."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import JSON_BODY, reply, router, service
from overcast.kit.schema import accepts

routes = router()


@routes.get("/v2.1/os-quota-class-sets/{class_name}", dependencies=[ADMIN])
def show_quota_class(class_name: str, request: Request) -> Response:
    limits = service(request).quotas.show_class(class_name)
    body: dict[str, Any] = {"id": class_name}
    body.update({k: limits[k] for k in schemas.QUOTA_CLASS_KEYS})
    return reply(request, {"quota_class_set": body})


@routes.put("/v2.1/os-quota-class-sets/{class_name}", dependencies=[ADMIN])
@accepts(body=schemas.QUOTA_CLASS_UPDATE)
def update_quota_class(class_name: str, request: Request, body: Any = JSON_BODY) -> Response:
    values = {k: int(v) for k, v in body["quota_class_set"].items()}
    limits = service(request).quotas.set_class(class_name, values)
    return reply(request, {"quota_class_set": {k: limits[k]
                                               for k in schemas.QUOTA_CLASS_KEYS}})
