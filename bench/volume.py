"""Benchmark: block storage on the embedded file backend.

Starts a real `overcast up` and measures, through the Cinder API:
  create blank   POST /volumes (1 GiB) until `available`   (target <= 100 ms)
  from image     a volume from a --image-mib MiB raw image (half of it data)
  from snapshot  snapshot a volume holding that image, then a volume from it
  export nbd     attachment update with a remote connector: the NBD export made by
                 the one qemu-storage-daemon (the first also starts the daemon)
boot from volume against boot from image (fake compute driver: the API, scheduling
and block-device path, POST /servers until ACTIVE; target: within 20%):
  boot image     imageRef, the root disk the driver's
  boot bfv new   block_device_mapping_v2 image -> volume (Cinder copies the image)
  boot bfv vol   block_device_mapping_v2 of an existing bootable volume
and the data path, from the host side over the transports a guest uses:
  `qemu-img bench` sequential write and read (1 MiB requests, queue depth 16) on the
  volume's file (`file` connection) and over NBD (`nbd` connection), against `dd`
  reading the raw file as the ceiling (target: NBD >= 70% of the local file).
Prints a table, then JSON.

    .venv/bin/python bench/volume.py [--runs 5] [--image-mib 256] [--bench-mib 512]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import start, token, wait_hosts  # noqa: E402
from identity import free_port  # noqa: E402

VERSION = {"OpenStack-API-Version": "volume 3.55"}


def wait(c: httpx.Client, path: str, key: str, status: str, timeout: float = 600) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        r = c.get(path)
        if r.status_code == 200 and r.json()[key]["status"] == status:
            return time.perf_counter() - began
        if r.status_code == 200 and r.json()[key]["status"] == "error":
            raise RuntimeError(f"{path} went to error")
        time.sleep(0.005)
    raise RuntimeError(f"{path} not {status} in {timeout}s")


def timed_create(c: httpx.Client, body: dict[str, Any]) -> tuple[str, float]:
    began = time.perf_counter()
    r = c.post("/volumes", json={"volume": body})
    r.raise_for_status()
    vid = r.json()["volume"]["id"]
    wait(c, f"/volumes/{vid}", "volume", "available")
    return vid, time.perf_counter() - began


COMPUTE = {"OpenStack-API-Version": "compute 2.47"}


def timed_boot(base: str, hd: dict[str, str], server: dict[str, Any]) -> float:
    """POST /servers (no network) until ACTIVE; the server is deleted after."""
    with httpx.Client(base_url=f"{base}/compute/v2.1", headers={**hd, **COMPUTE},
                      timeout=600) as c:
        began = time.perf_counter()
        r = c.post("/servers", json={"server": {"flavorRef": "1", "networks": "none",
                                                **server}})
        r.raise_for_status()
        sid = r.json()["server"]["id"]
        wait(c, f"/servers/{sid}", "server", "ACTIVE")
        took = time.perf_counter() - began
        c.delete(f"/servers/{sid}").raise_for_status()
        deadline = time.monotonic() + 120
        while c.get(f"/servers/{sid}").status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.01)
        return took


def boots(base: str, hd: dict[str, str], c: httpx.Client, image_id: str, runs: int
          ) -> dict[str, list[float]]:
    """Boot from image, from a new volume made of the image, and from an existing
    bootable volume, interleaved so each sees the same load."""
    out: dict[str, list[float]] = {"boot image": [], "boot bfv new": [],
                                   "boot bfv vol": []}
    for i in range(runs):
        out["boot image"].append(timed_boot(base, hd, {
            "name": f"img-{i}", "imageRef": image_id}))
        out["boot bfv new"].append(timed_boot(base, hd, {
            "name": f"bfv-{i}", "block_device_mapping_v2": [{
                "boot_index": 0, "uuid": image_id, "source_type": "image",
                "destination_type": "volume", "volume_size": 1,
                "delete_on_termination": True}]}))
        vid, _ = timed_create(c, {"size": 1, "imageRef": image_id})
        out["boot bfv vol"].append(timed_boot(base, hd, {
            "name": f"vol-{i}", "block_device_mapping_v2": [{
                "boot_index": 0, "uuid": vid, "source_type": "volume",
                "destination_type": "volume", "delete_on_termination": True}]}))
    return out


def qemu_bench(target: str, fmt: str, write: bool, mib: int) -> float:
    """MiB/s of `qemu-img bench` (sequential, 1 MiB requests, depth 16)."""
    argv = ["qemu-img", "bench", "-f", fmt, "-s", "1M", "-c", str(mib), "-d", "16",
            "-S", "1M"]
    if write:
        argv += ["-w", "--pattern=0x5a"]
    if not target.startswith("nbd:"):
        argv += ["-t", "none", "-n"]
    began = time.perf_counter()
    out = subprocess.run([*argv, target], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    m = re.search(r"Run completed in ([0-9.]+) seconds", out.stdout)
    seconds = float(m.group(1)) if m else time.perf_counter() - began
    return mib / seconds


def dd_read(path: Path, mib: int) -> float:
    began = time.perf_counter()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=4M", f"count={mib // 4}",
                    "iflag=direct"], capture_output=True, check=True)
    return mib / (time.perf_counter() - began)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image-mib", type=int, default=256)
    ap.add_argument("--bench-mib", type=int, default=512)
    ap.add_argument("--no-io", action="store_true", help="skip the data path")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-vol-"))
    port, nbd_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp / "cloud", port, 1, env={"OVERCAST_VOLUME_NBD_PORT": str(nbd_port)})
    res: dict[str, list[float]] = {k: [] for k in (
        "create blank", "from image", "from snapshot", "snapshot", "export nbd")}
    io: dict[str, float] = {}
    try:
        tok, project = token(base, tmp / "cloud")
        hd = {"X-Auth-Token": tok, **VERSION}
        image = tmp / "image.raw"
        with open(image, "wb") as fh:
            for i in range(args.image_mib):
                fh.write(os.urandom(1 << 20) if i % 2 == 0 else b"\0" * (1 << 20))
        with httpx.Client(base_url=f"{base}/image/v2", headers=hd, timeout=600) as g:
            iid = g.post("/images", json={"name": "bench", "disk_format": "raw",
                                          "container_format": "bare"}).json()["id"]
            with open(image, "rb") as fh:
                g.put(f"/images/{iid}/file", content=fh, headers={
                    "Content-Type": "application/octet-stream"}).raise_for_status()
        with httpx.Client(base_url=f"{base}/volume/v3/{project}", headers=hd,
                          timeout=600) as c:
            c.put(f"/os-quota-sets/{project}", json={"quota_set": {
                "volumes": -1, "snapshots": -1, "gigabytes": -1}}).raise_for_status()
            made = []
            for _ in range(args.runs):
                vid, t = timed_create(c, {"size": 1})
                res["create blank"].append(t)
                made.append(vid)
            src = None
            for _ in range(args.runs):
                vid, t = timed_create(c, {"size": 1, "imageRef": iid})
                res["from image"].append(t)
                src = src or vid
            for _ in range(args.runs):
                began = time.perf_counter()
                r = c.post("/snapshots", json={"snapshot": {"volume_id": src}})
                sid = r.json()["snapshot"]["id"]
                wait(c, f"/snapshots/{sid}", "snapshot", "available")
                res["snapshot"].append(time.perf_counter() - began)
                _, t = timed_create(c, {"size": 1, "snapshot_id": sid})
                res["from snapshot"].append(t)
            wait_hosts(base, {"X-Auth-Token": tok}, 1)
            res.update(boots(base, hd, c, iid, args.runs))
            # exports: each attachment of another volume to a remote host
            conn_infos = []
            for vid in made:
                a = c.post("/attachments", json={"attachment": {
                    "volume_uuid": vid,
                    "instance_uuid": "11111111-1111-4111-8111-111111111111"}}).json()[
                    "attachment"]
                began = time.perf_counter()
                r = c.put(f"/attachments/{a['id']}", json={"attachment": {"connector": {
                    "host": "elsewhere", "ip": "127.0.0.2"}}})
                r.raise_for_status()
                res["export nbd"].append(time.perf_counter() - began)
                conn_infos.append(r.json()["attachment"]["connection_info"])
            if not args.no_io:
                # the data path: one volume, as a local file and over NBD
                big, _ = timed_create(c, {"size": max(1, -(-args.bench_mib // 1024) * 2)})
                local = c.post("/attachments", json={"attachment": {
                    "volume_uuid": big, "instance_uuid": "22222222-2222-4222-8222-222222222222",
                    "connector": {"host": socket.gethostname()}}}).json()["attachment"]
                path = local["connection_info"]["data"]["path"]
                io["file write"] = qemu_bench(path, "raw", True, args.bench_mib)
                io["file read"] = qemu_bench(path, "raw", False, args.bench_mib)
                io["dd read (ceiling)"] = dd_read(Path(path), args.bench_mib)
                c.delete(f"/attachments/{local['id']}")
                remote = c.post("/attachments", json={"attachment": {
                    "volume_uuid": big, "instance_uuid": "33333333-3333-4333-8333-333333333333",
                    "connector": {"host": "elsewhere"}}}).json()["attachment"]
                d = remote["connection_info"]["data"]
                url = f"nbd://{d['host']}:{d['port']}/{d['export_name']}"
                io["nbd write"] = qemu_bench(url, "raw", True, args.bench_mib)
                io["nbd read"] = qemu_bench(url, "raw", False, args.bench_mib)
                c.delete(f"/attachments/{remote['id']}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{'step':<16}{'p50 ms':>10}{'min ms':>10}{'max ms':>10}")
    summary: dict[str, Any] = {}
    for k, v in res.items():
        ms = [x * 1000 for x in v]
        summary[k] = {"p50_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms)}
        print(f"{k:<16}{statistics.median(ms):>10.1f}{min(ms):>10.1f}{max(ms):>10.1f}")
    ratio = {k: summary[k]["p50_ms"] / summary["boot image"]["p50_ms"]
             for k in ("boot bfv new", "boot bfv vol")}
    print("\nboot from volume vs from image (p50): " + ", ".join(
        f"{k.removeprefix('boot ')} {v:.2f}x" for k, v in ratio.items()))
    if io:
        print(f"\n{'data path':<20}{'MiB/s':>10}{'vs file':>10}")
    for k, v in io.items():
        ref = io["file read"] if "read" in k else io["file write"]
        print(f"{k:<20}{v:>10.0f}{v / ref:>10.0%}")
    print(json.dumps({"latency": summary, "bfv_vs_image": ratio, "throughput_mib_s": io,
                      "image_mib": args.image_mib, "bench_mib": args.bench_mib}))


if __name__ == "__main__":
    main()
