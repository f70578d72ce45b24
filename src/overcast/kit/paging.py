"""`limit`/`marker` paging and `links`, shared by every list API.

Paging is keyset-based: rows are ordered by the requested sort keys with the
id as the tie-breaker, and the marker row's own values build the "after this"
condition, so a page costs an index range scan whatever the offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from overcast.kit.errors import BadRequest, NotFound


def parse_limit(raw: str | None, *, default: int | None, maximum: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid limit {raw!r}: it must be an integer.")
    if value < 0:
        raise BadRequest(f"Invalid limit {raw!r}: it must be >= 0.")
    # A limit past what any page can hold means "all of it": capped, so that the
    # database never sees a number past 64 bits (a 500 before).
    ceiling = maximum if maximum is not None else 2**31 - 1
    return min(value, ceiling)


def keyset_page(
    session: Session,
    stmt: Select[Any],
    model: Any,
    *,
    limit: int | None,
    marker: str | None,
    sort: Sequence[tuple[str, str]] = (("created_at", "asc"),),
    id_attr: str = "id",
    marker_error: type[Exception] = BadRequest,
    as_rows: bool = False,
) -> tuple[list[Any], bool]:
    """Return (rows, more) for one page of `stmt` (a select of `model`).

    With `as_rows` the statement selects columns and plain result rows come back
    (much cheaper than ORM objects for long listings)."""
    keys = list(sort)
    if not any(k == id_attr for k, _ in keys):
        keys.append((id_attr, keys[-1][1] if keys else "asc"))
    order = []
    for key, direction in keys:
        col = getattr(model, key)
        order.append(col.desc() if direction == "desc" else col.asc())
    if marker is not None:
        row = session.get(model, marker)
        if row is None:
            if marker_error is NotFound:
                raise NotFound(f"Marker {marker} could not be found.")
            raise marker_error(f"marker [{marker}] not found")
        ors = []
        for i, (key, direction) in enumerate(keys):
            col = getattr(model, key)
            value = getattr(row, key)
            ands = [getattr(model, k) == getattr(row, k) for k, _ in keys[:i]]
            if value is None:
                # NULLs sort first ascending: everything non-null is "after".
                cond = col.isnot(None) if direction == "asc" else None
            else:
                cond = col > value if direction == "asc" else col < value
            if cond is not None:
                ors.append(and_(*ands, cond))
        if ors:
            stmt = stmt.where(or_(*ors))
    stmt = stmt.order_by(*order)
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    rows = list(session.execute(stmt).all()) if as_rows else list(session.scalars(stmt))
    more = limit is not None and len(rows) > limit
    if more:
        rows = rows[:limit]
    return rows, more


def next_href(base_url: str, path: str, params: dict[str, Any], marker: str) -> str:
    """The URL of the next page: the same query with `marker` replaced."""
    query = {k: v for k, v in params.items() if k != "marker"}
    query["marker"] = marker
    return f"{base_url.rstrip('/')}{path}?{urlencode(query, doseq=True)}"
