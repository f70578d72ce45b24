"""The QEMU driver's image cache, and how an image boots.

Images are cached once per host in the driver's state directory: kernels and
ramdisks copied, disks converted to standalone qcow2 (after checking that they are
what they claim to be and have no backing or data file that would read host files).
Each entry is made in a temporary directory renamed into place, so a crash never
leaves a half image that looks whole.

    images/<image id>.file/data         a kernel or ramdisk, as fetched
    images/<image id>.disk/disk.qcow2   a machine image as a standalone qcow2
                          /image.json   what was checked (format, virtual size) and
                                        how it boots (kernel_id...)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from overcast.agent.virt.base import PermanentError
from overcast.agent.virt.common import write_json
from overcast.agent.virt.qemu.accel import QEMU_IMG, binary
from overcast.agent.virt.qemu.record import BootSource
from overcast.bus.messages import InstanceSpec
from overcast.kit.runner import Result, which

log = logging.getLogger("overcast.agent.virt.qemu")

#: Glance disk formats -> qemu-img format names
DISK_FORMATS = {"qcow2": "qcow2", "raw": "raw", "ami": "raw", "vmdk": "vmdk", "vdi": "vdi",
                "vhd": "vpc", "vhdx": "vhdx"}
MACHINES = ("pc", "q35")
#: the machine a kernel-booted (AMI-style) guest gets: `pc` (i440fx) hot-plugs
#: virtio-blk-pci disks through ACPI on its root bus; booted through PVH it reaches
#: userspace about as fast as microvm under TCG (HOST_FACTS §4, bench/volume_attach.py)
KERNEL_MACHINE = "pc"
#: the image properties that decide how an image boots (kept with its cached disk,
#: for a spawn whose image record is gone from the image service)
BOOT_PROPERTIES = ("disk_format", "container_format", "kernel_id", "ramdisk_id",
                   "os_command_line", "hw_machine_type")


def _prop(image: dict[str, Any], key: str) -> Any:
    """An image property: Glance v2 records carry them at the top level, older ones
    under `properties`."""
    value = image.get(key)
    if value in (None, ""):
        value = (image.get("properties") or {}).get(key)
    return value if value not in ("", None) else None


def _machine(name: str) -> str:
    """A versioned machine name (pc-q35-7.2, pc-i440fx-7.2) as its family."""
    return "q35" if name.startswith("pc-q35") else \
        "pc" if name.startswith("pc-i440fx") else name


def _is_kernel(path: Path) -> bool:
    """An ELF (vmlinux, PVH) or an x86 bzImage (setup header `HdrS`)."""
    with open(path, "rb") as fh:
        head = fh.read(0x210)
    return head[:4] == b"\x7fELF" or head[0x202:0x206] == b"HdrS"


class ImageCache:
    """The cache entries under `images_dir`, made from the files `fetch` gives (the
    agent's image fetch) with host commands run by `run` (failures retryable)."""

    def __init__(self, images_dir: Path, fetch: Callable[[str], Awaitable[Path]],
                 run: Callable[..., Awaitable[Result]]) -> None:
        self.images_dir = images_dir
        self.fetch = fetch
        self.run = run
        self._locks: dict[str, asyncio.Lock] = {}

    async def cached(self, image_id: str, kind: str, fmt: str = "raw",
                      image: dict[str, Any] | None = None) -> Path:
        """The cache entry `images/<id>.<kind>` (kind: file or disk, a disk of qemu-img
        format `fmt` whose record is `image`), made if needed."""
        if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", image_id):
            raise PermanentError(f"{image_id!r} is not an image id")
        target = self.images_dir / f"{image_id}.{kind}"
        async with self._locks.setdefault(target.name, asyncio.Lock()):
            if await asyncio.to_thread(target.is_dir):
                return target
            return await self._fill(image_id, kind, target, fmt, image or {})

    async def _fill(self, image_id: str, kind: str, target: Path, fmt: str,
                    image: dict[str, Any]) -> Path:
        src = await self.fetch(image_id)

        def prepare() -> Path:
            for stale in self.images_dir.glob(f".fill-{image_id}.{kind}-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a crash
            return Path(tempfile.mkdtemp(prefix=f".fill-{image_id}.{kind}-",
                                         dir=self.images_dir))

        tmp = await asyncio.to_thread(prepare)
        try:
            t0 = time.monotonic()
            if kind == "file":
                await asyncio.to_thread(shutil.copyfile, src, tmp / "data")
            else:
                await self._convert_disk(image_id, src, tmp, fmt, image)
            await asyncio.to_thread(os.rename, tmp, target)
            log.info("cached image %s (%s) in %.0f ms", image_id, kind,
                     (time.monotonic() - t0) * 1e3)
            return target
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
            raise

    async def _convert_disk(self, image_id: str, src: Path, tmp: Path, fmt: str,
                            image: dict[str, Any]) -> None:
        """Check the image is a disk of its declared format with no backing or data
        file, and convert it into tmp/disk.qcow2 (+ image.json)."""
        info = await self._image_info(image_id, src, fmt)
        await self.run([binary(QEMU_IMG), "convert", "-q", "-f", fmt, "-O", "qcow2",
                         str(src), str(tmp / "disk.qcow2")], timeout=3600)
        await asyncio.to_thread(write_json, tmp / "image.json", {
            "id": image_id, "source_format": fmt, "virtual_size": int(info["virtual-size"]),
            "properties": {k: _prop(image, k) for k in BOOT_PROPERTIES if _prop(image, k)},
            "cached_at": time.time()})

    async def _image_info(self, image_id: str, src: Path, fmt: str) -> dict[str, Any]:
        # qemu-img on hostile data is bounded (Nova does the same with prlimit)
        limit = ["prlimit", "--as=1073741824", "--cpu=30", "--"] if which("prlimit") else []
        r = await self.run([*limit, binary(QEMU_IMG), "info", "-f", fmt, "--output=json",
                             str(src)], check=False, timeout=60)
        if r.returncode != 0:
            raise PermanentError(f"image {image_id} is not a valid {fmt} image: "
                                 f"{r.stderr.strip()[-400:]}")
        try:
            info: dict[str, Any] = json.loads(r.stdout)
        except ValueError:
            raise PermanentError(f"image {image_id}: qemu-img info said {r.stdout[:200]!r}")
        if info.get("backing-filename") or info.get("full-backing-filename"):
            raise PermanentError(f"image {image_id} refers to a backing file "
                                 f"({info.get('backing-filename')}): refused")
        data = ((info.get("format-specific") or {}).get("data") or {})
        if data.get("data-file"):
            raise PermanentError(f"image {image_id} refers to an external data file: refused")
        if not info.get("virtual-size"):
            raise PermanentError(f"image {image_id} is an empty disk")
        return info

    def _remembered(self, image_id: str) -> dict[str, Any]:
        """The boot properties of an image whose disk is cached here ({} if none)."""
        if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", image_id):
            return {}
        try:
            info = json.loads((self.images_dir / f"{image_id}.disk" / "image.json")
                              .read_text())
        except (OSError, ValueError):
            return {}
        props = info.get("properties")
        return dict(props) if isinstance(props, dict) else {}

    async def boot_source(self, spec: InstanceSpec) -> BootSource:
        """What the instance boots from: kernel (+ramdisk) or firmware, the machine and
        the cached base of its root disk (None: a blank one)."""
        image = spec.image or {}
        image_id = str(image.get("id") or spec.image_ref or "")
        if not image_id:
            raise PermanentError(f"instance {spec.uuid} names no image")
        if not image.get("disk_format"):  # the image service no longer knows it
            image = {**await asyncio.to_thread(self._remembered, image_id), **image}
        disk_format = str(image.get("disk_format") or "")
        container_format = str(image.get("container_format") or "")
        if container_format in ("docker", "ova", "ovf"):
            raise PermanentError(f"image {image_id} is container_format {container_format}, "
                                 "not a disk image QEMU boots")
        if disk_format in ("aki", "ari"):
            raise PermanentError(f"image {image_id} is a {disk_format} (a kernel or ramdisk), "
                                 "not a machine image")
        if disk_format == "iso":
            raise PermanentError(f"image {image_id} is an ISO: booting installer CDs is not "
                                 "supported, use a disk image")
        if disk_format and disk_format not in DISK_FORMATS:
            raise PermanentError(f"image {image_id} has disk_format {disk_format}, which "
                                 f"QEMU here does not boot ({', '.join(DISK_FORMATS)})")
        fmt = DISK_FORMATS.get(disk_format, "raw")
        kernel_id = _prop(image, "kernel_id")
        cmdline = _prop(image, "os_command_line")
        src = BootSource(image_id=image_id, cmdline=str(cmdline) if cmdline else None)
        if kernel_id:
            # a PCI machine so volumes can be hot-plugged (microvm's virtio-mmio
            # devices are fixed at start); an image may still ask for microvm
            machine = str(_prop(image, "hw_machine_type") or KERNEL_MACHINE)
            machine = "microvm" if machine == "microvm" else _machine(machine)
            if machine not in (*MACHINES, "microvm"):
                raise PermanentError(f"image {image_id} asks for machine {machine}; this "
                                     f"driver boots kernels on pc, q35 or microvm")
            src.boot, src.machine = "kernel", machine
            kernel = await self.cached(str(kernel_id), "file")
            if not await asyncio.to_thread(_is_kernel, kernel / "data"):
                await asyncio.to_thread(shutil.rmtree, kernel, True)
                raise PermanentError(f"image {kernel_id} (the kernel_id of {image_id}) is "
                                     "not a Linux kernel (ELF or bzImage)")
            src.kernel = str(kernel / "data")
            ramdisk_id = _prop(image, "ramdisk_id")
            if ramdisk_id:
                src.ramdisk = str((await self.cached(str(ramdisk_id), "file")) / "data")
            if image.get("size") == 0:
                return src  # a machine image without data: the guest lives in its ramdisk
            try:
                path = await self.fetch(image_id)
            except PermanentError:
                if image.get("size"):
                    raise
                return src  # no data behind the machine image (size unknown)
            if (await asyncio.to_thread(path.stat)).st_size == 0:
                return src
        else:
            src.boot = "disk"
            machine = _machine(str(_prop(image, "hw_machine_type") or "pc"))
            if machine not in MACHINES:
                raise PermanentError(f"image {image_id} asks for machine {machine}; this "
                                     f"driver boots disks on {' or '.join(MACHINES)}")
            src.machine = machine
        cached = await self.cached(image_id, "disk", fmt, image)
        info = json.loads(await asyncio.to_thread((cached / "image.json").read_text))
        src.base = str(cached / "disk.qcow2")
        src.virtual_size = int(info["virtual_size"])
        return src
