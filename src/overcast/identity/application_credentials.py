"""Application credentials: a secret a user creates to let a program act as it on
one project, with a subset of the user's roles there, until an optional expiry.
Deleting one revokes the tokens issued with it. (Authenticating with one is
auth.py's business.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import access_rules, auth
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import new_id
from overcast.identity.passwords import hash_secret
from overcast.identity.users import get_user
from overcast.kit.errors import Forbidden, NotFound

#: A credential with its roles as the wire shows them ({id, name, domain_id}).
AppCredRecord = tuple[m.ApplicationCredential, list[dict[str, Any]]]


def get_app_cred(s: Session, user_id: str, ac_id: str) -> m.ApplicationCredential:
    ac = s.get(m.ApplicationCredential, ac_id)
    if ac is None or ac.user_id != user_id:
        raise NotFound(f"Could not find Application Credential: {ac_id}.")
    return ac


def _role_refs(s: Session, role_ids: Iterable[str]) -> list[dict[str, Any]]:
    out = []
    for rid in role_ids:
        r = s.get(m.Role, rid)
        if r:
            out.append({"id": r.id, "name": r.name, "domain_id": r.domain_id})
    return out


def _wanted_roles(s: Session, refs: list[dict[str, Any]], token_role_ids: list[str]
                  ) -> list[str]:
    """The roles a new credential asks for (by id or name): each must be one the
    creating token holds."""
    wanted = []
    for ref in refs:
        if ref.get("id"):
            role = s.get(m.Role, ref["id"])
        else:
            role = s.scalar(select(m.Role).where(m.Role.name == ref.get("name"),
                                                 m.Role.domain_key == ""))
        if role is None:
            raise e.not_found("role", ref.get("id") or ref.get("name"))
        if role.id not in token_role_ids:
            raise Forbidden(f"Cannot create an application credential with a "
                            f"role that you do not have: {role.name}.")
        wanted.append(role.id)
    return wanted


class ApplicationCredentials:
    def __init__(self, db: Database, bcrypt_rounds: int) -> None:
        self.db = db
        self.bcrypt_rounds = bcrypt_rounds

    def restricts(self, token_app_cred_id: str | None) -> bool:
        """Whether a token made from this application credential (None: not made
        from one) is barred from creating further secrets."""
        return self._restricted(token_app_cred_id)

    def _restricted(self, token_app_cred_id: str | None) -> bool:
        """Whether the creating token came from a restricted credential."""
        if token_app_cred_id is None:
            return False
        with self.db.session() as s:
            current = s.get(m.ApplicationCredential, token_app_cred_id or "")
        return current is None or not current.unrestricted

    def create(self, user_id: str, project_id: str, token_role_ids: list[str],
               data: dict[str, Any], token_app_cred_id: str | None
               ) -> tuple[m.ApplicationCredential, list[dict[str, Any]], str]:
        """Create a credential for the token's user and project; return it, its
        roles and its secret (shown this once)."""
        if self._restricted(token_app_cred_id):
            raise Forbidden(e.APP_CRED_RESTRICTED)
        secret = data.get("secret") or secrets.token_urlsafe(64)
        hashed = hash_secret(secret, self.bcrypt_rounds)
        with self.db.transaction() as s:
            get_user(s, user_id)
            if s.scalar(select(m.ApplicationCredential).where(
                    m.ApplicationCredential.user_id == user_id,
                    m.ApplicationCredential.name == data["name"])):
                raise e.duplicate_name("application_credential", data["name"])
            role_ids = list(token_role_ids)
            if data.get("roles"):
                role_ids = _wanted_roles(s, data["roles"], token_role_ids)
            rules = access_rules.resolve(s, user_id, data["access_rules"]) \
                if data.get("access_rules") else None
            ac = m.ApplicationCredential(
                id=new_id(), name=data["name"], user_id=user_id, project_id=project_id,
                secret_hash=hashed, description=data.get("description"),
                expires_at=data.get("expires_at"),
                unrestricted=bool(data.get("unrestricted", False)), role_ids=role_ids,
                access_rules=rules)
            s.add(ac)
        with self.db.session() as s:
            return ac, _role_refs(s, ac.role_ids), secret

    def find(self, user_id: str, name: str | None) -> list[AppCredRecord]:
        with self.db.session() as s:
            get_user(s, user_id)
            q = select(m.ApplicationCredential).where(
                m.ApplicationCredential.user_id == user_id).order_by(
                m.ApplicationCredential.name)
            if name:
                q = q.where(m.ApplicationCredential.name == name)
            return [(ac, _role_refs(s, ac.role_ids)) for ac in s.scalars(q)]

    def show(self, user_id: str, ac_id: str) -> AppCredRecord:
        with self.db.session() as s:
            ac = get_app_cred(s, user_id, ac_id)
            return ac, _role_refs(s, ac.role_ids)

    def delete(self, user_id: str, ac_id: str) -> None:
        with self.db.transaction() as s:
            ac = get_app_cred(s, user_id, ac_id)
            s.delete(ac)
            auth.revoke_app_cred(s, ac_id)
