"""Usage over a period (`os-simple-tenant-usage`): for each project, the hours each of
its servers existed within [start, end) and what they held meanwhile (vCPUs, RAM,
disk of their flavor), as Nova's simple tenant usage counts them.

A server counts from its launch (its creation, if it never launched) to its deletion
(now, while it lives), clipped to the period; deleted servers stay in the count for
the periods they lived in. No HTTP here: the routes are
`compute.routes.simple_tenant_usage`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from overcast.compute import models as m
from overcast.compute.views import usage_time
from overcast.db import Database, utcnow
from overcast.kit.errors import BadRequest

TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def parse_period(start: str | None, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    """Nova's period: each end as one of its formats (now when absent), start first."""
    def parse(raw: str | None) -> dt.datetime:
        if raw is None:
            return utcnow()
        for fmt in TIME_FORMATS:
            try:
                return dt.datetime.strptime(raw, fmt)
            except ValueError:
                continue
        raise BadRequest(f"Invalid input received: Invalid time format {raw}.")

    begin, stop = parse(start), parse(end)
    if not begin < stop:
        raise BadRequest("Invalid input received: Invalid start time. The start time "
                         "cannot occur after the end time.")
    return begin, stop


class UsageService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def usages(self, begin: dt.datetime, stop: dt.datetime, project: str | None,
               detailed: bool) -> list[dict[str, Any]]:
        """One usage per project with servers alive in the period (or just `project`)."""
        now = utcnow()
        q = select(m.Instance).where(
            m.Instance.created_at < stop,
            or_(m.Instance.deleted_at.is_(None), m.Instance.deleted_at > begin))
        if project is not None:
            q = q.where(m.Instance.project_id == project)
        by_project: dict[str, list[dict[str, Any]]] = {}
        with self.db.session() as s:
            for inst in s.scalars(q.order_by(m.Instance.created_at)):
                by_project.setdefault(inst.project_id, []).append(
                    self._server(inst, begin, stop, now))
        if project is not None and project not in by_project:
            by_project[project] = []
        return [self._total(p, servers, begin, stop, detailed)
                for p, servers in sorted(by_project.items())]

    @staticmethod
    def _server(inst: m.Instance, begin: dt.datetime, stop: dt.datetime,
                now: dt.datetime) -> dict[str, Any]:
        started = inst.launched_at or inst.created_at
        ended = inst.deleted_at if inst.deleted else None
        span_end = min(ended or now, stop)
        seconds = max(0.0, (span_end - max(started, begin)).total_seconds())
        f = inst.flavor or {}
        return {"instance_id": inst.uuid, "name": inst.name, "tenant_id": inst.project_id,
                "hours": seconds / 3600.0, "vcpus": int(f.get("vcpus") or 0),
                "memory_mb": int(f.get("ram") or 0),
                "local_gb": int(f.get("disk") or 0) + int(f.get("ephemeral") or 0),
                "flavor": str(f.get("name") or inst.flavor_id),
                "started_at": usage_time(started), "ended_at": usage_time(ended),
                "state": "terminated" if inst.deleted else inst.vm_state,
                "uptime": int(((ended or now) - started).total_seconds())}

    @staticmethod
    def _total(project: str, servers: list[dict[str, Any]], begin: dt.datetime,
               stop: dt.datetime, detailed: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tenant_id": project, "start": usage_time(begin), "stop": usage_time(stop),
            "total_hours": sum(x["hours"] for x in servers),
            "total_vcpus_usage": sum(x["hours"] * x["vcpus"] for x in servers),
            "total_memory_mb_usage": sum(x["hours"] * x["memory_mb"] for x in servers),
            "total_local_gb_usage": sum(x["hours"] * x["local_gb"] for x in servers)}
        if detailed:
            out["server_usages"] = servers
        return out
