"""Key pairs (`/os-keypairs`): a user's own, or another user's for an admin (2.10)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import policy, schemas, views
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service, version
from overcast.kit.context import RequestContext
from overcast.kit.schema import accepts

routes = router()


def _user(request: Request, ctx: RequestContext) -> str:
    return policy.keypair_user(ctx, request.query_params.get("user_id"), version(request))


@routes.get("/v2.1/os-keypairs")
@accepts(query=schemas.KEYPAIR_LIST_QUERY)
def list_keypairs(request: Request, ctx: RequestContext = Ctx) -> Response:
    v = version(request)
    limit, marker = schemas.keypair_page(request.query_params, v)
    kps = service(request).keypairs.list(_user(request, ctx), limit, marker)
    return reply(request, {"keypairs": [{"keypair": views.keypair_brief(k, v)} for k in kps]})


@routes.get("/v2.1/os-keypairs/{name}")
@accepts(query=schemas.USER_QUERY)
def get_keypair(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    kp = service(request).keypairs.get(_user(request, ctx), name)
    return reply(request, {"keypair": views.keypair_full(kp, version(request))})


@routes.post("/v2.1/os-keypairs")
@accepts(body=schemas.KEYPAIR_CREATE)
def create_keypair(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    v = version(request)
    k = schemas.keypair_create(body, v, ctx.user_id,
                               lambda _user: policy.require_admin(ctx))
    svc = service(request)
    quota = svc.quotas.limit(ctx.project_id or "", "key_pairs")
    kp, private = svc.keypairs.create(k["user_id"], k["name"], k["public_key"], k["type"],
                                      quota)
    out = views.keypair_brief(kp, v)
    out["user_id"] = kp.user_id
    if private:
        out["private_key"] = private
    return reply(request, {"keypair": out}, 201 if v.at_least("2.2") else 200)


@routes.delete("/v2.1/os-keypairs/{name}")
@accepts(query=schemas.USER_QUERY)
def delete_keypair(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    service(request).keypairs.delete(_user(request, ctx), name)
    return reply(request, None, 204 if version(request).at_least("2.2") else 202)
