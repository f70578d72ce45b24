"""Benchmark: the object store (Swift v1 API) — small-object rates, listing, and
large-object throughput against the md5 ceiling.

Starts a real `overcast up` (SQLite, file backend in its data dir) and measures:
  small    4 KiB PUT, GET and HEAD requests per second with 1 and 8 clients (each
           client a thread with its own keep-alive connection, for --seconds each),
  listing  GET of a 10,000-object container (format=json, one page of 10,000),
  large    a --large-mib MiB object PUT (curl -T, md5 computed on the way, as
           Swift's ETag needs) and GET (curl -o /dev/null), in MiB/s, beside md5
           of the same file from the page cache, one stream: the ETag is the md5
           of the whole body, a sequential hash no number of cores speeds up, so
           that row is the ceiling of any upload that answers as Swift does
           (target: large PUT >= 80% of it).
Prints a table, then JSON.

The side-by-side with real Swift (issue 15) is a later step. It needs Debian's
swift-proxy, swift-account, swift-container and swift-object (2.30), rings built
with swift-ring-builder for one device on a loopback-mounted XFS (or a directory
with mount_check = false), memcached, a proxy-server.conf with tempauth, and the
same load pointed at it with a tempauth token (X-Storage-Url/X-Auth-Token).

    .venv/bin/python bench/object.py [--seconds 5] [--large-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import start, token  # noqa: E402
from identity import free_port  # noqa: E402

SMALL = os.urandom(4096)


def _rate(url: str, tok: str, method: str, clients: int, seconds: float,
          prefix: str, written: list[int]) -> tuple[float, int]:
    """Requests per second of `method` on small objects, from `clients` threads
    (a PUT records in `written` how many objects each client made; GET and HEAD
    cycle over those)."""
    parts = urlsplit(url)
    counts = [0] * clients
    errors = [0]
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        i = 0
        while time.monotonic() < stop:
            k = i % 2000 if method == "PUT" else i % max(1, written[n])
            path = f"{parts.path}/{prefix}-{n}-{k}"
            body = SMALL if method == "PUT" else None
            conn.request(method, path, body=body, headers={"X-Auth-Token": tok})
            r = conn.getresponse()
            r.read()
            if r.status >= 300:
                errors[0] += 1
            i += 1
            counts[n] += 1
        if method == "PUT":
            written[n] = min(i, 2000)
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), errors[0]


def _fill(url: str, tok: str, count: int, clients: int = 8) -> None:
    parts = urlsplit(url)

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for i in range(n, count, clients):
            conn.request("PUT", f"{parts.path}/obj-{i:06d}", body=b"x",
                         headers={"X-Auth-Token": tok})
            r = conn.getresponse()
            r.read()
            assert r.status == 201, r.status
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--listing", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-obj-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp / "cloud", port, 1)
    out: dict[str, float] = {}
    try:
        tok, project = token(base, tmp / "cloud")
        hd = {"X-Auth-Token": tok}
        account = f"{base}/object/v1/AUTH_{project}"
        with httpx.Client(timeout=600) as c:
            for name in ("small", "listing", "large"):
                assert c.put(f"{account}/{name}", headers=hd).status_code in (201, 202)
            for clients in (1, 8):
                written = [0] * clients
                for method in ("PUT", "GET", "HEAD"):
                    rate, errors = _rate(f"{account}/small", tok, method, clients,
                                         args.seconds, f"c{clients}", written)
                    assert errors == 0, f"{errors} failed {method}s"
                    out[f"{method} 4 KiB, {clients} client{'s' if clients > 1 else ''}"] = rate
            _fill(f"{account}/listing", tok, args.listing)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                r = c.get(f"{account}/listing", headers=hd,
                          params={"format": "json", "limit": str(args.listing)})
                times.append(time.perf_counter() - t0)
                assert len(r.json()) == args.listing
            out[f"list {args.listing} objects (ms)"] = statistics.median(times) * 1000
            src = tmp / "large.bin"
            with open(src, "wb") as fh:
                for _ in range(args.large_mib):
                    fh.write(os.urandom(1 << 20))
            md5s, puts, gets = [], [], []
            for _ in range(args.runs):
                h = hashlib.md5(usedforsecurity=False)
                t0 = time.perf_counter()
                with open(src, "rb") as fh:
                    while block := fh.read(8 << 20):
                        h.update(block)
                md5s.append(args.large_mib / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                etag = subprocess.run(
                    ["curl", "-s", "-f", "-T", str(src), "-H", f"X-Auth-Token: {tok}",
                     "-o", "/dev/null", "-w", "%header{etag}", f"{account}/large/obj"],
                    capture_output=True, text=True, check=True).stdout.strip()
                puts.append(args.large_mib / (time.perf_counter() - t0))
                assert etag == h.hexdigest(), (etag, h.hexdigest())
                t0 = time.perf_counter()
                subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", "-H",
                                f"X-Auth-Token: {tok}", f"{account}/large/obj"], check=True)
                gets.append(args.large_mib / (time.perf_counter() - t0))
            src.unlink()
            out["md5 ceiling (MiB/s)"] = statistics.median(md5s)
            out[f"PUT {args.large_mib} MiB (MiB/s)"] = statistics.median(puts)
            out[f"GET {args.large_mib} MiB (MiB/s)"] = statistics.median(gets)
    finally:
        proc.terminate()
        proc.wait(30)
    print("overcast up, SQLite, file backend; 4 KiB rates in requests/s")
    print(f"{'measure':<36}{'value':>12}")
    for k, v in out.items():
        print(f"{k:<36}{v:>12.1f}")
    ceiling = out["md5 ceiling (MiB/s)"]
    put = out[f"PUT {args.large_mib} MiB (MiB/s)"]
    print(f"{'large PUT / md5 ceiling':<36}{put / ceiling:>12.0%}")
    print(json.dumps({**out, "put_vs_md5": put / ceiling}, indent=1))


if __name__ == "__main__":
    main()
