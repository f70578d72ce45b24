"""The fake-boot loads of bench/peers, over HTTP as users would, against any
compute API (overcast's `/compute/v2.1` or Nova's `/v2.1`): the same requests,
the same clients, the same clock for both sides.

- serial: one client boots a server, polls it every 5 ms until ACTIVE (or ERROR),
  then the next: POST-to-ACTIVE p50/p95;
- burst: `n` servers posted at once by `clients` threads, each thread polling its
  own servers every `poll` seconds (20 clients every 20 ms is the load that once
  starved overcast's conductor): wall time from the first POST until the last is
  ACTIVE, p50 POST-to-ACTIVE, how many went to ERROR and how many never settled.

Boots use `networks: none` (compute 2.37), so neither side needs a network service.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import httpx

#: compute 2.37 is the first microversion with `networks: none`
MICROVERSION = "compute 2.37"


def _boot(c: httpx.Client, image: str, flavor: str, name: str) -> str:
    r = c.post("/servers", json={"server": {
        "name": name, "flavorRef": flavor, "imageRef": image, "networks": "none"}})
    if r.status_code != 202:
        raise RuntimeError(f"POST /servers: {r.status_code} {r.text[:300]}")
    return str(r.json()["server"]["id"])


def _status(c: httpx.Client, uuid: str) -> str:
    r = c.get(f"/servers/{uuid}")
    if r.status_code != 200:
        return f"HTTP {r.status_code}"
    return str(r.json()["server"]["status"])


def _client(compute: str, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=compute, timeout=300,
                        headers={**headers, "OpenStack-API-Version": MICROVERSION})


def serial(compute: str, headers: dict[str, str], image: str, flavor: str, n: int,
           timeout: float = 300) -> dict[str, Any]:
    lat: list[float] = []
    errors = 0
    with _client(compute, headers) as c:
        for i in range(n):
            t0 = time.perf_counter()
            uuid = _boot(c, image, flavor, f"serial-{i}")
            while (st := _status(c, uuid)) not in ("ACTIVE", "ERROR"):
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"server {uuid} still {st} after {timeout} s")
                time.sleep(0.005)
            errors += st == "ERROR"
            lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    return {"servers": n, "p50_ms": statistics.median(lat),
            "p95_ms": lat[max(0, int(n * 0.95) - 1)], "errors": errors}


def burst(compute: str, headers: dict[str, str], image: str, flavor: str, n: int,
          clients: int = 20, poll: float = 0.02, timeout: float = 600) -> dict[str, Any]:
    posted: dict[str, float] = {}
    done: dict[str, tuple[float, str]] = {}
    lock = threading.Lock()
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    gate = threading.Barrier(clients + 1)
    failures: list[str] = []

    def client(k: int) -> None:
        mine: list[str] = []
        try:
            with _client(compute, headers) as c:
                gate.wait()
                for i in range(share[k]):
                    t0 = time.perf_counter()
                    uuid = _boot(c, image, flavor, f"burst-{k}-{i}")
                    with lock:
                        posted[uuid] = t0
                    mine.append(uuid)
                deadline = time.perf_counter() + timeout
                while mine and time.perf_counter() < deadline:
                    for uuid in list(mine):
                        st = _status(c, uuid)
                        if st in ("ACTIVE", "ERROR"):
                            with lock:
                                done[uuid] = (time.perf_counter(), st)
                            mine.remove(uuid)
                    time.sleep(poll)
        except Exception as exc:  # noqa: BLE001 - reported in the row
            failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    lat = sorted((done[u][0] - posted[u]) * 1000 for u in done)
    return {"servers": n, "clients": clients, "poll_ms": poll * 1000,
            "wall_s": (max(d[0] for d in done.values()) - t_start) if done else float("nan"),
            "p50_ms": statistics.median(lat) if lat else float("nan"),
            "errors": sum(1 for d in done.values() if d[1] == "ERROR"),
            "unsettled": n - len(done), "client_failures": failures[:3]}


def delete_all(compute: str, headers: dict[str, str], timeout: float = 600) -> None:
    """Delete every server the project has and wait until the list is empty."""
    with _client(compute, headers) as c:
        asked: set[str] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            servers = c.get("/servers", params={"limit": 1000}).json()["servers"]
            if not servers:
                return
            for s in servers:
                if s["id"] not in asked:
                    c.delete(f"/servers/{s['id']}")
                    asked.add(s["id"])
            time.sleep(0.5)
    raise RuntimeError("servers were not deleted in time")
