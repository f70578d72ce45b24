"""Images: show, list, create, update (JSON patch), delete, deactivate/reactivate.

An image is a row (core attributes), its extra properties and its tags; each
write changes them together in one transaction. A new image is `queued` until
its data arrives (`data.py`). Deleting marks the row first and removes the
bytes after, so a crash in between leaves an orphan file (removed at start-up),
never a live image without data.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import delete

from overcast.db import utcnow
from overcast.image import models as m
from overcast.image import policy
from overcast.image.base import ImageBase
from overcast.image.listing import list_query
from overcast.image.properties import apply_patch, split_body
from overcast.image.quotas import check_count, check_properties
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden
from overcast.kit.paging import keyset_page


class Images(ImageBase):
    def lookup(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        """For compute: the image a server boots from (400-worthy errors as NotFound)."""
        return self.show(ctx, image_id)

    def list_images(self, ctx: RequestContext, params: list[tuple[str, str]], *, limit: int,
                    marker: str | None) -> tuple[list[dict[str, Any]], bool]:
        q, sort = list_query(ctx, params)
        with self.db.session() as s:
            rows, more = keyset_page(s, q, m.Image, limit=limit, marker=marker, sort=sort,
                                     id_attr="id")
            props_by, tags_by = self.extras(s, [r.id for r in rows])
            return [self.view(r, props_by[r.id], tags_by[r.id]) for r in rows], more

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("Image body must be a JSON object.")
        core, props, tags = split_body(body, creating=True)
        check_properties(props)
        image_id = core.pop("id", None) or str(uuidlib.uuid4())
        try:
            image_id = str(uuidlib.UUID(str(image_id)))
        except ValueError:
            raise BadRequest(f"Invalid id: {image_id} is not a UUID.")
        owner = core.pop("owner", None)
        policy.check_owner(ctx, owner)
        policy.check_publicize(ctx, core.get("visibility"))
        with self.db.transaction() as s:
            if s.get(m.Image, image_id) is not None:
                raise Conflict(f"Image with identifier {image_id} already exists!")
            check_count(s, self.quotas, owner or ctx.project_id)
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

    def update(self, ctx: RequestContext, image_id: str, ops: Any) -> dict[str, Any]:
        if not isinstance(ops, list):
            raise BadRequest("Request body must be a JSON array of operation objects.")
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            policy.must_own(ctx, img, "modify")
            props, tags = self.extras(s, [img.id])
            p, t = dict(props[img.id]), list(tags[img.id])
            for op in ops:
                apply_patch(ctx, img, p, t, op)
            check_properties(p, before=props[img.id])
            s.execute(delete(m.ImageProperty).where(m.ImageProperty.image_id == img.id))
            s.execute(delete(m.ImageTag).where(m.ImageTag.image_id == img.id))
            for k, v in p.items():
                s.add(m.ImageProperty(image_id=img.id, name=k, value=v))
            for tag in dict.fromkeys(t):
                s.add(m.ImageTag(image_id=img.id, tag=tag))
            img.updated_at = utcnow()
            s.flush()
            return self.view(img, p, sorted(dict.fromkeys(t)))

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            policy.must_own(ctx, img, "delete")
            if img.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            location = img.location
            img.deleted, img.status, img.location = True, "deleted", None
        if location:
            self.store.delete(location)

    def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        with self.db.transaction() as s:
            img = self._get(s, ctx, image_id)
            policy.check_set_active(ctx, img, active)
            if img.status not in ("active", "deactivated"):
                raise Forbidden(f"Not allowed to {'reactivate' if active else 'deactivate'} "
                                f"image in status '{img.status}'")
            img.status = "active" if active else "deactivated"
