"""The tiny guest: built from Debian's packages, booted for real under QEMU."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from overcast.image.builder import (
    DISK_NAME,
    KERNEL_NAME,
    MACHINE_NAME,
    OCI_NAME,
    RAMDISK_NAME,
    BuiltImage,
    build_test_image,
    default_cache_dir,
    newc,
    register_test_images,
)
from tests.conftest import build_cloud

pytestmark = pytest.mark.skipif(
    not shutil.which("qemu-system-x86_64") or not shutil.which("apt-get"),
    reason="needs qemu-system-x86 and apt (scripts/install-host.sh installs them)")


@pytest.fixture(scope="module")
def built() -> BuiltImage:
    cache = Path(os.environ.get("OVERCAST_TEST_CACHE") or default_cache_dir())
    return build_test_image(cache)


def test_newc_archive_lists_with_cpio(tmp_path: Path) -> None:
    data = newc([("d", 0o040755, b""), ("d/f", 0o100644, b"hello"),
                 ("l", 0o120777, b"d/f")])
    listing = subprocess.run(["cpio", "-t"], input=data, capture_output=True, check=True)
    assert listing.stdout.decode().split() == ["d", "d/f", "l"]
    subprocess.run(["cpio", "-id", "--quiet"], input=data, cwd=tmp_path, check=True)
    assert (tmp_path / "d" / "f").read_bytes() == b"hello"
    assert os.readlink(tmp_path / "l") == "d/f"


def test_build_outputs_and_cache(built: BuiltImage) -> None:
    assert built.kernel.read_bytes()[:4] == b"\x7fELF"
    listing = subprocess.run(f"gzip -dc {built.ramdisk} | cpio -t", shell=True,
                             capture_output=True, text=True, check=True).stdout.split()
    assert {"init", "bin/busybox", "etc/udhcpc.sh", "lib/modules/virtio_net.ko",
            "lib/modules/vfat.ko", "lib/modules/order"} <= set(listing)
    stamp = (built.directory / "built.json").stat().st_mtime_ns
    again = build_test_image(built.directory.parent)
    assert again == built and (built.directory / "built.json").stat().st_mtime_ns == stamp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_drive(tmp: Path, meta: dict[str, object]) -> Path:
    seed = tmp / "cd"
    (seed / "openstack" / "latest").mkdir(parents=True)
    (seed / "openstack" / "latest" / "meta_data.json").write_text(json.dumps(meta))
    img = tmp / "config.img"
    subprocess.run(["mkfs.vfat", "-n", "config-2", "-C", str(img), "1024"],
                   capture_output=True, check=True)
    subprocess.run(["mcopy", "-s", "-i", str(img), str(seed / "openstack"), "::/"],
                   check=True)
    return img


def _wait_console(qemu: subprocess.Popen[bytes], console: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = console.read_text(errors="replace") if console.exists() else ""
        if "metadata:" in text:
            break
        assert qemu.poll() is None, qemu.stderr.read() if qemu.stderr else ""
        time.sleep(0.3)
    return text


def test_disk_variant_boots_through_firmware(built: BuiltImage, tmp_path: Path) -> None:
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(built.disk)],
                                     capture_output=True, check=True).stdout)
    assert info["format"] == "qcow2"
    console = tmp_path / "console.log"
    qemu = subprocess.Popen([
        "qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-m", "256", "-nodefaults",
        "-no-user-config", "-display", "none",
        "-drive", f"file={built.disk},if=virtio,format=qcow2,snapshot=on",
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile=",
        "-serial", f"file:{console}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        text = _wait_console(qemu, console, 120)
        assert "OVERCAST-GUEST-UP" in text and "address: 10.0.2.15" in text, text
    finally:
        qemu.kill()
        qemu.wait()


def test_oci_rootfs_tarball(built: BuiltImage) -> None:
    import tarfile

    with tarfile.open(built.oci) as tar:
        names = set(tar.getnames())
        assert {"init", "bin/busybox", "bin/sh", "etc/udhcpc.sh"} <= names
        assert not any(n.endswith(".ko") for n in names)
        assert tar.getmember("init").mode & 0o111


def test_guest_boots_reads_config_drive_and_serves_http(built: BuiltImage,
                                                         tmp_path: Path) -> None:
    uuid = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    drive = _config_drive(tmp_path, {
        "uuid": uuid, "hostname": "tiny-one.novalocal",
        "public_keys": {"k": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST test@overcast"}})
    port = _free_port()
    console = tmp_path / "console.log"
    qemu = subprocess.Popen([
        "qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-m", "256", "-nodefaults",
        "-no-user-config", "-display", "none", "-kernel", str(built.kernel),
        "-initrd", str(built.ramdisk), "-append", "console=ttyS0 quiet panic=-1",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:80",
        "-device", "virtio-net-pci,netdev=n0,romfile=",
        "-drive", f"file={drive},if=virtio,format=raw,readonly=on",
        "-serial", f"file:{console}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        text = _wait_console(qemu, console, 90)
        assert "OVERCAST-GUEST-UP" in text, text
        assert f"instance-id: {uuid}" in text and "hostname: tiny-one" in text
        assert "metadata: configdrive" in text and "keys: 1" in text
        assert "address: 10.0.2.15" in text  # DHCP from QEMU's user network
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.read().decode().split() == [uuid, "tiny-one"]
    finally:
        qemu.kill()
        qemu.wait()


def test_register_the_ami_triple_once(built: BuiltImage, tmp_path: Path) -> None:
    gen = build_cloud(tmp_path)
    cloud = next(gen)
    try:
        images = cloud.app.state.images
        first = register_test_images(images, built)
        assert register_test_images(images, built) == first
        listed = cloud.client.get("/image/v2/images", headers=cloud.admin()).json()["images"]
        by_name = {i["name"]: i for i in listed}
        assert set(by_name) == {KERNEL_NAME, RAMDISK_NAME, MACHINE_NAME, DISK_NAME, OCI_NAME}
        assert by_name[DISK_NAME]["disk_format"] == "qcow2"
        assert by_name[DISK_NAME]["virtual_size"] == (2048 + 32768 * 2) * 512
        assert by_name[OCI_NAME]["container_format"] == "docker"
        machine = by_name[MACHINE_NAME]
        assert machine["id"] == first and machine["disk_format"] == "ami"
        assert machine["kernel_id"] == by_name[KERNEL_NAME]["id"]
        assert machine["ramdisk_id"] == by_name[RAMDISK_NAME]["id"]
        assert by_name[KERNEL_NAME]["disk_format"] == "aki"
        assert by_name[KERNEL_NAME]["size"] == built.kernel.stat().st_size
        assert all(i["visibility"] == "public" and i["status"] == "active" for i in listed)
    finally:
        gen.close()
