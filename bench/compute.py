"""Benchmark: fake boots and server listing through the whole stack, over HTTP.

Starts a real `overcast up` (SQLite, in-process bus, conductor) whose local fake
agent simulates H hosts, and drives it over HTTP as a user would:

(b) boot throughput (servers/s to ACTIVE) and POST-to-ACTIVE latency p50/p95
    for N servers on H fake hosts, posted from 8 client threads;
(c) GET /servers/detail req/s with those N servers (limit 1000 and limit 100),
    at client concurrency 1 and 4.
(a) allocation candidates latency is bench/placement_candidates.py.

Prints a table and JSON.

    .venv/bin/python bench/compute.py [--servers 1000] [--hosts 100]
"""

from __future__ import annotations

import argparse
import json
import os
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
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from identity import free_port  # noqa: E402

IMAGE = "3b8b5d4e-6a2c-4f43-9f0e-2f1d7a0f5a11"


def start(data_dir: Path, port: int, hosts: int, *, env: dict[str, str] | None = None,
          test_image: bool = False, log: Path | None = None, timeout: float = 60
          ) -> subprocess.Popen[bytes]:
    """`overcast up` in the background (fake hosts and no dataplane unless `env` says
    otherwise), returned once its API answers."""
    env = {**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4", "OVERCAST_LOG_LEVEL": "warning",
           "OVERCAST_DATAPLANE": os.environ.get("OVERCAST_DATAPLANE", "none"),
           "OVERCAST_FAKE_HOSTS": str(hosts), **(env or {})}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the process's
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "overcast"), "up", "--data-dir", str(data_dir),
         "--port", str(port), "--no-user-clouds-yaml",
         *([] if test_image else ["--no-test-image"])],
        stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/identity/v3", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("overcast did not start")


def token(base: str, data_dir: Path) -> tuple[str, str]:
    auth = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"]["overcast"]["auth"]
    r = httpx.post(f"{base}/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"},
            "password": auth["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    r.raise_for_status()
    return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


def wait_hosts(base: str, hd: dict[str, str], hosts: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/compute/v2.1/os-hypervisors", headers=hd, timeout=30)
        if r.status_code == 200 and len(r.json()["hypervisors"]) >= hosts:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{hosts} fake hosts did not register")


def boot_all(base: str, hd: dict[str, str], servers: int, threads: int) -> dict[str, Any]:
    compute = f"{base}/compute/v2.1"
    posted: dict[str, float] = {}
    lock = threading.Lock()
    per_thread = servers // threads

    def poster(t: int) -> None:
        with httpx.Client(timeout=60) as c:
            for i in range(per_thread):
                t0 = time.perf_counter()
                r = c.post(f"{compute}/servers", headers=hd, json={"server": {
                    "name": f"b{t}-{i}", "flavorRef": "1", "imageRef": IMAGE,
                    "networks": "none"}})
                assert r.status_code == 202, r.text
                with lock:
                    posted[r.json()["server"]["id"]] = t0

    start = time.perf_counter()
    workers = [threading.Thread(target=poster, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    total = per_thread * threads
    active_at: dict[str, float] = {}
    with httpx.Client(timeout=60) as c:
        while len(active_at) < total:
            r = c.get(f"{compute}/servers", headers=hd,
                      params={"status": "ACTIVE", "limit": 1000})
            # Pages of ACTIVE servers: follow the links so none is missed.
            body = orjson.loads(r.content)
            seen = {s["id"] for s in body["servers"]}
            while body.get("servers_links"):
                r = c.get(body["servers_links"][0]["href"], headers=hd)
                body = orjson.loads(r.content)
                seen |= {s["id"] for s in body["servers"]}
            now = time.perf_counter()
            for uuid in seen:
                active_at.setdefault(uuid, now)
            errors = c.get(f"{compute}/servers", headers=hd, params={"status": "ERROR"})
            if orjson.loads(errors.content)["servers"]:
                raise RuntimeError(f"servers went to ERROR: {errors.text[:300]}")
            if now - start > 600:
                raise RuntimeError("boots did not finish in 10 minutes")
            time.sleep(1.0)
    for w in workers:
        w.join()
    elapsed = max(active_at.values()) - start
    lat = sorted((active_at[u] - posted[u]) * 1000 for u in posted)
    return {"servers": total, "seconds": elapsed, "boots_per_s": total / elapsed,
            "p50_ms": statistics.median(lat), "p95_ms": lat[int(len(lat) * 0.95) - 1]}


def listing(base: str, hd: dict[str, str], limit: int, expect: int, concurrency: int,
            seconds: float) -> dict[str, Any]:
    url = f"{base}/compute/v2.1/servers/detail"
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        local = []
        with httpx.Client(timeout=60) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.get(url, headers=hd, params={"limit": limit})
                assert r.status_code == 200 and len(orjson.loads(r.content)["servers"]) == \
                    min(limit, expect)
                local.append(time.perf_counter() - t0)
        with lock:
            lat.extend(local)

    t0 = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - t0
    lat.sort()
    return {"limit": limit, "concurrency": concurrency, "req_per_s": len(lat) / elapsed,
            "p50_ms": statistics.median(lat) * 1000,
            "p95_ms": lat[int(len(lat) * 0.95) - 1] * 1000}


def listing_wrk(base: str, hd: dict[str, str], limit: int, concurrency: int,
                seconds: float) -> dict[str, Any]:
    """The same with wrk (a C load generator), so the client costs the server no CPU."""
    headers = sum((["-H", f"{k}: {v}"] for k, v in hd.items()), [])
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(concurrency), "-d", f"{seconds:.0f}s", "--latency",
         *headers, f"{base}/compute/v2.1/servers/detail?limit={limit}"],
        capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return {"limit": limit, "concurrency": concurrency, "req_per_s": rate, "p50_ms": pct("50"),
            "p95_ms": pct("90"), "client": "wrk (p95 column is p90)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=8)
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="oc-bench-")) / "cloud"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(data_dir, port, args.hosts)
    try:
        tok, project = token(base, data_dir)
        hd = {"X-Auth-Token": tok, "OpenStack-API-Version": "compute 2.47"}
        wait_hosts(base, hd, args.hosts)
        r = httpx.put(f"{base}/compute/v2.1/os-quota-sets/{project}", headers=hd, json={
            "quota_set": {"instances": -1, "cores": -1, "ram": -1}})
        r.raise_for_status()
        boot = boot_all(base, hd, args.servers, args.threads)
        boot["hosts"] = args.hosts
        lists = [listing(base, hd, limit, boot["servers"], conc, args.seconds)
                 for limit in (1000, 100) for conc in (1, 4)]
        if shutil.which("wrk"):
            lists += [listing_wrk(base, hd, limit, conc, args.seconds)
                      for limit in (1000, 100) for conc in (1, 4)]
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"boots: {boot['servers']} servers on {boot['hosts']} fake hosts in "
          f"{boot['seconds']:.1f} s (overcast up over HTTP, SQLite)")
    print(f"{'metric':<48}{'value':>10}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'boot throughput (servers/s)':<48}{boot['boots_per_s']:>10.1f}"
          f"{boot['p50_ms']:>10.0f}{boot['p95_ms']:>10.0f}")
    for x in lists:
        label = (f"GET /servers/detail limit={x['limit']} c={x['concurrency']} "
                 f"{'wrk' if 'client' in x else 'httpx'}")
        print(f"{label:<48}{x['req_per_s']:>10.1f}{x['p50_ms']:>10.1f}{x['p95_ms']:>10.1f}")
    print(json.dumps({"boot": boot, "servers_detail": lists}, indent=1))


if __name__ == "__main__":
    main()
