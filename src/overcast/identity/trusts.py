"""OS-TRUST trusts: a trustor delegates some of its roles on one project to a
trustee, optionally until a time, for a number of tokens, and optionally letting
the trustee act as the trustor (impersonation).

This module keeps the trusts; auth.py scopes tokens to them (`SCOPE_TRUST`) and
narrows such a token's roles, every time it is resolved, to the trust's roles the
trustor still holds (effective.delegated_roles), so a revoked grant or a deleted
trust ends its tokens.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth, effective
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import new_id
from overcast.kit.errors import BadRequest, Forbidden

#: A trust and its roles (resolved, ordered by name).
TrustRecord = tuple[m.Trust, list[m.Role]]


def get_trust(s: Session, trust_id: str) -> m.Trust:
    t = s.get(m.Trust, trust_id) if "\x00" not in trust_id else None
    if t is None or expired(t):
        raise e.not_found("trust", trust_id)
    return t


def expired(t: m.Trust) -> bool:
    return effective.trust_expired(t)


def _roles(s: Session, t: m.Trust) -> list[m.Role]:
    if not t.role_ids:
        return []
    return list(s.scalars(select(m.Role).where(m.Role.id.in_(t.role_ids))
                          .order_by(m.Role.name)))


class Trusts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, caller_id: str, data: dict[str, Any]) -> TrustRecord:
        """A trust from the caller (who must be its trustor) to the trustee."""
        if data["trustor_user_id"] != caller_id:
            raise Forbidden("The authenticated user should match the trustor.")
        with self.db.transaction() as s:
            if s.get(m.User, data["trustee_user_id"]) is None:
                raise e.not_found("user", data["trustee_user_id"])
            project_id = data.get("project_id")
            role_ids: list[str] = []
            if project_id:
                project = s.get(m.Project, project_id)
                if project is None:
                    raise e.not_found("project", project_id)
                held = {r.id: r for r in
                        effective.project_roles(s, caller_id, project)}
                for ref in data.get("roles", []):
                    role = self._role(s, ref)
                    if role.id not in held:
                        raise Forbidden(f"The trustor does not hold the role {role.id} on "
                                        f"project {project_id}.")
                    if role.id not in role_ids:
                        role_ids.append(role.id)
                if not role_ids:
                    raise BadRequest("At least one role should be specified.")
            elif data.get("roles"):
                raise BadRequest("Roles are delegated on a project: project_id is required.")
            t = m.Trust(id=new_id(), trustor_user_id=caller_id,
                        trustee_user_id=data["trustee_user_id"], project_id=project_id,
                        impersonation=data["impersonation"],
                        expires_at=data.get("expires_at"),
                        remaining_uses=data.get("remaining_uses"), role_ids=role_ids,
                        extra={})
            s.add(t)
            s.flush()
            return t, _roles(s, t)

    @staticmethod
    def _role(s: Session, ref: dict[str, Any]) -> m.Role:
        if isinstance(ref.get("id"), str):
            role = s.get(m.Role, ref["id"])
        else:
            role = s.scalar(select(m.Role).where(m.Role.name == ref.get("name"),
                                                 m.Role.domain_id.is_(None)))
        if role is None:
            raise e.not_found("role", ref.get("id") or ref.get("name"))
        return role

    def find(self, filters: dict[str, Any]) -> list[TrustRecord]:
        with self.db.session() as s:
            q = select(m.Trust).order_by(m.Trust.id)
            for key in ("trustor_user_id", "trustee_user_id"):
                if key in filters:
                    q = q.where(getattr(m.Trust, key) == filters[key])
            return [(t, _roles(s, t)) for t in s.scalars(q) if not expired(t)]

    def show(self, trust_id: str) -> TrustRecord:
        with self.db.session() as s:
            t = get_trust(s, trust_id)
            return t, _roles(s, t)

    def delete(self, trust_id: str) -> None:
        """Delete a trust; its tokens stop resolving (the generation changes)."""
        with self.db.transaction() as s:
            s.delete(get_trust(s, trust_id))
            auth.bump_generation(s)


def parse_expiry(raw: Any) -> dt.datetime | None:
    """A trust's `expires_at` (ISO 8601, 'Z' or an offset), as naive UTC."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadRequest("Invalid input for field 'trust/expires_at': it must be a string.")
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for field 'trust/expires_at': {raw!r} is not an "
                         f"ISO 8601 time.")
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t
