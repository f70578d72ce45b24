"""Compute hosts, as both the API service and the conductor/scheduler see them.

What the two share lives here, so neither imports the other: a host's Placement
provider uuid, whether its service is up, Nova's host_status, the hypervisor
figures, and the `HostService` that lists and updates the compute services
(`os-services`, `os-hypervisors`, `os-availability-zone`).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid as uuidlib
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.compute.ports import PlacementPort
from overcast.db import Database, utcnow
from overcast.kit.errors import NotFound


class NoValidHost(Exception):
    """No host can take the server (the scheduler's answer, as Nova's)."""


NAMESPACE = uuidlib.UUID("6e4b2c1a-95d1-4f3e-9f5e-0c3a1d2b7e11")


class _Outages(Protocol):
    #: see `overcast.bus.base.Bus.last_outage`
    last_outage: tuple[float, float] | None


class ServiceGroup:
    """Whether a service is up, for one cloud: Nova's servicegroup API (its DB driver).

    A service is up when it is not forced down and was heard from within the last
    `down_after` seconds (Nova's service_down_time; each app makes its own from
    `Settings.service_down_time`, so two clouds in one process keep their own).

    And, what Nova does not have: a service that was up when this process lost the
    broker counts as up until `down_after` seconds after the broker is back. The
    heartbeats travel on the bus: their silence was the broker's, not the host's;
    they return within a report interval. Without it, RabbitMQ restarting mid-burst
    made every host look down to the boots queued meanwhile (all NoValidHost).

    Nova asks one `service_is_up` everywhere: the os-services and os-hypervisors
    `state`, the servers' `host_status`, the scheduler's ComputeFilter, evacuate's
    "still in use" refusal, live migration's destination check, and delete's choice
    of a local delete. So does this, grace included, and they all agree: a host the
    scheduler builds on is never shown `down`, and a host shown `down` is one
    evacuate accepts. During the grace, evacuating a server of a host that was up
    when the broker went away is refused (400 "still in use"): its guests very likely
    still run, and rebuilding them elsewhere would run them twice. The cost: a host
    that really dies during a broker outage is seen down only `down_after` seconds
    after the broker is back (in Nova, whose heartbeats also travel on the broker,
    every host is seen down instead, and the scheduler finds no host at all).
    """

    def __init__(self, down_after: float = 60.0, bus: _Outages | None = None) -> None:
        self.down_after = float(down_after)
        self.bus = bus

    def up(self, forced_down: bool, last_seen_at: dt.datetime | None,
           now: dt.datetime | None = None) -> bool:
        """The rule, on a service's columns (`last_seen_at`: naive UTC, as stored)."""
        if forced_down or last_seen_at is None:
            return False
        now = now or utcnow()
        if (now - last_seen_at).total_seconds() < self.down_after:
            return True
        outage = self.bus.last_outage if self.bus is not None else None
        if outage is None:
            return False
        lost, back = outage
        if time.time() - back >= self.down_after:
            return False
        seen = last_seen_at.replace(tzinfo=dt.UTC).timestamp()
        return seen >= lost - self.down_after

    def is_up(self, svc: m.Service) -> bool:
        return self.up(svc.forced_down, svc.last_seen_at)

    def host_up(self, s: Session, host: str) -> bool:
        """Whether the nova-compute service of `host` is up (False: no such service)."""
        svc = s.scalar(select(m.Service).where(m.Service.host == host,
                                               m.Service.binary == "nova-compute"))
        return svc is not None and self.is_up(svc)


@functools.lru_cache(maxsize=65536)
@functools.lru_cache(maxsize=1 << 16)
def provider_uuid(host: str) -> str:
    """The Placement resource provider of a compute host (kept: the scheduler asks
    it of every candidate host for every instance)."""
    return str(uuidlib.uuid5(NAMESPACE, host))


def compute_services(s: Session) -> dict[str, m.Service]:
    """Every nova-compute service, by host."""
    return {svc.host: svc for svc in s.scalars(select(m.Service).where(
        m.Service.binary == "nova-compute"))}


def _int_or(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


#: A hypervisor as the API shows it: its service, Placement usage, running instances.
Hypervisor = tuple[m.Service, dict[str, int], int]


class HostService:
    """The compute services (one per host and binary) and what they report."""

    def __init__(self, db: Database, placement: PlacementPort | None = None,
                 group: ServiceGroup | None = None) -> None:
        self.db = db
        self.placement = placement
        self.group = group or ServiceGroup()
        self._host_statuses: tuple[float, tuple[Any, ...], dict[str, str]] | None = None

    def services(self) -> list[m.Service]:
        with self.db.session() as s:
            return list(s.scalars(select(m.Service).order_by(m.Service.id)))

    def host_statuses(self) -> dict[str, str]:
        """Nova's host_status (UP, DOWN, MAINTENANCE) of every compute host.

        Listings ask on every request; the answer is kept for a second (a host
        goes down after a minute without heartbeats) while the services' latest
        `updated_at` and count stay the same: a change made through any API worker
        (`update_service`, a new host) moves them, so every process sees it at once,
        not only the one that made it."""
        with self.db.session() as s:
            mark = tuple(s.execute(select(func.max(m.Service.updated_at), func.count()).where(
                m.Service.binary == "nova-compute")).one())
            cached = self._host_statuses
            if cached is not None and cached[1] == mark and time.monotonic() - cached[0] < 1.0:
                return cached[2]
            rows = s.execute(select(m.Service.host, m.Service.forced_down, m.Service.disabled,
                                    m.Service.last_seen_at).where(
                m.Service.binary == "nova-compute")).all()
        now = utcnow()
        out = {}
        for host, forced_down, disabled, seen in rows:
            if not self.group.up(forced_down, seen, now):
                out[host] = "DOWN"
            else:
                out[host] = "MAINTENANCE" if disabled else "UP"
        self._host_statuses = (time.monotonic(), mark, out)
        return out

    def update_service(self, service_id: str, data: dict[str, Any]) -> m.Service:
        with self.db.transaction() as s:
            svc = s.scalar(select(m.Service).where(
                (m.Service.uuid == service_id) | (m.Service.id == _int_or(service_id))))
            if svc is None:
                raise NotFound(f"Service {service_id} not found.")
            for key in ("disabled", "disabled_reason", "forced_down"):
                if key in data:
                    setattr(svc, key, data[key])
            self._host_statuses = None
            if "disabled" in data and not data["disabled"]:
                svc.disabled_reason = None
            svc.updated_at = utcnow()
            return svc

    def servers_by_host(self, hosts: list[str]) -> dict[str, list[dict[str, str]]]:
        """The servers (Nova's `name` and `uuid`) on each of these hosts."""
        out: dict[str, list[dict[str, str]]] = {}
        with self.db.session() as s:
            for host, uuid, name in s.execute(select(
                    m.Instance.host, m.Instance.uuid, m.Instance.name).where(
                    m.Instance.deleted.is_(False), m.Instance.host.in_(hosts))
                    .order_by(m.Instance.created_at)):
                out.setdefault(host or "", []).append({"name": name, "uuid": uuid})
        return out

    def hypervisors(self) -> list[Hypervisor]:
        """Each compute service with its Placement usage and its instance count.

        A fixed number of queries whatever the number of hosts: the services, the
        instances counted per host in SQL, and every host's usage in one bulk read
        from Placement (reading each provider on its own cost ~2 ms a host)."""
        with self.db.session() as s:
            computes = list(s.scalars(select(m.Service).where(
                m.Service.binary == "nova-compute").order_by(m.Service.id)))
            running: dict[str, int] = {host: int(n) for host, n in s.execute(
                select(m.Instance.host, func.count()).where(
                    m.Instance.deleted.is_(False), m.Instance.host.isnot(None))
                .group_by(m.Instance.host)) if host}
        usages: dict[str, dict[str, int]] = {}
        if self.placement is not None and computes:
            usages = self.placement.usages_of([provider_uuid(c.host) for c in computes])
        return [(svc, usages.get(provider_uuid(svc.host), {}), running.get(svc.host, 0))
                for svc in computes]

    def usage_by_project(self, host: str) -> dict[str, tuple[int, int, int]]:
        """(vcpus, memory_mb, disk_gb) of each project's live servers on a host, from
        their flavors (os-hosts' per-project rows)."""
        out: dict[str, tuple[int, int, int]] = {}
        with self.db.session() as s:
            for project, flavor in s.execute(select(m.Instance.project_id, m.Instance.flavor)
                                             .where(m.Instance.host == host,
                                                    m.Instance.deleted.is_(False))):
                f = flavor or {}
                cpu, mem, disk = out.get(project, (0, 0, 0))
                out[project] = (cpu + int(f.get("vcpus") or 0), mem + int(f.get("ram") or 0),
                                disk + int(f.get("disk") or 0) +
                                int(f.get("ephemeral") or 0))
        return out

    def servers_on(self, hosts: list[str]) -> list[tuple[str, str, str]]:
        """(host, uuid, name) of the live servers on these hosts, oldest first."""
        with self.db.session() as s:
            return [(h or "", u, n) for h, u, n in s.execute(
                select(m.Instance.host, m.Instance.uuid, m.Instance.name).where(
                    m.Instance.deleted.is_(False), m.Instance.host.in_(hosts))
                .order_by(m.Instance.created_at))]
