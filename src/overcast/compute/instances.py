"""What the API service and the conductor both do to an instance row.

`finish_delete` ends a delete (by the API when the host is gone, by the conductor
when the agent reports it); `instance_spec` is what a driver is sent to build,
rebuild or resize an instance. Both import this module; neither imports the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.bus.messages import InstanceSpec
from overcast.compute import metadata, states
from overcast.compute import models as m
from overcast.compute.ports import ImagePort, NetworkPort
from overcast.db import utcnow
from overcast.kit.context import RequestContext

#: The conductor reads images as overcast itself, not as the server's owner.
INTERNAL = RequestContext(internal=True, roles=["admin"])


def finish_delete(s: Session, inst: m.Instance) -> None:
    """Mark the row deleted (DELETED, no task) and drop its server-group membership."""
    now = utcnow()
    inst.vm_state, inst.task_state, inst.power_state = states.DELETED, None, 0
    inst.deleted, inst.deleted_at, inst.terminated_at, inst.updated_at = True, now, now, now
    for mem in s.scalars(select(m.ServerGroupMember).where(
            m.ServerGroupMember.instance_uuid == inst.uuid)):
        s.delete(mem)


def instance_spec(inst: m.Instance, image: ImagePort | None,
                  network: NetworkPort | None,
                  block_devices: list[dict[str, Any]] | None = None) -> InstanceSpec:
    """What the driver needs: the flavor's sizes, the image's record (its format
    and kernel/ramdisk decide how it boots), the ports already made and the volumes
    already connected (`block_devices`)."""
    record: dict[str, Any] = {}
    if inst.image_ref and image is not None:
        try:
            record = image.lookup(INTERNAL, inst.image_ref)
        except Exception:  # noqa: BLE001 - deleted since: the driver's cache may have it
            record = {"id": inst.image_ref}
    ports = network.ports_for_instance(inst.uuid) \
        if network is not None and inst.requested_networks else []
    docs = metadata.documents(inst, ports)
    docs.pop("user_data")  # the spec carries it (base64, as the API took it)
    return InstanceSpec(ports=ports, documents=docs,
        uuid=inst.uuid, name=inst.name, project_id=inst.project_id,
        vcpus=int(inst.flavor["vcpus"]), memory_mb=int(inst.flavor["ram"]),
        root_gb=int(inst.flavor["disk"]), image_ref=inst.image_ref, image=record,
        key_data=inst.key_data, user_data=inst.user_data,
        metadata=dict(inst.metadata_ or {}), config_drive=inst.config_drive,
        block_devices=list(block_devices or []))
