"""A one-node "Swift all in one" from Debian's packages, for bench/object.py's
side-by-side: OpenStack Swift 2.30 (swift-proxy, swift-account, swift-container,
swift-object; `scripts/install-host.sh --peers`) on loopback, with tempauth and
its own memcached.

Everything lives in one temporary directory: swift.conf, the three rings (built
with swift-ring-builder: one replica, one device `d1`, a plain directory, so
mount_check is off and no XFS is needed), the four servers' configs, the device
and the logs. Each server runs one worker, as the SAIO guide sets them up; Swift's
defaults are kept otherwise (the object server fsyncs every object, as it must).

    with SwiftAllInOne(Path(tmp)) as saio:
        url, token = saio.storage_url, saio.token
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

PACKAGES = ("swift-proxy", "swift-account", "swift-container", "swift-object", "memcached")
SERVERS = ("account", "container", "object", "proxy")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> str | None:
    """None when Swift can be started here, else why not."""
    for tool in ("swift-proxy-server", "swift-account-server", "swift-container-server",
                 "swift-object-server", "swift-ring-builder", "memcached"):
        if shutil.which(tool) is None:
            return (f"{tool} is missing: install Debian's {' '.join(PACKAGES)} "
                    "(scripts/install-host.sh --peers)")
    return None


class SwiftAllInOne:
    """Start on enter, stop (every process it started) on exit."""

    def __init__(self, root: Path, workers: int = 1) -> None:
        self.root, self.workers = root, workers
        self.etc, self.devices, self.logs = root / "etc", root / "srv", root / "log"
        self.ports = {name: free_port() for name in (*SERVERS, "memcached")}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.storage_url = self.token = ""

    # ------------------------------------------------------------ configuration
    def _write_configs(self) -> None:
        for d in (self.etc, self.devices / "d1", self.logs):
            d.mkdir(parents=True, exist_ok=True)
        (self.etc / "swift.conf").write_text(
            "[swift-hash]\nswift_hash_path_suffix = overcast-bench\n"
            "swift_hash_path_prefix = saio\n\n"
            "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")
        common = (f"[DEFAULT]\nbind_ip = 127.0.0.1\nworkers = {self.workers}\n"
                  f"user = {getpass.getuser()}\nswift_dir = {self.etc}\n"
                  f"devices = {self.devices}\nmount_check = false\n"
                  "log_level = WARNING\n")
        for name in ("account", "container", "object"):
            (self.etc / f"{name}-server.conf").write_text(
                f"{common}bind_port = {self.ports[name]}\n\n"
                f"[pipeline:main]\npipeline = {name}-server\n\n"
                f"[app:{name}-server]\nuse = egg:swift#{name}\n\n"
                f"[{name}-replicator]\n[{name}-auditor]\n"
                + ("[container-updater]\n[container-sync]\n" if name == "container" else "")
                + ("[object-updater]\n" if name == "object" else ""))
        (self.etc / "proxy-server.conf").write_text(
            f"{common}bind_port = {self.ports['proxy']}\n\n"
            "[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck proxy-logging "
            "cache listing_formats tempauth copy slo dlo proxy-logging proxy-server\n\n"
            "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n\n"
            "[filter:tempauth]\nuse = egg:swift#tempauth\n"
            "user_test_tester = testing .admin\n\n"
            f"[filter:cache]\nuse = egg:swift#memcache\n"
            f"memcache_servers = 127.0.0.1:{self.ports['memcached']}\n\n"
            "[filter:catch_errors]\nuse = egg:swift#catch_errors\n\n"
            "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n\n"
            "[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n"
            "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\n"
            "[filter:listing_formats]\nuse = egg:swift#listing_formats\n\n"
            "[filter:copy]\nuse = egg:swift#copy\n\n"
            "[filter:slo]\nuse = egg:swift#slo\n\n"
            "[filter:dlo]\nuse = egg:swift#dlo\n")

    def _build_rings(self) -> None:
        for name in ("account", "container", "object"):
            builder = str(self.etc / f"{name}.builder")
            # 2^6 partitions, 1 replica, 1 hour between moves: one device holds all
            for cmd in (["create", "6", "1", "1"],
                        ["add", f"r1z1-127.0.0.1:{self.ports[name]}/d1", "1"],
                        ["rebalance"]):
                r = subprocess.run(["swift-ring-builder", builder, *cmd],
                                   capture_output=True, text=True)
                # rebalance exits 1 on warnings (e.g. "fewer devices than replicas")
                if r.returncode > 1:
                    raise RuntimeError(f"swift-ring-builder {cmd[0]}: {r.stdout}{r.stderr}")

    # ------------------------------------------------------------ processes
    def _spawn(self, argv: list[str], log: str) -> None:
        out = open(self.logs / log, "ab")  # noqa: SIM115 - the child's, closed in stop
        self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True))
        out.close()

    def start(self) -> None:
        self._write_configs()
        self._build_rings()
        self._spawn(["memcached", "-l", "127.0.0.1", "-p", str(self.ports["memcached"]),
                     "-U", "0", "-u", getpass.getuser(), "-m", "64"], "memcached.log")
        for name in SERVERS:
            self._spawn([f"swift-{name}-server", str(self.etc / f"{name}-server.conf")],
                        f"{name}.log")
        proxy = f"http://127.0.0.1:{self.ports['proxy']}"
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{proxy}/auth/v1.0", timeout=5, headers={
                    "X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
                if r.status_code == 200:
                    self.storage_url = r.headers["X-Storage-Url"]
                    self.token = r.headers["X-Auth-Token"]
                    # the account exists once it is written to (account_autocreate)
                    if httpx.head(self.storage_url, headers={"X-Auth-Token": self.token},
                                  timeout=10).status_code < 300:
                        return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                logs = "\n".join(f"{p.name}: {p.read_text()[-500:]}"
                                 for p in self.logs.iterdir())
                raise RuntimeError(f"Swift did not start:\n{logs}")
            time.sleep(0.3)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()

    def __enter__(self) -> SwiftAllInOne:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
