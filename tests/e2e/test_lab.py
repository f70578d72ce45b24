"""`overcast lab` (root, PostgreSQL and RabbitMQ on 127.0.0.1): a control plane and two
compute hosts as namespaces, each with its own `overcast agent --driver qemu`, driven
with the real openstackclient.

One lab for the module (it takes about a minute to come up); the tests run in order:
every host up in `compute service list` / `hypervisor list`; a guest pinned on each
host, each answering through its floating IP from the upstream, and each fetching
the other's page over the tenant network (VXLAN between the hosts; the guest's
/cgi-bin/probe), its metadata and DHCP from the network node through the tunnel;
the console log read through the remote agent; a snapshot taken on a remote host
(uploaded by the agent over HTTP) becomes an active image; the control plane
restarted, then one agent restarted: the same QEMU processes keep running and
answering, nothing re-created; `down --purge` leaves no namespace, bridge, guest,
database or queue.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for binary in ("dnsmasq", "busybox", "curl", "nsenter"):
        if not shutil.which(binary):
            return f"needs {binary} (scripts/install-host.sh)"
    if not _answers(5432) or not _answers(5672):
        return "needs PostgreSQL and RabbitMQ on 127.0.0.1 (scripts/install-host.sh --servers)"
    from overcast.agent.virt import qemu

    return qemu.available()


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "lab.json").read_text()))

    def osc(self, *args: str, fmt: bool = True, timeout: float = 120) -> Any:
        argv = [str(BIN / "openstack"), "--os-cloud", "overcast", *args]
        if fmt:
            argv += ["-f", "json"]
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                           timeout=timeout)
        assert r.returncode == 0, f"openstack {' '.join(args)}: {r.stderr}\n{r.stdout}"
        return json.loads(r.stdout) if fmt and r.stdout.strip() else r.stdout

    def upstream(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "overcast.cli", "upstream",
                               "--data-dir", str(self.data_dir), "--", *cmd],
                              capture_output=True, text=True, timeout=60, env=self.env)

    def answer(self, url: str, want: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            r = self.upstream("curl", "-s", "-m", "8", url)
            last = r.stdout.strip() or r.stderr.strip()
            if want in r.stdout:
                return r.stdout.strip()
            time.sleep(1)
        raise AssertionError(f"{url} did not answer {want!r}; last: {last!r}")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "OVERCAST_")) or k == "OVERCAST_CACHE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data = tmp_path_factory.mktemp("lab") / "lab"
    log = data.parent / "lab.log"
    env = _env()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "overcast.cli", "lab", "--hosts", "2", "--driver", "qemu",
             "--data-dir", str(data), "--port", str(_free_port()), "--no-user-clouds-yaml",
             "--workers", "1"], stdout=out, stderr=subprocess.STDOUT, env=env)
    live = Lab(data, proc, log, {**env, "OS_CLIENT_CONFIG_FILE": str(data / "clouds.yaml")})
    try:
        deadline = time.monotonic() + 600
        while "overcast lab is up" not in log.read_text():
            assert proc.poll() is None, f"the lab exited:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(1)
        while not live.osc("image", "list", "--name", "overcast-tiny"):
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(1)
        yield live
    finally:
        state = live.state if (data / "lab.json").exists() else None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        r = subprocess.run([sys.executable, "-m", "overcast.cli", "down", "--purge",
                            "--data-dir", str(data)], capture_output=True, text=True,
                           env=env, timeout=300)
        if state is not None:
            _assert_purged(state, r.stdout + r.stderr)


def _assert_purged(state: dict[str, Any], said: str) -> None:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    prefixes = [h["prefix"] for h in state["hosts"]] + [h["netns"] for h in state["hosts"]]
    left = [n for n in names.split() if n.startswith(tuple(p + "-" for p in prefixes))
            or n in prefixes]
    assert not left, f"namespaces left: {left}\n{said}"
    assert subprocess.run(["ip", "link", "show", state["bridge"]],
                          capture_output=True).returncode != 0, said
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert not [line for line in ps.splitlines() if "qemu-system" in line and
                any(h["data_dir"] in line for h in state["hosts"])], said
    if state["created_database"]:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (state["created_database"],)).fetchone() is None, said


def _qemu_pid(uuid: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmd and uuid.encode() in cmd:
                return int(entry.name)
    raise AssertionError(f"no QEMU process for {uuid}")


def _active(lab: Lab, name: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        s = lab.osc("server", "show", name)
        assert s["status"] != "ERROR", s.get("fault")
        if s["status"] == "ACTIVE" and not s.get("OS-EXT-STS:task_state"):
            return dict(s)
        assert time.monotonic() < deadline, f"{name} is {s['status']}"
        time.sleep(1)


def _console_has(lab: Lab, name: str, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = str(lab.osc("console", "log", "show", name, fmt=False))
        if text in log:
            return log
        assert time.monotonic() < deadline, f"{text!r} not in {name}'s console:\n{log[-2000:]}"
        time.sleep(1)


GUESTS: dict[str, dict[str, Any]] = {}


def test_every_host_is_up(lab: Lab) -> None:
    hosts = {h["name"]: h["ip"] for h in lab.state["hosts"]}
    services = lab.osc("compute", "service", "list")
    assert {s["Host"]: s["State"] for s in services} == {h: "up" for h in hosts}
    hypervisors = lab.osc("hypervisor", "list")
    assert {h["Hypervisor Hostname"]: (h["State"], h["Host IP"]) for h in hypervisors} == \
        {h: ("up", ip) for h, ip in hosts.items()}


def test_guests_on_two_hosts_reach_each_other_and_the_upstream(lab: Lab) -> None:
    for rule in (["--protocol", "tcp", "--dst-port", "80"], ["--protocol", "icmp"]):
        lab.osc("security", "group", "rule", "create", "default", "--ingress", *rule)
    for i, host in ((1, "compute1"), (2, "compute2")):
        lab.osc("server", "create", "--image", "overcast-tiny", "--flavor", "m1.tiny",
                "--network", "private", "--availability-zone", f"nova:{host}", f"vm{i}")
    for i, host in ((1, "compute1"), (2, "compute2")):
        s = _active(lab, f"vm{i}")
        assert s["OS-EXT-SRV-ATTR:host"] == host
        # DHCP and metadata came from the network node, through the tunnel
        log = _console_has(lab, f"vm{i}", f"instance-id: {s['id']}")
        assert "metadata: metadata-service" in log or "OVERCAST-METADATA-LATE" in log
        fip = lab.osc("floating", "ip", "create", "public")["floating_ip_address"]
        lab.osc("server", "add", "floating", "ip", f"vm{i}", fip, fmt=False)
        fixed = s["addresses"]["private"][0]
        GUESTS[f"vm{i}"] = {"id": s["id"], "fip": fip, "fixed": fixed,
                            "pid": _qemu_pid(s["id"])}
    vm1, vm2 = GUESTS["vm1"], GUESTS["vm2"]
    for vm in (vm1, vm2):
        lab.answer(f"http://{vm['fip']}/", vm["id"])
    # guest to guest, across the hosts: each fetches the other's page itself
    lab.answer(f"http://{vm1['fip']}/cgi-bin/probe?{vm2['fixed']}", vm2["id"])
    lab.answer(f"http://{vm2['fip']}/cgi-bin/probe?{vm1['fixed']}", vm1["id"])


def test_snapshot_on_a_remote_host_becomes_an_image(lab: Lab) -> None:
    assert GUESTS, "needs the guests"
    lab.osc("server", "image", "create", "vm2", "--name", "snap-vm2", "--wait",
            timeout=300)
    img = lab.osc("image", "show", "snap-vm2")
    assert img["status"] == "active" and int(img["size"]) > 0 and img["checksum"]
    # the host wrote it in its own data dir and took it away once uploaded
    assert not list((Path(lab.state["hosts"][1]["data_dir"]) / "snapshots").iterdir())


def _wait_new_pid(read: Any, old: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while True:
        pid = read()
        if pid and pid != old and Path(f"/proc/{pid}").exists():
            return int(pid)
        assert time.monotonic() < deadline, "not started again"
        time.sleep(0.5)


def test_control_plane_restart_leaves_guests_alone(lab: Lab) -> None:
    assert GUESTS, "needs the guests"
    old = int((lab.data_dir / "run" / "overcast.pid").read_text().split()[0])
    os.kill(old, signal.SIGTERM)
    _wait_new_pid(lambda: lab.state["control_pid"], old)
    deadline = time.monotonic() + 180
    while True:
        r = subprocess.run([str(BIN / "openstack"), "--os-cloud", "overcast", "server",
                            "list", "-f", "json"], capture_output=True, text=True,
                           env=lab.env)
        if r.returncode == 0:
            break
        assert time.monotonic() < deadline, r.stderr
        time.sleep(1)
    for name, vm in GUESTS.items():
        assert _active(lab, name)["id"] == vm["id"]
        assert _qemu_pid(vm["id"]) == vm["pid"], f"{name} was re-created"
        lab.answer(f"http://{vm['fip']}/", vm["id"])


def test_agent_restart_re_adopts_its_guests(lab: Lab) -> None:
    assert GUESTS, "needs the guests"
    host = lab.state["hosts"][0]
    os.kill(host["pid"], signal.SIGTERM)
    _wait_new_pid(lambda: lab.state["hosts"][0]["pid"], host["pid"])
    out = Path(host["data_dir"]) / "agent.out"
    deadline = time.monotonic() + 120
    while "agents up:" not in out.read_text().rsplit("=== start", 1)[-1]:
        assert time.monotonic() < deadline, out.read_text()[-2000:]
        time.sleep(0.5)
    vm = GUESTS["vm1"]
    assert _qemu_pid(vm["id"]) == vm["pid"], "vm1 was re-created"
    assert _active(lab, "vm1")["id"] == vm["id"]
    services = {s["Host"]: s["State"] for s in lab.osc("compute", "service", "list")}
    assert services[host["name"]] == "up"
    lab.answer(f"http://{GUESTS['vm2']['fip']}/cgi-bin/probe?{vm['fixed']}", vm["id"])
