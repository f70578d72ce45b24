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
from typing import Any

import pytest

from overcast.compute import hosts
from overcast.compute import models as m
from overcast.compute.conductor import Conductor
from overcast.db import utcnow


@pytest.fixture(autouse=True)
def _down_time() -> Any:
    was = hosts.SERVICE_DOWN_AFTER
    hosts.set_service_down_time(10)
    yield
    hosts.set_service_down_time(was)


def svc(seen_ago: float | None, forced: bool = False) -> m.Service:
    seen = None if seen_ago is None else utcnow() - dt.timedelta(seconds=seen_ago)
    return m.Service(host="h", binary="nova-compute", forced_down=forced, last_seen_at=seen)


def counts_up(service: m.Service, outage: tuple[float, float] | None) -> bool:
    conductor: Any = SimpleNamespace(bus=SimpleNamespace(last_outage=outage))
    return Conductor._counts_up(conductor, service)


def test_down_after_service_down_time_or_forced() -> None:
    assert hosts.service_up(svc(1))
    assert not hosts.service_up(svc(11))
    assert not hosts.service_up(svc(1, forced=True))
    assert not hosts.service_up(svc(None))
    hosts.set_service_down_time(60)
    assert hosts.service_up(svc(11))


def test_a_broker_outage_is_not_the_hosts_fault() -> None:
    now = time.time()
    # silent for 30 s because the broker was away 30 s ago and is back for 2 s
    assert counts_up(svc(30), (now - 30, now - 2))
    # still away (not back yet): the same
    assert counts_up(svc(30), (now - 30, float("inf")))
    # back for longer than service_down_time: its heartbeats had time to return
    assert not counts_up(svc(30), (now - 50, now - 11))
    # already silent long before the broker went away: down all the same
    assert not counts_up(svc(45), (now - 30, now - 2))
    # forced down, never seen, or no outage at all: no grace
    assert not counts_up(svc(30, forced=True), (now - 30, now - 2))
    assert not counts_up(svc(None), (now - 30, now - 2))
    assert not counts_up(svc(30), None)
    assert counts_up(svc(1), None)
