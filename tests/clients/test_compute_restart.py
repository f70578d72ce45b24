"""Killing `overcast up` in the middle of 20 boots loses nothing.

After a SIGKILL and a restart on the same data directory every server ends
ACTIVE, or ERROR with a fault — none stays in BUILD — and Placement holds
allocations for exactly the servers that exist.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import free_port
from tests.images import IMAGE, add_image

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent


def start(data: Path, port: int, latency: float = 0.0) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(BIN / "overcast"), "up", "--data-dir", str(data), "--port",
                             str(port), "--no-user-clouds-yaml", "--no-test-image"],
                            stdout=open(data.parent / "up.log", "ab"),  # noqa: SIM115
                            stderr=subprocess.STDOUT,
                            env={**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4",
                                 "OVERCAST_FAKE_SPAWN_LATENCY": str(latency)},
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/identity/v3", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("overcast up did not start")


def token(port: int, data: Path) -> tuple[str, str]:
    password = (data / "admin-password").read_text().strip()
    r = httpx.post(f"http://127.0.0.1:{port}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    return str(r.headers["X-Subject-Token"]), str(r.json()["token"]["project"]["id"])


def test_kill_during_boots_then_restart(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    # Each boot takes 0.3 s on the fake host, so the kill lands with boots in flight.
    proc = start(data, port, latency=0.3)
    base = f"http://127.0.0.1:{port}/compute/v2.1"
    tok, project = token(port, data)
    h = {"X-Auth-Token": tok}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        add_image(c, h)
    r = httpx.put(f"{base}/os-quota-sets/{project}", headers=h,
                  json={"quota_set": {"instances": 50, "cores": 50}})
    assert r.status_code == 200, r.text
    ids = []
    for i in range(20):
        r = httpx.post(f"{base}/servers", headers=h, json={"server": {
            "name": f"r{i}", "flavorRef": "1", "imageRef": IMAGE}})
        assert r.status_code == 202, r.text
        ids.append(r.json()["server"]["id"])
    states = {s["status"] for s in httpx.get(f"{base}/servers/detail", headers=h).json()[
        "servers"]}
    assert "BUILD" in states  # the crash really happens mid-boot
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc = start(data, port)
    try:
        h = {"X-Auth-Token": token(port, data)[0]}
        deadline = time.monotonic() + 60
        while True:
            servers = httpx.get(f"{base}/servers/detail", headers=h,
                                params={"limit": 100}).json()["servers"]
            by = {s["id"]: s for s in servers}
            if all(by[i]["status"] in ("ACTIVE", "ERROR") for i in ids):
                break
            assert time.monotonic() < deadline, (
                [(by[i]["status"], by[i].get("OS-EXT-STS:task_state"),
                  by[i].get("OS-EXT-SRV-ATTR:host")) for i in ids
                 if by[i]["status"] not in ("ACTIVE", "ERROR")],
                (data.parent / "up.log").read_text()[-3000:])
            time.sleep(0.3)
        for i in ids:
            assert by[i]["status"] == "ACTIVE" or by[i]["fault"]["message"]
        pl = f"http://127.0.0.1:{port}/placement"
        ph = {**h, "OpenStack-API-Version": "placement 1.28"}
        for i in ids:
            allocs = httpx.get(f"{pl}/allocations/{i}", headers=ph).json()["allocations"]
            if by[i]["status"] == "ACTIVE":
                assert len(allocs) == 1, (i, allocs)
                assert list(allocs.values())[0]["resources"] == {
                    "VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
            else:
                assert allocs == {}
        rps = httpx.get(f"{pl}/resource_providers", headers=ph).json()["resource_providers"]
        used = httpx.get(f"{pl}/resource_providers/{rps[0]['uuid']}/usages",
                         headers=ph).json()["usages"]
        assert used["VCPU"] == sum(1 for i in ids if by[i]["status"] == "ACTIVE")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
