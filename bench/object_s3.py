"""Benchmark: the S3 API on the object store — small-object rates through boto3.

Starts a real `overcast up` (SQLite, file backend), makes an EC2 key pair for
the admin (Keystone's OS-EC2), and measures for --seconds each, with 1 and 8
clients (threads, each with its own boto3 client and keep-alive connections):
  PUT 4 KiB   boto3 put_object (SigV4, payload hashed, as boto3 sends over http)
  GET 4 KiB   boto3 get_object
  presigned   GET of a presigned URL with http.client (no client-side signing:
              the server's signature check and the read alone)
Prints a table (requests per second), then JSON. Kept apart from bench/object.py
(the Swift rows) so both can change independently.

    .venv/bin/python bench/object_s3.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import start, token  # noqa: E402
from identity import free_port  # noqa: E402

SMALL = os.urandom(4096)


def _client(endpoint: str, access: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=access, aws_secret_access_key=secret,
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def _rate(work: Any, clients: int, seconds: float) -> float:
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        state = work(n, None)
        i = 0
        while time.monotonic() < stop:
            work(n, i, state)
            i += 1
        counts[n] = i

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-s3-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp / "cloud", port, 1)
    out: dict[str, float] = {}
    try:
        tok, project = token(base, tmp / "cloud")
        who = httpx.get(f"{base}/identity/v3/auth/tokens",
                        headers={"X-Auth-Token": tok, "X-Subject-Token": tok}).json()
        uid = who["token"]["user"]["id"]
        cred = httpx.post(f"{base}/identity/v3/users/{uid}/credentials/OS-EC2",
                          headers={"X-Auth-Token": tok},
                          json={"tenant_id": project}).json()["credential"]
        endpoint = f"{base}/object/s3"
        s3 = _client(endpoint, cred["access"], cred["secret"])
        s3.create_bucket(Bucket="bench")
        for i in range(8):
            s3.put_object(Bucket="bench", Key=f"seed-{i}", Body=SMALL)

        def put(n: int, i: int | None, state: Any = None) -> Any:
            if i is None:
                return _client(endpoint, cred["access"], cred["secret"])
            state.put_object(Bucket="bench", Key=f"p-{n}-{i % 2000}", Body=SMALL)
            return None

        def get(n: int, i: int | None, state: Any = None) -> Any:
            if i is None:
                return _client(endpoint, cred["access"], cred["secret"])
            state.get_object(Bucket="bench", Key=f"seed-{n}")["Body"].read()
            return None

        def presigned(n: int, i: int | None, state: Any = None) -> Any:
            if i is None:
                url = s3.generate_presigned_url("get_object", Params={
                    "Bucket": "bench", "Key": f"seed-{n}"}, ExpiresIn=3600)
                parts = urlsplit(url)
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                return conn, f"{parts.path}?{parts.query}"
            conn, path = state
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            return None

        for clients in (1, 8):
            label = f"{clients} client{'s' if clients > 1 else ''}"
            out[f"PUT 4 KiB boto3, {label}"] = _rate(put, clients, args.seconds)
            out[f"GET 4 KiB boto3, {label}"] = _rate(get, clients, args.seconds)
            out[f"GET 4 KiB presigned, {label}"] = _rate(presigned, clients, args.seconds)
    finally:
        proc.terminate()
        proc.wait(30)
    print("overcast up, SQLite, file backend; S3 4 KiB rates in requests/s")
    print(f"{'measure':<36}{'value':>12}")
    for k, v in out.items():
        print(f"{k:<36}{v:>12.1f}")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
