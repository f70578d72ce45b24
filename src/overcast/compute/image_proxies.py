"""Nova's deprecated image proxy: `/images` (up to 2.35) and `/images/{id}/metadata`
(up to 2.38), the image service's images in Nova's older shape.

Nova keeps no image state: each call is the image service's own (`ImagePort`), made
as the caller, so Glance's visibility and ownership rules hold. This module
translates: Nova's filters (`server`, `type`, `changes-since`, `minRam`...) into
Glance's, Glance's images into Nova's (upper-case status with a progress, `minRam`,
`metadata` for the extra properties, the `server` a snapshot was taken of), and
metadata edits into Glance's JSON-patch. The routes are
`compute.routes.image_proxies`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from overcast.compute.ports import ImagePort
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound

#: Glance's own fields: every other key of an image is one of its properties, which
#: Nova shows as `metadata`.
CORE = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "owner", "disk_format",
    "container_format", "size", "virtual_size", "checksum", "os_hash_algo",
    "os_hash_value", "min_disk", "min_ram", "tags", "created_at", "updated_at", "self",
    "file", "schema", "stores", "locations", "direct_url"})
#: Glance's status -> Nova's, and the progress Nova reports with it
STATUS = {"active": ("ACTIVE", 100), "queued": ("SAVING", 25), "saving": ("SAVING", 50),
          "uploading": ("SAVING", 25), "importing": ("SAVING", 50),
          "deleted": ("DELETED", 0), "pending_delete": ("DELETED", 0),
          "killed": ("ERROR", 0), "deactivated": ("ERROR", 0)}
#: Nova's list filters -> Glance's query (the rest of Nova's filters are below)
FILTERS = {"name": "name", "server": "instance_uuid", "type": "image_type"}
#: Nova's quota of metadata items on an image (maxImageMeta)
MAX_IMAGE_META = 128
NOT_FOUND = "Image not found."


def metadata(image: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in image.items() if k not in CORE}


class ImageProxies:
    """The proxy over one image service, for one compute endpoint's links."""

    def __init__(self, image: ImagePort, compute_base: str, image_base: str) -> None:
        self.image = image
        self.compute_base = compute_base
        self.image_base = image_base

    # ---------------------------------------------------------------- views
    def _links(self, image_id: str, what: str = "images") -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{self.compute_base}/v2.1/{what}/{image_id}"},
                {"rel": "bookmark", "href": f"{self.compute_base}/{what}/{image_id}"}]

    def view(self, image: Mapping[str, Any], detail: bool = True) -> dict[str, Any]:
        links = self._links(image["id"]) + [{
            "rel": "alternate", "type": "application/vnd.openstack.image",
            "href": f"{self.image_base}/images/{image['id']}"}]
        out: dict[str, Any] = {"id": image["id"], "name": image.get("name"), "links": links}
        if not detail:
            return out
        status, progress = STATUS.get(image.get("status") or "", ("UNKNOWN", 0))
        out.update({"status": status, "progress": progress,
                    "minRam": int(image.get("min_ram") or 0),
                    "minDisk": int(image.get("min_disk") or 0),
                    "created": image.get("created_at"), "updated": image.get("updated_at"),
                    "metadata": metadata(image),
                    "OS-EXT-IMG-SIZE:size": image.get("size")})
        server = image.get("instance_uuid")
        if server:
            out["server"] = {"id": server, "links": self._links(server, "servers")}
        return out

    # ---------------------------------------------------------------- images
    def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        try:
            image = self.image.lookup(ctx, image_id)
        except (NotFound, BadRequest):
            raise NotFound(NOT_FOUND)
        if image.get("status") in ("deleted", "pending_delete"):
            raise NotFound(NOT_FOUND)
        return image

    def list_images(self, ctx: RequestContext, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Nova's filters and paging over everything the caller sees, newest first."""
        params = [(glance, str(query[nova]).rsplit("/", 1)[-1] if nova == "server"
                   else str(query[nova])) for nova, glance in FILTERS.items() if nova in query]
        if "status" in query:
            wanted = {g for g, (n, _) in STATUS.items() if n == query["status"].upper()}
            if not wanted:
                return []
            params.append(("status", "in:" + ",".join(sorted(wanted))))
        if "changes-since" in query:
            params.append(("updated_at", f"gte:{query['changes-since']}"))
        images: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            page, more = self.image.list_images(ctx, params, limit=1000, marker=marker)
            images += page
            if not more or not page:
                break
            marker = page[-1]["id"]
        for nova, glance in (("minRam", "min_ram"), ("minDisk", "min_disk")):
            if nova in query:
                least = _int(query[nova], nova)
                images = [i for i in images if int(i.get(glance) or 0) >= least]
        return _page(images, query)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        self.show(ctx, image_id)
        try:
            self.image.delete(ctx, image_id)
        except Forbidden as exc:
            raise Forbidden(exc.message)

    # ------------------------------------------------------------- metadata
    def set_metadata(self, ctx: RequestContext, image_id: str, meta: dict[str, Any],
                     replace: bool) -> dict[str, Any]:
        """POST merges `meta` into the properties; PUT makes them exactly `meta`."""
        current = metadata(self.show(ctx, image_id))
        wanted = dict(meta) if replace else {**current, **meta}
        if len(wanted) > MAX_IMAGE_META:
            raise Forbidden("Quota exceeded for metadata items: the limit is "
                            f"{MAX_IMAGE_META}.")
        ops: list[dict[str, Any]] = [{"op": "remove", "path": f"/{k}"}
                                     for k in current if k not in wanted]
        ops += [{"op": "replace" if k in current else "add", "path": f"/{k}", "value": str(v)}
                for k, v in wanted.items() if current.get(k) != v]
        return metadata(self._patch(ctx, image_id, ops))

    def delete_item(self, ctx: RequestContext, image_id: str, key: str) -> None:
        if key not in metadata(self.show(ctx, image_id)):
            raise NotFound("Invalid metadata key")
        self._patch(ctx, image_id, [{"op": "remove", "path": f"/{key}"}])

    def _patch(self, ctx: RequestContext, image_id: str, ops: list[dict[str, Any]]
               ) -> dict[str, Any]:
        if not ops:
            return self.show(ctx, image_id)
        return self.image.update(ctx, image_id, ops)


def _int(raw: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise BadRequest(f"Invalid {name} filter [{raw}]")
    return value


def _page(images: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    images = sorted(images, key=lambda i: (i.get("created_at") or "", i["id"]), reverse=True)
    marker = query.get("marker")
    if marker:
        ids = [i["id"] for i in images]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        images = images[ids.index(marker) + 1:]
    if query.get("limit") is not None:
        images = images[:_int(query["limit"], "limit")]
    return images
