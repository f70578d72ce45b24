"""A server's action log (`/servers/{id}/os-instance-actions`) as a paged list: from
2.58 Nova pages it (`limit`, `marker` = a request id) and filters it by when an
action last changed (`changes-since`; `changes-before` from 2.66, as for servers and
migrations: `changes_before`), newest first, and shows each action's `updated_at` (it
moves when one of its events finishes).

Below 2.58 the list is whole and takes any query, as Nova's does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, or_, select

from overcast.compute import models as m
from overcast.compute.schemas import QUERY_NON_NEGATIVE, _nova, _obj, _parse_time
from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion

#: Nova's [api] max_limit: a page is at most this long (and this long by default).
MAX_LIMIT = 1000
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
#: 2.58: only these parameters (anything else is a 400).
QUERY_2_58 = _nova(_obj({"limit": QUERY_NON_NEGATIVE, "marker": {"type": "string"},
                         "changes-since": _TIME}))
#: 2.66: and changes-before.
QUERY_2_66 = _nova(_obj({"limit": QUERY_NON_NEGATIVE, "marker": {"type": "string"},
                         "changes-since": _TIME, "changes-before": _TIME}))


def changes_before(q: Mapping[str, str], since: dt.datetime | None) -> dt.datetime | None:
    """2.66's `changes-before` (None when not given): a date-time no earlier than
    `changes-since` (400 otherwise, in Nova's words)."""
    raw = q.get("changes-before")
    if not raw:
        return None
    try:
        before = _parse_time(raw)
    except BadRequest:
        raise BadRequest(f"Invalid filter field: changes-before. Value: {raw}") from None
    if since is not None and before < since:
        raise BadRequest("The value of changes-since must be less than or equal to "
                         "changes-before.")
    return before


def page_query(q: Mapping[str, str], v: APIVersion) -> dict[str, Any]:
    """limit, marker, since, before of a 2.58+ list (400s as Nova's)."""
    (QUERY_2_66 if v.at_least("2.66") else QUERY_2_58).check_query(q)
    since = _parse_time(q["changes-since"]) if q.get("changes-since") else None
    before = changes_before(q, since) if v.at_least("2.66") else None
    limit = min(int(q["limit"]), MAX_LIMIT) if q.get("limit") else MAX_LIMIT
    return {"limit": limit, "marker": q.get("marker"), "since": since, "before": before}


def list_page(db: Database, ctx: RequestContext, uuid: str, *, limit: int,
              marker: str | None, since: dt.datetime | None,
              before: dt.datetime | None = None) -> list[m.InstanceAction]:
    """One page of the server's actions, newest first (404: not the caller's server;
    400: a marker that is no action of this server)."""
    with db.session() as s:
        inst = s.get(m.Instance, uuid)
        if inst is None or (not ctx.is_admin and inst.project_id != ctx.project_id):
            raise NotFound(f"Instance {uuid} could not be found.")
        A = m.InstanceAction
        q = select(A).where(A.instance_uuid == uuid)
        if marker is not None:
            after = s.scalar(select(A).where(A.instance_uuid == uuid,
                                             A.request_id == marker))
            if after is None:
                raise BadRequest(f"Marker {marker} could not be found.")
            q = q.where(or_(A.start_time < after.start_time,
                            and_(A.start_time == after.start_time, A.id < after.id)))
        if since is not None:
            q = q.where(A.updated_at >= since)
        if before is not None:
            q = q.where(A.updated_at <= before)
        return list(s.scalars(q.order_by(A.start_time.desc(), A.id.desc()).limit(limit)))


def server_project(db: Database, uuid: str) -> str:
    """The project of a server, deleted or not (an event's `hostId` is its host as
    that project sees it, 2.62)."""
    with db.session() as s:
        return s.scalar(select(m.Instance.project_id).where(m.Instance.uuid == uuid)) or ""
