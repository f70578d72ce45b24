"""The image service: Glance v2 semantics over the image tables and a store, as
one object, `app.state.images`, made of one part per concern.

`images.py` (CRUD, properties via `properties.py`, lists via `listing.py`),
`tags.py`, `members.py`, `data.py` (upload, stage, import, download, compute's
snapshots, crash recovery), `tasks.py` (the record of each import) and `quotas.py`;
who may do what is `policy.py`, what replies look like `views.py`. No HTTP here:
`api.py` holds the routes.
"""

from __future__ import annotations

from overcast.image.data import ImageData
from overcast.image.members import Members
from overcast.image.quotas import Quotas
from overcast.image.tags import Tags
from overcast.image.views import glance_time

__all__ = ["ImageService", "Quotas", "glance_time"]


class ImageService(Tags, Members, ImageData):
    """Every image operation over one database and one store."""
