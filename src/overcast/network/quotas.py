"""Per-project quotas of the network service: limits, usage and the check made
inside each create's transaction (so a refused create leaves nothing behind)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from overcast.network import errors, views
from overcast.network import models as m
from overcast.network.common import Store

DEFAULT_QUOTAS = {"network": 100, "subnet": 100, "port": 500, "router": 10,
                  "floatingip": 50, "security_group": 10, "security_group_rule": 100}
#: the largest limit (Neutron's DB_INTEGER_MAX_VALUE)
MAX_LIMIT = 2**31 - 1
#: the table whose rows each quota counts
MODELS: dict[str, Any] = {
    "network": m.Network, "subnet": m.Subnet, "port": m.Port, "router": m.Router,
    "floatingip": m.FloatingIP, "security_group": m.SecurityGroup,
    "security_group_rule": m.SecurityGroupRule}


def _used(s: Session, project_id: str, resource: str) -> int:
    model = MODELS[resource]
    return int(s.scalar(select(func.count()).select_from(model).where(
        model.project_id == project_id)) or 0)


class Quotas:
    def __init__(self, store: Store) -> None:
        self.store = store

    def check(self, s: Session, project_id: str, resource: str) -> None:
        """Refuse one more `resource` for the project when it is at its limit."""
        row = s.get(m.Quota, (project_id, resource))
        limit = row.hard_limit if row is not None else DEFAULT_QUOTAS[resource]
        if limit < 0:
            return
        if _used(s, project_id, resource) + 1 > limit:
            raise errors.over_quota(resource)

    def limits(self, project_id: str) -> dict[str, int]:
        with self.store.db.session() as s:
            out = dict(DEFAULT_QUOTAS)
            for row in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
                out[row.resource] = row.hard_limit
            return out

    def details(self, project_id: str) -> dict[str, dict[str, int]]:
        """quota_details: each resource's limit and how much of it is used."""
        limits = self.limits(project_id)
        with self.store.db.session() as s:
            return {k: views.quota_detail(limits[k], _used(s, project_id, k))
                    for k in MODELS}

    def set(self, project_id: str, values: dict[str, Any]) -> dict[str, int]:
        with self.store.db.transaction() as s:
            for k, v in values.items():
                if k not in DEFAULT_QUOTAS:
                    raise errors.unrecognized_attribute(k)
                if isinstance(v, str) and v.lstrip("-").isascii() and \
                        v.lstrip("-").isdigit():
                    v = int(v)
                if isinstance(v, bool) or not isinstance(v, int) or not -1 <= v <= MAX_LIMIT:
                    raise errors.invalid_quota(k, v)
                row = s.get(m.Quota, (project_id, k))
                if row is None:
                    s.add(m.Quota(project_id=project_id, resource=k, hard_limit=v))
                else:
                    row.hard_limit = v
        return self.limits(project_id)

    def reset(self, project_id: str) -> None:
        with self.store.db.transaction() as s:
            s.execute(delete(m.Quota).where(m.Quota.project_id == project_id))
