"""Benchmark: the process model of `overcast up` (issue 17, part 1).

For each configuration (API workers x ASGI server stack) it starts a real
`overcast up` (SQLite, fake driver on H hosts, no dataplane) and measures, with wrk
(C, one thread) so the client eats little of the 2 cores it measures:

- the identity version document (GET /identity/v3), 8 connections;
- token validation (GET /identity/v3/auth/tokens with X-Subject-Token), 1 and 8
  connections;

and, over HTTP as users would, fake boots:

- serial: one client boots one server after another and polls it every 5 ms:
  POST-to-ACTIVE p50/p95;
- bursts of 20 and 100 servers posted at once by 20 clients, watched by one lister
  (quiet), and again with each of the 20 clients polling its servers every 20 ms
  (the load that once starved the conductor): wall time until all are ACTIVE, p50,
  and how many went to ERROR (must be 0).

Then the local bus (bus.local): cast throughput and call round-trip latency
between two processes, against the in-process MemoryBus.

Targets (issue 17): version document >= 3,500/s (2x Keystone's 1,750/s); token
validation >= 3,000/s with 8 clients; boots <= 50 ms p50, 20 in <= 0.5 s, 100 in
<= 2 s, also with 20 clients polling every 20 ms, and never an ERROR.

    .venv/bin/python bench/process_model.py [--workers 1,2] [--stacks auto,h11]
        [--seconds 5] [--hosts 10] [--skip-boots] [--skip-bus]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
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
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import start, token, wait_hosts  # noqa: E402
from identity import free_port  # noqa: E402

STACKS = {"auto": {"OVERCAST_API_HTTP": "httptools", "OVERCAST_API_LOOP": "uvloop"},
          "h11": {"OVERCAST_API_HTTP": "h11", "OVERCAST_API_LOOP": "asyncio"}}


def wrk(url: str, headers: dict[str, str], conns: int, seconds: float) -> dict[str, float]:
    hargs = sum((["-H", f"{k}: {v}"] for k, v in headers.items()), [])
    out = subprocess.run(["wrk", "-t", "1", "-c", str(conns), "-d", f"{seconds:.0f}s",
                          "--latency", *hargs, url],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return {"req_per_s": rate, "p50_ms": pct("50"), "p99_ms": pct("99")}


def make_image(base: str, hd: dict[str, str]) -> str:
    img = httpx.post(f"{base}/image/v2/images", headers=hd, json={
        "name": "bench", "disk_format": "raw", "container_format": "bare"}).json()
    r = httpx.put(f"{base}/image/v2/images/{img['id']}/file", content=b"\0" * 4096,
                  headers={**hd, "Content-Type": "application/octet-stream"})
    r.raise_for_status()
    return str(img["id"])


def _boot(c: httpx.Client, hd: dict[str, str], image: str, name: str) -> str:
    r = c.post("/compute/v2.1/servers", headers=hd, json={"server": {
        "name": name, "flavorRef": "1", "imageRef": image, "networks": "none"}})
    assert r.status_code == 202, r.text
    return str(r.json()["server"]["id"])


def _status(c: httpx.Client, hd: dict[str, str], uuid: str) -> str:
    return str(c.get(f"/compute/v2.1/servers/{uuid}", headers=hd).json()["server"]["status"])


def serial(base: str, hd: dict[str, str], image: str, n: int) -> dict[str, Any]:
    lat = []
    with httpx.Client(base_url=base, timeout=60) as c:
        for i in range(n):
            t0 = time.perf_counter()
            uuid = _boot(c, hd, image, f"s{i}")
            while (st := _status(c, hd, uuid)) not in ("ACTIVE", "ERROR"):
                time.sleep(0.005)
            if st == "ERROR":
                raise RuntimeError(f"server {uuid} went to ERROR")
            lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    return {"boots": n, "p50_ms": statistics.median(lat), "p95_ms": lat[int(n * 0.95) - 1]}


def burst(base: str, hd: dict[str, str], image: str, n: int, clients: int,
          poll: float | None) -> dict[str, Any]:
    """`n` servers posted at once by `clients` threads; with `poll`, each thread polls
    its own servers every `poll` seconds, else one lister watches them all."""
    posted: dict[str, float] = {}
    done: dict[str, tuple[float, str]] = {}
    lock = threading.Lock()
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    gate = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        mine = []
        with httpx.Client(base_url=base, timeout=120) as c:
            gate.wait()
            for i in range(share[k]):
                t0 = time.perf_counter()
                uuid = _boot(c, hd, image, f"b{k}-{i}")
                with lock:
                    posted[uuid] = t0
                mine.append(uuid)
            while poll is not None and mine:
                for uuid in list(mine):
                    st = _status(c, hd, uuid)
                    if st in ("ACTIVE", "ERROR"):
                        with lock:
                            done[uuid] = (time.perf_counter(), st)
                        mine.remove(uuid)
                time.sleep(poll)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    t_start = time.perf_counter()
    if poll is None:
        with httpx.Client(base_url=base, timeout=120) as c:
            while len(done) < n:
                for st in ("ACTIVE", "ERROR"):
                    r = c.get("/compute/v2.1/servers", headers=hd,
                              params={"status": st, "limit": 1000})
                    now = time.perf_counter()
                    for s in r.json()["servers"]:
                        with lock:
                            if s["id"] in posted and s["id"] not in done:
                                done[s["id"]] = (now, st)
                if time.perf_counter() - t_start > 600:
                    raise RuntimeError("the burst did not finish in 10 minutes")
                time.sleep(0.05)
    for t in threads:
        t.join()
    lat = sorted((done[u][0] - posted[u]) * 1000 for u in posted)
    return {"servers": n, "clients": clients, "poll_ms": None if poll is None else poll * 1000,
            "wall_s": max(d[0] for d in done.values()) - t_start,
            "p50_ms": statistics.median(lat),
            "errors": sum(1 for d in done.values() if d[1] == "ERROR")}


def cleanup(base: str, hd: dict[str, str]) -> None:
    with httpx.Client(base_url=base, timeout=120) as c:
        for s in c.get("/compute/v2.1/servers", headers=hd,
                       params={"limit": 1000}).json()["servers"]:
            c.delete(f"/compute/v2.1/servers/{s['id']}", headers=hd)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and c.get(
                "/compute/v2.1/servers", headers=hd).json()["servers"]:
            time.sleep(0.2)


def measure(workers: int, stack: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="oc-procs-")) / "cloud"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**STACKS[stack], "OVERCAST_API_WORKERS": str(workers),
           "OVERCAST_AGENT_DRIVER": "fake", "OVERCAST_DEFAULT_NETWORKS": "false"}
    proc = start(data_dir, port, args.hosts, env=env, timeout=300)
    row: dict[str, Any] = {"workers": workers, "stack": stack}
    try:
        tok, project = token(base, data_dir)
        hd = {"X-Auth-Token": tok}
        time.sleep(2)  # every worker up (the port answers once one is)
        row["version_doc"] = wrk(f"{base}/identity/v3", {}, 8, args.seconds)
        for conns in (1, 8):
            row[f"validate_c{conns}"] = wrk(f"{base}/identity/v3/auth/tokens",
                                            {**hd, "X-Subject-Token": tok}, conns, args.seconds)
        if not args.skip_boots:
            hd = {**hd, "OpenStack-API-Version": "compute 2.37"}
            wait_hosts(base, hd, args.hosts)
            httpx.put(f"{base}/compute/v2.1/os-quota-sets/{project}", headers=hd, json={
                "quota_set": {"instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
            image = make_image(base, hd)
            row["serial"] = serial(base, hd, image, 20)
            cleanup(base, hd)
            for n in (20, 100):
                for poll in (None, 0.02):
                    row[f"burst{n}_{'poll' if poll else 'quiet'}"] = burst(
                        base, hd, image, n, 20, poll)
                    cleanup(base, hd)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    return row


def measure_granian(workers: int, granian: str, args: argparse.Namespace) -> dict[str, Any]:
    """The same identity load served by granian (`--granian PATH`, installed apart:
    it is no dependency) with `workers` processes building the API role's app
    (bench/asgi_api.py) on the data directory of a one-process `overcast up`."""
    data_dir = Path(tempfile.mkdtemp(prefix="oc-granian-")) / "cloud"
    port, gport = free_port(), free_port()
    proc = start(data_dir, port, 1, env={"OVERCAST_API_WORKERS": "1",
                                         "OVERCAST_LOCAL_AGENT": "false"}, timeout=300)
    here = Path(__file__).resolve().parent
    env = {**os.environ, "OVERCAST_DATA_DIR": str(data_dir), "OVERCAST_LOG_LEVEL": "warning",
           "PYTHONPATH": os.pathsep.join([str(here), *sys.path[1:]])}
    gran = subprocess.Popen([granian, "--interface", "asgi", "--factory", "--host",
                             "127.0.0.1", "--port", str(gport), "--workers", str(workers),
                             "--loop", "uvloop", "--log-level", "warning", "asgi_api:make"],
                            env=env, cwd=here, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    row: dict[str, Any] = {"workers": workers, "stack": "granian"}
    try:
        base = f"http://127.0.0.1:{gport}"
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{base}/identity/v3", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or gran.poll() is not None:
                raise RuntimeError("granian did not serve")
            time.sleep(0.5)
        time.sleep(2)
        tok, _project = token(base, data_dir)
        hd = {"X-Auth-Token": tok, "X-Subject-Token": tok}
        row["version_doc"] = wrk(f"{base}/identity/v3", {}, 8, args.seconds)
        for conns in (1, 8):
            row[f"validate_c{conns}"] = wrk(f"{base}/identity/v3/auth/tokens", hd, conns,
                                            args.seconds)
    finally:
        for p in (gran, proc):
            p.terminate()
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    return row


# ------------------------------------------------------------------ the bus
def _hub_process(path: str, ready: Any) -> None:
    from overcast.bus.local import LocalHub

    async def main() -> None:
        hub = LocalHub(Path(path))

        async def handler(msg: Any) -> str:
            return "ok"

        await hub.subscribe("t", handler)
        await hub.start()
        ready.set()
        await asyncio.sleep(3600)

    asyncio.run(main())


async def _bus_numbers(bus: Any, casts: int, calls: int) -> dict[str, float]:
    from overcast.bus.messages import InstanceState

    msg = InstanceState(uuid="0" * 36, vm_state="active", power_state=1)
    t0 = time.perf_counter()
    for _ in range(casts):
        await bus.cast("t", msg)
    await bus.call("t", msg)  # every cast before it was handled (one consumer, in order)
    cast_rate = casts / (time.perf_counter() - t0)
    lat = []
    for _ in range(calls):
        t1 = time.perf_counter()
        await bus.call("t", msg)
        lat.append((time.perf_counter() - t1) * 1e6)
    lat.sort()
    return {"casts_per_s": cast_rate, "call_p50_us": statistics.median(lat),
            "call_p95_us": lat[int(calls * 0.95) - 1]}


def bus_bench(casts: int = 20000, calls: int = 2000) -> dict[str, Any]:
    from overcast.bus import MemoryBus
    from overcast.bus.local import LocalBusClient

    async def memory() -> dict[str, float]:
        bus = MemoryBus()

        async def handler(msg: Any) -> str:
            return "ok"

        await bus.subscribe("t", handler)
        try:
            return await _bus_numbers(bus, casts, calls)
        finally:
            await bus.stop()

    out = {"memory (one process)": asyncio.run(memory())}
    tmp = Path(tempfile.mkdtemp(prefix="oc-bus-"))
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    hub = ctx.Process(target=_hub_process, args=(str(tmp / "bus.sock"), ready), daemon=True)
    hub.start()
    ready.wait(60)

    async def local() -> dict[str, float]:
        client = LocalBusClient(tmp / "bus.sock")
        await client.start()
        try:
            return await _bus_numbers(client, casts, calls)
        finally:
            await client.stop()

    try:
        out["local hub (two processes)"] = asyncio.run(local())
    finally:
        hub.terminate()
        hub.join()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, load " \
           f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", default=f"1,{os.cpu_count() or 2}")
    ap.add_argument("--stacks", default="auto,h11")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--skip-boots", action="store_true")
    ap.add_argument("--skip-bus", action="store_true")
    ap.add_argument("--granian", default="", help="a granian executable to compare with")
    args = ap.parse_args()
    rows = [measure(int(w), stack, args) for stack in args.stacks.split(",")
            for w in args.workers.split(",")]
    if args.granian:
        rows += [measure_granian(int(w), args.granian, args) for w in args.workers.split(",")]
    bus = {} if args.skip_bus else bus_bench()
    print(f"machine: {machine()}")
    print(f"{'workers':>7} {'stack':<18}{'version doc/s':>14}{'validate c1/s':>14}"
          f"{'validate c8/s':>14}{'c8 p99 ms':>10}")
    for r in rows:
        stack = {"auto": "httptools+uvloop", "h11": "h11+asyncio"}.get(r["stack"], r["stack"])
        print(f"{r['workers']:>7} {stack:<18}{r['version_doc']['req_per_s']:>14.0f}"
              f"{r['validate_c1']['req_per_s']:>14.0f}{r['validate_c8']['req_per_s']:>14.0f}"
              f"{r['validate_c8']['p99_ms']:>10.1f}")
    if not args.skip_boots:
        print(f"\n{'workers':>7} {'stack':<8}{'fake boots':<34}{'wall s':>8}{'p50 ms':>8}"
              f"{'ERROR':>6}")
        for r in rows:
            if "serial" not in r:
                continue
            s = r["serial"]
            print(f"{r['workers']:>7} {r['stack']:<8}{'serial x' + str(s['boots']):<34}"
                  f"{'':>8}{s['p50_ms']:>8.0f}{0:>6}")
            for key in ("burst20_quiet", "burst20_poll", "burst100_quiet", "burst100_poll"):
                b = r[key]
                label = (f"burst of {b['servers']} ({b['clients']} clients"
                         + (", polling 20 ms)" if b["poll_ms"] else ")"))
                print(f"{'':>7} {'':<8}{label:<34}{b['wall_s']:>8.2f}{b['p50_ms']:>8.0f}"
                      f"{b['errors']:>6}")
    if bus:
        print(f"\n{'bus':<28}{'casts/s':>10}{'call p50 us':>12}{'call p95 us':>12}")
        for name, b in bus.items():
            print(f"{name:<28}{b['casts_per_s']:>10.0f}{b['call_p50_us']:>12.0f}"
                  f"{b['call_p95_us']:>12.0f}")
    print(json.dumps({"machine": machine(), "rows": rows, "bus": bus}, indent=1))


if __name__ == "__main__":
    main()
