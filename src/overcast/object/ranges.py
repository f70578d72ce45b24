"""HTTP byte ranges and conditional requests, as Swift evaluates them.

Pure functions of headers and an object's etag/time, shared by the Swift
routes and an S3 front end: `spans` turns a Range header into [start, end)
pairs (None: serve the whole object, as Swift does for a header it cannot
parse), `condition` answers 304/412 for If-* headers.
"""

from __future__ import annotations

import email.utils
import re

from overcast.object import errors

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
#: swob's limits on a Range header (more is answered 416).
MAX_RANGES = 50
MAX_OVERLAPS = 2
MAX_DESCENDING = 8


def spans(header: str | None, size: int) -> list[tuple[int, int]] | None:
    if not header:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    parsed: list[tuple[int | None, int | None]] = []
    for spec in specs.split(","):
        match = _RANGE.match(spec)
        if not match or (match.group(1) == "" and match.group(2) == ""):
            return None
        first = int(match.group(1)) if match.group(1) else None
        last = int(match.group(2)) if match.group(2) else None
        if first is not None and last is not None and last < first:
            return None
        parsed.append((first, last))
    out: list[tuple[int, int]] = []
    for first, last in parsed:
        if first is None:  # suffix: the last `last` bytes
            assert last is not None
            if last == 0:
                continue
            out.append((max(0, size - last), size))
        elif first < size:
            out.append((first, size if last is None else min(last + 1, size)))
    if not out or _egregious(out):
        raise errors.range_not_satisfiable()
    return out


def _egregious(spans: list[tuple[int, int]]) -> bool:
    """RFC 7233's denial-of-service guard, with swob's limits: more than 50 ranges,
    more than 2 overlapping pairs, or more than 8 out of ascending order."""
    if len(spans) > MAX_RANGES:
        return True
    overlaps = 0
    for i, (a1, b1) in enumerate(spans):
        for a2, b2 in spans[i + 1:]:
            if a1 < a2 < b1 or a1 < b2 < b1 or a2 < a1 < b2 or a2 < b1 < b2:
                overlaps += 1
    if overlaps > MAX_OVERLAPS:
        return True
    descending = sum(1 for (a1, _), (a2, _) in zip(spans, spans[1:], strict=False) if a2 < a1)
    return descending > MAX_DESCENDING


def http_date(ts: float) -> str:
    """Last-Modified: the timestamp rounded up to the second, as Swift does."""
    import math

    return email.utils.formatdate(math.ceil(ts), usegmt=True)


def _parse_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp()


def _etags(value: str) -> list[str]:
    return [t.strip().strip('"') for t in value.split(",") if t.strip()]


def condition(headers: dict[str, str], etag: str, timestamp: float, *,
              read: bool) -> int | None:
    """The status a conditional request gets instead of its normal answer
    (304 Not Modified, 412 Precondition Failed), or None to go on."""
    import math

    mtime = math.ceil(timestamp)
    bare = etag.strip('"')
    if_match = headers.get("if-match")
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and bare not in tags:
            return 412
    if_none = headers.get("if-none-match")
    if if_none is not None:
        tags = _etags(if_none)
        if "*" in tags or bare in tags:
            return 304 if read else 412
    elif read:
        since = _parse_date(headers.get("if-modified-since"))
        if since is not None and mtime <= since:
            return 304
    unmod = _parse_date(headers.get("if-unmodified-since"))
    if unmod is not None and mtime > unmod:
        return 412
    return None
