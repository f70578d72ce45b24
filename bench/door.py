"""Benchmark: what the door costs on the hot paths.

Every request passes the door: the body guard (size, JSON well-formedness, 64-bit
integers) for bodies, and the route's declared schemas (kit.schema.accepts) for bodies
and query strings. This measures, in-process, the full request time of each hot path
(token validation, server list, allocation candidates as Nova asks for them, and a
server create for a body-heavy case) and, apart, the time of the door's own work on
the same request: the guard on its body and the schemas the route declares. The
share is door / request.

    .venv/bin/python bench/door.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from starlette.routing import Match, Mount

from overcast.cloud import init_cloud
from overcast.config import load_settings
from overcast.kit.body import BodyGuard
from overcast.kit.schema import Versioned


def _route_schemas(app: Any, method: str, path: str) -> dict[str, Any]:
    scope = {"type": "http", "method": method, "path": path}
    for route in app.router.routes:
        if isinstance(route, Mount) and path.startswith(route.path + "/"):
            inner = {**scope, "path": path[len(route.path):]}
            for r in route.routes:
                if r.matches(inner)[0] == Match.FULL:
                    return dict(getattr(r.endpoint, "__request_schemas__", {}))
    return {}


def _time(fn: Any, n: int) -> float:
    """Median of five runs, microseconds per call."""
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def _door_cost(app: Any, method: str, path: str, query: dict[str, str], body: Any,
               n: int, request: Any) -> float:
    declared = _route_schemas(app, method, path)
    raw = json.dumps(body).encode() if body is not None else b""

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    guard = BodyGuard(inner, render=lambda *a: None, style=lambda r: "nova")
    scope = {"type": "http", "method": method, "path": path,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(raw)).encode())]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: Any) -> None:
        return None

    loop = asyncio.new_event_loop()

    def work() -> None:
        if method in ("POST", "PUT", "PATCH"):
            loop.run_until_complete(guard(scope, receive, send))
        schema = declared.get("body")
        if schema is not None:
            (schema.for_request(request) if isinstance(schema, Versioned)
             else schema).check(body)
        if declared.get("query") is not None:
            declared["query"].check_query(query)

    try:
        return _time(work, n)
    finally:
        loop.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    n = args.requests
    tmp = Path(tempfile.mkdtemp(prefix="oc-door-"))
    settings = load_settings(data_dir=tmp / "cloud", environ={}, port=0, bcrypt_rounds=4,
                             merge_user_clouds_yaml=False, local_agent=True, fake_hosts=50,
                             build_test_image=False, log_level="warning")
    info = init_cloud(settings)
    rows = []
    with TestClient(info.app) as c:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.images import IMAGE, add_image

        pw = info.admin_password
        r = c.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": pw}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        token = r.headers["X-Subject-Token"]
        h = {"X-Auth-Token": token}
        add_image(c, h)
        project = r.json()["token"]["project"]["id"]
        c.put(f"/compute/v2.1/os-quota-sets/{project}", headers=h, json={"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})
        for i in range(50):
            c.post("/compute/v2.1/servers", headers=h, json={"server": {
                "name": f"b{i}", "flavorRef": "1", "imageRef": IMAGE}})
        nova = {**h, "OpenStack-API-Version": "compute 2.37"}
        create = {"server": {"name": "bench", "flavorRef": "1", "imageRef": IMAGE,
                             "networks": "none", "metadata": {"a": "b"}}}
        cases = [
            ("token validation", "GET", "/identity/v3/auth/tokens",
             {**h, "X-Subject-Token": token}, {}, None),
            ("server list (detail, 50)", "GET", "/compute/v2.1/servers/detail", nova, {},
             None),
            ("allocation candidates (limit=1000)", "GET", "/placement/allocation_candidates",
             {**h, "OpenStack-API-Version": "placement 1.36"},
             {"resources": "VCPU:1,MEMORY_MB:512,DISK_GB:1", "limit": "1000"}, None),
            ("server create (body)", "POST", "/compute/v2.1/servers", nova, {}, create),
        ]
        for name, method, path, headers, query, body in cases:
            per = max(50, n // 10) if method == "POST" else n

            def call(method: str = method, path: str = path, headers: Any = headers,
                     query: Any = query, body: Any = body) -> None:
                r = c.request(method, path, headers=headers, params=query, json=body)
                assert r.status_code < 300, r.text

            request_us = _time(call, max(20, per // 10))
            fake_request = type("R", (), {"state": type("S", (), {})(), "headers": {
                k.lower(): v for k, v in headers.items()}})()
            door_us = _door_cost(info.app, method, path, query, body, per, fake_request)
            rows.append({"path": name, "request_us": round(request_us, 1),
                         "door_us": round(door_us, 2),
                         "share_pct": round(door_us / request_us * 100, 2)})
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.python_version()}")
    print(f"{'path':38} {'request µs':>11} {'door µs':>9} {'share':>7}")
    for row in rows:
        print(f"{row['path']:38} {row['request_us']:>11} {row['door_us']:>9} "
              f"{row['share_pct']:>6}%")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
