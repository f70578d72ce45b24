"""Where image bytes live, behind a small interface: files here, or the object
store (`object_store.ObjectImageStore`).

A write goes to a temporary name and becomes visible under the image's key only
once every byte is on disk (fsync + rename), so a crash can leave at most a
stray temporary file, never a short file under a real key.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class Store(Protocol):
    name: str

    def open_write(self, key: str) -> BinaryIO: ...
    def commit(self, key: str, fh: BinaryIO) -> str: ...
    def abort(self, key: str, fh: BinaryIO) -> None: ...
    def read(self, location: str, start: int = 0, end: int | None = None,
             chunk: int = 1 << 20) -> Iterator[bytes]: ...
    def local_path(self, location: str) -> Path | None: ...
    def cached_copy(self, location: str, head: int | None = None) -> Path: ...
    def delete(self, location: str) -> None: ...
    def clean_partials(self) -> int: ...
    def locations(self) -> list[str]: ...


class FilesystemStore:
    """Images as files under a directory of the data dir."""

    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _partial(self, key: str) -> Path:
        return self.root / f".{key}.part"

    def open_write(self, key: str) -> BinaryIO:
        return open(self._partial(key), "wb")  # noqa: SIM115 - closed by commit/abort

    def commit(self, key: str, fh: BinaryIO) -> str:
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(self._partial(key), self.root / key)
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return f"file:{key}"

    def abort(self, key: str, fh: BinaryIO) -> None:
        with contextlib.suppress(OSError):
            fh.close()
        with contextlib.suppress(FileNotFoundError):
            self._partial(key).unlink()

    def local_path(self, location: str) -> Path | None:
        scheme, _, key = location.partition(":")
        if scheme != "file" or "/" in key or key.startswith("."):
            return None
        return self.root / key

    def cached_copy(self, location: str, head: int | None = None) -> Path:
        """The image's file itself: it is already local (never called with a
        `head` here, since `local_path` answers)."""
        path = self.local_path(location)
        if path is None:
            raise FileNotFoundError(location)
        return path

    def read(self, location: str, start: int = 0, end: int | None = None,
             chunk: int = 1 << 20) -> Iterator[bytes]:
        """Bytes [start, end) (end None: to the end of the file)."""
        path = self.local_path(location)
        if path is None:
            raise FileNotFoundError(location)
        with open(path, "rb") as fh:
            fh.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                data = fh.read(chunk if left is None else min(chunk, left))
                if not data:
                    return
                if left is not None:
                    left -= len(data)
                yield data

    def delete(self, location: str) -> None:
        path = self.local_path(location)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def locations(self) -> list[str]:
        """Every complete object in the store, as locations."""
        return [f"file:{p.name}" for p in self.root.iterdir()
                if p.is_file() and not p.name.startswith(".")]

    def clean_partials(self) -> int:
        """Remove temporary files an interrupted upload left (at start-up)."""
        n = 0
        for p in self.root.glob(".*.part"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
        return n
