"""The embedded object backend: blobs as files under `<data_dir>/objects`.

A blob is written to `tmp/<key>` and, once every byte is written and fsynced,
renamed to `<key[:2]>/<key>` (the directory fsynced too): a crash leaves at
most a file under `tmp/`, which `clean_partials` removes at start-up, never a
short blob under a real key. Keys are random, so an overwrite of an object is a
new blob and readers of the old one finish undisturbed. Server-side copies are
hard links: blobs are never modified in place, so two names may share one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FileWriter:
    def __init__(self, backend: FileBackend, key: str) -> None:
        self.backend = backend
        self.key = key
        self.tmp = backend.root / "tmp" / key
        self.fh: BinaryIO | None = open(self.tmp, "wb")  # noqa: SIM115 - commit/abort close

    def write(self, data: bytes | memoryview) -> None:
        assert self.fh is not None, "write after commit or abort"
        self.fh.write(data)

    def commit(self) -> str:
        assert self.fh is not None, "commit after commit or abort"
        fh, self.fh = self.fh, None
        try:
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fh.close()
        final = self.backend.path(self.key)
        final.parent.mkdir(exist_ok=True)
        os.replace(self.tmp, final)
        _fsync_dir(final.parent)
        return f"{self.backend.name}:{self.key}"

    def abort(self) -> None:
        if self.fh is not None:
            with contextlib.suppress(OSError):
                self.fh.close()
            self.fh = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class FileBackend:
    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _key(self, location: str) -> str:
        scheme, _, key = location.partition(":")
        if scheme != self.name or not key or "/" in key or key.startswith("."):
            raise FileNotFoundError(location)
        return key

    def open_write(self) -> FileWriter:
        return FileWriter(self, uuid.uuid4().hex)

    def read(self, location: str, start: int = 0, end: int | None = None,
             chunk: int = 1 << 20) -> Iterator[bytes]:
        with open(self.path(self._key(location)), "rb") as fh:
            fh.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                data = fh.read(chunk if left is None else min(chunk, left))
                if not data:
                    return
                if left is not None:
                    left -= len(data)
                yield data

    def link(self, location: str) -> str | None:
        key = uuid.uuid4().hex
        final = self.path(key)
        final.parent.mkdir(exist_ok=True)
        try:
            os.link(self.path(self._key(location)), final)
        except OSError:
            return None
        _fsync_dir(final.parent)
        return f"{self.name}:{key}"

    def delete(self, location: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(self._key(location)).unlink()

    def clean_partials(self) -> int:
        n = 0
        for p in (self.root / "tmp").iterdir():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
        return n

    def locations(self) -> Iterator[str]:
        for sub in self.root.iterdir():
            if sub.name == "tmp" or not sub.is_dir():
                continue
            for p in sub.iterdir():
                yield f"{self.name}:{p.name}"

    def sweep(self, known: Iterable[str]) -> int:
        keep = set(known)
        n = 0
        for loc in list(self.locations()):
            if loc not in keep:
                self.delete(loc)
                n += 1
        return n
