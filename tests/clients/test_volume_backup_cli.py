"""Volume backups with the real openstackclient against a live `overcast up`:
`openstack volume backup create|list|show|restore|delete`, the bytes kept in the
object store and restored byte for byte."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


def wait(fn: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if ok(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {got}")
        time.sleep(0.5)


def test_volume_backup_cli(live: Live) -> None:
    tag = uuid.uuid4().hex[:6]
    src, bk, dst = f"bsrc-{tag}", f"bk-{tag}", f"bdst-{tag}"
    vid = live.osc("volume", "create", "--size", "1", src)["id"]
    wait(lambda: live.osc("volume", "show", src), lambda v: v["status"] == "available")
    path = live.data_dir / "volumes" / f"volume-{vid}"
    with open(path, "r+b") as f:
        f.write(b"BACKED UP BY THE CLI")
        f.seek((1 << 30) - 3)
        f.write(b"END")

    made = live.osc("volume", "backup", "create", "--name", bk, src)
    bid = made["id"]
    shown = wait(lambda: live.osc("volume", "backup", "show", bk),
                 lambda b: b["status"] in ("available", "error"))
    assert shown["status"] == "available", shown
    assert shown["volume_id"] == vid and shown["size"] == 1
    assert shown["container"] == "volumebackups"
    rows = live.osc("volume", "backup", "list")
    assert [r["Status"] for r in rows if r["ID"] == bid] == ["available"]
    # the backup's objects are in the project's account, visible to the user
    objs = live.osc("object", "list", "volumebackups")
    assert any(o["Name"].endswith("_metadata") and bid in o["Name"] for o in objs)

    dvid = live.osc("volume", "create", "--size", "1", dst)["id"]
    wait(lambda: live.osc("volume", "show", dst), lambda v: v["status"] == "available")
    # OSC asks for --force before it restores onto an existing volume
    live.osc("volume", "backup", "restore", "--force", bk, dst, fmt=False)
    wait(lambda: live.osc("volume", "show", dst), lambda v: v["status"] == "available")
    wait(lambda: live.osc("volume", "backup", "show", bk),
         lambda b: b["status"] == "available")
    with open(live.data_dir / "volumes" / f"volume-{dvid}", "rb") as f:
        assert f.read(20) == b"BACKED UP BY THE CLI"
        f.seek((1 << 30) - 3)
        assert f.read(3) == b"END"

    # restored to a new volume, named by the restore
    fresh = f"bnew-{tag}"
    live.osc("volume", "backup", "restore", bk, fresh, fmt=False)
    new = wait(lambda: live.osc("volume", "show", fresh), lambda v: v["status"] == "available")
    assert new["size"] == 1
    wait(lambda: live.osc("volume", "backup", "show", bk),
         lambda b: b["status"] == "available")
    with open(live.data_dir / "volumes" / f"volume-{new['id']}", "rb") as f:
        assert f.read(20) == b"BACKED UP BY THE CLI"

    live.osc("volume", "backup", "delete", bk, fmt=False)
    wait(lambda: live.osc("volume", "backup", "list"),
         lambda rows: bid not in [r["ID"] for r in rows])
    for name in (src, dst, fresh):
        live.osc("volume", "delete", name, fmt=False)
