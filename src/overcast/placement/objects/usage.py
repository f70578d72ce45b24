"""Usages: what is allocated, summed per resource class, on one provider or for
one project (optionally one user, one consumer type)."""

from __future__ import annotations

from sqlalchemy import func, select

from overcast.placement import models as m
from overcast.placement.objects.base import PlacementBase


class Usages(PlacementBase):
    def usages(self, uuid: str) -> dict[str, int]:
        return self.provider_usages(uuid)[1]

    def usages_by_provider(self) -> dict[str, dict[str, int]]:
        """`usages` of every provider, in two queries (a hypervisor list of a
        thousand hosts asked one provider at a time)."""
        with self.db.session() as s:
            out: dict[str, dict[str, int]] = {}
            for uuid, rc in s.execute(select(m.Provider.uuid, m.Inventory.resource_class)
                                      .join(m.Inventory, m.Inventory.provider_id ==
                                            m.Provider.id)):
                out.setdefault(uuid, {})[rc] = 0
            for uuid, rc, used in s.execute(
                    select(m.Provider.uuid, m.Allocation.resource_class,
                           func.sum(m.Allocation.used))
                    .join(m.Allocation, m.Allocation.provider_id == m.Provider.id)
                    .group_by(m.Provider.uuid, m.Allocation.resource_class)):
                out.setdefault(uuid, {})[rc] = int(used)
            return out

    def provider_usages(self, uuid: str) -> tuple[int, dict[str, int]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            out = {i.resource_class: 0 for i in s.scalars(
                select(m.Inventory).where(m.Inventory.provider_id == p.id))}
            for rc, used in s.execute(select(m.Allocation.resource_class,
                                             func.sum(m.Allocation.used))
                                      .where(m.Allocation.provider_id == p.id)
                                      .group_by(m.Allocation.resource_class)):
                out[rc] = int(used)
            return p.generation, out

    def project_usages(self, project_id: str, user_id: str | None = None,
                       consumer_type: str | None = None) -> dict[str, int]:
        with self.db.session() as s:
            q = (select(m.Allocation.resource_class, func.sum(m.Allocation.used))
                 .join(m.Consumer, m.Consumer.uuid == m.Allocation.consumer_id)
                 .where(m.Consumer.project_id == project_id)
                 .group_by(m.Allocation.resource_class))
            if user_id:
                q = q.where(m.Consumer.user_id == user_id)
            if consumer_type:
                q = q.where(m.Consumer.consumer_type == consumer_type)
            return {rc: int(n) for rc, n in s.execute(q)}
