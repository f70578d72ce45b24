"""Image data in the object store (`image_store: object`), as Glance's Swift store.

Each image is one object named by the image id in the container `glance` of an
internal account (`ACCOUNT`): its name starts with a dot, so no Keystone project
maps to it and no user reaches it through the Swift or S3 APIs (Swift keeps such
names for its own system accounts). Everything goes through the object
service's public domain functions (`containers.put`, `objects.record`, `head`,
`read`, `delete`, `list_objects`), never its tables, so the object store's
counters, listings and crash recovery apply unchanged (its per-account byte and
object quotas bound the internal account as a whole; the image service enforces
each project's image quotas itself).

Writes stream into a backend `Writer` with md5 computed as they go (memory
stays flat); the object row is recorded only once the blob is committed, so a
crash leaves no half image (the object store's own recovery removes the
orphaned blob). There is no local file for such a location (`local_path` is
None): readers stream through `read`, and consumers that need a file (the
format inspector, the local agents' image cache, volume create-from-image) ask
`cached_copy`, which materialises the image once into a local cache (image
data never changes once active, so the copy stays valid until the image goes).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from overcast.object import containers, objects
from overcast.object import errors as oe
from overcast.object.records import Segment
from overcast.object.store import ObjectStore

#: The internal account holding image data (a dot: no project's `AUTH_<id>`).
ACCOUNT = ".overcast_glance"
CONTAINER = "glance"
SCHEME = "object"


class _ObjectWrite:
    """The file-like handle `open_write` returns: bytes go to a backend writer,
    md5 and size are counted as they pass."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        self.writer.write(data)
        self.size += len(data)
        return len(data)


class ObjectImageStore:
    """The image `Store` over the object service (see the module docstring)."""

    name = "swift"

    def __init__(self, resolve: Callable[[], ObjectStore], cache_dir: Path) -> None:
        # The object service is set up after the image service: resolve it late.
        self._resolve = resolve
        self.cache_dir = cache_dir
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._container_ready = False

    @property
    def objects(self) -> ObjectStore:
        return self._resolve()

    # ------------------------------------------------------------- naming
    @staticmethod
    def _key(location: str) -> str | None:
        scheme, _, rest = location.partition(":")
        container, _, key = rest.partition("/")
        if scheme != SCHEME or container != CONTAINER or not key or "/" in key \
                or key.startswith("."):
            return None
        return key

    def _ensure_container(self) -> None:
        if not self._container_ready:
            containers.put(self.objects, ACCOUNT, CONTAINER, {})
            self._container_ready = True

    # ------------------------------------------------------------- writes
    def open_write(self, key: str) -> BinaryIO:
        return cast(BinaryIO, _ObjectWrite(self.objects.backend.open_write()))

    def commit(self, key: str, fh: BinaryIO) -> str:
        w = cast(_ObjectWrite, fh)
        blob = w.writer.commit()
        try:
            self._ensure_container()
            objects.record(self.objects, ACCOUNT, CONTAINER, key,
                           objects.NewObject(content_type="application/octet-stream"),
                           blob, w.size, w.md5.hexdigest())
        except BaseException:
            self.objects.backend.delete(blob)
            raise
        return f"{SCHEME}:{CONTAINER}/{key}"

    def abort(self, key: str, fh: BinaryIO) -> None:
        with contextlib.suppress(Exception):
            cast(_ObjectWrite, fh).writer.abort()

    # ------------------------------------------------------------- reads
    def local_path(self, location: str) -> Path | None:
        return None

    def read(self, location: str, start: int = 0, end: int | None = None,
             chunk: int = 1 << 20) -> Iterator[bytes]:
        """Bytes [start, end) of the image's object, streamed from the backend."""
        key = self._key(location)
        if key is None:
            raise FileNotFoundError(location)
        try:
            info = objects.head(self.objects, ACCOUNT, CONTAINER, key)
        except oe.NotFound as exc:
            raise FileNotFoundError(location) from exc
        if info.location is None:
            raise FileNotFoundError(location)
        size = info.size
        stop = size if end is None else min(end, size)
        if start >= stop:
            return iter(())
        return objects.read(self.objects, [Segment(info.location, 0, size)], start, stop,
                            chunk)

    def cached_copy(self, location: str, head: int | None = None) -> Path:
        """A local file with the image's bytes (made once; atomic rename). With
        `head`, a sparse file of the full size holding only its first `head`
        bytes (enough for the format inspector), not cached."""
        key = self._key(location)
        if key is None:
            raise FileNotFoundError(location)
        final = self.cache_dir / key
        if head is None and final.exists():
            return final
        part = self.cache_dir / f".{key}.{uuid.uuid4().hex}.part"
        try:
            with open(part, "wb") as fh:
                size = 0
                if head is not None:
                    info = objects.head(self.objects, ACCOUNT, CONTAINER, key)
                    size = info.size
                for data in self.read(location, 0, head, chunk=4 << 20):
                    fh.write(data)
                if head is not None:
                    fh.truncate(size)
                else:
                    fh.flush()
                    os.fsync(fh.fileno())
            if head is not None:
                return part
            os.replace(part, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise
        return final

    # ------------------------------------------------------------- upkeep
    def delete(self, location: str) -> None:
        key = self._key(location)
        if key is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.cache_dir / key).unlink()
        with contextlib.suppress(oe.NotFound):
            objects.delete(self.objects, ACCOUNT, CONTAINER, key)

    def locations(self) -> list[str]:
        """Every image object, as locations (the orphan sweep compares them)."""
        out: list[str] = []
        marker: str | None = None
        while True:
            try:
                _, entries = containers.list_objects(self.objects, ACCOUNT, CONTAINER,
                                                     marker=marker, limit=1000)
            except oe.NotFound:
                return out
            names = [getattr(en, "name", "") for en in entries]
            out += [f"{SCHEME}:{CONTAINER}/{n}" for n in names if n]
            if len(entries) < 1000:
                return out
            marker = names[-1]

    def clean_partials(self) -> int:
        """Partial blobs are the object store's to clean (its own recovery); here
        only cache files a crash left half-written."""
        n = 0
        for p in self.cache_dir.glob(".*.part"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
        return n
