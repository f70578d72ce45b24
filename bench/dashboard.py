"""Benchmark: the web console's server time per page for a project with N instances.

Starts a real `overcast up` (SQLite, fake hosts, no dataplane), boots N servers into
the admin project through Nova (fake driver), logs into the console through its
login form like a browser, and times each main page over loopback HTTP (the
console's own time plus the in-process API calls it makes; the instance and admin
lists are paged, 50 and 100 a page; the hypervisors' table, which /admin/compute
loads after itself, is timed on its own; its usage comes from one bulk Placement
read for every host). Issue 19's target: <= 50 ms a page.

Wall times stretch with the machine's load, so the table also gives the CPU time
the cloud's processes spent per request (from /proc, load-independent) and the
load average before and after. Prints a table and JSON.

    .venv/bin/python bench/dashboard.py [--servers 1000] [--hosts 50] [--requests 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import IMAGE, boot_all, start, token, wait_hosts  # noqa: E402
from identity import free_port  # noqa: E402

PAGES = ["/", "/instances", "/instances/table", "/instances/{sid}", "/instances/launch",
         "/images", "/networks", "/topology", "/keypairs", "/volumes", "/containers",
         "/admin", "/admin/compute", "/admin/compute/hypervisors"]
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the cloud's process and its children (load-independent:
    a busy machine stretches wall time, not the work done)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / CLK
    return total


def login(base: str, data_dir: Path) -> httpx.Client:
    auth = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"]["overcast"]["auth"]
    c = httpx.Client(base_url=base, timeout=60)
    page = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"csrf": csrf, "username": auth["username"],
                               "password": auth["password"], "domain": "Default"})
    if r.status_code != 303:
        raise RuntimeError(f"login failed: {r.status_code} {r.text[:300]}")
    return c


def time_page(c: httpx.Client, path: str, n: int, pid: int) -> dict[str, float] | None:
    """p50/p95 wall ms, CPU ms a request and size of one page; None when this cloud
    (or this version of the console) has no such page."""
    if c.get(path).status_code == 404:  # also warms
        return None
    times = []
    cpu0 = cpu_seconds(pid)
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    cpu = (cpu_seconds(pid) - cpu0) * 1000 / n
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1],
            "cpu_ms": cpu, "bytes": len(r.content)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-dash-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp / "cloud", port, args.hosts, log=tmp / "overcast.log")
    try:
        tok, project = token(base, tmp / "cloud")
        hd = {"X-Auth-Token": tok}
        wait_hosts(base, hd, args.hosts)
        httpx.put(f"{base}/compute/v2.1/os-quota-sets/{project}", headers=hd, json={
            "quota_set": {"instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.images import add_image

        with httpx.Client(base_url=base) as http:
            add_image(http, hd, IMAGE)
        booted = boot_all(base, {**hd, "OpenStack-API-Version": "compute 2.47"}, args.servers, 8)
        c = login(base, tmp / "cloud")
        sid = httpx.get(f"{base}/compute/v2.1/servers", headers=hd,
                        params={"limit": 1}).json()["servers"][0]["id"]
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        rows = {p: time_page(c, p.format(sid=sid), args.requests, proc.pid) for p in PAGES}
        # the same machine's API time for the calls behind two pages, for comparison:
        # what the console adds is the difference
        api = httpx.Client(base_url=base, timeout=60, headers={
            **hd, "OpenStack-API-Version": "compute 2.47"})
        for label, path in (("API servers/detail 50", "/compute/v2.1/servers/detail?limit=50"),
                            ("API os-hypervisors/detail",
                             "/compute/v2.1/os-hypervisors/detail"),
                            ("API os-keypairs", "/compute/v2.1/os-keypairs")):
            rows[label] = time_page(api, path, args.requests, proc.pid)
        load_after = Path("/proc/loadavg").read_text().split()[:3]
    except Exception:
        # why boots failed, in Nova's words (the first ERROR server's fault)
        hd = locals().get("hd") or {}
        with httpx.Client(base_url=base, timeout=30, headers={
                **hd, "OpenStack-API-Version": "compute 2.47"}) as c:
            bad = c.get("/compute/v2.1/servers/detail", params={"status": "ERROR",
                                                                "limit": 1}).json()
            for srv in bad.get("servers", []):
                print("ERROR server fault:", srv.get("fault"), file=sys.stderr)
        log = tmp / "overcast.log"
        print(log.read_text()[-3000:] if log.exists() else "(no log)", file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"console pages, project with {booted['servers']} instances on {args.hosts} hosts "
          f"({args.requests} requests each, loopback HTTP; {os.cpu_count()} CPUs, load "
          f"{' '.join(load_before)} before, {' '.join(load_after)} after)")
    print(f"{'page':<28}{'p50 ms':>9}{'p95 ms':>9}{'CPU ms':>9}{'KiB':>8}")
    for path, row in rows.items():
        if row is None:
            print(f"{path:<28}{'(no such page)':>35}")
            continue
        print(f"{path:<28}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['cpu_ms']:>9.1f}"
              f"{row['bytes'] / 1024:>8.1f}")
    print(json.dumps({"servers": booted["servers"], "load": [load_before, load_after],
                      "pages": rows}))


if __name__ == "__main__":
    main()
