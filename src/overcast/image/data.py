"""Image data: upload (and stage), glance-direct import, download with ranges,
compute's snapshots, and recovery after a crash.

Bytes stream to the store while md5 and sha512 are computed on worker threads;
the image becomes active only once every byte is on disk, hashed and checked
against the declared disk format (`inspect`). A refused upload (quota, size
mismatch, wrong format) puts the image back to `queued` so the user can retry;
a broken one (client gone, disk error) leaves it `killed`. At start-up,
uploads cut by a crash are killed and data whose image is gone is removed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from overcast.image import models as m
from overcast.image import policy
from overcast.image.inspect import FormatMismatch, inspect
from overcast.image.quotas import byte_budget
from overcast.image.store import Store
from overcast.image.tasks import ImageTasks
from overcast.kit.context import RequestContext
from overcast.kit.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RangeNotSatisfiable,
    RequestEntityTooLarge,
)
from overcast.kit.http import DirectBody

#: The logger keeps the name it had before the service was split.
log = logging.getLogger("overcast.image.service")

#: Uploads of at least this many bytes are received off the event loop when the
#: server allows it (`overcast.kit.http.DirectBody`).
DIRECT = 1 << 20


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


#: Threads that hash and write upload buffers (three per upload in flight).
_IO_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=12, thread_name_prefix="image-io")


class ImageData(ImageTasks):
    async def upload(self, ctx: RequestContext, image_id: str, chunks: AsyncIterator[bytes],
                     declared_size: int | None = None, *, staging: bool = False,
                     direct: DirectBody | None = None) -> None:
        """Stream the bytes to the store; the image is active only once they are all
        there, hashed and checked against the declared disk format. A body the
        server lets us take (`direct`, of at least DIRECT bytes) is received off the
        event loop instead of from `chunks`."""
        owner, size_budget = await asyncio.to_thread(self._begin_upload, ctx, image_id,
                                                     declared_size)
        if direct is not None and (declared_size is None or declared_size < DIRECT):
            direct = None
        key = image_id
        fh = self.store.open_write(key)
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
        size = 0
        buf: list[bytes] = []
        buffered = 0
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[Any] | None = None

        async def flush() -> None:
            # md5, sha512 and the write of one buffer run at once on three threads
            # (each releases the GIL), while the loop already gathers the next buffer.
            nonlocal pending, buf, buffered
            parts = buf
            buf, buffered = [], 0
            if pending is not None:
                await pending
            pending = asyncio.gather(*(loop.run_in_executor(_IO_POOL, _feed, f, parts)
                                       for f in (md5.update, sha.update, fh.write)))

        def check(total: int) -> None:
            if size_budget is not None and total > size_budget:
                raise RequestEntityTooLarge(
                    "Image storage quota exceeded: the upload is larger than what the "
                    "project has left. Delete some images or ask for a bigger quota.")

        try:
            if direct is not None and direct.take():
                # off the event loop: threads receive, hash (md5, sha512) and write
                size = await direct.pump([md5.update, sha.update, fh.write], limit=check)
                chunks = _nothing()
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                check(size)
                buf.append(chunk)
                buffered += len(chunk)
                if buffered >= 8 << 20:
                    await flush()
            if buf:
                await flush()
            if pending is not None:
                await pending
                pending = None
            if declared_size is not None and size != declared_size:
                raise BadRequest(f"Image size mismatch: the request said {declared_size} "
                                 f"bytes and {size} arrived.")
            location = await asyncio.to_thread(self.store.commit, key, fh)
        except BaseException as exc:
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await pending
            self.store.abort(key, fh)
            await asyncio.to_thread(self._fail_upload, image_id, exc)
            raise
        try:
            await asyncio.to_thread(self._finish_upload, image_id, location, size,
                                    md5.hexdigest(), sha.hexdigest(),
                                    "uploading" if staging else "active")
        except BaseException:
            self.store.delete(location)
            raise
        log.info("image %s uploaded: %d bytes (owner %s)", image_id, size, owner)

    def _begin_upload(self, ctx: RequestContext, image_id: str,
                      declared_size: int | None) -> tuple[str | None, int | None]:
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            policy.must_own(ctx, img, "upload data to")
            if img.status != "queued":
                raise Conflict(f"Image status transition from {img.status} to saving is not "
                               "allowed")
            if img.disk_format is None or img.container_format is None:
                raise BadRequest("Properties disk_format, container_format must be set prior "
                                 "to saving data.")
            budget = byte_budget(s, self.quotas, img.owner, declared_size)
            img.status = "saving"
            return img.owner, budget

    def _fail_upload(self, image_id: str, exc: BaseException) -> None:
        # A refused upload (quota, size mismatch) puts the image back to queued so the
        # user can retry; a broken one (client went away, disk error) kills it.
        status = "queued" if isinstance(exc, (RequestEntityTooLarge, BadRequest)) else "killed"
        with self.db.transaction() as s:
            img = s.get(m.Image, image_id)
            if img is not None and img.status == "saving":
                img.status = status
        log.warning("upload of image %s failed (%s): now %s", image_id,
                    type(exc).__name__, status)

    def _finish_upload(self, image_id: str, location: str, size: int, md5: str,
                       sha: str, final_status: str) -> None:
        with self.db.session() as s:
            img = s.get(m.Image, image_id)
            disk_format = img.disk_format if img else None
        try:
            with _inspectable(self.store, location) as path:
                found = inspect(path, disk_format)
        except FormatMismatch as exc:
            with self.db.transaction() as s:
                img = s.get(m.Image, image_id)
                if img is not None:
                    img.status = "queued"
            raise BadRequest(f"{exc}. The image data was not stored; upload data in "
                             f"the declared format or create the image with the right "
                             f"disk_format.")
        with self.db.transaction() as s:
            img = s.get(m.Image, image_id)
            if img is None or img.deleted or img.status != "saving":
                raise Conflict(f"Image {image_id} was deleted during the upload.")
            img.size, img.checksum = size, md5
            img.os_hash_algo, img.os_hash_value = "sha512", sha
            img.virtual_size = found.virtual_size if found else None
            img.location = location
            img.status = final_status

    def import_image(self, ctx: RequestContext, image_id: str, body: Any) -> None:
        """Interoperable import, glance-direct: the staged data becomes the image."""
        method = body.get("method") if isinstance(body, dict) else None
        name = method.get("name") if isinstance(method, dict) else None
        if name not in ("glance-direct",):
            raise BadRequest(f"Import method {name!r} is not available; this cloud offers "
                             "glance-direct (stage the data first).")
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            policy.must_own(ctx, img, "import")
            if img.status != "uploading" or not img.location:
                raise Conflict(f"Image {image_id} has no staged data (status {img.status}): "
                               "PUT the data to /v2/images/{id}/stage first.")
            img.status = "active"
            self.record_import(s, ctx, img, body)

    def import_file(self, image_id: str, path: Path, disk_format: str) -> None:
        """Internal (compute snapshots): take a local file as the image's data, with the
        same hashing, format check and crash safety as an upload."""
        with self.db.transaction() as s:
            img = s.get(m.Image, image_id)
            if img is None or img.deleted:
                raise NotFound(f"No image found with ID {image_id}")
            if img.status != "queued":
                raise Conflict(f"Image {image_id} is {img.status}, not queued.")
            img.disk_format = disk_format
            img.container_format = img.container_format or "bare"
            img.status = "saving"
        fh = self.store.open_write(image_id)
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
        size = 0
        try:
            with open(path, "rb") as src:
                while chunk := src.read(4 << 20):
                    size += len(chunk)
                    _write_hash(fh, [chunk], md5, sha)
            location = self.store.commit(image_id, fh)
        except BaseException as exc:
            self.store.abort(image_id, fh)
            self._fail_upload(image_id, exc)
            raise
        try:
            self._finish_upload(image_id, location, size, md5.hexdigest(), sha.hexdigest(),
                                "active")
        except BaseException:
            self.store.delete(location)
            raise

    def local_file(self, image_id: str) -> Path:
        """Internal (the local agent's drivers): the file holding an active image's bytes.
        Image data never changes once active, so readers may use it in place."""
        with self.db.session() as s:
            img = s.get(m.Image, image_id)
            location = img.location if img is not None and img.status in (
                "active", "deactivated") else None
        if not location:
            raise NotFound(f"No image data found for image {image_id}")
        path = self.store.local_path(location)
        if path is None:
            # Not a local file (the object store): a local copy, made once.
            try:
                path = self.store.cached_copy(location)
            except FileNotFoundError:
                raise NotFound(f"No image data found for image {image_id}") from None
        if not path.exists():
            raise NotFound(f"No image data found for image {image_id}")
        return path

    def discard(self, image_id: str) -> None:
        """Internal: remove an image whatever its owner (a failed snapshot)."""
        with self.db.transaction() as s:
            img = s.get(m.Image, image_id)
            if img is None or img.deleted:
                return
            location = img.location
            img.deleted, img.status, img.location = True, "deleted", None
        if location:
            self.store.delete(location)

    def open_data(self, ctx: RequestContext, image_id: str, range_header: str | None
                  ) -> tuple[dict[str, Any], Iterator[bytes] | None, tuple[int, int] | None]:
        """(image view, chunks or None when there is no data, (start, end) of a range)."""
        with self.db.session() as s:
            img = self._get(s, ctx, image_id)
            policy.check_download(ctx, img)
            view = self.view(img, {}, [])
            location = img.location if img.status in ("active", "deactivated") else None
        if not location or view["size"] is None:
            return view, None, None
        size = int(view["size"])
        span = None
        if range_header:
            span = _parse_range(range_header, size)
        start, end = span if span else (0, size)
        return view, self.store.read(location, start, end, chunk=4 << 20), span

    def recover(self) -> None:
        """At start-up: uploads cut by a crash leave the image killed, never active."""
        n = self.store.clean_partials()
        with self.db.transaction() as s:
            for img in s.scalars(select(m.Image).where(m.Image.status == "saving")):
                img.status = "killed"
                log.warning("image %s was being uploaded when overcast stopped: killed",
                            img.id)
        if n:
            log.info("removed %d partial image uploads", n)
        # Data whose image is gone (a crash between the row's delete and the file's).
        with self.db.session() as s:
            live = set(s.scalars(select(m.Image.location).where(
                m.Image.location.isnot(None), m.Image.deleted.is_(False))))
        for location in self.store.locations():
            if location not in live:
                log.info("removing orphaned image data %s", location)
                self.store.delete(location)



# ---------------------------------------------------------------- helpers
#: How much of an image not stored as a local file the format inspector gets (a
#: sparse file of the full size): every format's header and the metadata qemu-img
#: info reads sit at the start.
INSPECT_HEAD = 64 << 20


@contextlib.contextmanager
def _inspectable(store: Store, location: str) -> Iterator[Path]:
    """A local file for the format inspector: the image's own file, or a
    temporary sparse copy of the head of one kept elsewhere (the object store)."""
    path = store.local_path(location)
    if path is not None:
        yield path
        return
    tmp = store.cached_copy(location, head=INSPECT_HEAD)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _feed(fn: Callable[[bytes], Any], parts: list[bytes]) -> None:
    # Chunk by chunk, no joined copy: hashlib and file writes drop the GIL for each.
    for p in parts:
        fn(p)


def _write_hash(fh: Any, chunks: list[bytes], md5: Any, sha: Any) -> None:
    for c in chunks:
        md5.update(c)
        sha.update(c)
        fh.write(c)




def _parse_range(header: str, size: int) -> tuple[int, int]:
    m_ = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m_ or (not m_.group(1) and not m_.group(2)):
        raise RangeNotSatisfiable(f"Invalid Range header: {header}")
    if m_.group(1):
        start = int(m_.group(1))
        end = int(m_.group(2)) + 1 if m_.group(2) else size
    else:  # suffix: the last N bytes
        start, end = max(size - int(m_.group(2)), 0), size
    end = min(end, size)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(f"Requested range {header} is not satisfiable for "
                                  f"{size} bytes.")
    return start, end
