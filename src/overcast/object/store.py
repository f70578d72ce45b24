"""The object store: the database, the data backend and the limits, in one handle.

Every domain module (`accounts`, `containers`, `objects`, `large`) takes an
`ObjectStore` and plain values and returns `records`; the Swift routes and an
S3 front end share them. `names` holds the pure helpers both need: the
bytewise range of a prefix and expiry filtering; `reap_expired` is the expirer's
sweep (also run by a container's delete).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, literal, or_, select

from overcast.db import Database
from overcast.object import models as m
from overcast.object.backends.base import Backend


@dataclass
class Quotas:
    """Per-project limits (the account's `AUTH_<project>`); None: unlimited."""

    bytes: int | None = None
    objects: int | None = None


@dataclass
class ObjectStore:
    db: Database
    backend: Backend
    quotas: Quotas

    def alive(self) -> None:
        """Raises unless the database answers a query (the healthcheck's test)."""
        with self.db.session() as s:
            s.execute(select(literal(1))).scalar_one()


def now() -> float:
    """Swift's timestamps: seconds with five decimals."""
    return round(time.time(), 5)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix`
    (None when there is none: the prefix is all U+10FFFF)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


def live(when: float | None = None) -> ColumnElement[Any]:
    """Objects not past their X-Delete-At (expired ones vanish at once)."""
    t = int(time.time() if when is None else when)
    return or_(m.Object.delete_at.is_(None), m.Object.delete_at > t)


_EPOCH = dt.datetime(1970, 1, 1)
#: "YYYY-MM-DDTHH:MM:SS" by whole second: objects written together share seconds,
#: so a listing formats each second once (bounded: cleared when full).
_SECONDS: dict[int, str] = {}


def iso_time(ts: float) -> str:
    """Listings' last_modified: ISO 8601 in UTC with microseconds, no zone.

    Naive arithmetic from the epoch, not `fromtimestamp(ts, UTC)`, and each
    second formatted once: the time-zone conversion made this function most of a
    10,000-object listing's time (100 ms of 250 on a busy machine; now a few ms).
    `round(ts * 1e6)` is the exact microsecond of a stored five-decimal stamp (a
    float's error there is a fraction of a microsecond)."""
    seconds, micros = divmod(round(ts * 1_000_000), 1_000_000)
    head = _SECONDS.get(seconds)
    if head is None:
        if len(_SECONDS) >= 65536:
            _SECONDS.clear()
        head = _SECONDS[seconds] = (_EPOCH + dt.timedelta(seconds=seconds)).isoformat()
    return f"{head}.{micros:06d}"


# ----------------------------------------------------------------- upkeep
def reap_expired(store: ObjectStore, batch: int = 500, container_id: int | None = None
                 ) -> int:
    """Remove objects past their X-Delete-At (the expirer's job), of every
    container or of one; how many."""
    t = int(now())
    done = 0
    while True:
        with store.db.session() as s:
            q = select(m.Object.id, m.Object.container_id).where(
                m.Object.delete_at.is_not(None), m.Object.delete_at <= t)
            if container_id is not None:
                q = q.where(m.Object.container_id == container_id)
            rows = s.execute(q.limit(batch)).all()
        if not rows:
            return done
        locations: list[str] = []
        with store.db.transaction() as s:
            for oid, cid in rows:
                c = s.get(m.Container, cid, with_for_update=True)
                row = s.get(m.Object, oid)
                if c is None or row is None or row.delete_at is None or row.delete_at > t:
                    continue
                c.object_count -= 1
                c.bytes_used -= int(row.size)
                if row.location:
                    locations.append(row.location)
                s.delete(row)
                done += 1
        for loc in locations:
            store.backend.delete(loc)
        if len(rows) < batch:
            return done
