"""Keystone's credential routes: `/v3/credentials` (any type, the blob a JSON
string), the EC2 view of the same rows under `/v3/users/{id}/credentials/OS-EC2`,
and `POST /v3/ec2tokens` / `/v3/s3tokens`, where a service trades a signed AWS
request for a token. Kept beside api.py (which mounts this router) because they are one
family, and api.py would pass its size otherwise; the same four steps: check
(schemas), authorise (policy), delegate (`identity.credentials`), shape (views).
No SQL here.

Who may touch a credential is decided from the credential itself (its owner,
its project), so a non-admin gets 403 both for another user's credential and for
one that does not exist, as from Keystone: nothing tells it which.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from overcast.identity import errors as e
from overcast.identity import policy
from overcast.identity import schemas as sc
from overcast.identity import views as v
from overcast.identity.credentials import EC2, CredentialRecord, hash_access_key
from overcast.identity.service import IdentityService
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, Unauthorized
from overcast.kit.schema import accepts
from overcast.kit.web import get_context

router = APIRouter()
Ctx = Depends(get_context)
JSON_BODY = Body(None)
EC2_CREDS = "/v3/users/{user_id}/credentials/OS-EC2"


def _svc(request: Request) -> IdentityService:
    return request.app.state.identity  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/identity"


def _restricted(request: Request, ctx: RequestContext) -> None:
    """A token from a restricted application credential may not mint key pairs."""
    if _svc(request).app_creds.restricts(ctx.application_credential_id):
        raise Forbidden(e.APP_CRED_NO_CREDENTIALS)


def _not_by_trust(request: Request, ctx: RequestContext) -> None:
    """No credential is written with a trust-scoped token: an impersonating
    trustee would get a lasting credential of the trustor's (a TOTP seed to log
    in as it, a key pair)."""
    if ctx.auth_token and _svc(request).validate(ctx.auth_token).trust:
        raise Forbidden("Credentials cannot be created or changed with a trust-scoped "
                        "token.")


# ------------------------------------------------------------- /v3/credentials
def _readable(request: Request, ctx: RequestContext, cred_id: str) -> CredentialRecord:
    record = _svc(request).credentials.lookup(cred_id)
    policy.enforce(policy.credential_reader(ctx, record.user_id if record else None))
    if record is None:
        raise e.not_found("credential", cred_id)
    policy.enforce_delegation(ctx, record.project_id)
    return record


def _owned(request: Request, ctx: RequestContext, cred_id: str) -> CredentialRecord:
    record = _svc(request).credentials.lookup(cred_id)
    policy.enforce(policy.credential_owner(ctx, record.user_id if record else None))
    if record is None:
        raise e.not_found("credential", cred_id)
    policy.enforce_delegation(ctx, record.project_id)
    return record


@router.post("/v3/credentials")
@accepts(body=sc.CREDENTIAL_CREATE)
def create_credential(request: Request, body: Any = JSON_BODY,
                      ctx: RequestContext = Ctx) -> Any:
    data = sc.credential(body, True)
    policy.enforce(policy.credential_owner(ctx, data["user_id"]))
    _not_by_trust(request, ctx)
    if data["type"] == EC2:
        _restricted(request, ctx)
    policy.enforce_delegation(ctx, data.get("project_id"))
    record = _svc(request).credentials.create(
        data, need_role=not ctx.is_admin, app_cred_id=ctx.application_credential_id)
    return JSONResponse({"credential": v.credential(_base(request), record)},
                        status_code=201)


@router.get("/v3/credentials")
@accepts(query=sc.CREDENTIAL_LIST)
def list_credentials(request: Request, ctx: RequestContext = Ctx) -> Any:
    filters = sc.filters(request.query_params, ("user_id", "type"))
    policy.scope_credential_listing(ctx, filters)
    found = [] if filters.get("nobody") else _svc(request).credentials.find(filters)
    b = _base(request)
    items = [v.credential(b, c) for c in found
             if policy.may_see_credential(ctx, c.user_id, c.project_id)]
    body: dict[str, Any] = {"credentials": items,
                            "links": v.collection_links(b, "credentials")}
    limit = request.query_params.get("limit")
    if limit is not None and len(items) > int(limit):
        # Keystone's list limit: the first ones, and a flag saying there are more.
        body["credentials"], body["truncated"] = items[:int(limit)], True
    return body


@router.get("/v3/credentials/{cred_id}")
def get_credential(cred_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    return {"credential": v.credential(_base(request), _readable(request, ctx, cred_id))}


@router.patch("/v3/credentials/{cred_id}")
@accepts(body=sc.CREDENTIAL_UPDATE)
def update_credential(cred_id: str, request: Request, body: Any = JSON_BODY,
                      ctx: RequestContext = Ctx) -> Any:
    current = _owned(request, ctx, cred_id)
    data = sc.credential(body, False)
    if data.pop("id", cred_id) != cred_id:
        raise BadRequest("Cannot change ID")
    # The changed credential must still be the caller's, in the token's project.
    policy.enforce(policy.credential_owner(ctx, data.get("user_id", current.user_id)))
    _not_by_trust(request, ctx)
    policy.enforce_delegation(ctx, data.get("project_id", current.project_id))
    record = _svc(request).credentials.update(cred_id, data, need_role=not ctx.is_admin)
    return {"credential": v.credential(_base(request), record)}


@router.delete("/v3/credentials/{cred_id}", status_code=204)
def delete_credential(cred_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _owned(request, ctx, cred_id)
    _svc(request).credentials.delete(cred_id)
    return Response(status_code=204)


# ------------------------------------------------------------------- OS-EC2
@router.post(EC2_CREDS)
@accepts(body=sc.EC2_CREATE)
def create_ec2(user_id: str, request: Request, body: Any = JSON_BODY,
               ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.ec2_manager(ctx, user_id))
    _restricted(request, ctx)
    _not_by_trust(request, ctx)
    project_id = body["tenant_id"]
    policy.enforce_delegation(ctx, project_id)
    record = _svc(request).credentials.ec2_create(
        user_id, project_id, need_role=not ctx.is_admin,
        app_cred_id=ctx.application_credential_id)
    return JSONResponse({"credential": v.ec2_credential(_base(request), record)},
                        status_code=201)


@router.api_route(EC2_CREDS, methods=["GET", "HEAD"])
def list_ec2(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.credential_reader(ctx, user_id))
    b = _base(request)
    items = [v.ec2_credential(b, c) for c in _svc(request).credentials.ec2_list(user_id)
             if policy.may_see_credential(ctx, c.user_id, c.project_id)]
    return {"credentials": items,
            "links": v.collection_links(b, f"users/{user_id}/credentials/OS-EC2")}


def _ec2(request: Request, ctx: RequestContext, user_id: str, access: str,
         manage: bool) -> CredentialRecord:
    """The EC2 credential of `user_id` with this access key, if the caller may read
    it (or delete it, with `manage`)."""
    _svc(request).users.show(user_id)
    cred_id = hash_access_key(access)
    record = _svc(request).credentials.lookup(cred_id)
    if record is None or record.user_id != user_id:
        raise e.not_found("credential", cred_id)
    rule = policy.ec2_manager if manage else policy.credential_reader
    policy.enforce(rule(ctx, record.user_id))
    if record.type != EC2:
        raise Unauthorized(e.EC2_KEY_NOT_FOUND)
    policy.enforce_delegation(ctx, record.project_id)
    return record


@router.api_route(EC2_CREDS + "/{access}", methods=["GET", "HEAD"])
def get_ec2(user_id: str, access: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    record = _ec2(request, ctx, user_id, access, manage=False)
    return {"credential": v.ec2_credential(_base(request), record)}


@router.delete(EC2_CREDS + "/{access}", status_code=204)
def delete_ec2(user_id: str, access: str, request: Request,
               ctx: RequestContext = Ctx) -> Response:
    record = _ec2(request, ctx, user_id, access, manage=True)
    _svc(request).credentials.delete(record.id)
    return Response(status_code=204)


# --------------------------------------------------------------- ec2tokens
@router.post("/v3/ec2tokens")
@accepts(body=sc.EC2_TOKENS)
def ec2tokens(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx
              ) -> Response:
    policy.enforce(policy.may_validate_ec2(ctx))
    token, info = _svc(request).ec2tokens(sc.ec2_signed(body))
    catalog = _svc(request).catalog(info.project["id"] if info.project else None)
    return JSONResponse(v.token(info, catalog), status_code=200,
                        headers={"X-Subject-Token": token})


@router.post("/v3/s3tokens")
@accepts(body=sc.EC2_TOKENS)
def s3tokens(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    """Swift's s3token middleware (and Ceph RGW) send the string to sign they
    built; the answer is the token body, without X-Subject-Token (Keystone's)."""
    policy.enforce(policy.may_validate_ec2(ctx))
    _, info = _svc(request).ec2tokens(sc.ec2_signed(body), s3=True)
    catalog = _svc(request).catalog(info.project["id"] if info.project else None)
    return v.token(info, catalog)
