"""Role-based access checks, as OpenStack's default policies phrase them.

A service declares its rules as small functions of (context, target) in its
`policies` module and calls `enforce(ctx, rule, target)`. Failure is a 403 with
the rule's name in the message, never a silent filter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Depends

from overcast.kit.context import RequestContext
from overcast.kit.errors import Forbidden
from overcast.kit.web import get_context

Rule = Callable[[RequestContext, Mapping[str, Any]], bool]


def admin(ctx: RequestContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin


def project_reader(ctx: RequestContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or (
        ctx.is_reader and ctx.project_id is not None
        and ctx.project_id == target.get("project_id")
    )


def project_member(ctx: RequestContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or (
        ctx.has_role("member") and ctx.project_id is not None
        and ctx.project_id == target.get("project_id")
    )


def owner(ctx: RequestContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or (ctx.user_id is not None and ctx.user_id == target.get("user_id"))


def any_authenticated(ctx: RequestContext, target: Mapping[str, Any]) -> bool:
    return True


def any_of(*rules: Rule) -> Rule:
    def check(ctx: RequestContext, target: Mapping[str, Any]) -> bool:
        return any(r(ctx, target) for r in rules)

    return check


class Policy:
    """A named set of rules for one service."""

    def __init__(self, rules: Mapping[str, Rule]) -> None:
        self.rules = dict(rules)

    def check(self, ctx: RequestContext, rule: str,
              target: Mapping[str, Any] | None = None) -> bool:
        fn = self.rules.get(rule)
        if fn is None:
            raise KeyError(f"unknown policy rule {rule}")
        return fn(ctx, target or {})

    def enforce(
        self, ctx: RequestContext, rule: str, target: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        if not self.check(ctx, rule, target):
            raise Forbidden(message or f"You are not authorized to perform the requested "
                                       f"action: {rule}.")


def admin_only(message: str = "Policy doesn't allow this operation to be performed.",
               code: str | None = None) -> Any:
    """A FastAPI dependency for routes only admins may call: declare it on the route
    (`dependencies=[ADMIN]`) instead of checking by hand in the handler."""
    async def check(ctx: RequestContext = Depends(get_context)) -> None:
        if not ctx.is_admin:
            raise Forbidden(message, code=code) if code else Forbidden(message)

    return Depends(check)
