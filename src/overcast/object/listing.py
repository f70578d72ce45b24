"""Listings as Swift answers them, read from an index: prefix, delimiter, marker,
end_marker, limit and reverse over a bytewise-sorted name column.

Each query reads at most `limit` rows from the (parent, name) index. With a
delimiter, a name that has the delimiter after the prefix becomes one `Subdir`,
and the scan jumps past every name under it (a new query from the end of that
prefix) rather than reading them, so a listing of 100,000 objects in 10
"directories" reads about 10 rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from overcast.object.records import Subdir
from overcast.object.store import prefix_end

T = TypeVar("T")


def _fetch(s: Session, q: Any) -> Sequence[Any]:
    """The page's rows as the database driver returns them (tuples).

    Neither ORM objects nor SQLAlchemy's Row layer: its per-row work was 20 ms of a
    10,000-object page that SQLite itself reads in 12. The listed columns (text,
    integers, floats) need no result conversion on SQLite or PostgreSQL."""
    result = s.connection().execute(q)
    try:
        rows: Sequence[Any] = result.cursor.fetchall()
    finally:
        result.close()
    return rows


def scan(s: Session, query: Any, column: Any, make: Callable[[Any], T], *,
         prefix: str = "", delimiter: str | None = None, marker: str | None = None,
         end_marker: str | None = None, limit: int, reverse: bool = False
         ) -> list[T | Subdir]:
    """The listing page: `query` selects the name first, `make` turns a row into
    an entry; `column` is the name column the window applies to."""
    out: list[T | Subdir] = []
    if limit <= 0:
        return out
    # the window [low, high) of names this listing may show; reverse swaps the
    # roles of marker and end_marker, as Swift does
    low: str | None = prefix or None
    high = prefix_end(prefix) if prefix else None
    low_strict = False
    if not reverse:
        if marker and (low is None or marker >= low):
            low, low_strict = marker, True
        if end_marker and (high is None or end_marker < high):
            high = end_marker
    else:
        if marker and (high is None or marker < high):
            high = marker
        if end_marker and (low is None or end_marker >= low):
            low, low_strict = end_marker, True
    while len(out) < limit:
        conds: list[ColumnElement[bool]] = []
        if low is not None:
            conds.append(column > low if low_strict else column >= low)
        if high is not None:
            conds.append(column < high)
        q = query.where(*conds).order_by(column.desc() if reverse else column)
        wanted = limit - len(out)
        rows = _fetch(s, q.limit(wanted))
        if not rows:
            break
        if not delimiter:
            # the usual page: every row is an entry
            out.extend(map(make, rows))
            if len(out) >= limit or len(rows) < wanted:
                return out
            last = rows[-1][0]
            if reverse:
                high = last
            else:
                low, low_strict = last, True
            continue
        jumped = False
        for row in rows:
            name: str = row[0]
            if delimiter:
                rest = name[len(prefix):]
                i = rest.find(delimiter)
                if i >= 0:
                    sub = prefix + rest[:i + len(delimiter)]
                    if not (out and isinstance(out[-1], Subdir) and out[-1].name == sub):
                        out.append(Subdir(sub))
                    # jump past every name under `sub`
                    if reverse:
                        high = sub
                    else:
                        low, low_strict = prefix_end(sub), False
                        if low is None:
                            return out
                    jumped = True
                    break
            out.append(make(row))
            if len(out) >= limit:
                return out
        if not jumped:
            last = rows[-1][0]
            if reverse:
                high = last
            else:
                low, low_strict = last, True
            if len(rows) < wanted:
                # the query returned fewer rows than asked: nothing more
                break
    return out
