"""Benchmark: a control plane and 1,000 fake hosts over RabbitMQ on one machine (issue 18).

It starts, each in its own processes:

- a control plane: `overcast up --no-agent` on PostgreSQL (a database of its own,
  made here and dropped at the end) and RabbitMQ (a bus namespace of its own: the
  queues are `<namespace>.<topic>`, deleted at the end), with its API workers;
- HOSTS fake hosts in AGENT_PROCS processes (`overcast agent --driver fake --count K`),

waits until every host is up in `os-hypervisors` and has its inventory in
Placement, and measures:

- the control plane's CPU at idle (heartbeats, reconciles, periodic tasks): utime +
  stime from /proc of the `overcast up` process and its workers over IDLE seconds, as
  % of one core; beside it, the same for the agent processes and this database's
  PostgreSQL backends, and the broker's (shared with whatever else uses it);
- a burst of BURST boots posted at once by 20 clients (one lister polls every 200 ms):
  POST->ACTIVE p50 and max, the wall time until all are ACTIVE, how many went to
  ERROR; and the scheduling latency: POST->host chosen as seen by the poll, and the
  conductor's own time per instance (its log: "scheduled ... in N ms");
- `openstack hypervisor list` and `openstack server list --all-projects` with the
  real CLI (median of 3, so the client's own start-up is in it), and the API call
  under each (median of 5).

Targets (issue 18): idle control plane <= 10% of one core with 1,000 hosts; a burst
of 100 boots all ACTIVE within 5 s, p50 <= 1 s.

    .venv/bin/python bench/scale.py [--hosts 1000] [--agent-procs 4] [--idle 60]
        [--burst 100] [--workers 2] [--profile SECONDS]

`--profile S` records the control plane's engine with py-spy for S seconds of idle
and of the burst (collapsed stacks, `idle.txt` and `burst.txt` in the data
directory, kept with `--keep`; `bench/stacks.py FILE` sums them per function).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")
COMPUTE = "/compute/v2.1"


# ------------------------------------------------------------------ processes
def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (those gone count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def descendants(root: int) -> list[int]:
    """`root` and every process under it."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def broker_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "beam.smp":
                    out.append(int(d.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return out


def pg_backends(admin_url: str, db: str) -> list[int]:
    with psycopg.connect(admin_url, autocommit=True) as c:
        return [r[0] for r in c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (db,))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"cpus": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem / 2**20, 1),
            "python": platform.python_version(), "kvm": Path("/dev/kvm").exists()}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ------------------------------------------------------------------ the cloud
class Cloud:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tag = f"{args.prefix}{uuid.uuid4().hex[:8]}"
        self.dir = Path(tempfile.mkdtemp(prefix="overcast-scale-"))
        self.port = args.port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = self.tag
        self.admin_pg = args.pg_url.rstrip("/") + "/postgres"
        db_url = args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
        self.env = {**os.environ, "OVERCAST_DATABASE_URL": f"{db_url.rstrip('/')}/{self.db}",
                    "OVERCAST_BUS_URL": args.rabbit_url, "OVERCAST_BUS_NAMESPACE": self.tag,
                    "OVERCAST_BCRYPT_ROUNDS": "4", "OVERCAST_LOG_LEVEL": "info",
                    "OVERCAST_DATAPLANE": "none", "OVERCAST_LOCAL_STORAGE": "false",
                    "OVERCAST_API_WORKERS": str(args.workers)}
        self.up: subprocess.Popen[bytes] | None = None
        self.agents: list[subprocess.Popen[bytes]] = []
        self.hosts: list[str] = []
        self.headers: dict[str, str] = {}

    def start(self) -> float:
        with psycopg.connect(self.admin_pg, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{self.db}"')
        log = open(self.dir / "up.log", "ab")  # noqa: SIM115 - the process's
        t0 = time.monotonic()
        self.up = subprocess.Popen(
            [str(BIN / "overcast"), "up", "--data-dir", str(self.dir / "cp"), "--port",
             str(self.port), "--no-user-clouds-yaml", "--no-agent", "--no-test-image",
             "--no-default-networks"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait(lambda: httpx.get(f"{self.base}/identity/v3", timeout=2).status_code == 200,
                   120, "the control plane did not start")
        self.headers = {"X-Auth-Token": self.token()}
        n, k = self.args.hosts, self.args.agent_procs
        for i in range(k):
            count = n // k + (1 if i < n % k else 0)
            self.hosts += [f"{self.tag}-a{i}-{j}" for j in range(count)] if count > 1 \
                else [f"{self.tag}-a{i}"]
            alog = open(self.dir / f"agent{i}.log", "ab")  # noqa: SIM115
            self.agents.append(subprocess.Popen(
                [str(BIN / "overcast"), "agent", "--host", f"{self.tag}-a{i}", "--count",
                 str(count), "--data-dir", str(self.dir / f"agent{i}")],
                env=self.env, stdout=alog, stderr=subprocess.STDOUT, start_new_session=True))
        self._wait(self._all_hosts_up, 600, "the hosts did not all come up")
        return time.monotonic() - t0

    def _wait(self, ok: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in [self.up, *self.agents]:
                if p is not None and p.poll() is not None:
                    raise RuntimeError(f"{what}: a process exited ({p.args})")
            try:
                if ok():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise RuntimeError(what)

    def token(self) -> str:
        auth = yaml.safe_load((self.dir / "cp" / "clouds.yaml").read_text()
                              )["clouds"]["overcast"]["auth"]
        r = httpx.post(f"{self.base}/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"name": "Default"},
                "password": auth["password"]}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
        r.raise_for_status()
        self.project = r.json()["token"]["project"]["id"]
        return str(r.headers["X-Subject-Token"])

    def _all_hosts_up(self) -> bool:
        svcs = httpx.get(f"{self.base}{COMPUTE}/os-services", headers=self.headers,
                         params={"binary": "nova-compute"}, timeout=60).json()["services"]
        up = sum(1 for s in svcs if s["state"] == "up")
        ph = {**self.headers, "OpenStack-API-Version": "placement 1.4"}
        rps = httpx.get(f"{self.base}/placement/resource_providers", headers=ph, timeout=60,
                        params={"resources": "VCPU:1,MEMORY_MB:512"}).json()
        have = len(rps["resource_providers"])
        print(f"  hosts up {up}/{len(self.hosts)}, with inventory {have}", file=sys.stderr)
        return up >= len(self.hosts) and have >= len(self.hosts)

    def control_plane_pids(self) -> list[int]:
        assert self.up is not None
        return descendants(self.up.pid)

    def agent_pids(self) -> list[int]:
        return [pid for a in self.agents for pid in descendants(a.pid)]

    def stop(self) -> None:
        import signal

        for p in [*self.agents, self.up]:
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in [*self.agents, self.up]:
            if p is not None:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        from overcast.bus.rabbit import RabbitBus

        async def drop_queues() -> None:
            bus = RabbitBus(self.args.rabbit_url, self.tag)
            await bus.delete_topics(["conductor", "conductor.reports", "network", "volume",
                                     *(f"agent.{h}" for h in self.hosts)])
            await bus.stop()

        try:
            asyncio.run(drop_queues())
        except Exception as exc:  # noqa: BLE001 - report, go on cleaning
            print(f"could not delete the queues of {self.tag}: {exc}", file=sys.stderr)
        with psycopg.connect(self.admin_pg, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------ measures
def idle_cpu(cloud: Cloud, seconds: float) -> dict[str, float]:
    cp, ag = cloud.control_plane_pids(), cloud.agent_pids()
    pg, br = pg_backends(cloud.admin_pg, cloud.db), broker_pids()
    before = [cpu_seconds(p) for p in (cp, ag, pg, br)]
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    after = [cpu_seconds(p) for p in (cp, ag, pg, br)]
    pct = [100 * (a - b) / wall for a, b in zip(after, before, strict=True)]
    return {"seconds": round(wall, 1), "control_plane_pct": round(pct[0], 1),
            "agents_pct": round(pct[1], 1), "postgres_pct": round(pct[2], 1),
            "broker_pct": round(pct[3], 1), "loadavg": loadavg()}


def burst(cloud: Cloud, image: str, n: int, clients: int = 20) -> dict[str, Any]:
    """`n` servers posted at once by `clients` threads, one lister polling every 200 ms."""
    hd, base = cloud.headers, cloud.base
    posted: dict[str, float] = {}
    placed: dict[str, float] = {}
    done: dict[str, tuple[float, str]] = {}
    lock = threading.Lock()
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    gate = threading.Barrier(clients + 1)
    failures: list[str] = []

    post_hd = {**hd, "X-OpenStack-Nova-API-Version": "2.37"}  # networks "none"

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            gate.wait()
            for i in range(share[k]):
                t0 = time.perf_counter()
                r = c.post(f"{COMPUTE}/servers", headers=post_hd, json={"server": {
                    "name": f"b{k}-{i}", "flavorRef": "1", "imageRef": image,
                    "networks": "none"}})
                if r.status_code != 202:
                    failures.append(r.text)
                    continue
                with lock:
                    posted[r.json()["server"]["id"]] = t0

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    t_start = time.perf_counter()
    ahd = {**hd, "X-OpenStack-Nova-API-Version": "2.3"}
    with httpx.Client(base_url=base, timeout=120) as c:
        while len(done) < n - len(failures):
            r = c.get(f"{COMPUTE}/servers/detail", headers=ahd,
                      params={"limit": 1000, "all_tenants": 1})
            now = time.perf_counter()
            with lock:
                for s in r.json()["servers"]:
                    sid = s["id"]
                    if sid not in posted:
                        continue
                    if s.get("OS-EXT-SRV-ATTR:host") and sid not in placed:
                        placed[sid] = now
                    if s["status"] in ("ACTIVE", "ERROR") and sid not in done:
                        done[sid] = (now, s["status"])
            if time.perf_counter() - t_start > 600:
                raise RuntimeError("the burst did not finish in 10 minutes")
            time.sleep(0.2)
    for t in threads:
        t.join()
    if not posted:
        raise RuntimeError(f"every boot was refused: {failures[0][:500]}")
    lat = sorted(done[u][0] - posted[u] for u in posted)
    sched = sorted(placed.get(u, done[u][0]) - posted[u] for u in posted)
    post_end = max(posted.values()) - t_start if posted else 0.0
    return {"servers": n, "clients": clients, "post_errors": len(failures),
            "active": sum(1 for d in done.values() if d[1] == "ACTIVE"),
            "error": sum(1 for d in done.values() if d[1] == "ERROR"),
            "wall_s": round(max(d[0] for d in done.values()) - t_start, 2),
            "last_post_s": round(post_end, 2),
            "p50_s": round(statistics.median(lat), 3), "max_s": round(lat[-1], 3),
            "sched_p50_s": round(statistics.median(sched), 3),
            "sched_max_s": round(sched[-1], 3), "loadavg": loadavg(),
            "fault": failures[0][:300] if failures else None}


def conductor_times(cloud: Cloud) -> dict[str, float]:
    """The conductor's own time per scheduled instance, from its log."""
    ms = [float(x) for x in re.findall(r"scheduled \S+ on \S+ in ([\d.]+) ms",
                                       (cloud.dir / "cp" / "logs" / "overcast.log").read_text(
                                           errors="replace"))]
    if not ms:
        return {}
    ms.sort()
    return {"count": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "max_ms": round(ms[-1], 1)}


def cli_time(cloud: Cloud, *argv: str, runs: int = 3) -> dict[str, Any]:
    env = {**cloud.env, "OS_CLIENT_CONFIG_FILE": str(cloud.dir / "cp" / "clouds.yaml"),
           "OS_CLOUD": "overcast"}
    times, rows = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([str(BIN / "openstack"), *argv, "-f", "value", "-c", "ID"],
                             env=env, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - t0)
        rows = len(out.splitlines())
    # what the client asks of the APIs (its --debug log shows each request): the
    # rest of its time is its own (start-up, building a resource object per row)
    debug = subprocess.run([str(BIN / "openstack"), "--debug", *argv, "-f", "value", "-c",
                            "ID"], env=env, capture_output=True, text=True, check=True).stderr
    requests = len(re.findall(r"^REQ: curl", debug, re.M))
    return {"median_s": round(statistics.median(times), 2), "rows": rows,
            "requests": requests}


def cli_startup(runs: int = 3) -> dict[str, Any]:
    """`openstack --version`: the client's own start-up, in every CLI figure above."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "openstack"), "--version"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 2), "rows": 0}


def api_time(cloud: Cloud, path: str, params: dict[str, Any], runs: int = 5
             ) -> dict[str, Any]:
    times = []
    with httpx.Client(base_url=cloud.base, timeout=120) as c:
        for _ in range(runs):
            t0 = time.perf_counter()
            r = c.get(path, headers=cloud.headers, params=params)
            r.raise_for_status()
            times.append(time.perf_counter() - t0)
    return {"median_ms": round(1000 * statistics.median(times), 1)}


def make_image(cloud: Cloud) -> str:
    hd = cloud.headers
    img = httpx.post(f"{cloud.base}/image/v2/images", headers=hd, json={
        "name": "scale", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"}).json()
    httpx.put(f"{cloud.base}/image/v2/images/{img['id']}/file", content=b"\0" * 4096,
              headers={**hd, "Content-Type": "application/octet-stream"}).raise_for_status()
    # the burst is the admin's: no quota in the way
    httpx.put(f"{cloud.base}{COMPUTE}/os-quota-sets/{cloud.project}", headers=hd, json={
        "quota_set": {"instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
    return str(img["id"])


def profile(cloud: Cloud, seconds: float, name: str) -> Path | None:
    """py-spy on the engine (the `overcast up` process) for `seconds`, in the background."""
    spy = BIN / "py-spy"
    if not spy.exists() or cloud.up is None:
        return None
    out = cloud.dir / f"{name}.txt"
    subprocess.Popen([str(spy), "record", "-p", str(cloud.up.pid), "-d", str(int(seconds)),
                      "-o", str(out), "-r", "100", "--nonblocking", "--format", "raw"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--agent-procs", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2, help="API workers of `overcast up`")
    ap.add_argument("--idle", type=float, default=60, help="seconds of idle measured")
    ap.add_argument("--settle", type=float, default=30,
                    help="seconds to wait after the hosts are up before measuring idle")
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--profile", type=float, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--prefix", default="scale",
                    help="start of the database's name and the bus namespace (a random tail)")
    ap.add_argument("--port", type=int, default=0, help="the API's port (default: a free one)")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--rabbit-url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = ap.parse_args()
    cloud = Cloud(args)
    result: dict[str, Any] = {"machine": machine(), "hosts": args.hosts,
                              "agent_procs": args.agent_procs, "workers": args.workers,
                              "loadavg_start": loadavg()}
    try:
        result["all_up_s"] = round(cloud.start(), 1)
        print(f"  {args.hosts} hosts up in {result['all_up_s']} s; settling "
              f"{args.settle:.0f} s", file=sys.stderr)
        time.sleep(args.settle)
        if args.profile:
            profile(cloud, args.profile, "idle")
        result["idle"] = idle_cpu(cloud, args.idle)
        print(f"  idle: {result['idle']}", file=sys.stderr)
        image = make_image(cloud)
        if args.profile:
            profile(cloud, args.profile, "burst")
        assert cloud.up is not None
        cpu0, eng0 = cpu_seconds(cloud.control_plane_pids()), cpu_seconds([cloud.up.pid])
        result["burst"] = burst(cloud, image, args.burst)
        result["burst"]["control_plane_cpu_s"] = round(
            cpu_seconds(cloud.control_plane_pids()) - cpu0, 1)
        result["burst"]["engine_cpu_s"] = round(cpu_seconds([cloud.up.pid]) - eng0, 1)
        result["conductor"] = conductor_times(cloud)
        print(f"  burst: {result['burst']}", file=sys.stderr)
        result["cli"] = {
            "hypervisor list": cli_time(cloud, "hypervisor", "list"),
            "server list --all-projects": cli_time(cloud, "server", "list", "--all-projects"),
            "--version (start-up alone)": cli_startup(),
        }
        result["api"] = {
            "GET os-hypervisors/detail": api_time(cloud, f"{COMPUTE}/os-hypervisors/detail",
                                                  {}),
            "GET servers/detail (all)": api_time(cloud, f"{COMPUTE}/servers/detail",
                                                 {"all_tenants": 1}),
        }
    finally:
        result["loadavg_end"] = loadavg()
        cloud.stop()
        if args.keep:
            print(f"data kept in {cloud.dir}", file=sys.stderr)
    report(result)


def report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['mem_gib']} GiB, KVM "
          f"{'yes' if m['kvm'] else 'no'}, Python {m['python']}; load average "
          f"{r['loadavg_start']} at start, {r['loadavg_end']} at end")
    print(f"{r['hosts']} fake hosts in {r['agent_procs']} agent processes; control plane "
          f"with {r['workers']} API workers; PostgreSQL + RabbitMQ; all up in "
          f"{r.get('all_up_s', '-')} s\n")
    rows: list[tuple[str, str, str]] = []
    if "idle" in r:
        i = r["idle"]
        rows += [(f"idle control plane CPU ({i['seconds']:.0f} s, load {i['loadavg']})",
                  f"{i['control_plane_pct']}% of a core", "<= 10%"),
                 ("  agent processes", f"{i['agents_pct']}% of a core", ""),
                 ("  PostgreSQL backends of this cloud", f"{i['postgres_pct']}% of a core", ""),
                 ("  RabbitMQ (shared broker)", f"{i['broker_pct']}% of a core", "")]
    if "burst" in r:
        b = r["burst"]
        rows += [(f"burst of {b['servers']} boots (load {b['loadavg']})",
                  f"{b['active']} ACTIVE, {b['error']} ERROR, {b['post_errors']} refused",
                  "all ACTIVE"),
                 ("  all ACTIVE after", f"{b['wall_s']} s", "<= 5 s"),
                 ("  POST->ACTIVE p50 / max", f"{b['p50_s']} s / {b['max_s']} s", "p50 <= 1 s"),
                 ("  POST->host chosen p50 / max", f"{b['sched_p50_s']} s / {b['sched_max_s']} s",
                  ""),
                 ("  control plane CPU during the burst (engine)",
                  f"{b['control_plane_cpu_s']} s ({b['engine_cpu_s']} s)", "")]
    if r.get("conductor"):
        c = r["conductor"]
        rows.append(("  conductor: schedule one instance p50 / max",
                     f"{c['p50_ms']} ms / {c['max_ms']} ms", ""))
    for name, t in r.get("cli", {}).items():
        asked = f", {t['requests']} requests" if "requests" in t else ""
        rows.append((f"openstack {name}", f"{t['median_s']} s ({t['rows']} rows{asked})", ""))
    for name, t in r.get("api", {}).items():
        rows.append((f"  {name}", f"{t['median_ms']} ms", ""))
    width = max(len(a) for a, _, _ in rows) + 2
    print(f"{'measure':<{width}}{'result':<36}target")
    for a, b, c in rows:
        print(f"{a:<{width}}{b:<36}{c}")
    print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
