"""Routes of usages: one provider's (/resource_providers/{uuid}/usages) and a
project's (/usages, 1.9)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from overcast.kit.errors import BadRequest
from overcast.placement.handlers import placement
from overcast.placement.policy import ADMIN
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/resource_providers/{uuid}/usages")
def provider_usages(uuid: str, request: Request) -> Response:
    gen, usages = placement(request).provider_usages(uuid)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "usages": usages})


@router.get("/usages")
def project_usages(request: Request) -> Response:
    VERSIONS.require(request, "1.9")
    q = request.query_params
    if not q.get("project_id"):
        raise BadRequest("Invalid query string parameters: 'project_id' is a required "
                         "property.")
    usages = placement(request).project_usages(q["project_id"], q.get("user_id"),
                                               q.get("consumer_type"))
    return VERSIONS.reply(request, {"usages": usages})
