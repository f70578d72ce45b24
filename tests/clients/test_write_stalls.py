"""Concurrent writers never stall the cloud, and a burst leaves nothing orphaned.

With SQLite the conductor opened a write transaction and, inside it, called
Placement, which opened another (`BEGIN IMMEDIATE`) on another connection: it waited
for the lock its own thread held until the 30 s busy timeout, and every writer of the
cloud waited and failed meanwhile. It showed within a few create-then-delete tries of
a server (deleted while its boot was being scheduled), and left that server's
Placement allocation behind. Four clients here create and delete servers (deleting
each at once, while it is scheduled), ports and networks against one live
`overcast up`; no write may fail or take anywhere near the 30 s of a stall, and
afterwards Placement's usages are exactly the live servers' flavors and no port
belongs to a deleted server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import free_port
from tests.images import IMAGE, add_image

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent
CLIENTS = 4
SECONDS = 12.0
#: A stall is 30 s (SQLite's busy timeout); a loaded 2-core CI machine can take a
#: second or two for a write now and then. Anything between is a stall in the making.
SLOWEST_WRITE = 3.0


class Cloud:
    def __init__(self, port: int, data: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        password = (data / "admin-password").read_text().strip()
        r = httpx.post(f"{self.base}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        assert r.status_code == 201, r.text
        self.headers = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        self.project = r.json()["token"]["project"]["id"]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    data, port = tmp_path / "data", free_port()
    log = open(tmp_path / "up.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(BIN / "overcast"), "up", "--data-dir", str(data), "--port", str(port),
         "--no-user-clouds-yaml", "--no-test-image"], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4",
             "OVERCAST_FAKE_SPAWN_LATENCY": "0.05"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/identity/v3", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        c = Cloud(port, data)
        with httpx.Client(base_url=c.base) as client:
            add_image(client, c.headers)
        yield c
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def test_concurrent_create_delete_never_stalls_and_leaves_nothing_behind(cloud: Cloud
                                                                         ) -> None:
    h = cloud.headers
    with httpx.Client(base_url=cloud.base, headers=h, timeout=60) as c:
        net = c.post("/network/v2.0/networks", json={"network": {"name": "stall"}}).json()
        c.post("/network/v2.0/subnets", json={"subnet": {
            "network_id": net["network"]["id"], "cidr": "10.77.0.0/16", "ip_version": 4}})
    net_id = net["network"]["id"]
    writes: list[tuple[str, float, int]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def timed(c: httpx.Client, what: str, method: str, url: str, **kw: Any) -> httpx.Response:
        t0 = time.monotonic()
        r = c.request(method, url, **kw)
        took = time.monotonic() - t0
        with lock:
            writes.append((what, took, r.status_code))
            if r.status_code >= 400 and r.status_code != 404:
                failures.append(f"{what}: {r.status_code} {r.text[:300]}")
        return r

    def client(n: int) -> None:
        stop = time.monotonic() + SECONDS
        with httpx.Client(base_url=cloud.base, headers=h, timeout=60) as c:
            i = 0
            while time.monotonic() < stop:
                i += 1
                r = timed(c, "server create", "POST", "/compute/v2.1/servers", json={
                    "server": {"name": f"s{n}-{i}", "flavorRef": "1", "imageRef": IMAGE,
                               "networks": [{"uuid": net_id}]}})
                if r.status_code == 202:
                    timed(c, "server delete", "DELETE",
                          f"/compute/v2.1/servers/{r.json()['server']['id']}")
                r = timed(c, "port create", "POST", "/network/v2.0/ports",
                          json={"port": {"network_id": net_id}})
                if r.status_code == 201:
                    timed(c, "port delete", "DELETE",
                          f"/network/v2.0/ports/{r.json()['port']['id']}")
                r = timed(c, "network create", "POST", "/network/v2.0/networks",
                          json={"network": {"name": f"n-{uuid.uuid4().hex[:6]}"}})
                if r.status_code == 201:
                    timed(c, "network delete", "DELETE",
                          f"/network/v2.0/networks/{r.json()['network']['id']}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 120)
    assert writes, "no write was made"
    slowest = sorted(writes, key=lambda w: -w[1])[:5]
    assert not failures, f"{len(failures)} writes failed: {failures[:5]}"
    assert slowest[0][1] < SLOWEST_WRITE, f"writes stalled: {slowest}"

    with httpx.Client(base_url=cloud.base, headers=h, timeout=60) as c:
        # Every server was deleted: once the deletes finish, nothing remains anywhere.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = c.get("/compute/v2.1/servers").json()["servers"]
            if not left:
                break
            time.sleep(0.5)
        assert not left, f"servers never finished deleting: {left[:3]}"
        ph = {"OpenStack-API-Version": "placement 1.9"}
        usages = c.get(f"/placement/usages?project_id={cloud.project}", headers=ph).json()
        assert all(v == 0 for v in usages["usages"].values()), (
            f"Placement still counts resources of deleted servers: {usages}")
        ports = c.get("/network/v2.0/ports", params={"network_id": net_id}).json()["ports"]
        compute_ports = [p for p in ports if p["device_owner"].startswith("compute:")]
        assert not compute_ports, f"ports of deleted servers remain: {compute_ports[:3]}"
