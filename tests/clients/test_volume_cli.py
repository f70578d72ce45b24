"""The block storage user story with the real openstackclient and openstacksdk
against a live `overcast up` (its in-process storage host)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


def wait(fn: Callable[[], dict[str, Any]], key: str, want: Any, timeout: float = 60
         ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got[key] == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} is {got[key]!r}, not {want!r}: {got}")
        time.sleep(0.5)


def test_volume_story_cli(live: Live, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    data1, snap1, data2, root1, fast = (f"{n}-{tag}" for n in (
        "data1", "snap1", "data2", "root1", "fast"))

    def show(name: str) -> dict[str, Any]:
        return live.osc("volume", "show", name)  # type: ignore[no-any-return]

    made = live.osc("volume", "create", "--size", "1", data1)
    assert made["name"] == data1 and made["size"] == 1
    wait(lambda: show(data1), "status", "available")
    rows = {r["Name"]: r for r in live.osc("volume", "list", "--long")}
    assert rows[data1]["Status"] == "available" and rows[data1]["Size"] == 1
    assert rows[data1]["Type"] == "__DEFAULT__"
    live.osc("volume", "set", "--size", "2", data1, fmt=False)
    wait(lambda: show(data1), "size", 2)

    live.osc("volume", "snapshot", "create", "--volume", data1, snap1)
    wait(lambda: live.osc("volume", "snapshot", "show", snap1), "status", "available")
    live.osc("volume", "create", "--snapshot", snap1, "--size", "2", data2)
    shown = wait(lambda: show(data2), "status", "available")
    assert shown["snapshot_id"] == live.osc("volume", "snapshot", "show", snap1)["id"]

    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\xeb\x3c" + b"\0" * (4 << 20))
    img = f"img-{tag}"
    live.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
             "--file", str(disk), "--public", img)
    live.osc("volume", "create", "--image", img, "--size", "1", "--bootable", root1)
    root = wait(lambda: show(root1), "status", "available")
    assert root["bootable"] in ("true", True)
    assert root["volume_image_metadata"]["image_name"] == img

    vtype = live.osc("volume", "type", "create", "--property", "volume_backend_name=file",
                     fast)
    assert vtype["name"] == fast
    assert "volume_backend_name" in str(vtype["properties"])
    live.osc("volume", "create", "--type", fast, "--size", "1", f"typed-{tag}")
    typed = wait(lambda: show(f"typed-{tag}"), "status", "available")
    assert typed["type"] == fast

    quota = live.osc("quota", "show", "--volume")
    text = str(quota)
    assert "volumes" in text and "gigabytes" in text and "snapshots" in text

    services = live.osc("volume", "service", "list")
    binaries = {s["Binary"]: s for s in services}
    assert binaries["cinder-volume"]["State"] == "up"
    assert binaries["cinder-volume"]["Status"] == "enabled"

    # deleting a volume with snapshots is refused, then works once they are gone
    refused = live.osc("volume", "delete", data1, fmt=False, check=False)
    assert refused.returncode != 0
    live.osc("volume", "snapshot", "delete", snap1, fmt=False)
    deadline = time.monotonic() + 30
    while snap1 in [r["Name"] for r in live.osc("volume", "snapshot", "list")]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    live.osc("volume", "delete", data1, fmt=False)
    deadline = time.monotonic() + 30
    while data1 in [r["Name"] for r in live.osc("volume", "list")]:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_transfer_to_another_project(live: Live) -> None:
    tag = uuid.uuid4().hex[:6]
    project, user, password = f"taker-{tag}", f"taker-{tag}", f"pw-{tag}"
    live.osc("project", "create", project)
    live.osc("user", "create", "--password", password, "--project", project, user)
    live.osc("role", "add", "--project", project, "--user", user, "member", fmt=False)
    live.add_cloud("taker", {"username": user, "password": password,
                             "project_name": project, "user_domain_name": "Default",
                             "project_domain_name": "Default"})
    gift = f"gift-{tag}"
    live.osc("volume", "create", "--size", "1", gift)
    vid = wait(lambda: live.osc("volume", "show", gift), "status", "available")["id"]
    req = live.osc("volume", "transfer", "request", "create", gift)
    assert req["auth_key"] and req["volume_id"] == vid
    listed = live.osc("volume", "transfer", "request", "list")
    assert req["id"] in [r["ID"] for r in listed]
    live.osc("volume", "transfer", "request", "accept", "--auth-key", req["auth_key"],
             req["id"], cloud="taker")
    taken = live.osc("volume", "show", vid, cloud="taker")
    assert taken["status"] == "available"
    taker_project = live.osc("project", "show", project)["id"]
    # the admin still sees it by id, now in the taker's project
    assert live.osc("volume", "show", vid)["os-vol-tenant-attr:tenant_id"] == taker_project
    assert gift in [r["Name"] for r in live.osc("volume", "list", cloud="taker")]


def test_volume_sdk(live: Live) -> None:
    conn = live.sdk()
    bs = conn.block_storage
    vol = bs.create_volume(size=1, name=f"sdk-{uuid.uuid4().hex[:6]}")
    vol = bs.wait_for_status(vol, status="available", wait=60)
    assert vol.size == 1
    assert vol.id in [v.id for v in bs.volumes(details=True)]
    bs.extend_volume(vol, 2)
    vol = bs.wait_for_status(bs.get_volume(vol.id), status="available", wait=60)
    for _ in range(60):
        if bs.get_volume(vol.id).size == 2:
            break
        time.sleep(0.5)
    assert bs.get_volume(vol.id).size == 2
    snap = bs.create_snapshot(volume_id=vol.id, name="sdk-snap")
    snap = bs.wait_for_status(snap, status="available", wait=60)
    assert snap.volume_id == vol.id
    bs.delete_snapshot(snap)
    bs.wait_for_delete(snap, wait=60)
    bs.delete_volume(vol)
    bs.wait_for_delete(vol, wait=60)
    zones = [z.name for z in bs.availability_zones()]
    assert "nova" in zones
