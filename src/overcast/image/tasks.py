"""Image tasks: the record of each import of an image's data, as Glance keeps one
`api_image_import` task per import and lists them at GET /v2/images/{id}/tasks
(image API 2.12).

overcast's glance-direct import finishes inside its request, so the task is written
already ended (success, or failure with Glance's message); Glance's tasks end a
little later, and clients poll the list until they do either way. Tasks expire 48
hours after they end, as Glance's task_time_to_live.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.base import utcnow
from overcast.image import models as m
from overcast.image.base import ImageBase
from overcast.image.views import glance_time
from overcast.kit.context import RequestContext

TASK_TTL = dt.timedelta(hours=48)


def task_view(t: m.ImageTask) -> dict[str, Any]:
    return {
        "id": t.id, "type": t.type, "status": t.status, "owner": t.owner,
        "input": t.input, "result": t.result, "message": t.message,
        "image_id": t.image_id, "request_id": t.request_id, "user_id": t.user_id,
        "created_at": glance_time(t.created_at), "updated_at": glance_time(t.updated_at),
        "expires_at": glance_time(t.expires_at), "deleted": False, "deleted_at": None}


class ImageTasks(ImageBase):
    def record_import(self, s: Session, ctx: RequestContext, image: m.Image, body: Any,
                      failure: str | None = None) -> None:
        """The task of one import request, ended as it ended."""
        now = utcnow()
        s.add(m.ImageTask(
            id=str(uuid.uuid4()), image_id=image.id, type="api_image_import",
            status="failure" if failure else "success", owner=ctx.project_id or "",
            user_id=ctx.user_id or "", request_id=ctx.request_id,
            input={"image_id": image.id, "import_req": body, "backend": [self.store.name]},
            result=None if failure else {"image_id": image.id},
            message=failure or "", created_at=now, updated_at=now, expires_at=now + TASK_TTL))

    def image_tasks(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        """The image's tasks, newest first, for whoever may see the image."""
        with self.db.session() as s:
            self._get(s, ctx, image_id)
            rows = s.scalars(select(m.ImageTask).where(
                m.ImageTask.image_id == image_id,
                (m.ImageTask.expires_at.is_(None)) | (m.ImageTask.expires_at > utcnow()))
                .order_by(m.ImageTask.created_at.desc(), m.ImageTask.id))
            return [task_view(t) for t in rows]
