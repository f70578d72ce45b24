"""What Glance answers: an image, a member, an image list with its paging links,
and the version document, in Glance v2's shapes (times without microseconds,
with a `Z`)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from overcast.image import models as m

#: Glance v2 minor versions, newest (CURRENT) first.
VERSIONS = [f"2.{n}" for n in range(17, -1, -1)]


def glance_time(t: dt.datetime | None) -> str | None:
    return None if t is None else t.replace(microsecond=0).isoformat() + "Z"


def image(img: m.Image, props: dict[str, str], tags: list[str], store: str
          ) -> dict[str, Any]:
    body: dict[str, Any] = dict(props)
    body.update({
        "id": img.id, "name": img.name, "status": img.status,
        "visibility": img.visibility, "protected": img.protected,
        "os_hidden": img.os_hidden, "owner": img.owner,
        "disk_format": img.disk_format, "container_format": img.container_format,
        "size": img.size, "virtual_size": img.virtual_size, "checksum": img.checksum,
        "os_hash_algo": img.os_hash_algo, "os_hash_value": img.os_hash_value,
        "min_disk": img.min_disk, "min_ram": img.min_ram, "tags": tags,
        "created_at": glance_time(img.created_at), "updated_at": glance_time(img.updated_at),
        "self": f"/v2/images/{img.id}", "file": f"/v2/images/{img.id}/file",
        "schema": "/v2/schemas/image",
    })
    if img.status == "active" and img.location:
        body["stores"] = store
    return body


def member(mem: m.ImageMember) -> dict[str, Any]:
    return {"image_id": mem.image_id, "member_id": mem.member_id, "status": mem.status,
            "created_at": glance_time(mem.created_at),
            "updated_at": glance_time(mem.updated_at), "schema": "/v2/schemas/member"}


def image_list(images: list[dict[str, Any]], more: bool,
               query: list[tuple[str, str]]) -> dict[str, Any]:
    """A page of images with `first` and, when there is more, `next` (marker paging)."""
    params = [(k, v) for k, v in query if k != "marker"]
    first = "/v2/images" + (f"?{urlencode(params)}" if params else "")
    body: dict[str, Any] = {"images": images, "schema": "/v2/schemas/images", "first": first}
    if more and images:
        body["next"] = "/v2/images?" + urlencode([*params, ("marker", images[-1]["id"])])
    return body


def versions(base: str) -> dict[str, Any]:
    return {"versions": [
        {"id": f"v{v}", "status": "CURRENT" if i == 0 else "SUPPORTED",
         "links": [{"rel": "self", "href": f"{base}/v2/"}]}
        for i, v in enumerate(VERSIONS)]}
