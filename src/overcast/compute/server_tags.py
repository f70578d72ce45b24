"""Server tags (`/servers/{id}/tags`, 2.26): a server's list of short strings, kept
on the instance row (`Instance.tags`) and shown in its view from 2.26.

As in Nova, tags are read in any state but changed only while the server is
active, paused, suspended or stopped (409 otherwise), a server has at most
`MAX_TAGS`, and adding a tag it already has changes nothing. Each change writes a
new list, so the row's `updated_at` moves and cached views of it are renewed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.compute import states
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService

MAX_TAGS = 50
_CHANGEABLE = (states.ACTIVE, states.PAUSED, states.SUSPENDED, states.STOPPED)


class ServerTags:
    """Reads and changes of servers' tags, through the compute service's rows."""

    def __init__(self, compute: ComputeService) -> None:
        self.compute = compute

    def tags(self, ctx: RequestContext, uuid: str) -> list[str]:
        return list(self.compute.instance(ctx, uuid).tags or [])

    def has(self, ctx: RequestContext, uuid: str, tag: str) -> None:
        """Nothing when the server has `tag`; 404 otherwise."""
        if tag not in self.tags(ctx, uuid):
            raise NotFound(f"Server {uuid} has no tag '{tag}'")

    def _changeable(self, s: Session, ctx: RequestContext, uuid: str,
                    label: str) -> m.Instance:
        inst = self.compute.get_instance(s, ctx, uuid)
        if inst.vm_state not in _CHANGEABLE:
            raise Conflict(f"Cannot '{label}' instance {uuid} while it is in vm_state "
                           f"{inst.vm_state}")
        return inst

    def replace(self, ctx: RequestContext, uuid: str, tags: list[str]) -> list[str]:
        with self.compute.db.transaction() as s:
            inst = self._changeable(s, ctx, uuid, "update tags")
            inst.tags = list(dict.fromkeys(tags))
            return list(inst.tags)

    def add(self, ctx: RequestContext, uuid: str, tag: str) -> bool:
        """Add `tag`; False when the server had it already."""
        with self.compute.db.transaction() as s:
            inst = self._changeable(s, ctx, uuid, "update tag")
            tags = list(inst.tags or [])
            if len(tags) >= MAX_TAGS:
                raise BadRequest(f"The number of tags exceeded the per-server limit "
                                 f"{MAX_TAGS}")
            if tag in tags:
                return False
            inst.tags = [*tags, tag]
            return True

    def remove(self, ctx: RequestContext, uuid: str, tag: str | None) -> None:
        """Remove `tag` (404 when the server has not it), or every tag (None)."""
        with self.compute.db.transaction() as s:
            inst = self._changeable(s, ctx, uuid, "delete tag" if tag else "delete tags")
            tags = list(inst.tags or [])
            if tag is not None and tag not in tags:
                raise NotFound(f"Server {uuid} has no tag '{tag}'")
            inst.tags = [t for t in tags if tag is not None and t != tag]
