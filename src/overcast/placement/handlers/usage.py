"""Routes of usages: one provider's (/resource_providers/{uuid}/usages) and a
project's (/usages, 1.9)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from overcast.kit.schema import accepts
from overcast.placement.handlers import placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import common
from overcast.placement.schemas import usage as schema
from overcast.placement.versions import VERSION, VERSIONS, require

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/resource_providers/{uuid}/usages")
def provider_usages(uuid: str, request: Request) -> Response:
    gen, usages = placement(request).provider_usages(uuid)
    return VERSIONS.reply(request, {"resource_provider_generation": gen, "usages": usages})


@router.get("/usages", dependencies=[require("1.9")])
@accepts(query=schema.QUERY)
def project_usages(request: Request) -> Response:
    common.check_query(schema.QUERIES, request)
    q = request.query_params
    # `all` asks for every consumer type, as no filter does.
    consumer_type = None if q.get("consumer_type") == "all" else q.get("consumer_type")
    usages = placement(request).project_usages(q["project_id"], q.get("user_id"),
                                               consumer_type)
    return VERSIONS.reply(request, {"usages": usages})
