"""Whether a compute service is up is each cloud's own affair: its
service_down_time (Nova's setting) is the one it was built with, even when several
clouds live in one process (as the tests' clouds do)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from overcast.compute import models as m
from overcast.db import utcnow
from tests.api.test_compute import C
from tests.conftest import Cloud, build_cloud


def add_host(cloud: Cloud, seen_ago: float) -> str:
    """A compute service last heard from `seen_ago` seconds ago."""
    host = f"sg-{uuid.uuid4().hex[:8]}"
    with cloud.app.state.db.transaction() as s:
        s.add(m.Service(uuid=str(uuid.uuid4()), host=host, binary="nova-compute",
                        zone="nova", updated_at=utcnow(),
                        last_seen_at=utcnow() - dt.timedelta(seconds=seen_ago)))
    return host


def state(cloud: Cloud, host: str) -> tuple[str, str]:
    """(os-services state, os-hypervisors state) of the host."""
    svcs = cloud.client.get(f"{C}/os-services?host={host}", headers=cloud.admin()).json()
    hvs = cloud.client.get(f"{C}/os-hypervisors/detail", headers=cloud.admin()).json()
    return (svcs["services"][0]["state"],
            next(hv["state"] for hv in hvs["hypervisors"]
                 if hv["hypervisor_hostname"] == host))


def test_two_clouds_in_one_process_keep_their_own_service_down_time(
        cloud: Cloud, tmp_path: Path) -> None:
    """It was a module global each app set when built: the cloud built last decided
    for every cloud in the process (here: the default cloud's 60 s became 10)."""
    gen = build_cloud(tmp_path, service_down_time=10.0)
    short = next(gen)
    try:
        assert cloud.app.state.compute.servicegroup.down_after == 60.0
        assert short.app.state.compute.servicegroup.down_after == 10.0
        # silent for 30 s: still up under 60 s, down under 10 s
        assert state(cloud, add_host(cloud, 30)) == ("up", "up")
        assert state(short, add_host(short, 30)) == ("down", "down")
        assert state(short, add_host(short, 1)) == ("up", "up")
    finally:
        gen.close()
