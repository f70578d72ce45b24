"""Live migration (Nova's `os-migrateLive`, and a server's in-progress migrations:
`GET /servers/{id}/migrations[/{mid}]` 2.23, `force_complete` 2.22, abort 2.24).

The API checks what Nova's conductor and the hosts pre-check (a target that is the
source, unknown, down or disabled, of another driver or without room, a host that
cannot live-migrate, a server whose disks are local asked to move without block
migration: 400; a server in the wrong state: 409), then in Placement, in one
transaction, moves the server's allocations to the migration consumer on the
source and claims the flavor on the target (as a resize does). The server's row
says task_state `migrating`, a migration record of type `live-migration` starts
`queued`, and the source's agent is asked to move it (agent/live_migration.py).
The conductor writes what the source reports (`progress`), and at the end
(`finish`): completed moves the server's host and gives the source's resources
back; failed or cancelled leaves it where it was and gives the target's back.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.bus.live_migration import (
    LiveMigrateInstance,
    LiveMigrationControl,
    LiveMigrationState,
)
from overcast.compute import migrations, states
from overcast.compute import models as m
from overcast.compute.capabilities import host_can
from overcast.compute.hosts import provider_uuid
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService

#: the statuses of a live migration still under way (Nova's in-progress ones)
IN_PROGRESS = ("queued", "preparing", "running")
#: Nova's counters, shown on a server's migration
COUNTERS = ("memory_total_bytes", "memory_processed_bytes", "memory_remaining_bytes",
            "disk_total_bytes", "disk_processed_bytes", "disk_remaining_bytes")


def precheck(message: str) -> BadRequest:
    """Nova's MigrationPreCheckError (400)."""
    return BadRequest(f"Migration pre-check error: {message}")


class LiveMigrations:
    def __init__(self, compute: ComputeService) -> None:
        self.compute = compute
        self.db = compute.db

    # ------------------------------------------------------------- start
    def start(self, ctx: RequestContext, uuid: str, host: str | None,
              block_migration: bool | str) -> None:
        """os-migrateLive: checks, claims, records, and asks the source to move it."""
        compute = self.compute
        placement = compute._placement()
        with self.db.session() as s:
            inst = compute.get_instance(s, ctx, uuid)
            states.check("os-migrateLive", uuid, inst.vm_state, inst.task_state)
            source = inst.host
            if source is None:
                raise Conflict(f"Cannot 'os-migrateLive' instance {uuid}: it has no host.")
            if not host_can(s, source, "live_migration"):
                raise precheck(f"the driver of host {source} cannot live-migrate "
                               f"instance {uuid}.")
            volume_backed = not inst.image_ref  # booted from a volume, as in Nova
            if block_migration == "auto":
                block_migration = not volume_backed
            if not block_migration and not volume_backed:
                raise precheck(f"Instance {uuid} has local disks: it is not on shared "
                               "storage. Shared storage live-migration requires either "
                               "shared storage or boot-from-volume with no local disks.")
            services = {svc.host: svc for svc in s.scalars(select(m.Service).where(
                m.Service.binary == "nova-compute"))}
            flavor = dict(inst.flavor)
            project, user, zone = inst.project_id, inst.user_id, inst.availability_zone
        src_driver = services[source].driver if source in services else None
        resources = {"VCPU": int(flavor["vcpus"]), "MEMORY_MB": int(flavor["ram"])}
        if int(flavor.get("disk") or 0):
            resources["DISK_GB"] = int(flavor["disk"])
        if host is not None:
            svc = services.get(host)
            if svc is None:
                raise BadRequest(f"Compute host {host} could not be found.")
            if host == source:
                raise BadRequest(f"Unable to migrate instance ({uuid}) to current host "
                                 f"({source}).")
            if not compute.servicegroup.is_up(svc) or svc.disabled:
                raise BadRequest(f"Compute service of {host} is unavailable at this time.")
            candidates = [host]
        else:
            candidates = compute._resize_targets(source, zone, resources)[:-1]
        mig_consumer = compute.migration_consumer(uuid)
        old_allocs = placement.get_allocations(uuid)
        dest = None
        refused: list[str] = []
        for target in candidates:
            svc = services.get(target)
            if svc is None or svc.driver != src_driver or \
                    "live_migration" not in ((svc.resources or {}).get("capabilities") or []):
                refused.append(f"host {target} runs another hypervisor or cannot receive "
                               "live migrations")
                continue
            try:
                placement.set_allocations({
                    mig_consumer: {"allocations": old_allocs, "project_id": project,
                                   "user_id": user},
                    uuid: {"allocations": {provider_uuid(target): resources},
                           "project_id": project, "user_id": user}})
            except Conflict:
                refused.append(f"host {target} has no room")
                continue
            dest = target
            break
        if dest is None:
            if host is not None and refused and "room" not in refused[0]:
                raise precheck(refused[0] + ".")
            raise BadRequest("No valid host was found. " + ("; ".join(refused) or
                                                           "There are not enough hosts "
                                                           "available."))
        try:
            with self.db.transaction() as s:
                inst = compute.get_instance(s, ctx, uuid)
                if inst.host != source:
                    raise Conflict(f"Cannot 'os-migrateLive' instance {uuid}: another "
                                   "action changed it meanwhile.")
                compute._transition(s, inst, "os-migrateLive")
                mig = m.Migration(uuid=str(uuidlib.uuid4()), instance_uuid=uuid,
                                  migration_type="live-migration", source_compute=source,
                                  dest_compute=dest, old_flavor_id=inst.flavor_id,
                                  new_flavor_id=inst.flavor_id, status="queued",
                                  progress={}, **migrations.owner(ctx))
                s.add(mig)
                compute.record_action(s, ctx, uuid, "live-migration",
                                      "compute_live_migration")
                s.flush()
                spec = compute._spec(inst)
                mig_id = mig.id
        except (Conflict, NotFound):
            placement.set_allocations({
                uuid: {"allocations": old_allocs, "project_id": project, "user_id": user},
                mig_consumer: {"allocations": {}}})
            raise
        compute.cast(f"agent.{source}", LiveMigrateInstance(
            uuid=uuid, dest=dest, migration_id=mig_id, block_migration=bool(block_migration),
            instance=spec, request_id=ctx.request_id))

    # ------------------------------------------------------ in progress
    def _in_progress(self, s: Session, ctx: RequestContext, uuid: str,
                     mig_id: int | None = None) -> list[m.Migration]:
        self.compute.get_instance(s, ctx, uuid)
        q = select(m.Migration).where(m.Migration.instance_uuid == uuid,
                                      m.Migration.migration_type == "live-migration",
                                      m.Migration.status.in_(IN_PROGRESS))
        if mig_id is not None:
            q = q.where(m.Migration.id == mig_id)
        return list(s.scalars(q.order_by(m.Migration.id)))

    def list(self, ctx: RequestContext, uuid: str) -> list[m.Migration]:
        with self.db.session() as s:
            return self._in_progress(s, ctx, uuid)

    def show(self, ctx: RequestContext, uuid: str, mig_id: int) -> m.Migration:
        with self.db.session() as s:
            found = self._in_progress(s, ctx, uuid, mig_id)
        if not found:
            raise NotFound(f"In-progress live migration {mig_id} is not found for "
                           f"server {uuid}.")
        return found[0]

    def control(self, ctx: RequestContext, uuid: str, mig_id: int, action: str,
                allowed: tuple[str, ...]) -> None:
        """force_complete or abort (`allowed`: the migration statuses it may act in)."""
        with self.db.session() as s:
            inst = self.compute.get_instance(s, ctx, uuid)
            if action == "force_complete":
                states.check("os-migrateLive", uuid, inst.vm_state, None,
                             "force_complete")
            if inst.task_state != "migrating":
                label = "force_complete" if action == "force_complete" else \
                    "abort live migration"
                raise Conflict(f"Cannot '{label}' instance {uuid} while it is in "
                               f"task_state {inst.task_state}")
            mig = s.get(m.Migration, mig_id)
            if mig is None or mig.instance_uuid != uuid:
                raise NotFound(f"Migration {mig_id} could not be found.")
            if mig.migration_type != "live-migration" or mig.status not in allowed:
                what = "force_complete" if action == "force_complete" else \
                    "abort live migration"
                raise BadRequest(f"Migration {mig_id} state of instance {uuid} is "
                                 f"{mig.status}. Cannot {what} while the migration is in "
                                 "this state.")
            source = mig.source_compute
        self.compute.cast(f"agent.{source}", LiveMigrationControl(uuid=uuid, action=action))

    # ------------------------------------------------------ from the source
    def report(self, msg: LiveMigrationState) -> None:
        """The conductor's part: write what the source says, and finish."""
        placement = self.compute._placement()
        mig_consumer = self.compute.migration_consumer(msg.uuid)
        done = msg.status in ("completed", "failed", "cancelled")
        if done and msg.status != "completed":
            # back where it was: the source's resources are the server's again (a
            # server deleted meanwhile holds nothing any more)
            with self.db.session() as s:
                inst = s.get(m.Instance, msg.uuid)
                gone = inst is None or inst.deleted
                project = inst.project_id if inst else ""
                user = inst.user_id if inst else ""
            held = placement.get_allocations(mig_consumer)
            if gone:
                placement.release(mig_consumer)
            elif held:
                placement.set_allocations({
                    msg.uuid: {"allocations": held, "project_id": project,
                               "user_id": user},
                    mig_consumer: {"allocations": {}}})
        with self.db.transaction() as s:
            mig = s.get(m.Migration, msg.migration_id)
            inst = s.get(m.Instance, msg.uuid)
            if mig is None or mig.status not in IN_PROGRESS:
                return  # a late or repeated report
            mig.progress = {**(mig.progress or {}), **msg.progress}
            mig.updated_at = utcnow()
            if not done:
                mig.status = msg.status
                return
            mig.status = {"completed": "completed", "cancelled": "cancelled"}.get(
                msg.status, "error")
            if inst is None or inst.deleted:
                return
            if msg.status == "completed":
                inst.host = msg.dest
            inst.task_state = None
            inst.power_state = msg.power_state or inst.power_state
            inst.updated_at = utcnow()
            self._finish_event(s, msg.uuid, "Success" if msg.status == "completed"
                               else "Error", msg.error)
        if msg.status == "completed":
            placement.release(mig_consumer)
            if self.compute.network is not None:
                self.compute.network.bind_for_instance(msg.uuid, msg.dest)

    @staticmethod
    def _finish_event(s: Session, uuid: str, result: str, error: str | None) -> None:
        act = s.scalar(select(m.InstanceAction).where(
            m.InstanceAction.instance_uuid == uuid,
            m.InstanceAction.action == "live-migration").order_by(
                m.InstanceAction.id.desc()))
        if act is None:
            return
        for ev in s.scalars(select(m.InstanceActionEvent).where(
                m.InstanceActionEvent.action_id == act.id,
                m.InstanceActionEvent.finish_time.is_(None))):
            ev.finish_time, ev.result = utcnow(), result
            if error:
                ev.traceback = error
        if error:
            act.message = "Error"


def view(mig: m.Migration, uuid_field: bool, owner_fields: bool) -> dict[str, Any]:
    """A server's live migration as Nova shows it (2.23; `uuid` from 2.59, user and
    project from 2.80)."""
    progress = mig.progress or {}
    body: dict[str, Any] = {
        "id": mig.id, "server_uuid": mig.instance_uuid, "status": mig.status,
        "source_compute": mig.source_compute, "source_node": mig.source_compute,
        "dest_compute": mig.dest_compute, "dest_node": mig.dest_compute, "dest_host": None,
        "created_at": mig.created_at.isoformat(timespec="microseconds"),
        "updated_at": mig.updated_at.isoformat(timespec="microseconds")
        if mig.updated_at else None,
        **{k: int(progress.get(k) or 0) for k in COUNTERS}}
    if uuid_field:
        body["uuid"] = mig.uuid
    if owner_fields:
        body["user_id"], body["project_id"] = mig.user_id, mig.project_id
    return body
