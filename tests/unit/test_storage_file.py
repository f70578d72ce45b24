"""The embedded storage backend (`agent/storage/file.py`) and its NBD exports, with
real qemu-img and qemu-storage-daemon: the StorageDriver contract's promises
(idempotent steps, thin files, copies that carry the bytes, exports that serve
them, a daemon found again after a crash)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from overcast.agent.storage.base import GiB, StorageError, StorageNotFound
from overcast.agent.storage.file import FileDriver

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("qemu-img", "qemu-io", "qemu-storage-daemon")),
    reason="qemu-img, qemu-io and qemu-storage-daemon are needed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def driver(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = FileDriver(tmp_path / "vols", host="storage-1", nbd_port=free_port())
    run(d.start())
    yield d
    run(d.stop())


def test_blank_volumes_are_thin_and_steps_are_idempotent(driver: FileDriver) -> None:
    assert run(driver.create_blank("v1", 2)) == 2 * GiB
    path = driver.volume_path("v1")
    assert path.stat().st_size == 2 * GiB and path.stat().st_blocks < 2048
    assert run(driver.create_blank("v1", 2)) == 2 * GiB  # again: nothing changes
    assert run(driver.list_volumes()) == {"v1": 2 * GiB}
    run(driver.delete("v1"))
    run(driver.delete("v1"))  # already gone: done
    assert run(driver.list_volumes()) == {}


def test_half_made_files_are_not_volumes_and_go_at_start(driver: FileDriver) -> None:
    part = driver.root / "volume-half.part"
    part.write_bytes(b"x")
    assert run(driver.list_volumes()) == {}
    run(driver.start())
    assert not part.exists()


def test_image_snapshot_clone_and_extend_carry_the_bytes(driver: FileDriver,
                                                         tmp_path: Path) -> None:
    image = tmp_path / "img.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"],
                   check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x42 1M 4k", str(image)],
                   check=True, capture_output=True)
    run(driver.create_from_image("v", 1, image, "qcow2"))

    def byte_at(path: Path, offset: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(1)

    assert byte_at(driver.volume_path("v"), 1 << 20) == b"\x42"
    run(driver.create_snapshot("s", "v"))
    assert run(driver.list_snapshots()) == ["s"]
    run(driver.create_from_snapshot("w", "s", 2))
    run(driver.clone("c", "v", 1))
    assert byte_at(driver.volume_path("w"), 1 << 20) == b"\x42"
    assert byte_at(driver.volume_path("c"), 1 << 20) == b"\x42"
    assert driver.volume_path("w").stat().st_size == 2 * GiB
    assert run(driver.extend("v", 3)) == 3 * GiB
    with pytest.raises(StorageError):
        run(driver.extend("v", 1))
    with pytest.raises(StorageError):  # the image is larger than the volume
        big = tmp_path / "big.raw"
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(big), "2G"], check=True)
        run(driver.create_from_image("toobig", 1, big, "raw"))
    assert "toobig" not in run(driver.list_volumes())
    with pytest.raises(StorageNotFound):
        run(driver.create_from_snapshot("x", "nosuch", 1))
    out = tmp_path / "out.qcow2"
    run(driver.copy_to_image("v", out, "qcow2"))
    info = subprocess.run(["qemu-img", "info", str(out)], capture_output=True, text=True)
    assert "qcow2" in info.stdout and "3 GiB" in info.stdout
    run(driver.delete_snapshot("s"))
    assert run(driver.list_snapshots()) == []


def test_exports_file_here_nbd_elsewhere_and_the_daemon_survives_a_crash(
        driver: FileDriver, tmp_path: Path) -> None:
    run(driver.create_blank("v", 1))
    local = run(driver.export("v", {"host": "storage-1"}))
    assert local == {"driver_volume_type": "file", "data": {
        "volume_id": "v", "path": str(driver.volume_path("v")), "format": "raw",
        "read_only": False}}
    assert run(driver.list_exports()) == []
    remote = run(driver.export("v", {"host": "compute-2"}))
    assert remote["driver_volume_type"] == "nbd"
    data = remote["data"]
    url = f"nbd://127.0.0.1:{data['port']}/{data['export_name']}"
    r = subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x77 0 512", url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert driver.volume_path("v").read_bytes()[:512] == b"\x77" * 512
    assert run(driver.export("v", {"host": "compute-3"})) == remote  # one export each
    assert run(driver.list_exports()) == ["v"]
    # NBD clients learn the size at connection: no growing under them
    with pytest.raises(StorageError):
        run(driver.extend("v", 2))
    # a new component on the same directory (after kill -9) finds the daemon again
    again = FileDriver(driver.root, host="storage-1", nbd_port=data["port"])
    assert run(again.list_exports()) == ["v"]
    run(again.unexport("v"))
    run(again.unexport("v"))
    assert run(again.list_exports()) == []
    pid = again.nbd._running_pid()
    assert pid is not None
    run(again.stop())
    assert not Path(f"/proc/{pid}").exists()


def test_the_export_daemon_outlives_its_clients_disconnecting(driver: FileDriver) -> None:
    """Issue 14: an export put in an iothread (to speed NBD up) aborted
    qemu-storage-daemon 7.2 when its first client disconnected (the NBD server's
    close callback asserts it runs in the main loop, and 7.2 calls it in the
    export's iothread), taking every volume of the storage host with it. Exports
    stay in the main loop: clients come and go, the daemon and the bytes stay."""
    run(driver.create_blank("v", 1))
    data = run(driver.export("v", {"host": "compute-2"}))["data"]
    url = f"nbd://127.0.0.1:{data['port']}/{data['export_name']}"
    pid = driver.nbd._running_pid()
    for i in range(3):  # each qemu-io connects, writes and disconnects
        r = subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P 0x5{i} {i * 512} 512",
                            url], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert driver.nbd._running_pid() == pid and pid is not None
    assert driver.volume_path("v").read_bytes()[:1536] == b"".join(
        bytes([0x50 + i]) * 512 for i in range(3))
    assert run(driver.list_exports()) == ["v"]


def test_ami_images_are_probed_raw_or_qcow2(driver: FileDriver, tmp_path: Path) -> None:
    """An `ami` machine image holds a raw or qcow2 disk (qemu-img has no `ami`): it
    is written to a volume as what it holds, as Cinder does; a qcow2 that names a
    backing file is refused (it would read another file of the host)."""
    raw = tmp_path / "machine.img"
    with open(raw, "wb") as f:
        f.truncate(8 << 20)
        f.seek(1 << 20)
        f.write(b"AMI-RAW")
    run(driver.create_from_image("a", 1, raw, "ami"))
    with open(driver.volume_path("a"), "rb") as f:
        f.seek(1 << 20)
        assert f.read(7) == b"AMI-RAW"
    qcow = tmp_path / "machine.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "16M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x61 2M 4k", str(qcow)],
                   check=True, capture_output=True)
    run(driver.create_from_image("q", 1, qcow, "ami"))
    with open(driver.volume_path("q"), "rb") as f:
        f.seek(2 << 20)
        assert f.read(1) == b"\x61"
    sneaky = tmp_path / "sneaky.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(raw), "-F", "raw",
                    str(sneaky)], check=True)
    with pytest.raises(StorageError, match="other files"):
        run(driver.create_from_image("s", 1, sneaky, "ami"))
    assert "s" not in run(driver.list_volumes())
