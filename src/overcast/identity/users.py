"""Users: create, read, update (a new password or disabling revokes the user's
tokens), change one's own password, delete; and what a user may scope a token to
(`/v3/auth/projects`, `/v3/auth/domains`, `/v3/auth/system`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from overcast.db import Database, utcnow
from overcast.identity import auth, effective
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.compliance import (
    Compliance,
    account_locked,
    expiry_filter,
    merge_options,
)
from overcast.identity.domains import DEFAULT_DOMAIN_ID, new_id
from overcast.identity.passwords import hash_secret, verify_secret
from overcast.identity.projects import get_project
from overcast.kit.errors import Unauthorized


def get_user(s: Session, user_id: str) -> m.User:
    # A NUL (from a URL's %00) is no id; PostgreSQL would refuse the query.
    u = s.get(m.User, user_id) if "\x00" not in user_id else None
    if u is None:
        raise e.not_found("user", user_id)
    return u


class Users:
    def __init__(self, db: Database, bcrypt_rounds: int, compliance: Compliance) -> None:
        self.db = db
        self.bcrypt_rounds = bcrypt_rounds
        self.compliance = compliance

    def _hash(self, data: dict[str, Any]) -> str | None:
        # bcrypt runs before the transaction opens: it is slow on purpose.
        if not data.get("password"):
            return None
        self.compliance.validate(data["password"])
        return hash_secret(data["password"], self.bcrypt_rounds)

    def create(self, data: dict[str, Any]) -> m.User:
        hashed = self._hash(data)
        with self.db.transaction() as s:
            domain_id = data.get("domain_id") or DEFAULT_DOMAIN_ID
            if s.get(m.Domain, domain_id) is None:
                raise e.not_found("domain", domain_id)
            if data.get("default_project_id"):
                get_project(s, data["default_project_id"])
            if s.scalar(select(m.User).where(m.User.name == data["name"],
                                             m.User.domain_id == domain_id)):
                raise e.duplicate_name("user", data["name"], domain_id)
            u = m.User(id=new_id(), name=data["name"], domain_id=domain_id,
                       enabled=data.get("enabled", True),
                       default_project_id=data.get("default_project_id"),
                       description=data.get("description"), extra=data.get("extra", {}),
                       options=merge_options(None, data.get("options", {})),
                       failed_auth_count=0, password_self_service=False)
            s.add(u)
            s.flush()
            if hashed:
                self.compliance.store(s, u, hashed, utcnow(), self_service=False)
            return u

    def find(self, filters: dict[str, Any]) -> list[m.User]:
        with self.db.session() as s:
            q = select(m.User).order_by(m.User.name)
            for key in ("name", "domain_id"):
                if key in filters:
                    q = q.where(getattr(m.User, key) == filters[key])
            if "enabled" in filters:
                q = q.where(m.User.enabled.is_(filters["enabled"]))
            if filters.get("password_expires_at"):
                q = q.where(expiry_filter(filters["password_expires_at"]))
            return list(s.scalars(q))

    def show(self, user_id: str) -> m.User:
        with self.db.session() as s:
            return get_user(s, user_id)

    def update(self, user_id: str, data: dict[str, Any]) -> m.User:
        hashed = self._hash(data)
        with self.db.transaction() as s:
            u = get_user(s, user_id)
            if "domain_id" in data and data["domain_id"] != u.domain_id:
                raise e.immutable("domain_id")
            if "name" in data and data["name"] != u.name:
                if s.scalar(select(m.User).where(m.User.name == data["name"],
                                                 m.User.domain_id == u.domain_id)):
                    raise e.duplicate_name("user", data["name"], u.domain_id)
                u.name = data["name"]
            if "default_project_id" in data:
                if data["default_project_id"]:
                    get_project(s, data["default_project_id"])
                u.default_project_id = data["default_project_id"]
            if "description" in data:
                u.description = data["description"]
            if "extra" in data:
                u.extra = {**(u.extra or {}), **data["extra"]}
            if "enabled" in data:
                if u.enabled and not data["enabled"]:
                    auth.revoke_user(s, user_id)
                u.enabled = data["enabled"]
            if "options" in data:
                u.options = merge_options(u.options, data["options"])
            if hashed:
                # An administrator's reset: no history or age rule (Keystone's).
                self.compliance.store(s, u, hashed, utcnow(), self_service=False)
                auth.revoke_user(s, user_id)
            auth.bump_generation(s)
            return u

    def change_password(self, user_id: str, original: str, new: str) -> None:
        """`POST /v3/users/{id}/password`: authenticated by the original password
        (a locked account is refused and a wrong password counts as a failure, as
        for a token; an expired password may be changed: that is what it is for),
        then the security compliance rules of a self-service change."""
        now = utcnow()
        with self.db.session() as s:
            u = s.get(m.User, user_id)
            hashed = u.password_hash if u else None
        if u is not None and self.compliance.is_locked(u, now):
            raise account_locked(user_id)
        if not verify_secret(original, hashed, self.bcrypt_rounds) or u is None:
            if u is not None:
                with self.db.transaction() as s:
                    self.compliance.record_failure(s, user_id, now)
            raise Unauthorized(e.WRONG_PASSWORD)
        if not u.enabled:
            raise Unauthorized(e.AUTH_FAILED)
        self.compliance.validate(new)
        new_hash = hash_secret(new, self.bcrypt_rounds)
        with self.db.transaction() as s:
            u = get_user(s, user_id)
            self.compliance.check_self_service(s, u, new, self.bcrypt_rounds, utcnow())
            self.compliance.store(s, u, new_hash, utcnow(), self_service=True)
            auth.revoke_user(s, user_id)
            auth.bump_generation(s)

    def delete(self, user_id: str) -> None:
        with self.db.transaction() as s:
            u = get_user(s, user_id)
            s.execute(delete(m.Assignment).where(m.Assignment.actor_id == user_id))
            s.execute(delete(m.Membership).where(m.Membership.user_id == user_id))
            s.execute(delete(m.ApplicationCredential).where(
                m.ApplicationCredential.user_id == user_id))
            s.execute(delete(m.Credential).where(m.Credential.user_id == user_id))
            s.execute(delete(m.PasswordHistory).where(m.PasswordHistory.user_id == user_id))
            s.execute(delete(m.AccessRule).where(m.AccessRule.user_id == user_id))
            s.execute(delete(m.Trust).where(or_(m.Trust.trustor_user_id == user_id,
                                                m.Trust.trustee_user_id == user_id)))
            s.delete(u)
            auth.revoke_user(s, user_id)

    # ------------------------------------------------ what the user can scope to
    def projects(self, user_id: str) -> list[m.Project]:
        """Projects where the user has any effective role (for /users/{id}/projects)."""
        with self.db.session() as s:
            get_user(s, user_id)
            out = []
            for p in s.scalars(select(m.Project).order_by(m.Project.name)):
                if effective.project_role_ids(s, user_id, p):
                    out.append(p)
            return out

    def domains(self, user_id: str) -> list[m.Domain]:
        """Enabled domains where the user has a role (for /auth/domains)."""
        with self.db.session() as s:
            out = []
            for d in s.scalars(select(m.Domain).order_by(m.Domain.name)):
                if d.enabled and effective.domain_roles(s, user_id, d.id):
                    out.append(d)
            return out

    def groups(self, user_id: str) -> list[m.Group]:
        """The groups the user is a member of (for /users/{id}/groups)."""
        with self.db.session() as s:
            get_user(s, user_id)
            return list(s.scalars(
                select(m.Group).order_by(m.Group.name)
                .join(m.Membership, m.Membership.group_id == m.Group.id)
                .where(m.Membership.user_id == user_id)))

    def system_roles(self, user_id: str) -> list[m.Role]:
        with self.db.session() as s:
            return effective.system_roles(s, user_id)
