"""The storage component's backup messages (`ReadVolumeChunk`, `WriteVolumeChunk`)
over the file backend: bytes leave and come back compressed with their sha256
checked on the storage host; a wrong hash, a missing volume or a write past the
end is refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import zlib
from pathlib import Path

from overcast.agent.storage.component import StorageComponent
from overcast.agent.storage.file import FileDriver
from overcast.bus.messages import ReadVolumeChunk, WriteVolumeChunk


def _component(tmp_path: Path) -> tuple[StorageComponent, Path]:
    root = tmp_path / "vols"
    root.mkdir()
    path = root / "volume-v1"
    with open(path, "wb") as f:
        f.truncate(4 << 20)
        f.seek(1 << 20)
        f.write(b"HELLO")
    return StorageComponent("s1", FileDriver(root, host="s1")), path


def test_read_and_write_chunks(tmp_path: Path) -> None:
    comp, path = _component(tmp_path)
    reply = asyncio.run(comp.handle(ReadVolumeChunk(volume_id="v1", offset=1 << 20,
                                                    length=1 << 20)))
    assert reply.ok, reply.error
    data = zlib.decompress(base64.b64decode(reply.data["data_b64"]))
    assert data[:5] == b"HELLO" and len(data) == reply.data["length"] == 1 << 20
    assert reply.data["sha256"] == hashlib.sha256(data).hexdigest()
    # past the end: short, then empty
    tail = asyncio.run(comp.handle(ReadVolumeChunk(volume_id="v1", offset=(4 << 20) - 3,
                                                   length=100)))
    assert tail.data["length"] == 3

    new = b"WORLD" * 10
    msg = WriteVolumeChunk(volume_id="v1", offset=7, sha256=hashlib.sha256(new).hexdigest(),
                           data_b64=base64.b64encode(zlib.compress(new)).decode())
    assert asyncio.run(comp.handle(msg)).ok
    with open(path, "rb") as f:
        f.seek(7)
        assert f.read(len(new)) == new
    # zeros overwrite data that is there (a restore onto a used volume)
    zeros = b"\0" * 5
    msg = WriteVolumeChunk(volume_id="v1", offset=1 << 20,
                           sha256=hashlib.sha256(zeros).hexdigest(),
                           data_b64=base64.b64encode(zlib.compress(zeros)).decode())
    assert asyncio.run(comp.handle(msg)).ok
    with open(path, "rb") as f:
        f.seek(1 << 20)
        assert f.read(5) == zeros
    assert os.path.getsize(path) == 4 << 20


def test_refusals(tmp_path: Path) -> None:
    comp, _ = _component(tmp_path)
    data = b"abc"
    packed = base64.b64encode(zlib.compress(data)).decode()
    bad = asyncio.run(comp.handle(WriteVolumeChunk(volume_id="v1", offset=0,
                                                   sha256="0" * 64, data_b64=packed)))
    assert not bad.ok and "sha256" in (bad.error or "")
    past = asyncio.run(comp.handle(WriteVolumeChunk(
        volume_id="v1", offset=4 << 20, sha256=hashlib.sha256(data).hexdigest(),
        data_b64=packed)))
    assert not past.ok and "smaller" in (past.error or "")
    gone = asyncio.run(comp.handle(ReadVolumeChunk(volume_id="nope", offset=0, length=1)))
    assert not gone.ok and "not on this host" in (gone.error or "")


def test_unchanged_chunks_and_snapshot_chunks(tmp_path: Path) -> None:
    """An incremental backup's read names the sha256 its parent holds: an unchanged
    chunk comes back without data. A backup of a snapshot reads the snapshot."""
    comp, path = _component(tmp_path)
    first = asyncio.run(comp.handle(ReadVolumeChunk(volume_id="v1", offset=1 << 20,
                                                    length=1 << 20)))
    same = asyncio.run(comp.handle(ReadVolumeChunk(
        volume_id="v1", offset=1 << 20, length=1 << 20,
        unless_sha256=first.data["sha256"])))
    assert same.ok and same.data["unchanged"] is True and "data_b64" not in same.data
    assert same.data["length"] == 1 << 20
    with open(path, "r+b") as f:
        f.seek(1 << 20)
        f.write(b"CHANGED")
    changed = asyncio.run(comp.handle(ReadVolumeChunk(
        volume_id="v1", offset=1 << 20, length=1 << 20,
        unless_sha256=first.data["sha256"])))
    assert "unchanged" not in changed.data
    assert zlib.decompress(base64.b64decode(changed.data["data_b64"]))[:7] == b"CHANGED"
    (path.parent / "snapshot-s1").write_bytes(b"SNAPSHOT-BYTES")
    snap = asyncio.run(comp.handle(ReadVolumeChunk(volume_id="v1", offset=0, length=100,
                                                   snapshot_id="s1")))
    assert zlib.decompress(base64.b64decode(snap.data["data_b64"])) == b"SNAPSHOT-BYTES"
    gone = asyncio.run(comp.handle(ReadVolumeChunk(volume_id="v1", offset=0, length=1,
                                                   snapshot_id="nope")))
    assert not gone.ok and "snapshot nope" in (gone.error or "")
