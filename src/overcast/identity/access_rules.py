"""Application credential access rules: what a token made from an application
credential may call. A rule names a service type (`compute`), an HTTP method and
a path template relative to the service's endpoint (`/v2.1/servers/*/ips`: `*` or
`{name}` is one path segment, `**` any number of them). A credential with rules
gives tokens that every overcast API refuses (401, as keystonemiddleware's
"Token authorization failed") on a request no rule allows; the check runs where
every API turns a token into a request context (`kit.web.get_context`).

Rules belong to their user (`/v3/users/{id}/access_rules`): the same rule given
again is the same rule, and a rule some credential still carries cannot be
deleted (403, Keystone's answer).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.identity import models as m
from overcast.kit.errors import BadRequest, Forbidden, NotFound


def view(rule: m.AccessRule) -> dict[str, str]:
    return {"id": rule.id, "service": rule.service, "path": rule.path,
            "method": rule.method}


def not_found(rule_id: str) -> NotFound:
    return NotFound(f"Could not find Access Rule: {rule_id}.")


def resolve(s: Session, user_id: str, given: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The rules a new credential asks for, as the user's rules: one named by id
    must be the user's; one described is the user's identical rule, or new."""
    out: list[dict[str, str]] = []
    for g in given:
        rule = None
        if g.get("id"):
            rule = s.get(m.AccessRule, g["id"])
            if rule is not None and rule.user_id != user_id:
                rule = None
        if rule is None:
            if not all(isinstance(g.get(k), str) for k in ("service", "path", "method")):
                if g.get("id"):
                    raise not_found(g["id"])
                raise BadRequest("Invalid input for field 'application_credential/"
                                 "access_rules': each rule needs service, path and method.")
            rule = s.scalar(select(m.AccessRule).where(
                m.AccessRule.user_id == user_id, m.AccessRule.service == g["service"],
                m.AccessRule.path == g["path"], m.AccessRule.method == g["method"]))
        if rule is None:
            rid = g.get("id") or uuid.uuid4().hex
            if s.get(m.AccessRule, rid) is not None:
                rid = uuid.uuid4().hex   # another user's id: never shared
            rule = m.AccessRule(id=rid, user_id=user_id, service=g["service"],
                                path=g["path"], method=g["method"])
            s.add(rule)
            s.flush()
        if rule.id not in {x["id"] for x in out}:
            out.append(view(rule))
    return out


class AccessRules:
    def __init__(self, db: Database) -> None:
        self.db = db

    def find(self, user_id: str, filters: dict[str, str]) -> list[dict[str, str]]:
        with self.db.session() as s:
            q = select(m.AccessRule).where(m.AccessRule.user_id == user_id)
            for key in ("service", "path", "method"):
                if filters.get(key):
                    q = q.where(getattr(m.AccessRule, key) == filters[key])
            return [view(r) for r in s.scalars(q.order_by(m.AccessRule.id))]

    def show(self, user_id: str, rule_id: str) -> dict[str, str]:
        with self.db.session() as s:
            rule = s.get(m.AccessRule, rule_id)
            if rule is None or rule.user_id != user_id:
                raise not_found(rule_id)
            return view(rule)

    def delete(self, user_id: str, rule_id: str) -> None:
        with self.db.transaction() as s:
            rule = s.get(m.AccessRule, rule_id)
            if rule is None or rule.user_id != user_id:
                raise not_found(rule_id)
            for rules in s.scalars(select(m.ApplicationCredential.access_rules).where(
                    m.ApplicationCredential.user_id == user_id)):
                if any(r.get("id") == rule_id for r in rules or []):
                    raise Forbidden("May not delete access rule in use")
            s.delete(rule)
