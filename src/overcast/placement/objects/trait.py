"""Traits: the standard ones (os-traits) and CUSTOM_ ones, and each provider's set.

Setting a provider's traits replaces the whole set and bumps its generation;
`set_traits` is the agents' form, which creates missing CUSTOM_ traits and
retries lost generation races.
"""

from __future__ import annotations

import os_traits
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from overcast.kit.errors import BadRequest, Conflict, NotFound
from overcast.placement import models as m
from overcast.placement.errors import CONCURRENT, UNDEFINED, concurrent
from overcast.placement.objects.base import PlacementBase, bump

STANDARD_TRAITS: set[str] = set(os_traits.get_traits())


def trait_exists(s: Session, name: str) -> bool:
    return name in STANDARD_TRAITS or s.get(m.CustomTrait, name) is not None


class Traits(PlacementBase):
    def trait_names(self, name_filter: str | None = None,
                    associated: bool | None = None) -> list[str]:
        with self.db.session() as s:
            names = set(STANDARD_TRAITS) | set(s.scalars(select(m.CustomTrait.name)))
            if associated is not None:
                used = set(s.scalars(select(m.ProviderTrait.trait).distinct()))
                names = names & used if associated else names - used
        if name_filter:
            if name_filter.startswith("in:"):
                wanted = set(name_filter[3:].split(","))
                names = names & wanted
            elif name_filter.startswith("startswith:"):
                names = {n for n in names if n.startswith(name_filter[11:])}
            else:
                raise BadRequest(f"Badly formatted name parameter. Expected name query string "
                                 f"to start with 'in:' or 'startswith:'. Got: {name_filter}")
        return sorted(names)

    def trait_exists(self, s: Session, name: str) -> bool:
        return trait_exists(s, name)

    def create_trait(self, name: str) -> bool:
        """Create a CUSTOM_ trait; returns False if it already existed."""
        with self.db.transaction() as s:
            if trait_exists(s, name):
                return False
            s.add(m.CustomTrait(name=name))
            return True

    def delete_trait(self, name: str) -> None:
        with self.db.transaction() as s:
            if name in STANDARD_TRAITS:
                raise BadRequest(f"Cannot delete standard trait {name}.")
            row = s.get(m.CustomTrait, name)
            if row is None:
                raise NotFound(f"No such trait(s): {name}.")
            if s.scalar(select(func.count()).select_from(m.ProviderTrait).where(
                    m.ProviderTrait.trait == name)):
                raise Conflict(f"The trait {name} is in use by a resource provider.",
                               code=UNDEFINED)
            s.delete(row)

    def provider_traits(self, uuid: str) -> tuple[int, list[str]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            return p.generation, sorted(s.scalars(select(m.ProviderTrait.trait).where(
                m.ProviderTrait.provider_id == p.id)))

    def put_provider_traits(self, uuid: str, seen: int | None, traits: list[str]) -> int:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            missing = [t for t in traits if not trait_exists(s, t)]
            if missing:
                raise BadRequest(f"No such trait(s): {', '.join(sorted(missing))}.")
            s.execute(delete(m.ProviderTrait).where(m.ProviderTrait.provider_id == p.id))
            for t in sorted(set(traits)):
                s.add(m.ProviderTrait(provider_id=p.id, trait=t))
            bump(s, p, seen)
            return p.generation

    def set_traits(self, uuid: str, traits: list[str]) -> None:
        for t in traits:
            if t.startswith("CUSTOM_"):
                self.create_trait(t)
        for _ in range(10):
            gen, current = self.provider_traits(uuid)
            if sorted(set(traits)) == current:
                return
            try:
                self.put_provider_traits(uuid, gen, traits)
                return
            except Conflict as exc:
                if exc.code != CONCURRENT:
                    raise
        raise concurrent(f"resource provider {uuid}")
