"""Killing `overcast up` (SIGKILL) while volumes are being made and attached leaves
none stuck: after a restart on the same data directory every volume is available,
in-use or error, attachments that never completed are gone, and the NBD exports are
exactly those that attached volumes own (the export daemon outlived the crash and
is found again)."""

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

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent
V = {"OpenStack-API-Version": "volume 3.55"}


def start(data: Path, port: int, nbd: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(BIN / "overcast"), "up", "--data-dir", str(data), "--port",
                             str(port), "--no-user-clouds-yaml", "--no-test-image"],
                            stdout=open(data.parent / "up.log", "ab"),  # noqa: SIM115
                            stderr=subprocess.STDOUT,
                            env={**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4",
                                 "OVERCAST_VOLUME_NBD_PORT": str(nbd)},
                            start_new_session=True)
    deadline = time.monotonic() + 120
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


def daemons(data: Path) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-storage-daemon" in cmd and str(data).encode() in cmd:
                out.append(int(pid))
    return out


def test_kill_during_creates_and_attaches_then_restart(tmp_path: Path) -> None:
    data, port, nbd = tmp_path / "data", free_port(), free_port()
    proc = start(data, port, nbd)
    try:
        tok, project = token(port, data)
        h = {"X-Auth-Token": tok, **V}
        base = f"http://127.0.0.1:{port}/volume/v3/{project}"
        c = httpx.Client(base_url=base, headers=h, timeout=120)
        img = httpx.post(f"http://127.0.0.1:{port}/image/v2/images", headers=h, json={
            "name": "big", "disk_format": "raw", "container_format": "bare"}).json()["id"]
        httpx.put(f"http://127.0.0.1:{port}/image/v2/images/{img}/file", headers={
            **h, "Content-Type": "application/octet-stream"},
            content=os.urandom(96 << 20), timeout=300).raise_for_status()
        c.put(f"/os-quota-sets/{project}", json={"quota_set": {
            "volumes": -1, "gigabytes": -1}}).raise_for_status()
        # one attached over NBD, one with an attachment that never completes
        def make() -> str:
            vid = c.post("/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
            for _ in range(400):
                if c.get(f"/volumes/{vid}").json()["volume"]["status"] == "available":
                    return str(vid)
                time.sleep(0.05)
            raise AssertionError("volume not made")

        attached, half = make(), make()
        a = c.post("/attachments", json={"attachment": {
            "volume_uuid": attached, "instance_uuid": "11111111-1111-4111-8111-111111111111",
            "connector": {"host": "elsewhere"}}}).json()["attachment"]
        c.post(f"/attachments/{a['id']}/action", json={"os-complete": None})
        c.post("/attachments", json={"attachment": {
            "volume_uuid": half, "instance_uuid": "22222222-2222-4222-8222-222222222222",
            "connector": {"host": "elsewhere"}}}).raise_for_status()
        made = [c.post("/volumes", json={"volume": {"size": 1, "imageRef": img}}).json()[
            "volume"]["id"] for _ in range(8)]
        statuses = {c.get(f"/volumes/{v}").json()["volume"]["status"] for v in made}
        assert statuses & {"creating", "downloading"}  # the kill lands mid-create
        before = daemons(data)
        assert len(before) == 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = start(data, port, nbd)
    try:
        c = httpx.Client(base_url=base, headers={"X-Auth-Token": token(port, data)[0], **V},
                         timeout=120)
        deadline = time.monotonic() + 60
        while True:
            vols = {v["id"]: v for v in c.get("/volumes/detail").json()["volumes"]}
            stuck = [v["status"] for v in vols.values()
                     if v["status"] not in ("available", "in-use", "error")]
            if not stuck:
                break
            assert time.monotonic() < deadline, (stuck, (data.parent / "up.log").read_text()[
                -3000:])
            time.sleep(0.3)
        assert vols[attached]["status"] == "in-use"
        assert vols[half]["status"] == "available"
        assert c.get(f"/attachments?volume_id={half}").json()["attachments"] == []
        for v in made:
            assert vols[v]["status"] in ("available", "error")
        assert daemons(data) == before  # the same daemon, found again
        url = f"nbd://127.0.0.1:{nbd}/volume-{attached}"
        assert subprocess.run(["qemu-img", "info", url], capture_output=True,
                              timeout=30).returncode == 0
        gone = subprocess.run(["qemu-img", "info", f"nbd://127.0.0.1:{nbd}/volume-{half}"],
                              capture_output=True, timeout=30)
        assert gone.returncode != 0
        assert not list((data / "volumes").glob("*.part"))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert daemons(data) == []
