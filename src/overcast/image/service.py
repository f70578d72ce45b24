"""The image service: Glance v2 semantics over the image tables and a store.

Read rules (Glance's): an admin sees everything; others see public and
community images, their own, and shared images they are a member of. Lists
show community images only when asked for, and shared images only once the
member accepted them (unless `member_status` says otherwise).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import logging
import re
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from overcast.db import Database, utcnow
from overcast.image import models as m
from overcast.image.inspect import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    FormatMismatch,
    inspect,
)
from overcast.image.store import Store
from overcast.kit.context import RequestContext
from overcast.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RangeNotSatisfiable,
    RequestEntityTooLarge,
)

log = logging.getLogger(__name__)

#: Threads that hash and write upload buffers (three per upload in flight).
_IO_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=12, thread_name_prefix="image-io")

VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")

#: Core attributes a user may set on create and PATCH.
SETTABLE = {"name", "visibility", "protected", "os_hidden", "disk_format", "container_format",
            "min_disk", "min_ram", "tags", "id", "owner"}
#: Attributes nobody sets (403 "Attribute 'x' is read-only.").
READ_ONLY = {"status", "checksum", "size", "virtual_size", "os_hash_algo", "os_hash_value",
             "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations",
             "stores"}
#: Attributes of a record that exist but are not in the record (Glance: 403 "reserved").
RESERVED = {"deleted", "deleted_at", "location"}
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at", "visibility", "owner", "min_disk", "min_ram", "virtual_size")


def glance_time(t: dt.datetime | None) -> str | None:
    return None if t is None else t.replace(microsecond=0).isoformat() + "Z"


@dataclass
class Quotas:
    #: Images a project may own (-1: unlimited).
    count: int = -1
    #: Bytes of image data a project may store (-1: unlimited).
    bytes: int = -1


class ImageService:
    def __init__(self, db: Database, store: Store, quotas: Quotas | None = None) -> None:
        self.db = db
        self.store = store
        self.quotas = quotas or Quotas()

    # ------------------------------------------------------------ reading
    def _visible(self, ctx: RequestContext) -> Any:
        if ctx.is_admin:
            return and_(m.Image.deleted.is_(False))
        member = exists().where(m.ImageMember.image_id == m.Image.id,
                                m.ImageMember.member_id == (ctx.project_id or ""))
        return and_(m.Image.deleted.is_(False), or_(
            m.Image.visibility.in_(("public", "community")),
            m.Image.owner == ctx.project_id,
            and_(m.Image.visibility == "shared", member)))

    def _get(self, s: Session, ctx: RequestContext, image_id: str) -> m.Image:
        img = s.scalar(select(m.Image).where(m.Image.id == image_id, self._visible(ctx)))
        if img is None:
            raise NotFound(f"No image found with ID {image_id}")
        return img

    def _owns(self, ctx: RequestContext, img: m.Image) -> bool:
        return ctx.is_admin or (img.owner is not None and img.owner == ctx.project_id)

    def _must_own(self, ctx: RequestContext, img: m.Image, what: str) -> None:
        if not self._owns(ctx, img):
            raise Forbidden(f"You are not permitted to {what} this image.")

    def extras(self, s: Session, ids: list[str]) -> tuple[dict[str, dict[str, str]],
                                                          dict[str, list[str]]]:
        props: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, list[str]] = {i: [] for i in ids}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for p in s.scalars(select(m.ImageProperty).where(
                    m.ImageProperty.image_id.in_(chunk))):
                props[p.image_id][p.name] = p.value
            for t in s.scalars(select(m.ImageTag).where(m.ImageTag.image_id.in_(chunk))
                               .order_by(m.ImageTag.tag)):
                tags[t.image_id].append(t.tag)
        return props, tags

    def view(self, img: m.Image, props: dict[str, str], tags: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = dict(props)
        body.update({
            "id": img.id, "name": img.name, "status": img.status,
            "visibility": img.visibility, "protected": img.protected,
            "os_hidden": img.os_hidden, "owner": img.owner,
            "disk_format": img.disk_format, "container_format": img.container_format,
            "size": img.size, "virtual_size": img.virtual_size, "checksum": img.checksum,
            "os_hash_algo": img.os_hash_algo, "os_hash_value": img.os_hash_value,
            "min_disk": img.min_disk, "min_ram": img.min_ram, "tags": tags,
            "created_at": glance_time(img.created_at), "updated_at": glance_time(img.updated_at),
            "self": f"/v2/images/{img.id}", "file": f"/v2/images/{img.id}/file",
            "schema": "/v2/schemas/image",
        })
        if img.status == "active" and img.location:
            body["stores"] = self.store.name
        return body

    def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            img = self._get(s, ctx, image_id)
            props, tags = self.extras(s, [img.id])
            return self.view(img, props[img.id], tags[img.id])

    def lookup(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        """For compute: the image a server boots from (400-worthy errors as NotFound)."""
        return self.show(ctx, image_id)

    def list_images(self, ctx: RequestContext, params: list[tuple[str, str]], *, limit: int,
             marker: str | None) -> tuple[list[dict[str, Any]], bool]:
        from overcast.kit.paging import keyset_page

        q = select(m.Image).where(m.Image.deleted.is_(False))
        single: dict[str, str] = {}
        tags: list[str] = []
        props: dict[str, str] = {}
        sort_keys: list[str] = []
        sort_dirs: list[str] = []
        sort_param = None
        for key, value in params:
            if key == "tag":
                tags.append(value)
            elif key == "sort_key":
                sort_keys.append(value)
            elif key == "sort_dir":
                sort_dirs.append(value)
            elif key == "sort":
                sort_param = value
            elif key in ("limit", "marker"):
                continue
            elif key in single or key in props:
                raise BadRequest(f"Duplicate filter {key}")
            elif key in ("name", "id", "status", "visibility", "owner", "member_status",
                         "disk_format", "container_format", "size_min", "size_max",
                         "protected", "os_hidden", "created_at", "updated_at", "checksum",
                         "os_hash_value"):
                single[key] = value
            else:
                props[key] = value
        visibility = single.get("visibility")
        if visibility is not None and visibility not in (*VISIBILITIES, "all"):
            raise BadRequest(f"Invalid visibility value: {visibility}")
        member_status = single.get("member_status", "accepted")
        if member_status not in (*MEMBER_STATUSES, "all"):
            raise BadRequest(f"Invalid status value: {member_status}")
        pid = ctx.project_id or ""
        mine = m.Image.owner == pid
        member_rows = select(m.ImageMember.image_id).where(m.ImageMember.member_id == pid)
        if member_status != "all":
            member_rows = member_rows.where(m.ImageMember.status == member_status)
        shared_to_me = and_(m.Image.visibility == "shared", m.Image.id.in_(member_rows))
        if visibility in (None, "all"):
            if not ctx.is_admin:
                allowed = [m.Image.visibility == "public", mine, shared_to_me]
                if visibility == "all":
                    allowed.append(m.Image.visibility == "community")
                q = q.where(or_(*allowed))
        else:
            q = q.where(m.Image.visibility == visibility)
            if not ctx.is_admin:
                if visibility == "private":
                    q = q.where(mine)
                elif visibility == "shared":
                    q = q.where(or_(mine, shared_to_me))
        if "os_hidden" in single:
            q = q.where(m.Image.os_hidden.is_(_bool(single["os_hidden"], "os_hidden")))
        elif "id" not in single:
            q = q.where(m.Image.os_hidden.is_(False))
        for key in ("name", "id", "status", "owner", "disk_format", "container_format",
                    "checksum", "os_hash_value"):
            if key in single:
                col = getattr(m.Image, key)
                value = single[key]
                if value.startswith("in:"):
                    q = q.where(col.in_(_in_list(value[3:])))
                elif key == "status" and value not in (
                        "queued", "saving", "active", "killed", "deleted", "pending_delete",
                        "deactivated", "uploading", "importing"):
                    raise BadRequest(f"Invalid status value: {value}")
                else:
                    q = q.where(col == value)
        if "protected" in single:
            q = q.where(m.Image.protected.is_(_bool(single["protected"], "protected")))
        for key, op in (("size_min", "ge"), ("size_max", "le")):
            if key in single:
                try:
                    n = int(single[key])
                except ValueError:
                    raise BadRequest(f"Invalid value for {key}: {single[key]}")
                q = q.where(m.Image.size >= n if op == "ge" else m.Image.size <= n)
        for key in ("created_at", "updated_at"):
            if key in single:
                q = q.where(_time_filter(getattr(m.Image, key), single[key], key))
        for tag in tags:
            q = q.where(m.Image.id.in_(select(m.ImageTag.image_id).where(m.ImageTag.tag == tag)))
        for name, value in props.items():
            q = q.where(m.Image.id.in_(select(m.ImageProperty.image_id).where(
                m.ImageProperty.name == name, m.ImageProperty.value == value)))
        sort = _sort(sort_param, sort_keys, sort_dirs)
        with self.db.session() as s:
            rows, more = keyset_page(s, q, m.Image, limit=limit, marker=marker, sort=sort,
                                     id_attr="id")
            props_by, tags_by = self.extras(s, [r.id for r in rows])
            return [self.view(r, props_by[r.id], tags_by[r.id]) for r in rows], more

    # ------------------------------------------------------------ writing
    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("Image body must be a JSON object.")
        core, props, tags = _split(body, creating=True)
        image_id = core.pop("id", None) or str(uuidlib.uuid4())
        try:
            image_id = str(uuidlib.UUID(str(image_id)))
        except ValueError:
            raise BadRequest(f"Invalid id: {image_id} is not a UUID.")
        owner = core.pop("owner", None)
        if owner is not None and not ctx.is_admin and owner != ctx.project_id:
            raise Forbidden("You are not permitted to create images owned by "
                            f"'{owner}'.")
        self._check_visibility_change(ctx, core.get("visibility"))
        with self.db.transaction() as s:
            if s.get(m.Image, image_id) is not None:
                raise Conflict(f"Image with identifier {image_id} already exists!")
            self._check_count_quota(s, owner or ctx.project_id)
            img = m.Image(id=image_id, owner=owner or ctx.project_id, status="queued",
                          visibility=core.pop("visibility", "shared"), **core)
            s.add(img)
            s.flush()
            for k, v in props.items():
                s.add(m.ImageProperty(image_id=image_id, name=k, value=v))
            for t in dict.fromkeys(tags):
                s.add(m.ImageTag(image_id=image_id, tag=t))
            s.flush()
            return self.view(img, props, sorted(dict.fromkeys(tags)))

    def _check_visibility_change(self, ctx: RequestContext, visibility: str | None) -> None:
        if visibility == "public" and not ctx.is_admin:
            raise Forbidden("You are not authorized to complete publicize_image action.")

    def _check_count_quota(self, s: Session, owner: str | None) -> None:
        if self.quotas.count < 0 or owner is None:
            return
        n = s.scalar(select(func.count()).select_from(m.Image).where(
            m.Image.owner == owner, m.Image.deleted.is_(False))) or 0
        if n >= self.quotas.count:
            raise RequestEntityTooLarge(
                f"Maximum number of images exceeded: the project has {n} of "
                f"{self.quotas.count} images. Delete some images to make room.")

    def update(self, ctx: RequestContext, image_id: str, ops: Any) -> dict[str, Any]:
        if not isinstance(ops, list):
            raise BadRequest("Request body must be a JSON array of operation objects.")
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            self._must_own(ctx, img, "modify")
            props, tags = self.extras(s, [img.id])
            p, t = dict(props[img.id]), list(tags[img.id])
            for op in ops:
                self._apply(ctx, img, p, t, op)
            s.execute(delete(m.ImageProperty).where(m.ImageProperty.image_id == img.id))
            s.execute(delete(m.ImageTag).where(m.ImageTag.image_id == img.id))
            for k, v in p.items():
                s.add(m.ImageProperty(image_id=img.id, name=k, value=v))
            for tag in dict.fromkeys(t):
                s.add(m.ImageTag(image_id=img.id, tag=tag))
            img.updated_at = utcnow()
            s.flush()
            return self.view(img, p, sorted(dict.fromkeys(t)))

    def _apply(self, ctx: RequestContext, img: m.Image, props: dict[str, str],
               tags: list[str], op: Any) -> None:
        if not isinstance(op, dict) or len([k for k in ("add", "replace", "remove", "op")
                                            if k in op]) != 1:
            raise BadRequest("Operation objects must contain exactly one of \"add\", "
                             "\"remove\", or \"replace\".")
        kind = next(k for k in ("add", "replace", "remove") if k in op) if "op" not in op \
            else op["op"]
        path = op.get(kind) if "op" not in op else op.get("path")
        if kind not in ("add", "replace", "remove") or not isinstance(path, str):
            raise BadRequest("Invalid operation: `op` must be add, replace or remove and "
                             "`path` a string.")
        if not path.startswith("/") or path.count("/") != 1 or len(path) < 2:
            if path.startswith("/tags/") or path.startswith("/locations"):
                raise BadRequest(f"Unsupported path {path}.")
            raise BadRequest(f"Json path should start with a '/', end with no '/', no 2 "
                             f"subsequent '/' are allowed: {path}")
        name = path[1:].replace("~1", "/").replace("~0", "~")
        value = op.get("value")
        if kind != "remove" and "value" not in op:
            raise BadRequest(f"Operation \"{kind}\" requires a member named \"value\".")
        if name in READ_ONLY or name == "id":
            raise Forbidden(f"Attribute '{name}' is read-only.")
        if name in RESERVED or name.startswith("os_glance"):
            raise Forbidden(f"Attribute '{name}' is reserved.")
        if name == "tags":
            if kind == "remove":
                tags.clear()
                return
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise BadRequest("Invalid value for tags: it must be a list of strings.")
            _check_tags(value)
            tags[:] = value
            return
        if name in SETTABLE:
            if kind == "remove":
                raise Forbidden(f"Properties {name} must not be removed.")
            if name == "owner" and not ctx.is_admin:
                raise Forbidden("Attribute 'owner' can only be changed by an admin.")
            if name in ("disk_format", "container_format") and img.status != "queued":
                raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
            core = _core_value(name, value)
            if name == "visibility":
                self._check_visibility_change(ctx, value)
                if value != "shared" and img.visibility == "shared":
                    pass  # Glance keeps members; they stop mattering
            setattr(img, name, core)
            return
        if kind == "remove":
            if name not in props:
                raise Conflict(f"Property {name} does not exist.")
            del props[name]
            return
        if kind == "replace" and name not in props:
            raise Conflict(f"Property {name} does not exist.")
        props[name] = _prop_value(name, value)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            self._must_own(ctx, img, "delete")
            if img.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            location = img.location
            img.deleted, img.status, img.location = True, "deleted", None
        # The row says deleted before the bytes go: a crash in between leaves an
        # orphan file (removed at start-up), never a live image without data.
        if location:
            self.store.delete(location)

    def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            if not ctx.is_admin and img.owner != ctx.project_id:
                raise Forbidden("You are not authorized to complete "
                                f"{'reactivate' if active else 'deactivate'} action.")
            if img.status not in ("active", "deactivated"):
                raise Forbidden(f"Not allowed to {'reactivate' if active else 'deactivate'} "
                                f"image in status '{img.status}'")
            img.status = "active" if active else "deactivated"

    # ------------------------------------------------------------ data
    async def upload(self, ctx: RequestContext, image_id: str, chunks: AsyncIterator[bytes],
                     declared_size: int | None = None, *, staging: bool = False) -> None:
        """Stream the bytes to the store; the image is active only once they are all
        there, hashed and checked against the declared disk format."""
        owner, size_budget = await asyncio.to_thread(self._begin_upload, ctx, image_id,
                                                     declared_size)
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

        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size_budget is not None and size > size_budget:
                    raise RequestEntityTooLarge(
                        "Image storage quota exceeded: the upload is larger than what the "
                        "project has left. Delete some images or ask for a bigger quota.")
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
            self._must_own(ctx, img, "upload data to")
            if img.status != "queued":
                raise Conflict(f"Image status transition from {img.status} to saving is not "
                               "allowed")
            if img.disk_format is None or img.container_format is None:
                raise BadRequest("Properties disk_format, container_format must be set prior "
                                 "to saving data.")
            budget = None
            if self.quotas.bytes >= 0:
                used = s.scalar(select(func.coalesce(func.sum(m.Image.size), 0)).where(
                    m.Image.owner == img.owner, m.Image.deleted.is_(False))) or 0
                budget = self.quotas.bytes - int(used)
                if declared_size is not None and declared_size > budget:
                    raise RequestEntityTooLarge(
                        f"Image storage quota exceeded: {declared_size} bytes requested, "
                        f"{max(budget, 0)} left. Delete some images or ask for a bigger "
                        "quota.")
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
        path = self.store.local_path(location)
        with self.db.session() as s:
            img = s.get(m.Image, image_id)
            disk_format = img.disk_format if img else None
        try:
            found = inspect(path, disk_format) if path is not None else None
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
            self._must_own(ctx, img, "import")
            if img.status != "uploading" or not img.location:
                raise Conflict(f"Image {image_id} has no staged data (status {img.status}): "
                               "PUT the data to /v2/images/{id}/stage first.")
            img.status = "active"

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
        path = self.store.local_path(location) if location else None
        if path is None or not path.exists():
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
            if img.status == "deactivated" and not ctx.is_admin:
                raise Forbidden("The requested image has been deactivated. Image data "
                                "download is forbidden.")
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

    # ------------------------------------------------------------ members
    def _member_view(self, mem: m.ImageMember) -> dict[str, Any]:
        return {"image_id": mem.image_id, "member_id": mem.member_id, "status": mem.status,
                "created_at": glance_time(mem.created_at),
                "updated_at": glance_time(mem.updated_at), "schema": "/v2/schemas/member"}

    def _shared_image(self, s: Session, ctx: RequestContext, image_id: str) -> m.Image:
        img = self._get(s, ctx, image_id)
        if img.visibility != "shared":
            raise Forbidden("Only shared images have members.")
        return img

    def members(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            img = self._shared_image(s, ctx, image_id)
            q = select(m.ImageMember).where(m.ImageMember.image_id == img.id)
            if not self._owns(ctx, img):
                q = q.where(m.ImageMember.member_id == ctx.project_id)
            return [self._member_view(x) for x in s.scalars(q.order_by(
                m.ImageMember.created_at))]

    def add_member(self, ctx: RequestContext, image_id: str, member_id: Any
                   ) -> dict[str, Any]:
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise BadRequest("Member to be added not specified")
        with self.db.transaction() as s:
            img = self._shared_image(s, ctx, image_id)
            self._must_own(ctx, img, "add members to")
            if s.get(m.ImageMember, (img.id, member_id)) is not None:
                raise Conflict(f"The target member {member_id} is already associated with "
                               f"image {img.id}.")
            mem = m.ImageMember(image_id=img.id, member_id=member_id, status="pending")
            s.add(mem)
            s.flush()
            return self._member_view(mem)

    def get_member(self, ctx: RequestContext, image_id: str, member_id: str
                   ) -> dict[str, Any]:
        with self.db.session() as s:
            img = self._shared_image(s, ctx, image_id)
            mem = s.get(m.ImageMember, (img.id, member_id))
            if mem is None or (not self._owns(ctx, img) and member_id != ctx.project_id):
                raise NotFound(f"Member {member_id} not found")
            return self._member_view(mem)

    def update_member(self, ctx: RequestContext, image_id: str, member_id: str,
                      status: Any) -> dict[str, Any]:
        if status not in MEMBER_STATUSES:
            raise BadRequest(f"Invalid status: {status}")
        with self.db.transaction() as s:
            img = self._shared_image(s, ctx, image_id)
            mem = s.get(m.ImageMember, (img.id, member_id))
            if mem is None:
                raise NotFound(f"Member {member_id} not found")
            if member_id != ctx.project_id and not ctx.is_admin:
                raise Forbidden("Only the member can change its own status.")
            mem.status = status
            s.flush()
            return self._member_view(mem)

    def delete_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        with self.db.transaction() as s:
            img = self._shared_image(s, ctx, image_id)
            self._must_own(ctx, img, "remove members of")
            mem = s.get(m.ImageMember, (img.id, member_id))
            if mem is None:
                raise NotFound(f"Member {member_id} not found")
            s.delete(mem)


# ---------------------------------------------------------------- helpers
def _feed(fn: Callable[[bytes], Any], parts: list[bytes]) -> None:
    # Chunk by chunk, no joined copy: hashlib and file writes drop the GIL for each.
    for p in parts:
        fn(p)


def _write_hash(fh: Any, chunks: list[bytes], md5: Any, sha: Any) -> None:
    for c in chunks:
        md5.update(c)
        sha.update(c)
        fh.write(c)


def _bool(raw: str, name: str) -> bool:
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"Invalid value for {name}: {raw}. It must be true or false.")


def _in_list(raw: str) -> list[str]:
    out = []
    for part in re.findall(r'"[^"]*"|[^,]+', raw):
        out.append(part.strip('"'))
    return out


def _time_filter(col: Any, raw: str, key: str) -> Any:
    op, _, value = raw.partition(":")
    if op not in ("gt", "gte", "lt", "lte", "eq", "neq") or not value:
        op, value = "eq", raw
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid value for {key}: {raw}")
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return {"gt": col > t, "gte": col >= t, "lt": col < t, "lte": col <= t, "eq": col == t,
            "neq": col != t}[op]


def _sort(sort_param: str | None, keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if sort_param is not None:
        if keys or dirs:
            raise BadRequest("The 'sort' parameter cannot be combined with sort_key/sort_dir.")
        for part in sort_param.split(","):
            key, _, direction = part.strip().partition(":")
            out.append((key, direction or "desc"))
    else:
        if len(dirs) > len(keys) and not (len(dirs) == 1 and not keys):
            raise BadRequest("The number of sort_dir values exceeds the number of sort_key "
                             "values.")
        keys = keys or ["created_at"]
        for i, key in enumerate(keys):
            out.append((key, dirs[i] if i < len(dirs) else (dirs[0] if len(dirs) == 1
                                                           else "desc")))
    for key, direction in out:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It must be one of the following: "
                             f"{', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    return out


def _check_tags(tags: list[str]) -> None:
    for t in tags:
        if not t or len(t) > 255:
            raise BadRequest(f"Invalid tag {t!r}: tags are 1 to 255 characters.")
    if len(tags) > 128:
        raise RequestEntityTooLarge("Maximum number of tags per image exceeded (128).")


def _core_value(name: str, value: Any) -> Any:
    if name == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise BadRequest("Invalid value for name: it must be a string of at most 255 "
                             "characters.")
        return value
    if name == "visibility":
        if value not in VISIBILITIES:
            raise BadRequest(f"Invalid visibility value: {value}")
        return value
    if name in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise BadRequest(f"Invalid value for {name}: {value!r} is not a boolean.")
        return value
    if name == "disk_format":
        if value is not None and value not in DISK_FORMATS:
            raise BadRequest(f"Invalid disk format '{value}' for image. It must be one of "
                             f"{', '.join(DISK_FORMATS)}.")
        return value
    if name == "container_format":
        if value is not None and value not in CONTAINER_FORMATS:
            raise BadRequest(f"Invalid container format '{value}' for image. It must be one "
                             f"of {', '.join(CONTAINER_FORMATS)}.")
        return value
    if name in ("min_disk", "min_ram"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadRequest(f"Invalid value for {name}: it must be an integer >= 0.")
        return value
    if name == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise BadRequest("Invalid value for owner.")
        return value
    return value


def _prop_value(name: str, value: Any) -> str:
    if len(name) > 255:
        raise BadRequest("Property names are at most 255 characters.")
    if not isinstance(value, str):
        raise BadRequest(f"Invalid value for property {name}: extra properties are strings.")
    return value


def _split(body: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], dict[str, str],
                                                              list[str]]:
    core: dict[str, Any] = {}
    props: dict[str, str] = {}
    tags: list[str] = []
    for key, value in body.items():
        if key in READ_ONLY:
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key in RESERVED or key.startswith("os_glance"):
            raise Forbidden(f"Attribute '{key}' is reserved.")
        if key == "tags":
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise BadRequest("Invalid value for tags: it must be a list of strings.")
            _check_tags(value)
            tags = value
        elif key in SETTABLE:
            core[key] = _core_value(key, value)
        else:
            props[key] = _prop_value(key, value)
    return core, props, tags


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
