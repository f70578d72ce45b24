"""Usages: what is allocated, summed per resource class, on one provider, on many
providers at once (`usages_of`, for compute's hypervisor list), or for one project
(optionally one user, one consumer type)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from overcast.placement import models as m
from overcast.placement.objects.base import PlacementBase

#: Provider uuids per IN (...) list.
CHUNK = 500


class Usages(PlacementBase):
    def usages(self, uuid: str) -> dict[str, int]:
        return self.provider_usages(uuid)[1]

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

    def usages_of(self, uuids: Iterable[str]) -> dict[str, dict[str, int]]:
        """The usages of many providers in two queries, whatever their number: each
        provider's inventoried classes (0 when nothing is allocated) plus what is
        allocated, keyed by provider uuid. A uuid with no provider is left out.
        The uuids go to the database in chunks (SQLite caps bound parameters)."""
        wanted = list(dict.fromkeys(uuids))
        out: dict[str, dict[str, int]] = {}
        with self.db.session() as s:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start:start + CHUNK]
                for uuid, rc in s.execute(
                        select(m.Provider.uuid, m.Inventory.resource_class)
                        .outerjoin(m.Inventory, m.Inventory.provider_id == m.Provider.id)
                        .where(m.Provider.uuid.in_(chunk))):
                    found = out.setdefault(uuid, {})
                    if rc is not None:
                        found[rc] = 0
                for uuid, rc, used in s.execute(
                        select(m.Provider.uuid, m.Allocation.resource_class,
                               func.sum(m.Allocation.used))
                        .join(m.Allocation, m.Allocation.provider_id == m.Provider.id)
                        .where(m.Provider.uuid.in_(chunk))
                        .group_by(m.Provider.uuid, m.Allocation.resource_class)):
                    out.setdefault(uuid, {})[rc] = int(used)
        return out

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
