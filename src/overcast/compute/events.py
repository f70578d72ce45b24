"""Server external events (Nova's `os-server-external-events`): what the other
services tell compute about its servers.

Block storage sends `volume-extended` (tag: the volume id) after it grew a volume
attached to a server, as Cinder does: compute reads the volume's new size and has
the server's host make the running guest see it (`ExtendAttachedVolume`: QEMU's
`block_resize`, a container's `losetup -c`). The network events Neutron sends to
Nova (`network-changed`, `network-vif-plugged`, `-unplugged`, `-deleted`) are
accepted as Nova accepts them; nothing here waits on them (a server's addresses
are read from the network service on each view, and its ports are plugged by the
host's agent itself), so accepting them is all there is to do.

`accelerator-request-bound` (2.82: Cyborg bound an accelerator request, the tag is
its id) is accepted as Nova accepts it; overcast has no accelerator service, so no
server ever waits for one and, as Nova with nobody waiting, nothing follows.

`power-update` (2.76; tag POWER_ON or POWER_OFF) says a server's power changed from
outside compute (Ironic sends it); the route hands it to the compute service's
`power_update`, which records the start/stop action and brings the server's states
to what the event says.

Each event is answered on its own, as Nova answers: 404 for a server that does
not exist (or is deleted), 400 for an event that needs a tag and has none, 422 for
one with no host yet, 200 otherwise; the work an
accepted event asks for runs after the answer (Nova casts it to the compute host
too), in a thread of its own, and only logs what fails.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from overcast.bus.messages import ExtendAttachedVolume, Message
from overcast.compute import models as m
from overcast.compute.instances import INTERNAL
from overcast.compute.ports import VolumePort
from overcast.db import Database

log = logging.getLogger("overcast.compute.events")

GiB = 1 << 30
#: The events that say nothing without a `tag` (Nova answers them 400 without one).
TAG_REQUIRED = ("volume-extended", "power-update", "accelerator-request-bound")
#: How long the host may take to resize a guest's disk.
AGENT_TIMEOUT = 60.0

Caller = Callable[[str, Message, float], Any]


class ServerEvents:
    def __init__(self, db: Database, volumes: VolumePort | None, call: Caller) -> None:
        self.db = db
        self.volumes = volumes
        self.call = call

    def external_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each event with its `code` and `status` (see the module docstring)."""
        uuids = {str(e["server_uuid"]) for e in events}
        with self.db.session() as s:
            hosts = {u: h for u, h in s.execute(
                select(m.Instance.uuid, m.Instance.host).where(
                    m.Instance.uuid.in_(uuids), m.Instance.deleted.is_(False)))}
        out, work = [], []
        for event in events:
            answer = dict(event)
            answer.setdefault("status", "completed")
            uuid = str(event["server_uuid"])
            if uuid not in hosts:
                answer.update(status="failed", code=404)
            elif event["name"] in TAG_REQUIRED and event.get("tag") is None:
                answer.update(status="failed", code=400)
            elif not hosts[uuid]:
                answer.update(status="failed", code=422)
            else:
                answer["code"] = 200
                if event["name"] == "volume-extended" and event.get("tag"):
                    work.append((uuid, str(hosts[uuid]), str(event["tag"])))
            out.append(answer)
        if work:
            threading.Thread(target=self._extended, args=(work,), daemon=True,
                             name="volume-extended").start()
        return out

    def _extended(self, work: list[tuple[str, str, str]]) -> None:
        for uuid, host, volume_id in work:
            try:
                self.volume_extended(uuid, host, volume_id)
            except Exception:  # noqa: BLE001 - the event was answered; log why it failed
                log.exception("volume-extended of %s on server %s failed", volume_id, uuid)

    def volume_extended(self, uuid: str, host: str, volume_id: str) -> None:
        """Have the server's host resize the attached volume's disk to its new size
        (Nova's `extend_volume`: the size is the volume service's, in bytes)."""
        with self.db.session() as s:
            bdm = s.scalar(select(m.BlockDeviceMapping.id).where(
                m.BlockDeviceMapping.instance_uuid == uuid,
                m.BlockDeviceMapping.volume_id == volume_id))
        if bdm is None or self.volumes is None:
            log.warning("volume-extended: volume %s is not attached to server %s",
                        volume_id, uuid)
            return
        size = int(self.volumes.lookup(INTERNAL, volume_id)["size"]) * GiB
        reply = self.call(f"agent.{host}", ExtendAttachedVolume(
            uuid=uuid, volume_id=volume_id, size_bytes=size), AGENT_TIMEOUT)
        if not getattr(reply, "ok", False):
            log.warning("host %s could not resize volume %s of server %s: %s", host,
                        volume_id, uuid, getattr(reply, "error", None) or "no answer")
        else:
            log.info("server %s sees volume %s at %d bytes", uuid, volume_id, size)
