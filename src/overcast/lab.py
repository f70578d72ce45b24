"""`overcast lab`: a whole multi-host cloud on one machine, as `kind` is for Kubernetes.

One control plane and N compute hosts, each host a network namespace standing for
a machine:

- a management network: a bridge in the root namespace (`ol<id>m`, the lab's
  `/24`'s first address: the control plane's address and its tunnel endpoint) and
  one veth per host into the host's namespace (`ol<id>-<host>`, its own address);
- the control plane is `overcast up --data-dir DIR` listening on the bridge's
  address, with `agent_driver: none`: it is the network node (DHCP, routers, the
  upstream of floating IPs, the metadata proxy) and no compute host;
- each host runs `overcast agent --driver real` inside its namespace, with its own
  data dir (DIR/hosts/<host>), dataplane prefix and VXLAN endpoint; it reaches the
  APIs and RabbitMQ only over the management network, like a real machine;
- PostgreSQL and RabbitMQ: the URLs given, else the local servers on 127.0.0.1 when
  they answer (a database `overcast_lab_<id>` of its own, a bus namespace
  `lab<id>`); RabbitMQ's `guest` may only log in from the loopback, so the lab
  forwards the bridge's port 5672 to 127.0.0.1:5672 for the hosts.

Everything a lab makes carries its id (the data dir's cloud id), so two labs on
one machine never collide; DIR/lab.json records it for `overcast down --purge`.
The lab runs in the foreground; a host's agent or the control plane that exits
is started again (a file DIR/hosts/<host>/hold keeps that host's agent stopped,
as a dead machine), and Ctrl-C/SIGTERM stops them all and leaves the guests
running (`overcast lab` again re-adopts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from overcast.config import Settings, load_settings
from overcast.kit.runner import run

Say = Callable[[str], None]
MAX_HOSTS = 15
RABBIT_PORT = 5672


class LabError(RuntimeError):
    """The lab cannot start; the message says what is missing."""


@dataclass
class LabHost:
    name: str
    netns: str
    veth: str
    ip: str
    prefix: str
    data_dir: str
    pid: int | None = None


@dataclass
class LabState:
    """DIR/lab.json: what the lab made, for `down --purge`."""

    lab_id: str
    bridge: str
    cidr: str
    gateway: str
    bus_namespace: str
    database_url: str
    #: the database the lab created (and `down --purge` drops), "" for a given URL
    created_database: str = ""
    hosts: list[LabHost] = field(default_factory=list)
    control_pid: int | None = None

    def save(self, data_dir: Path) -> None:
        tmp = data_dir / ".lab.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, data_dir / "lab.json")

    @classmethod
    def load(cls, data_dir: Path) -> LabState | None:
        try:
            raw = json.loads((data_dir / "lab.json").read_text())
        except (OSError, ValueError):
            return None
        raw["hosts"] = [LabHost(**h) for h in raw.get("hosts", [])]
        return cls(**raw)


# ---------------------------------------------------------------- the network
def _used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = run(["ip", "-4", "-o", "addr", "show"]).stdout
    nets = []
    for line in out.split("\n"):
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_network(parts[parts.index("inet") + 1], strict=False))
    for line in run(["ip", "-4", "route", "show"]).stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):
            if first != "default":
                nets.append(ipaddress.ip_network(first, strict=False))
    return nets


def pick_cidr(lab_id: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A /24 in 10.240.0.0/12 derived from the lab id, the first free one from there."""
    used = _used_networks()
    start = int(lab_id, 16) % 4096
    for k in range(4096):
        n = (start + k) % 4096
        net = ipaddress.ip_network(f"10.{240 + n // 256}.{n % 256}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise LabError("no free /24 in 10.240.0.0/12 for the management network")


def _link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip", *(["-n", netns] if netns else []), "link", "show", name]
    return run(argv, check=False).returncode == 0


def _namespaces() -> set[str]:
    out = run(["ip", "netns", "list"]).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def ensure_management(state: LabState) -> None:
    """The bridge, its address, forwarding, and each host's namespace and veth."""
    net = ipaddress.ip_network(state.cidr)
    if not _link_exists(state.bridge):
        run(["ip", "link", "add", state.bridge, "type", "bridge"])
    run(["ip", "addr", "replace", f"{state.gateway}/{net.prefixlen}", "dev", state.bridge])
    run(["ip", "link", "set", state.bridge, "up"])
    have = _namespaces()
    for h in state.hosts:
        if h.netns not in have:
            run(["ip", "netns", "add", h.netns])
        run(["ip", "-n", h.netns, "link", "set", "lo", "up"])
        if not _link_exists("eth0", h.netns):
            with contextlib.suppress(Exception):
                run(["ip", "link", "del", h.veth], check=False)
            run(["ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0",
                 "netns", h.netns])
        run(["ip", "link", "set", h.veth, "master", state.bridge, "up"])
        run(["ip", "-n", h.netns, "addr", "replace", f"{h.ip}/{net.prefixlen}", "dev",
             "eth0"])
        run(["ip", "-n", h.netns, "link", "set", "eth0", "up"])
        run(["ip", "-n", h.netns, "route", "replace", "default", "via", state.gateway])


def remove_management(state: LabState) -> list[str]:
    gone = []
    have = _namespaces()
    for h in state.hosts:
        if _link_exists(h.veth):
            run(["ip", "link", "del", h.veth], check=False)
        if h.netns in have:
            run(["ip", "netns", "del", h.netns], check=False)
            gone.append(h.netns)
    if _link_exists(state.bridge):
        run(["ip", "link", "del", state.bridge], check=False)
        gone.append(state.bridge)
    return gone


# ------------------------------------------------------------ the forwarder
class Forwarder:
    """TCP from (listen address, port) to (target address, port), in a thread."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen, self.target = listen, target
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lab-forwarder", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise LabError(f"cannot forward {self.listen[0]}:{self.listen[1]}: "
                           f"{self._error}")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(asyncio.start_server(
                self._serve, self.listen[0], self.listen[1], reuse_address=True))
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


# --------------------------------------------------- PostgreSQL and RabbitMQ
def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def local_database(lab_id: str) -> tuple[str, str]:
    """(URL, database name) of the lab's own database on the local PostgreSQL."""
    if not _answers("127.0.0.1", 5432):
        raise LabError("PostgreSQL does not answer on 127.0.0.1:5432: pass --database-url, "
                       "or install it (`scripts/install-host.sh --servers` installs the "
                       "Debian package postgresql) and let the local "
                       "user postgres connect over TCP (trust or a password in the URL)")
    import psycopg

    name = f"overcast_lab_{lab_id}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def local_bus() -> str:
    if not _answers("127.0.0.1", RABBIT_PORT):
        raise LabError("RabbitMQ does not answer on 127.0.0.1:5672: pass --bus-url, or "
                       "install it (`scripts/install-host.sh --servers` installs the Debian "
                       "package rabbitmq-server)")
    return "amqp://guest:guest@127.0.0.1:5672/"


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _with_host(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))


# ----------------------------------------------------------------- the lab
@dataclass
class LabOptions:
    hosts: int
    port: int
    database_url: str | None = None
    bus_url: str | None = None
    driver: str = "real"
    workers: int | None = None
    #: seconds between each host's heartbeats; None: each host's own report_interval
    #: (DIR/hosts/<host>/overcast.yaml, 10 by default)
    heartbeat_interval: float | None = None
    test_image: bool = True
    merge_user_clouds_yaml: bool = True
    #: the hosts' QEMU accelerator ("kvm" or "tcg"; None: each host probes)
    qemu_accel: str | None = None


class Lab:
    def __init__(self, settings: Settings, opts: LabOptions, say: Say) -> None:
        self.settings = settings
        self.opts = opts
        self.say = say
        self.dir = settings.data_dir
        self.lab_id = settings.cloud_id
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.forwarder: Forwarder | None = None
        self.state: LabState | None = None
        self.bus_for_hosts = ""

    # ------------------------------------------------------------- setting up
    def prepare(self) -> LabState:
        if not 1 <= self.opts.hosts <= MAX_HOSTS:
            raise LabError(f"--hosts is 1 to {MAX_HOSTS}")
        if os.geteuid() != 0:
            raise LabError("a lab makes namespaces, bridges and guests: run it as root")
        other = lab_pid(self.dir)
        if other is not None and other != os.getpid():
            raise LabError(f"overcast lab already runs on {self.dir} (pid {other}); "
                           "`overcast down` stops it")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = LabState.load(self.dir)
        lid = self.lab_id
        if old is not None and len(old.hosts) == self.opts.hosts:
            state = old
        else:
            if old is not None and old.hosts:
                raise LabError(f"this lab has {len(old.hosts)} hosts; `overcast down "
                               f"--purge --data-dir {self.dir}` first to change that")
            net = pick_cidr(lid)
            addrs = list(net.hosts())
            bus_url = self.opts.bus_url or ""
            db_url, created = self.opts.database_url or "", ""
            if not db_url:
                db_url, created = local_database(lid)
            state = LabState(lab_id=lid, bridge=f"ol{lid}m", cidr=str(net),
                             gateway=str(addrs[0]), bus_namespace=f"lab{lid}",
                             database_url=db_url, created_database=created)
            for i in range(1, self.opts.hosts + 1):
                name = f"compute{i}"
                state.hosts.append(LabHost(
                    name=name, netns=f"ol{lid}-{name}", veth=f"ol{lid}v{i}",
                    ip=str(addrs[9 + i]), prefix=f"{lid[:3]}h{i:x}",
                    data_dir=str(self.dir / "hosts" / name)))
            del bus_url
        self.state = state
        self.check_intervals()
        state.save(self.dir)
        bus_url = self.opts.bus_url or local_bus()
        self.say(f"management network {state.cidr} on bridge {state.bridge}")
        ensure_management(state)
        if _is_loopback(bus_url):
            self.forwarder = Forwarder((state.gateway, RABBIT_PORT),
                                       (urlsplit(bus_url).hostname or "127.0.0.1",
                                        urlsplit(bus_url).port or RABBIT_PORT))
            self.forwarder.start()
            self.bus_for_hosts = _with_host(bus_url, state.gateway, RABBIT_PORT)
        else:
            self.bus_for_hosts = bus_url
        self._write_control_config(state, bus_url)
        return state

    def report_interval(self, h: LabHost) -> float:
        """Seconds between host `h`'s heartbeats: --heartbeat-interval, else its own
        report_interval (its DIR/hosts/<host>/overcast.yaml, as its agent reads it)."""
        if self.opts.heartbeat_interval is not None:
            return self.opts.heartbeat_interval
        return load_settings(Path(h.data_dir), environ={}).report_interval

    def check_intervals(self) -> None:
        """Refuse hosts that report less often than the control plane's
        service_down_time: each would be seen down between two of its heartbeats,
        and be skipped by the scheduler, or its servers deleted without it, at
        random (Nova warns of the same: report_interval must be less than
        service_down_time)."""
        assert self.state is not None
        down = self.settings.service_down_time
        for h in self.state.hosts:
            every = self.report_interval(h)
            if every >= down:
                raise LabError(
                    f"host {h.name} would report every {every:g} s but the control plane "
                    f"counts a host down after {down:g} s without one (service_down_time "
                    f"in {self.dir / 'overcast.yaml'}): make the report interval (its "
                    f"report_interval, or --heartbeat-interval) well under it")

    @property
    def public_url(self) -> str:
        assert self.state is not None
        return f"http://{self.state.gateway}:{self.opts.port}"

    def _write_control_config(self, state: LabState, bus_url: str) -> None:
        """DIR/overcast.yaml: the control plane's settings (so `overcast down`,
        `status` and `upstream` on DIR find the same cloud)."""
        path = self.dir / "overcast.yaml"
        data: dict[str, Any] = {}
        if path.exists():
            data = yaml.safe_load(path.read_text()) or {}
        data.update({
            "host": state.gateway, "port": self.opts.port, "public_url": self.public_url,
            "database_url": state.database_url, "bus_url": bus_url,
            "bus_namespace": state.bus_namespace, "tunnel_ip": state.gateway,
            "agent_driver": "none", "dataplane": "linux",
            "merge_user_clouds_yaml": self.opts.merge_user_clouds_yaml,
            "build_test_image": self.opts.test_image})
        if self.opts.workers is not None:
            data["api_workers"] = self.opts.workers
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(data, f, sort_keys=True)

    # --------------------------------------------------------------- processes
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OVERCAST_")}
        # the children import this very overcast (a checkout on PYTHONPATH included)
        src = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            [src, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
        if os.environ.get("OVERCAST_CACHE_DIR"):
            env["OVERCAST_CACHE_DIR"] = os.environ["OVERCAST_CACHE_DIR"]
        return env

    def start_control(self) -> None:
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        out = open(logs / "lab-control.out", "ab")  # noqa: SIM115 - the child keeps it
        self.procs["control"] = subprocess.Popen(
            [sys.executable, "-m", "overcast.cli", "up", "--data-dir", str(self.dir)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self._env(), start_new_session=True)
        out.close()
        assert self.state is not None
        self.state.control_pid = self.procs["control"].pid
        self.state.save(self.dir)

    def wait_control(self, timeout: float = 900) -> None:
        """Until the control plane answers and has written the agents' credential."""
        deadline = time.monotonic() + timeout
        url = f"{self.public_url}/identity/v3"
        while time.monotonic() < deadline:
            proc = self.procs["control"]
            if proc.poll() is not None:
                tail = (self.dir / "logs" / "lab-control.out").read_text()[-2000:]
                raise LabError(f"the control plane exited ({proc.returncode}):\n{tail}")
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 - our URL
                if r.status == 200 and (self.dir / "agent-credential.yaml").exists():
                    return
            time.sleep(1)
        raise LabError(f"the control plane did not answer at {url} in {timeout:.0f} s")

    def start_host(self, h: LabHost) -> None:
        assert self.state is not None
        hdir = Path(h.data_dir)
        hdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cred = hdir / "agent-credential.yaml"
        shutil.copyfile(self.dir / "agent-credential.yaml", cred)
        os.chmod(cred, 0o600)
        out = open(hdir / "agent.out", "ab")  # noqa: SIM115 - the child keeps it
        argv = ["nsenter", f"--net=/run/netns/{h.netns}", "--",
                sys.executable, "-m", "overcast.cli", "agent", "--host", h.name,
                "--driver", self.opts.driver, "--bus-url", self.bus_for_hosts,
                "--bus-namespace", self.state.bus_namespace, "--public-url",
                self.public_url, "--tunnel-ip", h.ip, "--data-dir", str(hdir),
                "--dataplane-prefix", h.prefix]
        if self.opts.heartbeat_interval is not None:
            argv += ["--heartbeat-interval", str(self.opts.heartbeat_interval)]
        if self.opts.qemu_accel:
            argv += ["--qemu-accel", self.opts.qemu_accel]
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=self._env(),
                                start_new_session=True)
        out.close()
        self.procs[h.name] = proc
        h.pid = proc.pid
        self.state.save(self.dir)

    def wait_hosts(self, timeout: float = 120) -> None:
        """Until every host's agent said it is up (its output's `agents up:`)."""
        assert self.state is not None
        deadline = time.monotonic() + timeout
        pending = {h.name: h for h in self.state.hosts}
        while pending and time.monotonic() < deadline:
            for name, h in list(pending.items()):
                text = (Path(h.data_dir) / "agent.out").read_text(errors="replace")
                proc = self.procs[name]
                if "agents up:" in text.rsplit("\n=== start", 1)[-1]:
                    self.say(f"host {name} up at {h.ip} (namespace {h.netns})")
                    del pending[name]
                elif proc.poll() is not None:
                    raise LabError(f"host {name}'s agent exited ({proc.returncode}):\n"
                                   f"{text[-2000:]}")
            time.sleep(0.5)
        if pending:
            raise LabError(f"hosts {', '.join(pending)} did not come up in {timeout:.0f} s")

    def mark_start(self, h: LabHost) -> None:
        Path(h.data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(Path(h.data_dir) / "agent.out", "a") as f:
            f.write(f"\n=== start {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")

    def supervise(self, stop: threading.Event) -> None:
        """Start again what exits (but a held host), until `stop`."""
        assert self.state is not None
        while not stop.wait(1.0):
            if self.procs["control"].poll() is not None:
                self.say("the control plane exited; starting it again")
                self.start_control()
            for h in self.state.hosts:
                proc = self.procs.get(h.name)
                held = (Path(h.data_dir) / "hold").exists()
                if proc is not None and proc.poll() is not None and not held:
                    self.say(f"host {h.name}'s agent exited; starting it again")
                    Path(h.data_dir).mkdir(parents=True, exist_ok=True)
                    self.mark_start(h)
                    self.start_host(h)
                elif proc is not None and proc.poll() is None and held:
                    self.say(f"host {h.name} is held: its agent is stopped")
                    _terminate(proc)

    def stop(self) -> None:
        """Stop the agents, then the control plane (their guests keep running)."""
        for name, proc in self.procs.items():
            if name != "control":
                _signal(proc, signal.SIGTERM)
        for name, proc in self.procs.items():
            if name != "control":
                _wait(proc, 30)
        if "control" in self.procs:
            _terminate(self.procs["control"], 60)
        if self.forwarder is not None:
            self.forwarder.stop()


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if proc.poll() is None:
            proc.send_signal(sig)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait(10)


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    _signal(proc, signal.SIGTERM)
    _wait(proc, timeout)


def run_lab(settings: Settings, opts: LabOptions, say: Say,
            ready: Callable[[Lab], None]) -> None:
    """Start the lab and keep it in the foreground until SIGINT/SIGTERM."""
    lab = Lab(settings, opts, say)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pidfile = settings.data_dir / "run" / "lab.pid"
    try:
        state = lab.prepare()
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{os.getpid()}\n")
        say(f"control plane: {lab.public_url} (PostgreSQL {_safe(state.database_url)}, "
            f"bus namespace {state.bus_namespace})")
        lab.start_control()
        lab.wait_control()
        say("control plane up; it is the network node")
        for h in state.hosts:
            lab.mark_start(h)
            lab.start_host(h)
        lab.wait_hosts()
        ready(lab)
        lab.supervise(stop)
    finally:
        lab.stop()
        with contextlib.suppress(OSError):
            pidfile.unlink()


def _safe(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(
            f":{parts.password}@", ":***@")))
    return url


def lab_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "run" / "lab.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"lab" in cmdline.split(b"\0") else None


def stop_lab(data_dir: Path, timeout: float = 120) -> int | None:
    pid = lab_pid(data_dir)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        with contextlib.suppress(OSError):
            if "zombie" in Path(f"/proc/{pid}/status").read_text():
                break
        time.sleep(0.2)
    return pid


def kill_leftovers(state: LabState) -> None:
    """The lab's agents and control plane still running after the lab died (kill -9)."""
    pids = [h.pid for h in state.hosts if h.pid] + ([state.control_pid]
                                                   if state.control_pid else [])
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"overcast" in c for c in cmd) and (b"agent" in cmd or b"up" in cmd):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def purge_queues(state: LabState) -> bool:
    """Delete the durable queues of the lab's bus namespace (local RabbitMQ only)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    res = run([ctl, "-q", "list_queues", "name"], check=False, timeout=60)
    if res.returncode != 0:
        return False
    names = [n.strip() for n in res.stdout.splitlines()
             if n.strip().startswith(f"{state.bus_namespace}.")]
    for name in names:
        run([ctl, "-q", "delete_queue", name], check=False, timeout=60)
    return bool(names)
