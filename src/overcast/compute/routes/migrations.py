"""`os-migrations` (admin): the resizes and cold migrations of servers, with Nova's
filters; from 2.59 paged (`limit`, `marker` = a migration's uuid, a `next` link in
`migrations_links`), filtered by `changes-since`, and each with its `uuid`; from
2.80 with the `user_id` and `project_id` of who asked for it, and filtered by them. The
records are written by the resize paths (`compute.migrations`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import action_log
from overcast.compute.migrations import MigrationService, view
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import base_url, reply, router, service, version
from overcast.compute.schemas import QUERY_NON_NEGATIVE, _nova, _obj, _parse_time
from overcast.kit.paging import next_href

routes = router()
FILTERS = ("instance_uuid", "source_compute", "host", "status", "migration_type")
_Q: dict[str, Any] = {"type": "string"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_PAGING: dict[str, Any] = {**{k: _Q for k in (*FILTERS, "hidden")},
                           "limit": QUERY_NON_NEGATIVE, "marker": _Q, "changes-since": _TIME}
#: 2.59: Nova's filters, paging and changes-since, and nothing else; 2.66:
#: changes-before too.
QUERY_2_59 = _nova(_obj(_PAGING))
QUERY_2_66 = _nova(_obj({**_PAGING, "changes-before": _TIME}))
#: 2.80: and who asked for the move.
QUERY_2_80 = _nova(_obj({**_PAGING, "changes-before": _TIME, "user_id": _Q,
                         "project_id": _Q}))


@routes.get("/v2.1/os-migrations", dependencies=[ADMIN])
def list_migrations(request: Request) -> Response:
    q = request.query_params
    v = version(request)
    filters: dict[str, Any] = {k: q[k] for k in FILTERS if q.get(k)}
    limit = marker = None
    if v.at_least("2.59"):
        (QUERY_2_80 if v.at_least("2.80") else QUERY_2_66 if v.at_least("2.66")
         else QUERY_2_59).check_query(q)
        if v.at_least("2.80"):
            filters.update({k: q[k] for k in ("user_id", "project_id") if q.get(k)})
        if q.get("changes-since"):
            filters["changes-since"] = _parse_time(q["changes-since"])
        if v.at_least("2.66"):
            filters["changes-before"] = action_log.changes_before(
                q, filters.get("changes-since"))
        limit = min(int(q["limit"]), action_log.MAX_LIMIT) if q.get("limit") \
            else action_log.MAX_LIMIT
        marker = q.get("marker")
    rows = MigrationService(service(request).db).list_all(filters, limit, marker)
    with_type, with_uuid = v.at_least("2.23"), v.at_least("2.59")
    with_owner = v.at_least("2.80")
    base = base_url(request)
    body: dict[str, Any] = {"migrations": [view(mig, status, with_type, with_uuid, base,
                                                with_owner)
                                           for mig, status in rows]}
    if with_uuid and rows and len(rows) == limit:
        body["migrations_links"] = [{"rel": "next", "href": next_href(
            base, "/v2.1/os-migrations", dict(q.multi_items()),
            rows[-1][0].uuid)}]
    return reply(request, body)
