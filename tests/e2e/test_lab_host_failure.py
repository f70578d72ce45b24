"""A host of a 2-host `overcast lab` (real QEMU guests) fails: its agent dies, the
control plane sees it down, the admin evacuates its server with the real
`openstack server evacuate`, and when the host comes back it fences: the QEMU guest
it still ran (a host cut off, not powered off: the dangerous case) is destroyed,
with its disk, before the host reports up.

Short times for the test: service_down_time 8 s (the control plane's overcast.yaml)
and report_interval 1 s (each host's), written before the lab starts, as an
operator would.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

SRC = Path(__file__).resolve().parents[2] / "src"


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (namespaces, bridges)"
    if not Path("/dev/net/tun").exists() or not shutil.which("qemu-system-x86_64"):
        return "needs /dev/net/tun and qemu-system-x86_64"
    for port, what in ((5672, "RabbitMQ"), (5432, "PostgreSQL")):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return f"needs {what} on 127.0.0.1:{port} (scripts/install.sh)"
    return None


def until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def qemu_of(uuid: str, host_dir: Path) -> list[int]:
    """The QEMU processes of this instance started from this host's data dir."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "qemu-system" in cmd and uuid in cmd and str(host_dir) in cmd:
            out.append(int(pid))
    return out


class Lab:
    def __init__(self, base: Path) -> None:
        self.dir = base / "lab"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        (self.dir / "overcast.yaml").write_text(yaml.safe_dump({"service_down_time": 8}))
        for h in ("compute1", "compute2"):
            d = self.dir / "hosts" / h
            d.mkdir(parents=True)
            (d / "overcast.yaml").write_text(yaml.safe_dump({"report_interval": 1}))
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        self.log = open(self.dir.parent / "lab.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "overcast.cli", "lab", "--hosts", "2", "--driver", "qemu",
             "--data-dir", str(self.dir), "--port", str(self.port), "--no-user-clouds-yaml"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        until(lambda: self._say("overcast lab is up"), 900, "the lab")

    def _say(self, text: str) -> bool:
        assert self.proc is not None
        out = (self.dir.parent / "lab.out").read_text(errors="replace")
        assert self.proc.poll() is None, out[-3000:]
        return text in out

    def osc(self, *args: str, fmt: bool = True) -> Any:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(self.dir / "clouds.yaml")
        r = subprocess.run([str(Path(sys.executable).parent / "openstack"), "--os-cloud",
                            "overcast", *args, *(["-f", "json"] if fmt else [])],
                           capture_output=True, text=True, env=env, timeout=180)
        assert r.returncode == 0, f"openstack {' '.join(args)}: {r.stderr}"
        return json.loads(r.stdout) if fmt and r.stdout.strip() else None

    def services(self) -> dict[str, str]:
        return {s["Host"]: s["State"] for s in self.osc("compute", "service", "list")}

    def server(self, sid: str) -> dict[str, Any]:
        return dict(self.osc("server", "show", sid))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        subprocess.run([sys.executable, "-m", "overcast.cli", "down", "--purge",
                        "--data-dir", str(self.dir)], env={**os.environ,
                                                           "PYTHONPATH": str(SRC)},
                       capture_output=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = _why_not()
    if why:
        pytest.skip(why)
    lab = Lab(tmp_path_factory.mktemp("labfail"))
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


def _active(lab: Lab, sid: str, timeout: float = 300) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        s = lab.server(sid)
        assert s["status"] != "ERROR", s.get("fault")
        return s if s["status"] == "ACTIVE" and not s.get("OS-EXT-STS:task_state") else None

    return dict(until(check, timeout, f"{sid} ACTIVE"))


def test_kill_a_host_evacuate_and_the_returning_host_fences(lab: Lab) -> None:
    until(lambda: lab.services().get("compute1") == "up" and
          lab.services().get("compute2") == "up", 120, "both hosts up")
    image = next(i["ID"] for i in lab.osc("image", "list") if i["Name"] == "overcast-tiny")
    net = next(n["ID"] for n in lab.osc("network", "list") if n["Name"] == "private")
    flavor = min(lab.osc("flavor", "list"), key=lambda f: f["RAM"])["ID"]
    sid = lab.osc("server", "create", "--image", image, "--flavor", flavor, "--network",
                  net, "--availability-zone", "nova:compute1", "failvm")["id"]
    s = _active(lab, sid)
    assert s["OS-EXT-SRV-ATTR:host"] == "compute1"
    h1, h2 = lab.dir / "hosts" / "compute1", lab.dir / "hosts" / "compute2"
    assert qemu_of(sid, h1)
    # compute1 is cut off: its agent stops (and is kept stopped); its guest runs on
    (h1 / "hold").touch()
    until(lambda: lab.services().get("compute1") == "down", 60, "compute1 down")
    lab.osc("server", "evacuate", sid)
    s = _active(lab, sid)
    assert s["OS-EXT-SRV-ATTR:host"] == "compute2", (
        s.get("fault"), lab.osc("server", "migration", "list", "--server", sid,
                                "--os-compute-api-version", "2.23"))
    assert qemu_of(sid, h2)
    assert qemu_of(sid, h1)  # the old copy: still there until its host is fenced
    (h1 / "hold").unlink()
    until(lambda: lab.services().get("compute1") == "up", 180, "compute1 back up")
    assert not qemu_of(sid, h1)  # fenced before it reported up
    assert not any(sid in str(p) for p in (h1 / "instances").rglob("*"))
    assert qemu_of(sid, h2) and lab.server(sid)["status"] == "ACTIVE"
    migs = lab.osc("server", "migration", "list", "--server", sid,
                   "--os-compute-api-version", "2.23")
    assert [(m["Source Compute"], m["Type"], m["Status"]) for m in migs] == \
        [("compute1", "evacuation", "completed")]
    lab.osc("server", "delete", "--wait", sid, fmt=False)
    # deleted by its host (up: it reports every second, well within the 8 s), whose
    # destroy waits for QEMU to exit before it reports the server deleted
    assert not qemu_of(sid, h2)
