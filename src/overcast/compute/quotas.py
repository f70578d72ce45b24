"""Compute quotas: each project's limits (the defaults unless set) and usage.

Servers, key pairs, metadata and server groups check against these inside their
own transactions (`limits`/`usage` take the caller's session); the quota routes
read and write them through `show`, `set` and `delete`.

Quota classes (`os-quota-class-sets`) are Nova's: the class named `default` holds
the defaults every project starts from (Nova's built-in values until an admin sets
them); other classes are kept and shown but, as in Nova, apply to no project.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.db import Database
from overcast.kit.errors import Forbidden

DEFAULT_QUOTAS = {
    "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
    "server_groups": 10, "server_group_members": 10, "injected_files": 5,
    "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
    "floating_ips": -1, "fixed_ips": -1, "security_groups": -1, "security_group_rules": -1,
}


class QuotaService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def class_limits(self, s: Session, class_name: str = "default") -> dict[str, int]:
        """A quota class's limits: the built-in defaults, as the class overrides them."""
        limits = dict(DEFAULT_QUOTAS)
        for q in s.scalars(select(m.QuotaClass).where(m.QuotaClass.class_name == class_name)):
            limits[q.resource] = q.hard_limit
        return limits

    def show_class(self, class_name: str) -> dict[str, int]:
        with self.db.session() as s:
            return self.class_limits(s, class_name)

    def set_class(self, class_name: str, values: dict[str, int]) -> dict[str, int]:
        with self.db.transaction() as s:
            for k, v in values.items():
                row = s.get(m.QuotaClass, (class_name, k))
                if row is None:
                    s.add(m.QuotaClass(class_name=class_name, resource=k, hard_limit=v))
                else:
                    row.hard_limit = v
        return self.show_class(class_name)

    def limits(self, s: Session, project_id: str) -> dict[str, int]:
        """A project's limits: its own where set, else the `default` class's."""
        limits = self.class_limits(s)
        for q in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
            limits[q.resource] = q.hard_limit
        return limits

    def usage(self, s: Session, project_id: str) -> dict[str, int]:
        flavors = list(s.scalars(select(m.Instance.flavor).where(
            m.Instance.project_id == project_id, m.Instance.deleted.is_(False))))
        groups = s.scalar(select(func.count()).select_from(m.ServerGroup).where(
            m.ServerGroup.project_id == project_id)) or 0
        return {"instances": len(flavors), "cores": sum(int(f["vcpus"]) for f in flavors),
                "ram": sum(int(f["ram"]) for f in flavors), "server_groups": int(groups)}

    def show(self, project_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """(limits, usage) of a project."""
        with self.db.session() as s:
            return self.limits(s, project_id), self.usage(s, project_id)

    def limit(self, project_id: str, resource: str) -> int:
        with self.db.session() as s:
            return self.limits(s, project_id)[resource]

    def set(self, project_id: str, values: dict[str, int]) -> dict[str, int]:
        """Set some limits; returns every limit of the project afterwards."""
        self._put(project_id, values)
        with self.db.session() as s:
            return self.limits(s, project_id)

    def _put(self, owner: str, values: dict[str, int]) -> None:
        with self.db.transaction() as s:
            for k, v in values.items():
                row = s.get(m.Quota, (owner, k))
                if row is None:
                    s.add(m.Quota(project_id=owner, resource=k, hard_limit=v))
                else:
                    row.hard_limit = v

    def delete(self, project_id: str) -> None:
        with self.db.transaction() as s:
            for q in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
                s.delete(q)

    def check_servers(self, s: Session, project_id: str, count: int, vcpus: int,
                      ram: int) -> None:
        """403 when `count` more servers of this size would pass a limit."""
        limits = self.limits(s, project_id)
        want = {"instances": count, "cores": vcpus * count, "ram": ram * count}
        if all(limits[r] < 0 for r in want):
            return  # unlimited: no need to count what the project holds
        used = self.usage(s, project_id)
        over = [r for r, n in want.items()
                if limits[r] >= 0 and used[r] + n > limits[r]]
        if over:
            r = over[0]
            raise Forbidden(f"Quota exceeded for {r}: Requested {want[r]}, but already used "
                            f"{used[r]} of {limits[r]} {r}")
