"""The embedded storage backend: each volume a sparse raw file under the data dir.

Why raw and sparse: a blank volume is a `truncate` (thin, instant), a guest's QEMU
and the NBD export read it with no format layer, and growing it while a guest holds
it is a plain truncate (QEMU's image locks are advisory byte-range locks that a
truncate does not take; the guest's QEMU then `block_resize`s to see it). qemu-img
converts images in (any format it reads) and out, and copies volumes for snapshots
and clones; its copies keep holes, so a mostly-empty volume copies fast. A copy of
an in-use volume reads with `-U` (shared): crash-consistent, as Cinder's `force`
promises. (ext4 has no reflinks, so copies are real copies; on XFS/btrfs a
`--reflink` copy would make them copy-on-write.)

Files are written as `<name>.part` and renamed when complete, so a crash mid-create
leaves no file that looks like a volume: `list_volumes` ignores `.part` files and
`start` removes them.

Layout under `root`: `volume-<id>` and `snapshot-<id>`; the NBD daemon's socket and
pid file under `root/nbd`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from overcast.agent.storage.base import GiB, StorageDriver, StorageError, StorageNotFound
from overcast.agent.storage.nbd import NbdServer
from overcast.kit.runner import CommandError, run

#: image disk formats and qemu-img's names for them
QEMU_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc",
                "vhdx": "vhdx", "qed": "qed", "iso": "raw", "ploop": "parallels"}


def qemu_img(*args: str, timeout: float = 3600) -> str:
    try:
        return run(["qemu-img", *args], timeout=timeout).stdout
    except CommandError as exc:
        raise StorageError(exc.stderr.strip() or str(exc)) from exc


class FileDriver(StorageDriver):
    name = "file"

    def __init__(self, root: Path, *, host: str = "", nbd_address: str = "127.0.0.1",
                 nbd_port: int = 10809) -> None:
        self.root = root
        #: this storage host's name: a connector from it gets the file itself
        self.host = host or socket.gethostname()
        self.nbd = NbdServer(root / "nbd", nbd_address, nbd_port)
        self.nbd_address = nbd_address

    def volume_path(self, volume_id: str) -> Path:
        return self.root / f"volume-{volume_id}"

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.root / f"snapshot-{snapshot_id}"

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for part in [*self.root.glob("*.part"), *self.root.glob("revert-*")]:
            part.unlink(missing_ok=True)

    async def stop(self) -> None:
        await self.nbd.stop()

    # ------------------------------------------------------------ creating
    async def _finish(self, part: Path, final: Path, size_gb: int) -> int:
        """Grow a made file to its size and put it in place."""
        def go() -> int:
            want = size_gb * GiB
            have = part.stat().st_size
            if have > want:
                part.unlink(missing_ok=True)
                raise StorageError(f"the source holds {have} bytes, more than the "
                                   f"volume's {size_gb} GiB")
            if have < want:
                os.truncate(part, want)
            os.replace(part, final)
            return want

        return await asyncio.to_thread(go)

    async def create_blank(self, volume_id: str, size_gb: int) -> int:
        final = self.volume_path(volume_id)
        if final.exists():
            return final.stat().st_size
        part = final.with_name(final.name + ".part")

        def make() -> None:
            # a blank raw volume is a hole of its size: what `qemu-img create -f raw`
            # makes, without a process start (tens of ms on a busy host)
            fd = os.open(part, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            try:
                os.ftruncate(fd, size_gb * GiB)
            finally:
                os.close(fd)

        await asyncio.to_thread(make)
        return await self._finish(part, final, size_gb)

    async def _convert(self, src: Path, fmt: str, final: Path, size_gb: int,
                       shared: bool = False) -> int:
        if not src.exists():
            raise StorageNotFound(f"{src.name} is not on this host")
        part = final.with_name(final.name + ".part")
        args = ["convert", "-q", "-f", fmt, "-O", "raw"]
        if shared:
            args.append("-U")
        try:
            await asyncio.to_thread(qemu_img, *args, str(src), str(part))
        except StorageError:
            part.unlink(missing_ok=True)
            raise
        return await self._finish(part, final, size_gb)

    async def create_from_image(self, volume_id: str, size_gb: int, image: Path,
                                image_format: str) -> int:
        final = self.volume_path(volume_id)
        if final.exists():
            return final.stat().st_size
        if image_format == "ami":
            fmt, info = await self._ami_format(image)
        else:
            known = QEMU_FORMATS.get(image_format or "raw")
            if known is None:
                raise StorageError(f"images of disk format {image_format!r} cannot be "
                                   "written to a volume")
            fmt = known
            info = json.loads(await asyncio.to_thread(
                qemu_img, "info", "-U", "--output=json", "-f", fmt, str(image)))
        if int(info.get("virtual-size", 0)) > size_gb * GiB:
            raise StorageError(f"the image's disk ({info['virtual-size']} bytes) is "
                               f"larger than the volume ({size_gb} GiB)")
        return await self._convert(image, fmt, final, size_gb)

    @staticmethod
    async def _ami_format(image: Path) -> tuple[str, dict[str, Any]]:
        """An AMI machine image is a raw or qcow2 disk (qemu-img knows no `ami`):
        its format is probed, as Cinder does, and a qcow2 that would read other
        files (a backing file, an external data file) is refused."""
        info = json.loads(await asyncio.to_thread(
            qemu_img, "info", "-U", "--output=json", str(image)))
        fmt = str(info.get("format"))
        if fmt not in ("raw", "qcow2"):
            raise StorageError(f"an ami image must hold a raw or qcow2 disk, not {fmt}")
        data = (info.get("format-specific") or {}).get("data") or {}
        if "backing-filename" in info or data.get("data-file"):
            raise StorageError("an ami image's disk must not refer to other files")
        return fmt, info

    async def create_from_snapshot(self, volume_id: str, snapshot_id: str,
                                   size_gb: int) -> int:
        final = self.volume_path(volume_id)
        if final.exists():
            return final.stat().st_size
        return await self._convert(self.snapshot_path(snapshot_id), "raw", final, size_gb)

    async def clone(self, volume_id: str, source_id: str, size_gb: int) -> int:
        final = self.volume_path(volume_id)
        if final.exists():
            return final.stat().st_size
        return await self._convert(self.volume_path(source_id), "raw", final, size_gb,
                                   shared=True)

    async def copy_from_nbd(self, volume_id: str, url: str, size_gb: int) -> int:
        final = self.volume_path(volume_id)
        if final.exists():
            return final.stat().st_size
        part = final.with_name(final.name + ".part")
        try:
            # -S: runs of zeroes stay holes, so the copy is as thin as its source
            await asyncio.to_thread(qemu_img, "convert", "-q", "-f", "raw", "-O", "raw",
                                    "-S", "64k", url, str(part))
        except StorageError:
            part.unlink(missing_ok=True)
            raise
        return await self._finish(part, final, size_gb)

    # ------------------------------------------------------------ changing
    async def delete(self, volume_id: str) -> None:
        await self.nbd.remove(volume_id)
        self.volume_path(volume_id).unlink(missing_ok=True)

    async def extend(self, volume_id: str, size_gb: int) -> int:
        path = self.volume_path(volume_id)
        if not path.exists():
            raise StorageNotFound(f"volume {volume_id} is not on this host")
        want = size_gb * GiB
        if path.stat().st_size > want:
            raise StorageError("a volume cannot shrink")
        if volume_id in await self.nbd.exports():
            # an NBD export does not share the 'resize' permission, and NBD clients
            # learn the size once, at connection: growing it under them is refused
            raise StorageError(f"volume {volume_id} is exported over NBD: it cannot grow "
                               "while a remote host uses it")
        # a truncate, not `qemu-img resize`: it works while a guest's QEMU holds the file
        # (the guest's QEMU then `block_resize`s to the new size)
        await asyncio.to_thread(os.truncate, path, want)
        return want

    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> int:
        final = self.snapshot_path(snapshot_id)
        if final.exists():
            return final.stat().st_size
        src = self.volume_path(volume_id)
        if not src.exists():
            raise StorageNotFound(f"volume {volume_id} is not on this host")
        size_gb = -(-src.stat().st_size // GiB)
        return await self._convert(src, "raw", final, size_gb, shared=True)

    async def revert(self, volume_id: str, snapshot_id: str) -> None:
        final = self.volume_path(volume_id)
        if not final.exists():
            raise StorageNotFound(f"volume {volume_id} is not on this host")
        size_gb = -(-final.stat().st_size // GiB)
        # written beside the volume and renamed over it: a crash leaves the old bytes
        tmp = self.root / f"revert-{volume_id}"
        await self._convert(self.snapshot_path(snapshot_id), "raw", tmp, size_gb)
        os.replace(tmp, final)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshot_path(snapshot_id).unlink(missing_ok=True)

    # ------------------------------------------------------------ reaching it
    async def export(self, volume_id: str, connector: dict[str, Any],
                     read_only: bool = False) -> dict[str, Any]:
        path = self.volume_path(volume_id)
        if not path.exists():
            raise StorageNotFound(f"volume {volume_id} is not on this host")
        local = connector.get("host") == self.host and connector.get("transport") != "nbd"
        if local:
            return {"driver_volume_type": "file", "data": {
                "volume_id": volume_id, "path": str(path), "format": "raw",
                "read_only": read_only}}
        await self.nbd.add(volume_id, path, read_only)
        return self.nbd.connection_info(volume_id, self.nbd_address, read_only)

    async def unexport(self, volume_id: str) -> None:
        await self.nbd.remove(volume_id)

    async def copy_to_image(self, volume_id: str, dest: Path, disk_format: str) -> None:
        src = self.volume_path(volume_id)
        if not src.exists():
            raise StorageNotFound(f"volume {volume_id} is not on this host")
        fmt = QEMU_FORMATS.get(disk_format)
        if fmt is None or disk_format == "iso":
            raise StorageError(f"a volume cannot be written as a {disk_format} image")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            await asyncio.to_thread(qemu_img, "convert", "-q", "-U", "-f", "raw", "-O", fmt,
                                    str(src), str(part))
        except StorageError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)

    # ------------------------------------------------------------ backups
    async def read_chunk(self, volume_id: str, offset: int, length: int, *,
                         snapshot_id: str = "") -> bytes:
        path = self.snapshot_path(snapshot_id) if snapshot_id else \
            self.volume_path(volume_id)
        if not path.exists():
            what = f"snapshot {snapshot_id}" if snapshot_id else f"volume {volume_id}"
            raise StorageNotFound(f"{what} is not on this host")

        def go() -> bytes:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read(length)

        return await asyncio.to_thread(go)

    async def write_chunk(self, volume_id: str, offset: int, data: bytes) -> None:
        path = self.volume_path(volume_id)
        if not path.exists():
            raise StorageNotFound(f"volume {volume_id} is not on this host")

        def go() -> None:
            if offset + len(data) > path.stat().st_size:
                raise StorageError(f"volume {volume_id} is smaller than the backup")
            with open(path, "r+b") as fh:
                fh.seek(offset)
                if data.count(0) == len(data):
                    # a zero chunk over zeros (a fresh sparse volume) is not written,
                    # so the restored volume stays thin; over data it is written
                    current = fh.read(len(data))
                    if current.count(0) == len(current):
                        return
                    fh.seek(offset)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())

        await asyncio.to_thread(go)

    # ------------------------------------------------------------ adopting files
    def _manageable_path(self, name: str) -> Path:
        path = self.root / name
        if ("/" in name or name.startswith((".", "volume-", "snapshot-", "revert-"))
                or name.endswith(".part") or not path.is_file()):
            raise StorageNotFound(f"{name} is not a manageable disk of this backend")
        return path

    async def list_manageable(self) -> list[tuple[str, int]]:
        out = []
        for p in sorted(self.root.iterdir()):
            try:
                self._manageable_path(p.name)
            except StorageNotFound:
                continue
            out.append((p.name, p.stat().st_size))
        return out

    async def manage(self, volume_id: str, source_name: str) -> int:
        return await self._adopt(self.volume_path(volume_id), source_name)

    async def manage_snapshot(self, snapshot_id: str, source_name: str) -> int:
        return await self._adopt(self.snapshot_path(snapshot_id), source_name)

    async def unmanage_snapshot(self, snapshot_id: str) -> None:
        path = self.snapshot_path(snapshot_id)
        if path.exists():
            os.replace(path, self.root / f"unmanaged-snapshot-{snapshot_id}")

    async def _adopt(self, final: Path, source_name: str) -> int:
        if final.exists():
            return final.stat().st_size
        src = self._manageable_path(source_name)
        info = json.loads(await asyncio.to_thread(
            qemu_img, "info", "-U", "--output=json", str(src)))
        if info.get("format") != "raw":
            raise StorageError(f"{source_name} is a {info.get('format')} disk: only raw "
                               "disks are volumes here")
        size_gb = max(1, -(-src.stat().st_size // GiB))
        os.truncate(src, size_gb * GiB)  # whole GiB, as Cinder sizes volumes
        os.replace(src, final)
        return size_gb * GiB

    async def unmanage(self, volume_id: str) -> None:
        await self.nbd.remove(volume_id)
        path = self.volume_path(volume_id)
        if path.exists():
            os.replace(path, self.root / f"unmanaged-{volume_id}")

    # ------------------------------------------------------------ what is here
    async def list_volumes(self) -> dict[str, int]:
        out = {}
        for p in self.root.glob("volume-*"):
            if not p.name.endswith(".part"):
                with contextlib.suppress(FileNotFoundError):
                    out[p.name.removeprefix("volume-")] = p.stat().st_size
        return out

    async def list_snapshots(self) -> list[str]:
        return sorted(p.name.removeprefix("snapshot-") for p in self.root.glob("snapshot-*")
                      if not p.name.endswith(".part"))

    async def list_exports(self) -> list[str]:
        return await self.nbd.exports()

    def capacity(self) -> tuple[float, float]:
        self.root.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.root)
        return usage.total / GiB, usage.free / GiB
