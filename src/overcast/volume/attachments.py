"""Attachments: a volume connected to a server (or any consumer), Cinder's new
attach flow (3.27+) and the legacy actions, on the same steps.

  create    a reserved attachment: the volume `reserved` (or, with a connector,
            exported at once: `attaching`)
  update    the connector is known: the storage host exports the volume for it and
            the attachment carries the connection_info (VOLUME_CONTRACT.md)
  complete  the consumer uses it: attachment `attached`, volume `in-use`
  delete    the consumer let go: the export is withdrawn once no attachment needs it,
            and the volume is `available` again when none is left

Each step writes the record first, then asks the storage host; a failed export
puts the attachment in `error_attaching` and the volume back where it was.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.bus.messages import ExportVolume, UnexportVolume
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest
from overcast.volume import common, errors, policy
from overcast.volume import models as m
from overcast.volume.common import Store
from overcast.volume.qos import front_end_specs


def settle_status(s: Session, v: m.Volume) -> None:
    """A volume's status from its attachments (after one came or went)."""
    atts = list(s.scalars(select(m.Attachment).where(m.Attachment.volume_id == v.id)))
    if any(a.attach_status in ("attached", "detaching") for a in atts):
        v.status = "in-use"
    elif any(a.attach_status == "attaching" for a in atts):
        v.status = "attaching"
    elif any(a.attach_status == "reserved" for a in atts):
        v.status = "reserved"
    else:
        v.status = "available"


class Attachments:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, s: Session, ctx: RequestContext, attachment_id: str) -> m.Attachment:
        a = s.get(m.Attachment, attachment_id)
        if a is None:
            raise errors.attachment_not_found(attachment_id)
        v = s.get(m.Volume, a.volume_id)
        if v is None or not policy.can_see(ctx, v.project_id):
            raise errors.attachment_not_found(attachment_id)
        return a

    def listing(self, ctx: RequestContext, params: dict[str, str]) -> list[m.Attachment]:
        stmt = select(m.Attachment).join(m.Volume, m.Volume.id == m.Attachment.volume_id)
        if not (ctx.is_admin and "all_tenants" in params):
            stmt = stmt.where(m.Volume.project_id == (ctx.project_id or ""))
        if params.get("volume_id"):
            stmt = stmt.where(m.Attachment.volume_id == params["volume_id"])
        if params.get("instance_id"):
            stmt = stmt.where(m.Attachment.instance_uuid == params["instance_id"])
        status = params.get("status") or params.get("attach_status")
        if status:
            stmt = stmt.where(m.Attachment.attach_status == status)
        with self.store.db.session() as s:
            rows = list(s.scalars(stmt.order_by(m.Attachment.created_at, m.Attachment.id)))
            limit = params.get("limit")
            if params.get("marker"):
                ids = [r.id for r in rows]
                if params["marker"] not in ids:
                    raise errors.attachment_not_found(params["marker"])
                rows = rows[ids.index(params["marker"]) + 1:]
            if limit:
                rows = rows[:int(limit)]
            for r in rows:
                s.expunge(r)
            return rows

    def show(self, ctx: RequestContext, attachment_id: str) -> m.Attachment:
        with self.store.db.session() as s:
            a = self.get(s, ctx, attachment_id)
            v = s.get(m.Volume, a.volume_id)
            assert v is not None
            policy.read(ctx, v.project_id, "volume:attachment_get")
            s.expunge(a)
            return a

    # ------------------------------------------------------------ the steps
    def create(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None,
               connector: dict[str, Any] | None = None, mode: str | None = None
               ) -> m.Attachment:
        aid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, volume_id, lock=True)
            policy.write(ctx, v.project_id, "volume:attachment_create")
            ok = ("available", "downloading") if not v.multiattach else (
                "available", "in-use", "reserved", "downloading")
            if v.status not in ok:
                raise errors.invalid_volume(
                    f"Volume {v.id} status must be available or downloading to reserve, "
                    f"but the current status is {v.status}.")
            mode = mode or (connector or {}).get("mode") or ("ro" if v.read_only else "rw")
            if v.read_only and mode == "rw":
                raise BadRequest(f"Invalid attaching mode 'rw' for volume {v.id}.")
            s.add(m.Attachment(id=aid, volume_id=v.id, instance_uuid=instance_uuid,
                               attach_status="reserved", attach_mode=mode))
            v.status = "reserved"
        if connector:
            self.update(ctx, aid, connector)
        with self.store.db.session() as s:
            a = s.get(m.Attachment, aid)
            assert a is not None
            s.expunge(a)
            return a

    def update(self, ctx: RequestContext, attachment_id: str, connector: dict[str, Any]
               ) -> m.Attachment:
        """Export the volume for the connector; the attachment gets the connection_info."""
        with self.store.db.transaction() as s:
            a = self.get(s, ctx, attachment_id)
            v = s.get(m.Volume, a.volume_id)
            assert v is not None
            policy.write(ctx, v.project_id, "volume:attachment_update")
            if a.attach_status not in ("reserved", "attaching", "attached",
                                       "error_attaching"):
                raise errors.invalid_volume(f"attachment {a.id} is {a.attach_status}")
            if v.host is None:
                raise errors.invalid_volume(f"Volume {v.id} has no storage host.")
            host, read_only = v.host, a.attach_mode == "ro"
            a.connector, a.attached_host = dict(connector), connector.get("host")
            if connector.get("mountpoint"):
                a.mountpoint = connector["mountpoint"]
            if a.attach_status != "attached":
                a.attach_status = "attaching"
                settle_status(s, v)
        reply = self.store.storage.call(host, ExportVolume(
            volume_id=a.volume_id, connector=dict(connector), read_only=read_only))
        with self.store.db.transaction() as s:
            row = s.get(m.Attachment, attachment_id)
            if row is None:
                raise errors.attachment_not_found(attachment_id)
            v = s.get(m.Volume, row.volume_id)
            assert v is not None
            if reply.ok:
                row.connection_info = _with_attachment(reply.data, row)
                qos = front_end_specs(s, v.volume_type_id)
                if qos is not None:
                    info = dict(row.connection_info)
                    info["data"] = {**info["data"], "qos_specs": qos}
                    row.connection_info = info
            else:
                # committed before the refusal is raised: the attachment says it failed
                row.attach_status = "error_attaching"
                settle_status(s, v)
            s.flush()
            s.expunge(row)
        if not reply.ok:
            raise errors.invalid_volume(f"the volume could not be exported: {reply.error}")
        return row

    def complete(self, ctx: RequestContext, attachment_id: str,
                 mountpoint: str | None = None) -> None:
        with self.store.db.transaction() as s:
            a = self.get(s, ctx, attachment_id)
            v = s.get(m.Volume, a.volume_id)
            assert v is not None
            policy.write(ctx, v.project_id, "volume:attachment_complete")
            # As Cinder: completing an attachment with no connector yet is allowed
            # (Nova does it for a shelved-offloaded server, whose host connects the
            # volume at unshelve).
            a.attach_status, a.attach_time = "attached", utcnow()
            if mountpoint:
                a.mountpoint = mountpoint
            settle_status(s, v)

    def delete(self, ctx: RequestContext, attachment_id: str, *, force: bool = False
               ) -> list[m.Attachment]:
        """Remove the attachment (the export goes when no other one needs it); returns
        the volume's attachments left."""
        with self.store.db.transaction() as s:
            a = self.get(s, ctx, attachment_id)
            v = s.get(m.Volume, a.volume_id)
            assert v is not None
            policy.write(ctx, v.project_id, "volume:attachment_delete")
            host, vid = v.host, v.id
            others = [o for o in s.scalars(select(m.Attachment).where(
                m.Attachment.volume_id == vid, m.Attachment.id != a.id))
                if (o.connection_info or {}).get("driver_volume_type") == "nbd"]
            exported = (a.connection_info or {}).get("driver_volume_type") == "nbd"
            a.attach_status = "detaching"
        if exported and not others and host is not None:
            reply = self.store.storage.call(host, UnexportVolume(volume_id=vid))
            if not reply.ok and not force:
                with self.store.db.transaction() as s:
                    row = s.get(m.Attachment, attachment_id)
                    if row is not None:
                        row.attach_status = "error_detaching"
                raise errors.invalid_volume(f"the export could not be withdrawn: "
                                            f"{reply.error}")
        with self.store.db.transaction() as s:
            row = s.get(m.Attachment, attachment_id)
            if row is not None:
                s.delete(row)
                s.flush()
            v = s.get(m.Volume, vid)
            if v is None:
                return []
            settle_status(s, v)
            left = list(s.scalars(select(m.Attachment).where(m.Attachment.volume_id == vid)))
            for r in left:
                s.expunge(r)
            return left

    def terminate(self, ctx: RequestContext, volume_id: str) -> None:
        """Withdraw a volume's export (legacy terminate_connection)."""
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            policy.write(ctx, v.project_id, "volume_extension:volume_actions:"
                                            "terminate_connection")
            host = v.host
        if host is not None:
            reply = self.store.storage.call(host, UnexportVolume(volume_id=volume_id))
            if not reply.ok:
                raise errors.invalid_volume(f"the export could not be withdrawn: "
                                            f"{reply.error}")

    def initialize(self, ctx: RequestContext, volume_id: str, connector: dict[str, Any]
                   ) -> dict[str, Any]:
        """Legacy initialize_connection: the connection_info, no state change."""
        with self.store.db.session() as s:
            v = common.volume(s, ctx, volume_id)
            policy.write(ctx, v.project_id, "volume_extension:volume_actions:"
                                            "initialize_connection")
            if v.host is None or v.status in ("creating", "error", "deleting",
                                              "error_deleting", "downloading"):
                raise errors.invalid_volume(f"Volume {v.id} is {v.status}: it cannot be "
                                            "connected.")
            host, read_only = v.host, v.read_only
        reply = self.store.storage.call(host, ExportVolume(
            volume_id=volume_id, connector=dict(connector), read_only=read_only))
        if not reply.ok:
            raise errors.invalid_volume(f"the volume could not be exported: {reply.error}")
        return dict(reply.data)


def _with_attachment(info: dict[str, Any], a: m.Attachment) -> dict[str, Any]:
    out = dict(info)
    out["data"] = {**dict(info.get("data", {})), "access_mode": a.attach_mode}
    out["attachment_id"] = a.id
    return out
