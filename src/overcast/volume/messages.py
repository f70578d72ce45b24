"""User messages (Cinder 3.3+): why an asynchronous step failed, for the project
that asked. A create, extend, snapshot, attach or upload answers 202 before the
storage host works; when the host then fails, the record goes to `error` and a
message says what went wrong, in Cinder's event vocabulary
(`VOLUME_<resource>_<action>_<detail>`). Messages expire after `TTL`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.db import utcnow
from overcast.kit import paging
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.volume import errors, policy, views
from overcast.volume import models as m
from overcast.volume.common import Store

TTL = dt.timedelta(days=30)
#: Cinder's message actions and details (cinder/message/message_field.py)
ACTIONS = {"001": "schedule allocate volume", "002": "attach volume",
           "003": "copy volume to image", "004": "update attachment",
           "005": "copy image to volume", "007": "extend volume",
           "008": "create volume from backend storage", "009": "snapshot create",
           "010": "snapshot delete", "011": "create volume from snapshot",
           "013": "delete volume"}
DETAILS = {"001": "An unknown error occurred.",
           "003": "Could not find any available weighted backend.",
           "009": "Driver failed to create the volume."}


def record(s: Session, project_id: str, resource_type: str, resource_uuid: str,
           action: str, detail: str, reason: str | None = None) -> None:
    """Leave a message for the project (inside the transaction that records the
    failure, so a failed step and its message commit together)."""
    text = f"{ACTIONS.get(action, 'unknown action')}:{DETAILS.get(detail, DETAILS['001'])}"
    if reason:
        text += f" ({reason[:400]})"
    s.add(m.UserMessage(id=str(uuid.uuid4()), project_id=project_id,
                        resource_type=resource_type, resource_uuid=resource_uuid,
                        event_id=f"VOLUME_{resource_type}_{action}_{detail}",
                        user_message=text, message_level="ERROR",
                        expires_at=utcnow() + TTL))


def view(base: str, x: m.UserMessage) -> dict[str, Any]:
    return {"id": x.id, "event_id": x.event_id, "user_message": x.user_message,
            "message_level": x.message_level, "resource_type": x.resource_type,
            "resource_uuid": x.resource_uuid, "request_id": x.request_id,
            "created_at": views.when(x.created_at),
            "guaranteed_until": views.when(x.expires_at),
            "links": views.links(base, x.project_id, "messages", x.id)}


class Messages:
    def __init__(self, store: Store) -> None:
        self.store = store

    def listing(self, ctx: RequestContext, params: dict[str, str], base: str
                ) -> tuple[list[dict[str, Any]], str | None]:
        stmt = select(m.UserMessage).where(m.UserMessage.expires_at > utcnow())
        if not (ctx.is_admin and "all_tenants" in params):
            stmt = stmt.where(m.UserMessage.project_id == (ctx.project_id or ""))
        for key in ("resource_uuid", "resource_type", "event_id", "message_level",
                    "request_id"):
            if key in params:
                stmt = stmt.where(getattr(m.UserMessage, key) == params[key])
        limit = paging.parse_limit(params.get("limit"), default=None, maximum=1000)
        with self.store.db.session() as s:
            marker = params.get("marker")
            if marker is not None:
                row = s.get(m.UserMessage, marker)
                if row is None or not policy.can_see(ctx, row.project_id):
                    raise errors.bad_marker(marker, "Message")
            rows, more = paging.keyset_page(s, stmt, m.UserMessage, limit=limit,
                                            marker=marker, sort=[("created_at", "desc")])
            return [view(base, x) for x in rows], rows[-1].id if more and rows else None

    def _get(self, s: Session, ctx: RequestContext, message_id: str) -> m.UserMessage:
        x = s.get(m.UserMessage, message_id)
        if x is None or not policy.can_see(ctx, x.project_id):
            raise NotFound(f"Message {message_id} could not be found.")
        return x

    def show(self, ctx: RequestContext, message_id: str, base: str) -> dict[str, Any]:
        with self.store.db.session() as s:
            return view(base, self._get(s, ctx, message_id))

    def delete(self, ctx: RequestContext, message_id: str) -> None:
        with self.store.db.transaction() as s:
            x = self._get(s, ctx, message_id)
            policy.write(ctx, x.project_id, "message:delete")
            s.delete(x)
            # expired messages go with any delete (Cinder cleans them periodically)
            s.execute(delete(m.UserMessage).where(m.UserMessage.expires_at <= utcnow()))
