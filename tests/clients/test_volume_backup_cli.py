"""Volume backups with the real openstackclient against a live `overcast up`:
`openstack volume backup create [--incremental]|list|show|restore|delete`, the bytes
kept in the object store and restored byte for byte (an incremental backup's from
its chain)."""

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

    # incremental: only the changed chunk is stored; a restore reassembles the chain
    with open(path, "r+b") as f:
        f.seek(100 << 20)
        f.write(b"CHANGED AFTER THE FULL BACKUP")
    inc = f"bkinc-{tag}"
    iid = live.osc("volume", "backup", "create", "--incremental", "--name", inc, src)["id"]
    shown = wait(lambda: live.osc("volume", "backup", "show", inc),
                 lambda b: b["status"] in ("available", "error"))
    assert shown["status"] == "available", shown
    assert shown["is_incremental"] is True and shown["object_count"] == 2
    assert live.osc("volume", "backup", "show", bk)["has_dependent_backups"] is True
    chained = f"bchain-{tag}"
    live.osc("volume", "backup", "restore", inc, chained, fmt=False)
    got = wait(lambda: live.osc("volume", "show", chained),
               lambda v: v["status"] == "available")
    wait(lambda: live.osc("volume", "backup", "show", inc),
         lambda b: b["status"] == "available")
    with open(live.data_dir / "volumes" / f"volume-{got['id']}", "rb") as f:
        assert f.read(20) == b"BACKED UP BY THE CLI"
        f.seek(100 << 20)
        assert f.read(29) == b"CHANGED AFTER THE FULL BACKUP"
        f.seek((1 << 30) - 3)
        assert f.read(3) == b"END"
    # the full backup goes only after the incremental one built on it
    refused = live.osc("volume", "backup", "delete", bk, fmt=False, check=False)
    assert refused.returncode != 0
    assert "Incremental backups exist for this backup" in refused.stderr

    for name, ident in ((inc, iid), (bk, bid)):
        live.osc("volume", "backup", "delete", name, fmt=False)
        wait(lambda: live.osc("volume", "backup", "list"),
             lambda rows, ident=ident: ident not in [r["ID"] for r in rows])
    for name in (src, dst, fresh, chained):
        live.osc("volume", "delete", name, fmt=False)
