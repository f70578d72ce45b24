"""The object store: the database, the data backend and the limits, in one handle.

Every domain module (`accounts`, `containers`, `objects`, `large`) takes an
`ObjectStore` and plain values and returns `records`; the Swift routes and an
S3 front end share them. `names` holds the pure helpers both need: the
bytewise range of a prefix and expiry filtering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_

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


def iso_time(ts: float) -> str:
    """Listings' last_modified: ISO 8601 in UTC with microseconds, no zone."""
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
