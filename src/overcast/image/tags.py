"""Image tags one at a time (PUT/DELETE /v2/images/{id}/tags/{tag}).

A tag change is an update of the image's tag list, so it obeys the same rules
as a PATCH of /tags: only the owner (or an admin), at most 128 tags of 1 to
255 characters, and it touches `updated_at`.
"""

from __future__ import annotations

from overcast.image.images import Images
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound


class Tags(Images):
    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        tags = self.show(ctx, image_id)["tags"]
        if tag not in tags:
            self.update(ctx, image_id, [{"op": "replace", "path": "/tags",
                                         "value": [*tags, tag]}])

    def delete_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        tags = self.show(ctx, image_id)["tags"]
        if tag not in tags:
            raise NotFound(f"Tag {tag} not found")
        self.update(ctx, image_id, [{"op": "replace", "path": "/tags",
                                     "value": [t for t in tags if t != tag]}])
