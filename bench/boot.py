"""Benchmark: real boots (root). For each driver (QEMU under TCG with overcast-tiny,
containers with overcast-tiny-oci) through a real `overcast up` with the Linux
dataplane, over HTTP as a user would:

- POST-to-ACTIVE and POST-to-first-HTTP-answer through the server's floating IP from
  the simulated upstream, p50/p95 over N sequential boots (each server boots on a
  port made beforehand with its floating IP attached, so nothing waits on the user);
- N concurrent boots: wall time until all are ACTIVE and until all answer.

Targets (issue 6, TCG, 2 cores): container ACTIVE <= 250 ms p50, answering <= 1 s;
QEMU ACTIVE <= 500 ms p50, answering through its floating IP <= 3 s p50.

    .venv/bin/python bench/boot.py [--boots 10] [--drivers qemu,container]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import socket
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

from compute import start as start_cloud  # noqa: E402
from compute import token  # noqa: E402
from identity import free_port  # noqa: E402

IMAGES = {"qemu": "overcast-tiny", "container": "overcast-tiny-oci"}


def ns_socket(netns: str) -> socket.socket:
    """A TCP socket made inside the named namespace (it stays there)."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if libc.setns(target, 0x40000000) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
                # the thread ends here: it never goes back to the host's namespace
                out["s"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                os.close(target)
        except OSError as exc:
            out["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "s" not in out:
        raise out.get("error") or OSError(f"no socket in {netns}")
    return out["s"]  # type: ignore[no-any-return]


def http_ok(netns: str, address: str) -> str | None:
    try:
        s = ns_socket(netns)
    except OSError as exc:
        print(f"(probe socket: {exc})", file=sys.stderr)
        return None
    s.settimeout(0.3)
    try:
        s.connect((address, 80))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
        return body if data.startswith(b"HTTP/1") and b" 200 " in data[:20] else None
    except OSError:
        return None
    finally:
        s.close()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Cloud:
    def __init__(self, base: str, hd: dict[str, str], upstream_ns: str) -> None:
        self.base, self.hd, self.ns = base, hd, upstream_ns
        self.c = httpx.Client(base_url=base, headers=hd, timeout=60)
        #: seconds from a floating IP's association to the router answering for it
        self.fip_ready: list[float] = []

    def find(self, path: str, key: str, name: str) -> dict[str, Any]:
        items = self.c.get(path, params={"name": name}).json()[key]
        return dict(items[0])

    def prepared_port(self, net: str, public: str, sg: str) -> tuple[str, str]:
        """A port with a floating IP, once the router holds that address (a user's
        floating IP exists well before the boot; probing one the dataplane has not set
        up yet would time the upstream's ARP retries, one a second)."""
        port = self.c.post("/network/v2.0/ports", json={"port": {
            "network_id": net, "security_groups": [sg]}}).json()["port"]
        fip = self.c.post("/network/v2.0/floatingips", json={"floatingip": {
            "floating_network_id": public, "port_id": port["id"]}}).json()["floatingip"]
        t = time.perf_counter()
        address = fip["floating_ip_address"]
        def in_router() -> bool:
            routers = [line.split()[0] for line in subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
                if line.startswith(self.ns.replace("-upstream", "-r-"))]
            return any(f" {address}/32 " in subprocess.run(
                ["ip", "-n", r, "-o", "-4", "addr", "show"], capture_output=True,
                text=True).stdout for r in routers)

        while not in_router():
            if time.perf_counter() - t > 30:
                raise RuntimeError(f"floating IP {address} never reached its router")
            time.sleep(0.005)
        self.fip_ready.append(time.perf_counter() - t)
        return port["id"], address

    def boot(self, image: str, port: str, name: str, flavor: str) -> tuple[str, float]:
        t = time.perf_counter()
        r = self.c.post("/compute/v2.1/servers", json={"server": {
            "name": name, "imageRef": image, "flavorRef": flavor,
            "networks": [{"port": port}]}})
        r.raise_for_status()
        return r.json()["server"]["id"], t

    def active(self, sid: str) -> bool:
        s = self.c.get(f"/compute/v2.1/servers/{sid}").json()["server"]
        if s["status"] == "ERROR":
            raise RuntimeError(f"{sid} failed: {s.get('fault')}")
        return bool(s["status"] == "ACTIVE")

    def delete(self, sid: str) -> None:
        self.c.delete(f"/compute/v2.1/servers/{sid}")


def watch(cloud: Cloud, sid: str, fip: str, t0: float, timeout: float = 120
          ) -> tuple[float | None, float | None]:
    """Seconds from t0 until the server is ACTIVE and until its floating IP answers
    HTTP, each watched by its own thread (so neither check delays the other)."""
    got: dict[str, float] = {}

    def status() -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if cloud.active(sid):
                got["active"] = time.perf_counter() - t0
                return
            time.sleep(0.01)

    def http() -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if http_ok(cloud.ns, fip):
                got["http"] = time.perf_counter() - t0
                return
            time.sleep(0.01)

    threads = [threading.Thread(target=f) for f in (status, http)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got.get("active"), got.get("http")


def run_driver(cloud: Cloud, driver: str, boots: int, concurrent: int, net: str,
               public: str, sg: str, flavor: str) -> dict[str, Any]:
    image = cloud.find("/image/v2/images", "images", IMAGES[driver])["id"]
    out: dict[str, Any] = {}
    to_active, to_http = [], []
    for i in range(boots):
        port, fip = cloud.prepared_port(net, public, sg)
        sid, t0 = cloud.boot(image, port, f"b-{driver}-{i}", flavor)
        t_active, t_http = watch(cloud, sid, fip, t0)
        if t_active is None or t_http is None:
            raise RuntimeError(f"{driver} boot {i} did not finish (active {t_active}, "
                               f"http {t_http})")
        to_active.append(t_active)
        to_http.append(t_http)
        cloud.delete(sid)
        time.sleep(0.5)
    out[f"{driver}: POST to ACTIVE"] = {"n": boots, "p50_ms": 1000 * statistics.median(
        to_active), "p95_ms": 1000 * pct(to_active, 95)}
    out[f"{driver}: POST to HTTP via floating IP"] = {
        "n": boots, "p50_ms": 1000 * statistics.median(to_http),
        "p95_ms": 1000 * pct(to_http, 95)}
    time.sleep(2)
    boots = concurrent
    # concurrent
    prepared = [cloud.prepared_port(net, public, sg) for _ in range(boots)]
    t0 = time.perf_counter()
    sids = [cloud.boot(image, p, f"c-{driver}-{i}", flavor)[0]
            for i, (p, _) in enumerate(prepared)]
    pending_a, pending_h = set(sids), {fip for _, fip in prepared}
    all_active = all_http = None
    deadline = time.perf_counter() + 300
    while (pending_a or pending_h) and time.perf_counter() < deadline:
        pending_a = {s for s in pending_a if not cloud.active(s)}
        if not pending_a and all_active is None:
            all_active = time.perf_counter() - t0
        pending_h = {f for f in pending_h if not http_ok(cloud.ns, f)}
        if not pending_h and all_http is None:
            all_http = time.perf_counter() - t0
        time.sleep(0.05)
    out[f"{driver}: {boots} concurrent boots"] = {
        "all_active_s": all_active if all_active is not None else "timeout",
        "all_answering_s": all_http if all_http is not None else "timeout"}
    for s in sids:
        cloud.delete(s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boots", type=int, default=10, help="sequential boots per driver")
    ap.add_argument("--concurrent", type=int, default=10, help="boots started at once")
    ap.add_argument("--drivers", default="qemu,container")
    ap.add_argument("--output", help="also write the table to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/boot.py needs root (real guests, namespaces)")
    from overcast.compute.local import _unavailable

    drivers = args.drivers.split(",")
    for driver in drivers:
        why = _unavailable(driver)
        if why:
            sys.exit(f"bench/boot.py: the {driver} driver cannot run here: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-boot-"))
    data = tmp / "cloud"
    data.mkdir()
    port = free_port()
    proc = start_cloud(data, port, 1, env={"OVERCAST_DATAPLANE": "linux",
                                           "OVERCAST_AGENT_DRIVER": ",".join(drivers)},
                       test_image=True, log=tmp / "up.log", timeout=300)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        tok, project = token(base, data)
        from overcast.config import load_settings

        prefix = f"oc{load_settings(data_dir=data, environ={}).cloud_id[:3]}"
        cloud = Cloud(base, {"X-Auth-Token": tok}, f"{prefix}-upstream")
        deadline = time.monotonic() + 300
        while not cloud.c.get("/image/v2/images", params={"name": "overcast-tiny-oci"}
                              ).json()["images"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the test images were not registered")
            time.sleep(1)
        net = cloud.find("/network/v2.0/networks", "networks", "private")["id"]
        public = cloud.find("/network/v2.0/networks", "networks", "public")["id"]
        sg = cloud.c.post("/network/v2.0/security-groups", json={"security_group": {
            "name": "bench-web"}}).json()["security_group"]["id"]
        cloud.c.post("/network/v2.0/security-group-rules", json={"security_group_rule": {
            "security_group_id": sg, "direction": "ingress", "protocol": "tcp",
            "port_range_min": 80, "port_range_max": 80,
            "remote_ip_prefix": "0.0.0.0/0"}}).raise_for_status()
        cloud.c.put(f"/compute/v2.1/os-quota-sets/{project}", json={"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})
        # a flavor without a root disk size (the image's size), so disk space on this
        # small VM does not cap the concurrent boots
        r = cloud.c.post("/compute/v2.1/flavors", json={"flavor": {
            "name": "bench.tiny", "vcpus": 1, "ram": 128, "disk": 0}})
        r.raise_for_status()
        flavor = r.json()["flavor"]["id"]
        for driver in drivers:
            results.update(run_driver(cloud, driver, args.boots, args.concurrent, net,
                                      public, sg, flavor))
        results["floating IP: associated to set up in router"] = {
            "n": len(cloud.fip_ready),
            "p50_ms": 1000 * statistics.median(cloud.fip_ready),
            "p95_ms": 1000 * pct(cloud.fip_ready, 95)}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        subprocess.run([str(Path(sys.executable).parent / "overcast"), "down", "--purge",
                        "--data-dir", str(data)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [f"{'measure':46} result"]
    for name, row in results.items():
        lines.append(f"{name:46} " + ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print("\n".join(lines))
    print(json.dumps(results, indent=1))
    if args.output:
        Path(args.output).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
