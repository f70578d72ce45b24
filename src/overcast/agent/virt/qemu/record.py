"""The typed record of a QEMU instance (its instance.json) and what its image says
about how it boots."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Self

from overcast.agent.virt.common import BaseRecord, hostname_of
from overcast.bus.messages import InstanceSpec


@dataclass
class BootSource:
    """How an instance boots, from its image: a kernel (+ramdisk) directly (PVH) or
    its disk through the firmware, on `machine` (pc, q35; microvm when the image
    asks for it); `base` is the cached qcow2 its root disk overlays (None: a blank
    root disk) and `virtual_size` that base's."""

    image_id: str
    boot: str = "disk"  # kernel | disk
    machine: str = "pc"
    base: str | None = None
    kernel: str | None = None
    ramdisk: str | None = None
    virtual_size: int = 0
    #: the kernel's command line from the image (os_command_line), if any
    cmdline: str | None = None


@dataclass
class InstanceRecord(BaseRecord):
    """What the QEMU driver keeps about an instance: its flavor, ports, how it boots,
    whether it was completely built, whether its memory is saved (suspended) and
    which process runs it (pid and that process's start time, so a reused pid is
    not taken for it).

    `volumes` are the attached volumes, in the order they were attached (each
    {"volume_id", "device", "boot_index", "connection_info"}, VOLUME_CONTRACT.md):
    QEMU is started with them on its command line, so they stay attached across a
    stop and start, a hard reboot and an agent restart. `root_volume` is the id of
    the volume the instance boots from (boot_index 0) instead of a root overlay."""

    image_id: str = ""
    boot: str = "disk"
    machine: str = "pc"
    base: str | None = None
    kernel: str | None = None
    ramdisk: str | None = None
    virtual_size: int = 0
    cmdline: str | None = None
    root_gb: int = 0
    config_drive: bool = False
    built: bool = False
    pid: int | None = None
    pid_start: str | None = None
    volumes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    root_volume: str | None = None

    @classmethod
    def new(cls, spec: InstanceSpec, src: BootSource) -> Self:
        return cls(uuid=spec.uuid, name=spec.name, hostname=hostname_of(spec.name),
                   **dataclasses.asdict(src), vcpus=spec.vcpus, memory_mb=spec.memory_mb,
                   root_gb=spec.root_gb, ports=[dict(p) for p in spec.ports],
                   config_drive=bool(spec.config_drive), built=False, suspended=False,
                   created_at=time.time(),
                   volumes=[{**b, "slot": None if b.get("boot_index") in (0, "0")
                             else 0x10 + i} for i, b in enumerate(spec.block_devices)],
                   root_volume=next((str(b["volume_id"]) for b in spec.block_devices
                                     if b.get("boot_index") in (0, "0")), None))
