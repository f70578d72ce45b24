"""Who may do what in block storage: Cinder's default policies.

A project's members write its volumes, snapshots, transfers and attachments; its
readers (and members) read them; admins do everything, in every project. Routes
only an admin may call (types, quotas updates, services, the admin actions) declare
`ADMIN`. Another project's resource is not found (404) rather than forbidden, as
Cinder's project-scoped queries answer, so the checks here run only on what the
caller can see.
"""

from __future__ import annotations

from typing import Any

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest
from overcast.kit.policy import admin_only
from overcast.volume import errors

#: A route dependency: only admins may call the route.
ADMIN: Any = admin_only(errors.POLICY % "this operation")


def can_see(ctx: RequestContext, project_id: str) -> bool:
    """A resource of `project_id` is visible to the caller."""
    return ctx.is_admin or (ctx.project_id is not None and ctx.project_id == project_id)


def read(ctx: RequestContext, project_id: str, rule: str) -> None:
    if not (ctx.is_admin or (ctx.is_reader and ctx.project_id == project_id)):
        raise errors.forbidden(rule)


def write(ctx: RequestContext, project_id: str, rule: str) -> None:
    """A project member (not a reader) changes its project's resources."""
    if not (ctx.is_admin or (ctx.has_role("member") and ctx.project_id == project_id)):
        raise errors.forbidden(rule)


def admin(ctx: RequestContext, rule: str) -> None:
    """For actions that only some forms of a request reserve to admins."""
    if not ctx.is_admin:
        raise errors.forbidden(rule)


def url_project(ctx: RequestContext, project_id: str) -> None:
    """The project in the URL (`/v3/{project_id}/...`) must be the token's: Cinder's
    WSGI layer refuses any other with 400 "Malformed request url", admins too (an
    admin reaches other projects' volumes with `all_tenants`)."""
    if ctx.project_id != project_id and not ctx.internal:
        raise BadRequest("Malformed request url")


def quota_reader(ctx: RequestContext, project_id: str) -> None:
    if not (ctx.is_admin or ctx.project_id == project_id):
        raise errors.forbidden("volume_extension:quotas:show")
