"""Provider aggregates: the set of aggregate uuids a provider belongs to.

Aggregates have no table of their own: they exist while a provider names them.
Putting a provider's aggregates replaces the whole set and bumps its generation.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from overcast.placement import models as m
from overcast.placement.objects.base import PlacementBase, bump


class Aggregates(PlacementBase):
    def provider_aggregates(self, uuid: str) -> tuple[int, list[str]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            return p.generation, sorted(s.scalars(select(m.ProviderAggregate.aggregate).where(
                m.ProviderAggregate.provider_id == p.id)))

    def put_provider_aggregates(self, uuid: str, seen: int | None, aggs: list[str]) -> int:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            s.execute(delete(m.ProviderAggregate).where(m.ProviderAggregate.provider_id == p.id))
            for a in sorted(set(aggs)):
                s.add(m.ProviderAggregate(provider_id=p.id, aggregate=a))
            bump(s, p, seen)
            return p.generation
