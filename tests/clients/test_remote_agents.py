"""A control plane and its agents in separate processes, over RabbitMQ.

`overcast up` (no local agent) and `overcast agent --count 3` share a broker;
the three simulated hosts register, report inventory to Placement, and boots
land on them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import free_port
from tests.images import IMAGE, add_image

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent
URL = os.environ.get("OVERCAST_TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _rabbit() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _rabbit(), reason="no RabbitMQ on 127.0.0.1:5672")
def test_agents_in_another_process(tmp_path: Path) -> None:
    ns = f"oc-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "OVERCAST_BUS_URL": URL, "OVERCAST_BUS_NAMESPACE": ns,
           "OVERCAST_BCRYPT_ROUNDS": "4"}
    port, data = free_port(), tmp_path / "cp"
    up = subprocess.Popen([str(BIN / "overcast"), "up", "--data-dir", str(data), "--port",
                           str(port), "--no-user-clouds-yaml", "--no-agent"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                          start_new_session=True)
    agents = subprocess.Popen([str(BIN / "overcast"), "agent", "--host", "rh", "--count", "3",
                               "--data-dir", str(tmp_path / "agent")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/identity/v3", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and up.poll() is None
            time.sleep(0.2)
        password = (data / "admin-password").read_text().strip()
        r = httpx.post(f"{base}/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        with httpx.Client(base_url=base) as c:
            add_image(c, h)
        while True:
            svcs = httpx.get(f"{base}/compute/v2.1/os-services", headers=h).json()["services"]
            if len([s for s in svcs if s["state"] == "up"]) == 3:
                break
            assert time.monotonic() < deadline and agents.poll() is None
            time.sleep(0.2)
        assert sorted(s["host"] for s in svcs) == ["rh-0", "rh-1", "rh-2"]
        # a host is schedulable once Placement has its inventory, which its first
        # report brings a moment after its service is up: wait for all three, or
        # the spread below would depend on that race
        ph = {**h, "OpenStack-API-Version": "placement 1.4"}
        while len(httpx.get(f"{base}/placement/resource_providers", headers=ph,
                            params={"resources": "VCPU:1,MEMORY_MB:512"}).json()[
                                "resource_providers"]) < 3:
            assert time.monotonic() < deadline and agents.poll() is None
            time.sleep(0.2)
        ids = [httpx.post(f"{base}/compute/v2.1/servers", headers=h, json={"server": {
            "name": f"r{i}", "flavorRef": "1", "imageRef": IMAGE}}).json()["server"]["id"]
            for i in range(3)]
        hosts = set()
        for sid in ids:
            while True:
                s = httpx.get(f"{base}/compute/v2.1/servers/{sid}", headers=h).json()["server"]
                if s["status"] == "ACTIVE":
                    hosts.add(s["OS-EXT-SRV-ATTR:host"])
                    break
                assert s["status"] == "BUILD" and time.monotonic() < deadline, s
                time.sleep(0.2)
        assert hosts <= {"rh-0", "rh-1", "rh-2"} and len(hosts) == 3  # spread
        out = httpx.post(f"{base}/compute/v2.1/servers/{ids[0]}/action", headers=h,
                         json={"os-getConsoleOutput": {}}).json()["output"]
        assert ids[0] in out  # a call across processes
    finally:
        for p in (agents, up):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
        from overcast.bus.rabbit import RabbitBus

        async def cleanup() -> None:
            bus = RabbitBus(URL, ns)
            await bus.delete_topics(["conductor", "conductor.reports", "agent.rh-0",
                                     "agent.rh-1", "agent.rh-2"])
            await bus.stop()

        asyncio.run(cleanup())
