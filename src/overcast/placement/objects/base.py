"""What every placement resource's domain logic stands on: the provider row
lookup, the generation bump and the usage sums.

Every write runs in one transaction and bumps the generation of each provider
it touches; a caller that passes the generation it saw loses a race with
`Conflict(code="placement.concurrent_update")`. On PostgreSQL the provider rows
a write touches are locked FOR UPDATE first; on SQLite BEGIN IMMEDIATE already
serialises writers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import DateTime, exists, func, literal, select, update
from sqlalchemy.engine import Connection
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


#: A `:name` parameter in a driver-level SQL text (no text here holds a literal string).
_NAMED = re.compile(r":(\w+)")


@functools.lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def driver_sql(conn: Connection, sql: str) -> str:
    """`sql`, written with `:name` parameters (SQLite's own style), in the style of the
    connection's driver (psycopg's `%(name)s`)."""
    return sql if conn.dialect.name == "sqlite" else _pyformat(sql)


def raw(conn: Connection, sql: str, params: dict[str, Any] | None = None, *,
        many: Sequence[dict[str, Any]] | None = None) -> tuple[list[Any], int]:
    """Run one statement on the DB-API cursor of `conn` (in its transaction): its rows
    as plain tuples and its rowcount.

    The hot writes (allocations, provider and inventory creation) are a handful of
    small statements each; building, caching and compiling SQLAlchemy expressions
    and wrapping their results cost several times what the database does for them.
    """
    cur = conn.connection.cursor()
    try:
        if many is not None:
            cur.executemany(driver_sql(conn, sql), many)
        else:
            cur.execute(driver_sql(conn, sql), params or {})
        rows = list(cur.fetchall()) if cur.description else []
        return rows, cur.rowcount
    finally:
        cur.close()


def id_list(ids: Iterable[int]) -> str:
    """Row ids as an SQL list of integer literals, for `IN (...)`.

    A thousand candidates would otherwise be a thousand bound parameters, whose
    rendering costs SQLAlchemy more than the query costs the database. Only
    integers read from our own rows go in (each passed through `int`), so no
    text reaches the SQL.
    """
    return ", ".join(str(int(i)) for i in ids) or "NULL"


def names(prefix: str, values: Iterable[Any], params: dict[str, Any]) -> str:
    """`:prefix0, :prefix1, ...` for an IN list, the values added to `params`."""
    out = []
    for i, v in enumerate(values):
        params[f"{prefix}{i}"] = v
        out.append(f":{prefix}{i}")
    return ", ".join(out) or "NULL"


def timestamp(conn: Connection) -> Any:
    """Now, as the driver of `conn` takes a DateTime column's value (SQLAlchemy's
    SQLite string format, so rows written here read back as the ORM's)."""
    return _datetime_binder(conn.dialect)(utcnow())


@functools.lru_cache(maxsize=8)
def _datetime_binder(dialect: Any) -> Any:
    return DateTime().bind_processor(dialect) or (lambda v: v)


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
