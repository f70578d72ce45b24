"""Domains: the top of Keystone's ownership tree (projects, users, groups and
domain-specific roles all belong to one). Disabling a domain revokes the tokens
scoped to it; deleting one (only once disabled) deletes everything it owns.

Also home of what every identity resource module shares: `new_id` (Keystone's
32-hex ids) and the default domain's id.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.kit.errors import Forbidden

DEFAULT_DOMAIN_ID = "default"


def new_id() -> str:
    """A Keystone id: 32 hex characters."""
    return uuid.uuid4().hex


def get_domain(s: Session, domain_id: str) -> m.Domain:
    d = s.get(m.Domain, domain_id)
    if d is None:
        raise e.not_found("domain", domain_id)
    return d


class Domains:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Domain:
        with self.db.transaction() as s:
            if s.scalar(select(m.Domain).where(m.Domain.name == data["name"])):
                raise e.duplicate_name("domain", data["name"])
            d = m.Domain(id=data.get("id") or new_id(), name=data["name"],
                         description=data.get("description") or "",
                         enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(d)
            return d

    def find(self, filters: dict[str, Any]) -> list[m.Domain]:
        with self.db.session() as s:
            q = select(m.Domain).order_by(m.Domain.name)
            if "name" in filters:
                q = q.where(m.Domain.name == filters["name"])
            if "enabled" in filters:
                q = q.where(m.Domain.enabled.is_(filters["enabled"]))
            if "ids" in filters:
                q = q.where(m.Domain.id.in_(filters["ids"]))
            return list(s.scalars(q))

    def show(self, domain_id: str) -> m.Domain:
        with self.db.session() as s:
            return get_domain(s, domain_id)

    def update(self, domain_id: str, data: dict[str, Any]) -> m.Domain:
        with self.db.transaction() as s:
            d = get_domain(s, domain_id)
            if "name" in data and data["name"] != d.name:
                if s.scalar(select(m.Domain).where(m.Domain.name == data["name"])):
                    raise e.duplicate_name("domain", data["name"])
                d.name = data["name"]
            if "description" in data:
                d.description = data["description"] or ""
            if "enabled" in data:
                if domain_id == DEFAULT_DOMAIN_ID and not data["enabled"]:
                    raise Forbidden(e.DEFAULT_DOMAIN_DISABLE)
                if d.enabled and not data["enabled"]:
                    auth.revoke_domain(s, domain_id)
                d.enabled = data["enabled"]
            if "extra" in data:
                d.extra = {**(d.extra or {}), **data["extra"]}
            auth.bump_generation(s)
            return d

    def delete(self, domain_id: str) -> None:
        """Delete a disabled domain and everything it owns, in one transaction."""
        with self.db.transaction() as s:
            d = get_domain(s, domain_id)
            if d.enabled:
                raise Forbidden(e.DOMAIN_STILL_ENABLED)
            pids = list(s.scalars(select(m.Project.id).where(m.Project.domain_id == domain_id)))
            uids = list(s.scalars(select(m.User.id).where(m.User.domain_id == domain_id)))
            gids = list(s.scalars(select(m.Group.id).where(m.Group.domain_id == domain_id)))
            s.execute(delete(m.Assignment).where(or_(
                m.Assignment.target_id.in_([domain_id, *pids]),
                m.Assignment.actor_id.in_([*uids, *gids]))))
            s.execute(delete(m.Role).where(m.Role.domain_id == domain_id))
            s.execute(delete(m.Membership).where(or_(m.Membership.user_id.in_(uids),
                                                     m.Membership.group_id.in_(gids))))
            s.execute(delete(m.ApplicationCredential).where(
                m.ApplicationCredential.user_id.in_(uids)))
            s.execute(delete(m.ProjectTag).where(m.ProjectTag.project_id.in_(pids)))
            s.execute(delete(m.Project).where(m.Project.domain_id == domain_id))
            s.execute(delete(m.PasswordHistory).where(m.PasswordHistory.user_id.in_(uids)))
            s.execute(delete(m.AccessRule).where(m.AccessRule.user_id.in_(uids)))
            s.execute(delete(m.User).where(m.User.domain_id == domain_id))
            s.execute(delete(m.DomainConfig).where(m.DomainConfig.domain_id == domain_id))
            s.execute(delete(m.Group).where(m.Group.domain_id == domain_id))
            s.delete(d)
            auth.bump_generation(s)
