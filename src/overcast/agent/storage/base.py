"""The storage driver contract: what a volume backend does on its storage host.

The storage component (`component.py`, cinder-volume's part) takes the volume
service's messages and calls one of these; a backend (the embedded file backend in
`file.py`; Ceph RBD or LVM could follow) implements them. Every method is
idempotent where the name allows it (deleting what is gone, unexporting what is not
exported, both succeed), because the component retries after a crash without knowing
how far the last try got. Sizes are GiB in requests and bytes in answers.

A driver raises `StorageError` for a step that failed (the record goes to `error`
with the message), `StorageNotFound` when the volume or snapshot it needs is not
on this host.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

GiB = 1 << 30


class StorageError(Exception):
    """A storage step failed; the message says why (it becomes the record's fault)."""


class StorageNotFound(StorageError):
    """The volume or snapshot is not on this host."""


class StorageDriver(abc.ABC):
    """One backend on one storage host."""

    #: the backend's name, as `volume_backend_name` of a volume type names it
    name: str = "base"

    async def start(self) -> None:
        """Make the backend ready (directories, export daemon)."""
        return None

    async def stop(self) -> None:
        """Release what `start` took (the export daemon stops; volumes stay)."""
        return None

    @abc.abstractmethod
    async def create_blank(self, volume_id: str, size_gb: int) -> int:
        """A new zero-filled volume; returns its size in bytes."""

    @abc.abstractmethod
    async def create_from_image(self, volume_id: str, size_gb: int, image: Path,
                                image_format: str) -> int:
        """A volume holding the image's disk (converted to the backend's format),
        grown to `size_gb`; refused when the image's disk is larger."""

    @abc.abstractmethod
    async def create_from_snapshot(self, volume_id: str, snapshot_id: str,
                                   size_gb: int) -> int:
        """A volume holding the snapshot's bytes, grown to `size_gb`."""

    @abc.abstractmethod
    async def clone(self, volume_id: str, source_id: str, size_gb: int) -> int:
        """A volume holding another volume's bytes (crash-consistent if in use)."""

    @abc.abstractmethod
    async def copy_from_nbd(self, volume_id: str, url: str, size_gb: int) -> int:
        """A volume holding the bytes another host exports at `url` (a migration)."""

    @abc.abstractmethod
    async def delete(self, volume_id: str) -> None:
        """Remove the volume's bytes and any export of it (done if already gone)."""

    @abc.abstractmethod
    async def extend(self, volume_id: str, size_gb: int) -> int:
        """Grow the volume (attached or not); returns the new size in bytes."""

    @abc.abstractmethod
    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> int:
        """A point-in-time copy of the volume; returns its size in bytes."""

    @abc.abstractmethod
    async def revert(self, volume_id: str, snapshot_id: str) -> None:
        """Put the snapshot's bytes back into the (unattached) volume."""

    @abc.abstractmethod
    async def delete_snapshot(self, snapshot_id: str) -> None:
        """Remove a snapshot (done if already gone)."""

    @abc.abstractmethod
    async def export(self, volume_id: str, connector: dict[str, Any],
                     read_only: bool = False) -> dict[str, Any]:
        """The connection_info (VOLUME_CONTRACT.md) with which the connector's host
        reaches the volume: `file` on this host, `nbd` from elsewhere or when the
        connector asks for it (`"transport": "nbd"`)."""

    @abc.abstractmethod
    async def unexport(self, volume_id: str) -> None:
        """Withdraw the volume's network export, if any."""

    @abc.abstractmethod
    async def copy_to_image(self, volume_id: str, dest: Path, disk_format: str) -> None:
        """Write the volume out to `dest` as an image file in `disk_format`."""

    @abc.abstractmethod
    async def list_manageable(self) -> list[tuple[str, int]]:
        """(name, bytes) of each disk in the backend that is not a volume or snapshot."""

    @abc.abstractmethod
    async def manage(self, volume_id: str, source_name: str) -> int:
        """Adopt a manageable disk as volume `volume_id`; its size in bytes."""

    @abc.abstractmethod
    async def manage_snapshot(self, snapshot_id: str, source_name: str) -> int:
        """Adopt a manageable disk as snapshot `snapshot_id`; its size in bytes."""

    @abc.abstractmethod
    async def unmanage_snapshot(self, snapshot_id: str) -> None:
        """Keep the snapshot's bytes but make them no snapshot (manageable again)."""

    @abc.abstractmethod
    async def unmanage(self, volume_id: str) -> None:
        """Keep the volume's bytes but make them no volume (manageable again)."""

    @abc.abstractmethod
    async def list_volumes(self) -> dict[str, int]:
        """Every complete volume on this host: id -> bytes (half-made ones excluded)."""

    @abc.abstractmethod
    async def list_snapshots(self) -> list[str]:
        """Every complete snapshot on this host."""

    @abc.abstractmethod
    async def list_exports(self) -> list[str]:
        """The volumes exported over the network now."""

    @abc.abstractmethod
    def capacity(self) -> tuple[float, float]:
        """(total, free) GiB this backend can hold."""

    # ------------------------------------------------------------ backups
    # Not abstract: a backend without them answers that it cannot back up.
    async def read_chunk(self, volume_id: str, offset: int, length: int, *,
                         snapshot_id: str = "") -> bytes:
        """Up to `length` bytes of the volume from `offset` (a backup's read); of its
        snapshot `snapshot_id` when one is named."""
        raise StorageError(f"the {self.name} backend cannot back volumes up")

    async def write_chunk(self, volume_id: str, offset: int, data: bytes) -> None:
        """Write `data` into the volume at `offset` (a restore's write)."""
        raise StorageError(f"the {self.name} backend cannot restore backups")
