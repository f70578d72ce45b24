"""`overcast up --workers 2`: API workers and an engine, as a user runs them.

One cloud for the module (fake driver, no dataplane): the API is served by two
worker processes on one port, the engine boots servers for them over the local bus
hub, a token revoked through one worker is refused by every worker, concurrent
writes through both never meet "database is locked", a killed worker is started
again, and SIGTERM leaves no process of the cloud behind.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.clients.conftest import free_port

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent
WORKER_LINE = re.compile(r" INFO (api-\d+) overcast\.http .*request_id=(req-[0-9a-f-]+)")


@dataclass
class Workers:
    proc: subprocess.Popen[str]
    data: Path
    base: str
    password: str

    def token(self) -> str:
        r = httpx.post(f"{self.base}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": self.password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        assert r.status_code == 201, r.text
        return str(r.headers["X-Subject-Token"])

    def who_answered(self) -> dict[str, str]:
        """request id -> the worker that logged it."""
        text = (self.data / "logs" / "overcast.log").read_text()
        return {m.group(2): m.group(1) for m in WORKER_LINE.finditer(text)}

    def children(self) -> list[int]:
        return [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()]

    def workers(self) -> list[int]:
        from overcast.serve import worker_pids

        return worker_pids(self.proc.pid)


def _start(data: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4", "OVERCAST_AGENT_DRIVER": "fake",
           "OVERCAST_DATAPLANE": "none", "OVERCAST_DEFAULT_NETWORKS": "false"}
    log = open(data.parent / "up.out", "a")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [str(BIN / "overcast"), "up", "--data-dir", str(data), "--port", str(port),
         "--no-user-clouds-yaml", "--no-test-image", "--workers", "2"],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)


def _wait_ready(w: Workers, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert w.proc.poll() is None, (w.data.parent / "up.out").read_text()[-3000:]
        try:
            if httpx.get(f"{w.base}/identity/v3", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError("overcast up --workers 2 did not become ready")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    data = tmp_path_factory.mktemp("workers") / "cloud"
    port = free_port()
    proc = _start(data, port)
    w = Workers(proc=proc, data=data, base=f"http://127.0.0.1:{port}", password="")
    try:
        _wait_ready(w)
        own = yaml.safe_load((data / "clouds.yaml").read_text())["clouds"]["overcast"]
        w.password = own["auth"]["password"]
        yield w
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _until_every_worker(w: Workers, request: Callable[[], httpx.Response],
                        workers: int = 2, tries: int = 200) -> dict[str, int]:
    """Send `request` (one new connection each) until every worker answered one;
    returns the statuses each worker gave, by worker."""
    seen: dict[str, set[int]] = {}
    for _ in range(tries):
        r = request()
        seen.setdefault(r.headers["X-Openstack-Request-Id"], set()).add(r.status_code)
        answered = {w.who_answered().get(rid) for rid in seen}
        if len(answered - {None}) >= workers:
            break
        time.sleep(0.01)
    by_worker: dict[str, int] = {}
    names = w.who_answered()
    for rid, statuses in seen.items():
        if rid in names:
            by_worker.setdefault(names[rid], max(statuses))
            by_worker[names[rid]] = max(by_worker[names[rid]], *statuses)
    return by_worker


def test_two_workers_serve_the_api_and_the_engine_boots_for_them(cloud: Workers) -> None:
    """Both workers answer on the one port, and a server created through them goes
    ACTIVE: the cast reached the engine's conductor and the fake agent over the hub."""
    token = cloud.token()
    h = {"X-Auth-Token": token}
    by_worker = _until_every_worker(cloud, lambda: httpx.get(
        f"{cloud.base}/compute/v2.1/flavors", headers=h))
    assert sorted(by_worker) == ["api-1", "api-2"], by_worker
    assert set(by_worker.values()) == {200}
    img = httpx.post(f"{cloud.base}/image/v2/images", headers=h, json={
        "name": "w", "disk_format": "raw", "container_format": "bare"}).json()
    r = httpx.put(f"{cloud.base}/image/v2/images/{img['id']}/file", content=b"\0" * 4096,
                  headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    flavor = httpx.get(f"{cloud.base}/compute/v2.1/flavors", headers=h).json()["flavors"][0]
    ids = []
    for i in range(4):
        r = httpx.post(f"{cloud.base}/compute/v2.1/servers", headers={
            **h, "OpenStack-API-Version": "compute 2.37"}, json={"server": {
            "name": f"w{i}", "imageRef": img["id"], "flavorRef": flavor["id"],
            "networks": "none"}})
        assert r.status_code == 202, r.text
        ids.append(r.json()["server"]["id"])
    deadline = time.monotonic() + 60
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        status = {i: httpx.get(f"{cloud.base}/compute/v2.1/servers/{i}",
                               headers=h).json()["server"]["status"] for i in ids}
        if set(status.values()) <= {"ACTIVE", "ERROR"}:
            break
        time.sleep(0.2)
    assert set(status.values()) == {"ACTIVE"}, status


def test_a_token_revoked_through_one_worker_is_refused_by_every_worker(
        cloud: Workers) -> None:
    """Validation is cached per process, keyed by the identity generation in the
    database: a revocation through one worker must reach the cache of the other at
    once, not when its cache entry happens to expire."""
    admin, victim = cloud.token(), cloud.token()
    h = {"X-Auth-Token": admin, "X-Subject-Token": victim}

    def validate() -> httpx.Response:
        return httpx.get(f"{cloud.base}/identity/v3/auth/tokens", headers=h)

    # warm every worker's cache with the victim valid
    assert set(_until_every_worker(cloud, validate).values()) == {200}
    r = httpx.delete(f"{cloud.base}/identity/v3/auth/tokens", headers=h)
    assert r.status_code == 204, r.text
    by_worker = _until_every_worker(cloud, validate)
    assert by_worker == {"api-1": 404, "api-2": 404}, by_worker
    # and the token itself no longer authenticates anywhere
    by_worker = _until_every_worker(cloud, lambda: httpx.get(
        f"{cloud.base}/identity/v3/projects", headers={"X-Auth-Token": victim}))
    assert by_worker == {"api-1": 401, "api-2": 401}, by_worker


def test_concurrent_writes_through_both_workers_never_500(cloud: Workers) -> None:
    """SQLite with several writer processes: WAL and the busy timeout make writers
    wait for each other; no request may fail with "database is locked"."""
    h = {"X-Auth-Token": cloud.token()}

    def write(i: int) -> int:
        with httpx.Client(base_url=cloud.base, headers=h, timeout=60) as c:
            r = c.post("/identity/v3/projects", json={"project": {"name": f"cw-{i}"}})
            if r.status_code != 201:
                return r.status_code
            pid = r.json()["project"]["id"]
            r = c.post("/network/v2.0/networks", json={"network": {
                "name": f"cw-{i}", "project_id": pid}})
            if r.status_code != 201:
                return r.status_code
            return c.delete(f"/identity/v3/projects/{pid}").status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(write, range(64)))
    assert codes.count(204) == 64, codes
    assert "database is locked" not in (cloud.data / "logs" / "overcast.log").read_text()


def test_a_killed_worker_is_started_again(cloud: Workers) -> None:
    """SIGKILL to one API worker: the engine notices and starts it again; the port
    keeps answering meanwhile (the other worker)."""
    workers = cloud.workers()
    assert len(workers) == 2, cloud.children()
    os.kill(workers[0], signal.SIGKILL)
    assert httpx.get(f"{cloud.base}/identity/v3", timeout=10).status_code == 200
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = cloud.workers()
        if len(now) == 2 and workers[0] not in now:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the killed worker was not started again: {cloud.children()}")
    by_worker = _until_every_worker(cloud, lambda: httpx.get(f"{cloud.base}/identity/v3"))
    assert sorted(by_worker) == ["api-1", "api-2"], by_worker
    assert "API worker api-" in (cloud.data / "logs" / "overcast.log").read_text()


def test_status_names_the_workers_and_a_second_up_is_refused(cloud: Workers) -> None:
    """`overcast status` finds the running cloud through its pidfile; a second
    `overcast up` on the same data directory refuses (two engines would run two
    conductors on one database) and leaves the first alone."""
    r = subprocess.run([str(BIN / "overcast"), "status", "--data-dir", str(cloud.data)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"pid {cloud.proc.pid}, 2 API workers" in r.stderr.replace("\n", " ")
    r = subprocess.run([str(BIN / "overcast"), "up", "--data-dir", str(cloud.data),
                        "--port", str(free_port()), "--no-user-clouds-yaml"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "already runs" in r.stderr
    assert httpx.get(f"{cloud.base}/identity/v3").status_code == 200


def test_sigterm_stops_every_process(cloud: Workers) -> None:
    """SIGTERM to `overcast up` (not to its group): the workers stop, the engine
    stops, exit status 0, and no process of the cloud is left."""
    family = [cloud.proc.pid, *cloud.children()]
    assert len(family) >= 3
    cloud.proc.send_signal(signal.SIGTERM)
    assert cloud.proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in family):
        time.sleep(0.1)
    left = [p for p in family if Path(f"/proc/{p}").exists()
            and "zombie" not in Path(f"/proc/{p}/status").read_text()]
    assert left == []
    assert not (cloud.data / "run" / "bus.sock").exists()
    assert not (cloud.data / "run" / "overcast.pid").exists()


def test_down_stops_a_running_cloud(tmp_path: Path) -> None:
    """`overcast down` finds `overcast up` by its pidfile and stops it with every
    worker; `overcast status` then says it is not running."""
    data, port = tmp_path / "cloud", free_port()
    proc = _start(data, port)
    w = Workers(proc=proc, data=data, base=f"http://127.0.0.1:{port}", password="")
    try:
        _wait_ready(w)
        family = [proc.pid, *w.children()]
        r = subprocess.run([str(BIN / "overcast"), "down", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"stopped overcast up (pid {proc.pid})" in r.stderr
        assert proc.wait(timeout=10) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists()
                                                  for p in family[1:]):
            time.sleep(0.1)
        assert not [p for p in family[1:] if Path(f"/proc/{p}").exists()]
        r = subprocess.run([str(BIN / "overcast"), "status", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 3 and "not running" in r.stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
