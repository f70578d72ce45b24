"""Benchmark: token issue (password) and token validation rates.

Starts a real `overcast up` on a free port in a temp dir and drives it over
HTTP from threads at concurrency 1 and 8, printing a table and JSON.

    .venv/bin/python bench/identity.py [--seconds 5] [--bcrypt-rounds 12]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path, port: int, rounds: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OVERCAST_BCRYPT_ROUNDS": str(rounds), "OVERCAST_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "overcast"), "up", "--data-dir", str(data_dir),
         "--port", str(port), "--no-user-clouds-yaml", "--no-agent", "--no-test-image"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/identity/v3", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("overcast did not start")


def run(fn: Any, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        client = httpx.Client(timeout=30)
        local = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            fn(client)
            local.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(local)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--bcrypt-rounds", type=int, default=12)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-"))
    port = free_port()
    proc = start(tmp / "cloud", port, args.bcrypt_rounds)
    try:
        auth = yaml.safe_load((tmp / "cloud" / "clouds.yaml").read_text())
        auth = auth["clouds"]["overcast"]["auth"]
        url = f"http://127.0.0.1:{port}/identity/v3/auth/tokens"
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"},
            "password": auth["password"]}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
        token = httpx.post(url, json=body).headers["X-Subject-Token"]

        def issue(c: httpx.Client) -> None:
            r = c.post(url, json=body)
            assert r.status_code == 201, r.text

        def validate(c: httpx.Client) -> None:
            r = c.get(url + "?nocatalog", headers={"X-Auth-Token": token,
                                                   "X-Subject-Token": token})
            assert r.status_code == 200, r.text

        results = []
        for name, fn in (("token issue (password)", issue), ("token validate", validate)):
            for conc in (1, 8):
                res = run(fn, conc, args.seconds)
                results.append({"operation": name, "concurrency": conc, **res})
        print(f"{'operation':<26}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'n':>8}")
        for r in results:
            print(f"{r['operation']:<26}{r['concurrency']:>5}{r['rate_per_s']:>10.1f}"
                  f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['requests']:>8}")
        print(json.dumps({"bcrypt_rounds": args.bcrypt_rounds, "results": results}, indent=1))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
