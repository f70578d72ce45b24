"""Who may do what to an account, as Swift's keystoneauth decides it.

- The account of a project is `AUTH_<project_id>`. A token scoped to that project
  with an operator role (`admin`, `member`) owns the account: every operation.
- A `reader` (project_reader_roles) on that project may read it (GET/HEAD), not write.
- `ResellerAdmin` reaches every account, and alone sets an account's quota.
- Anyone else is judged by the container's ACLs: `X-Container-Read` lets the
  listed callers read objects and the container; `X-Container-Write` lets them
  PUT/POST/DELETE objects. Elements are `<project>:<user>` (ids, or names, with
  `*` for any), `.r:<referrer>` (anyone, even anonymous, whose Referer matches:
  `.r:*` any, `.r:.example.com` a domain, `.r:-host` a denial) and `.rlistings`
  (those referrers may list the container too).
- A refusal is 401 for an anonymous caller and 403 for a known one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from overcast.kit.context import RequestContext
from overcast.object import errors, schemas

RESELLER_PREFIX = "AUTH_"
OPERATOR_ROLES = ("admin", "member")
READER_ROLES = ("reader",)
RESELLER_ADMIN_ROLE = "ResellerAdmin"


def account_of(project_id: str) -> str:
    return f"{RESELLER_PREFIX}{project_id}"


def project_of(account: str) -> str | None:
    return account[len(RESELLER_PREFIX):] if account.startswith(RESELLER_PREFIX) else None


@dataclass
class Access:
    """What the caller may do on one account, before ACLs."""

    anonymous: bool
    owner: bool = False
    reader: bool = False
    reseller: bool = False


def access(ctx: RequestContext | None, account: str) -> Access:
    schemas.check_account_name(account)
    if ctx is None:
        return Access(anonymous=True)
    reseller = RESELLER_ADMIN_ROLE in ctx.roles or ctx.internal
    own = ctx.project_id is not None and account == account_of(ctx.project_id)
    owner = reseller or (own and any(r in ctx.roles for r in OPERATOR_ROLES))
    reader = owner or (own and any(r in ctx.roles for r in READER_ROLES))
    return Access(anonymous=False, owner=owner, reader=reader, reseller=reseller)


# ----------------------------------------------------------------- ACL text
def clean_acl(name: str, value: str) -> str:
    """Normalise an ACL header as Swift stores it, refusing what it cannot mean."""
    out = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith(".") or ":" in item and item.split(":", 1)[0] in (
                ".r", ".ref", ".referer", ".referrer"):
            if name == "write":
                raise errors.bad_request(
                    f"Referrers not allowed in write ACL: {item!r}")
            if item == ".rlistings":
                out.append(item)
                continue
            kind, _, host = item.partition(":")
            if kind not in (".r", ".ref", ".referer", ".referrer") or not host.strip():
                raise errors.bad_request(f"Unknown designator {kind!r} in ACL: {item!r}")
            host = host.strip()
            neg = host.startswith("-")
            bare = host[1:] if neg else host
            if bare.startswith("*") and bare != "*":
                bare = bare[1:]  # *.example.com means .example.com
            if not bare or bare == "-":
                raise errors.bad_request(f"No host/domain value after referrer designation "
                                         f"in ACL: {item!r}")
            out.append(f".r:{'-' if neg else ''}{bare}")
        else:
            out.append(item)
    return ",".join(out)


def _referrer_allowed(referrer: str | None, grants: list[str]) -> bool:
    host = urlparse(referrer).hostname if referrer else None
    allowed = False
    for g in grants:
        neg = g.startswith("-")
        pattern = g[1:] if neg else g
        if pattern == "*" or (host and (
                host == pattern or (pattern.startswith(".") and host.endswith(pattern)))):
            allowed = not neg
    return allowed


def _user_listed(ctx: RequestContext, items: list[str]) -> bool:
    projects = {ctx.project_id, ctx.project_name, "*"} - {None}
    users = {ctx.user_id, ctx.user_name, "*"} - {None}
    for item in items:
        if ":" not in item:
            continue
        project, _, user = item.partition(":")
        if project in projects and user in users:
            return True
    return False


def acl_allows(acl: str | None, ctx: RequestContext | None, referrer: str | None,
               *, listing: bool) -> bool:
    """Does the ACL grant this caller (anonymous when ctx is None)?"""
    if not acl:
        return False
    items = [i.strip() for i in acl.split(",") if i.strip()]
    referrers = [i.split(":", 1)[1] for i in items if i.startswith(".r:")]
    if referrers and _referrer_allowed(referrer, referrers) and (
            not listing or ".rlistings" in items):
        return True
    return ctx is not None and _user_listed(ctx, items)


# ----------------------------------------------------------------- decisions
def check_account(acc: Access, write: bool) -> None:
    """Account-level operations (listing, metadata, creating containers)."""
    if acc.owner or (acc.reader and not write):
        return
    raise errors.denied(acc.anonymous)


def check_container(acc: Access, ctx: RequestContext | None, read_acl: str | None,
                    write: bool, referrer: str | None) -> None:
    """Container HEAD/GET (read, listing) and PUT/POST/DELETE (write)."""
    if acc.owner or (acc.reader and not write):
        return
    if not write and acl_allows(read_acl, ctx, referrer, listing=True):
        return
    raise errors.denied(acc.anonymous)


def check_object(acc: Access, ctx: RequestContext | None, read_acl: str | None,
                 write_acl: str | None, write: bool, referrer: str | None) -> None:
    if acc.owner or (acc.reader and not write):
        return
    if write and ctx is not None and acl_allows(write_acl, ctx, referrer, listing=False):
        return
    if not write and acl_allows(read_acl, ctx, referrer, listing=False):
        return
    raise errors.denied(acc.anonymous)


def check_account_quota(acc: Access) -> None:
    """Only a reseller admin sets an account's byte quota (account_quotas.py)."""
    if not acc.reseller:
        raise errors.forbidden()
