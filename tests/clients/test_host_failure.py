"""Many hosts over RabbitMQ, in separate processes: restarts, host failure, evacuation
(with the real `openstack server evacuate`) and fencing.

The broker is a private RabbitMQ node of this module (its own node name, ports and
directories in a temp dir), so restarting it disturbs nobody else on the machine.
`overcast up --no-agent` is the control plane; two `overcast agent` processes (fake
driver, hypervisor state in a file: what a real host's guests are) are hosts fa and
fb. service_down_time is 3 s and the agents report every 0.5 s.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import (
    BIN,
    Live,
    _spawn,
    client_env,
    free_port,
    stop_group,
    stop_server,
    wait_ready,
)
from tests.images import IMAGE, add_image

pytestmark = pytest.mark.clients
RABBIT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
C = "/compute/v2.1"


@dataclass
class Rabbit:
    """A private RabbitMQ node: started, stopped and started again on the same data."""

    base: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"oc-fail-{uuid.uuid4().hex[:6]}@localhost")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 180) -> None:
        (self.base / "plugins").write_text("[].\n")
        env = {**os.environ, "HOME": str(self.base), "RABBITMQ_NODENAME": self.name,
               "RABBITMQ_NODE_PORT": str(self.port),
               "RABBITMQ_DIST_PORT": str(self.dist_port),
               "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
               "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
               "RABBITMQ_LOG_BASE": str(self.base / "log"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "plugins"),
               "RABBITMQ_PID_FILE": str(self.base / "pid"),
               "RABBITMQ_CONFIG_FILE": str(self.base / "none")}
        log = open(self.base / "out.log", "ab")  # noqa: SIM115 - lives with the node
        self.proc = subprocess.Popen([str(RABBIT)], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                pass
            assert self.proc.poll() is None, (self.base / "out.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the private RabbitMQ did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, timeout=60)


@dataclass
class Cloud:
    live: Live
    agent_dirs: dict[str, Path]
    agent_env: dict[str, str]
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def start_agent(self, host: str) -> None:
        log = open(self.agent_dirs[host].parent / f"agent-{host}.log", "ab")  # noqa: SIM115
        self.agents[host] = subprocess.Popen(
            [str(BIN / "overcast"), "agent", "--host", host, "--data-dir",
             str(self.agent_dirs[host])], env=self.agent_env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def stop_agent(self, host: str, sig: int = signal.SIGTERM) -> None:
        stop_group(self.agents[host], sig=sig)

    def guests(self, host: str) -> set[str]:
        """What the host's (fake) hypervisor runs, from its state file."""
        import json

        path = self.agent_dirs[host] / f"fake-hypervisor-{host}.json"
        return set(json.loads(path.read_text())) if path.exists() else set()

    def api(self, method: str, path: str, version: str = "2.53", **kw: Any) -> Any:
        h = {**self.headers, "OpenStack-API-Version": f"compute {version}"}
        return httpx.request(method, f"{self.live.base}{path}", headers=h, timeout=30, **kw)

    def server(self, sid: str) -> dict[str, Any]:
        return dict(self.api("GET", f"{C}/servers/{sid}").json()["server"])

    def services(self) -> dict[str, str]:
        return {s["host"]: s["state"] for s in self.api("GET", f"{C}/os-services").json()[
            "services"]}

    def heard(self) -> dict[str, str]:
        """When each host's last heartbeat was written (os-services' updated_at)."""
        return {s["host"]: s["updated_at"] for s in self.api("GET", f"{C}/os-services").json()[
            "services"]}


def until(cond: Callable[[], Any], timeout: float = 90, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def active(c: Cloud, sid: str, status: str = "ACTIVE", timeout: float = 90) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        s = c.server(sid)
        assert s["status"] != "ERROR", s
        return s if s["status"] == status and s["OS-EXT-STS:task_state"] is None else None

    return dict(until(check, timeout, f"{sid} {status}"))


def boot(c: Cloud, name: str, host: str | None = None) -> str:
    body: dict[str, Any] = {"name": name, "flavorRef": "1", "imageRef": IMAGE,
                            "networks": "none"}
    if host:
        body["availability_zone"] = f"nova:{host}"
    r = c.api("POST", f"{C}/servers", json={"server": body})
    assert r.status_code == 202, r.text
    return str(r.json()["server"]["id"])


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rabbit]:
    if not RABBIT.exists():
        pytest.skip(f"rabbitmq-server is not installed ({RABBIT}): a private broker is "
                    "needed to restart it (apt-get install rabbitmq-server)")
    node = Rabbit(tmp_path_factory.mktemp("rabbit"))
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def cloud(rabbit: Rabbit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    if not shutil.which("openstack", path=str(BIN)):
        pytest.skip("python-openstackclient is not installed")
    tmp = tmp_path_factory.mktemp("hostfail")
    bus = {"OVERCAST_BUS_URL": rabbit.url, "OVERCAST_BUS_NAMESPACE": "hostfail",
           "OVERCAST_BCRYPT_ROUNDS": "4", "OVERCAST_SERVICE_DOWN_TIME": "3",
           "OVERCAST_REPORT_INTERVAL": "0.5"}
    data, port = tmp / "cp", free_port()
    spawn_env = {**bus, "OVERCAST_LOCAL_AGENT": "false"}
    args = ("--no-agent",)
    proc = _spawn(data, port, tmp / "up.log", spawn_env, args)
    live = Live(data_dir=data, port=port, proc=proc, env=client_env(data),
                log_path=tmp / "up.log", spawn_env=spawn_env, spawn_args=args)
    c = Cloud(live, {h: tmp / h for h in ("fa", "fb")}, {**os.environ, **bus})
    try:
        wait_ready(live)
        for host in c.agent_dirs:
            c.start_agent(host)
        password = (data / "admin-password").read_text().strip()
        r = httpx.post(f"{live.base}/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        c.headers = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        with httpx.Client(base_url=live.base) as client:
            add_image(client, c.headers)
        until(lambda: c.services() == {"fa": "up", "fb": "up"}, 120, "both hosts up")
        ph = {**c.headers, "OpenStack-API-Version": "placement 1.4"}
        until(lambda: len(httpx.get(f"{live.base}/placement/resource_providers", headers=ph,
                                    params={"resources": "VCPU:1,MEMORY_MB:512"}).json()[
            "resource_providers"]) == 2, 60, "both hosts in Placement")
        yield c
    finally:
        for host in list(c.agents):
            c.stop_agent(host)
        stop_server(live)


def test_control_plane_restart_leaves_guests_alone(cloud: Cloud) -> None:
    sids = [boot(cloud, f"cp{i}", host) for i, host in enumerate(("fa", "fb"))]
    before = {sid: active(cloud, sid) for sid in sids}
    guests = {h: cloud.guests(h) for h in ("fa", "fb")}
    assert all(guests.values())
    pids = {h: p.pid for h, p in cloud.agents.items()}
    cloud.live.restart()
    until(lambda: cloud.services() == {"fa": "up", "fb": "up"}, 60, "hosts up again")
    for sid, was in before.items():
        now = active(cloud, sid)
        assert (now["OS-EXT-SRV-ATTR:host"], now["OS-SRV-USG:launched_at"]) == \
            (was["OS-EXT-SRV-ATTR:host"], was["OS-SRV-USG:launched_at"])
        acts = cloud.api("GET", f"{C}/servers/{sid}/os-instance-actions").json()[
            "instanceActions"]
        assert [a["action"] for a in acts] == ["create"]  # nothing built again
    assert {h: cloud.guests(h) for h in ("fa", "fb")} == guests
    assert {h: p.pid for h, p in cloud.agents.items()} == pids  # the agents lived on
    for sid in sids:
        cloud.api("DELETE", f"{C}/servers/{sid}")


def test_agent_restart_readopts_its_guests(cloud: Cloud) -> None:
    sid = boot(cloud, "readopt", "fb")
    active(cloud, sid)
    cloud.stop_agent("fb")
    cloud.start_agent("fb")
    until(lambda: cloud.services()["fb"] == "up", 60, "fb up")
    assert sid in cloud.guests("fb")
    assert active(cloud, sid)["OS-EXT-SRV-ATTR:host"] == "fb"
    # the new agent process drives the guest the old one started
    assert cloud.api("POST", f"{C}/servers/{sid}/action",
                     json={"os-stop": None}).status_code == 202
    assert active(cloud, sid, "SHUTOFF")["OS-EXT-STS:power_state"] == 4
    assert cloud.api("POST", f"{C}/servers/{sid}/action",
                     json={"os-start": None}).status_code == 202
    active(cloud, sid)
    cloud.api("DELETE", f"{C}/servers/{sid}")


def test_rabbitmq_restart_mid_burst_loses_no_boot(cloud: Cloud, rabbit: Rabbit) -> None:
    burst = [boot(cloud, f"burst{i}") for i in range(5)]
    rabbit.stop()
    rabbit.start()
    back = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # the heartbeats missed while the broker was away do not count against the
    # hosts: they stay up, in os-services as for the scheduler
    assert cloud.services() == {"fa": "up", "fb": "up"}
    until(lambda: all(dt.datetime.fromisoformat(s) > back for s in cloud.heard().values()),
          120, "heartbeats again (agents and control plane reconnected)")
    after = [boot(cloud, f"after{i}") for i in range(2)]
    for sid in burst + after:
        active(cloud, sid, timeout=150)
    assert len({cloud.server(s)["OS-EXT-SRV-ATTR:host"] for s in burst + after}) == 2
    for sid in burst + after:
        cloud.api("DELETE", f"{C}/servers/{sid}")


def test_evacuate_with_the_cli_then_the_host_is_fenced(cloud: Cloud) -> None:
    sid = boot(cloud, "evac", "fa")
    active(cloud, sid)
    # fa dies at once (its guests stay on its hypervisor: the state file)
    cloud.stop_agent("fa", signal.SIGKILL)
    until(lambda: cloud.services()["fa"] == "down", 30, "fa down")
    out = cloud.live.osc("server", "evacuate", sid)
    assert out["id"] == sid
    s = active(cloud, sid)
    assert s["OS-EXT-SRV-ATTR:host"] == "fb"
    assert sid in cloud.guests("fb") and sid in cloud.guests("fa")
    migs = cloud.live.osc("server", "migration", "list", "--server", sid,
                          "--os-compute-api-version", "2.23")
    assert [(m["Source Compute"], m["Type"]) for m in migs] == [("fa", "evacuation")]
    cloud.start_agent("fa")
    until(lambda: cloud.services()["fa"] == "up", 60, "fa up")
    assert sid not in cloud.guests("fa")  # fenced before it reported up
    assert sid in cloud.guests("fb") and active(cloud, sid)["OS-EXT-SRV-ATTR:host"] == "fb"
    until(lambda: cloud.live.osc("server", "migration", "list", "--server", sid,
                                 "--os-compute-api-version", "2.23")[0]["Status"] ==
          "completed", 30, "the evacuation completed")
