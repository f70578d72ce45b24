"""Who may do what in compute: Nova's default policies, in one place.

Routes only an admin may call declare `ADMIN` (kit.policy.admin_only) on the
route; the checks that depend on the request (acting for another user, another
project, every project) are the functions here, called by the routes before
they delegate. A refusal is a 403 worded as Nova words it.
"""

from __future__ import annotations

from typing import Any

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden
from overcast.kit.microversion import APIVersion
from overcast.kit.policy import admin_only

MESSAGE = "Policy doesn't allow this operation to be performed."

#: A route dependency: only admins may call the route.
ADMIN: Any = admin_only(MESSAGE)


def require_admin(ctx: RequestContext) -> None:
    """For a request that needs an admin only in some of its forms."""
    if not ctx.is_admin:
        raise Forbidden(MESSAGE)


def keypair_user(ctx: RequestContext, wanted: str | None, v: APIVersion) -> str:
    """Whose key pairs a request reads or deletes (`?user_id=`: an admin, from 2.10)."""
    if wanted and wanted != ctx.user_id:
        if not v.at_least("2.10"):
            raise BadRequest("user_id is supported from microversion 2.10.")
        require_admin(ctx)
        return wanted
    return ctx.user_id or ""


def quota_reader(ctx: RequestContext, project_id: str) -> None:
    """A project's own members, or an admin, may read its quotas."""
    if not ctx.is_admin and project_id != ctx.project_id:
        raise Forbidden("Policy doesn't allow os_compute_api:os-quota-sets:show to be "
                        "performed.")


def limits_project(ctx: RequestContext, wanted: str | None) -> str:
    """Whose limits a request reads (`?tenant_id=` of another project: an admin)."""
    project = wanted or ctx.project_id or ""
    if project != ctx.project_id:
        require_admin(ctx)
    return project


def usage_reader(ctx: RequestContext, project_id: str) -> None:
    """A project's own members, or an admin, may read its usage."""
    if not ctx.is_admin and project_id != ctx.project_id:
        raise Forbidden("Policy doesn't allow os_compute_api:os-simple-tenant-usage:show "
                        "to be performed.")
