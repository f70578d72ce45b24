"""What compute calls on block storage (the VolumePort of VOLUME_CONTRACT.md).

These are the attachments API's steps (Cinder 3.27+: attachment create, update
with the connector, complete, delete) and volume create/delete, as plain functions
of ids, for compute's API and conductor (they run in worker threads, as the storage
steps wait on the bus). `reserve` refuses a volume that is not available (and not
multiattach) with 409, as compute's API answers then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict
from overcast.volume import common
from overcast.volume.attachments import Attachments
from overcast.volume.common import Store
from overcast.volume.snapshots import Snapshots
from overcast.volume.versions import VERSIONS
from overcast.volume.volumes import Volumes

INTERNAL = RequestContext.internal_admin()

if TYPE_CHECKING:  # mypy checks that this is what compute's VolumePort asks for
    from overcast.compute.ports import VolumePort


class Instances:
    def __init__(self, store: Store, volumes: Volumes, attachments: Attachments,
                 snapshots: Snapshots) -> None:
        self.store = store
        self.volumes = volumes
        self.attachments = attachments
        self.snapshots = snapshots

    def lookup(self, ctx: RequestContext, volume_id: str) -> dict[str, Any]:
        """The Cinder view of a volume the caller can see (NotFound otherwise)."""
        return self.volumes.show(ctx, volume_id, "", VERSIONS.max)

    def reserve(self, ctx: RequestContext, volume_id: str, instance_uuid: str) -> str:
        try:
            return self.attachments.create(ctx, volume_id, instance_uuid).id
        except BadRequest as exc:
            raise Conflict(exc.message) from None

    def connect(self, attachment_id: str, connector: dict[str, Any]) -> dict[str, Any]:
        a = self.attachments.update(INTERNAL, attachment_id, connector)
        return dict(a.connection_info or {})

    def complete(self, attachment_id: str, mountpoint: str) -> None:
        self.attachments.complete(INTERNAL, attachment_id, mountpoint)

    def disconnect(self, attachment_id: str) -> None:
        self.attachments.delete(INTERNAL, attachment_id, force=True)

    def create_for_instance(self, ctx: RequestContext, *, size_gb: int,
                            image_id: str | None = None, snapshot_id: str | None = None,
                            source_volid: str | None = None, name: str = "",
                            volume_type: str | None = None) -> str:
        body = {"volume": {"size": size_gb, "name": name, "imageRef": image_id,
                           "snapshot_id": snapshot_id, "source_volid": source_volid}}
        if volume_type:
            body["volume"]["volume_type"] = volume_type
        return str(self.volumes.create(ctx, body, "", VERSIONS.max)["id"])

    def volume_type_name(self, ctx: RequestContext, ident: str) -> str:
        with self.store.db.session() as s:
            return common.volume_type(s, ctx, ident).name

    def snapshot_for_instance(self, ctx: RequestContext, volume_id: str, *, name: str,
                              description: str = "") -> str:
        """A snapshot of a server's volume, in use or not (`force`, as Nova asks for
        a volume-backed server's image); its id (it becomes available later)."""
        body = {"snapshot": {"volume_id": volume_id, "force": True, "name": name,
                             "description": description}}
        return str(self.snapshots.create(ctx, body, VERSIONS.max)["id"])

    def delete_for_instance(self, volume_id: str) -> None:
        self.volumes.delete(INTERNAL, volume_id)

    # Nova's deprecated proxies (os-volumes, os-snapshots up to 2.35): Cinder's own
    # calls with the caller's context, Cinder's views (compute shapes them as Nova)
    def list_volumes(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        return list(self.volumes.page(ctx, params, "", VERSIONS.max, detail=True).items)

    def create_volume(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        return self.volumes.create(ctx, body, "", VERSIONS.max)

    def delete_volume(self, ctx: RequestContext, volume_id: str) -> None:
        self.volumes.delete(ctx, volume_id)

    def list_snapshots(self, ctx: RequestContext, params: dict[str, str]
                       ) -> list[dict[str, Any]]:
        return list(self.snapshots.page(ctx, params, VERSIONS.max, detail=True).items)

    def show_snapshot(self, ctx: RequestContext, snapshot_id: str) -> dict[str, Any]:
        return self.snapshots.show(ctx, snapshot_id, VERSIONS.max)

    def create_snapshot(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        return self.snapshots.create(ctx, body, VERSIONS.max)

    def delete_snapshot(self, ctx: RequestContext, snapshot_id: str) -> None:
        self.snapshots.delete(ctx, snapshot_id)


if TYPE_CHECKING:
    def _fits(i: Instances) -> VolumePort:
        return i
