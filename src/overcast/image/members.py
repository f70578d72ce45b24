"""Image members: the projects a shared image is offered to, and their answers.

Only shared images have members. The owner adds and removes them; each member
accepts or rejects for itself (`pending` until then), which decides whether
the image appears in its lists. A non-owner sees only its own membership.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.image import models as m
from overcast.image import policy, views
from overcast.image.base import ImageBase
from overcast.image.properties import MEMBER_STATUSES
from overcast.image.quotas import check_members
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound


class Members(ImageBase):
    def _shared_image(self, s: Session, ctx: RequestContext, image_id: str) -> m.Image:
        img = self._get(s, ctx, image_id)
        if img.visibility != "shared":
            raise Forbidden("Only shared images have members.")
        return img

    def members(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            img = self._shared_image(s, ctx, image_id)
            q = select(m.ImageMember).where(m.ImageMember.image_id == img.id)
            if not policy.owns(ctx, img):
                q = q.where(m.ImageMember.member_id == ctx.project_id)
            return [views.member(x) for x in s.scalars(q.order_by(
                m.ImageMember.created_at))]

    def add_member(self, ctx: RequestContext, image_id: str, member_id: Any
                   ) -> dict[str, Any]:
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise BadRequest("Member to be added not specified")
        with self.db.transaction() as s:
            img = self._shared_image(s, ctx, image_id)
            policy.must_own(ctx, img, "add members to")
            if s.get(m.ImageMember, (img.id, member_id)) is not None:
                raise Conflict(f"The target member {member_id} is already associated with "
                               f"image {img.id}.")
            check_members(s.scalar(select(func.count()).select_from(m.ImageMember).where(
                m.ImageMember.image_id == img.id)) or 0)
            mem = m.ImageMember(image_id=img.id, member_id=member_id, status="pending")
            s.add(mem)
            s.flush()
            return views.member(mem)

    def get_member(self, ctx: RequestContext, image_id: str, member_id: str
                   ) -> dict[str, Any]:
        with self.db.session() as s:
            img = self._shared_image(s, ctx, image_id)
            mem = s.get(m.ImageMember, (img.id, member_id))
            if mem is None or (not policy.owns(ctx, img) and member_id != ctx.project_id):
                raise NotFound(f"Member {member_id} not found")
            return views.member(mem)

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
            return views.member(mem)

    def delete_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        with self.db.transaction() as s:
            img = self._shared_image(s, ctx, image_id)
            policy.must_own(ctx, img, "remove members of")
            mem = s.get(m.ImageMember, (img.id, member_id))
            if mem is None:
                raise NotFound(f"Member {member_id} not found")
            s.delete(mem)


