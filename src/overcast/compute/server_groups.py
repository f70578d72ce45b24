"""Server groups (Nova's os-server-groups): the domain side, no HTTP.

A group's policy (affinity, anti-affinity and their soft forms) is read by the
scheduler from the group's members; here groups are created (within the project's
quota), listed, shown and deleted.
"""

from __future__ import annotations

import builtins
import uuid as uuidlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.compute.quotas import QuotaService
from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.kit.errors import Forbidden, NotFound


class ServerGroupService:
    def __init__(self, db: Database, quotas: QuotaService) -> None:
        self.db = db
        self.quotas = quotas

    def create(self, ctx: RequestContext, name: str, policy: str,
               rules: dict[str, Any]) -> m.ServerGroup:
        with self.db.transaction() as s:
            limit = self.quotas.limits(s, ctx.project_id or "")["server_groups"]
            if 0 <= limit <= self.quotas.usage(s, ctx.project_id or "")["server_groups"]:
                raise Forbidden("Quota exceeded, too many server groups.")
            g = m.ServerGroup(uuid=str(uuidlib.uuid4()), name=name,
                              project_id=ctx.project_id or "", user_id=ctx.user_id or "",
                              policy=policy, rules=rules)
            s.add(g)
            return g

    def list(self, ctx: RequestContext, all_projects: bool) -> builtins.list[tuple[
            m.ServerGroup, builtins.list[str]]]:
        with self.db.session() as s:
            q = select(m.ServerGroup).order_by(m.ServerGroup.created_at)
            if not (all_projects and ctx.is_admin):
                q = q.where(m.ServerGroup.project_id == ctx.project_id)
            return [(g, self._members(s, g.uuid)) for g in s.scalars(q)]

    def _members(self, s: Session, group: str) -> builtins.list[str]:
        return list(s.scalars(select(m.ServerGroupMember.instance_uuid).where(
            m.ServerGroupMember.group_uuid == group)))

    def get(self, ctx: RequestContext, uuid: str) -> tuple[m.ServerGroup, builtins.list[str]]:
        with self.db.session() as s:
            g = s.get(m.ServerGroup, uuid)
            if g is None or (not ctx.is_admin and g.project_id != ctx.project_id):
                raise NotFound(f"Instance group {uuid} could not be found.")
            return g, self._members(s, uuid)

    def of_server(self, uuid: str) -> builtins.list[str]:
        """The groups a server is a member of (at most one; 2.71's `server_groups`)."""
        with self.db.session() as s:
            return list(s.scalars(select(m.ServerGroupMember.group_uuid).where(
                m.ServerGroupMember.instance_uuid == uuid)))

    def delete(self, ctx: RequestContext, uuid: str) -> None:
        with self.db.transaction() as s:
            g = s.get(m.ServerGroup, uuid)
            if g is None or (not ctx.is_admin and g.project_id != ctx.project_id):
                raise NotFound(f"Instance group {uuid} could not be found.")
            s.delete(g)
