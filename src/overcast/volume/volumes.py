"""Volumes: create (blank, from an image, a snapshot or another volume), list, show,
update, delete (with `cascade`) and metadata; the bytes are the storage
component's, reached through `Store.storage`.

A create answers at once with the volume `creating` (Cinder's 202) and builds it
after the request: the record is written first (desired state), then the storage
host is asked, then the record says how that ended (`available` or `error`). A
crash in between leaves `creating`, which the storage host's start-up sync settles
from what it really holds (`services.py`).
"""

from __future__ import annotations

import ast
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from overcast.bus.messages import CreateVolume, DeleteSnapshot, DeleteVolume
from overcast.db import utcnow
from overcast.kit import paging
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, messages, policy, schemas, views
from overcast.volume import models as m
from overcast.volume.common import Store
from overcast.volume.quotas import Quotas
from overcast.volume.services import Services

GiB = 1 << 30
#: statuses a volume may be deleted from (Cinder's `volume.api.delete`)
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")
SORT_KEYS = {"id": "id", "name": "name", "display_name": "name", "status": "status",
             "size": "size", "created_at": "created_at", "updated_at": "updated_at",
             "availability_zone": "availability_zone", "bootable": "bootable",
             "project_id": "project_id", "user_id": "user_id"}
#: image properties copied into a volume's image metadata besides the custom ones
IMAGE_FIELDS = ("id", "name", "checksum", "container_format", "disk_format", "min_disk",
                "min_ram", "size")
IMAGE_SKIP = {"id", "name", "status", "visibility", "protected", "os_hidden", "owner",
              "created_at", "updated_at", "tags", "self", "file", "schema", "locations",
              "direct_url", "virtual_size", "os_hash_algo", "os_hash_value", "checksum",
              "container_format", "disk_format", "min_disk", "min_ram", "size", "stores"}


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_marker: str | None
    count: int | None = None


def next_marker(rows: list[Any], more: bool, limit: int | None) -> str | None:
    """The marker of the next page: as Cinder links one whenever a page is full (its
    `_get_collection_links`), a full last page links to an empty one."""
    if rows and (more or (limit is not None and len(rows) >= limit)):
        return str(rows[-1].id)
    return None


def parse_dict(text: str) -> dict[str, str]:
    """A `metadata=` filter: Cinder's clients send Python's repr of a dict."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    raise errors.invalid_input(f"Invalid metadata filter {text!r}")


def sort_params(params: dict[str, str], keys: dict[str, str]) -> list[tuple[str, str]]:
    """`sort=key:dir,key2` or `sort_key`/`sort_dir` (default created_at desc, as Cinder)."""
    out = []
    if params.get("sort"):
        for part in params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            out.append((key, direction or "desc"))
    elif params.get("sort_key"):
        out = [(k.strip(), params.get("sort_dir", "desc"))
               for k in params["sort_key"].split(",")]
    result = []
    for key, direction in out or [("created_at", "desc")]:
        if key not in keys:
            raise errors.bad_sort_key(key)
        if direction not in ("asc", "desc"):
            raise errors.invalid_input("Unknown sort direction, must be 'desc' or 'asc'")
        result.append((keys[key], direction))
    return result


def page_rows(s: Session, ctx: RequestContext, stmt: Any, model: Any,
              params: dict[str, str], ver: APIVersion, sort_keys: dict[str, str],
              kind: str) -> tuple[list[Any], str | None, int | None]:
    """One page of a listing's rows, as Cinder pages volumes, snapshots and backups:
    (rows, the next page's marker, the count of every match when `with_count` asks it
    (3.45)). `offset` skips rows; `marker` must name a `kind` the caller may see
    (400 otherwise); `limit` is at most 1000; `sort`/`sort_key` among `sort_keys`."""
    sort = sort_params(params, sort_keys)
    limit = paging.parse_limit(params.get("limit"), default=None, maximum=1000)
    offset = int(params.get("offset", "0") or 0)
    count = None
    if ver.at_least("3.45") and schemas.flag(params.get("with_count", "false")):
        count = s.scalar(select(func.count()).select_from(stmt.subquery()))
    if offset:
        stmt = stmt.offset(offset)
    marker = params.get("marker")
    if marker is not None:
        row = s.get(model, marker)
        if row is None or not policy.can_see(ctx, row.project_id):
            raise errors.bad_marker(marker, kind)
    rows, more = paging.keyset_page(s, stmt, model, limit=limit, marker=marker, sort=sort)
    return rows, next_marker(rows, more, limit), count


class BackupSource(Protocol):
    """What a volume made from a backup (3.47) needs of the backups (`backups.py`)."""

    def source_size(self, s: Session, ctx: RequestContext, backup_id: str, /) -> int: ...

    def restore_new(self, backup_id: str, volume_id: str, /) -> None: ...


class Volumes:
    def __init__(self, store: Store, quotas: Quotas, services: Services) -> None:
        self.store = store
        self.quotas = quotas
        self.services = services
        #: set by the service once the backups exist (they list volumes' pages)
        self.backups: BackupSource | None = None

    # ------------------------------------------------------------ views
    def views(self, s: Session, ctx: RequestContext, rows: list[m.Volume], base: str,
              ver: APIVersion, *, written: bool = False) -> list[dict[str, Any]]:
        ids = [v.id for v in rows]
        meta = common.metadata_of(s, m.VolumeMetadata, "volume_id", ids)
        image = common.metadata_of(s, m.VolumeImageMetadata, "volume_id", ids)
        atts: dict[str, list[m.Attachment]] = {i: [] for i in ids}
        if ids:
            for a in s.scalars(select(m.Attachment).where(m.Attachment.volume_id.in_(ids))
                               .order_by(m.Attachment.created_at)):
                atts[a.volume_id].append(a)
        types = {t.id: t.name for t in s.scalars(select(m.VolumeType))}
        return [views.volume(base, v, views.VolumeExtras(
            meta[v.id], image[v.id], atts[v.id], types.get(v.volume_type_id or ""),
            written=written),
            ver, ctx.is_admin) for v in rows]

    def show(self, ctx: RequestContext, volume_id: str, base: str, ver: APIVersion
             ) -> dict[str, Any]:
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            policy.read(ctx, v.project_id, "volume:get")
            return self.views(s, ctx, [v], base, ver)[0]

    # ------------------------------------------------------------ listing
    def page(self, ctx: RequestContext, params: dict[str, str], base: str, ver: APIVersion,
             *, detail: bool) -> Page:
        stmt = select(m.Volume)
        every = ctx.is_admin and schemas.flag(params.get("all_tenants", "0"))
        if not every:
            stmt = stmt.where(m.Volume.project_id == (ctx.project_id or ""))
        elif params.get("project_id"):
            stmt = stmt.where(m.Volume.project_id == params["project_id"])
        for key, col in (("name", m.Volume.name), ("display_name", m.Volume.name),
                         ("status", m.Volume.status), ("id", m.Volume.id),
                         ("availability_zone", m.Volume.availability_zone),
                         ("user_id", m.Volume.user_id)):
            if key in params:
                stmt = stmt.where(col == params[key])
        if ver.at_least("3.34"):
            for key, col in (("name~", m.Volume.name), ("status~", m.Volume.status)):
                if key in params:
                    stmt = stmt.where(col.contains(params[key], autoescape=True))
        if "size" in params:
            if not params["size"].isdigit():
                raise errors.invalid_input(f"Invalid size filter {params['size']!r}")
            stmt = stmt.where(m.Volume.size == int(params["size"]))
        if "group_id" in params and ver.at_least("3.10"):
            stmt = stmt.where(m.Volume.group_id == params["group_id"])
        if "bootable" in params:
            stmt = stmt.where(m.Volume.bootable.is_(schemas.flag(params["bootable"])))
        if "volume_type" in params or "volume_type_id" in params:
            with self.store.db.session() as s:
                t = common.volume_type(s, ctx, params.get("volume_type")
                                       or params["volume_type_id"])
            stmt = stmt.where(m.Volume.volume_type_id == t.id)
        for key, model in (("metadata", m.VolumeMetadata),
                           ("glance_metadata", m.VolumeImageMetadata)):
            if key in params:
                for k, v in parse_dict(params[key]).items():
                    stmt = stmt.where(exists().where(and_(
                        model.volume_id == m.Volume.id, model.key == k, model.value == v)))
        with self.store.db.session() as s:
            rows, marker, count = page_rows(s, ctx, stmt, m.Volume, params, ver, SORT_KEYS,
                                            "Volume")
            items = self.views(s, ctx, rows, base, ver) if detail else [
                views.volume_summary(base, v) for v in rows]
        return Page(items, marker, count)

    def summary(self, ctx: RequestContext, all_tenants: bool, ver: APIVersion
                ) -> dict[str, Any]:
        with self.store.db.session() as s:
            stmt = select(func.count(), func.coalesce(func.sum(m.Volume.size), 0))
            meta = select(m.VolumeMetadata.key, m.VolumeMetadata.value).join(
                m.Volume, m.Volume.id == m.VolumeMetadata.volume_id)
            if not (ctx.is_admin and all_tenants):
                stmt = stmt.where(m.Volume.project_id == (ctx.project_id or ""))
                meta = meta.where(m.Volume.project_id == (ctx.project_id or ""))
            count, total = s.execute(stmt).one()
            out: dict[str, Any] = {"total_size": int(total), "total_count": int(count)}
            if ver.at_least("3.36"):
                merged: dict[str, set[str]] = {}
                for key, value in s.execute(meta):
                    merged.setdefault(key, set()).add(value)
                out["metadata"] = {k: sorted(v) for k, v in sorted(merged.items())}
        return out

    # ------------------------------------------------------------ creating
    def create(self, ctx: RequestContext, body: dict[str, Any], base: str, ver: APIVersion
               ) -> dict[str, Any]:
        req = body["volume"]
        policy.write(ctx, ctx.project_id or "", "volume:create")
        name = req.get("name") if req.get("name") is not None else req.get("display_name")
        description = req.get("description") if req.get("description") is not None \
            else req.get("display_description")
        size = schemas.size(req["size"]) if req.get("size") is not None else None
        if size is not None and size <= 0:
            raise errors.invalid_input(f"Volume size '{size}' must be an integer and "
                                       "greater than 0")
        image_id = req.get("imageRef") or req.get("image_id")
        # 3.47: from a backup (below, `backup_id` is no parameter of a create)
        backup_id = req.get("backup_id") if ver.at_least("3.47") else None
        sources = [k for k in ("snapshot_id", "source_volid") if req.get(k)] + (
            ["imageRef"] if image_id else []) + (["backup_id"] if backup_id else [])
        if len(sources) > 1:
            raise errors.invalid_input("Cannot create a volume from more than one source "
                                       f"({', '.join(sources)}).")
        image = self._image(ctx, image_id) if image_id else None
        snapshot_id = req.get("snapshot_id")
        if image is not None and ver.at_least("3.46"):
            # 3.46: the empty image of a volume-backed server snapshot stands for its
            # root volume's snapshot, which the volume is made from
            snapshot_id = self._image_snapshot(ctx, image) or snapshot_id
            image = None if snapshot_id else image
        vid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            vtype = common.volume_type(s, ctx, req["volume_type"]) if req.get(
                "volume_type") else None
            row = m.Volume(id=vid, project_id=ctx.project_id or "", user_id=ctx.user_id or "",
                           name=name, description=description, status="creating",
                           multiattach=False, bootable=False)
            az = req.get("availability_zone")
            origin: str | None = None
            if backup_id:
                if self.backups is None:
                    raise errors.backup_unavailable()
                backup_size = self.backups.source_size(s, ctx, backup_id)
                size = size if size is not None else backup_size
                if size < backup_size:
                    raise errors.invalid_input(
                        f"Volume size {size}GB cannot be smaller than the backup size "
                        f"{backup_size}GB. It must be >= backup size.")
            elif snapshot_id:
                snap = common.snapshot(s, ctx, snapshot_id)
                if snap.status != "available":
                    raise errors.invalid_snapshot("Originating snapshot status must be "
                                                  "'available' to create a volume.")
                size = size if size is not None else snap.size
                if size < snap.size:
                    raise errors.invalid_input(
                        f"Volume size '{size}'GB cannot be smaller than the snapshot size "
                        f"{snap.size}GB. They must be >= original snapshot size.")
                src = s.get(m.Volume, snap.volume_id)
                origin = src.id if src is not None else None
                row.snapshot_id, row.host = snap.id, snap.host
                row.bootable = bool(src and src.bootable)
                vtype = vtype or (s.get(m.VolumeType, snap.volume_type_id or "")
                                  if snap.volume_type_id else None)
                az = az or (src.availability_zone if src else None)
            elif req.get("source_volid"):
                src = common.volume(s, ctx, req["source_volid"])
                if src.status not in ("available", "in-use"):
                    raise errors.invalid_volume(
                        "Unable to create a volume from an originating source volume when "
                        "its status is not 'available' or 'in-use'.")
                size = size if size is not None else src.size
                if size < src.size:
                    raise errors.invalid_input(
                        f"Volume size '{size}'GB cannot be smaller than original volume "
                        f"size {src.size}GB. They must be >= original volume size.")
                row.source_volid, row.host, row.bootable = src.id, src.host, src.bootable
                origin = src.id
                vtype = vtype or (s.get(m.VolumeType, src.volume_type_id or "")
                                  if src.volume_type_id else None)
                az = az or src.availability_zone
            elif image is not None:
                need = max(math.ceil(int(image.get("virtual_size") or image.get("size")
                                         or 0) / GiB), int(image.get("min_disk") or 0), 1)
                size = size if size is not None else need
                if size < need:
                    raise errors.invalid_input(
                        f"Volume size {size}GB cannot be smaller than the image minDisk "
                        f"size {need}GB.")
                row.image_id, row.bootable = image["id"], True
            if size is None:
                raise errors.invalid_input("size must be specified")
            vtype = vtype or common.default_type(s)
            row.size, row.volume_type_id = size, vtype.id
            if req.get("group_id") and ver.at_least("3.13"):
                group = s.get(m.Group, req["group_id"])
                if group is None or not policy.can_see(ctx, group.project_id):
                    raise NotFound(f"Group {req['group_id']} could not be found.")
                if vtype.id not in (group.volume_type_ids or []):
                    raise errors.invalid_input(f"Invalid volume type {vtype.name} for group "
                                               f"{group.id}.")
                row.group_id = group.id
            spec = s.get(m.TypeExtraSpec, (vtype.id, "multiattach"))
            row.multiattach = spec is not None and spec.value.strip().lower() in (
                "<is> true", "true")
            row.availability_zone = az or self.store.availability_zone
            self.services.check_zone(s, row.availability_zone)
            self.quotas.check(s, row.project_id, vtype.name, volumes=1, gigabytes=size)
            if row.host is None:
                row.host, why = self.services.pick(s, row.availability_zone, vtype.id, size)
                if row.host is None:
                    row.status, row.fault = "error", errors.no_valid_backend(why)
            s.add(row)
            s.flush()
            if row.status == "error":
                messages.record(s, row.project_id, "VOLUME", vid, "001", "003", why)
            if req.get("metadata"):
                common.set_metadata(s, m.VolumeMetadata, "volume_id", vid, req["metadata"],
                                    replace=True)
            if image is not None:
                common.set_metadata(s, m.VolumeImageMetadata, "volume_id", vid,
                                    image_metadata(image), replace=True)
            elif origin is not None:
                # as Cinder: a volume made from a snapshot or a volume keeps the image
                # metadata of its origin (so a server booted from it knows its image)
                meta = {r.key: r.value for r in s.scalars(select(m.VolumeImageMetadata)
                        .where(m.VolumeImageMetadata.volume_id == origin))}
                if meta:
                    common.set_metadata(s, m.VolumeImageMetadata, "volume_id", vid, meta,
                                        replace=True)
            building = row.status == "creating"
            out = self.views(s, ctx, [row], base, ver, written=True)[0]
        if building:
            self.store.storage.spawn(self.build, vid, image.get("disk_format") if image
                                     else "", backup_id or "")
        return out

    def _image_snapshot(self, ctx: RequestContext, image: dict[str, Any]) -> str | None:
        """The snapshot a Nova-made image (no data; `block_device_mapping` maps the
        server's volume snapshots) boots from, if `image` is one (Cinder's
        `_get_image_snapshot`)."""
        raw = image.get("block_device_mapping")
        try:
            bdms = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return None
        boot = [b for b in bdms or [] if isinstance(b, dict) and b.get(
            "source_type") == "snapshot" and b.get("boot_index") in (0, "0")]
        if not boot:
            return None
        sid = str(boot[0].get("snapshot_id") or "")
        with self.store.db.session() as s:
            try:
                common.snapshot(s, ctx, sid)
            except NotFound:
                raise NotFound(f"Nova specific image is found, but boot volume snapshot "
                               f"id:{sid} not found.") from None
        return sid

    def _image(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        images = self.store.images
        try:
            if images is None:
                raise NotFound("no image service")
            image = images.lookup(ctx, image_id)
        except NotFound:
            raise errors.invalid_input("Invalid image identifier or unable to access "
                                       "requested image.") from None
        if image.get("status") != "active":
            raise errors.invalid_input(f"Image {image_id} is not active.")
        return image

    def build(self, volume_id: str, image_format: str = "", backup_id: str = "") -> None:
        """After the request: have the storage host make the bytes (and, for a volume
        made from a backup, have the backup restored into them)."""
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is None or v.status != "creating" or v.host is None:
                return
            if v.image_id:
                v.status = "downloading"
            msg = CreateVolume(volume_id=v.id, size_gb=v.size, image_id=v.image_id or "",
                               image_format=image_format, snapshot_id=v.snapshot_id or "",
                               source_volid=v.source_volid or "")
            host = v.host
        reply = self.store.storage.call(host, msg)
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is None or v.status not in ("creating", "downloading"):
                return
            if reply.ok:
                v.launched_at, v.fault = utcnow(), None
                v.status = "available" if not backup_id else v.status
            else:
                v.status, v.fault = "error", (reply.error or "")[:1024]
                action = "005" if v.image_id else "011" if v.snapshot_id else "001"
                messages.record(s, v.project_id, "VOLUME", v.id, action, "009", reply.error)
        if reply.ok and backup_id and self.backups is not None:
            self.backups.restore_new(backup_id, volume_id)

    # ------------------------------------------------------------ changing
    def update(self, ctx: RequestContext, volume_id: str, body: dict[str, Any], base: str,
               ver: APIVersion) -> dict[str, Any]:
        req = body["volume"]
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume:update")
            for key, attr in (("name", "name"), ("display_name", "name"),
                              ("description", "description"),
                              ("display_description", "description")):
                if key in req:
                    setattr(v, attr, req[key])
            if "metadata" in req:
                common.set_metadata(s, m.VolumeMetadata, "volume_id", v.id, req["metadata"],
                                    replace=True)
            v.updated_at = utcnow()
            s.flush()
            return self.views(s, ctx, [v], base, ver, written=True)[0]

    def delete(self, ctx: RequestContext, volume_id: str, *, cascade: bool = False,
               force: bool = False) -> None:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume:delete")
            if force:
                policy.admin(ctx, "volume_extension:volume_admin_actions:force_delete")
            attached = s.scalar(select(func.count()).select_from(m.Attachment).where(
                m.Attachment.volume_id == v.id))
            snaps = list(s.scalars(select(m.Snapshot).where(m.Snapshot.volume_id == v.id)))
            transfer = s.scalar(select(m.Transfer.id).where(m.Transfer.volume_id == v.id))
            if (not force and v.status not in DELETABLE) or attached or transfer or (
                    v.group_id is not None) or (
                    v.migration_status not in (None, "none", "success", "error")):
                raise errors.invalid_volume(
                    "Volume status must be available or error or error_restoring or "
                    "error_extending or error_managing and must not be migrating, "
                    "attached, belong to a group, have snapshots, awaiting a transfer, or "
                    "be disassociated from snapshots after volume transfer.")
            if snaps and not cascade:
                raise errors.invalid_volume("Volume still has 1 dependent snapshots.")
            for snap in snaps:
                if snap.status not in ("available", "error"):
                    raise errors.invalid_volume("Snapshot of volume must be available or "
                                                "error to delete it in cascade.")
                snap.status = "deleting"
            v.status = "deleting"
        self.store.storage.spawn(self.destroy, volume_id)

    def destroy(self, volume_id: str) -> None:
        """After the request: remove the bytes, then the record."""
        with self.store.db.session() as s:
            v = s.get(m.Volume, volume_id)
            if v is None:
                return
            host = v.host
            snaps = list(s.scalars(select(m.Snapshot.id).where(
                m.Snapshot.volume_id == volume_id)))
        for sid in snaps:
            if host is not None:
                reply = self.store.storage.call(host, DeleteSnapshot(snapshot_id=sid))
                if not reply.ok:
                    self._delete_failed(volume_id, reply.error)
                    return
            with self.store.db.transaction() as s:
                snap = s.get(m.Snapshot, sid)
                if snap is not None:
                    s.delete(snap)
        if host is not None:
            reply = self.store.storage.call(host, DeleteVolume(volume_id=volume_id))
            if not reply.ok:
                self._delete_failed(volume_id, reply.error)
                return
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is not None:
                s.delete(v)

    def _delete_failed(self, volume_id: str, error: str | None) -> None:
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is not None:
                v.status, v.fault = "error_deleting", (error or "")[:1024]

    # ------------------------------------------------------------ metadata
    def metadata(self, ctx: RequestContext, volume_id: str) -> dict[str, str]:
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            policy.read(ctx, v.project_id, "volume:get_volume_metadata")
            return common.metadata_of(s, m.VolumeMetadata, "volume_id", [v.id])[v.id]

    def set_metadata(self, ctx: RequestContext, volume_id: str, values: dict[str, str], *,
                     replace: bool) -> dict[str, str]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume:update_volume_metadata")
            if v.status == "maintenance":
                raise errors.invalid_volume("Volume is in maintenance.")
            common.set_metadata(s, m.VolumeMetadata, "volume_id", v.id, values,
                                replace=replace)
            v.updated_at = utcnow()
            s.flush()
            return common.metadata_of(s, m.VolumeMetadata, "volume_id", [v.id])[v.id]

    def delete_metadata(self, ctx: RequestContext, volume_id: str, key: str) -> None:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume:delete_volume_metadata")
            row = s.get(m.VolumeMetadata, (v.id, key))
            if row is None:
                raise errors.metadata_key_not_found(key, "Volume", v.id)
            s.delete(row)


def image_metadata(image: dict[str, Any]) -> dict[str, str]:
    """What Cinder copies from an image into `volume_image_metadata`."""
    out = {f"image_{k}" if k in ("id", "name") else k: str(image[k])
           for k in IMAGE_FIELDS if image.get(k) is not None}
    for k, v in image.items():
        if k not in IMAGE_SKIP and v is not None and not isinstance(v, (dict, list)):
            out[k] = str(v)
    return out
