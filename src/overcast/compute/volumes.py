"""A server's volumes: what Nova does with Cinder's attachments.

- Attach (`os-volume_attachments` POST): reserve an attachment of the volume for the
  server, write the block device mapping, have the volume service export it for the
  server's host (`connect`), have the host's agent hot-plug it (`AttachVolume`, a
  call: the reply says whether the guest got the disk), then `complete` it
  (the volume is in-use). Any step failing undoes the earlier ones, so a refused or
  failed attach leaves the volume available and no mapping behind.
- Detach: the agent unplugs the disk (`DetachVolume`), then the attachment ends and
  the mapping goes; a server's root volume cannot be detached (400, as Nova).
- A create that names volumes (`block_device_mapping_v2`, destination `volume`):
  the API checks what it can (the volumes exist, are available, one server only);
  the conductor, once the host is chosen, makes the volumes a mapping asks for
  (from an image, a snapshot or blank), waits for them, connects each to the host
  and hands the driver their connection info in the spec (`block_devices`).
- A server's delete ends its attachments and deletes the volumes marked
  `delete_on_termination`, after the host has let go of them.

The volume service is reached only through `VolumePort` (ports.py); the agent only
through the bus. Nothing here runs inside another transaction: every VolumePort call
opens its own, so the mapping rows are written in short transactions around them.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.bus.messages import AttachVolume, DetachVolume, Message
from overcast.compute import models as m
from overcast.compute import states
from overcast.compute.ports import VolumePort
from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound, OvercastError
from overcast.kit.microversion import APIVersion

log = logging.getLogger("overcast.compute.volumes")

#: Device names as Nova's schema takes them (/dev/vdb, /dev/xvdc, /dev/sdb1, vdc).
DEVICE = re.compile(r"^(/dev/x?[a-z]?d?)([a-z]+)[0-9]*$")
#: How long the conductor waits for a volume a create asked for to be made.
VOLUME_BUILD_TIMEOUT = 300.0
#: How long an agent may take to hot-plug or unplug a disk.
AGENT_TIMEOUT = 60.0

Caller = Callable[[str, Message, float], Any]


def _letters(n: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa (device name suffixes)."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def next_device(used: Iterable[str | None], wanted: str | None = None) -> str:
    """The device a new disk gets: the one asked for when it is free (its letters
    on the `vd` bus, as libvirt ignores the prefix), else the first free one after
    the root disk (vda)."""
    taken = {d.rsplit("/", 1)[-1] for d in used if d}
    taken.add("vda")
    if wanted:
        match = DEVICE.match(wanted if wanted.startswith("/dev/") else f"/dev/{wanted}")
        if match is None:
            raise BadRequest(f"The supplied device path ({wanted}) is invalid.")
        name = f"vd{match.group(2)}"
        if name in taken:
            raise Conflict(f"The supplied device path ({wanted}) is in use.")
        return f"/dev/{name}"
    i = 0
    while f"vd{_letters(i)}" in taken:
        i += 1
    return f"/dev/vd{_letters(i)}"


def attachment_view(server_id: str, bdm: m.BlockDeviceMapping, v: APIVersion
                    ) -> dict[str, Any]:
    """Nova's volumeAttachment (the volume id is the attachment's id, as Nova); from
    2.70 with the mapping's device `tag`, from 2.79 its `delete_on_termination`."""
    body: dict[str, Any] = {"id": bdm.volume_id, "serverId": server_id,
                            "volumeId": bdm.volume_id, "device": bdm.device_name}
    if v.at_least("2.70"):
        body["tag"] = bdm.tag
    if v.at_least("2.79"):
        body["delete_on_termination"] = bdm.delete_on_termination
    return body


def with_attachment_ids(body: dict[str, Any], bdm: m.BlockDeviceMapping, v: APIVersion
                        ) -> dict[str, Any]:
    """2.89 (list and show): no `id` (it repeated volumeId), and the block storage
    attachment's `attachment_id` and the mapping's `bdm_uuid`."""
    if v.at_least("2.89"):
        del body["id"]
        body["attachment_id"] = bdm.attachment_id
        body["bdm_uuid"] = bdm_uuid(bdm)
    return body


#: the namespace of the mappings' UUIDs
_BDM_NAMESPACE = uuidlib.UUID("5c1c2d7e-3f0a-4b8e-9a41-6f2b0d9e7a10")


def bdm_uuid(bdm: m.BlockDeviceMapping) -> str:
    """A mapping's UUID (Nova's block_device_mapping.uuid): made from its server and
    row id, so the same mapping always has the same one and no two share it."""
    return str(uuidlib.uuid5(_BDM_NAMESPACE, f"{bdm.instance_uuid}/{bdm.id}"))


class ServerVolumes:
    """The volumes of servers (see the module docstring)."""

    def __init__(self, db: Database, volumes: VolumePort | None, call: Caller) -> None:
        self.db = db
        self.port = volumes
        self.call = call

    # ---------------------------------------------------------------- reads
    def _volumes(self) -> VolumePort:
        if self.port is None:
            raise BadRequest("Block storage is not available in this cloud.")
        return self.port

    def mappings(self, s: Session, uuid: str) -> list[m.BlockDeviceMapping]:
        return list(s.scalars(select(m.BlockDeviceMapping).where(
            m.BlockDeviceMapping.instance_uuid == uuid).order_by(m.BlockDeviceMapping.id)))

    def attached(self, uuids: list[str]) -> dict[str, list[m.BlockDeviceMapping]]:
        """The volume mappings of these servers (for `volumes_attached`)."""
        out: dict[str, list[m.BlockDeviceMapping]] = {}
        if not uuids:
            return out
        with self.db.session() as s:
            for bdm in s.scalars(select(m.BlockDeviceMapping).where(
                    m.BlockDeviceMapping.instance_uuid.in_(uuids),
                    m.BlockDeviceMapping.volume_id.isnot(None))
                    .order_by(m.BlockDeviceMapping.id)):
                out.setdefault(bdm.instance_uuid, []).append(bdm)
        return out

    def devices(self, uuid: str) -> list[dict[str, Any]]:
        """A server's connected volumes as its spec carries them (`block_devices`)."""
        with self.db.session() as s:
            return [{"volume_id": b.volume_id, "device": b.device_name,
                     "boot_index": b.boot_index, "connection_info": b.connection_info}
                    for b in self.mappings(s, uuid) if b.connection_info]

    def one(self, uuid: str, volume_id: str) -> m.BlockDeviceMapping:
        with self.db.session() as s:
            bdm = s.scalar(select(m.BlockDeviceMapping).where(
                m.BlockDeviceMapping.instance_uuid == uuid,
                m.BlockDeviceMapping.volume_id == volume_id))
        if bdm is None:
            raise NotFound(f"Instance {uuid} is not attached to volume {volume_id}")
        return bdm

    def update(self, uuid: str, volume_id: str, att: dict[str, Any]) -> None:
        """2.85: change an attachment's `delete_on_termination`; the other fields a
        GET shows may be sent back but not changed (400, in Nova's words); 404 when
        the volume is not attached to the server."""
        with self.db.transaction() as s:
            bdm = s.scalar(select(m.BlockDeviceMapping).where(
                m.BlockDeviceMapping.instance_uuid == uuid,
                m.BlockDeviceMapping.volume_id == volume_id))
            if bdm is None:
                raise NotFound(f"No volume Block Device Mapping with id {volume_id}.")
            for key, now in (("id", volume_id), ("serverId", uuid),
                             ("device", bdm.device_name), ("tag", bdm.tag)):
                if key in att and att[key] != now:
                    raise BadRequest(f"The {key} property is not mutable")
            if "delete_on_termination" in att:
                dot = att["delete_on_termination"]
                bdm.delete_on_termination = dot is True or str(dot).lower() in (
                    "true", "1", "on", "yes")

    # ------------------------------------------------------- attach/detach
    def attach(self, ctx: RequestContext, inst: m.Instance, volume_id: str,
               device: str | None, tag: str | None = None,
               delete_on_termination: bool = False) -> m.BlockDeviceMapping:
        """Attach a volume to a running (or stopped) server; see the module docstring.
        `tag` is the device's role tag (2.49), kept on the mapping as a create's is;
        `delete_on_termination` (2.79): the volume goes with the server."""
        port = self._volumes()
        uuid = inst.uuid
        states.check("attach_volume", uuid, inst.vm_state, inst.task_state)
        offloaded = inst.vm_state == "shelved_offloaded"
        if not inst.host and not offloaded:
            raise Conflict(f"Cannot 'attach_volume' instance {uuid}: it has no host.")
        try:
            port.lookup(ctx, volume_id)
        except NotFound:
            raise NotFound(f"Volume {volume_id} could not be found.")
        with self.db.session() as s:
            used = self.mappings(s, uuid)
        if any(b.volume_id == volume_id for b in used):
            raise BadRequest(f"Invalid volume: volume {volume_id} is already attached to "
                             f"instance {uuid}.")
        dev = next_device([b.device_name for b in used], device)
        try:
            attachment = port.reserve(ctx, volume_id, uuid)
        except OvercastError as exc:
            if isinstance(exc, NotFound):
                raise NotFound(f"Volume {volume_id} could not be found.")
            raise BadRequest(f"Invalid volume: {exc.message}")
        with self.db.transaction() as s:
            bdm = m.BlockDeviceMapping(
                instance_uuid=uuid, volume_id=volume_id, attachment_id=attachment,
                device_name=dev, boot_index=None, source_type="volume",
                destination_type="volume",
                delete_on_termination=delete_on_termination, tag=tag)
            s.add(bdm)
            s.flush()
            bdm_id = bdm.id
        if offloaded:
            # No host: the attachment is completed unconnected (the volume reads
            # in-use, as Nova does it) and the host connects it at unshelve
            # (`prepare`).
            try:
                port.complete(attachment, dev)
            except Exception:
                self._undo(bdm_id, attachment)
                raise
            return self.one(uuid, volume_id)
        try:
            assert inst.host is not None
            info = port.connect(attachment, connector(inst.host))
            reply = self.call(f"agent.{inst.host}", AttachVolume(
                uuid=uuid, volume_id=volume_id, connection_info=info, device=dev),
                AGENT_TIMEOUT)
            if not getattr(reply, "ok", False):
                raise Conflict(f"The host could not attach volume {volume_id} to "
                               f"instance {uuid}: {getattr(reply, 'error', '') or 'no answer'}")
            port.complete(attachment, dev)
        except Exception:
            self._undo(bdm_id, attachment)
            raise
        with self.db.transaction() as s:
            row = s.get(m.BlockDeviceMapping, bdm_id)
            assert row is not None
            row.connection_info = info
            s.flush()
            s.expunge(row)
        return row

    def _undo(self, bdm_id: int, attachment: str) -> None:
        try:
            self._volumes().disconnect(attachment)
        except Exception:  # noqa: BLE001 - the audit ends what this cannot
            log.exception("could not end attachment %s", attachment)
        with self.db.transaction() as s:
            s.execute(delete(m.BlockDeviceMapping).where(m.BlockDeviceMapping.id == bdm_id))

    def detach(self, inst: m.Instance, volume_id: str) -> None:
        uuid = inst.uuid
        bdm = self.one(uuid, volume_id)
        if bdm.boot_index == 0:
            raise BadRequest("Cannot detach a root device volume")
        states.check("detach_volume", uuid, inst.vm_state, inst.task_state)
        if inst.host:
            reply = self.call(f"agent.{inst.host}", DetachVolume(uuid=uuid,
                                                                 volume_id=volume_id),
                              AGENT_TIMEOUT)
            if not getattr(reply, "ok", False):
                raise Conflict(f"The host could not detach volume {volume_id} from "
                               f"instance {uuid}: {getattr(reply, 'error', '') or 'no answer'}")
        if bdm.attachment_id:
            self._volumes().disconnect(bdm.attachment_id)
        with self.db.transaction() as s:
            s.execute(delete(m.BlockDeviceMapping).where(m.BlockDeviceMapping.id == bdm.id))

    # ------------------------------------------------------------- create
    def check_requested(self, ctx: RequestContext, devices: list[dict[str, Any]],
                        count: int) -> None:
        """A create's volume mappings, checked before anything is written (400s)."""
        if not devices:
            return
        port = self._volumes()
        for d in devices:
            if d["source_type"] != "volume":
                continue
            if count > 1:
                raise BadRequest("Cannot attach one or more volumes to multiple instances")
            try:
                vol = port.lookup(ctx, d["uuid"])
            except NotFound:
                raise BadRequest(f"Block Device Mapping is Invalid: failed to get volume "
                                 f"{d['uuid']}.")
            if vol.get("status") != "available":
                raise BadRequest(f"Block Device Mapping is Invalid: volume {d['uuid']} is "
                                 f"{vol.get('status')}, not available.")
            if d.get("boot_index") == 0 and str(vol.get("bootable", "true")).lower() \
                    in ("false", "0"):
                # Nova's InvalidBDMVolumeNotBootable
                raise BadRequest(f"Block Device {d['uuid']} is not bootable.")

    @staticmethod
    def add_requested(s: Session, uuid: str, devices: list[dict[str, Any]]) -> None:
        """The mappings of a new server (in the create's transaction)."""
        used: list[str | None] = []
        for d in sorted(devices, key=lambda d: (d.get("boot_index") is None or
                                                d.get("boot_index", -1) < 0,
                                                d.get("boot_index") or 0)):
            boot = d.get("boot_index")
            if boot == 0:
                dev = "/dev/vda"
            else:
                dev = next_device(used, d.get("device_name"))
            used.append(dev)
            s.add(m.BlockDeviceMapping(
                instance_uuid=uuid,
                volume_id=d["uuid"] if d["source_type"] == "volume" else None,
                device_name=dev, boot_index=boot if boot is None or boot >= 0 else None,
                source_type=d["source_type"], destination_type="volume",
                source_id=d.get("uuid") if d["source_type"] in ("image", "snapshot")
                else None, volume_size=d.get("volume_size"),
                delete_on_termination=bool(d.get("delete_on_termination")),
                tag=d.get("tag"), volume_type=d.get("volume_type")))

    def prepare(self, uuid: str, host: str, ctx: RequestContext) -> list[dict[str, Any]]:
        """Make, reserve and connect a placed server's volumes for `host`: the
        `block_devices` of its spec. Raises with the reason when one cannot be."""
        with self.db.session() as s:
            rows = [(b.id, b.volume_id, b.source_type, b.source_id, b.volume_size,
                     b.device_name, b.boot_index, b.attachment_id)
                    for b in self.mappings(s, uuid)]
            types = {b.id: b.volume_type for b in self.mappings(s, uuid)}
        if not rows:
            return []
        port = self._volumes()
        out = []
        for bdm_id, volume_id, source, source_id, size, dev, boot, attachment in rows:
            if volume_id is None:
                volume_id = port.create_for_instance(
                    ctx, size_gb=int(size or 1),
                    image_id=source_id if source == "image" else None,
                    snapshot_id=source_id if source == "snapshot" else None,
                    name=f"{uuid}-{dev.rsplit('/', 1)[-1] if dev else 'disk'}",
                    volume_type=types.get(bdm_id))
                with self.db.transaction() as s:
                    row = s.get(m.BlockDeviceMapping, bdm_id)
                    if row is not None:
                        row.volume_id = volume_id
                self._wait_available(ctx, volume_id)
            if attachment is None:
                attachment = port.reserve(ctx, volume_id, uuid)
                with self.db.transaction() as s:
                    row = s.get(m.BlockDeviceMapping, bdm_id)
                    if row is not None:
                        row.attachment_id = attachment
            info = port.connect(attachment, connector(host))
            port.complete(attachment, dev or "")
            with self.db.transaction() as s:
                row = s.get(m.BlockDeviceMapping, bdm_id)
                if row is not None:
                    row.connection_info = info
            out.append({"volume_id": volume_id, "device": dev, "boot_index": boot,
                        "connection_info": info})
        return out

    def _wait_available(self, ctx: RequestContext, volume_id: str) -> None:
        deadline = time.monotonic() + VOLUME_BUILD_TIMEOUT
        delay = 0.05
        while True:
            status = self._volumes().lookup(ctx, volume_id).get("status")
            if status == "available":
                return
            if status in ("error", "error_deleting", "deleting", None):
                raise RuntimeError(f"volume {volume_id} could not be made ({status})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"volume {volume_id} was not made within "
                                   f"{VOLUME_BUILD_TIMEOUT:.0f} s")
            time.sleep(delay)
            # a lookup is one indexed read: polled at most 250 ms apart, a boot from a
            # new volume waits no more than that past the volume's making (the 1 s
            # cap cost ~0.5 s per boot, bench/volume.py)
            delay = min(delay * 2, 0.25)

    def boot_volume_image(self, ctx: RequestContext, uuid: str) -> dict[str, Any] | None:
        """The image properties of a volume-backed server's root volume (what the
        driver boots it as), None when it boots from an image."""
        with self.db.session() as s:
            root = s.scalar(select(m.BlockDeviceMapping).where(
                m.BlockDeviceMapping.instance_uuid == uuid,
                m.BlockDeviceMapping.boot_index == 0))
        if root is None or root.volume_id is None or self.port is None:
            return None
        vol = self.port.lookup(ctx, root.volume_id)
        return dict(vol.get("volume_image_metadata") or {})

    # ----------------------------------------------------------- snapshot
    def root_volume(self, uuid: str) -> str | None:
        """The volume a server boots from (None: it boots from an image)."""
        with self.db.session() as s:
            return s.scalar(select(m.BlockDeviceMapping.volume_id).where(
                m.BlockDeviceMapping.instance_uuid == uuid,
                m.BlockDeviceMapping.boot_index == 0,
                m.BlockDeviceMapping.volume_id.isnot(None)))

    def snapshot_mappings(self, ctx: RequestContext, uuid: str, image_name: str
                          ) -> list[dict[str, Any]]:
        """Nova's volume-backed snapshot: each of the server's volumes snapshotted
        (forced: they are in use), as the image's `block_device_mapping` entries (a
        server booted from the image gets volumes made from these snapshots)."""
        port = self._volumes()
        with self.db.session() as s:
            rows = [(b.volume_id, b.boot_index, b.delete_on_termination, b.device_name,
                     b.tag) for b in self.mappings(s, uuid) if b.volume_id]
        out = []
        for volume_id, boot, delete_it, dev, tag in rows:
            size = int(port.lookup(ctx, volume_id).get("size") or 1)
            snap = port.snapshot_for_instance(ctx, volume_id,
                                              name=f"snapshot for {image_name}")
            out.append({"source_type": "snapshot", "destination_type": "volume",
                        "snapshot_id": snap, "volume_id": None, "image_id": None,
                        "volume_size": size, "boot_index": boot,
                        "delete_on_termination": bool(delete_it), "device_name": dev,
                        "disk_bus": "virtio", "device_type": "disk", "guest_format": None,
                        "no_device": None, "volume_type": None, "tag": tag})
        return out

    @staticmethod
    def from_image(image: dict[str, Any]) -> list[dict[str, Any]]:
        """The volumes an image's `block_device_mapping` asks for (a volume-backed
        server's snapshot, `bdm_v2` True), as a create's requested devices; [] for
        an ordinary image."""
        if str(image.get("bdm_v2", "")).lower() != "true":
            return []
        raw = image.get("block_device_mapping")
        try:
            entries = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise BadRequest(f"Image {image.get('id')} has an invalid "
                             f"block_device_mapping property.")
        if not isinstance(entries, list):
            return []
        out = []
        for e in entries:
            if not isinstance(e, dict) or e.get("destination_type", "volume") != "volume":
                continue
            source = e.get("source_type")
            ref = e.get("snapshot_id") if source == "snapshot" else \
                e.get("volume_id") if source == "volume" else \
                e.get("image_id") if source == "image" else None
            if source not in ("snapshot", "volume", "image", "blank") or \
                    (source != "blank" and not ref):
                raise BadRequest(f"Block Device Mapping is Invalid: image "
                                 f"{image.get('id')} maps a {source} with no id.")
            boot = e.get("boot_index")
            out.append({"source_type": source, "uuid": ref,
                        "boot_index": int(boot) if boot is not None and int(boot) >= 0
                        else None,
                        "volume_size": int(e["volume_size"]) if e.get("volume_size")
                        else None,
                        "delete_on_termination": bool(e.get("delete_on_termination")),
                        "device_name": e.get("device_name"), "tag": e.get("tag")})
        return out

    # ------------------------------------------------------------- delete
    def release(self, uuid: str) -> None:
        """A deleted server's volumes: end every attachment, delete the volumes it
        was told to, drop the mappings. Each step is tried on its own."""
        with self.db.session() as s:
            rows = [(b.id, b.volume_id, b.attachment_id, b.delete_on_termination)
                    for b in self.mappings(s, uuid)]
        for bdm_id, volume_id, attachment, delete_it in rows:
            if self.port is not None:
                try:
                    if attachment:
                        self.port.disconnect(attachment)
                    if delete_it and volume_id:
                        self.port.delete_for_instance(volume_id)
                except Exception:  # noqa: BLE001 - the volume stays, visible to its owner
                    log.exception("could not release volume %s of deleted server %s",
                                  volume_id, uuid)
            with self.db.transaction() as s:
                s.execute(delete(m.BlockDeviceMapping).where(
                    m.BlockDeviceMapping.id == bdm_id))


    def recover(self) -> int:
        """At the conductor's start, end what a crash left half done: an attach
        that never completed (its attachment is ended, its mapping dropped: the
        volume is available again) and the volumes of servers deleted meanwhile.
        Servers still building keep theirs (the conductor prepares them again), as do
        shelved-offloaded ones (connected when they are unshelved)."""
        with self.db.session() as s:
            rows = s.execute(select(m.BlockDeviceMapping.id, m.BlockDeviceMapping.attachment_id,
                                    m.BlockDeviceMapping.instance_uuid,
                                    m.Instance.uuid, m.Instance.deleted,
                                    m.Instance.vm_state)
                             .join(m.Instance, m.Instance.uuid ==
                                   m.BlockDeviceMapping.instance_uuid, isouter=True)
                             .where(m.BlockDeviceMapping.connection_info.is_(None) |
                                    m.Instance.deleted.is_(True) |
                                    m.Instance.uuid.is_(None))).all()
        fixed, gone = 0, set()
        for bdm_id, attachment, owner, uuid, deleted, vm_state in rows:
            if uuid is None or deleted:
                gone.add(owner)
            elif attachment and vm_state not in (states.BUILDING, "shelved_offloaded"):
                # (a shelved-offloaded server's volumes are connected at unshelve)
                self._undo(bdm_id, attachment)
                fixed += 1
        for uuid in gone:
            self.release(uuid)
            fixed += 1
        return fixed


def connector(host: str) -> dict[str, Any]:
    """What the volume service is told about the host that attaches (Cinder's
    connector: the host's name; the storage side picks file or NBD from it)."""
    return {"host": host, "multipath": False, "platform": "x86_64", "os_type": "linux"}
