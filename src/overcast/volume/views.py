"""The wire shape of each block storage resource, per microversion, from rows the
domain modules loaded (no database access here).

Cinder's times are ISO 8601 with microseconds and no zone; `bootable` is the
string "true"/"false"; `os-vol-host-attr:host` and the migration attributes are an
admin's; `volume_image_metadata` appears only when the volume has image metadata.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from overcast.kit.microversion import APIVersion
from overcast.volume import models as m


def when(t: dt.datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") if t is not None else None


def links(base: str, project_id: str, kind: str, ident: str) -> list[dict[str, str]]:
    """Cinder's self (versioned) and bookmark (unversioned) links."""
    root = base.rsplit("/v3", 1)[0]
    return [{"rel": "self", "href": f"{base}/{project_id}/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{root}/{project_id}/{kind}/{ident}"}]


@dataclass
class VolumeExtras:
    """What a volume's view needs beyond its row."""

    metadata: dict[str, str] = field(default_factory=dict)
    image_metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[m.Attachment] = field(default_factory=list)
    type_name: str | None = None
    #: the answer to a create or an update (no extension attributes)
    written: bool = False


def volume_attachment(a: m.Attachment, host: str | None) -> dict[str, Any]:
    """One entry of a volume's `attachments` (only attached ones are listed)."""
    return {"id": a.volume_id, "attachment_id": a.id, "volume_id": a.volume_id,
            "server_id": a.instance_uuid, "host_name": a.attached_host,
            "device": a.mountpoint, "attached_at": when(a.attach_time)}


def volume_summary(base: str, v: m.Volume) -> dict[str, Any]:
    return {"id": v.id, "name": v.name, "links": links(base, v.project_id, "volumes", v.id)}


def volume(base: str, v: m.Volume, x: VolumeExtras, ver: APIVersion, admin: bool
           ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": v.id, "name": v.name, "description": v.description, "status": v.status,
        "size": v.size, "availability_zone": v.availability_zone,
        "created_at": when(v.created_at), "updated_at": when(v.updated_at),
        "attachments": [volume_attachment(a, v.host) for a in x.attachments
                        if a.attach_status == "attached"],
        "volume_type": x.type_name, "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid, "metadata": x.metadata,
        "links": links(base, v.project_id, "volumes", v.id), "user_id": v.user_id,
        "bootable": "true" if v.bootable else "false", "encrypted": False,
        "replication_status": None, "consistencygroup_id": None,
        "multiattach": v.multiattach,
    }
    if admin:
        # Cinder's own field for the admin (the extension's migstat is added to reads)
        out["migration_status"] = v.migration_status
    # Cinder answers a create or an update with the volume's own fields: the
    # extensions' attributes (tenant, host, image metadata) are added to reads only
    if not x.written:
        out["os-vol-tenant-attr:tenant_id"] = v.project_id
        if x.image_metadata:
            out["volume_image_metadata"] = x.image_metadata
    if admin and not x.written:
        out["os-vol-host-attr:host"] = v.host
        out["os-vol-mig-status-attr:migstat"] = v.migration_status
        out["os-vol-mig-status-attr:name_id"] = None
    if ver.at_least("3.13"):
        out["group_id"] = v.group_id
    if ver.at_least("3.21") and admin:
        out["provider_id"] = None
    if ver.at_least("3.48"):
        # file and NBD targets are not shared between volumes
        out["shared_targets"] = False
        out["service_uuid"] = None
    return out


def snapshot(v: m.Snapshot, metadata: dict[str, str], ver: APIVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": v.id, "name": v.name, "description": v.description, "volume_id": v.volume_id,
        "status": v.status, "size": v.size, "metadata": metadata,
        "created_at": when(v.created_at), "updated_at": when(v.updated_at),
        "os-extended-snapshot-attributes:project_id": v.project_id,
        "os-extended-snapshot-attributes:progress": v.progress,
    }
    if ver.at_least("3.14"):
        out["group_snapshot_id"] = v.group_snapshot_id
    if ver.at_least("3.41"):
        out["user_id"] = v.user_id
    return out


def volume_type(t: m.VolumeType, specs: dict[str, str], admin: bool) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "description": t.description,
            "is_public": t.is_public, "os-volume-type-access:is_public": t.is_public,
            "qos_specs_id": t.qos_specs_id,
            # non-admins see no extra specs: they describe the backends (Cinder's
            # default policy shows them to admins only)
            "extra_specs": specs if admin else {}}


def attachment(a: m.Attachment, *, detail: bool, ver: APIVersion) -> dict[str, Any]:
    out: dict[str, Any] = {"id": a.id, "status": a.attach_status,
                           "instance": a.instance_uuid, "volume_id": a.volume_id}
    if detail:
        out.update({"attached_at": when(a.attach_time), "detached_at": None,
                    "attach_mode": a.attach_mode,
                    "connection_info": a.connection_info or {}})
    return out


def transfer(base: str, t: m.Transfer, ver: APIVersion, *, auth_key: str | None = None
             ) -> dict[str, Any]:
    out: dict[str, Any] = {"id": t.id, "name": t.name, "volume_id": t.volume_id,
                           "created_at": when(t.created_at),
                           "links": links(base, t.source_project_id, "os-volume-transfer",
                                          t.id)}
    if auth_key is not None:
        out["auth_key"] = auth_key
    if ver.at_least("3.55"):
        out["no_snapshots"] = t.no_snapshots
    return out


def service(svc: m.StorageService, up: bool, ver: APIVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "binary": svc.binary, "host": svc.host, "zone": svc.availability_zone,
        "status": "disabled" if svc.disabled else "enabled",
        "state": "up" if up else "down", "updated_at": when(svc.updated_at),
        "disabled_reason": svc.disabled_reason}
    if ver.at_least("3.7"):
        out["cluster"] = None
    if ver.at_least("3.49") and svc.binary == "cinder-volume":
        out["backend_state"] = "up" if up else "down"
    return out
