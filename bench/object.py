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
Beside every figure, the CPU seconds the serving processes spent on it
(bench/cpumeter.py: utime+stime of overcast's engine and API workers, of Swift's
four servers, their workers and memcached), per request: the rate a shared,
busy machine allows says as much about the neighbours as about the store; the
CPU per request does not, so the ratio of those is the load-independent one.
Prints a table, then JSON.

Then the same load against real Swift 2.30 (Debian's packages, set up by
bench/swift_saio.py as a one-node "Swift all in one" on loopback with tempauth),
and a table of both with the ratios and issue 15's targets (small PUT and GET
>= 3x Swift's rate, listing >= 5x, large PUT >= 80% of the md5 ceiling). The load
generator is the same for both: threads with keep-alive http.client connections
for the small objects, curl for the large one.

    .venv/bin/python bench/object.py [--seconds 5] [--large-mib 1024] [--no-swift]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
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

import swift_saio  # noqa: E402
from compute import start, token  # noqa: E402
from cpumeter import CpuMeter  # noqa: E402
from identity import free_port  # noqa: E402

SMALL = os.urandom(4096)


def _rate(url: str, tok: str, method: str, clients: int, seconds: float,
          prefix: str, written: list[int], meter: CpuMeter) -> tuple[float, int, float]:
    """Requests per second of `method` on small objects, from `clients` threads
    (a PUT records in `written` how many objects each client made; GET and HEAD
    cycle over those), the failures, and the serving processes' CPU ms per request."""
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
    meter.start()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, meter.stop()
    return sum(counts) / elapsed, errors[0], 1000 * cpu / max(1, sum(counts))


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


def measure(account: str, tok: str, args: argparse.Namespace, src: Path,
            md5_hex: str, meter: CpuMeter) -> tuple[dict[str, float], dict[str, float]]:
    """The same load against one Swift v1 account URL (overcast's or Swift's): the
    figures, and the CPU the serving processes (`meter`) spent on each (ms per
    request; per listing; per MiB for the large object)."""
    hd = {"X-Auth-Token": tok}
    out: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with httpx.Client(timeout=600) as c:
        for name in ("small", "listing", "large"):
            assert c.put(f"{account}/{name}", headers=hd).status_code in (201, 202)
        for clients in (1, 8) if "small" in args.only else ():
            written = [0] * clients
            for method in ("PUT", "GET", "HEAD"):
                rate, errors, ms = _rate(f"{account}/small", tok, method, clients,
                                         args.seconds, f"c{clients}", written, meter)
                assert errors == 0, f"{errors} failed {method}s"
                name = f"{method} 4 KiB, {clients} client{'s' if clients > 1 else ''}"
                out[name], cpu[name] = rate, ms
        if "listing" in args.only:
            _fill(f"{account}/listing", tok, args.listing)
        times = []
        meter.start()
        for _ in range(5 if "listing" in args.only else 0):
            t0 = time.perf_counter()
            r = c.get(f"{account}/listing", headers=hd,
                      params={"format": "json", "limit": str(args.listing)})
            times.append(time.perf_counter() - t0)
            assert len(r.json()) == args.listing
        if times:
            name = f"list {args.listing} objects (ms)"
            cpu[name] = 1000 * meter.stop() / 5
            out[name] = statistics.median(times) * 1000
    puts, gets, md5s, md5_cpu = [], [], [], []
    put_cpu = get_cpu = 0.0
    for _ in range(args.runs if "large" in args.only else 0):
        # the ceiling measured just before each PUT (the load moves between runs)
        rate, ms, _ = md5_ceiling(src, 1, args.large_mib)
        md5s.append(rate)
        md5_cpu.append(ms)
        meter.start()
        t0 = time.perf_counter()
        etag = subprocess.run(
            ["curl", "-s", "-f", "-T", str(src), "-H", f"X-Auth-Token: {tok}",
             "-o", "/dev/null", "-w", "%header{etag}", f"{account}/large/obj"],
            capture_output=True, text=True, check=True).stdout.strip()
        puts.append(args.large_mib / (time.perf_counter() - t0))
        put_cpu += meter.stop()
        assert etag == md5_hex, (etag, md5_hex)
        meter.start()
        t0 = time.perf_counter()
        subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", "-H",
                        f"X-Auth-Token: {tok}", f"{account}/large/obj"], check=True)
        gets.append(args.large_mib / (time.perf_counter() - t0))
        get_cpu += meter.stop()
    for verb, rates, spent in (("PUT", puts, put_cpu), ("GET", gets, get_cpu)) if puts else ():
        name = f"{verb} {args.large_mib} MiB (MiB/s)"
        out[name] = statistics.median(rates)
        cpu[name] = 1000 * spent / (args.runs * args.large_mib)  # ms per MiB
    if puts:
        out["md5 one stream (MiB/s)"] = statistics.median(md5s)
        cpu["md5 one stream (MiB/s)"] = statistics.median(md5_cpu)
        out["large PUT / md5 (per run)"] = statistics.median(
            p / m for p, m in zip(puts, md5s, strict=True))
    return out, cpu


def md5_ceiling(src: Path, runs: int, mib: int) -> tuple[float, float, str]:
    """MiB/s of one md5 stream over the file from the page cache, the CPU it took
    (ms per MiB, this thread's: the load-independent cost of the hash), and the
    digest."""
    rates, cpus, digest = [], [], ""
    for _ in range(runs):
        h = hashlib.md5(usedforsecurity=False)
        t0, c0 = time.perf_counter(), time.thread_time()
        with open(src, "rb") as fh:
            while block := fh.read(8 << 20):
                h.update(block)
        rates.append(mib / (time.perf_counter() - t0))
        cpus.append(1000 * (time.thread_time() - c0) / mib)
        digest = h.hexdigest()
    return statistics.median(rates), statistics.median(cpus), digest


#: issue 15's targets: overcast / Swift for rates, Swift / overcast for times
TARGETS = {"PUT 4 KiB": 3.0, "GET 4 KiB": 3.0, "list ": 5.0}


def _target(measure_name: str) -> float | None:
    for prefix, x in TARGETS.items():
        if measure_name.startswith(prefix):
            return x
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--listing", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", type=lambda v: set(v.split(",")),
                    default={"small", "listing", "large"},
                    help="comma-separated sections: small, listing, large")
    ap.add_argument("--no-swift", action="store_true",
                    help="overcast only (no side-by-side with real Swift)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-obj-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the 1 GiB file and both stores


def run(args: argparse.Namespace, tmp: Path) -> None:
    src = tmp / "large.bin"
    with open(src, "wb") as fh:
        for _ in range(args.large_mib):
            fh.write(os.urandom(1 << 20))
    ceiling, _, md5_hex = md5_ceiling(src, args.runs, args.large_mib)
    load = [os.getloadavg()[0]]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp / "cloud", port, 1)
    try:
        tok, project = token(base, tmp / "cloud")
        ours, ours_cpu = measure(f"{base}/object/v1/AUTH_{project}", tok, args, src,
                                 md5_hex, CpuMeter([proc.pid]))
    finally:
        proc.terminate()
        proc.wait(30)
    load.append(os.getloadavg()[0])
    theirs: dict[str, float] = {}
    theirs_cpu: dict[str, float] = {}
    why_not = None if not args.no_swift else "--no-swift"
    why_not = why_not or swift_saio.available()
    if why_not is None:
        with swift_saio.SwiftAllInOne(tmp / "swift") as saio:
            theirs, theirs_cpu = measure(saio.storage_url, saio.token, args, src, md5_hex,
                                         CpuMeter(p.pid for p in saio.procs))
        load.append(os.getloadavg()[0])
    src.unlink()
    print("overcast up (SQLite, file backend) beside Swift 2.30 (SAIO, tempauth, one "
          "worker per server); 4 KiB rates in requests/s")
    print(f"load average (1 min) during the runs: {', '.join(f'{x:.1f}' for x in load)}")
    print(f"{'measure':<30}{'overcast':>11}{'swift':>11}{'ratio':>8}{'target':>8}"
          f"{'oc cpu':>9}{'swift cpu':>11}{'cpu ratio':>11}")
    for k, v in ours.items():
        if k.startswith("large PUT / md5"):
            continue
        other, ms, other_ms = theirs.get(k), ours_cpu[k], theirs_cpu.get(k)
        cpu_cols = f"{ms:>9.2f}" + (f"{other_ms:>11.2f}{other_ms / ms:>10.2f}x"
                                    if other_ms and ms else "")
        if other:
            ratio = other / v if k.startswith("list") else v / other
            tgt = _target(k)
            print(f"{k:<30}{v:>11.1f}{other:>11.1f}{ratio:>7.2f}x"
                  f"{(f'{tgt:.0f}x' if tgt else ''):>8}{cpu_cols}")
        else:
            print(f"{k:<30}{v:>11.1f}{'-':>11}{'':>16}{cpu_cols}")
    print("cpu: the serving processes' CPU (utime+stime, whole process tree) in ms per "
          "request, per listing, per MiB for the large object; cpu ratio = swift / "
          "overcast (load-independent)")
    put = ours.get(f"PUT {args.large_mib} MiB (MiB/s)", 0.0)
    per_run = ours.get("large PUT / md5 (per run)", 0.0)
    if "large" in args.only:
        print(f"{'md5 before the runs (MiB/s)':<30}{ceiling:>11.1f}")
        print(f"{'large PUT / md5 (each run)':<30}{per_run:>11.0%}"
              + (f"{theirs.get('large PUT / md5 (per run)', 0.0):>11.0%}" if theirs else "")
              + f"{'80%':>16}")
    if why_not:
        print(f"(no side-by-side: {why_not})")
    print(json.dumps({"overcast": ours, "swift": theirs, "overcast_cpu_ms": ours_cpu,
                      "swift_cpu_ms": theirs_cpu, "md5_ceiling": ceiling,
                      "put_vs_md5": put / ceiling, "put_vs_md5_each_run": per_run,
                      "load": load}, indent=1))


if __name__ == "__main__":
    main()
