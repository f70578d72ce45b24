"""When a compute host counts as down: after service_down_time without a heartbeat,
or forced down; and not merely because the broker the heartbeats travel on was away.

The story behind the last part: RabbitMQ restarted mid-burst, and the boots queued
during the outage were scheduled before the agents' heartbeats came back, onto a
cloud where every host looked down: all of them ended in ERROR (NoValidHost).
"""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

from overcast.compute import models as m
from overcast.compute.hosts import ServiceGroup
from overcast.db import utcnow


def svc(seen_ago: float | None, forced: bool = False) -> m.Service:
    seen = None if seen_ago is None else utcnow() - dt.timedelta(seconds=seen_ago)
    return m.Service(host="h", binary="nova-compute", forced_down=forced, last_seen_at=seen)


def group(outage: tuple[float, float] | None = None, down_after: float = 10) -> ServiceGroup:
    return ServiceGroup(down_after, SimpleNamespace(last_outage=outage))


def test_down_after_service_down_time_or_forced() -> None:
    assert group().is_up(svc(1))
    assert not group().is_up(svc(11))
    assert not group().is_up(svc(1, forced=True))
    assert not group().is_up(svc(None))
    assert group(down_after=60).is_up(svc(11))
    assert ServiceGroup().is_up(svc(59)) and not ServiceGroup().is_up(svc(61))  # Nova's 60


def test_a_broker_outage_is_not_the_hosts_fault() -> None:
    now = time.time()
    # silent for 30 s because the broker was away 30 s ago and is back for 2 s
    assert group((now - 30, now - 2)).is_up(svc(30))
    # still away (not back yet): the same
    assert group((now - 30, float("inf"))).is_up(svc(30))
    # back for longer than service_down_time: its heartbeats had time to return
    assert not group((now - 50, now - 11)).is_up(svc(30))
    # already silent long before the broker went away: down all the same
    assert not group((now - 30, now - 2)).is_up(svc(45))
    # forced down, never seen, or no outage at all: no grace
    assert not group((now - 30, now - 2)).is_up(svc(30, forced=True))
    assert not group((now - 30, now - 2)).is_up(svc(None))
    assert not group(None).is_up(svc(30))
    assert group(None).is_up(svc(1))
    assert not ServiceGroup(10).is_up(svc(30))  # no bus: no outage
