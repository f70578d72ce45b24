"""Flavors, their extra specs and access lists (`/flavors`); a flavor's description
is shown, set at create and changed with PUT from 2.55."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import extra_specs, schemas, views
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    base_url,
    reply,
    router,
    service,
    version,
)
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.schema import accepts

routes = router()


def _flavor(request: Request, fid: str, ctx: RequestContext) -> dict[str, Any]:
    f, specs = service(request).flavors.show(fid, ctx)
    return views.flavor(base_url(request), f, version(request), specs)


def _list(request: Request, ctx: RequestContext, detail: bool) -> Response:
    rows = service(request).flavors.list(ctx, **schemas.flavor_list_query(
        request.query_params))
    v, base = version(request), base_url(request)
    return reply(request, {"flavors": [views.flavor(base, f, v, es, detail) for f, es in rows]})


@routes.get("/v2.1/flavors")
@accepts(query=schemas.FLAVOR_LIST_QUERY)
def list_flavors(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, ctx, False)


@routes.get("/v2.1/flavors/detail")
@accepts(query=schemas.FLAVOR_LIST_QUERY)
def list_flavors_detail(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list(request, ctx, True)


@routes.get("/v2.1/flavors/{fid}")
def get_flavor(fid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"flavor": _flavor(request, fid, ctx)})


@routes.post("/v2.1/flavors", dependencies=[ADMIN])
@accepts(body=schemas.FLAVOR_CREATE)
def create_flavor(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    new_id = service(request).flavors.create(schemas.flavor_create(body))
    return reply(request, {"flavor": _flavor(request, new_id, ctx)})


@routes.put("/v2.1/flavors/{fid}", dependencies=[ADMIN])
@accepts(body=schemas.FLAVOR_UPDATE)
def update_flavor(fid: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.55")
    service(request).flavors.update_description(fid, body["flavor"]["description"])
    return reply(request, {"flavor": _flavor(request, fid, ctx)})


@routes.delete("/v2.1/flavors/{fid}", dependencies=[ADMIN])
def delete_flavor(fid: str, request: Request) -> Response:
    service(request).flavors.delete(fid)
    return reply(request, None, 202)


@routes.get("/v2.1/flavors/{fid}/os-extra_specs")
def get_extra_specs(fid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _, specs = service(request).flavors.show(fid, ctx)
    return reply(request, {"extra_specs": specs})


@routes.post("/v2.1/flavors/{fid}/os-extra_specs", dependencies=[ADMIN])
@accepts(body=schemas.EXTRA_SPECS_SET)
def set_extra_specs(fid: str, request: Request, body: Any = JSON_BODY) -> Response:
    wanted = schemas.extra_specs(body)
    if version(request).at_least("2.86"):
        extra_specs.validate(wanted)
    specs = service(request).flavors.set_extra_specs(fid, wanted)
    return reply(request, {"extra_specs": specs})


@routes.get("/v2.1/flavors/{fid}/os-extra_specs/{key}")
def get_extra_spec(fid: str, key: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _, specs = service(request).flavors.show(fid, ctx)
    if key not in specs:
        raise NotFound(f"Flavor {fid} has no extra specs with key {key}.")
    return reply(request, {key: specs[key]})


@routes.put("/v2.1/flavors/{fid}/os-extra_specs/{key}", dependencies=[ADMIN])
@accepts(body=schemas.EXTRA_SPEC_PUT)
def put_extra_spec(fid: str, key: str, request: Request, body: Any = JSON_BODY) -> Response:
    specs = schemas.extra_spec(body, key)
    if version(request).at_least("2.86"):
        extra_specs.validate(specs)
    service(request).flavors.set_extra_specs(fid, specs)
    return reply(request, specs)


@routes.delete("/v2.1/flavors/{fid}/os-extra_specs/{key}", dependencies=[ADMIN])
def delete_extra_spec(fid: str, key: str, request: Request) -> Response:
    service(request).flavors.delete_extra_spec(fid, key)
    return reply(request, None, 200)


def _access(fid: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": fid, "tenant_id": p} for p in projects]}


@routes.get("/v2.1/flavors/{fid}/os-flavor-access", dependencies=[ADMIN])
def flavor_access(fid: str, request: Request) -> Response:
    return reply(request, _access(fid, service(request).flavors.access(fid)))


@routes.post("/v2.1/flavors/{fid}/action", dependencies=[ADMIN])
@accepts(body=schemas.FLAVOR_ACTION)
def flavor_action(fid: str, request: Request, body: Any = JSON_BODY) -> Response:
    add, tenant = schemas.flavor_action(body)
    fs = service(request).flavors
    projects = fs.add_access(fid, tenant) if add else fs.remove_access(fid, tenant)
    return reply(request, _access(fid, projects))
