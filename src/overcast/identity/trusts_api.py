"""OS-TRUST routes: `/v3/OS-TRUST/trusts` (create, list, show, delete) and a
trust's roles. The same four steps as api.py: check (the schema here), authorise
(the trust's own trustor and trustee, or an admin), delegate (`identity.trusts`),
shape (views). Tokens scoped to a trust are issued and resolved by auth.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from overcast.identity import errors as e
from overcast.identity import policy
from overcast.identity import schemas as sc
from overcast.identity import views as v
from overcast.identity.service import IdentityService
from overcast.identity.trusts import TrustRecord, parse_expiry
from overcast.kit import validate as val
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden
from overcast.kit.schema import accepts
from overcast.kit.web import get_context

router = APIRouter()
Ctx = Depends(get_context)
JSON_BODY = Body(None)
TRUSTS = "/v3/OS-TRUST/trusts"

_ROLE_REF = {"type": "object", "properties": {"id": sc.ID, "name": sc.NAME},
             "minProperties": 1}
TRUST_CREATE = sc.KeystoneSchema(sc.wrapped("trust", {
    "trustor_user_id": sc.ID, "trustee_user_id": sc.ID, "impersonation": sc.BOOL,
    "project_id": sc.ID_OR_NULL, "roles": {"type": "array", "items": _ROLE_REF},
    "expires_at": {"type": ["string", "null"]},
    "remaining_uses": {"type": ["integer", "null"], "minimum": 1},
    "allow_redelegation": {"type": ["boolean", "null"]},
}, required=("trustor_user_id", "trustee_user_id", "impersonation")))
TRUST_LIST = sc.KeystoneSchema(sc.listing({"trustor_user_id": sc.QUERY_TEXT,
                                           "trustee_user_id": sc.QUERY_TEXT}))


def _svc(request: Request) -> IdentityService:
    return request.app.state.identity  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/identity"


def _visible(ctx: RequestContext, rec: TrustRecord, *, trustee: bool = True) -> None:
    """A trust is the business of its trustor (and trustee, except for deleting
    it) and of admins; anyone else is told it does not exist."""
    t = rec[0]
    allowed = ctx.is_admin or ctx.user_id == t.trustor_user_id or \
        (trustee and ctx.user_id == t.trustee_user_id)
    policy.enforce(allowed)


@router.post(TRUSTS)
@accepts(body=TRUST_CREATE)
def create_trust(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    if ctx.application_credential_id:
        raise Forbidden("Trusts cannot be created with an application credential token.")
    if ctx.auth_token and _svc(request).validate(ctx.auth_token).trust:
        # No redelegation: an impersonating trust token would otherwise lend the
        # trustor's other roles too.
        raise Forbidden("Trusts cannot be created with a trust-scoped token.")
    t = val.wrapped(body, "trust")
    if t.get("allow_redelegation"):
        raise BadRequest("Trust redelegation is not supported by this cloud.")
    data: dict[str, Any] = {k: t[k] for k in ("trustor_user_id", "trustee_user_id", "impersonation",
                              "project_id", "roles", "remaining_uses") if k in t}
    data["expires_at"] = parse_expiry(t.get("expires_at"))
    assert ctx.user_id
    trust, roles = _svc(request).trusts.create(ctx.user_id, data)
    return JSONResponse({"trust": v.trust(_base(request), trust, roles)}, status_code=201)


@router.get(TRUSTS)
@accepts(query=TRUST_LIST)
def list_trusts(request: Request, ctx: RequestContext = Ctx) -> Any:
    q = request.query_params
    filters = {k: q[k] for k in ("trustor_user_id", "trustee_user_id") if q.get(k)}
    # A user may list the trusts it gave or received; only admins list them all.
    own = any(filters.get(k) == ctx.user_id for k in filters)
    policy.enforce(ctx.is_admin or own)
    b = _base(request)
    return {"trusts": [v.trust(b, t, r) for t, r in _svc(request).trusts.find(filters)],
            "links": v.collection_links(b, "OS-TRUST/trusts")}


@router.get(TRUSTS + "/{trust_id}")
def show_trust(trust_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    rec = _svc(request).trusts.show(trust_id)
    _visible(ctx, rec)
    return {"trust": v.trust(_base(request), *rec)}


@router.delete(TRUSTS + "/{trust_id}")
def delete_trust(trust_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _visible(ctx, _svc(request).trusts.show(trust_id), trustee=False)
    _svc(request).trusts.delete(trust_id)
    return Response(status_code=204)


@router.get(TRUSTS + "/{trust_id}/roles")
def list_trust_roles(trust_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    rec = _svc(request).trusts.show(trust_id)
    _visible(ctx, rec)
    b = _base(request)
    return {"roles": [v.role(b, r) for r in rec[1]],
            "links": v.collection_links(b, f"OS-TRUST/trusts/{trust_id}/roles")}


@router.api_route(TRUSTS + "/{trust_id}/roles/{role_id}", methods=["GET", "HEAD"])
def show_trust_role(trust_id: str, role_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Any:
    rec = _svc(request).trusts.show(trust_id)
    _visible(ctx, rec)
    for r in rec[1]:
        if r.id == role_id:
            if request.method == "HEAD":
                return Response(status_code=200)
            return {"role": v.role(_base(request), r)}
    raise e.not_found("role", role_id)
