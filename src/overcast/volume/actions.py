"""Volume actions (`POST /volumes/{id}/action`), with Cinder's state rules: extend
(in-use from 3.42), the legacy attach steps (reserve, attach, begin/roll detaching,
detach, initialize/terminate connection), upload to an image, bootable and
read-only flags, image metadata, and the admin's reset-status, force-delete and
force-detach. Each returns what the route answers with (most answer 202 and no
body).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from overcast.bus.messages import (
    CopyVolumeToImage,
    CreateVolume,
    DeleteVolume,
    ExportVolume,
    ExtendVolume,
    RevertVolume,
    UnexportVolume,
)
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, messages, policy, schemas, views
from overcast.volume import models as m
from overcast.volume.attachments import Attachments, settle_status
from overcast.volume.common import Store
from overcast.volume.quotas import Quotas
from overcast.volume.services import cluster_or_host
from overcast.volume.volumes import Volumes

RULE = "volume_extension:volume_actions:"
log = logging.getLogger("overcast.volume.actions")


class Actions:
    def __init__(self, store: Store, volumes: Volumes, attachments: Attachments,
                 quotas: Quotas) -> None:
        self.store = store
        self.volumes = volumes
        self.attachments = attachments
        self.quotas = quotas

    def run(self, ctx: RequestContext, volume_id: str, body: dict[str, Any],
            ver: APIVersion) -> tuple[int, Any]:
        """(status, body) of one action."""
        name, arg = next(iter(body.items()))
        arg = arg or {}
        if name == "revert" and not ver.at_least("3.40"):
            raise BadRequest("There is no such action: revert")
        fn = getattr(self, "do_" + name.removeprefix("os-").replace("-", "_"))
        result: tuple[int, Any] = fn(ctx, volume_id, arg, ver)
        return result

    # ------------------------------------------------------------ size
    def do_extend(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                  ver: APIVersion) -> tuple[int, Any]:
        new_size = schemas.size(arg["new_size"])
        ok = ("available", "in-use") if ver.at_least("3.42") else ("available",)
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "extend")
            if v.status not in ok:
                raise errors.invalid_volume(
                    f"Volume {v.id} status must be '{' or '.join(ok)}' to extend, currently "
                    f"{v.status}.")
            if new_size <= v.size:
                raise errors.invalid_input(
                    f"New size for extend must be greater than current size. (current: "
                    f"{v.size}, extended: {new_size}).")
            remote = [a for a in s.scalars(select(m.Attachment).where(
                m.Attachment.volume_id == v.id)) if (a.connection_info or {}).get(
                    "driver_volume_type") == "nbd"]
            if remote:
                # NBD clients learn a disk's size once, when they connect
                raise errors.invalid_volume(f"Volume {v.id} is attached over NBD to "
                                            "another host: detach it to extend it.")
            vtype = s.get(m.VolumeType, v.volume_type_id or "")
            self.quotas.check(s, v.project_id, vtype.name if vtype else None,
                              gigabytes=new_size - v.size)
            v.previous_status, v.status = v.status, "extending"
            host = v.host
        self.store.storage.spawn(self._extend, volume_id, host, new_size)
        return 202, None

    def _extend(self, volume_id: str, host: str, new_size: int) -> None:
        reply = self.store.storage.call(host, ExtendVolume(volume_id=volume_id,
                                                           size_gb=new_size))
        servers: list[str] = []
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is None or v.status != "extending":
                return
            if reply.ok:
                v.size, v.status = new_size, v.previous_status or "available"
                if v.status == "in-use":
                    servers = sorted({a.instance_uuid for a in s.scalars(
                        select(m.Attachment).where(m.Attachment.volume_id == v.id))
                        if a.instance_uuid})
            else:
                v.status, v.fault = "error_extending", (reply.error or "")[:1024]
                messages.record(s, v.project_id, "VOLUME", v.id, "007", "001", reply.error)
            v.previous_status = None
        self._tell_servers(volume_id, servers)

    def _tell_servers(self, volume_id: str, servers: list[str]) -> None:
        """As Cinder after an in-use extend: compute hears `volume-extended` for each
        server the volume is attached to, and has the guest see the new size. The
        volume is extended whatever compute answers (Cinder only logs it too)."""
        compute = self.store.compute
        if not servers or compute is None:
            return
        try:
            answers = compute.external_events([
                {"name": "volume-extended", "server_uuid": uuid, "tag": volume_id}
                for uuid in servers])
        except Exception:  # noqa: BLE001 - the extend itself is done
            log.exception("compute was not told that volume %s grew", volume_id)
            return
        for a in answers:
            if a.get("code") != 200:
                log.warning("compute refused volume-extended of %s for server %s: %s",
                            volume_id, a.get("server_uuid"), a.get("code"))

    def do_revert(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                  ver: APIVersion) -> tuple[int, Any]:
        """3.40: back to the volume's latest snapshot (Cinder's rules: both available,
        the latest snapshot, the same size)."""
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume:revert_to_snapshot")
            snap = common.snapshot(s, ctx, arg["snapshot_id"], lock=True)
            latest = s.scalar(select(m.Snapshot).where(m.Snapshot.volume_id == v.id)
                              .order_by(m.Snapshot.created_at.desc(),
                                        m.Snapshot.id.desc()).limit(1))
            if snap.volume_id != v.id or latest is None or latest.id != snap.id:
                raise errors.invalid_snapshot("Cannot revert volume to a snapshot that is "
                                              "not its latest one.")
            if v.status != "available" or snap.status != "available":
                raise errors.invalid_volume(f"Volume {v.id} and snapshot {snap.id} must be "
                                            "available to revert.")
            if v.size != snap.size:
                raise errors.invalid_volume("Volume size and snapshot size must be the same "
                                            "to revert.")
            v.status, snap.status = "reverting", "restoring"
            host = v.host
        self.store.storage.spawn(self._revert, volume_id, snap.id, host)
        return 202, None

    def _revert(self, volume_id: str, snapshot_id: str, host: str) -> None:
        reply = self.store.storage.call(host, RevertVolume(volume_id=volume_id,
                                                           snapshot_id=snapshot_id))
        with self.store.db.transaction() as s:
            v, snap = s.get(m.Volume, volume_id), s.get(m.Snapshot, snapshot_id)
            if v is not None and v.status == "reverting":
                v.status = "available" if reply.ok else "error"
                v.fault = None if reply.ok else (reply.error or "")[:1024]
            if snap is not None and snap.status == "restoring":
                snap.status = "available"

    # ------------------------------------------------------------ legacy attach
    def do_reserve(self, ctx: RequestContext, volume_id: str, arg: Any, ver: APIVersion
                   ) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "reserve")
            ok = ("available", "in-use") if v.multiattach else ("available",)
            if v.status not in ok:
                raise errors.invalid_volume("status must be available to reserve, but the "
                                            f"current status is: {v.status}.")
            # Cinder's legacy reserve marks the volume attaching (the attachments
            # API's reservation, from 3.27, is `reserved`)
            v.status = "attaching"
        return 202, None

    def do_unreserve(self, ctx: RequestContext, volume_id: str, arg: Any, ver: APIVersion
                     ) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "unreserve")
            if v.status in ("attaching", "reserved"):
                settle_status(s, v)
        return 202, None

    def do_begin_detaching(self, ctx: RequestContext, volume_id: str, arg: Any,
                           ver: APIVersion) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "begin_detaching")
            if v.status != "in-use":
                raise errors.invalid_volume("Unable to detach volume. Volume status must be "
                                            "'in-use' and attach_status must be 'attached' "
                                            "to detach.")
            v.status = "detaching"
        return 202, None

    def do_roll_detaching(self, ctx: RequestContext, volume_id: str, arg: Any,
                          ver: APIVersion) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "roll_detaching")
            if v.status == "detaching":
                settle_status(s, v)
        return 202, None

    def do_attach(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                  ver: APIVersion) -> tuple[int, Any]:
        """Legacy: record the volume attached to a server (the connection was made
        with initialize_connection)."""
        mode = arg.get("mode", "rw")
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "attach")
            ok = ("available", "reserved", "attaching") + (
                ("in-use",) if v.multiattach else ())
            if v.status not in ok:
                raise errors.invalid_volume(f"Volume {v.id} status must be available or "
                                            f"reserved to attach, but it is {v.status}.")
            if v.read_only and mode == "rw":
                raise BadRequest(f"Invalid attaching mode 'rw' for volume {v.id}.")
            if not arg.get("instance_uuid") and not arg.get("host_name"):
                raise errors.invalid_input("Invalid request to attach volume to an invalid "
                                           "target")
            s.add(m.Attachment(id=str(uuid.uuid4()), volume_id=v.id,
                               instance_uuid=arg.get("instance_uuid"),
                               attached_host=arg.get("host_name"),
                               mountpoint=arg["mountpoint"], attach_status="attached",
                               attach_mode=mode, attach_time=utcnow()))
            s.flush()
            settle_status(s, v)
        return 202, None

    def do_detach(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                  ver: APIVersion) -> tuple[int, Any]:
        """Cinder's legacy detach; of a volume attached nowhere (a force-detach came
        first) it only makes the volume available, as Cinder's volume manager does."""
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "detach")
            if s.scalar(select(m.Attachment.id).where(m.Attachment.volume_id == v.id)
                        .limit(1)) is None:
                v.status = "available"
                return 202, None
        aid = self._attachment_for(ctx, volume_id, arg.get("attachment_id"), "detach")
        if aid is not None:
            self.attachments.delete(ctx, aid)
        return 202, None

    def _attachment_for(self, ctx: RequestContext, volume_id: str, wanted: str | None,
                        rule: str) -> str | None:
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            policy.write(ctx, v.project_id, RULE + rule)
            atts = list(s.scalars(select(m.Attachment).where(
                m.Attachment.volume_id == v.id)))
        if wanted:
            if wanted not in {a.id for a in atts}:
                raise errors.attachment_not_found(wanted)
            return wanted
        if len(atts) > 1:
            raise errors.invalid_volume("Volume has multiple attachments: name the "
                                        "attachment_id to detach.")
        if not atts:
            raise errors.invalid_volume("Volume must be attached in order to detach.")
        return atts[0].id

    def do_initialize_connection(self, ctx: RequestContext, volume_id: str,
                                 arg: dict[str, Any], ver: APIVersion) -> tuple[int, Any]:
        info = self.attachments.initialize(ctx, volume_id, arg["connector"])
        return 200, {"connection_info": info}

    def do_terminate_connection(self, ctx: RequestContext, volume_id: str,
                                arg: dict[str, Any], ver: APIVersion) -> tuple[int, Any]:
        self.attachments.terminate(ctx, volume_id)
        return 202, None

    # ------------------------------------------------------------ flags, metadata
    def do_set_bootable(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                        ver: APIVersion) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "volume_bootable")
            v.bootable = schemas.flag(arg["bootable"])
        return 200, None

    def do_update_readonly_flag(self, ctx: RequestContext, volume_id: str,
                                arg: dict[str, Any], ver: APIVersion) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, RULE + "update_readonly_flag")
            if v.status != "available":
                raise errors.invalid_volume(f"Volume {v.id} status must be available to "
                                            f"update readonly flag, but current status is: "
                                            f"{v.status}.")
            v.read_only = schemas.flag(arg["readonly"])
            # Cinder keeps the flag as admin metadata, which volume views show among
            # the metadata (`readonly`: "True"/"False")
            common.set_metadata(s, m.VolumeMetadata, "volume_id", v.id,
                                {"readonly": str(v.read_only)}, replace=False)
        return 202, None

    def do_set_image_metadata(self, ctx: RequestContext, volume_id: str,
                              arg: dict[str, Any], ver: APIVersion) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume_extension:volume_image_metadata:set")
            common.set_metadata(s, m.VolumeImageMetadata, "volume_id", v.id,
                                arg["metadata"], replace=False)
            s.flush()
            meta = common.metadata_of(s, m.VolumeImageMetadata, "volume_id", [v.id])[v.id]
        return 200, {"metadata": meta}

    def do_unset_image_metadata(self, ctx: RequestContext, volume_id: str,
                                arg: dict[str, Any], ver: APIVersion) -> tuple[int, Any]:
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume_extension:volume_image_metadata:remove")
            row = s.get(m.VolumeImageMetadata, (v.id, arg["key"]))
            if row is None:
                raise NotFound(f"Glance metadata for volume/snapshot {v.id} cannot be "
                               "found.")
            s.delete(row)
        return 200, None

    def do_show_image_metadata(self, ctx: RequestContext, volume_id: str, arg: Any,
                               ver: APIVersion) -> tuple[int, Any]:
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            policy.read(ctx, v.project_id, "volume_extension:volume_image_metadata:show")
            meta = common.metadata_of(s, m.VolumeImageMetadata, "volume_id", [v.id])[v.id]
        return 200, {"metadata": meta}

    # ------------------------------------------------------------ upload to image
    def do_volume_upload_image(self, ctx: RequestContext, volume_id: str,
                               arg: dict[str, Any], ver: APIVersion) -> tuple[int, Any]:
        force = schemas.flag(arg.get("force", False))
        disk_format = arg.get("disk_format", "raw")
        if self.store.images is None:
            raise errors.invalid_input("no image service")
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            policy.write(ctx, v.project_id, RULE + "upload_image")
            ok = ("available", "in-use") if force else ("available",)
            if v.status not in ok:
                raise errors.invalid_volume(f"Volume {v.id} status must be available or "
                                            f"in-use with force, but current status is: "
                                            f"{v.status}.")
            vtype = s.get(m.VolumeType, v.volume_type_id or "")
        body: dict[str, Any] = {"name": arg["image_name"], "disk_format": disk_format,
                                "container_format": arg.get("container_format", "bare")}
        if ver.at_least("3.1"):
            if arg.get("visibility"):
                body["visibility"] = arg["visibility"]
            if "protected" in arg:
                body["protected"] = schemas.flag(arg["protected"])
        image = self.store.images.create(ctx, body)
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            if v.status not in ok:
                self.store.images.discard(image["id"])
                raise errors.invalid_volume(f"Volume {v.id} is {v.status}.")
            v.previous_status, v.status = v.status, "uploading"
            host, size, updated = v.host, v.size, views.when(v.updated_at)
            description = v.description
        self.store.storage.spawn(self._upload, volume_id, host, image["id"], disk_format)
        return 202, {"os-volume_upload_image": {
            "id": volume_id, "updated_at": updated, "status": "uploading",
            "display_description": description, "size": size,
            "volume_type": views.volume_type(vtype, {}, False) if vtype else None,
            "image_id": image["id"], "container_format": body["container_format"],
            "disk_format": disk_format, "image_name": arg["image_name"],
            **({"visibility": image.get("visibility"), "protected": image.get("protected")}
               if ver.at_least("3.1") else {})}}

    def _upload(self, volume_id: str, host: str, image_id: str, disk_format: str) -> None:
        images = self.store.images
        assert images is not None
        reply = self.store.storage.call(host, CopyVolumeToImage(
            volume_id=volume_id, image_id=image_id, disk_format=disk_format))
        error = None if reply.ok else reply.error
        if reply.ok:
            path = Path(reply.data["path"])
            try:
                images.import_file(image_id, path, disk_format)
            except Exception as exc:  # noqa: BLE001 - the image is discarded below
                error = str(exc)
            finally:
                # the image service has its own copy now (or never will)
                path.unlink(missing_ok=True)
        if error:
            images.discard(image_id)
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is not None and v.status == "uploading":
                v.status, v.previous_status = v.previous_status or "available", None
                if error:
                    v.fault = error[:1024]
                    messages.record(s, v.project_id, "VOLUME", v.id, "003", "001", error)

    # ------------------------------------------------------------ the admin's
    def do_reset_status(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                        ver: APIVersion) -> tuple[int, Any]:
        policy.admin(ctx, "volume_extension:volume_admin_actions:reset_status")
        if not arg:
            raise errors.invalid_input("Must specify 'status', 'attach_status' or "
                                       "'migration_status' for update.")
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            if "status" in arg:
                v.status = arg["status"]
            if "migration_status" in arg:
                v.migration_status = None if arg["migration_status"] in (None, "none") \
                    else arg["migration_status"]
            if arg.get("attach_status") == "detached":
                for a in s.scalars(select(m.Attachment).where(
                        m.Attachment.volume_id == v.id)):
                    s.delete(a)
        return 202, None

    def do_force_delete(self, ctx: RequestContext, volume_id: str, arg: Any,
                        ver: APIVersion) -> tuple[int, Any]:
        policy.admin(ctx, "volume_extension:volume_admin_actions:force_delete")
        self.volumes.delete(ctx, volume_id, force=True)
        return 202, None

    def do_force_detach(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                        ver: APIVersion) -> tuple[int, Any]:
        policy.admin(ctx, "volume_extension:volume_admin_actions:force_detach")
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            ids = [a.id for a in s.scalars(select(m.Attachment).where(
                m.Attachment.volume_id == v.id))]
        wanted = arg.get("attachment_id")
        if wanted and wanted not in ids:
            raise errors.attachment_not_found(wanted)
        for aid in [wanted] if wanted else ids:
            self.attachments.delete(ctx, aid, force=True)
        return 202, None

    # ------------------------------------------------------------ migration
    def do_migrate_volume(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                          ver: APIVersion) -> tuple[int, Any]:
        """Move an available volume to another storage host: the new host copies the
        bytes from the old one's NBD export, then the old copy goes. The volume is in
        `maintenance` meanwhile (a crash settles it back to available). From 3.16 the
        destination may be a `cluster` instead (exactly one of the two), which here
        is never available: no storage host runs clustered."""
        policy.admin(ctx, "volume_extension:volume_admin_actions:migrate_volume")
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            if v.status != "available":
                raise errors.invalid_volume(f"Volume {v.id} status must be available to "
                                            f"migrate here, but current status is: "
                                            f"{v.status}.")
            if s.scalar(select(m.Snapshot.id).where(m.Snapshot.volume_id == v.id)):
                raise errors.invalid_volume(f"Volume {v.id} must not have snapshots.")
            if v.group_id is not None:
                raise errors.invalid_volume(f"Volume {v.id} must not be in a group.")
            cluster, host = cluster_or_host(arg, ver.at_least("3.16"))
            base = (host or "").split("#", 1)[0]
            svc = s.get(m.StorageService, (base, "cinder-volume")) if host else None
            if svc is None or svc.disabled or not self.volumes.services.up(svc):
                # no storage host runs in a cluster: a cluster is never available
                raise errors.invalid_host(f"No available service named "
                                          f"'{cluster or host}'")
            if (v.host or "").split("#", 1)[0] == base:
                raise errors.invalid_input("Destination host must be different than the "
                                           "current host.")
            source, target = v.host or "", f"{svc.host}#{svc.backend}"
            v.status, v.migration_status = "maintenance", "migrating"
            size = v.size
        self.store.storage.spawn(self._migrate, volume_id, source, target, size)
        return 202, None

    def _migrate(self, volume_id: str, source: str, target: str, size: int,
                 new_type: str | None = None) -> None:
        storage = self.store.storage
        machine = target.split("@", 1)[0]
        reply = storage.call(source, ExportVolume(
            volume_id=volume_id, connector={"host": machine, "transport": "nbd"}))
        error = None if reply.ok else reply.error
        if reply.ok:
            d = reply.data["data"]
            url = f"nbd://{d['host']}:{d['port']}/{d['export_name']}"
            made = storage.call(target, CreateVolume(volume_id=volume_id, size_gb=size,
                                                     nbd_source=url))
            storage.call(source, UnexportVolume(volume_id=volume_id))
            if made.ok:
                storage.call(source, DeleteVolume(volume_id=volume_id))
            else:
                error = made.error
                storage.call(target, DeleteVolume(volume_id=volume_id))
        with self.store.db.transaction() as s:
            v = s.get(m.Volume, volume_id)
            if v is None:
                return
            v.status = "available"
            if error is None:
                v.host, v.migration_status = target, "success"
                if new_type is not None:
                    v.volume_type_id = new_type
            else:
                v.migration_status, v.fault = "error", (error or "")[:1024]
                messages.record(s, v.project_id, "VOLUME", v.id, "001", "001", error)

    def do_retype(self, ctx: RequestContext, volume_id: str, arg: dict[str, Any],
                  ver: APIVersion) -> tuple[int, Any]:
        """A new type on the same backend is a record change; onto another backend
        (`volume_backend_name`) the volume migrates there with `on-demand`."""
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume:retype")
            if v.status not in ("available", "in-use"):
                raise errors.invalid_volume(f"Volume {v.id} status must be available or "
                                            f"in-use, but current status is: {v.status}.")
            new = common.volume_type(s, ctx, arg["new_type"])
            if new.id == v.volume_type_id:
                raise errors.invalid_input("Retype requested to same volume type.")
            want = s.get(m.TypeExtraSpec, (new.id, "volume_backend_name"))
            backend = (v.host or "").rsplit("#", 1)[-1]
            self.quotas.check(s, v.project_id, new.name, volumes=1, gigabytes=v.size)
            if want is None or want.value == backend:
                v.volume_type_id = new.id
                return 202, None
            # another backend: only by migrating there, and only when asked to
            if arg.get("migration_policy") != "on-demand":
                raise errors.invalid_input(f"Volume type {new.name} needs backend "
                                           f"{want.value}: retype with migration_policy "
                                           "on-demand to move the volume there.")
            if v.status != "available" or s.scalar(select(m.Snapshot.id).where(
                    m.Snapshot.volume_id == v.id)) or v.group_id is not None:
                raise errors.invalid_volume(f"Volume {v.id} must be available, without "
                                            "snapshots or group, to migrate.")
            target, why = self.volumes.services.pick(s, v.availability_zone, new.id,
                                                     v.size)
            if target is None:
                raise errors.invalid_input(errors.no_valid_backend(why))
            source, size = v.host or "", v.size
            v.status, v.migration_status = "retyping", "migrating"
        self.store.storage.spawn(self._migrate, volume_id, source, target, size, new.id)
        return 202, None
