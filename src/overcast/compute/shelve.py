"""Shelving (Nova's `shelve`, `shelveOffload`, `unshelve`): a server put away.

Shelve stops the server and writes its disk out as an image named `<name>-shelved`
(not for a volume-backed server, whose disk is its volume); the host's agent does
both and reports (`ShelveInstance`). With `shelved_offload_time` 0 (Nova's default)
the server is also offloaded at once: removed from its host, its allocations given
back, no host at all (SHELVED_OFFLOADED); otherwise it stays on its host, stopped
(SHELVED), until `shelveOffload`. Its ports and volumes stay with it.

Unshelve starts a SHELVED server where it is; a SHELVED_OFFLOADED one is scheduled
again (any host with room, in the zone it is pinned to: the one asked for at create,
or at the unshelve, 2.77, unpinned by a null one, 2.91; any zone when none was, as
Nova; an admin may name the host, 2.91) and spawned from the
shelved image, which is then deleted, as Nova deletes it. The shelve's image id,
time and host are kept in the server's system_metadata (`shelved_image_id`,
`shelved_at`, `shelved_host`), as in Nova. Every driver can be shelved: it takes only
power_off, snapshot, destroy and spawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.bus.messages import PowerAction, ScheduleInstances, ShelveInstance
from overcast.compute import models as m
from overcast.compute import states
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService

SHELVED, SHELVED_OFFLOADED = "shelved", "shelved_offloaded"
#: unshelve's `new_az` when none was given (the pinned zone stays as it is)
KEEP: Any = object()
#: system_metadata keys a shelve writes
SHELVE_KEYS = ("shelved_image_id", "shelved_at", "shelved_host")


def shelved_image_id(inst: m.Instance) -> str | None:
    return (inst.system_metadata or {}).get("shelved_image_id") or None


def forget_shelved_image(inst: m.Instance) -> str | None:
    """Drop the shelve's keys from the server's system_metadata (it is unshelved or
    deleted); returns the shelved image's id, for the caller to delete."""
    sysmeta = dict(inst.system_metadata or {})
    image_id = sysmeta.get("shelved_image_id")
    if any(k in sysmeta for k in SHELVE_KEYS):
        for k in SHELVE_KEYS:
            sysmeta.pop(k, None)
        inst.system_metadata = sysmeta
    return str(image_id) if image_id else None


class Shelving:
    def __init__(self, compute: ComputeService, offload_time: float) -> None:
        self.compute = compute
        #: 0: offload at once on shelve; otherwise only by shelveOffload
        self.offload_time = offload_time

    def shelve(self, ctx: RequestContext, uuid: str) -> None:
        svc = self.compute
        with svc.db.session() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            states.check("shelve", uuid, inst.vm_state, inst.task_state)
            name = inst.name
        image_id = ""
        if svc.server_volumes.root_volume(uuid) is None and svc.image is not None:
            image_id = svc.snapshot_image(ctx, uuid, f"{name}-shelved")
        try:
            with svc.db.transaction() as s:
                inst = svc.get_instance(s, ctx, uuid)
                svc._transition(s, inst, "shelve")
                sysmeta: dict[str, Any] = dict(inst.system_metadata or {})
                sysmeta.update({"shelved_at": utcnow().isoformat(),
                                "shelved_host": inst.host or ""})
                if image_id:
                    sysmeta["shelved_image_id"] = image_id
                inst.system_metadata = sysmeta
                svc.record_action(s, ctx, uuid, "shelve", "compute_shelve_instance")
                host = inst.host
            if host is None:
                raise Conflict(f"Cannot 'shelve' instance {uuid}: it has no host.")
        except Exception:
            if image_id and svc.image is not None:
                svc.image.discard(image_id)
            raise
        svc.cast(f"agent.{host}", ShelveInstance(uuid=uuid, image_id=image_id,
                                                 offload=self.offload_time == 0,
                                                 request_id=ctx.request_id))

    def shelve_offload(self, ctx: RequestContext, uuid: str) -> None:
        """Remove a SHELVED server from its host now."""
        svc = self.compute
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "shelveOffload")
            svc.record_action(s, ctx, uuid, "shelveOffload",
                              "compute_shelve_offload_instance")
            host = inst.host
        svc.cast(f"agent.{host}", ShelveInstance(uuid=uuid, offload=True,
                                                 request_id=ctx.request_id))

    def unshelve(self, ctx: RequestContext, uuid: str, new_az: Any = KEEP,
                 host: str | None = None) -> None:
        """Start a SHELVED server where it is, or schedule and spawn an offloaded one.
        `new_az` (2.77; None from 2.91: unpin) pins the offloaded server to another
        zone; `host` (2.91, admins) names the host it goes to. Either is for an
        offloaded server only (409), as Nova's checks in this order."""
        svc = self.compute
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            if new_az is not KEEP or host:
                self._pin(s, ctx, inst, new_az, host)
            elif inst.vm_state == SHELVED_OFFLOADED:
                # a host named at create (2.74) or at an earlier unshelve held for
                # that scheduling only (Nova's request spec forgets it)
                inst.requested_az = pinned_zone(inst)
            svc._transition(s, inst, "unshelve")
            svc.record_action(s, ctx, uuid, "unshelve", "compute_unshelve_instance")
            host = inst.host if inst.vm_state == SHELVED else None
            if host is not None:
                image_id = forget_shelved_image(inst)
        if host is None:
            svc.cast("conductor", ScheduleInstances(uuids=[uuid], request_id=ctx.request_id))
            return
        svc.cast(f"agent.{host}", PowerAction(uuid=uuid, action="unshelve",
                                              request_id=ctx.request_id))
        if image_id and svc.image is not None:
            svc.image.discard(image_id)

    def _pin(self, s: Session, ctx: RequestContext, inst: m.Instance, new_az: Any,
             host: str | None) -> None:
        """Check an unshelve's zone and host as Nova checks them, and write where the
        scheduler is to put the server: its pinned zone (`requested_az`, which
        `pinned_zone` reads) and, for this one scheduling, the host."""
        if inst.vm_state != SHELVED_OFFLOADED:
            raise Conflict(f'Specifying an availability zone or a host when unshelving '
                           f'server "{inst.uuid}" with status "{inst.vm_state}" is not '
                           'supported. The server status must be SHELVED_OFFLOADED.')
        zones = {z: d for z, d in s.execute(select(m.Service.zone, m.Service.disabled)
                                           .where(m.Service.binary == "nova-compute"))}
        if new_az is not KEEP and new_az and (new_az not in zones or zones[new_az]):
            raise BadRequest("The requested availability zone is not available")
        zone = pinned_zone(inst) if new_az is KEEP else new_az
        if host:
            if not ctx.is_admin:
                raise Forbidden("Policy doesn't allow os_compute_api:os-shelve:"
                                "unshelve_to_host to be performed.")
            host_zone = s.scalar(select(m.Service.zone).where(
                m.Service.binary == "nova-compute", m.Service.host == host))
            if host_zone is None:
                raise BadRequest(f"Compute host {host} could not be found.")
            if zone is not None and host_zone != zone:
                raise Conflict(f'Host "{host}" is not in the availability zone "{zone}".')
        inst.requested_az = f"{zone or ''}:{host}" if host else zone


def pinned_zone(inst: m.Instance) -> str | None:
    """The zone a server is pinned to (Nova's request spec `availability_zone`,
    2.96's `pinned_availability_zone`): the one asked for at create (or at an
    unshelve, 2.77), None when none was."""
    return (inst.requested_az or "").split(":", 1)[0] or None
