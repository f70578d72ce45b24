"""Benchmark: overcast side by side with the real Keystone, Placement and Nova, same load.

Installs Keystone and Placement from PyPI into a virtualenv of their own
(`$OVERCAST_CACHE_DIR/peers-venv`, once), starts them on loopback as operators
run them (Keystone under uWSGI with two processes, SQLite, Fernet tokens;
Placement under uWSGI, noauth2, SQLite), starts a fresh `overcast up` from this
checkout, gives both the same providers, and drives every path with `wrk` (C,
little CPU, so the client does not eat the cores it measures). Prints one table
of rates and latencies with the ratio overcast / peer, the machine it ran on,
and JSON; everything it started is stopped at the end.

    .venv/bin/python bench/peers/run.py [--seconds 10] [--providers 1000]
        [--nova [--boots-only] [--serial 10] [--detail-conns 2]]

With `--nova`, also Nova 34 with its fake driver, Glance 33, on the machine's
RabbitMQ and PostgreSQL (bench/peers/nova.py says what runs), against an overcast
with one fake host: the same fake-boot loads (bench/peers/boots.py: serial boots,
bursts of 20 and 100 posted and polled every 20 ms by 20 clients) and
`GET /servers/detail` with the burst's 100 servers there.

Paths: token validation (1 and 8 connections), `GET /v3/projects`, the version
document, allocation candidates as Nova asks (`limit=1000`), allocation `PUT`
(a new consumer per request), provider create (a new provider per request).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

import boots  # noqa: E402
from cpumeter import CpuMeter, per_request  # noqa: E402
from nova import NOVA_PACKAGES, NovaPeer, image  # noqa: E402

PEER_PACKAGES = ["keystone==30.0.0", "openstack-placement==16.0.0", "uWSGI==2.0.31"]
INVENTORY = {"VCPU": {"total": 16, "allocation_ratio": 4.0},
             "MEMORY_MB": {"total": 65536}, "DISK_GB": {"total": 1000}}
RESOURCES = "VCPU:1,MEMORY_MB:512,DISK_GB:10"
PL_VERSION = "placement 1.36"


def free_port() -> int:
    """A port in 40000-49999 nobody listens on (the shared machine's rule)."""
    import socket
    for _ in range(200):
        port = random.randint(40000, 49999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 40000-49999")


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def peers_venv(cache: Path, nova: bool = False) -> Path:
    """The peers' own virtualenv, made and filled once (Nova and Glance too when
    asked: they are installed with Keystone and Placement, so pip picks one set of
    libraries that fits all four)."""
    venv = cache / "peers-venv"
    packages = PEER_PACKAGES + (NOVA_PACKAGES if nova else [])
    need = ["keystone-manage", "uwsgi"] + (["nova-manage", "glance-manage"] if nova else [])
    if not all((venv / "bin" / x).exists() for x in need):
        python = shutil.which("python3") or sys.executable
        if not (venv / "bin" / "python").exists():
            subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *packages], check=True)
    return venv


class Services:
    """Starts and stops what one run needs; each process in its own session."""

    def __init__(self, work: Path, venv: Path) -> None:
        self.work, self.venv = work, venv
        self.procs: list[subprocess.Popen[bytes]] = []
        #: the root process of each service ("keystone", "placement", "overcast"),
        #: whose process tree's CPU seconds the table reports
        self.roots: dict[str, int] = {}

    def spawn(self, args: list[str], env: dict[str, str], log: Path) -> int:
        with log.open("wb") as out:
            self.procs.append(subprocess.Popen(
                args, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True))
        return self.procs[-1].pid

    def uwsgi(self, port: int, module: str, env: dict[str, str], log: Path) -> int:
        # Two synchronous workers, one request each at a time (as the services'
        # docs deploy them); `Connection: close` because uWSGI's http-socket does
        # not keep connections alive, and saying so lets wrk reconnect cleanly.
        return self.spawn([str(self.venv / "bin" / "uwsgi"), "--http-socket", f"127.0.0.1:{port}",
                    "--module", module, "--processes", "2", "--threads", "1", "--master",
                    "--lazy-apps", "--need-app", "--die-on-term", "--home", str(self.venv),
                    "--disable-logging", "--add-header", "Connection: close",
                    "--listen", "128"], env, log)

    def keystone(self) -> tuple[str, str]:
        """Keystone on SQLite with Fernet tokens; returns (url, admin token)."""
        d = self.work / "keystone"
        (d / "fernet").mkdir(parents=True)
        (d / "credential").mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}/v3"
        conf = d / "keystone.conf"
        conf.write_text(
            f"[DEFAULT]\nlog_file = {d}/keystone.log\nuse_stderr = false\n"
            f"[database]\nconnection = sqlite:///{d}/keystone.db\n"
            f"[token]\nprovider = fernet\n"
            f"[fernet_tokens]\nkey_repository = {d}/fernet\n"
            f"[fernet_receipts]\nkey_repository = {d}/fernet\n"
            f"[credential]\nkey_repository = {d}/credential\n")
        manage = [str(self.venv / "bin" / "keystone-manage"), "--config-file", str(conf)]
        with (d / "setup.log").open("wb") as log:
            for step in (["db_sync"],
                         ["fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
                         ["credential_setup", "--keystone-user", "root",
                          "--keystone-group", "root"],
                         ["bootstrap", "--bootstrap-password", "secret",
                          "--bootstrap-admin-url", url, "--bootstrap-public-url", url,
                          "--bootstrap-region-id", "RegionOne"]):
                subprocess.run(manage + step, check=True, stdout=log, stderr=log)
        # Keystone warns on every request about keys others can read.
        for sub in ("fernet", "credential"):
            (d / sub).chmod(0o700)
        self.roots["keystone"] = self.uwsgi(port, "keystone.wsgi.api:application",
                   {"OS_KEYSTONE_CONFIG_FILES": str(conf)}, d / "uwsgi.log")
        wait_http(url)
        return url, token(url, "admin", "secret", "admin", "Default")

    def placement(self) -> str:
        d = self.work / "placement"
        d.mkdir()
        port = free_port()
        (d / "placement.conf").write_text(
            f"[DEFAULT]\nlog_file = {d}/placement.log\nuse_stderr = false\n"
            f"[api]\nauth_strategy = noauth2\n"
            f"[placement_database]\nconnection = sqlite:///{d}/placement.db\n")
        env = {"OS_PLACEMENT_CONFIG_DIR": str(d)}
        with (d / "setup.log").open("wb") as log:
            subprocess.run([str(self.venv / "bin" / "placement-manage"), "--config-file",
                            str(d / "placement.conf"), "db", "sync"], check=True,
                           stdout=log, stderr=log, env={**os.environ, **env})
            # Loading the app writes the standard classes and traits: once, here, not
            # by two lazy workers racing for SQLite's lock.
            subprocess.run([str(self.venv / "bin" / "python"), "-c",
                            "import placement.wsgi.api"], check=True, stdout=log,
                           stderr=log, env={**os.environ, **env})
        self.roots["placement"] = self.uwsgi(port, "placement.wsgi.api:application", env,
                                             d / "uwsgi.log")
        wait_http(f"http://127.0.0.1:{port}/")
        return f"http://127.0.0.1:{port}"

    def overcast(self) -> tuple[str, str]:
        """A fresh `overcast up` from this checkout; returns (base url, admin token)."""
        d = self.work / "overcast"
        port = free_port()
        env = {"PYTHONPATH": f"{REPO / 'src'}", "OVERCAST_LOG_LEVEL": "warning"}
        self.roots["overcast"] = self.spawn(
            [sys.executable, "-m", "overcast.cli", "up", "--data-dir", str(d / "cloud"),
             "--port", str(port), "--no-user-clouds-yaml", "--no-agent", "--no-test-image",
             "--no-default-networks"], env, self.work / "overcast.log")
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{base}/identity/v3", timeout=300)
        except RuntimeError:
            print((self.work / "overcast.log").read_text()[-3000:], file=sys.stderr)
            raise
        deadline = time.monotonic() + 60
        while not (d / "cloud" / "clouds.yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        auth = yaml.safe_load((d / "cloud" / "clouds.yaml").read_text())
        auth = auth["clouds"]["overcast"]["auth"]
        return base, token(f"{base}/identity/v3", auth["username"], auth["password"],
                           "admin", "Default")

    def overcast_compute(self) -> tuple[str, str, str]:
        """A second `overcast up` with its local agent on the fake driver (one host, as
        the Nova side has one nova-compute), no dataplane, no default networks;
        returns (base url, admin token, admin project id)."""
        d = self.work / "overcast-compute"
        port = free_port()
        env = {"PYTHONPATH": f"{REPO / 'src'}", "OVERCAST_LOG_LEVEL": "warning",
               "OVERCAST_AGENT_DRIVER": "fake", "OVERCAST_FAKE_HOSTS": "1",
               "OVERCAST_DATAPLANE": "none", "OVERCAST_DEFAULT_NETWORKS": "false"}
        self.roots["overcast-compute"] = self.spawn(
            [sys.executable, "-m", "overcast.cli", "up", "--data-dir", str(d / "cloud"),
             "--port", str(port), "--no-user-clouds-yaml", "--no-test-image"], env,
            self.work / "overcast-compute.log")
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/identity/v3", timeout=300)
        deadline = time.monotonic() + 60
        while not (d / "cloud" / "clouds.yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        auth = yaml.safe_load((d / "cloud" / "clouds.yaml").read_text())
        auth = auth["clouds"]["overcast"]["auth"]
        tok = token(f"{base}/identity/v3", auth["username"], auth["password"], "admin",
                    "Default")
        hd = {"X-Auth-Token": tok}
        project = httpx.get(f"{base}/identity/v3/auth/tokens", timeout=60, headers={
            **hd, "X-Subject-Token": tok}).json()["token"]["project"]["id"]
        deadline = time.monotonic() + 120
        while httpx.get(f"{base}/compute/v2.1/os-hypervisors", headers=hd, timeout=60
                        ).json().get("hypervisors", []) == []:
            if time.monotonic() > deadline:
                raise RuntimeError("overcast's fake host did not register")
            time.sleep(0.5)
        httpx.put(f"{base}/compute/v2.1/os-quota-sets/{project}", headers=hd, timeout=60,
                  json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}}
                  ).raise_for_status()
        return base, tok, project

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                # uWSGI takes SIGINT as "stop"; overcast stops on either.
                os.killpg(p.pid, signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def token(url: str, user: str, password: str, project: str, domain: str) -> str:
    r = httpx.post(f"{url}/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": domain}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": domain}}}}})
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


def fill_placement(base: str, headers: dict[str, str], n: int) -> str:
    """`n` compute-node providers with Nova's inventories, and one big provider the
    allocation PUTs go to (so it never fills); returns the big one's uuid."""
    def send(c: httpx.Client, method: str, path: str, body: Any) -> None:
        # Real Placement on SQLite under two processes answers "database is
        # locked" (500) now and then when writers meet: try again.
        for _ in range(20):
            r = c.request(method, path, json=body)
            if r.status_code < 500:
                r.raise_for_status()
                return
            time.sleep(0.05)
        r.raise_for_status()

    def one(i: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
            u = str(uuid.uuid4())
            send(c, "POST", "/resource_providers", {"name": f"cn{i}-{u[:8]}", "uuid": u})
            send(c, "PUT", f"/resource_providers/{u}/inventories",
                 {"resource_provider_generation": 0, "inventories": INVENTORY})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    big = str(uuid.uuid4())
    with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
        c.post("/resource_providers", json={"name": f"big-{big[:8]}", "uuid": big}
               ).raise_for_status()
        c.put(f"/resource_providers/{big}/inventories", json={
            "resource_provider_generation": 0, "inventories": {
                "VCPU": {"total": 10_000_000}, "MEMORY_MB": {"total": 1_000_000_000}}}
              ).raise_for_status()
    return big


def wrk(url: str, *, conns: int, seconds: float, meter: CpuMeter, method: str = "GET",
        headers: dict[str, str] | None = None, body: str | None = None) -> dict[str, Any]:
    """One closed-loop wrk run; the Lua script makes a fresh UUID per request where the
    body asks for one and writes the summary as JSON. `meter` measures the serving
    processes' CPU seconds over the run (cpu_ms per request, per_core ceiling)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PEERS_METHOD": method, "PEERS_OUT": out.name,
               "PEERS_HEADERS": "|".join(f"{k}: {v}" for k, v in (headers or {}).items())}
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        env["PEERS_PATH"] = parts.path + (f"?{parts.query}" if parts.query else "")
        if body is not None:
            env["PEERS_BODY"] = body
        meter.start()
        subprocess.run(["wrk", "-t", str(min(conns, 2)), "-c", str(conns),
                        "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
                        "-s", str(HERE / "wrk_load.lua"), f"{parts.scheme}://{parts.netloc}"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        cpu = meter.stop()
        res = json.loads(Path(out.name).read_text())
    res["rate"] = res["requests"] / (res["duration_us"] / 1e6)
    res["cpu_s"] = cpu
    res.update(per_request(cpu, res["requests"]))
    return res


def probe(url: str, method: str = "GET", headers: dict[str, str] | None = None,
          body: str | None = None) -> None:
    """Send the scenario's request once and stop on an error answer, so a table is
    never made of fast 4xx replies."""
    u = str(uuid.uuid4())
    h = {**(headers or {}), **({"Content-Type": "application/json"} if body else {})}
    r = httpx.request(method, url.replace("{uuid}", u), headers=h, timeout=300,
                      content=body.replace("{uuid}", u) if body else None)
    if r.status_code >= 400:
        raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:300]}")


def scenarios(ks: str, ks_tok: str, pl: str, pl_h: dict[str, str], big: str
              ) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(name, connections, url, wrk keyword arguments) for one side."""
    alloc = json.dumps({"allocations": {big: {"resources": {"VCPU": 1, "MEMORY_MB": 64}}},
                        "project_id": "6d4f2b0c9c3a4d3e8f1a2b3c4d5e6f70",
                        "user_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                        "consumer_generation": None})
    auth = {"X-Auth-Token": ks_tok}
    return [
        ("token validation", 1, f"{ks}/auth/tokens?nocatalog",
         {"headers": {**auth, "X-Subject-Token": ks_tok}}),
        ("token validation", 8, f"{ks}/auth/tokens?nocatalog",
         {"headers": {**auth, "X-Subject-Token": ks_tok}}),
        ("GET /v3/projects", 8, f"{ks}/projects", {"headers": auth}),
        ("version document /v3", 8, ks, {}),
        ("allocation candidates limit=1000", 1,
         f"{pl}/allocation_candidates?resources={RESOURCES}&limit=1000", {"headers": pl_h}),
        # Writes at one connection: real Placement's two processes on SQLite fail
        # writers that meet ("database is locked", 500) rather than queue them.
        ("allocation PUT (new consumer)", 1, f"{pl}/allocations/{{uuid}}",
         {"method": "PUT", "headers": pl_h, "body": alloc}),
        ("provider create", 1, f"{pl}/resource_providers",
         {"method": "POST", "headers": pl_h,
          "body": json.dumps({"name": "p-{uuid}", "uuid": "{uuid}"})}),
    ]


def print_table(rows: list[dict[str, Any]]) -> None:
    """Two tables: the wall-clock rates and latencies (what a client saw, on a machine
    shared with whatever else ran), then the CPU the serving processes spent per
    request and the CPU-bound ceiling per core (load-independent: a process is
    charged only for the time it ran)."""
    print(f"{'path':<34}{'conn':>5}{'overcast/s':>12}{'peer/s':>10}{'ratio':>8}"
          f"{'oc p50/p95 ms':>16}{'peer p50/p95 ms':>18}{'errors oc/peer':>16}{'load':>6}")
    for r in rows:
        o, p = r["overcast"], r["peer"]
        ratio = o["rate"] / p["rate"] if p["rate"] else float("inf")
        bad = (f'{o["bad_status"] + o["socket_errors"]}/'
               f'{p["bad_status"] + p["socket_errors"]}')
        print(f"{r['path']:<34}{r['connections']:>5}{o['rate']:>12.1f}{p['rate']:>10.1f}"
              f"{ratio:>7.1f}x"
              f"{o['p50_us'] / 1000:>8.1f}/{o['p95_us'] / 1000:<7.1f}"
              f"{p['p50_us'] / 1000:>10.1f}/{p['p95_us'] / 1000:<7.1f}{bad:>16}"
              f"{r['load']:>6.1f}")
    print()
    print("CPU of the serving processes (utime+stime from /proc, whole process tree):")
    print(f"{'path':<34}{'conn':>5}{'oc ms/req':>11}{'peer ms/req':>13}"
          f"{'oc /s/core':>12}{'peer /s/core':>14}{'cpu ratio':>11}")
    for r in rows:
        o, p = r["overcast"], r["peer"]
        ratio = p["cpu_ms"] / o["cpu_ms"] if o["cpu_ms"] else float("inf")
        print(f"{r['path']:<34}{r['connections']:>5}{o['cpu_ms']:>11.3f}{p['cpu_ms']:>13.3f}"
              f"{o['per_core']:>12.0f}{p['per_core']:>14.0f}{ratio:>10.1f}x")


def boot_rows(svc: Services, work: Path, ks_url: str, ks_tok: str,
              args: argparse.Namespace, cleanups: list[Any]) -> list[dict[str, Any]]:
    """The real Nova (fake driver) and an overcast with its fake host, driven with the
    same boots (bench/peers/boots.py), one side after the other for each load."""
    peer = NovaPeer(svc, ks_url, ks_tok, free_port)
    cleanups.append(peer.stop)
    t0 = time.monotonic()
    urls = peer.start(work)
    print(f"nova up in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    oc, oc_tok, _ = svc.overcast_compute()
    oc_hd = {"X-Auth-Token": oc_tok}
    sides = {"overcast": (f"{oc}/compute/v2.1", oc_hd, image(f"{oc}/image", oc_hd), "1"),
             "nova": (urls["nova"], {"X-Auth-Token": ks_tok}, urls["image"], urls["flavor"])}
    meters = {"overcast": CpuMeter([svc.roots["overcast-compute"]]),
              "nova": CpuMeter(peer.roots)}
    loads: list[tuple[str, Any]] = [
        (f"serial boots ({args.serial})",
         lambda c, h, i, f: boots.serial(c, h, i, f, args.serial)),
        ("burst of 20, 20 clients polling every 20 ms",
         lambda c, h, i, f: boots.burst(c, h, i, f, 20)),
        ("burst of 100, 20 clients polling every 20 ms",
         lambda c, h, i, f: boots.burst(c, h, i, f, 100))]
    rows: list[dict[str, Any]] = []
    for name, load in loads:
        row: dict[str, Any] = {"path": name, "load": os.getloadavg()[0]}
        for side, (compute, hd, img, flavor) in sides.items():
            meters[side].start()
            row[side] = load(compute, hd, img, flavor)
            row[side]["cpu_s"] = meters[side].stop()
            print(f"{name} {side}: {row[side]}", file=sys.stderr)
            if not name.startswith("burst of 100"):
                boots.delete_all(compute, hd)
        rows.append(row)
    # the listing as clients page it, with the burst's 100 servers there
    row = {"path": "GET /servers/detail (100 servers)", "connections": args.detail_conns,
           "load": os.getloadavg()[0]}
    for side, (compute, hd, _img, _flavor) in sides.items():
        hdv = {**hd, "OpenStack-API-Version": boots.MICROVERSION}
        probe(f"{compute}/servers/detail", headers=hdv)
        row[side] = wrk(f"{compute}/servers/detail", conns=args.detail_conns,
                        seconds=args.seconds, meter=meters[side], headers=hdv)
    rows.append(row)
    for compute, hd, _img, _flavor in sides.values():
        boots.delete_all(compute, hd)
    return rows


def print_boots(rows: list[dict[str, Any]]) -> None:
    print("Fake boots, POST to ACTIVE (serial: p50 / p95; bursts: wall time until all "
          "are ACTIVE / p50), and the servers listing:")
    print(f"{'load':<48}{'overcast':>22}{'nova':>22}{'ratio':>8}{'ERROR oc/nova':>15}"
          f"{'CPU s oc/nova':>17}{'load':>6}")
    for r in rows:
        o, n = r["overcast"], r["nova"]
        if "rate" in o:
            oc, nv = f"{o['rate']:.1f}/s", f"{n['rate']:.1f}/s"
            ratio = o["rate"] / n["rate"] if n["rate"] else float("inf")
            bad = f"{o['bad_status']}/{n['bad_status']}"
        elif "wall_s" in o:
            oc = f"{o['wall_s']:.2f} s / {o['p50_ms']:.0f} ms"
            nv = f"{n['wall_s']:.2f} s / {n['p50_ms']:.0f} ms"
            ratio = n["wall_s"] / o["wall_s"] if o["wall_s"] else float("inf")
            bad = f"{o['errors'] + o['unsettled']}/{n['errors'] + n['unsettled']}"
        else:
            oc = f"{o['p50_ms']:.0f} / {o['p95_ms']:.0f} ms"
            nv = f"{n['p50_ms']:.0f} / {n['p95_ms']:.0f} ms"
            ratio = n["p50_ms"] / o["p50_ms"] if o["p50_ms"] else float("inf")
            bad = f"{o['errors']}/{n['errors']}"
        cpu = f"{o['cpu_s']:.1f}/{n['cpu_s']:.1f}"
        # a side with servers that never settled: its time is a lower bound
        bound = ">" if n.get("unsettled") else "<" if o.get("unsettled") else " "
        print(f"{r['path']:<48}{oc:>22}{nv:>22}{bound}{ratio:>6.1f}x{bad:>15}{cpu:>17}"
              f"{r['load']:>6.1f}")


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python "
            f"{platform.python_version()}, load average at start {load}")


@contextlib.contextmanager
def running(work: Path, venv: Path) -> Iterator[Services]:
    svc = Services(work, venv)
    try:
        yield svc
    finally:
        svc.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--providers", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--nova", action="store_true",
                    help="also the real Nova with its fake driver (and Glance, RabbitMQ, "
                         "PostgreSQL) against overcast's fake boots")
    ap.add_argument("--boots-only", action="store_true",
                    help="with --nova: skip the Keystone and Placement rows")
    ap.add_argument("--serial", type=int, default=10, help="serial boots per side")
    ap.add_argument("--detail-conns", type=int, default=2,
                    help="connections for GET /servers/detail")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (Debian package wrk)")
    cache = Path(os.environ.get("OVERCAST_CACHE_DIR", Path.home() / ".cache" / "overcast"))
    venv = peers_venv(cache, nova=args.nova)
    work = Path(tempfile.mkdtemp(prefix="oc-peers-"))
    where = machine()
    rows: list[dict[str, Any]] = []
    boot_table: list[dict[str, Any]] = []
    cleanups: list[Any] = []
    try:
        with running(work, venv) as svc:
            ks_url, ks_tok = svc.keystone()
            if args.nova:
                boot_table = boot_rows(svc, work, ks_url, ks_tok, args, cleanups)
            if args.boots_only:
                raise _Done
            pl_url = svc.placement()
            oc_base, oc_tok = svc.overcast()
            peer_pl_h = {"X-Auth-Token": "admin", "OpenStack-API-Version": PL_VERSION}
            oc_pl_h = {"X-Auth-Token": oc_tok, "OpenStack-API-Version": PL_VERSION}
            t0 = time.monotonic()
            big_peer = fill_placement(pl_url, peer_pl_h, args.providers)
            t1 = time.monotonic()
            big_oc = fill_placement(f"{oc_base}/placement", oc_pl_h, args.providers)
            print(f"filled {args.providers} providers: placement {t1 - t0:.1f} s, "
                  f"overcast {time.monotonic() - t1:.1f} s", file=sys.stderr)
            peer = scenarios(ks_url, ks_tok, pl_url, peer_pl_h, big_peer)
            ours = scenarios(f"{oc_base}/identity/v3", oc_tok, f"{oc_base}/placement",
                             oc_pl_h, big_oc)
            oc_meter = CpuMeter([svc.roots["overcast"]])
            for (name, conns, purl, pkw), (_, _, ourl, okw) in zip(peer, ours, strict=True):
                peer_meter = CpuMeter([svc.roots["keystone" if "/v3" in purl
                                                 else "placement"]])
                probe(purl, **pkw)
                probe(ourl, **okw)
                load = os.getloadavg()[0]
                p = wrk(purl, conns=conns, seconds=args.seconds, meter=peer_meter, **pkw)
                o = wrk(ourl, conns=conns, seconds=args.seconds, meter=oc_meter, **okw)
                rows.append({"path": name, "connections": conns, "peer": p, "overcast": o,
                             "load": (load + os.getloadavg()[0]) / 2})
    except _Done:
        pass
    finally:
        for cleanup in cleanups:
            cleanup()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {where}")
    print(f"peers: {', '.join(PEER_PACKAGES + (NOVA_PACKAGES if args.nova else []))}; "
          f"{args.providers} providers each; {args.seconds:g} s per run")
    if rows:
        print_table(rows)
    if boot_table:
        print()
        print_boots(boot_table)
    print(json.dumps({"machine": where, "providers": args.providers, "rows": rows,
                      "boots": boot_table}, indent=1))


class _Done(Exception):
    """--boots-only: the Keystone and Placement rows are skipped."""


if __name__ == "__main__":
    main()
