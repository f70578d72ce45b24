"""The image user story with the real openstackclient and openstacksdk."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "32M"], check=True)
    # some content past the header, so a corrupted transfer would show
    with open(path, "ab") as fh:
        fh.write(os.urandom(200_000))
    return path


def test_image_story_cli(live: Live, disk: Path, tmp_path: Path) -> None:
    name = f"img-{uuid.uuid4().hex[:6]}"
    img = live.osc("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                   "--file", str(disk), "--public", name)
    assert img["name"] == name
    shown = live.osc("image", "show", name)
    data = disk.read_bytes()
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["virtual_size"] == 32 * 1024 * 1024
    assert name in [r["Name"] for r in live.osc("image", "list")]
    assert [r["Name"] for r in live.osc("image", "list", "--public", "--name", name)] == [name]
    out = tmp_path / "out.qcow2"
    live.osc("image", "save", "--file", str(out), name, fmt=False)
    assert out.read_bytes() == data
    live.osc("image", "set", "--property", "os_distro=debian", "--tag", "web", name,
             fmt=False)
    shown = live.osc("image", "show", name)
    assert shown["properties"]["os_distro"] == "debian" and "web" in shown["tags"]
    live.osc("image", "unset", "--property", "os_distro", "--tag", "web", name, fmt=False)
    shown = live.osc("image", "show", name)
    assert "os_distro" not in (shown.get("properties") or {}) and "web" not in shown["tags"]
    live.osc("image", "set", "--deactivate", name, fmt=False)
    assert live.osc("image", "show", name)["status"] == "deactivated"
    live.osc("image", "set", "--activate", name, fmt=False)
    assert live.osc("image", "show", name)["status"] == "active"
    live.osc("image", "delete", name, fmt=False)
    r = live.osc("image", "show", name, check=False)
    assert r.returncode != 0


def test_image_sharing_cli(live: Live, disk: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    project = live.osc("project", "create", f"share-{suffix}")
    user = live.osc("user", "create", "--password", "pw-share", "--project", project["id"],
                    f"share-{suffix}")
    live.osc("role", "add", "--project", project["id"], "--user", user["id"], "member",
             fmt=False)
    live.add_cloud(f"share-{suffix}", {
        "username": f"share-{suffix}", "password": "pw-share", "project_id": project["id"],
        "user_domain_name": "Default"})
    other = f"share-{suffix}"
    name = f"shared-{suffix}"
    img = live.osc("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                   "--file", str(disk), "--shared", name)
    assert name not in [r["Name"] for r in live.osc("image", "list", cloud=other)]
    live.osc("image", "add", "project", name, project["id"], fmt=False)
    live.osc("image", "set", "--accept", img["id"], cloud=other, fmt=False)
    assert name in [r["Name"] for r in live.osc("image", "list", cloud=other)]
    assert live.osc("image", "show", img["id"], cloud=other)["name"] == name
    r = live.osc("image", "delete", img["id"], cloud=other, check=False)
    assert r.returncode != 0
    live.osc("image", "delete", name, fmt=False)


def test_image_sdk_and_server_boot(live: Live, disk: Path) -> None:
    conn = live.sdk()
    name = f"sdk-{uuid.uuid4().hex[:6]}"
    image = conn.create_image(name, filename=str(disk), disk_format="qcow2",
                              container_format="bare", wait=True, visibility="public")
    assert image.status == "active" and image.size == disk.stat().st_size
    fetched = conn.image.find_image(name)
    assert fetched.id == image.id
    assert conn.image.download_image(fetched).content == disk.read_bytes()
    # the CLI boots a server from it by name and waits for ACTIVE
    vm = f"vm-{uuid.uuid4().hex[:6]}"
    server = live.osc("server", "create", "--flavor", "m1.tiny", "--image", name,
                      "--nic", "none", "--wait", vm)
    assert server["status"] == "ACTIVE"
    rows = [r for r in live.osc("server", "list") if r["Name"] == vm]
    assert rows and rows[0]["Image"] == name
    live.osc("server", "delete", "--wait", vm, fmt=False)
    conn.delete_image(name, wait=True)
    assert conn.image.find_image(name) is None


def test_overcast_up_registered_the_tiny_guest(live: Live) -> None:
    machine = live.osc("image", "show", "overcast-tiny")
    assert machine["status"] == "active" and machine["disk_format"] == "ami"
    props = machine["properties"]
    kernel = live.osc("image", "show", props["kernel_id"])
    ramdisk = live.osc("image", "show", props["ramdisk_id"])
    assert kernel["name"] == "overcast-tiny-kernel" and kernel["disk_format"] == "aki"
    assert ramdisk["name"] == "overcast-tiny-ramdisk" and ramdisk["disk_format"] == "ari"
    assert machine["visibility"] == "public"
