"""One `overcast lab` for every lab e2e module (test_lab*.py): started by the first
test that asks for the `lab` fixture (tests/e2e/conftest.py), stopped and purged
after the last one of them (so CI starts a lab once, and no guest of it runs on
while the rest of the suite does).

The lab: two compute hosts as namespaces, each its own `overcast agent --driver
qemu` under TCG (as CI runs it: a guest live-migrated under a paravirtual KVM,
kvm_pvm, stops on its new host with a KVM internal error), driven with the real
openstackclient. Its times are short enough for the host-failure test: the
control plane counts a host down after 8 s without a heartbeat
(service_down_time, DIR/overcast.yaml), each host reports every second
(report_interval, DIR/hosts/<host>/overcast.yaml), written before the lab starts,
as an operator would. TCP 80 (the test guest's page), TCP 7 (its echo) and ICMP
are open in the admin's default security group.

Needs root, PostgreSQL and RabbitMQ on 127.0.0.1, dnsmasq, busybox, curl,
nsenter, /dev/net/tun and QEMU (`why_not` says what is missing).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
HOSTS = ("compute1", "compute2")
SERVICE_DOWN_TIME = 8
REPORT_INTERVAL = 1


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def why_not() -> str | None:
    """Why no lab can run here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (namespaces, bridges)"
    for binary in ("dnsmasq", "busybox", "curl", "nsenter"):
        if not shutil.which(binary):
            return f"needs {binary} (scripts/install-host.sh)"
    if not Path("/dev/net/tun").exists():
        return "needs /dev/net/tun"
    if not _answers(5432) or not _answers(5672):
        return "needs PostgreSQL and RabbitMQ on 127.0.0.1 (scripts/install-host.sh --servers)"
    from overcast.agent.virt import qemu

    return qemu.available()


def until(cond: Callable[[], Any], timeout: float, what: str, every: float = 1.0) -> Any:
    """cond()'s first true answer, asked every `every` s for up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "OVERCAST_")) or k == "OVERCAST_CACHE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class Lab:
    """A running lab and the ways the tests talk to it."""

    def __init__(self, base: Path) -> None:
        self.data_dir = base / "lab"
        self.log = base / "lab.log"
        self.base_env = _env()
        self.env = {**self.base_env,
                    "OS_CLIENT_CONFIG_FILE": str(self.data_dir / "clouds.yaml")}
        self.proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.data_dir.mkdir(parents=True)
        (self.data_dir / "overcast.yaml").write_text(
            yaml.safe_dump({"service_down_time": SERVICE_DOWN_TIME}))
        for h in HOSTS:
            d = self.host_dir(h)
            d.mkdir(parents=True)
            (d / "overcast.yaml").write_text(yaml.safe_dump({"report_interval":
                                                              REPORT_INTERVAL}))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "overcast.cli", "lab", "--hosts", str(len(HOSTS)),
                 "--driver", "qemu", "--data-dir", str(self.data_dir), "--port",
                 str(_free_port()), "--no-user-clouds-yaml", "--workers", "1",
                 "--qemu-accel", "tcg"],
                stdout=out, stderr=subprocess.STDOUT, env=self.base_env,
                start_new_session=True)
        deadline = time.monotonic() + 900
        while "overcast lab is up" not in self.log.read_text(errors="replace"):
            assert self.proc.poll() is None, f"the lab exited:\n{self.tail()}"
            assert time.monotonic() < deadline, self.tail()
            time.sleep(1)
        while not self.osc("image", "list", "--name", "overcast-tiny"):
            assert time.monotonic() < deadline, self.tail()
            time.sleep(1)
        for rule in (["--protocol", "tcp", "--dst-port", "80"],
                     ["--protocol", "tcp", "--dst-port", "7"], ["--protocol", "icmp"]):
            self.osc("security", "group", "rule", "create", "default", "--ingress", *rule)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> str:
        """Stop the lab and `down --purge` it; what `down` said."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        r = subprocess.run([sys.executable, "-m", "overcast.cli", "down", "--purge",
                            "--data-dir", str(self.data_dir)], capture_output=True,
                           text=True, env=self.base_env, timeout=300)
        return r.stdout + r.stderr

    # ------------------------------------------------------------- talking
    @property
    def state(self) -> dict[str, Any]:
        """DIR/lab.json: the hosts (name, ip, pid, data_dir, ...), the bridge, ..."""
        return dict(json.loads((self.data_dir / "lab.json").read_text()))

    def host_dir(self, host: str) -> Path:
        return self.data_dir / "hosts" / host

    def instance_dir(self, host: str, uuid: str) -> Path:
        """Where `host`'s QEMU driver keeps the instance (disk, QMP socket, console)."""
        return self.host_dir(host) / "instances" / "qemu" / "instances" / uuid

    def osc(self, *args: str, fmt: bool = True, timeout: float = 300) -> Any:
        """The real `openstack` CLI as the lab's admin; its JSON (or its output)."""
        argv = [str(BIN / "openstack"), "--os-cloud", "overcast", *args]
        if fmt:
            argv += ["-f", "json"]
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                           timeout=timeout)
        assert r.returncode == 0, f"openstack {' '.join(args)}: {r.stderr}\n{r.stdout}"
        return json.loads(r.stdout) if fmt and r.stdout.strip() else r.stdout

    def server(self, server: str) -> dict[str, Any]:
        return dict(self.osc("server", "show", server))

    def services(self) -> dict[str, str]:
        return {s["Host"]: s["State"] for s in self.osc("compute", "service", "list")}

    def upstream_argv(self, *cmd: str) -> list[str]:
        """`cmd` run in the lab's upstream (where floating IPs are reached)."""
        return [sys.executable, "-m", "overcast.cli", "upstream", "--data-dir",
                str(self.data_dir), "--", *cmd]

    def upstream(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.upstream_argv(*cmd), capture_output=True, text=True,
                              timeout=60, env=self.env)

    def answer(self, url: str, want: str, timeout: float = 120) -> str:
        """The page at `url` (from the upstream) once it holds `want`."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            r = self.upstream("curl", "-s", "-m", "8", url)
            last = r.stdout.strip() or r.stderr.strip()
            if want in r.stdout:
                return r.stdout.strip()
            time.sleep(1)
        raise AssertionError(f"{url} did not answer {want!r}; last: {last!r}")

    def active(self, server: str, timeout: float = 300, host: str | None = None,
               statuses: tuple[str, ...] = ("ACTIVE",)) -> dict[str, Any]:
        """`server show` once the server is in one of `statuses` with no task (and on
        `host`, if given); an ERROR fails at once, with its fault."""
        def check() -> dict[str, Any] | None:
            s = self.osc("server", "show", server)
            assert s["status"] != "ERROR", s.get("fault")
            if s["status"] in statuses and not s.get("OS-EXT-STS:task_state") and \
                    (host is None or s["OS-EXT-SRV-ATTR:host"] == host):
                return dict(s)
            return None

        return dict(until(check, timeout, f"{server} {'/'.join(statuses)}"
                                          f"{f' on {host}' if host else ''}"))


def qemu_pids(uuid: str, host_dir: Path | None = None) -> list[int]:
    """The live QEMU processes of this instance (started from this host's data dir,
    if given)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "qemu-system" in cmd and uuid in cmd and \
                (host_dir is None or str(host_dir) in cmd):
            out.append(int(entry.name))
    return out


def assert_purged(state: dict[str, Any], said: str) -> None:
    """Nothing of the lab is left: namespaces, its bridge, guests, its database."""
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


# ------------------------------------------------------------- the shared lab
_shared: Lab | None = None


def shared(base: Callable[[], Path]) -> Lab:
    """The lab, started on first use (in the directory `base()` makes)."""
    global _shared
    if _shared is None:
        lab = Lab(base())
        _shared = lab
        try:
            lab.start()
        except BaseException:
            _shared = None
            lab.stop()
            raise
    return _shared


def running() -> bool:
    return _shared is not None


def shutdown() -> None:
    """Stop and purge the shared lab (if it runs), then check nothing is left."""
    global _shared
    lab, _shared = _shared, None
    if lab is None:
        return
    state = lab.state if (lab.data_dir / "lab.json").exists() else None
    said = lab.stop()
    if state is not None:
        assert_purged(state, said)
