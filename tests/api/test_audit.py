"""The audit releases what a crash left behind, and nothing else.

A server deleted while its boot was being scheduled left its Placement allocation
behind (usages overstated by its flavor) and a compute port whose device was a
deleted server. The order of operations now prevents that (see
tests/clients/test_write_stalls.py); what a process killed between two steps can
still leave, the conductor's periodic audit removes, as Nova's `placement audit`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from overcast.cloud import init_cloud
from overcast.compute.hosts import provider_uuid
from overcast.config import load_settings
from tests.conftest import Cloud, _database_url, _drop_database
from tests.images import IMAGE, add_image

PL = {"OpenStack-API-Version": "placement 1.28"}


@pytest.fixture
def live_cloud(tmp_path: Path) -> Iterator[Cloud]:
    db_url = _database_url(tmp_path)
    settings = load_settings(data_dir=tmp_path / "cloud", environ={}, port=0, bcrypt_rounds=4,
                             merge_user_clouds_yaml=False, local_agent=True,
                             agent_driver="fake", dataplane="none",
                             build_test_image=False, database_url=db_url or None,
                             audit_interval=0.5)
    info = init_cloud(settings)
    with TestClient(info.app, base_url="http://testserver") as client:
        yield Cloud(client=client, admin_password=info.admin_password,
                    data_dir=settings.data_dir, app=info.app)
    info.app.state.db.dispose()
    _drop_database(db_url)


def _wait(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_periodic_audit_releases_orphans_and_keeps_live_servers(live_cloud: Cloud) -> None:
    c, h = live_cloud.client, live_cloud.admin()
    add_image(c, h)
    net = c.post("/network/v2.0/networks", headers=h,
                 json={"network": {"name": "audit"}}).json()["network"]
    c.post("/network/v2.0/subnets", headers=h, json={"subnet": {
        "network_id": net["id"], "cidr": "10.55.0.0/24", "ip_version": 4}})
    server = c.post("/compute/v2.1/servers", headers=h, json={"server": {
        "name": "keep", "flavorRef": "1", "imageRef": IMAGE,
        "networks": [{"uuid": net["id"]}]}}).json()["server"]
    shown = _wait(lambda: (r := c.get(f"/compute/v2.1/servers/{server['id']}",
                                      headers=h).json()["server"])["status"] == "ACTIVE"
                  and r, "the server to become ACTIVE")
    rp = provider_uuid(shown["OS-EXT-SRV-ATTR:host"])

    # What a crash can leave: an allocation and a compute port of servers that are gone.
    ghost = str(uuid.uuid4())
    token = c.get("/identity/v3/auth/tokens", headers={**h, "X-Subject-Token": h[
        "X-Auth-Token"]}).json()["token"]
    r = c.put(f"/placement/allocations/{ghost}", headers={**h, **PL}, json={
        "allocations": {rp: {"resources": {"VCPU": 1, "MEMORY_MB": 64}}},
        "project_id": token["project"]["id"], "user_id": token["user"]["id"],
        "consumer_generation": None})
    assert r.status_code == 204, r.text
    ghost_port = c.post("/network/v2.0/ports", headers=h, json={"port": {
        "network_id": net["id"], "device_owner": "compute:nova",
        "device_id": str(uuid.uuid4())}}).json()["port"]

    _wait(lambda: c.get(f"/placement/allocations/{ghost}", headers={**h, **PL}
                        ).json()["allocations"] == {}, "the ghost allocation to go")
    # A port the user made is unbound, as Nova leaves a port it did not create.
    _wait(lambda: c.get(f"/network/v2.0/ports/{ghost_port['id']}", headers=h).json()[
        "port"]["device_id"] == "", "the ghost port to be unbound")
    kept = c.get(f"/placement/allocations/{server['id']}", headers={**h, **PL}).json()
    assert kept["allocations"][rp]["resources"]["VCPU"] == 1
    ports = c.get("/network/v2.0/ports", headers=h,
                  params={"device_id": server["id"]}).json()["ports"]
    assert len(ports) == 1
    # Once clean, an audit finds nothing more to do.
    report = live_cloud.app.state.conductor.audit()
    assert report.fixed == 0
