"""Benchmark: GET /allocation_candidates latency at 1,000 and 10,000 providers.

Builds an in-process cloud (SQLite by default, or --database-url), fills it
with N compute-node providers (VCPU/MEMORY_MB/DISK_GB inventories, a trait on
every tenth, some allocations), then times the HTTP request through the full
ASGI stack (auth, microversion, SQL, shaping). Prints a table and JSON: wall
p50/p95 and the CPU the process spent per request (time.process_time, every
thread: the load-independent figure on a shared machine; it includes the test
client's own share). The heap is settled (gc.freeze) after filling, as a serving
worker does at start. Summaries are cached per provider, so the runs after the
first measure the steady state of a scheduler asking again and again.

    .venv/bin/python bench/placement_candidates.py [--sizes 1000 10000] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from overcast.cloud import init_cloud
from overcast.config import load_settings
from overcast.placement import models as m
from overcast.serve import settle_heap


def populate(app: Any, n: int) -> None:
    db = app.state.db
    with db.session() as s:
        rows = [{"uuid": str(uuid.uuid4()), "name": f"cn{i}", "generation": 1}
                for i in range(n)]
        s.execute(insert(m.Provider), rows)
        s.flush()
        ids = [p.id for p in s.query(m.Provider).order_by(m.Provider.id)]
        s.query(m.Provider).update({m.Provider.root_id: m.Provider.id})
        inv = []
        for pid in ids:
            inv += [{"provider_id": pid, "resource_class": "VCPU", "total": 16, "reserved": 0,
                     "min_unit": 1, "max_unit": 16, "step_size": 1, "allocation_ratio": 4.0},
                    {"provider_id": pid, "resource_class": "MEMORY_MB", "total": 65536,
                     "reserved": 512, "min_unit": 1, "max_unit": 65536, "step_size": 1,
                     "allocation_ratio": 1.5},
                    {"provider_id": pid, "resource_class": "DISK_GB", "total": 1000,
                     "reserved": 0, "min_unit": 1, "max_unit": 1000, "step_size": 1,
                     "allocation_ratio": 1.0}]
        s.execute(insert(m.Inventory), inv)
        s.execute(insert(m.ProviderTrait), [{"provider_id": pid, "trait": "HW_CPU_X86_AVX2"}
                                            for pid in ids[::10]])
        allocs = []
        for pid in ids[::3]:
            c = str(uuid.uuid4())
            allocs += [{"provider_id": pid, "consumer_id": c, "resource_class": "VCPU",
                        "used": 4},
                       {"provider_id": pid, "consumer_id": c, "resource_class": "MEMORY_MB",
                        "used": 4096}]
        s.execute(insert(m.Allocation), allocs)


def measure(client: TestClient, headers: dict[str, str], params: dict[str, str],
            runs: int) -> dict[str, float]:
    times = []
    for _ in range(5):
        client.get("/placement/allocation_candidates", headers=headers, params=params)
    cpu0 = time.process_time()
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get("/placement/allocation_candidates", headers=headers, params=params)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    cpu = (time.process_time() - cpu0) * 1000 / runs
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1],
            "cpu_ms": cpu, "candidates": len(r.json()["allocation_requests"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    results = []
    for n in args.sizes:
        settings = load_settings(data_dir=Path(tempfile.mkdtemp()) / "c", environ={},
                                 bcrypt_rounds=4, merge_user_clouds_yaml=False,
                                 database_url=args.database_url or None)
        info = init_cloud(settings)
        populate(info.app, n)
        settle_heap()
        with TestClient(info.app) as client:
            tok = client.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
                "methods": ["password"], "password": {"user": {
                    "name": "admin", "domain": {"id": "default"},
                    "password": info.admin_password}}},
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
            ).headers["X-Subject-Token"]
            h = {"X-Auth-Token": tok, "OpenStack-API-Version": "placement 1.36"}
            for label, params in (
                ("VCPU:1,MEMORY_MB:512,DISK_GB:10 limit=1000 (Nova)",
                 {"resources": "VCPU:1,MEMORY_MB:512,DISK_GB:10", "limit": "1000"}),
                ("VCPU:1,MEMORY_MB:512,DISK_GB:10 limit=50",
                 {"resources": "VCPU:1,MEMORY_MB:512,DISK_GB:10", "limit": "50"}),
                ("... required=HW_CPU_X86_AVX2 limit=50",
                 {"resources": "VCPU:1,MEMORY_MB:512,DISK_GB:10",
                  "required": "HW_CPU_X86_AVX2", "limit": "50"}),
                ("VCPU:8,MEMORY_MB:32768 (tight) limit=50",
                 {"resources": "VCPU:8,MEMORY_MB:32768", "limit": "50"}),
            ):
                res = measure(client, h, params, args.runs)
                results.append({"providers": n, "query": label, **res})
        info.app.state.db.dispose()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end, "
          f"{args.database_url.split('://')[0] if args.database_url else 'sqlite'}")
    print(f"{'providers':>9}  {'query':<52}{'p50 ms':>8}{'p95 ms':>8}{'cpu ms':>8}{'cands':>7}")
    for r in results:
        print(f"{r['providers']:>9}  {r['query']:<52}{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}"
              f"{r['cpu_ms']:>8.2f}{r['candidates']:>7}")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
