"""Groups and their members. A user's roles include its groups' grants, so adding
a member bumps the identity generation and removing one revokes the user's tokens.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import auth
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import DEFAULT_DOMAIN_ID, new_id
from overcast.identity.users import get_user


def get_group(s: Session, group_id: str) -> m.Group:
    g = s.get(m.Group, group_id)
    if g is None:
        raise e.not_found("group", group_id)
    return g


class Groups:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Group:
        with self.db.transaction() as s:
            domain_id = data.get("domain_id") or DEFAULT_DOMAIN_ID
            if s.get(m.Domain, domain_id) is None:
                raise e.not_found("domain", domain_id)
            if s.scalar(select(m.Group).where(m.Group.name == data["name"],
                                              m.Group.domain_id == domain_id)):
                raise e.duplicate_name("group", data["name"], domain_id)
            g = m.Group(id=new_id(), name=data["name"], domain_id=domain_id,
                        description=data.get("description") or "")
            s.add(g)
            return g

    def find(self, filters: dict[str, Any]) -> list[m.Group]:
        with self.db.session() as s:
            q = select(m.Group).order_by(m.Group.name)
            for key in ("name", "domain_id"):
                if key in filters:
                    q = q.where(getattr(m.Group, key) == filters[key])
            return list(s.scalars(q))

    def show(self, group_id: str) -> m.Group:
        with self.db.session() as s:
            return get_group(s, group_id)

    def update(self, group_id: str, data: dict[str, Any]) -> m.Group:
        with self.db.transaction() as s:
            g = get_group(s, group_id)
            if "domain_id" in data and data["domain_id"] != g.domain_id:
                raise e.immutable("domain_id")
            if "name" in data and data["name"] != g.name:
                if s.scalar(select(m.Group).where(m.Group.name == data["name"],
                                                  m.Group.domain_id == g.domain_id)):
                    raise e.duplicate_name("group", data["name"])
                g.name = data["name"]
            if "description" in data:
                g.description = data["description"] or ""
            return g

    def delete(self, group_id: str) -> None:
        with self.db.transaction() as s:
            g = get_group(s, group_id)
            s.execute(delete(m.Assignment).where(m.Assignment.actor_id == group_id))
            s.execute(delete(m.Membership).where(m.Membership.group_id == group_id))
            s.delete(g)
            auth.bump_generation(s)

    # --------------------------------------------------------------- members
    def members(self, group_id: str) -> list[m.User]:
        with self.db.session() as s:
            get_group(s, group_id)
            return list(s.scalars(
                select(m.User).order_by(m.User.name)
                .join(m.Membership, m.Membership.user_id == m.User.id)
                .where(m.Membership.group_id == group_id)))

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.db.transaction() as s:
            get_group(s, group_id)
            get_user(s, user_id)
            if s.get(m.Membership, (user_id, group_id)) is None:
                s.add(m.Membership(user_id=user_id, group_id=group_id))
            auth.bump_generation(s)

    def check_member(self, group_id: str, user_id: str) -> None:
        with self.db.session() as s:
            get_group(s, group_id)
            get_user(s, user_id)
            if s.get(m.Membership, (user_id, group_id)) is None:
                raise e.not_a_member(group_id, user_id)

    def remove_member(self, group_id: str, user_id: str) -> None:
        with self.db.transaction() as s:
            get_group(s, group_id)
            get_user(s, user_id)
            row = s.get(m.Membership, (user_id, group_id))
            if row is None:
                raise e.not_a_member(group_id, user_id)
            s.delete(row)
            auth.revoke_user(s, user_id)
