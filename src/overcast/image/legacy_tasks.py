"""Glance's admin tasks API (`/v2/tasks`, deprecated in Glance but still served):
a task of type `import` copies an image from an http(s) URL into a new image.

As Glance: only an administrator may use it (`tasks_api_access`); `import_from`
must be an http(s) URL whose host resolves (Glance's import filtering: a `file://`
source, another scheme, or a host that does not resolve is a 400 at creation). The
task is answered `pending`, then runs on a thread of the API process that took it:
`processing` while the data is fetched (at most the image byte quota) and checked
against the declared `disk_format` (the same inspector as an upload), then
`success` with `result.image_id`, or `failure` with the reason (the half-made image
is deleted). A task outlives its end by 48 hours, as Glance's task_time_to_live.

A task caught by the end of its process stays `processing`; Glance's tasks have
the same fate when its API worker dies.
"""

from __future__ import annotations

import ipaddress
import socket
import tempfile
import threading
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy import select

from overcast.db import Database
from overcast.db.base import utcnow
from overcast.image import models as m
from overcast.image.tasks import TASK_TTL, task_view
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound, OvercastError

ACCESS_DENIED = "You are not authorized to complete tasks_api_access action."


class ImagePort(Protocol):
    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]: ...

    def import_file(self, image_id: str, path: Path, disk_format: str) -> None: ...

    def delete(self, ctx: RequestContext, image_id: str) -> None: ...


def check_import_from(uri: Any) -> str:
    """Glance's checks of a legacy import's source, at creation."""
    if not isinstance(uri, str) or not uri:
        raise BadRequest(f"Invalid location: {uri}")
    if uri.startswith(("file:///", "filesystem:///")):
        raise BadRequest("File based imports are not allowed. Please use a non-local "
                         "source of image data.")
    if not uri.startswith(("http://", "https://")):
        raise BadRequest("The given uri is not valid. Please specify a valid uri from the "
                         "following list of supported uri ['http']")
    host = urllib.parse.urlparse(uri).hostname
    if not host or not _resolves(host):
        raise BadRequest(f"URI for legacy import task does not pass filtering: {uri}")
    return uri


def _resolves(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if host.replace(".", "").isdigit():
        return False   # shorthand or encoded addresses ("127.1"), as Glance refuses
    try:
        socket.getaddrinfo(host, None)
        return True
    except (OSError, UnicodeError):
        return False


def _task_input(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Task body must be a JSON object.")
    if body.get("type") != "import":
        raise BadRequest(f"Invalid type value: {body.get('type')}. This cloud runs tasks "
                         f"of type import.")
    given = body.get("input")
    if not isinstance(given, dict):
        raise BadRequest("Input to the import task must be a JSON object.")
    for key in ("import_from", "import_from_format", "image_properties"):
        if key not in given:
            raise BadRequest(f"Input does not contain '{key}' field")
    props = given["image_properties"]
    if not isinstance(props, dict) or not isinstance(props.get("disk_format"), str):
        raise BadRequest("image_properties must be an object with a disk_format.")
    check_import_from(given["import_from"])
    return given


def view(t: m.ImageTask, *, stub: bool = False) -> dict[str, Any]:
    out = {**task_view(t), "self": f"/v2/tasks/{t.id}", "schema": "/v2/schemas/task"}
    for key in ("deleted", "deleted_at"):
        out.pop(key)
    if stub:
        out.pop("input")
        out.pop("result")
    return out


class LegacyTasks:
    def __init__(self, db: Database, images: ImagePort, work_dir: Path,
                 max_bytes: int) -> None:
        self.db = db
        self.images = images
        self.work_dir = work_dir
        self.max_bytes = max_bytes

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        if not ctx.is_admin:
            raise Forbidden(ACCESS_DENIED)
        given = _task_input(body)
        now = utcnow()
        task = m.ImageTask(id=str(uuid.uuid4()), image_id=str(uuid.uuid4()), type="import",
                           status="pending", owner=ctx.project_id or "",
                           user_id=ctx.user_id or "", request_id=ctx.request_id,
                           input=given, result=None, message="", created_at=now,
                           updated_at=now, expires_at=None)
        with self.db.transaction() as s:
            s.add(task)
            out = view(task)
        threading.Thread(target=self._run, args=(ctx, task.id), daemon=True,
                         name=f"image-task-{task.id[:8]}").start()
        return out

    def show(self, ctx: RequestContext, task_id: str) -> dict[str, Any]:
        if not ctx.is_admin:
            raise Forbidden(ACCESS_DENIED)
        with self.db.session() as s:
            t = s.get(m.ImageTask, task_id)
            if t is None or t.type != "import" or (
                    t.expires_at is not None and t.expires_at <= utcnow()):
                raise NotFound(f"Task with the given id {task_id} not found")
            return view(t)

    def find(self, ctx: RequestContext, filters: dict[str, str]) -> list[dict[str, Any]]:
        if not ctx.is_admin:
            raise Forbidden(ACCESS_DENIED)
        with self.db.session() as s:
            q = select(m.ImageTask).where(
                m.ImageTask.type == "import",
                (m.ImageTask.expires_at.is_(None)) | (m.ImageTask.expires_at > utcnow()))
            if filters.get("status"):
                q = q.where(m.ImageTask.status == filters["status"])
            rows = s.scalars(q.order_by(m.ImageTask.created_at.desc(), m.ImageTask.id))
            return [view(t, stub=True) for t in rows]

    # ------------------------------------------------------------- the work
    def _set(self, task_id: str, status: str, *, message: str = "",
             result: dict[str, Any] | None = None) -> None:
        with self.db.transaction() as s:
            t = s.get(m.ImageTask, task_id)
            if t is None:
                return
            now = utcnow()
            t.status, t.message, t.result, t.updated_at = status, message, result, now
            if status in ("success", "failure"):
                t.expires_at = now + TASK_TTL

    def _run(self, ctx: RequestContext, task_id: str) -> None:
        with self.db.session() as s:
            t = s.get(m.ImageTask, task_id)
            if t is None or t.input is None:
                return
            given, image_id = dict(t.input), t.image_id
        self._set(task_id, "processing")
        props = dict(given["image_properties"])
        created = False
        try:
            self.images.create(ctx, {**props, "id": image_id})
            created = True
            self.work_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.work_dir, prefix="task-") as tmp:
                self._fetch(given["import_from"], tmp)
                self.images.import_file(image_id, Path(tmp.name), props["disk_format"])
        except (OvercastError, httpx.HTTPError, OSError, ValueError) as exc:
            reason = exc.message if isinstance(exc, OvercastError) else str(exc)
            if created:
                try:
                    self.images.delete(ctx, image_id)
                except OvercastError:
                    pass
            self._set(task_id, "failure", message=reason or type(exc).__name__)
            return
        self._set(task_id, "success", result={"image_id": image_id})

    def _fetch(self, url: str, out: Any) -> None:
        """Stream `url` into `out`; each redirect passes the creation checks again
        (Glance's SafeRedirectHandler)."""
        size = 0
        for _ in range(6):
            with httpx.stream("GET", url, follow_redirects=False, timeout=60) as r:
                if r.is_redirect:
                    try:
                        url = check_import_from(urllib.parse.urljoin(
                            url, r.headers.get("location", "")))
                    except BadRequest as exc:
                        raise ValueError(f"Redirect to disallowed URL: {exc.message}") \
                            from None
                    continue
                r.raise_for_status()
                for chunk in r.iter_bytes(1 << 20):
                    size += len(chunk)
                    if 0 <= self.max_bytes < size:
                        raise ValueError("The image is larger than the image byte quota "
                                         "allows.")
                    out.write(chunk)
                out.flush()
                return
        raise ValueError(f"Too many redirects fetching {url}")
