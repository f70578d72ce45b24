"""Big images: a 1 GiB upload streams (the server's memory stays flat), and a 200 MiB
file makes a byte-exact round trip through the real openstackclient."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import Live, free_port

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent
MiB = 1 << 20


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_1gib_upload_streams_in_flat_memory(tmp_path: Path) -> None:
    data = tmp_path / "cloud"
    port = free_port()
    proc = subprocess.Popen([str(BIN / "overcast"), "up", "--data-dir", str(data), "--port",
                             str(port), "--no-user-clouds-yaml", "--no-test-image",
                             "--no-agent"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/identity/v3", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        password = (data / "admin-password").read_text().strip()
        r = httpx.post(f"{base}/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        hd = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        with httpx.Client(base_url=base, headers=hd, timeout=300) as c:
            # warm up the paths the upload uses, then take the baseline
            img = c.post("/image/v2/images", json={
                "name": "warm", "disk_format": "raw", "container_format": "bare"}).json()
            c.put(f"/image/v2/images/{img['id']}/file", content=b"w" * MiB,
                  headers={"Content-Type": "application/octet-stream"})
            before = rss_kib(proc.pid)
            peak = before
            block = os.urandom(MiB)
            md5 = hashlib.md5(usedforsecurity=False)

            def stream() -> Iterator[bytes]:
                nonlocal peak
                for i in range(1024):
                    md5.update(block)
                    if i % 64 == 0:
                        peak = max(peak, rss_kib(proc.pid))
                    yield block

            img = c.post("/image/v2/images", json={
                "name": "big", "disk_format": "raw", "container_format": "bare"}).json()
            r = c.put(f"/image/v2/images/{img['id']}/file", content=stream(),
                      headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 204, r.text
            peak = max(peak, rss_kib(proc.pid))
            got = c.get(f"/image/v2/images/{img['id']}").json()
            assert got["status"] == "active" and got["size"] == 1024 * MiB
            assert got["checksum"] == md5.hexdigest()
            # the download streams too, and matches
            down = hashlib.md5(usedforsecurity=False)
            with c.stream("GET", f"/image/v2/images/{img['id']}/file") as resp:
                for n, part in enumerate(resp.iter_bytes(4 * MiB)):
                    down.update(part)
                    if n % 16 == 0:
                        peak = max(peak, rss_kib(proc.pid))
            assert down.hexdigest() == got["checksum"]
            peak = max(peak, rss_kib(proc.pid))
        growth_mib = (peak - before) / 1024
        print(f"server RSS grew by {growth_mib:.1f} MiB during a 1 GiB upload and download")
        assert growth_mib < 64, f"server memory grew by {growth_mib:.0f} MiB"
    finally:
        proc.terminate()
        proc.wait(30)


def test_200mib_round_trip_with_the_cli(live: Live, tmp_path: Path) -> None:
    src = tmp_path / "big.raw"
    with open(src, "wb") as fh:
        for _ in range(200):
            fh.write(os.urandom(MiB))
    live.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
             "--file", str(src), "big-cli", timeout=300)
    shown = live.osc("image", "show", "big-cli")
    assert shown["status"] == "active" and shown["size"] == 200 * MiB
    out = tmp_path / "back.raw"
    live.osc("image", "save", "--file", str(out), "big-cli", fmt=False, timeout=300)
    assert out.stat().st_size == src.stat().st_size
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    live.osc("image", "delete", "big-cli", fmt=False)
