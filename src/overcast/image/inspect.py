"""What is in an uploaded image: its real format and virtual size.

Glance's format inspector refuses data that contradicts the declared
`disk_format` (a "raw" image that is really qcow2 would let a guest read host
files through a backing file). We ask `qemu-img info` (which probes the format
from the content) and check a few magics ourselves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Glance's default lists (glance-api.conf [image_format]).
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")

#: qemu-img's name for each disk format it can probe.
QEMU_NAMES = {"qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx", "vdi": "vdi",
              "raw": "raw", "ploop": "parallels"}


class FormatMismatch(Exception):
    pass


@dataclass
class Inspection:
    format: str | None
    virtual_size: int | None


def _iso(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0x8001)
        return fh.read(5) == b"CD001"


def inspect(path: Path, disk_format: str | None) -> Inspection:
    """Check `path` against `disk_format`; return what was found. Raises FormatMismatch."""
    size = path.stat().st_size
    if disk_format in ("aki", "ari", "ami", None):
        return Inspection(disk_format, None)
    if disk_format == "iso":
        if not _iso(path):
            raise FormatMismatch("Image content does not match disk_format iso: no ISO 9660 "
                                 "volume descriptor")
        return Inspection("iso", size)
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        return Inspection(disk_format, size if disk_format == "raw" else None)
    try:
        out = subprocess.run([qemu_img, "info", "--output=json", "--force-share", str(path)],
                             capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise FormatMismatch("Image content could not be inspected in time")
    if out.returncode != 0:
        raise FormatMismatch(f"Image content could not be read as {disk_format}")
    info = json.loads(out.stdout)
    found = info.get("format")
    want = QEMU_NAMES.get(disk_format, disk_format)
    if found != want:
        raise FormatMismatch(f"Image content does not match disk_format {disk_format}: "
                             f"the data is {found}")
    if info.get("backing-filename") or info.get("format-specific", {}).get(
            "data", {}).get("data-file"):
        raise FormatMismatch("Image has a backing file or external data file, which is "
                             "not allowed")
    return Inspection(disk_format, int(info.get("virtual-size") or size))
