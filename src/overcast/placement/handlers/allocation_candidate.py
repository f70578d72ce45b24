"""Route of /allocation_candidates (1.10): where a request for resources could go."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from overcast.placement import schemas, views
from overcast.placement.handlers import placement
from overcast.placement.policy import ADMIN
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[ADMIN, VERSION])


@router.get("/allocation_candidates")
def list_allocation_candidates(request: Request) -> Response:
    VERSIONS.require(request, "1.10")
    v = VERSIONS.of(request)
    resources, terms = schemas.candidates_query(v, request.query_params)
    result = placement(request).candidates_with_summaries(resources, **terms)
    return VERSIONS.reply(request, views.candidates(v, result, resources))
