"""Shared helpers of the block storage API tests: a cloud whose storage host
exports NBD on a free port, waiting for statuses, and short request helpers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

LATEST = {"OpenStack-API-Version": "volume 3.55"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def volume_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from build_cloud(tmp_path_factory.mktemp("volcloud"), volume_nbd_port=free_port())


class Vol:
    """One project's view of the block storage API."""

    def __init__(self, cloud: Cloud, headers: dict[str, str], project_id: str,
                 version: str = "3.55") -> None:
        self.cloud = cloud
        self.headers = {**headers, "OpenStack-API-Version": f"volume {version}"}
        self.project_id = project_id
        self.base = f"/volume/v3/{project_id}"

    def at(self, version: str) -> Vol:
        return Vol(self.cloud, self.headers, self.project_id, version)

    def req(self, method: str, path: str, **kw: Any) -> Any:
        kw.setdefault("headers", self.headers)
        return self.cloud.client.request(method, self.base + path, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.req("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.req("POST", path, json=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.req("PUT", path, json=body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.req("DELETE", path, **kw)

    def action(self, vid: str, name: str, arg: Any = None) -> Any:
        return self.post(f"/volumes/{vid}/action", {name: arg})

    def create(self, expect: str = "available", **body: Any) -> dict[str, Any]:
        body.setdefault("size", 1)
        r = self.post("/volumes", {"volume": body})
        assert r.status_code == 202, r.text
        return self.wait(r.json()["volume"]["id"], expect)

    def wait(self, vid: str, status: str, kind: str = "volumes",
             timeout: float = 30) -> dict[str, Any]:
        key = kind[:-1]
        deadline = time.monotonic() + timeout
        while True:
            r = self.get(f"/{kind}/{vid}")
            if status == "gone" and r.status_code == 404:
                return {}
            assert r.status_code == 200, r.text
            item: dict[str, Any] = r.json()[key]
            if item["status"] == status:
                return item
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind} {vid} is {item['status']}, not {status}")
            time.sleep(0.05)

    def snapshot(self, vid: str, **body: Any) -> dict[str, Any]:
        r = self.post("/snapshots", {"snapshot": {"volume_id": vid, **body}})
        assert r.status_code == 202, r.text
        return self.wait(r.json()["snapshot"]["id"], "available", "snapshots")


def volume_file(cloud: Cloud, vid: str) -> Path:
    return cloud.data_dir / "volumes" / f"volume-{vid}"


def admin_vol(cloud: Cloud) -> Vol:
    return Vol(cloud, cloud.admin(), cloud.project_of(cloud.admin()))


def member_vol(cloud: Cloud, role: str = "member") -> Vol:
    u = cloud.make_project_user(role)
    return Vol(cloud, u["headers"], u["project_id"])
