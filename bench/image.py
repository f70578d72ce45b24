"""Benchmark: image upload and download throughput against a plain `cp`.

Starts a real `overcast up` (SQLite, filesystem store in its data dir) and, for a
file of --mib MiB of random data on the same disk:
  cp       copy the file with `cp` (the disk's own speed for this job),
  upload   PUT /image/v2/images/{id}/file, streamed from the file (md5 and sha512
           are computed on the way, as Glance does),
  download GET .../file streamed into a file (and into /dev/null: the service alone),
and `dd bs=4M` for what any user-space copy of the file costs on this disk, and md5
and sha512 of the file from the page cache, one stream each: Glance's `checksum` is
the md5 of the whole upload, a sequential hash that no number of cores speeds up, so
the md5 row is the ceiling of any upload that answers as Glance does.
Prints MiB/s and the ratio to `cp` (target: at least 70%), then JSON.

    .venv/bin/python bench/image.py [--mib 512]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import start, token  # noqa: E402
from cpumeter import CpuMeter  # noqa: E402
from identity import free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-img-"))
    src = tmp / "src.raw"
    with open(src, "wb") as fh:
        for _ in range(args.mib):
            fh.write(os.urandom(1 << 20))
    size_mib = args.mib
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env_hosts = 1
    proc = start(tmp / "cloud", port, env_hosts)
    results: dict[str, list[float]] = {"cp": [], "dd": [], "md5": [], "sha512": [],
                                       "upload": [], "download": [], "download-null": [],
                                       "upload cpu": []}
    try:
        tok, _ = token(base, tmp / "cloud")
        hd = {"X-Auth-Token": tok}
        with httpx.Client(base_url=base, timeout=600) as c:
            for run in range(args.runs):
                dst = tmp / f"cp-{run}.raw"
                subprocess.run(["sync"], check=True)
                t0 = time.perf_counter()
                subprocess.run(["cp", str(src), str(dst)], check=True)
                subprocess.run(["sync"], check=True)
                results["cp"].append(size_mib / (time.perf_counter() - t0))
                dst.unlink()
                # the same copy through user space in 4 MiB blocks, as an HTTP client
                # writing the download has to do it
                t0 = time.perf_counter()
                subprocess.run(["dd", f"if={src}", f"of={dst}", "bs=4M", "status=none"],
                               check=True)
                subprocess.run(["sync"], check=True)
                results["dd"].append(size_mib / (time.perf_counter() - t0))
                dst.unlink()
                for algo in ("md5", "sha512"):
                    h = hashlib.new(algo)
                    t0 = time.perf_counter()
                    with open(src, "rb") as fh:
                        while block := fh.read(8 << 20):
                            h.update(block)
                    results[algo].append(size_mib / (time.perf_counter() - t0))

                r = c.post("/image/v2/images", headers=hd, json={
                    "name": f"bench-{run}", "disk_format": "raw", "container_format": "bare"})
                image_id = r.json()["id"]
                meter = CpuMeter([proc.pid])
                meter.start()
                t0 = time.perf_counter()
                # curl as the client: a C client costs the server (on the same two
                # cores) little, so this measures the service, as cp measures the disk.
                code = subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(src),
                     "-H", f"X-Auth-Token: {tok}", "-H",
                     "Content-Type: application/octet-stream",
                     f"{base}/image/v2/images/{image_id}/file"],
                    capture_output=True, text=True, check=True).stdout
                assert code == "204", code
                results["upload"].append(size_mib / (time.perf_counter() - t0))
                # the serving processes' CPU per MiB (load-independent)
                results["upload cpu"].append(1000 * meter.stop() / size_mib)

                out = tmp / f"down-{run}.raw"
                t0 = time.perf_counter()
                subprocess.run(["curl", "-s", "-f", "-o", str(out), "-H", f"X-Auth-Token: {tok}",
                                f"{base}/image/v2/images/{image_id}/file"], check=True)
                subprocess.run(["sync"], check=True)
                results["download"].append(size_mib / (time.perf_counter() - t0))
                assert out.stat().st_size == src.stat().st_size
                out.unlink()
                # the service alone: the client throws the bytes away
                t0 = time.perf_counter()
                subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", "-H",
                                f"X-Auth-Token: {tok}",
                                f"{base}/image/v2/images/{image_id}/file"], check=True)
                results["download-null"].append(size_mib / (time.perf_counter() - t0))
                c.delete(f"/image/v2/images/{image_id}", headers=hd)
    finally:
        proc.terminate()
        proc.wait(30)
        for p in tmp.glob("*.raw"):
            p.unlink()
    best = {k: statistics.median(v) for k, v in results.items()}
    print(f"{args.mib} MiB of random data, median of {args.runs} runs (overcast up, SQLite, "
          "filesystem store on the same disk; each write timed to the end of a sync)")
    print(f"{'operation':<40}{'MiB/s':>8}{'vs cp':>8}")
    labels = {"cp": "cp", "dd": "dd bs=4M (user-space copy)",
              "md5": "md5 of the file (one stream)", "sha512": "sha512 of the file",
              "upload": "upload (curl -T, md5+sha512 on the way)",
              "download": "download (curl -o file)",
              "download-null": "download (curl -o /dev/null)"}
    for k, label in labels.items():
        print(f"{label:<40}{best[k]:>8.0f}{best[k] / best['cp']:>8.0%}")
    # md5 is measured in the same run just before each upload: the load moves
    per_run = statistics.median(u / m for u, m in zip(results["upload"], results["md5"],
                                                       strict=True))
    print(f"{'upload / md5 (each run; target 80%)':<40}{per_run:>8.0%}")
    print(f"{'upload: server CPU ms per MiB':<40}{best['upload cpu']:>8.2f}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    print(json.dumps({"mib": args.mib, "runs": results, "best": best,
                      "ratio_upload": best["upload"] / best["cp"],
                      "upload_vs_md5_each_run": per_run,
                      "ratio_download": best["download"] / best["cp"]}, indent=1))


if __name__ == "__main__":
    main()
