"""Benchmark: fake boots and server listing through the whole stack.

(b) boot throughput (servers/s to ACTIVE) and POST-to-ACTIVE latency p50/p95
    for N servers on H fake hosts, posted from 8 client threads;
(c) GET /servers/detail req/s with those servers (limit 1000 and limit 100).
(a) allocation candidates latency is bench/placement_candidates.py.

Runs an in-process cloud (SQLite) with the conductor and H fake agents on the
in-process bus, driven over the ASGI app. Prints a table and JSON.

    .venv/bin/python bench/compute.py [--servers 1000] [--hosts 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.api.test_compute import IMAGE, C, add_agents  # noqa: E402
from tests.conftest import build_cloud  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    gen = build_cloud(Path(tempfile.mkdtemp()))
    cloud = next(gen)
    try:
        cloud.app.state.local_agents = []
        add_agents(cloud, [f"h{i:03d}" for i in range(args.hosts)], vcpus=64,
                   memory_mb=262144, disk_gb=4000)
        h = cloud.admin()
        project = cloud.client.get("/identity/v3/auth/tokens", headers={
            **h, "X-Subject-Token": h["X-Auth-Token"]}).json()["token"]["project"]["id"]
        cloud.client.put(f"{C}/os-quota-sets/{project}", headers=h, json={
            "quota_set": {"instances": -1, "cores": -1, "ram": -1}})
        posted: dict[str, float] = {}
        lock = threading.Lock()
        per_thread = args.servers // args.threads

        def poster(t: int) -> None:
            for i in range(per_thread):
                t0 = time.perf_counter()
                r = cloud.client.post(f"{C}/servers", headers=h, json={"server": {
                    "name": f"b{t}-{i}", "flavorRef": "1", "imageRef": IMAGE}})
                assert r.status_code == 202, r.text
                with lock:
                    posted[r.json()["server"]["id"]] = t0

        start = time.perf_counter()
        threads = [threading.Thread(target=poster, args=(t,)) for t in range(args.threads)]
        for t in threads:
            t.start()
        active_at: dict[str, float] = {}
        compute = cloud.app.state.compute
        from sqlalchemy import select

        from overcast.compute import models as m

        total = per_thread * args.threads
        while len(active_at) < total:
            with compute.db.session() as s:
                for uuid in s.scalars(select(m.Instance.uuid).where(
                        m.Instance.vm_state == "active")):
                    if uuid not in active_at:
                        active_at[uuid] = time.perf_counter()
            if time.perf_counter() - start > 600:
                raise RuntimeError("boots did not finish in 10 minutes")
            time.sleep(0.05)
        for t in threads:
            t.join()
        elapsed = max(active_at.values()) - start
        lat = sorted((active_at[u] - posted[u]) * 1000 for u in posted)
        boot = {"servers": total, "hosts": args.hosts, "seconds": elapsed,
                "boots_per_s": total / elapsed, "p50_ms": statistics.median(lat),
                "p95_ms": lat[int(len(lat) * 0.95) - 1]}

        listing = []
        for limit, runs in ((1000, 30), (100, 200)):
            t0 = time.perf_counter()
            for _ in range(runs):
                r = cloud.client.get(f"{C}/servers/detail", headers=h,
                                     params={"limit": limit})
                assert r.status_code == 200 and len(r.json()["servers"]) == min(limit, total)
            listing.append({"limit": limit, "req_per_s": runs / (time.perf_counter() - t0)})
    finally:
        gen.close()
    print(f"boots: {boot['servers']} servers on {boot['hosts']} fake hosts in "
          f"{boot['seconds']:.1f} s")
    print(f"{'metric':<36}{'value':>10}")
    print(f"{'boot throughput (servers/s)':<36}{boot['boots_per_s']:>10.1f}")
    print(f"{'POST-to-ACTIVE p50 (ms)':<36}{boot['p50_ms']:>10.1f}")
    print(f"{'POST-to-ACTIVE p95 (ms)':<36}{boot['p95_ms']:>10.1f}")
    for x in listing:
        label = f"GET /servers/detail limit={x['limit']} (req/s)"
        print(f"{label:<36}{x['req_per_s']:>10.1f}")
    print(json.dumps({"boot": boot, "servers_detail": listing}, indent=1))


if __name__ == "__main__":
    main()
