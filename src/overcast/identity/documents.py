"""Identity resources Keystone only stores and hands back: policies (`/v3/policies`,
opaque blobs other services may fetch; Keystone enforces none of them), endpoint
groups (OS-EP-FILTER: a filter naming the endpoints it stands for) and OAuth1
consumers (OS-OAUTH1: a client id and a secret shown once). Each is a plain
create/find/show/update/delete store; api.py's generated routes serve the first
two, documents_api.py the consumers.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select

from overcast.db import Database
from overcast.identity import errors as e
from overcast.identity import models as m
from overcast.identity.domains import new_id


class Policies:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.Policy:
        with self.db.transaction() as s:
            p = m.Policy(id=new_id(), type=data["type"], blob=data["blob"],
                         extra=data.get("extra", {}))
            s.add(p)
            return p

    def find(self, filters: dict[str, Any]) -> list[m.Policy]:
        with self.db.session() as s:
            q = select(m.Policy).order_by(m.Policy.type, m.Policy.id)
            if "type" in filters:
                q = q.where(m.Policy.type == filters["type"])
            return list(s.scalars(q))

    def show(self, policy_id: str) -> m.Policy:
        with self.db.session() as s:
            return self._get(s, policy_id)

    @staticmethod
    def _get(s: Any, policy_id: str) -> m.Policy:
        p = s.get(m.Policy, policy_id)
        if p is None:
            raise e.not_found("policy", policy_id)
        return p  # type: ignore[no-any-return]

    def update(self, policy_id: str, data: dict[str, Any]) -> m.Policy:
        with self.db.transaction() as s:
            p = self._get(s, policy_id)
            for key in ("type", "blob"):
                if key in data:
                    setattr(p, key, data[key])
            if "extra" in data:
                p.extra = {**(p.extra or {}), **data["extra"]}
            return p

    def delete(self, policy_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self._get(s, policy_id))


class EndpointGroups:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> m.EndpointGroup:
        with self.db.transaction() as s:
            g = m.EndpointGroup(id=new_id(), name=data["name"],
                                description=data.get("description") or "",
                                filters=data["filters"])
            s.add(g)
            return g

    def find(self, filters: dict[str, Any]) -> list[m.EndpointGroup]:
        with self.db.session() as s:
            q = select(m.EndpointGroup).order_by(m.EndpointGroup.name, m.EndpointGroup.id)
            if "name" in filters:
                q = q.where(m.EndpointGroup.name == filters["name"])
            return list(s.scalars(q))

    def show(self, group_id: str) -> m.EndpointGroup:
        with self.db.session() as s:
            return self._get(s, group_id)

    @staticmethod
    def _get(s: Any, group_id: str) -> m.EndpointGroup:
        g = s.get(m.EndpointGroup, group_id)
        if g is None:
            raise e.not_found("endpoint group", group_id)
        return g  # type: ignore[no-any-return]

    def update(self, group_id: str, data: dict[str, Any]) -> m.EndpointGroup:
        with self.db.transaction() as s:
            g = self._get(s, group_id)
            if "name" in data:
                g.name = data["name"]
            if "description" in data:
                g.description = data["description"] or ""
            if "filters" in data:
                g.filters = data["filters"]
            return g

    def delete(self, group_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self._get(s, group_id))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Consumers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, data: dict[str, Any]) -> tuple[m.OAuthConsumer, str]:
        """A new consumer and its secret, which is not kept in clear."""
        secret = secrets.token_hex(16)
        with self.db.transaction() as s:
            c = m.OAuthConsumer(id=new_id(), description=data.get("description"),
                                secret_hash=_digest(secret), extra=data.get("extra", {}))
            s.add(c)
            return c, secret

    def find(self) -> list[m.OAuthConsumer]:
        with self.db.session() as s:
            return list(s.scalars(select(m.OAuthConsumer).order_by(m.OAuthConsumer.id)))

    def show(self, consumer_id: str) -> m.OAuthConsumer:
        with self.db.session() as s:
            return self._get(s, consumer_id)

    @staticmethod
    def _get(s: Any, consumer_id: str) -> m.OAuthConsumer:
        c = s.get(m.OAuthConsumer, consumer_id)
        if c is None:
            raise e.not_found("consumer", consumer_id)
        return c  # type: ignore[no-any-return]

    def update(self, consumer_id: str, data: dict[str, Any]) -> m.OAuthConsumer:
        with self.db.transaction() as s:
            c = self._get(s, consumer_id)
            if "description" in data:
                c.description = data["description"]
            if "extra" in data:
                c.extra = {**(c.extra or {}), **data["extra"]}
            return c

    def delete(self, consumer_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self._get(s, consumer_id))
