"""Who may do what in identity, in one place: Keystone's defaults as overcast
applies them. Admins may do anything; a user may read itself, its own project
and its own domains, manage its own tokens and application credentials, and list
its own role assignments; everything else is admin-only.

A rule is a function of (context, the id the URL names). The routes either
declare `ADMIN` as a dependency or call `enforce(rule(ctx, ident))`; a failure is
Keystone's 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends

from overcast.identity import errors as e
from overcast.kit.context import RequestContext
from overcast.kit.errors import Forbidden
from overcast.kit.web import get_context

#: (caller, the id named by the URL) -> allowed?
Rule = Callable[[RequestContext, str], bool]



async def _admin_only(ctx: RequestContext = Depends(get_context)) -> None:
    if not ctx.is_admin:
        raise Forbidden(e.NOT_AUTHORIZED)


#: A route dependency: only admins get past it. (Not kit.policy.admin_only: under
#: `from __future__ import annotations` its `request: Request` parameter does not
#: resolve, so FastAPI takes it for a required query parameter and answers 400.)
ADMIN = Depends(_admin_only)


def enforce(allowed: bool, message: str = e.NOT_AUTHORIZED) -> None:
    if not allowed:
        raise Forbidden(message)


def admin(ctx: RequestContext, ident: str = "") -> bool:
    return ctx.is_admin


def anyone(ctx: RequestContext, ident: str = "") -> bool:
    """Any authenticated caller (regions are public knowledge)."""
    return True


def admin_or_self(ctx: RequestContext, user_id: str) -> bool:
    return ctx.is_admin or ctx.user_id == user_id


def admin_or_own_project(ctx: RequestContext, project_id: str) -> bool:
    return ctx.is_admin or ctx.project_id == project_id


def admin_or_own_domain(ctx: RequestContext, domain_id: str) -> bool:
    """The domain the token is scoped to, or that its user or project is in."""
    return ctx.is_admin or domain_id in (ctx.domain_id, ctx.project_domain_id,
                                         ctx.user_domain_id)


@dataclass(frozen=True)
class CrudRules:
    """The rule of each generated CRUD route of one resource."""

    create: Rule = admin
    find: Rule = admin
    show: Rule = admin
    update: Rule = admin
    delete: Rule = admin


#: Collection name -> rules; a collection not listed is admin-only throughout.
CRUD: dict[str, CrudRules] = {
    "domains": CrudRules(find=anyone, show=admin_or_own_domain),
    "projects": CrudRules(show=admin_or_own_project),
    "users": CrudRules(show=admin_or_self),
    "regions": CrudRules(find=anyone, show=anyone),
}


def crud_rules(collection: str) -> CrudRules:
    return CRUD.get(collection, CrudRules())


def scope_domain_listing(ctx: RequestContext, filters: dict[str, Any]) -> None:
    """Non-admins see only the domains they are scoped to or belong to."""
    if not ctx.is_admin:
        filters["ids"] = [x for x in (ctx.domain_id, ctx.user_domain_id,
                                      ctx.project_domain_id) if x]


# ------------------------------------------------------------------- tokens
def may_validate_others(ctx: RequestContext) -> bool:
    """Admins and services may validate anyone's token; a user only its own."""
    return ctx.is_admin or ctx.has_role("service")


def enforce_token_owner(ctx: RequestContext, owner_id: str, *, services: bool,
                        message: str) -> None:
    """The subject token must be the caller's, unless the caller is an admin (or a
    service, where `services` says so)."""
    privileged = may_validate_others(ctx) if services else ctx.is_admin
    enforce(owner_id == ctx.user_id or privileged, message)


def enforce_scoped(ctx: RequestContext) -> None:
    """The catalog is shown only to a scoped token."""
    enforce(bool(ctx.project_id or ctx.domain_id or ctx.system_scope),
            e.CATALOG_NEEDS_SCOPE)


# -------------------------------------------------- application credentials
def enforce_app_cred_create(ctx: RequestContext, user_id: str) -> str:
    """A user creates credentials only for itself, from a project-scoped token;
    return that project."""
    enforce(ctx.user_id == user_id, e.APP_CRED_NOT_YOURS)
    enforce(bool(ctx.project_id), e.APP_CRED_NEEDS_PROJECT)
    assert ctx.project_id
    return ctx.project_id


# ---------------------------------------------------------- role assignments
def enforce_list_assignments(ctx: RequestContext, f: dict[str, Any]) -> None:
    """Non-admins may list only their own assignments, or their project's."""
    if ctx.is_admin:
        return
    own_user = f.get("user.id") == ctx.user_id
    own_project = ctx.project_id is not None and f.get("scope.project.id") == [ctx.project_id]
    enforce(own_user or own_project, e.LIST_ASSIGNMENTS_DENIED)


# ---------------------------------------------------------------- credentials
def credential_reader(ctx: RequestContext, owner_id: str | None) -> bool:
    """Keystone's ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER: admins, system readers and
    the credential's owner may read it. `owner_id` None (no such credential)
    passes only the privileged, so a user cannot probe for others' credentials."""
    return ctx.is_admin or (ctx.system_scope and ctx.is_reader) or \
        (owner_id is not None and owner_id == ctx.user_id)


def credential_owner(ctx: RequestContext, owner_id: str | None) -> bool:
    """ADMIN_OR_CRED_OWNER: create, update and delete through /v3/credentials."""
    return ctx.is_admin or (owner_id is not None and owner_id == ctx.user_id)


def ec2_manager(ctx: RequestContext, owner_id: str | None) -> bool:
    """ADMIN_OR_MEMBER_AND_CRED_OWNER: an OS-EC2 key pair is made or deleted by an
    admin, or by its owner holding the member role (a reader cannot)."""
    return ctx.is_admin or (ctx.has_role("member") and owner_id is not None and
                            owner_id == ctx.user_id)


def enforce_delegation(ctx: RequestContext, project_id: str | None) -> None:
    """A token made from an application credential reaches only credentials of its
    own project (Keystone's delegated-token boundary)."""
    if ctx.application_credential_id is not None and project_id != ctx.project_id:
        raise Forbidden(e.CREDENTIAL_DELEGATED_PROJECT)


def may_see_credential(ctx: RequestContext, owner_id: str, project_id: str | None) -> bool:
    """A listing keeps the credentials `credential_reader` allows and the
    delegation boundary lets through."""
    if not credential_reader(ctx, owner_id):
        return False
    return ctx.application_credential_id is None or project_id == ctx.project_id


def scope_credential_listing(ctx: RequestContext, filters: dict[str, Any]) -> None:
    """Non-privileged callers list their own credentials only."""
    if not (ctx.is_admin or (ctx.system_scope and ctx.is_reader)):
        if filters.get("user_id") not in (None, ctx.user_id):
            filters["nobody"] = True
        filters["user_id"] = ctx.user_id


def may_validate_ec2(ctx: RequestContext) -> bool:
    """`POST /v3/ec2tokens` is for services and admins (Keystone's
    `service_or_admin`): the services that check AWS signatures on users' behalf."""
    return ctx.is_admin or ctx.has_role("service")
