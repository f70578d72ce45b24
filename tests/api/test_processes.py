"""Caches kept per process stay right when several API processes share a database
(`overcast up --workers N`): what one worker changes, another sees at once."""

from __future__ import annotations

import uuid

from overcast.compute import models as m
from overcast.compute.hosts import HostService
from overcast.db import utcnow
from tests.conftest import Cloud


def test_host_status_forced_down_through_one_worker_is_seen_by_another(cloud: Cloud) -> None:
    """host_status was cached for a second and cleared only in the process that
    changed the service: with two API workers, `forced_down` set through one left
    the other answering UP for up to a second. Now the cache is kept only while the
    services' latest updated_at is the one it was built from."""
    db = cloud.app.state.db
    host = f"h-{uuid.uuid4().hex[:8]}"
    with db.transaction() as s:
        s.add(m.Service(uuid=str(uuid.uuid4()), host=host, binary="nova-compute",
                        zone="nova", last_seen_at=utcnow(), updated_at=utcnow()))
    worker_a, worker_b = HostService(db), HostService(db)
    assert worker_b.host_statuses()[host] == "UP"  # cached in "worker b"
    svc_id = next(s.uuid for s in worker_a.services() if s.host == host)
    worker_a.update_service(svc_id, {"forced_down": True})
    assert worker_b.host_statuses()[host] == "DOWN"
    worker_a.update_service(svc_id, {"forced_down": False, "disabled": True})
    assert worker_b.host_statuses()[host] == "MAINTENANCE"
