"""Fifty fake hosts in two agent processes, over RabbitMQ, seen with the real CLI.

The small brother of bench/scale.py (1,000 hosts): `overcast up --no-agent` and two
`overcast agent --count 25` share a broker under a namespace of their own. Every
host must be listed by `openstack hypervisor list` (up), a burst of boots must all
go ACTIVE on those hosts (none ERROR), and `openstack hypervisor show` must get a
host's uptime from its agent process (a call across processes: heartbeats do not
carry it). No timing is asserted; the bench measures that.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.clients.conftest import free_port
from tests.images import IMAGE, add_image

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent
URL = os.environ.get("OVERCAST_TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")
HOSTS_PER_PROCESS = 25
BOOTS = 40
C = "/compute/v2.1"


def _rabbit() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def _wait(ok: Any, procs: list[subprocess.Popen[bytes]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), f"{what}: a process exited"
        try:
            if ok():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out: {what}")


@pytest.mark.skipif(not _rabbit(), reason="no RabbitMQ on 127.0.0.1:5672")
def test_fifty_hosts_in_two_agent_processes(tmp_path: Path) -> None:
    ns = f"oc-scale-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "OVERCAST_BUS_URL": URL, "OVERCAST_BUS_NAMESPACE": ns,
           "OVERCAST_BCRYPT_ROUNDS": "4", "OVERCAST_DATAPLANE": "none",
           "OVERCAST_LOCAL_STORAGE": "false", "OVERCAST_API_WORKERS": "2"}
    port, data = free_port(), tmp_path / "cp"
    up = subprocess.Popen([str(BIN / "overcast"), "up", "--data-dir", str(data), "--port",
                           str(port), "--no-user-clouds-yaml", "--no-agent",
                           "--no-test-image", "--no-default-networks"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                          start_new_session=True)
    prefixes = ["sa", "sb"]
    agents = [subprocess.Popen([str(BIN / "overcast"), "agent", "--host", p, "--count",
                                str(HOSTS_PER_PROCESS), "--data-dir", str(tmp_path / p)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True) for p in prefixes]
    hosts = {f"{p}-{i}" for p in prefixes for i in range(HOSTS_PER_PROCESS)}
    base = f"http://127.0.0.1:{port}"
    procs = [up, *agents]
    try:
        _wait(lambda: httpx.get(f"{base}/identity/v3", timeout=2).status_code == 200,
              procs, 120, "the control plane answers")
        auth = yaml.safe_load((data / "clouds.yaml").read_text())["clouds"]["overcast"]["auth"]
        r = httpx.post(f"{base}/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"id": "default"},
                "password": auth["password"]}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        project = r.json()["token"]["project"]["id"]
        with httpx.Client(base_url=base) as c:
            add_image(c, h)
        httpx.put(f"{base}{C}/os-quota-sets/{project}", headers=h, json={
            "quota_set": {"instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
        ph = {**h, "OpenStack-API-Version": "placement 1.4"}

        def all_up() -> bool:
            svcs = httpx.get(f"{base}{C}/os-services", headers=h, timeout=30).json()[
                "services"]
            rps = httpx.get(f"{base}/placement/resource_providers", headers=ph, timeout=30,
                            params={"resources": "VCPU:1,MEMORY_MB:512"}).json()
            return {s["host"] for s in svcs if s["state"] == "up"} == hosts and \
                len(rps["resource_providers"]) == len(hosts)

        _wait(all_up, procs, 180, "every host up, with its inventory")

        cli_env = {**env, "OS_CLIENT_CONFIG_FILE": str(data / "clouds.yaml"),
                   "OS_CLOUD": "overcast"}

        def cli(*argv: str) -> Any:
            out = subprocess.run([str(BIN / "openstack"), *argv, "-f", "json"], env=cli_env,
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)

        listed = cli("hypervisor", "list", "--long")
        assert {hv["Hypervisor Hostname"] for hv in listed} == hosts
        assert {hv["State"] for hv in listed} == {"up"}

        ids: list[str] = []
        refused: list[str] = []
        lock = threading.Lock()
        hd = {**h, "X-OpenStack-Nova-API-Version": "2.37"}

        def boot(k: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as c:
                for i in range(BOOTS // 10):
                    r = c.post(f"{C}/servers", headers=hd, json={"server": {
                        "name": f"s{k}-{i}", "flavorRef": "1", "imageRef": IMAGE,
                        "networks": "none"}})
                    with lock:
                        (ids if r.status_code == 202 else refused).append(
                            r.json()["server"]["id"] if r.status_code == 202 else r.text)

        threads = [threading.Thread(target=boot, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not refused and len(ids) == BOOTS

        def statuses() -> dict[str, tuple[str, str]]:
            body = httpx.get(f"{base}{C}/servers/detail", headers=h, timeout=30,
                             params={"limit": 1000}).json()
            return {s["id"]: (s["status"], s.get("OS-EXT-SRV-ATTR:host") or "")
                    for s in body["servers"] if s["id"] in ids}

        _wait(lambda: all(st in ("ACTIVE", "ERROR") for st, _ in statuses().values()),
              procs, 180, "every boot finished")
        final = statuses()
        assert [st for st, _ in final.values()] == ["ACTIVE"] * BOOTS, final
        assert {host for _, host in final.values()} <= hosts
        # spread: forty boots on fifty empty hosts do not pile up on a few
        assert len({host for _, host in final.values()}) >= BOOTS // 2

        # the CLI splits the host's `uptime` line into its parts
        shown = cli("hypervisor", "show", "sb-7")
        assert shown["uptime"] and shown["load_average"], shown
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        from overcast.bus.rabbit import RabbitBus

        async def cleanup() -> None:
            bus = RabbitBus(URL, ns)
            await bus.delete_topics(["conductor", "conductor.reports", "network", "volume",
                                     *(f"agent.{x}" for x in hosts)])
            await bus.stop()

        asyncio.run(cleanup())
