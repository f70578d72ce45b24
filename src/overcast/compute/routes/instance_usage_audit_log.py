"""`os-instance_usage_audit_log` (admin): the state of Nova's periodic instance usage
audit over its last completed period (a month, Nova's default) before a time.

overcast runs no such audit (it sends no usage notifications; its usage is
`os-simple-tenant-usage`, counted on demand), so every compute host is reported as
not run for the period, as Nova reports hosts whose audit is off.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request, Response

from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import reply, router, service
from overcast.db import utcnow
from overcast.kit.errors import BadRequest

routes = router()
FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def _period(before: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last whole month that ended before `before`."""
    end = before.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    begin = (end - dt.timedelta(days=1)).replace(day=1)
    return begin, end


def _log(request: Request, before: dt.datetime) -> dict[str, Any]:
    begin, end = _period(before)
    hosts = sorted({svc.host for svc in service(request).services()
                    if svc.binary == "nova-compute"})
    return {"hosts_not_run": hosts, "log": {}, "num_hosts": len(hosts),
            "num_hosts_done": 0, "num_hosts_not_run": len(hosts), "num_hosts_running": 0,
            "overall_status": f"0 of {len(hosts)} hosts done. 0 errors.",
            "period_beginning": begin.strftime("%Y-%m-%d %H:%M:%S"),
            "period_ending": end.strftime("%Y-%m-%d %H:%M:%S"),
            "total_errors": 0, "total_instances": 0}


@routes.get("/v2.1/os-instance_usage_audit_log", dependencies=[ADMIN])
def list_audit_logs(request: Request) -> Response:
    return reply(request, {"instance_usage_audit_logs": _log(request, utcnow())})


@routes.get("/v2.1/os-instance_usage_audit_log/{before}", dependencies=[ADMIN])
def show_audit_log(before: str, request: Request) -> Response:
    for fmt in FORMATS:
        try:
            when = dt.datetime.strptime(before, fmt)
            break
        except ValueError:
            continue
    else:
        raise BadRequest(f"Invalid timestamp for date {before}")
    return reply(request, {"instance_usage_audit_log": _log(request, when)})
