"""Roles and role inference (a prior role implies another: admin implies member
implies reader). Roles are global or specific to a domain; any change to what a
role means bumps the identity generation, since cached tokens list their roles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth, effective
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import new_id
from overcast.kit.errors import Forbidden

#: A prior role and the roles it implies directly.
Inference = tuple[m.Role, list[m.Role]]


def get_role(s: Session, role_id: str) -> m.Role:
    r = s.get(m.Role, role_id)
    if r is None:
        raise e.not_found("role", role_id)
    return r


class Roles:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Role:
        with self.db.transaction() as s:
            domain_id = data.get("domain_id")
            if domain_id and s.get(m.Domain, domain_id) is None:
                raise e.not_found("domain", domain_id)
            if s.scalar(select(m.Role).where(m.Role.name == data["name"],
                                             m.Role.domain_key == (domain_id or ""))):
                raise e.duplicate_name("role", data["name"])
            r = m.Role(id=new_id(), name=data["name"], domain_id=domain_id,
                       domain_key=domain_id or "", description=data.get("description"),
                       extra=data.get("extra", {}))
            s.add(r)
            return r

    def find(self, filters: dict[str, Any]) -> list[m.Role]:
        with self.db.session() as s:
            q = select(m.Role).order_by(m.Role.name)
            if "name" in filters:
                q = q.where(m.Role.name == filters["name"])
            q = q.where(m.Role.domain_key == (filters.get("domain_id") or ""))
            return list(s.scalars(q))

    def show(self, role_id: str) -> m.Role:
        with self.db.session() as s:
            return get_role(s, role_id)

    def update(self, role_id: str, data: dict[str, Any]) -> m.Role:
        with self.db.transaction() as s:
            r = get_role(s, role_id)
            if "domain_id" in data and data["domain_id"] != r.domain_id:
                raise e.immutable("domain_id")
            if "name" in data and data["name"] != r.name:
                if s.scalar(select(m.Role).where(m.Role.name == data["name"],
                                                 m.Role.domain_key == r.domain_key)):
                    raise e.duplicate_name("role", data["name"])
                r.name = data["name"]
            if "description" in data:
                r.description = data["description"]
            auth.bump_generation(s)
            return r

    def delete(self, role_id: str) -> None:
        with self.db.transaction() as s:
            r = get_role(s, role_id)
            s.execute(delete(m.Assignment).where(m.Assignment.role_id == role_id))
            s.execute(delete(m.ImpliedRole).where(or_(m.ImpliedRole.prior_role_id == role_id,
                                                      m.ImpliedRole.implied_role_id == role_id)))
            s.delete(r)
            auth.bump_generation(s)

    # -------------------------------------------------------------- inference
    def add_implied(self, prior_id: str, implied_id: str) -> tuple[m.Role, m.Role]:
        with self.db.transaction() as s:
            prior = get_role(s, prior_id)
            implied = get_role(s, implied_id)
            if prior_id == implied_id or prior_id in {
                    r.id for r in effective.expand_implied(s, [implied_id])}:
                raise Forbidden(e.IMPLIED_LOOP)
            if implied.domain_id and not prior.domain_id:
                raise Forbidden(e.GLOBAL_IMPLIES_DOMAIN_ROLE)
            if s.get(m.ImpliedRole, (prior_id, implied_id)) is None:
                s.add(m.ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))
            auth.bump_generation(s)
            return prior, implied

    def get_implied(self, prior_id: str, implied_id: str) -> tuple[m.Role, m.Role]:
        with self.db.session() as s:
            prior = get_role(s, prior_id)
            implied = get_role(s, implied_id)
            if s.get(m.ImpliedRole, (prior_id, implied_id)) is None:
                raise e.no_such_inference(prior_id, implied_id)
            return prior, implied

    def list_implied(self, prior_id: str | None = None) -> list[Inference]:
        """Every inference rule, grouped by prior role (or only `prior_id`'s)."""
        with self.db.session() as s:
            q = select(m.ImpliedRole)
            if prior_id:
                get_role(s, prior_id)
                q = q.where(m.ImpliedRole.prior_role_id == prior_id)
            groups: dict[str, list[m.Role]] = {}
            for row in s.scalars(q):
                groups.setdefault(row.prior_role_id, []).append(
                    get_role(s, row.implied_role_id))
            if prior_id and prior_id not in groups:
                groups[prior_id] = []
            return [(get_role(s, pid), roles) for pid, roles in groups.items()]

    def delete_implied(self, prior_id: str, implied_id: str) -> None:
        with self.db.transaction() as s:
            get_role(s, prior_id)
            get_role(s, implied_id)
            row = s.get(m.ImpliedRole, (prior_id, implied_id))
            if row is None:
                raise e.no_such_inference(prior_id, implied_id)
            s.delete(row)
            auth.bump_generation(s)
