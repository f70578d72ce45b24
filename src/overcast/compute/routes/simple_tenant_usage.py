"""`os-simple-tenant-usage`: every project's usage over a period (admin), or one
project's (its members or an admin). The counting is `compute.usage`."""

from __future__ import annotations

from fastapi import Request, Response

from overcast.compute import policy, schemas
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import Ctx, reply, router, service
from overcast.compute.usage import UsageService, parse_period
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.schema import accepts

routes = router()


@routes.get("/v2.1/os-simple-tenant-usage", dependencies=[ADMIN])
@accepts(query=schemas.USAGE_LIST_QUERY)
def list_usages(request: Request) -> Response:
    q = request.query_params
    begin, stop = parse_period(q.get("start"), q.get("end"))
    usages = UsageService(service(request).db).usages(begin, stop, None,
                                                      q.get("detailed") == "1")
    return reply(request, {"tenant_usages": usages})


@routes.get("/v2.1/os-simple-tenant-usage/")
def empty_project_usage(request: Request) -> Response:
    """A project's usage with an empty id (not the list, which the router would
    otherwise redirect this path to)."""
    raise NotFound("The resource could not be found.")


@routes.get("/v2.1/os-simple-tenant-usage/{tenant_id}")
@accepts(query=schemas.USAGE_SHOW_QUERY)
def show_usage(tenant_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    policy.usage_reader(ctx, tenant_id)
    q = request.query_params
    begin, stop = parse_period(q.get("start"), q.get("end"))
    (usage,) = UsageService(service(request).db).usages(begin, stop, tenant_id, True)
    return reply(request, {"tenant_usage": usage})
