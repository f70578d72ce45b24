"""Keystone v3 routes: parse, authorise, delegate to the service, shape the reply."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from overcast.identity import views as v
from overcast.identity.service import IdentityResources, IdentityService
from overcast.kit import validate as val
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound
from overcast.kit.web import get_context

router = APIRouter()
Ctx = Depends(get_context)
JSON_BODY = Body(None)

VERSION_ID = "v3.14"
MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def _svc(request: Request) -> IdentityService:
    return request.app.state.identity  # type: ignore[no-any-return]


def _res(request: Request) -> IdentityResources:
    return request.app.state.identity_resources  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/identity"


def _version(request: Request) -> dict[str, Any]:
    return {"id": VERSION_ID, "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{_base(request)}/v3/"}], "media-types": MEDIA}


def require_admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("You are not authorized to perform the requested action.")


def require_admin_or_self(ctx: RequestContext, user_id: str) -> None:
    if not (ctx.is_admin or ctx.user_id == user_id):
        raise Forbidden("You are not authorized to perform the requested action.")


def _filters(request: Request, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in names:
        raw = request.query_params.get(n)
        if raw is None:
            continue
        if n == "enabled":
            out[n] = val.query_bool(raw, n)
        elif n in ("tags", "tags-any", "not-tags", "not-tags-any"):
            out[n] = [t for t in raw.split(",") if t]
        else:
            out[n] = raw
    return out


def _limit(request: Request, items: list[Any]) -> tuple[list[Any], bool]:
    raw = request.query_params.get("limit")
    if raw is None:
        return items, False
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid limit {raw!r}: it must be an integer.")
    if limit < 0:
        raise BadRequest("limit must be >= 0")
    return items[:limit], len(items) > limit


def _listing(request: Request, key: str, path: str, items: list[dict[str, Any]]) -> Any:
    items, truncated = _limit(request, items)
    body: dict[str, Any] = {key: items, "links": v.collection_links(_base(request), path)}
    if truncated:
        body["truncated"] = True
    return body


# ------------------------------------------------------------------ discovery
@router.get("")
@router.get("/")
def versions(request: Request) -> Response:
    return JSONResponse({"versions": {"values": [_version(request)]}}, status_code=300)


@router.get("/v3")
@router.get("/v3/")
def version(request: Request) -> Any:
    return {"version": _version(request)}


# --------------------------------------------------------------------- tokens
def _token_response(request: Request, token: str, info: Any, status: int) -> Response:
    nocatalog = "nocatalog" in request.query_params
    catalog = None if nocatalog else _svc(request).catalog(
        info.project["id"] if info.project else None)
    return JSONResponse(v.token(info, catalog), status_code=status,
                        headers={"X-Subject-Token": token})


@router.post("/v3/auth/tokens")
def issue_token(request: Request, body: Any = JSON_BODY) -> Response:
    auth = val.wrapped(body, "auth")
    token, info = _svc(request).authenticate(auth)
    return _token_response(request, token, info, 201)


def _subject(request: Request) -> str:
    subject = request.headers.get("x-subject-token")
    if not subject:
        raise NotFound("X-Subject-Token is required to identify the token.")
    return subject


@router.get("/v3/auth/tokens")
async def validate_token(request: Request, ctx: RequestContext = Ctx) -> Response:
    subject = _subject(request)
    allow_expired = val.query_bool(request.query_params.get("allow_expired"),
                                   "allow_expired") or False
    if subject != ctx.auth_token and not (ctx.is_admin or ctx.has_role("service")):
        # A user may validate only its own tokens.
        info = _svc(request).validate(subject, allow_expired=allow_expired)
        if info.user["id"] != ctx.user_id:
            raise Forbidden("You are not authorized to validate that token.")
    info = _svc(request).validate(subject, allow_expired=allow_expired)
    return _token_response(request, subject, info, 200)


@router.head("/v3/auth/tokens")
def check_token(request: Request, ctx: RequestContext = Ctx) -> Response:
    subject = _subject(request)
    info = _svc(request).validate(subject)
    if info.user["id"] != ctx.user_id and not (ctx.is_admin or ctx.has_role("service")):
        raise Forbidden("You are not authorized to validate that token.")
    return Response(status_code=200, headers={"X-Subject-Token": subject})


@router.delete("/v3/auth/tokens")
def revoke_token(request: Request, ctx: RequestContext = Ctx) -> Response:
    subject = _subject(request)
    info = _svc(request).validate(subject)
    if info.user["id"] != ctx.user_id and not ctx.is_admin:
        raise Forbidden("You are not authorized to revoke that token.")
    _svc(request).revoke_token(subject)
    return Response(status_code=204)


@router.get("/v3/auth/catalog")
def auth_catalog(request: Request, ctx: RequestContext = Ctx) -> Any:
    if not (ctx.project_id or ctx.domain_id or ctx.system_scope):
        raise Forbidden("The service catalog is only available with a scoped token.")
    return {"catalog": _svc(request).catalog(ctx.project_id),
            "links": v.collection_links(_base(request), "auth/catalog")}


@router.get("/v3/auth/projects")
def auth_projects(request: Request, ctx: RequestContext = Ctx) -> Any:
    res = _res(request)
    assert ctx.user_id
    items = [v.project(_base(request), p, []) for p in res.user_projects(ctx.user_id)
             if p.enabled]
    return {"projects": items, "links": v.collection_links(_base(request), "auth/projects")}


@router.get("/v3/auth/domains")
def auth_domains(request: Request, ctx: RequestContext = Ctx) -> Any:
    assert ctx.user_id
    items = [v.domain(_base(request), d) for d in _res(request).user_domains(ctx.user_id)]
    return {"domains": items, "links": v.collection_links(_base(request), "auth/domains")}


@router.get("/v3/auth/system")
def auth_system(request: Request, ctx: RequestContext = Ctx) -> Any:
    assert ctx.user_id
    roles = _res(request).user_has_system(ctx.user_id)
    return {"system": [{"all": True}] if roles else [],
            "links": v.collection_links(_base(request), "auth/system")}


# -------------------------------------------------------------------- domains
def _domain_body(body: Any, create: bool) -> dict[str, Any]:
    d = val.wrapped(body, "domain")
    data = val.present({
        "name": val.string(d, "name", "domain", required=create, min_len=1, max_len=64,
                           strip_check=True),
        "description": val.string(d, "description", "domain", nullable=True, max_len=65535),
        "enabled": val.boolean(d, "enabled", "domain"),
    })
    if create and isinstance(d.get("id"), str):
        data["id"] = d["id"]
    extra = {k: x for k, x in d.items() if k not in
             ("name", "description", "enabled", "id", "links", "tags", "options")}
    if extra:
        data["extra"] = extra
    return data


@router.post("/v3/domains")
def create_domain(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    d = _res(request).create_domain(_domain_body(body, True))
    return JSONResponse({"domain": v.domain(_base(request), d)}, status_code=201)


@router.get("/v3/domains")
def list_domains(request: Request, ctx: RequestContext = Ctx) -> Any:
    filters = _filters(request, ("name", "enabled"))
    if not ctx.is_admin:
        # Non-admins see only the domains they are scoped to or belong to.
        filters["ids"] = [x for x in (ctx.domain_id, ctx.user_domain_id,
                                      ctx.project_domain_id) if x]
    items = [v.domain(_base(request), d) for d in _res(request).list_domains(filters)]
    return _listing(request, "domains", "domains", items)


@router.get("/v3/domains/{domain_id}")
def get_domain(domain_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    if not (ctx.is_admin or domain_id in (ctx.domain_id, ctx.project_domain_id,
                                          ctx.user_domain_id)):
        raise Forbidden("You are not authorized to perform the requested action.")
    res = _res(request)
    with res.db.session() as s:
        return {"domain": v.domain(_base(request), res.get_domain(s, domain_id))}


@router.patch("/v3/domains/{domain_id}")
def update_domain(domain_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    d = _res(request).update_domain(domain_id, _domain_body(body, False))
    return {"domain": v.domain(_base(request), d)}


@router.delete("/v3/domains/{domain_id}", status_code=204)
def delete_domain(domain_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_domain(domain_id)
    return Response(status_code=204)


# ------------------------------------------------------------------- projects
def _project_body(body: Any, create: bool) -> dict[str, Any]:
    p = val.wrapped(body, "project")
    if p.get("is_domain") is True:
        raise BadRequest("Projects acting as domains are not supported: is_domain must be "
                         "false.")
    if "is_domain" in p and not isinstance(p["is_domain"], bool):
        raise val.invalid("project/is_domain", "it must be a boolean.")
    data = val.present({
        "name": val.string(p, "name", "project", required=create, min_len=1, max_len=64,
                           strip_check=True),
        "description": val.string(p, "description", "project", nullable=True,
                                  max_len=65535),
        "enabled": val.boolean(p, "enabled", "project"),
        "domain_id": val.string(p, "domain_id", "project", nullable=True, max_len=64),
        "parent_id": val.string(p, "parent_id", "project", nullable=True, max_len=64),
        "tags": val.string_list(p, "tags", "project", max_items=80, max_len=255),
    })
    for tag in data.get("tags") or []:
        if "/" in tag or "," in tag:
            raise val.invalid("project/tags", f"tag {tag!r} must not contain '/' or ','.")
    extra = {k: x for k, x in p.items() if k not in
             ("name", "description", "enabled", "domain_id", "parent_id", "tags", "is_domain",
              "id", "links", "options")}
    if extra:
        data["extra"] = extra
    return data


def _project_view(request: Request, project_id: str) -> dict[str, Any]:
    res = _res(request)
    with res.db.session() as s:
        p = res.get_project(s, project_id)
        return v.project(_base(request), p, res.project_tags(s, p.id))


@router.post("/v3/projects")
def create_project(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    data = _project_body(body, True)
    if not data.get("domain_id") and not data.get("parent_id") and ctx.domain_id:
        data["domain_id"] = ctx.domain_id
    p = _res(request).create_project(data)
    return JSONResponse({"project": _project_view(request, p.id)}, status_code=201)


@router.get("/v3/projects")
def list_projects(request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    filters = _filters(request, ("name", "domain_id", "enabled", "parent_id", "tags",
                                 "tags-any", "not-tags", "not-tags-any"))
    if request.query_params.get("is_domain", "false").lower() == "true":
        return _listing(request, "projects", "projects", [])
    items = [v.project(_base(request), p, t) for p, t in _res(request).list_projects(filters)]
    return _listing(request, "projects", "projects", items)


@router.get("/v3/projects/{project_id}")
def get_project(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    if not (ctx.is_admin or ctx.project_id == project_id):
        raise Forbidden("You are not authorized to perform the requested action.")
    return {"project": _project_view(request, project_id)}


@router.patch("/v3/projects/{project_id}")
def update_project(project_id: str, request: Request, body: Any = JSON_BODY,
                   ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    _res(request).update_project(project_id, _project_body(body, False))
    return {"project": _project_view(request, project_id)}


@router.delete("/v3/projects/{project_id}")
def delete_project(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_project(project_id)
    return Response(status_code=204)


@router.get("/v3/projects/{project_id}/tags")
def list_project_tags(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    if not (ctx.is_admin or ctx.project_id == project_id):
        raise Forbidden("You are not authorized to perform the requested action.")
    return {"tags": _project_view(request, project_id)["tags"]}


@router.put("/v3/projects/{project_id}/tags")
def set_project_tags(project_id: str, request: Request, body: Any = JSON_BODY,
                     ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    if not isinstance(body, dict):
        raise BadRequest("Malformed request body: expected a JSON object.")
    tags = val.string_list(body, "tags", "", max_items=80)
    if tags is val.MISSING:
        raise val.invalid("tags", "'tags' is a required property.")
    return {"tags": _res(request).set_project_tags(project_id, tags)}


@router.get("/v3/projects/{project_id}/tags/{tag}", status_code=204)
@router.head("/v3/projects/{project_id}/tags/{tag}", status_code=204)
def check_project_tag(project_id: str, tag: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    if not (ctx.is_admin or ctx.project_id == project_id):
        raise Forbidden("You are not authorized to perform the requested action.")
    if tag not in _project_view(request, project_id)["tags"]:
        raise NotFound(f"Tag {tag} was not found on project {project_id}.")
    return Response(status_code=204)


@router.put("/v3/projects/{project_id}/tags/{tag}")
def add_project_tag(project_id: str, tag: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).add_project_tag(project_id, tag)
    return Response(status_code=201)


@router.delete("/v3/projects/{project_id}/tags/{tag}")
def remove_project_tag(project_id: str, tag: str, request: Request,
                       ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).remove_project_tag(project_id, tag)
    return Response(status_code=204)


# ---------------------------------------------------------------------- users
def _user_body(body: Any, create: bool) -> dict[str, Any]:
    u = val.wrapped(body, "user")
    data = val.present({
        "name": val.string(u, "name", "user", required=create, min_len=1, max_len=255,
                           strip_check=True),
        "password": val.string(u, "password", "user", nullable=True, max_len=4096),
        "enabled": val.boolean(u, "enabled", "user"),
        "domain_id": val.string(u, "domain_id", "user", nullable=True, max_len=64),
        "default_project_id": val.string(u, "default_project_id", "user", nullable=True,
                                         max_len=64),
        "description": val.string(u, "description", "user", nullable=True, max_len=65535),
    })
    extra = {k: x for k, x in u.items() if k not in
             ("name", "password", "enabled", "domain_id", "default_project_id", "description",
              "id", "links", "options", "federated")}
    if extra:
        data["extra"] = extra
    return data


@router.post("/v3/users")
def create_user(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    data = _user_body(body, True)
    if not data.get("domain_id") and ctx.domain_id:
        data["domain_id"] = ctx.domain_id
    u = _res(request).create_user(data)
    return JSONResponse({"user": v.user(_base(request), u)}, status_code=201)


@router.get("/v3/users")
def list_users(request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    filters = _filters(request, ("name", "domain_id", "enabled"))
    items = [v.user(_base(request), u) for u in _res(request).list_users(filters)]
    return _listing(request, "users", "users", items)


@router.get("/v3/users/{user_id}")
def get_user(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin_or_self(ctx, user_id)
    res = _res(request)
    with res.db.session() as s:
        return {"user": v.user(_base(request), res.get_user(s, user_id))}


@router.patch("/v3/users/{user_id}")
def update_user(user_id: str, request: Request, body: Any = JSON_BODY,
                ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    u = _res(request).update_user(user_id, _user_body(body, False))
    return {"user": v.user(_base(request), u)}


@router.delete("/v3/users/{user_id}")
def delete_user(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_user(user_id)
    return Response(status_code=204)


@router.post("/v3/users/{user_id}/password")
def change_password(user_id: str, request: Request, body: Any = JSON_BODY) -> Response:
    # Authenticated by the original password, as Keystone does: no token needed.
    u = val.wrapped(body, "user")
    original = val.string(u, "original_password", "user", required=True, max_len=4096)
    new = val.string(u, "password", "user", required=True, min_len=1, max_len=4096)
    _res(request).change_password(user_id, original, new)
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/projects")
def user_projects(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin_or_self(ctx, user_id)
    items = [v.project(_base(request), p, []) for p in _res(request).user_projects(user_id)]
    return _listing(request, "projects", f"users/{user_id}/projects", items)


@router.get("/v3/users/{user_id}/groups")
def user_groups(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin_or_self(ctx, user_id)
    res = _res(request)
    with res.db.session() as s:
        res.get_user(s, user_id)
    items = [v.group(_base(request), g) for g in res.list_groups({"user_id": user_id})]
    return _listing(request, "groups", f"users/{user_id}/groups", items)


# --------------------------------------------------------------------- groups
def _group_body(body: Any, create: bool) -> dict[str, Any]:
    g = val.wrapped(body, "group")
    return val.present({
        "name": val.string(g, "name", "group", required=create, min_len=1, max_len=64,
                           strip_check=True),
        "description": val.string(g, "description", "group", nullable=True, max_len=65535),
        "domain_id": val.string(g, "domain_id", "group", nullable=True, max_len=64),
    })


@router.post("/v3/groups")
def create_group(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    g = _res(request).create_group(_group_body(body, True))
    return JSONResponse({"group": v.group(_base(request), g)}, status_code=201)


@router.get("/v3/groups")
def list_groups(request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    items = [v.group(_base(request), g) for g in
             _res(request).list_groups(_filters(request, ("name", "domain_id")))]
    return _listing(request, "groups", "groups", items)


@router.get("/v3/groups/{group_id}")
def get_group(group_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    res = _res(request)
    with res.db.session() as s:
        return {"group": v.group(_base(request), res.get_group(s, group_id))}


@router.patch("/v3/groups/{group_id}")
def update_group(group_id: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    g = _res(request).update_group(group_id, _group_body(body, False))
    return {"group": v.group(_base(request), g)}


@router.delete("/v3/groups/{group_id}")
def delete_group(group_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_group(group_id)
    return Response(status_code=204)


@router.get("/v3/groups/{group_id}/users")
def group_users(group_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    res = _res(request)
    with res.db.session() as s:
        res.get_group(s, group_id)
    items = [v.user(_base(request), u) for u in res.list_users({"group_id": group_id})]
    return _listing(request, "users", f"groups/{group_id}/users", items)


@router.put("/v3/groups/{group_id}/users/{user_id}")
def add_group_user(group_id: str, user_id: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).add_member(group_id, user_id)
    return Response(status_code=204)


@router.head("/v3/groups/{group_id}/users/{user_id}")
@router.get("/v3/groups/{group_id}/users/{user_id}")
def check_group_user(group_id: str, user_id: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).check_member(group_id, user_id)
    return Response(status_code=204)


@router.delete("/v3/groups/{group_id}/users/{user_id}")
def remove_group_user(group_id: str, user_id: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).remove_member(group_id, user_id)
    return Response(status_code=204)


# ---------------------------------------------------------------------- roles
def _role_body(body: Any, create: bool) -> dict[str, Any]:
    r = val.wrapped(body, "role")
    data = val.present({
        "name": val.string(r, "name", "role", required=create, min_len=1, max_len=255,
                           strip_check=True),
        "description": val.string(r, "description", "role", nullable=True, max_len=255),
        "domain_id": val.string(r, "domain_id", "role", nullable=True, max_len=64),
    })
    extra = {k: x for k, x in r.items() if k not in
             ("name", "description", "domain_id", "id", "links", "options")}
    if extra:
        data["extra"] = extra
    return data


@router.post("/v3/roles")
def create_role(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    r = _res(request).create_role(_role_body(body, True))
    return JSONResponse({"role": v.role(_base(request), r)}, status_code=201)


@router.get("/v3/roles")
def list_roles(request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    items = [v.role(_base(request), r) for r in
             _res(request).list_roles(_filters(request, ("name", "domain_id")))]
    return _listing(request, "roles", "roles", items)


@router.get("/v3/roles/{role_id}")
def get_role(role_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    res = _res(request)
    with res.db.session() as s:
        return {"role": v.role(_base(request), res.get_role(s, role_id))}


@router.patch("/v3/roles/{role_id}")
def update_role(role_id: str, request: Request, body: Any = JSON_BODY,
                ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    r = _res(request).update_role(role_id, _role_body(body, False))
    return {"role": v.role(_base(request), r)}


@router.delete("/v3/roles/{role_id}")
def delete_role(role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_role(role_id)
    return Response(status_code=204)


def _inference(request: Request, prior: Any, implied: list[Any]) -> dict[str, Any]:
    b = _base(request)
    return {"prior_role": v.role_ref(b, prior), "implies": [v.role_ref(b, r) for r in implied]}


@router.put("/v3/roles/{prior_id}/implies/{implied_id}")
def add_implied(prior_id: str, implied_id: str, request: Request,
                ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    prior, implied = _res(request).add_implied(prior_id, implied_id)
    b = _base(request)
    return JSONResponse({"role_inference": {"prior_role": v.role_ref(b, prior),
                                            "implies": v.role_ref(b, implied)},
                         "links": v.link(b, f"roles/{prior_id}/implies/{implied_id}")},
                        status_code=201)


@router.get("/v3/roles/{prior_id}/implies/{implied_id}")
def get_implied(prior_id: str, implied_id: str, request: Request,
                ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    prior, implied = _res(request).get_implied(prior_id, implied_id)
    b = _base(request)
    return {"role_inference": {"prior_role": v.role_ref(b, prior),
                               "implies": v.role_ref(b, implied)}}


@router.head("/v3/roles/{prior_id}/implies/{implied_id}")
def check_implied(prior_id: str, implied_id: str, request: Request,
                  ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).get_implied(prior_id, implied_id)
    return Response(status_code=204)


@router.delete("/v3/roles/{prior_id}/implies/{implied_id}")
def delete_implied(prior_id: str, implied_id: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_implied(prior_id, implied_id)
    return Response(status_code=204)


@router.get("/v3/roles/{prior_id}/implies")
def list_implied(prior_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    [(prior, implied)] = _res(request).list_implied(prior_id)
    return {"role_inference": _inference(request, prior, implied),
            "links": v.link(_base(request), f"roles/{prior_id}/implies")}


@router.get("/v3/role_inferences")
def role_inferences(request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    return {"role_inferences": [_inference(request, p, i)
                                for p, i in _res(request).list_implied()],
            "links": v.collection_links(_base(request), "role_inferences")}


# ---------------------------------------------------------------- assignments
_TARGETS = {("projects", "users"): "UserProject", ("projects", "groups"): "GroupProject",
            ("domains", "users"): "UserDomain", ("domains", "groups"): "GroupDomain"}


def _grant_type(target_kind: str, actor_kind: str) -> str:
    typ = _TARGETS.get((target_kind, actor_kind))
    if typ is None:
        raise NotFound("The resource could not be found.")
    return typ


@router.put("/v3/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/{role_id}")
def grant(target_kind: str, target_id: str, actor_kind: str, actor_id: str, role_id: str,
          request: Request, ctx: RequestContext = Ctx) -> Response:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    _res(request).grant(typ, actor_id, target_id, role_id)
    return Response(status_code=204)


@router.head("/v3/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/{role_id}")
@router.get("/v3/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/{role_id}")
def check_grant(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
                role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    _res(request).check_grant(typ, actor_id, target_id, role_id)
    return Response(status_code=204)


@router.delete("/v3/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/{role_id}")
def revoke_grant(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
                 role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    _res(request).revoke_grant(typ, actor_id, target_id, role_id)
    return Response(status_code=204)


@router.get("/v3/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles")
def list_grants(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
                request: Request, ctx: RequestContext = Ctx) -> Any:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    b = _base(request)
    roles = [v.role(b, r) for r in _res(request).list_grants(typ, actor_id, target_id)]
    return {"roles": roles, "links": v.collection_links(
        b, f"{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles")}


@router.put("/v3/system/{actor_kind}/{actor_id}/roles/{role_id}")
def grant_system(actor_kind: str, actor_id: str, role_id: str, request: Request,
                 ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    typ = {"users": "UserSystem", "groups": "GroupSystem"}.get(actor_kind)
    if typ is None:
        raise NotFound("The resource could not be found.")
    _res(request).grant(typ, actor_id, "system", role_id)
    return Response(status_code=204)


@router.delete("/v3/system/{actor_kind}/{actor_id}/roles/{role_id}")
def revoke_system(actor_kind: str, actor_id: str, role_id: str, request: Request,
                  ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    typ = {"users": "UserSystem", "groups": "GroupSystem"}.get(actor_kind)
    if typ is None:
        raise NotFound("The resource could not be found.")
    _res(request).revoke_grant(typ, actor_id, "system", role_id)
    return Response(status_code=204)


@router.get("/v3/system/{actor_kind}/{actor_id}/roles")
def list_system(actor_kind: str, actor_id: str, request: Request,
                ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    typ = {"users": "UserSystem", "groups": "GroupSystem"}.get(actor_kind)
    if typ is None:
        raise NotFound("The resource could not be found.")
    b = _base(request)
    roles = [v.role(b, r) for r in _res(request).list_grants(typ, actor_id, "system")]
    return {"roles": roles, "links": v.collection_links(b, f"system/{actor_kind}/{actor_id}/roles")}


@router.put("/v3/OS-INHERIT/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/{role_id}"
            "/inherited_to_projects")
def grant_inherited(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
                    role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    _res(request).grant(typ, actor_id, target_id, role_id, inherited=True)
    return Response(status_code=204)


@router.head("/v3/OS-INHERIT/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/"
             "{role_id}/inherited_to_projects")
def check_inherited(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
                    role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    _res(request).check_grant(typ, actor_id, target_id, role_id, inherited=True)
    return Response(status_code=204)


@router.delete("/v3/OS-INHERIT/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/"
               "{role_id}/inherited_to_projects")
def revoke_inherited(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
                     role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    _res(request).revoke_grant(typ, actor_id, target_id, role_id, inherited=True)
    return Response(status_code=204)


@router.get("/v3/OS-INHERIT/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles/"
            "inherited_to_projects")
def list_inherited(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
                   request: Request, ctx: RequestContext = Ctx) -> Any:
    typ = _grant_type(target_kind, actor_kind)
    require_admin(ctx)
    b = _base(request)
    roles = [v.role(b, r) for r in _res(request).list_grants(typ, actor_id, target_id,
                                                             inherited=True)]
    return {"roles": roles, "links": v.collection_links(b, "OS-INHERIT")}


@router.get("/v3/role_assignments")
def role_assignments(request: Request, ctx: RequestContext = Ctx) -> Any:
    q = request.query_params
    f: dict[str, Any] = {}
    for key in ("user.id", "group.id", "role.id", "scope.domain.id"):
        if q.get(key):
            f[key] = q[key]
    if q.get("scope.project.id"):
        f["scope.project.id"] = [q["scope.project.id"]]
    if "scope.system" in q:
        f["scope.system"] = True
    if q.get("scope.OS-INHERIT:inherited_to"):
        f["inherited_to"] = True
    f["effective"] = "effective" in q and q.get("effective", "").lower() not in ("false", "0")
    f["include_names"] = val.query_bool(q.get("include_names"), "include_names") or False
    if f["effective"] and "group.id" in f:
        raise BadRequest("Combining effective and group filter will always result in an "
                         "empty list.")
    if not ctx.is_admin:
        own_user = f.get("user.id") == ctx.user_id
        own_project = ctx.project_id is not None and \
            f.get("scope.project.id") == [ctx.project_id]
        if not (own_user or own_project):
            raise Forbidden("You are not authorized to perform the requested action: "
                            "identity:list_role_assignments.")
    b = _base(request)
    items = _res(request).role_assignments(f)
    for e in items:
        scope = e["scope"]
        actor = "users" if "user" in e else "groups"
        actor_id = (e.get("user") or e.get("group") or {})["id"]
        if "project" in scope:
            path = f"projects/{scope['project']['id']}/{actor}/{actor_id}/roles/{e['role']['id']}"
        elif "domain" in scope:
            path = f"domains/{scope['domain']['id']}/{actor}/{actor_id}/roles/{e['role']['id']}"
        else:
            path = f"system/{actor}/{actor_id}/roles/{e['role']['id']}"
        membership = e["links"].pop("membership", None)
        e["links"]["assignment"] = f"{b}/v3/{path}"
        if membership:
            e["links"]["membership"] = f"{b}/v3/{path}"
    return {"role_assignments": items, "links": v.collection_links(b, "role_assignments")}


# -------------------------------------------------------------------- catalog
@router.post("/v3/regions")
def create_region(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    r = val.wrapped(body, "region")
    data = val.present({
        "id": val.string(r, "id", "region", max_len=255, min_len=1),
        "description": val.string(r, "description", "region", nullable=True, max_len=65535),
        "parent_region_id": val.string(r, "parent_region_id", "region", nullable=True),
    })
    region = _res(request).create_region(data)
    return JSONResponse({"region": v.region(_base(request), region)}, status_code=201)


@router.put("/v3/regions/{region_id}")
def put_region(region_id: str, request: Request, body: Any = JSON_BODY,
               ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    r = val.wrapped(body, "region")
    if "id" in r and r["id"] != region_id:
        raise BadRequest("The region id in the body does not match the URL.")
    data = val.present({
        "description": val.string(r, "description", "region", nullable=True, max_len=65535),
        "parent_region_id": val.string(r, "parent_region_id", "region", nullable=True),
    })
    data["id"] = region_id
    region = _res(request).create_region(data)
    return JSONResponse({"region": v.region(_base(request), region)}, status_code=201)


@router.get("/v3/regions")
def list_regions(request: Request, ctx: RequestContext = Ctx) -> Any:
    items = [v.region(_base(request), r) for r in
             _res(request).list_regions(_filters(request, ("parent_region_id",)))]
    return _listing(request, "regions", "regions", items)


@router.get("/v3/regions/{region_id}")
def get_region(region_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    res = _res(request)
    with res.db.session() as s:
        return {"region": v.region(_base(request), res.get_region(s, region_id))}


@router.patch("/v3/regions/{region_id}")
def update_region(region_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    r = val.wrapped(body, "region")
    data = val.present({
        "description": val.string(r, "description", "region", nullable=True, max_len=65535),
        "parent_region_id": val.string(r, "parent_region_id", "region", nullable=True),
    })
    return {"region": v.region(_base(request), _res(request).update_region(region_id, data))}


@router.delete("/v3/regions/{region_id}")
def delete_region(region_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_region(region_id)
    return Response(status_code=204)


def _service_body(body: Any, create: bool) -> dict[str, Any]:
    s = val.wrapped(body, "service")
    return val.present({
        "type": val.string(s, "type", "service", required=create, min_len=1, max_len=255),
        "name": val.string(s, "name", "service", max_len=255),
        "description": val.string(s, "description", "service", nullable=True,
                                  max_len=65535),
        "enabled": val.boolean(s, "enabled", "service"),
    })


@router.post("/v3/services")
def create_service(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    svc = _res(request).create_service(_service_body(body, True))
    return JSONResponse({"service": v.service(_base(request), svc)}, status_code=201)


@router.get("/v3/services")
def list_services(request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    items = [v.service(_base(request), x) for x in
             _res(request).list_services(_filters(request, ("type", "name")))]
    return _listing(request, "services", "services", items)


@router.get("/v3/services/{service_id}")
def get_service(service_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    res = _res(request)
    with res.db.session() as s:
        return {"service": v.service(_base(request), res.get_service(s, service_id))}


@router.patch("/v3/services/{service_id}")
def update_service(service_id: str, request: Request, body: Any = JSON_BODY,
                   ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    svc = _res(request).update_service(service_id, _service_body(body, False))
    return {"service": v.service(_base(request), svc)}


@router.delete("/v3/services/{service_id}")
def delete_service(service_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_service(service_id)
    return Response(status_code=204)


def _endpoint_body(body: Any, create: bool) -> dict[str, Any]:
    e = val.wrapped(body, "endpoint")
    data = val.present({
        "service_id": val.string(e, "service_id", "endpoint", required=create, min_len=1),
        "interface": val.string(e, "interface", "endpoint", required=create),
        "region_id": val.string(e, "region_id", "endpoint", nullable=True),
        "url": val.string(e, "url", "endpoint", required=create, min_len=1, max_len=2048),
        "enabled": val.boolean(e, "enabled", "endpoint"),
    })
    if "region_id" not in data and isinstance(e.get("region"), str):
        data["region_id"] = e["region"]
    if "interface" in data and data["interface"] not in ("public", "internal", "admin"):
        raise val.invalid("endpoint/interface", f"{data['interface']!r} is not one of "
                          "['public', 'internal', 'admin'].")
    if "url" in data and not data["url"].startswith(("http://", "https://")):
        raise val.invalid("endpoint/url", f"{data['url']!r} is not a valid URL.")
    return data


@router.post("/v3/endpoints")
def create_endpoint(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    ep = _res(request).create_endpoint(_endpoint_body(body, True))
    return JSONResponse({"endpoint": v.endpoint(_base(request), ep)}, status_code=201)


@router.get("/v3/endpoints")
def list_endpoints(request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    filters = _filters(request, ("service_id", "interface", "region_id"))
    items = [v.endpoint(_base(request), x) for x in _res(request).list_endpoints(filters)]
    return _listing(request, "endpoints", "endpoints", items)


@router.get("/v3/endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    res = _res(request)
    with res.db.session() as s:
        return {"endpoint": v.endpoint(_base(request), res.get_endpoint(s, endpoint_id))}


@router.patch("/v3/endpoints/{endpoint_id}")
def update_endpoint(endpoint_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Any:
    require_admin(ctx)
    ep = _res(request).update_endpoint(endpoint_id, _endpoint_body(body, False))
    return {"endpoint": v.endpoint(_base(request), ep)}


@router.delete("/v3/endpoints/{endpoint_id}")
def delete_endpoint(endpoint_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    require_admin(ctx)
    _res(request).delete_endpoint(endpoint_id)
    return Response(status_code=204)


# ------------------------------------------------------ application credentials
def _parse_expiry(raw: Any) -> dt.datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise val.invalid("application_credential/expires_at", "it must be a string.")
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise val.invalid("application_credential/expires_at",
                          f"{raw!r} is not an ISO 8601 time.")
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


@router.post("/v3/users/{user_id}/application_credentials")
def create_app_cred(user_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Any:
    if ctx.user_id != user_id:
        raise Forbidden("You can only create application credentials for yourself.")
    if not ctx.project_id:
        raise Forbidden("Application credentials need a project-scoped token.")
    a = val.wrapped(body, "application_credential")
    data = val.present({
        "name": val.string(a, "name", "application_credential", required=True, min_len=1,
                           max_len=255),
        "description": val.string(a, "description", "application_credential",
                                  nullable=True, max_len=65535),
        "secret": val.string(a, "secret", "application_credential", nullable=True,
                             min_len=1, max_len=4096),
        "unrestricted": val.boolean(a, "unrestricted", "application_credential"),
    })
    data["expires_at"] = _parse_expiry(a.get("expires_at"))
    if "roles" in a:
        if not isinstance(a["roles"], list) or not all(isinstance(r, dict) for r in a["roles"]):
            raise val.invalid("application_credential/roles", "it must be a list of objects.")
        data["roles"] = a["roles"]
    restricted = ctx.application_credential_id is not None
    if restricted:
        res = _res(request)
        from overcast.identity import models as m

        current = res.lookup(m.ApplicationCredential, ctx.application_credential_id or "")
        restricted = current is None or not current.unrestricted
    ac, secret = _res(request).create_app_cred(user_id, ctx.project_id, ctx.role_ids, data,
                                               restricted)
    roles = _res(request).role_refs(ac.role_ids)
    return JSONResponse({"application_credential": v.app_cred(_base(request), ac, roles,
                                                              secret)}, status_code=201)


@router.get("/v3/users/{user_id}/application_credentials")
def list_app_creds(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin_or_self(ctx, user_id)
    res = _res(request)
    items = [v.app_cred(_base(request), ac, res.role_refs(ac.role_ids))
             for ac in res.list_app_creds(user_id, request.query_params.get("name"))]
    return {"application_credentials": items,
            "links": v.collection_links(_base(request),
                                        f"users/{user_id}/application_credentials")}


@router.get("/v3/users/{user_id}/application_credentials/{ac_id}")
def get_app_cred(user_id: str, ac_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    require_admin_or_self(ctx, user_id)
    res = _res(request)
    with res.db.session() as s:
        ac = res.get_app_cred(s, user_id, ac_id)
    return {"application_credential": v.app_cred(_base(request), ac,
                                                 res.role_refs(ac.role_ids))}


@router.delete("/v3/users/{user_id}/application_credentials/{ac_id}")
def delete_app_cred(user_id: str, ac_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    require_admin_or_self(ctx, user_id)
    _res(request).delete_app_cred(user_id, ac_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ mounting
def setup(app: Any) -> None:
    """Create the identity service on the app and make it the token authority."""
    from overcast.identity.service import IdentityResources, IdentityService
    from overcast.kit.web import ServiceSpec

    svc = IdentityService(app.state.db, app.state.settings)
    app.state.identity = svc
    app.state.identity_resources = IdentityResources(svc)
    app.state.authenticate = svc.context_for
    app.state.identity_url = f"{app.state.settings.base_url}/identity/v3"
    app.state.specs.append(ServiceSpec(
        name="keystone", type="identity", prefix="/identity", error_style="keystone",
        endpoint_path="/identity/v3", routers=[router]))
