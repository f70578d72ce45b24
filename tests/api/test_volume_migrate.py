"""Volume migration between two storage hosts (os-migrate_volume): the new host
copies the bytes from the old one's NBD export. The second storage host is a
second storage component on the same bus, with its own directory and NBD port."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.storage.component import StorageComponent
from overcast.agent.storage.file import FileDriver
from tests.api.volume_helpers import Vol, admin_vol, free_port, volume_cloud, volume_file
from tests.conftest import Cloud

pytestmark = pytest.mark.skipif(shutil.which("qemu-storage-daemon") is None,
                                reason="qemu-storage-daemon is needed")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from volume_cloud(tmp_path_factory)


@pytest.fixture(scope="module")
def second(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("storage-b")
    driver = FileDriver(root, host="storage-b", nbd_port=free_port())
    driver.name = "fileb"  # another backend, for volume types to name
    comp = StorageComponent("storage-b", driver)
    cloud.client.portal.call(comp.start_on, cloud.app.state.bus)
    yield {"root": root, "host": "storage-b@fileb"}
    cloud.client.portal.call(comp.stop)


def wait_migration(vol: Vol, vid: str) -> dict[str, Any]:
    for _ in range(600):
        v: dict[str, Any] = vol.get(f"/volumes/{vid}").json()["volume"]
        if v["os-vol-mig-status-attr:migstat"] in ("success", "error"):
            return v
        time.sleep(0.05)
    raise AssertionError("migration did not end")


def test_migrate_moves_the_bytes_to_the_other_host(cloud: Cloud, second: dict[str, Any]
                                                   ) -> None:
    adm = admin_vol(cloud)
    services = {s["host"] for s in adm.get("/os-services").json()["services"]}
    assert second["host"] in services
    adm.put("/os-services/disable", {"host": second["host"], "binary": "cinder-volume"})
    v = adm.create()
    adm.put("/os-services/enable", {"host": second["host"], "binary": "cinder-volume"})
    assert not v["os-vol-host-attr:host"].startswith("storage-b")
    src: Path = volume_file(cloud, v["id"])
    with open(src, "r+b") as f:
        f.seek(5 << 20)
        f.write(b"MIGRATED")
    assert adm.action(v["id"], "os-migrate_volume", {"host": "nowhere@file"}
                      ).status_code == 400
    assert adm.action(v["id"], "os-migrate_volume", {"host": v["os-vol-host-attr:host"]}
                      ).status_code == 400
    r = adm.action(v["id"], "os-migrate_volume", {"host": second["host"] + "#fileb"})
    assert r.status_code == 202, r.text
    done = wait_migration(adm, v["id"])
    assert done["os-vol-mig-status-attr:migstat"] == "success"
    assert done["status"] == "available"
    assert done["os-vol-host-attr:host"] == "storage-b@fileb#fileb"
    moved = second["root"] / f"volume-{v['id']}"
    with open(moved, "rb") as f:
        f.seek(5 << 20)
        assert f.read(8) == b"MIGRATED"
    assert moved.stat().st_size == 1 << 30
    assert not src.exists()
    member = Vol(cloud, cloud.admin(), cloud.project_of(cloud.admin()))
    assert member.action(v["id"], "os-extend", {"new_size": 2}).status_code == 202
    assert member.wait(v["id"], "available")["size"] == 2
    assert moved.stat().st_size == 2 << 30


def test_retype_onto_another_backend_migrates_on_demand(cloud: Cloud,
                                                       second: dict[str, Any]) -> None:
    adm = admin_vol(cloud)
    t = adm.post("/types", {"volume_type": {"name": "on-b", "extra_specs": {
        "volume_backend_name": "fileb"}}}).json()["volume_type"]
    adm.put("/os-services/disable", {"host": second["host"], "binary": "cinder-volume"})
    v = adm.create()
    adm.put("/os-services/enable", {"host": second["host"], "binary": "cinder-volume"})
    r = adm.action(v["id"], "os-retype", {"new_type": "on-b"})
    assert r.status_code == 400  # another backend needs on-demand migration
    r = adm.action(v["id"], "os-retype", {"new_type": "on-b",
                                          "migration_policy": "on-demand"})
    assert r.status_code == 202, r.text
    done = wait_migration(adm, v["id"])
    assert done["os-vol-mig-status-attr:migstat"] == "success"
    assert (done["volume_type"], done["status"]) == ("on-b", "available")
    assert done["os-vol-host-attr:host"] == "storage-b@fileb#fileb"
    assert (second["root"] / f"volume-{v['id']}").exists()
    assert t["id"]
