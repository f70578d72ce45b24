"""The messages that carry an instance's disk from one host to another for a cold
migration or a resize to another host: the control plane never copies files.

The target's agent, asked to resize an instance that is still on its source
(`ResizeInstance.source_host`), asks the source's agent to export the instance's
disk (`ExportDisk`, a call); the source powers the instance off if it still runs
and serves the disk read-only over NBD for one reader, on its migration address.
The target pulls it from there (`DiskExport.info`, driver specific) before it
builds the instance. The source keeps its copy until the resize is confirmed
(removed) or reverted (started again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from overcast.bus.messages import Message


@dataclass
class DiskExport(Message):
    """Source agent -> target agent: where to read the disk (`ok`), or why not."""

    kind: ClassVar[str] = "disk_export"
    ok: bool = False
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportDisk(Message):
    """Target agent -> source agent (call): export instance `uuid`'s disk for the
    target to read once (the instance is powered off first)."""

    kind: ClassVar[str] = "export_disk"
    reply_type: ClassVar[type[Message] | None] = DiskExport
    uuid: str = ""
