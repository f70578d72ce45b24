"""Keystone v3 routes: check (the JSON schemas in schemas.py, declared with
`@accepts` so they run before the handler and /openapi.json lists them), parse
(schemas.py), authorise (policy.py), delegate to the resource's part of the
service (`app.state.identity.<part>`), shape the reply (views.py). No SQL here.

The create/list/show/update/delete routes of the plain resources differ only by
name, so they are generated from the `CRUD` table (each row with its schemas); the
rest (tokens, tags, members, role inference, grants, application credentials) are
written out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Route

from overcast.identity import errors as e
from overcast.identity import policy
from overcast.identity import schemas as sc
from overcast.identity import views as v
from overcast.identity.assignments import GRANT_TYPES, SYSTEM_GRANT_TYPES
from overcast.identity.auth import TokenInfo
from overcast.identity.service import IdentityService
from overcast.kit import validate as val
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound
from overcast.kit.schema import Schema, accepts
from overcast.kit.web import get_context

router = APIRouter()
Ctx = Depends(get_context)
JSON_BODY = Body(None)
ADMIN = [policy.ADMIN]

VERSION_ID = "v3.14"
MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def _svc(request: Request) -> IdentityService:
    return request.app.state.identity  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/identity"


def _version(request: Request) -> dict[str, Any]:
    return {"id": VERSION_ID, "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{_base(request)}/v3/"}], "media-types": MEDIA}


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


def _roles(request: Request, roles: Sequence[Any], path: str) -> dict[str, Any]:
    b = _base(request)
    return {"roles": [v.role(b, r) for r in roles], "links": v.collection_links(b, path)}


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
def _token_response(request: Request, token: str, info: TokenInfo, status: int) -> Response:
    nocatalog = "nocatalog" in request.query_params
    catalog = None if nocatalog else _svc(request).catalog(
        info.project["id"] if info.project else None)
    return JSONResponse(v.token(info, catalog), status_code=status,
                        headers={"X-Subject-Token": token})


@router.post("/v3/auth/tokens")
@accepts(body=sc.TOKEN_ISSUE, query=sc.TOKEN_ISSUE_QUERY)
def issue_token(request: Request, body: Any = JSON_BODY) -> Response:
    token, info = _svc(request).authenticate(val.wrapped(body, "auth"))
    return _token_response(request, token, info, 201)


def _subject(request: Request) -> str:
    subject = request.headers.get("x-subject-token")
    if not subject:
        raise NotFound("X-Subject-Token is required to identify the token.")
    return subject


@accepts(query=sc.TOKEN_VALIDATE_QUERY)
async def validate_token(request: Request, ctx: RequestContext = Ctx) -> Response:
    subject = _subject(request)
    allow_expired = sc.query_bool(request.query_params.get("allow_expired", "false"))
    if subject != ctx.auth_token and not policy.may_validate_others(ctx):
        info = _svc(request).validate(subject, allow_expired=allow_expired)
        policy.enforce(info.user["id"] == ctx.user_id, e.VALIDATE_DENIED)
    info = _svc(request).validate(subject, allow_expired=allow_expired)
    _check_access_rules_support(request, info)
    return _token_response(request, subject, info, 200)


async def _validate_token_route(request: Request) -> Response:
    """`GET /v3/auth/tokens` as a plain Starlette route: every service validates
    tokens here (keystonemiddleware does, on each request it has not cached), so it
    skips FastAPI's dependency solving and parameter binding, which cost more than
    a cached validation itself. The same checks run, in the same order: the caller's
    token (401), the query schema (`validate_token`'s @accepts, 400), then the
    subject's (404)."""
    ctx = await get_context(request)
    return await validate_token(request=request, ctx=ctx)


_validate_token_route.__request_schemas__ = validate_token.__request_schemas__  # type: ignore[attr-defined]
_validate_route = Route("/v3/auth/tokens", _validate_token_route, methods=["GET"],
                        name="validate_token")
# Starlette adds HEAD to a GET route: HEAD /v3/auth/tokens is `check_token`'s.
_validate_route.methods = {"GET"}
router.routes.append(_validate_route)


def _check_access_rules_support(request: Request, info: TokenInfo) -> None:
    """A token limited by access rules is only shown to a validator that says it
    enforces them (`OpenStack-Identity-Access-Rules: 1.0`, as keystonemiddleware
    sends); to any other it is not found, so no service honours it unlimited."""
    if not info.access_rules:
        return
    try:
        version = float(request.headers.get("openstack-identity-access-rules", "0"))
    except ValueError:
        version = 0.0
    if version < 1.0:
        raise NotFound("Failed to validate token")


@router.head("/v3/auth/tokens")
def check_token(request: Request, ctx: RequestContext = Ctx) -> Response:
    subject = _subject(request)
    info = _svc(request).validate(subject)
    _check_access_rules_support(request, info)
    policy.enforce_token_owner(ctx, info.user["id"], services=True, message=e.VALIDATE_DENIED)
    return Response(status_code=200, headers={"X-Subject-Token": subject})


@router.delete("/v3/auth/tokens")
def revoke_token(request: Request, ctx: RequestContext = Ctx) -> Response:
    subject = _subject(request)
    info = _svc(request).validate(subject)
    policy.enforce_token_owner(ctx, info.user["id"], services=False, message=e.REVOKE_DENIED)
    _svc(request).revoke_token(subject)
    return Response(status_code=204)


@router.get("/v3/auth/catalog")
def auth_catalog(request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce_scoped(ctx)
    return {"catalog": _svc(request).catalog(ctx.project_id),
            "links": v.collection_links(_base(request), "auth/catalog")}


@router.get("/v3/auth/projects")
def auth_projects(request: Request, ctx: RequestContext = Ctx) -> Any:
    assert ctx.user_id
    items = [v.project(_base(request), p, []) for p in _svc(request).users.projects(ctx.user_id)
             if p.enabled]
    return {"projects": items, "links": v.collection_links(_base(request), "auth/projects")}


@router.get("/v3/auth/domains")
def auth_domains(request: Request, ctx: RequestContext = Ctx) -> Any:
    assert ctx.user_id
    items = [v.domain(_base(request), d) for d in _svc(request).users.domains(ctx.user_id)]
    return {"domains": items, "links": v.collection_links(_base(request), "auth/domains")}


@router.get("/v3/auth/system")
def auth_system(request: Request, ctx: RequestContext = Ctx) -> Any:
    assert ctx.user_id
    roles = _svc(request).users.system_roles(ctx.user_id)
    return {"system": [{"all": True}] if roles else [],
            "links": v.collection_links(_base(request), "auth/system")}


# ----------------------------------------------------------- generated CRUD
class CrudPart(Protocol):
    """What a resource module's class offers the generated routes."""

    def create(self, data: dict[str, Any]) -> Any: ...
    def find(self, filters: dict[str, Any]) -> Sequence[Any]: ...
    def show(self, ident: str) -> Any: ...
    def update(self, ident: str, data: dict[str, Any]) -> Any: ...
    def delete(self, ident: str) -> None: ...


def _from_token_domain(ctx: RequestContext, data: dict[str, Any]) -> None:
    """A user created with a domain-scoped token lands in that domain by default."""
    if not data.get("domain_id") and ctx.domain_id:
        data["domain_id"] = ctx.domain_id


def _project_from_token_domain(ctx: RequestContext, data: dict[str, Any]) -> None:
    """As for users, unless a parent project decides the domain."""
    if not data.get("parent_id"):
        _from_token_domain(ctx, data)


@dataclass(frozen=True)
class Crud:
    """One resource whose routes are generated: `/v3/<collection>[/{id}]`."""

    singular: str
    collection: str
    part: Callable[[IdentityService], CrudPart]
    parse: Callable[[Any, bool], dict[str, Any]]  # (body, creating) -> data
    view: Callable[[str, Any], dict[str, Any]]  # (base URL, record) -> wire shape
    #: the JSON schemas of its create and update bodies and of its listing's query
    create_schema: Schema
    update_schema: Schema
    list_schema: Schema
    filters: tuple[str, ...] = ()
    #: adjusts a create's data from the caller's token
    defaults: Callable[[RequestContext, dict[str, Any]], None] | None = None
    #: narrows a listing to what the caller may see
    scope: Callable[[RequestContext, dict[str, Any]], None] | None = None
    #: an extension's path segment before the collection ("OS-EP-FILTER/")
    prefix: str = ""


CRUD = [
    Crud("domain", "domains", lambda sv: sv.domains, sc.domain, v.domain,
         sc.DOMAIN_CREATE, sc.DOMAIN_UPDATE, sc.DOMAIN_LIST,
         ("name", "enabled"), scope=policy.scope_domain_listing),
    Crud("project", "projects", lambda sv: sv.projects, sc.project,
         lambda b, rec: v.project(b, *rec),
         sc.PROJECT_CREATE, sc.PROJECT_UPDATE, sc.PROJECT_LIST,
         ("name", "domain_id", "enabled", "parent_id", *sc.LIST_FILTERS, "is_domain"),
         defaults=_project_from_token_domain),
    Crud("user", "users", lambda sv: sv.users, sc.user, v.user,
         sc.USER_CREATE, sc.USER_UPDATE, sc.USER_LIST,
         ("name", "domain_id", "enabled", "password_expires_at"),
         defaults=_from_token_domain),
    Crud("group", "groups", lambda sv: sv.groups, sc.group, v.group,
         sc.GROUP_CREATE, sc.GROUP_UPDATE, sc.GROUP_LIST, ("name", "domain_id")),
    Crud("role", "roles", lambda sv: sv.roles, sc.role, v.role,
         sc.ROLE_CREATE, sc.ROLE_UPDATE, sc.ROLE_LIST, ("name", "domain_id")),
    Crud("region", "regions", lambda sv: sv.regions, sc.region, v.region,
         sc.REGION_CREATE, sc.REGION_UPDATE, sc.REGION_LIST, ("parent_region_id",)),
    Crud("service", "services", lambda sv: sv.services, sc.service, v.service,
         sc.SERVICE_CREATE, sc.SERVICE_UPDATE, sc.SERVICE_LIST, ("type", "name")),
    Crud("endpoint", "endpoints", lambda sv: sv.endpoints, sc.endpoint, v.endpoint,
         sc.ENDPOINT_CREATE, sc.ENDPOINT_UPDATE, sc.ENDPOINT_LIST,
         ("service_id", "interface", "region_id")),
    Crud("policy", "policies", lambda sv: sv.policies, sc.policy_doc, v.policy_doc,
         sc.POLICY_CREATE, sc.POLICY_UPDATE, sc.POLICY_LIST, ("type",)),
    Crud("endpoint_group", "endpoint_groups", lambda sv: sv.endpoint_groups,
         sc.endpoint_group, v.endpoint_group,
         sc.EP_GROUP_CREATE, sc.EP_GROUP_UPDATE, sc.EP_GROUP_LIST, ("name",),
         prefix="OS-EP-FILTER/"),
]


def _register(c: Crud) -> None:
    rules = policy.crud_rules(c.collection)
    path = f"/v3/{c.prefix}{c.collection}"

    @router.post(path, name=f"create_{c.singular}")
    @accepts(body=c.create_schema)
    def create(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Any:
        policy.enforce(rules.create(ctx, ""))
        data = c.parse(body, True)
        if c.defaults:
            c.defaults(ctx, data)
        record = c.part(_svc(request)).create(data)
        return JSONResponse({c.singular: c.view(_base(request), record)}, status_code=201)

    @router.get(path, name=f"list_{c.collection}")
    @accepts(query=c.list_schema)
    def find(request: Request, ctx: RequestContext = Ctx) -> Any:
        policy.enforce(rules.find(ctx, ""))
        filters = sc.filters(request.query_params, c.filters)
        if c.scope:
            c.scope(ctx, filters)
        b = _base(request)
        items = [c.view(b, x) for x in c.part(_svc(request)).find(filters)]
        return _listing(request, c.collection, c.prefix + c.collection, items)

    @router.get(path + "/{ident}", name=f"get_{c.singular}")
    def show(ident: str, request: Request, ctx: RequestContext = Ctx) -> Any:
        policy.enforce(rules.show(ctx, ident))
        return {c.singular: c.view(_base(request), c.part(_svc(request)).show(ident))}

    @router.patch(path + "/{ident}", name=f"update_{c.singular}")
    @accepts(body=c.update_schema)
    def update(ident: str, request: Request, body: Any = JSON_BODY,
               ctx: RequestContext = Ctx) -> Any:
        policy.enforce(rules.update(ctx, ident))
        record = c.part(_svc(request)).update(ident, c.parse(body, False))
        return {c.singular: c.view(_base(request), record)}

    @router.delete(path + "/{ident}", name=f"delete_{c.singular}", status_code=204)
    def delete(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        policy.enforce(rules.delete(ctx, ident))
        c.part(_svc(request)).delete(ident)
        return Response(status_code=204)


for _crud in CRUD:
    _register(_crud)


# --------------------------------------------------------------- project tags
@router.get("/v3/projects/{project_id}/tags")
def list_project_tags(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.admin_or_own_project(ctx, project_id))
    _, tags = _svc(request).projects.show(project_id)
    return {"tags": tags}


@router.put("/v3/projects/{project_id}/tags", dependencies=ADMIN)
@accepts(body=sc.PROJECT_TAGS)
def set_project_tags(project_id: str, request: Request, body: Any = JSON_BODY) -> Any:
    return {"tags": _svc(request).projects.set_tags(project_id, sc.tags(body))}


@router.delete("/v3/projects/{project_id}/tags", dependencies=ADMIN)
def clear_project_tags(project_id: str, request: Request) -> Response:
    _svc(request).projects.set_tags(project_id, [])
    return Response(status_code=204)


@router.get("/v3/projects/{project_id}/tags/{tag}", status_code=204)
@router.head("/v3/projects/{project_id}/tags/{tag}", status_code=204)
def check_project_tag(project_id: str, tag: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    policy.enforce(policy.admin_or_own_project(ctx, project_id))
    _, tags = _svc(request).projects.show(project_id)
    if tag not in tags:
        raise e.no_such_tag(project_id, tag)
    return Response(status_code=204)


@router.put("/v3/projects/{project_id}/tags/{tag}", dependencies=ADMIN)
def add_project_tag(project_id: str, tag: str, request: Request) -> Response:
    sc.PROJECT_TAG.check({"tag": tag})
    _svc(request).projects.add_tag(project_id, tag)
    return Response(status_code=201)


@router.delete("/v3/projects/{project_id}/tags/{tag}", dependencies=ADMIN)
def remove_project_tag(project_id: str, tag: str, request: Request) -> Response:
    _svc(request).projects.remove_tag(project_id, tag)
    return Response(status_code=204)


# ---------------------------------------------------------------------- users
@router.post("/v3/users/{user_id}/password")
@accepts(body=sc.PASSWORD_CHANGE)
def change_password(user_id: str, request: Request, body: Any = JSON_BODY) -> Response:
    # Authenticated by the original password, as Keystone does: no token needed.
    original, new = sc.password_change(body)
    _svc(request).users.change_password(user_id, original, new)
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/projects")
@accepts(query=sc.MEMBER_LIST)
def user_projects(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    items = [v.project(_base(request), p, []) for p in _svc(request).users.projects(user_id)]
    return _listing(request, "projects", f"users/{user_id}/projects", items)


@router.get("/v3/users/{user_id}/groups")
@accepts(query=sc.MEMBER_LIST)
def user_groups(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    items = [v.group(_base(request), g) for g in _svc(request).users.groups(user_id)]
    return _listing(request, "groups", f"users/{user_id}/groups", items)


# ------------------------------------------------------------- group members
@router.get("/v3/groups/{group_id}/users", dependencies=ADMIN)
@accepts(query=sc.MEMBER_LIST)
def group_users(group_id: str, request: Request) -> Any:
    items = [v.user(_base(request), u) for u in _svc(request).groups.members(group_id)]
    return _listing(request, "users", f"groups/{group_id}/users", items)


@router.put("/v3/groups/{group_id}/users/{user_id}", dependencies=ADMIN)
def add_group_user(group_id: str, user_id: str, request: Request) -> Response:
    _svc(request).groups.add_member(group_id, user_id)
    return Response(status_code=204)


@router.head("/v3/groups/{group_id}/users/{user_id}", dependencies=ADMIN)
@router.get("/v3/groups/{group_id}/users/{user_id}", dependencies=ADMIN)
def check_group_user(group_id: str, user_id: str, request: Request) -> Response:
    _svc(request).groups.check_member(group_id, user_id)
    return Response(status_code=204)


@router.delete("/v3/groups/{group_id}/users/{user_id}", dependencies=ADMIN)
def remove_group_user(group_id: str, user_id: str, request: Request) -> Response:
    _svc(request).groups.remove_member(group_id, user_id)
    return Response(status_code=204)


# ------------------------------------------------------------- role inference
@router.put("/v3/roles/{prior_id}/implies/{implied_id}", dependencies=ADMIN)
def add_implied(prior_id: str, implied_id: str, request: Request) -> Any:
    prior, implied = _svc(request).roles.add_implied(prior_id, implied_id)
    b = _base(request)
    return JSONResponse({"role_inference": v.single_inference(b, prior, implied),
                         "links": v.link(b, f"roles/{prior_id}/implies/{implied_id}")},
                        status_code=201)


@router.get("/v3/roles/{prior_id}/implies/{implied_id}", dependencies=ADMIN)
def get_implied(prior_id: str, implied_id: str, request: Request) -> Any:
    prior, implied = _svc(request).roles.get_implied(prior_id, implied_id)
    return {"role_inference": v.single_inference(_base(request), prior, implied)}


@router.head("/v3/roles/{prior_id}/implies/{implied_id}", dependencies=ADMIN)
def check_implied(prior_id: str, implied_id: str, request: Request) -> Response:
    _svc(request).roles.get_implied(prior_id, implied_id)
    return Response(status_code=204)


@router.delete("/v3/roles/{prior_id}/implies/{implied_id}", dependencies=ADMIN)
def delete_implied(prior_id: str, implied_id: str, request: Request) -> Response:
    _svc(request).roles.delete_implied(prior_id, implied_id)
    return Response(status_code=204)


@router.get("/v3/roles/{prior_id}/implies", dependencies=ADMIN)
def list_implied(prior_id: str, request: Request) -> Any:
    [(prior, implied)] = _svc(request).roles.list_implied(prior_id)
    return {"role_inference": v.inference(_base(request), prior, implied),
            "links": v.link(_base(request), f"roles/{prior_id}/implies")}


@router.get("/v3/role_inferences", dependencies=ADMIN)
def role_inferences(request: Request) -> Any:
    b = _base(request)
    return {"role_inferences": [v.inference(b, p, i)
                                for p, i in _svc(request).roles.list_implied()],
            "links": v.collection_links(b, "role_inferences")}


# ---------------------------------------------------------------- assignments
# A grant URL that names no known (target, actor) pair is a 404, before any
# policy check: the check runs in the handler, after `_grant_type`.
GRANT = "/v3/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles"
INHERITED = "/v3/OS-INHERIT/{target_kind}/{target_id}/{actor_kind}/{actor_id}/roles"
SYSTEM = "/v3/system/{actor_kind}/{actor_id}/roles"


def _grant_type(target_kind: str, actor_kind: str, ctx: RequestContext) -> str:
    typ = GRANT_TYPES.get((target_kind, actor_kind))
    if typ is None:
        raise NotFound(e.NO_SUCH_RESOURCE)
    policy.enforce(policy.admin(ctx))
    return typ


def _system_type(actor_kind: str) -> str:
    typ = SYSTEM_GRANT_TYPES.get(actor_kind)
    if typ is None:
        raise NotFound(e.NO_SUCH_RESOURCE)
    return typ


@dataclass(frozen=True)
class Grants:
    """One family of project/domain grant routes: direct, or inherited by the
    projects below (OS-INHERIT). They differ only by URL and the inherited flag."""

    prefix: str  # up to ".../roles"
    suffix: str  # after "/{role_id}"
    inherited: bool
    check_methods: tuple[str, ...]
    list_path: str
    #: the listing's self link, from the URL's kinds and ids
    list_link: Callable[[str, str, str, str], str]


GRANTS = [
    Grants(GRANT, "", False, ("HEAD", "GET"), GRANT,
           lambda tk, tid, ak, aid: f"{tk}/{tid}/{ak}/{aid}/roles"),
    Grants(INHERITED, "/inherited_to_projects", True, ("HEAD",),
           INHERITED + "/inherited_to_projects", lambda tk, tid, ak, aid: "OS-INHERIT"),
]


def _register_grants(g: Grants) -> None:
    one = g.prefix + "/{role_id}" + g.suffix
    tag = "_inherited" if g.inherited else ""

    @router.put(one, name=f"grant{tag}")
    def grant(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
              role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        typ = _grant_type(target_kind, actor_kind, ctx)
        _svc(request).assignments.grant(typ, actor_id, target_id, role_id, g.inherited)
        return Response(status_code=204)

    @router.api_route(one, methods=list(g.check_methods), name=f"check{tag or '_grant'}")
    def check(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
              role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        typ = _grant_type(target_kind, actor_kind, ctx)
        _svc(request).assignments.check(typ, actor_id, target_id, role_id, g.inherited)
        return Response(status_code=204)

    @router.delete(one, name=f"revoke{tag or '_grant'}")
    def revoke(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
               role_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        typ = _grant_type(target_kind, actor_kind, ctx)
        _svc(request).assignments.revoke(typ, actor_id, target_id, role_id, g.inherited)
        return Response(status_code=204)

    @router.get(g.list_path, name=f"list{tag or '_grants'}")
    def list_(target_kind: str, target_id: str, actor_kind: str, actor_id: str,
              request: Request, ctx: RequestContext = Ctx) -> Any:
        typ = _grant_type(target_kind, actor_kind, ctx)
        roles = _svc(request).assignments.roles(typ, actor_id, target_id, g.inherited)
        return _roles(request, roles, g.list_link(target_kind, target_id, actor_kind,
                                                  actor_id))


_register_grants(GRANTS[0])


@router.put(SYSTEM + "/{role_id}", dependencies=ADMIN)
def grant_system(actor_kind: str, actor_id: str, role_id: str, request: Request) -> Response:
    _svc(request).assignments.grant(_system_type(actor_kind), actor_id, "system", role_id)
    return Response(status_code=204)


@router.api_route(SYSTEM + "/{role_id}", methods=["HEAD", "GET"], dependencies=ADMIN)
def check_system(actor_kind: str, actor_id: str, role_id: str, request: Request) -> Response:
    _svc(request).assignments.check(_system_type(actor_kind), actor_id, "system", role_id)
    return Response(status_code=204)


@router.delete(SYSTEM + "/{role_id}", dependencies=ADMIN)
def revoke_system(actor_kind: str, actor_id: str, role_id: str, request: Request) -> Response:
    _svc(request).assignments.revoke(_system_type(actor_kind), actor_id, "system", role_id)
    return Response(status_code=204)


@router.get(SYSTEM, dependencies=ADMIN)
def list_system(actor_kind: str, actor_id: str, request: Request) -> Any:
    roles = _svc(request).assignments.roles(_system_type(actor_kind), actor_id, "system")
    return _roles(request, roles, f"system/{actor_kind}/{actor_id}/roles")


_register_grants(GRANTS[1])


#: Filters a role assignment listing cannot combine, with Keystone's words.
_NOT_BOTH = [("scope.domain.id", "scope.project.id", "Specify a domain or project, not both"),
             ("scope.domain.id", "scope.system", "Specify system or domain, not both"),
             ("scope.project.id", "scope.system", "Specify system or project, not both"),
             ("user.id", "group.id", "Specify a user or group, not both")]


def _assignment_filters(request: Request) -> dict[str, Any]:
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
    f["include_names"] = sc.query_bool(q.get("include_names", "false"))
    if f["effective"] and "group.id" in f:
        raise BadRequest(e.EFFECTIVE_WITH_GROUP)
    for a, b, why in _NOT_BOTH:
        if q.get(a) and q.get(b) is not None:
            raise BadRequest(why)
    return f


@router.get("/v3/role_assignments")
@accepts(query=sc.ROLE_ASSIGNMENTS_LIST)
def role_assignments(request: Request, ctx: RequestContext = Ctx) -> Any:
    f = _assignment_filters(request)
    policy.enforce_list_assignments(ctx, f)
    b = _base(request)
    items = v.role_assignments(b, _svc(request).assignments.listing(f))
    return {"role_assignments": items, "links": v.collection_links(b, "role_assignments")}


# ---------------------------------------------------------------- regions (PUT)
@router.put("/v3/regions/{region_id}", dependencies=ADMIN)
@accepts(body=sc.REGION_CREATE)
def put_region(region_id: str, request: Request, body: Any = JSON_BODY) -> Any:
    region = _svc(request).regions.create(sc.region_put(body, region_id))
    return JSONResponse({"region": v.region(_base(request), region)}, status_code=201)


# ------------------------------------------------------ application credentials
APP_CREDS = "/v3/users/{user_id}/application_credentials"


@router.post(APP_CREDS)
@accepts(body=sc.APP_CRED_CREATE)
def create_app_cred(user_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Any:
    project_id = policy.enforce_app_cred_create(ctx, user_id)
    if ctx.auth_token and _svc(request).validate(ctx.auth_token).trust:
        # as Keystone: a trustee must not turn a trust into a lasting credential
        raise Forbidden("Application credentials cannot be created with a trust-scoped "
                        "token.")
    ac, roles, secret = _svc(request).app_creds.create(
        user_id, project_id, ctx.role_ids, sc.app_cred(body), ctx.application_credential_id)
    return JSONResponse({"application_credential": v.app_cred(_base(request), ac, roles,
                                                              secret)}, status_code=201)


@router.get(APP_CREDS)
@accepts(query=sc.APP_CRED_LIST)
def list_app_creds(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    b = _base(request)
    found = _svc(request).app_creds.find(user_id, request.query_params.get("name"))
    return {"application_credentials": [v.app_cred(b, ac, roles) for ac, roles in found],
            "links": v.collection_links(b, f"users/{user_id}/application_credentials")}


@router.get(APP_CREDS + "/{ac_id}")
def get_app_cred(user_id: str, ac_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    ac, roles = _svc(request).app_creds.show(user_id, ac_id)
    return {"application_credential": v.app_cred(_base(request), ac, roles)}


@router.delete(APP_CREDS + "/{ac_id}")
def delete_app_cred(user_id: str, ac_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    _svc(request).app_creds.delete(user_id, ac_id)
    return Response(status_code=204)


ACCESS_RULES = "/v3/users/{user_id}/access_rules"


@router.get(ACCESS_RULES)
@accepts(query=sc.ACCESS_RULE_LIST)
def list_access_rules(user_id: str, request: Request, ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    rules = _svc(request).access_rules.find(user_id, dict(request.query_params))
    b = _base(request)
    return {"access_rules": [{**r, "links": v.link(b, f"users/{user_id}/access_rules/"
                                                      f"{r['id']}")} for r in rules],
            "links": v.collection_links(b, f"users/{user_id}/access_rules")}


@router.get(ACCESS_RULES + "/{rule_id}")
def show_access_rule(user_id: str, rule_id: str, request: Request,
                     ctx: RequestContext = Ctx) -> Any:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    r = _svc(request).access_rules.show(user_id, rule_id)
    return {"access_rule": {**r, "links": v.link(
        _base(request), f"users/{user_id}/access_rules/{rule_id}")}}


@router.delete(ACCESS_RULES + "/{rule_id}")
def delete_access_rule(user_id: str, rule_id: str, request: Request,
                       ctx: RequestContext = Ctx) -> Response:
    policy.enforce(policy.admin_or_self(ctx, user_id))
    _svc(request).access_rules.delete(user_id, rule_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ mounting
def setup(app: Any) -> None:
    """Create the identity service on the app and make it the token authority."""
    from overcast.identity.credentials_api import router as credentials_router
    from overcast.identity.documents_api import router as documents_router
    from overcast.identity.domain_configs_api import router as domain_configs_router
    from overcast.identity.trusts_api import router as trusts_router
    from overcast.kit.web import ServiceSpec

    svc = IdentityService(app.state.db, app.state.settings)
    app.state.identity = svc
    app.state.authenticate = svc.auth.context_for
    app.state.identity_url = f"{app.state.settings.base_url}/identity/v3"
    app.state.specs.append(ServiceSpec(
        name="keystone", type="identity", prefix="/identity", error_style="keystone",
        endpoint_path="/identity/v3", routers=[domain_configs_router, router, credentials_router,
                                               documents_router, trusts_router]))
