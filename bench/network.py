"""Benchmark: networking.

(a) port creates per second through a real `overcast up` over HTTP (SQLite, IPAM on a
    /16), from 1 and from 4 client threads; and port listing with those ports;
(b) DHCP: time from a fresh interface to a lease (root: real dnsmasq in a namespace,
    a veth into the bridge, busybox udhcpc), p50/p95 over R leases;
(c) the dataplane converging a network with N ports (ensure_dhcp with every host entry).

Targets (issue 5): >= 100 port creates/s; a lease in <= 0.5 s.
Prints a table and JSON.

    .venv/bin/python bench/network.py [--ports 1000] [--leases 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import start, token  # noqa: E402
from identity import free_port  # noqa: E402

UDHCPC = """#!/bin/sh
[ "$1" = bound ] && echo "$ip" > "$OUT"
exit 0
"""


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def bench_ports(n: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-net-"))
    port = free_port()
    # with the dataplane wired (root): every create also reaches the agent, which
    # converges DHCP host entries and firewalls as the changes come
    wired = os.geteuid() == 0 and shutil.which("dnsmasq") is not None
    os.environ.setdefault("OVERCAST_DATAPLANE", "linux" if wired else "none")
    proc = start(tmp, port, 1)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        tok, project_id = token(base, tmp)
        hd = {"X-Auth-Token": tok}
        httpx.put(f"{base}/network/v2.0/quotas/{project_id}", headers=hd,
                  json={"quota": {"port": -1}}).raise_for_status()
        with httpx.Client(base_url=f"{base}/network/v2.0", headers=hd, timeout=60) as c:
            net = c.post("/networks", json={"network": {"name": "bench"}}).json()["network"]
            c.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                "cidr": "10.128.0.0/16"}}).raise_for_status()
            lat0 = []
            for _ in range(200):
                t = time.perf_counter()
                c.get(f"/networks/{net['id']}").raise_for_status()
                lat0.append(time.perf_counter() - t)
            out["network show (HTTP + auth baseline)"] = {
                "p50_ms": 1000 * statistics.median(lat0),
                "per_s": 1 / statistics.median(lat0)}
            for threads in (1, 4):
                count = n // 2
                lat: list[float] = []
                errors: list[str] = []
                lock = threading.Lock()

                def work(k: int, lat: list[float] = lat, errors: list[str] = errors,
                         lock: threading.Lock = lock) -> None:
                    with httpx.Client(base_url=f"{base}/network/v2.0", headers=hd,
                                      timeout=60) as cc:
                        for _ in range(k):
                            t = time.perf_counter()
                            r = cc.post("/ports", json={"port": {"network_id": net["id"]}})
                            with lock:
                                lat.append(time.perf_counter() - t)
                                if r.status_code != 201:
                                    errors.append(r.text[:200])

                t0 = time.perf_counter()
                ts = [threading.Thread(target=work, args=(count // threads,))
                      for _ in range(threads)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                wall = time.perf_counter() - t0
                plane = os.environ["OVERCAST_DATAPLANE"]
                out[f"port create, {threads} client(s), dataplane {plane}"] = {
                    "ports": len(lat), "per_s": len(lat) / wall,
                    "p50_ms": 1000 * statistics.median(lat), "p95_ms": 1000 * pct(lat, 95),
                    "errors": len(errors)}
            addrs = [p["fixed_ips"][0]["ip_address"] for p in c.get(
                "/ports", params={"network_id": net["id"]}).json()["ports"]]
            out["distinct addresses"] = {"ports": len(addrs), "distinct": len(set(addrs))}
            lat = []
            for _ in range(20):
                t = time.perf_counter()
                c.get("/ports", params={"network_id": net["id"], "limit": 100}).raise_for_status()
                lat.append(time.perf_counter() - t)
            out["port list limit 100"] = {"p50_ms": 1000 * statistics.median(lat),
                                          "per_s": 1 / statistics.median(lat)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        import subprocess

        subprocess.run([str(Path(sys.executable).parent / "overcast"), "down", "--purge",
                        "--data-dir", str(tmp)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def bench_dhcp(leases: int, ports: int) -> dict[str, Any]:
    from overcast.agent.net.linux import LinuxDataplane, PortSpec, SubnetSpec
    from overcast.kit.runner import run

    tmp = Path(tempfile.mkdtemp(prefix="bench-dhcp-"))
    plane = LinuxDataplane(f"b{uuid.uuid4().hex[:4]}", tmp / "net")
    out: dict[str, Any] = {}
    try:
        net = str(uuid.uuid4())
        sub = SubnetSpec(id=str(uuid.uuid4()), cidr="10.99.0.0/16", gateway_ip="10.99.0.1")
        dhcp = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:00:ff:02",
                        fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.99.0.2"}])
        vms = [PortSpec(id=str(uuid.uuid4()), mac_address=f"fa:16:3e:01:{i >> 8:02x}:"
                        f"{i & 255:02x}", fixed_ips=[{"subnet_id": sub.id, "ip_address":
                                                      f"10.99.{1 + i // 250}.{2 + i % 250}"}])
               for i in range(ports)]
        t = time.perf_counter()
        plane.ensure_dhcp(net, 1350, dhcp, [sub], vms)
        out[f"DHCP server up with {ports} host entries"] = {
            "ms": 1000 * (time.perf_counter() - t)}
        t = time.perf_counter()
        plane.ensure_dhcp(net, 1350, dhcp, [sub], vms)
        out["DHCP converge again (no change)"] = {"ms": 1000 * (time.perf_counter() - t)}
        script = tmp / "udhcpc.sh"
        script.write_text(UDHCPC)
        script.chmod(0o755)
        lat = []
        for i in range(leases):
            ns = f"{plane.prefix}-l{i}"
            run(["ip", "netns", "add", ns])
            try:
                plane.plug_port(net, vms[i], 1350, netns=ns)
                lease = tmp / f"lease{i}"
                t = time.perf_counter()
                run(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1",
                     "-f", "-s", str(script)], netns=ns,
                    env={**os.environ, "OUT": str(lease)}, timeout=30)
                lat.append(time.perf_counter() - t)
                assert lease.read_text().strip() == vms[i].fixed_ips[0]["ip_address"]
            finally:
                plane.unplug_port(vms[i].id)
                run(["ip", "netns", "del", ns])
        out["DHCP lease (discover to bound)"] = {
            "leases": len(lat), "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * pct(lat, 95)}
    finally:
        plane.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--leases", type=int, default=20)
    args = ap.parse_args()
    results = bench_ports(args.ports)
    if os.geteuid() == 0 and shutil.which("dnsmasq") and shutil.which("busybox"):
        results.update(bench_dhcp(args.leases, args.ports))
    else:
        results["DHCP"] = {"skipped": "needs root, dnsmasq and busybox"}
    print(f"{'measure':48} result")
    for name, row in results.items():
        print(f"{name:48} " + ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
