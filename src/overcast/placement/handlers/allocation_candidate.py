"""Route of /allocation_candidates (1.10): where a request for resources could go."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from overcast.kit.schema import accepts
from overcast.placement import views
from overcast.placement.handlers import placement
from overcast.placement.policy import ADMIN
from overcast.placement.schemas import allocation_candidate as schema
from overcast.placement.schemas import common
from overcast.placement.versions import VERSION, VERSIONS, require

router = APIRouter(dependencies=[ADMIN, VERSION])


class JSONBytes(Response):
    """A reply whose JSON body is already serialised (`views.candidates_json`)."""

    media_type = "application/json"


@router.get("/allocation_candidates", dependencies=[require("1.10")])
@accepts(query=schema.QUERY)
def list_allocation_candidates(request: Request) -> Response:
    common.check_query(schema.QUERIES, request)
    v = VERSIONS.of(request)
    resources, terms = schema.terms(v, request.query_params)
    result = placement(request).candidates_with_summaries(resources, **terms)
    return VERSIONS.reply(request, views.candidates_json(v, result, resources),
                          response_class=JSONBytes)
