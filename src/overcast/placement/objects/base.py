"""What every placement resource's domain logic stands on: the provider row
lookup, the generation bump and the usage sums.

Every write runs in one transaction and bumps the generation of each provider
it touches; a caller that passes the generation it saw loses a race with
`Conflict(code="placement.concurrent_update")`. On PostgreSQL the provider rows
a write touches are locked FOR UPDATE first; on SQLite BEGIN IMMEDIATE already
serialises writers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.orm import Session, aliased

from overcast.db import Database, utcnow
from overcast.kit.errors import NotFound
from overcast.placement import models as m
from overcast.placement.errors import concurrent

#: The largest amount a column holds (Placement's MAX_INT); no inventory exceeds it.
MAX_AMOUNT = 0x7FFFFFFF

INV_DEFAULTS = {"reserved": 0, "min_unit": 1, "step_size": 1, "allocation_ratio": 1.0}


def capacity(inv: m.Inventory) -> int:
    return int((inv.total - inv.reserved) * inv.allocation_ratio)


def fits(provider_col: Any, rc: str, amount: int) -> Any:
    """SQL condition: the provider has inventory of `rc` that can still take `amount`."""
    inv = aliased(m.Inventory)
    used = (select(func.coalesce(func.sum(m.Allocation.used), 0))
            .where(m.Allocation.provider_id == inv.provider_id,
                   m.Allocation.resource_class == rc)
            .correlate(inv).scalar_subquery())
    return exists().where(
        inv.provider_id == provider_col, inv.resource_class == rc,
        (inv.total - inv.reserved) * inv.allocation_ratio >= used + amount,
        inv.min_unit <= amount, inv.max_unit >= amount,
        literal(amount) % inv.step_size == 0)


def allocated(s: Session, provider_id: int, rc: str) -> int:
    """Units of `rc` allocated on a provider."""
    return int(s.scalar(select(func.coalesce(func.sum(m.Allocation.used), 0)).where(
        m.Allocation.provider_id == provider_id, m.Allocation.resource_class == rc)) or 0)


def bump(s: Session, p: m.Provider, seen: int | None = None) -> None:
    """Increase a provider's generation, failing if it moved since `seen`."""
    expected = p.generation if seen is None else seen
    res = s.execute(update(m.Provider).where(
        m.Provider.id == p.id, m.Provider.generation == expected).values(
        generation=expected + 1, updated_at=utcnow()))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise concurrent(f"resource provider {p.uuid}")
    p.generation = expected + 1


class PlacementBase:
    """The database handle and the provider lookup every resource mixin shares."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _provider(self, s: Session, uuid: str, *, lock: bool = False) -> m.Provider:
        q = select(m.Provider).where(m.Provider.uuid == uuid)
        if lock and not self.db.is_sqlite:
            q = q.with_for_update()
        p = s.scalar(q)
        if p is None:
            raise NotFound(f"No resource provider with uuid {uuid} found.")
        return p

    # Kept as methods for callers of the older single-class service.
    _bump = staticmethod(bump)
    _fits = staticmethod(fits)

    def _used(self, s: Session, provider_id: int, rc: str) -> int:
        return allocated(s, provider_id, rc)
