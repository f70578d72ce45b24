"""The config drive of a QEMU instance: an ISO 9660 image labelled config-2 holding
the openstack/latest documents (vfat, as Nova's config_drive_format=vfat, when no
ISO tool is installed)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from overcast.agent.virt.base import PermanentError, RetryableError
from overcast.agent.virt.common import config_documents, write_documents
from overcast.bus.messages import InstanceSpec
from overcast.kit.runner import CommandError, run, which


def write_config_drive(dest: Path, docs: dict[str, Any]) -> None:
    """An ISO 9660 image labelled config-2 with openstack/latest/<document> (vfat, as
    Nova's config_drive_format=vfat, when no ISO tool is installed)."""
    scratch = Path(tempfile.mkdtemp(prefix=".config-drive-", dir=dest.parent))
    try:
        write_documents(scratch, docs)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.unlink(missing_ok=True)
        iso = which("genisoimage") or which("xorrisofs") or which("mkisofs")
        if iso:
            run([iso, "-quiet", "-o", str(tmp), "-V", "config-2", "-J", "-r",
                 str(scratch)], timeout=120)
        elif which("mkfs.vfat") and which("mcopy"):
            run(["mkfs.vfat", "-n", "config-2", "-C", str(tmp), "65536"], timeout=120)
            run(["mcopy", "-s", "-i", str(tmp), str(scratch / "openstack"), "::/"],
                timeout=120)
        else:
            raise PermanentError("a config drive needs genisoimage (apt-get install "
                                 "genisoimage) or mkfs.vfat and mcopy (dosfstools, mtools)")
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)



async def make_config_drive(spec: InstanceSpec, dest: Path) -> None:
    """The instance's config drive at `dest`, from the documents in its spec."""
    docs = config_documents(spec)
    try:
        await asyncio.to_thread(write_config_drive, dest, docs)
    except CommandError as exc:
        raise RetryableError(f"the config drive of {spec.uuid} failed: {exc}") from exc
