"""Evacuation (Nova's `evacuate` server action) and fencing: a server whose host is
down is rebuilt on another host, and the host, when it comes back, destroys its
copy before it reports up.

The API side (`start`) refuses what Nova refuses (an unknown target host: 404; the
server's own host as target: 400; a host still up: 400 "Compute service of X is
still in use."; the wrong state: 409), then writes the server REBUILD (task_state
`rebuilding`), its instance action, and a migration record of type `evacuation`
in `accepted`, and casts `EvacuateInstance` to the conductor.

The conductor side (`Evacuator.run`) places the server as a build is placed (the
scheduler's filters and weights, the source host left out; a host asked for is
checked by the filters, or taken as is when forced) and claims it there. The
source host's allocations stay with the server (as Nova keeps them) until that
host is fenced: its resources are not handed to anyone while its guest may still
run. The server's ports are bound to the new host, its volumes connected there
(volume-backed servers keep their data), and the new host's agent rebuilds it
(`RebuildInstance`: an image-backed server from its image, as Nova does). The
migration reads `pre-migrating` meanwhile, then `done` (or `failed`); no host at
all leaves the server as it was (task_state cleared, a fault saying why) and the
migration in `error`.

Fencing: an agent that starts asks the conductor which servers were evacuated away
from it (`Evacuated`: migrations from this host in accepted, pre-migrating or done,
Nova's `_destroy_evacuated_instances`), destroys those it still runs (their disks
and devices with them), and says so (`Fenced`): the migrations become `completed`
and the source's share of each server's allocations is given back. Only then does
it take messages and send its first heartbeat.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from dataclasses import asdict
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.bus.messages import EvacuateInstance, RebuildInstance
from overcast.compute import metadata, migrations, states
from overcast.compute import models as m
from overcast.compute.hosts import NoValidHost, compute_services, provider_uuid
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from overcast.compute.conductor import Conductor
    from overcast.compute.service import ComputeService

log = logging.getLogger("overcast.evacuate")

#: the migration statuses of an evacuation the source host must still fence
UNFENCED = ("accepted", "pre-migrating", "done")


def start(compute: ComputeService, ctx: RequestContext, uuid: str, host: str | None,
          force: bool, stop: bool) -> None:
    """Begin evacuating server `uuid` (checks in Nova's order; see the module)."""
    with compute.db.transaction() as s:
        inst = compute.get_instance(s, ctx, uuid)
        if host is not None and host not in compute_services(s):
            raise NotFound(f"Compute host {host} not found.")
        if inst.host == host:
            raise BadRequest("The target host can't be the same one.")
        states.check("rebuild", uuid, inst.vm_state, inst.task_state, "evacuate")
        if inst.host is None:
            raise Conflict(f"Cannot 'evacuate' instance {uuid}: it has no host.")
        if compute.servicegroup.host_up(s, inst.host):
            raise BadRequest(f"Compute service of {inst.host} is still in use.")
        compute._transition(s, inst, "rebuild", "evacuate")
        compute.record_action(s, ctx, uuid, "evacuate", "compute_rebuild_instance")
        s.add(m.Migration(uuid=str(uuidlib.uuid4()), instance_uuid=uuid,
                          migration_type="evacuation", source_compute=inst.host,
                          dest_compute=host, status="accepted", **migrations.owner(ctx)))
        # a stopped server stays stopped, as Nova's rebuild keeps it
        stop = stop or inst.vm_state == states.STOPPED
    compute.cast("conductor", EvacuateInstance(uuid=uuid, host=host, force=force, stop=stop,
                                               request_id=ctx.request_id))


def _migration(s: Session, uuid: str, statuses: tuple[str, ...]) -> m.Migration | None:
    """The server's latest evacuation in one of these statuses."""
    return s.scalar(select(m.Migration).where(
        m.Migration.instance_uuid == uuid, m.Migration.migration_type == "evacuation",
        m.Migration.status.in_(statuses)).order_by(m.Migration.id.desc()).limit(1))


class Evacuator:
    """The conductor's half: place, claim, rebind, rebuild; and fencing's books."""

    def __init__(self, conductor: Conductor) -> None:
        self.cond = conductor
        self.db = conductor.db
        self.placement = conductor.placement

    # ------------------------------------------------------------ evacuate
    def run(self, msg: EvacuateInstance) -> None:
        uuid = msg.uuid
        with self.db.session() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or inst.deleted or inst.task_state != "rebuilding" or \
                    _migration(s, uuid, ("accepted",)) is None:
                return  # deleted meanwhile, or already handled (a redelivered message)
            source, flavor = inst.host, dict(inst.flavor)
            project_id, user_id, az = inst.project_id, inst.user_id, inst.availability_zone
            image_ref = inst.image_ref
            services = compute_services(s)
            volume_backed = s.scalar(select(m.BlockDeviceMapping.id).where(
                m.BlockDeviceMapping.instance_uuid == uuid,
                m.BlockDeviceMapping.boot_index == 0).limit(1)) is not None
        resources = {"VCPU": int(flavor["vcpus"]), "MEMORY_MB": int(flavor["ram"])}
        if int(flavor.get("disk") or 0) and not volume_backed:
            resources["DISK_GB"] = int(flavor["disk"])
        held = self.placement.get_allocations(uuid)
        candidates = {h: svc for h, svc in services.items() if h != source}
        try:
            dest = self._claim(uuid, resources, project_id, user_id, candidates, az,
                               msg.host, msg.force, image_ref)
        except _NoHost as exc:
            self._restore(uuid, held, project_id, user_id)
            self._fail(uuid, f"No valid host was found. {exc}")
            return
        with self.db.session() as s:
            unfenced = _migration(s, uuid, ("accepted",)) is not None
        if unfenced:
            # the source's share stays with the server until the source is fenced
            merged = {**held, **self.placement.get_allocations(uuid)}
            self.placement.set_allocations({uuid: {"allocations": merged,
                                                   "project_id": project_id,
                                                   "user_id": user_id}})
        try:
            self._rebuild_on(uuid, dest, services[dest], project_id, user_id, msg)
        except Exception as exc:  # noqa: BLE001 - the admin must see why
            log.exception("evacuation of %s to %s failed", uuid, dest)
            self._fail(uuid, f"Evacuation of instance {uuid} to {dest} failed: {exc}",
                       migration_status="failed")

    def _claim(self, uuid: str, resources: dict[str, int], project_id: str, user_id: str,
               services: dict[str, m.Service], az: str | None, host: str | None,
               force: bool, image_ref: str) -> str:
        """The new host, claimed for the server (the scheduler's, or `host`)."""
        self.placement.release(uuid)
        if host is not None and force:
            # forced: the scheduler's filters are skipped (Nova's force), not Placement
            if host not in services:
                raise _NoHost(f"Host {host} is not a compute host.")
            if not self.cond.compute.servicegroup.is_up(services[host]):
                # forced past the filters, but not onto a host that cannot build it
                raise _NoHost(f"Host {host} is down.")
            for c in self.placement.allocation_candidates(resources, limit=1000):
                if c.root_uuid == provider_uuid(host):
                    try:
                        self.placement.claim(uuid, c.allocations, project_id=project_id,
                                             user_id=user_id)
                        return host
                    except Conflict:
                        break
            raise _NoHost(f"Host {host} has not enough free resources.")
        try:
            return self.cond._place(uuid, resources, project_id, user_id, services, None,
                                    host, None, set(), self.cond._image_kind(image_ref))
        except NoValidHost as exc:
            raise _NoHost(str(exc)) from exc

    def _rebuild_on(self, uuid: str, dest: str, svc: m.Service, project_id: str,
                    user_id: str, msg: EvacuateInstance) -> None:
        """Move the server's row, ports and volumes to `dest`; ask its agent to build."""
        cond = self.cond
        with self.db.transaction() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or inst.deleted:
                raise RuntimeError("the server was deleted")
            inst.host, inst.availability_zone = dest, svc.zone
            inst.task_state, inst.updated_at = "rebuild_spawning", utcnow()
            mig = _migration(s, uuid, ("accepted", "completed"))
            if mig is not None:
                mig.dest_compute, mig.updated_at = dest, utcnow()
                if mig.status == "accepted":
                    mig.status = "pre-migrating"
            spec = cond.spec(inst)
        if cond.network is not None:
            vif = "veth" if svc.driver == "container" else "tap"
            spec.ports = cond.network.allocate_for_instance(uuid, project_id, [], dest, vif)
            spec.documents["network_data.json"] = metadata.network_data(spec.ports)
        owner = RequestContext(project_id=project_id, user_id=user_id, roles=["member"])
        volumes = cond.compute.server_volumes
        devices = volumes.prepare(uuid, dest, owner)
        if devices:
            spec.block_devices = devices
            spec.image = volumes.boot_volume_image(owner, uuid) or spec.image
        cond.compute.cast(f"agent.{dest}", RebuildInstance(instance=asdict(spec),
                                                           power_on=not msg.stop))

    def _restore(self, uuid: str, held: dict[str, dict[str, int]], project_id: str,
                 user_id: str) -> None:
        if held:
            try:
                self.placement.set_allocations({uuid: {"allocations": held,
                                                       "project_id": project_id,
                                                       "user_id": user_id}})
            except Exception:  # noqa: BLE001 - the audit finds it
                log.exception("could not give %s its allocations back", uuid)

    def _fail(self, uuid: str, message: str, migration_status: str = "error") -> None:
        """The evacuation ends without a new host: the server stays as it was (Nova
        keeps its vm_state), with a fault saying why."""
        log.warning("evacuation of %s failed: %s", uuid, message)
        with self.db.transaction() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None:
                return
            inst.task_state = None
            inst.fault = {"code": 500, "message": message[:255], "details": message,
                          "created": utcnow().isoformat() + "Z"}
            inst.updated_at = utcnow()
            mig = _migration(s, uuid, ("accepted", "pre-migrating"))
            if mig is not None:
                mig.status, mig.updated_at = migration_status, utcnow()
            self.cond._finish_event(s, uuid, "Error", message)

    def rebuilt(self, uuid: str, host: str, error: str | None) -> None:
        """The new host reported its rebuild: the migration is `done` (or `failed`)."""
        with self.db.transaction() as s:
            mig = _migration(s, uuid, ("pre-migrating",))
            if mig is not None and mig.dest_compute == host:
                mig.status, mig.updated_at = ("failed" if error else "done"), utcnow()

    # ------------------------------------------------------------- fencing
    def evacuated_from(self, host: str) -> list[str]:
        """The servers evacuated away from `host` that it has not fenced yet."""
        with self.db.session() as s:
            return sorted(set(s.scalars(select(m.Migration.instance_uuid).where(
                m.Migration.migration_type == "evacuation",
                m.Migration.source_compute == host, m.Migration.status.in_(UNFENCED)))))

    def fenced(self, host: str, uuids: list[str]) -> None:
        """`host` destroyed these evacuated servers: their evacuations are complete and
        what they held on `host` in Placement is given back."""
        gone = provider_uuid(host)
        for uuid in uuids:
            with self.db.transaction() as s:
                for mig in s.scalars(select(m.Migration).where(
                        m.Migration.instance_uuid == uuid,
                        m.Migration.migration_type == "evacuation",
                        m.Migration.source_compute == host,
                        m.Migration.status.in_(UNFENCED))):
                    mig.status, mig.updated_at = "completed", utcnow()
                inst = s.get(m.Instance, uuid)
                moved = inst is not None and not inst.deleted and inst.host != host
                project_id = inst.project_id if inst is not None else ""
                user_id = inst.user_id if inst is not None else ""
            if not moved:
                continue
            allocs = self.placement.get_allocations(uuid)
            if gone in allocs:
                allocs.pop(gone)
                self.placement.set_allocations({uuid: {"allocations": allocs,
                                                       "project_id": project_id,
                                                       "user_id": user_id}})


class _NoHost(Exception):
    pass
