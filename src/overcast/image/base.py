"""What every part of the image service stands on: the database, the store, the
quotas, and how an image is found for a caller.

Read rules (Glance's): an admin sees everything; others see public and
community images, their own, and shared images they are a member of. An image
the caller may not see is a 404, never a 403.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.image import models as m
from overcast.image import views
from overcast.image.quotas import Quotas
from overcast.image.store import Store
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound


class ImageBase:
    def __init__(self, db: Database, store: Store, quotas: Quotas | None = None) -> None:
        self.db = db
        self.store = store
        self.quotas = quotas or Quotas()

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

    def extras(self, s: Session, ids: list[str]) -> tuple[dict[str, dict[str, str]],
                                                          dict[str, list[str]]]:
        """Extra properties and sorted tags of each image, 500 ids per query."""
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
        return views.image(img, props, tags, self.store.name)

    def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            img = self._get(s, ctx, image_id)
            props, tags = self.extras(s, [img.id])
            return self.view(img, props[img.id], tags[img.id])
