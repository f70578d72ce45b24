"""Server tags (Nova's `/servers/{id}/tags`, from 2.26): short strings on a server, at
most 50, kept in the server's row. Changes are refused (409, Nova's wording) unless
the server is active, paused, suspended or stopped, as in Nova.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.db import Database, utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound

#: Nova's per-server limit
MAX_TAGS = 50
_CHANGEABLE = ("active", "paused", "suspended", "stopped")


def _instance(s: Session, ctx: RequestContext, uuid: str) -> m.Instance:
    inst = s.get(m.Instance, uuid)
    if inst is None or inst.deleted or (not ctx.is_admin and
                                        inst.project_id != ctx.project_id):
        raise NotFound(f"Instance {uuid} could not be found.")
    return inst


def _changeable(s: Session, ctx: RequestContext, uuid: str, action: str) -> m.Instance:
    inst = _instance(s, ctx, uuid)
    if inst.vm_state not in _CHANGEABLE:
        raise Conflict(f"Cannot '{action}' instance {uuid} while it is in vm_state "
                       f"{inst.vm_state}")
    return inst


class ServerTags:
    def __init__(self, db: Database) -> None:
        self.db = db

    def names(self, ctx: RequestContext, uuid: str) -> list[str]:
        with self.db.session() as s:
            return list(_instance(s, ctx, uuid).tags or [])

    def has(self, ctx: RequestContext, uuid: str, tag: str) -> None:
        """Nothing when the server has the tag; 404 otherwise."""
        if tag not in self.names(ctx, uuid):
            raise NotFound(f"Server {uuid} has no tag '{tag}'")

    def replace(self, ctx: RequestContext, uuid: str, tags: list[str]) -> list[str]:
        with self.db.transaction() as s:
            inst = _changeable(s, ctx, uuid, "update tags")
            inst.tags, inst.updated_at = list(dict.fromkeys(tags)), utcnow()
            return list(inst.tags)

    def add(self, ctx: RequestContext, uuid: str, tag: str) -> bool:
        """Tag the server; False when it already had the tag."""
        with self.db.transaction() as s:
            inst = _changeable(s, ctx, uuid, "update tag")
            tags = list(inst.tags or [])
            if len(tags) >= MAX_TAGS:
                raise BadRequest(f"The number of tags exceeded the per-server limit "
                                 f"{MAX_TAGS}")
            if tag in tags:
                return False
            inst.tags, inst.updated_at = [*tags, tag], utcnow()
            return True

    def remove(self, ctx: RequestContext, uuid: str, tag: str | None) -> None:
        """Remove one tag (404 when absent), or every tag (`tag` None)."""
        with self.db.transaction() as s:
            inst = _changeable(s, ctx, uuid, "delete tag" if tag else "delete tags")
            tags = list(inst.tags or [])
            if tag is not None and tag not in tags:
                raise NotFound(f"Instance {uuid} has no tag '{tag}'")
            inst.tags = [t for t in tags if tag is not None and t != tag]
            inst.updated_at = utcnow()
