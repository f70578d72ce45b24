"""The conductor and scheduler: the control plane's side of the bus.

- `ScheduleInstances`: for each instance, ask Placement for allocation
  candidates, filter hosts (service up and enabled, availability zone, server
  group (anti-)affinity), weigh them (spread: most free RAM first; pack as an
  option), claim atomically and retry the next host on a lost race, then cast
  `SpawnInstance` to the chosen agent. No host: the instance goes to ERROR with
  a fault saying which resources or filters ruled the hosts out. The instances
  are queued and scheduled in batches (`compute/batch.py`: one read, one claim
  transaction, one write of the hosts for a burst); this module's one-at-a-time
  path (`_schedule_one`) is the batch's fallback.
- `InstanceState` and the agents' other reports arrive on `conductor.reports`.
- `InstanceState`: write what an agent reports (vm/power state, faults, events);
  a finished delete releases the allocations and marks the row deleted.
- `HostHeartbeat`: register/refresh the compute service and its Placement
  provider and inventory. A heartbeat that says nothing new (same driver and
  resources as the last one) only marks its host seen: the marks are written
  together, one UPDATE for every host seen in the last HEARTBEAT_FLUSH seconds, so
  a thousand hosts cost a statement a second, not a thousand transactions.
- `DesiredState` (call): the instances an agent should have.
- At start it reconciles: instances left in scheduling are scheduled again,
  deletes in flight whose host is gone are finished, so nothing stays in BUILD.

It is given the ports it uses (`placement`, `network`, `image`; see `ports.py`) and
shares with the API service only `hosts` and `instances`, never its private parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid as uuidlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from overcast.bus import REPORTS, Bus
from overcast.bus.live_migration import LiveMigrationState
from overcast.bus.messages import (
    DesiredInstancesReply,
    DesiredState,
    Evacuated,
    EvacuatedReply,
    EvacuateInstance,
    Fenced,
    HostHeartbeat,
    InstanceSpec,
    InstanceState,
    Message,
    PowerAction,
    ScheduleInstances,
    SnapshotReady,
    SpawnInstance,
)
from overcast.compute import device_tags, metadata, power_sync, states
from overcast.compute import models as m
from overcast.compute.audit import AuditReport, audit
from overcast.compute.backups import rotate
from overcast.compute.batch import Batcher
from overcast.compute.evacuate import Evacuator
from overcast.compute.hosts import NoValidHost, provider_uuid
from overcast.compute.instances import INTERNAL, finish_delete, instance_spec
from overcast.compute.ports import ImagePort, NetworkPort, PlacementPort
from overcast.compute.service import ComputeService
from overcast.compute.shelve import (
    SHELVED_OFFLOADED,
    forget_shelved_image,
    pinned_zone,
    shelved_image_id,
)
from overcast.db import Database, utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import Conflict

__all__ = ["ALLOCATION_RATIOS", "Conductor", "NoValidHost", "provider_uuid"]

log = logging.getLogger("overcast.conductor")

#: Nova's power_state of a stopped guest
SHUTDOWN = 4

#: Seconds after which a host's unchanged inventory is written to Placement again.
INVENTORY_REFRESH = 300.0
#: Seconds a schedule may use the candidates Placement gave an earlier one (_candidates).
CANDIDATES_TTL = 1.0
#: marks a NoValidHost found on a snapshot of the candidates (tried again afresh)
SNAPSHOT = object()
#: Seconds between writes of the hosts seen (a host is down after Nova's
#: service_down_time, 60 s by default, without one: a second late changes nothing).
HEARTBEAT_FLUSH = 1.0

ALLOCATION_RATIOS = {"VCPU": 4.0, "MEMORY_MB": 1.0, "DISK_GB": 1.0}


def _runs(driver: str, kind: str) -> bool:
    """Whether a host whose driver is `driver` boots images of `kind` (Nova's
    ImagePropertiesFilter on hypervisor_type, by container format here): the fake
    driver pretends to boot anything."""
    if driver == "container":
        return kind == "container"
    if driver == "qemu":
        return kind == "vm"
    return True


class Conductor:
    def __init__(self, db: Database, bus: Bus, compute: ComputeService,
                 placement: PlacementPort, *, weigher: str = "spread",
                 network: NetworkPort | None = None, image: ImagePort | None = None,
                 audit_interval: float = 0.0) -> None:
        self.db = db
        self.bus = bus
        self.compute = compute
        self.placement = placement
        self.weigher = weigher
        self.network = network
        self.image = image
        self.audit_interval = audit_interval
        self._auditor: asyncio.Task[None] | None = None
        self._reclaimer: asyncio.Task[None] | None = None
        #: host -> (what its last full heartbeat said, when) (see _heartbeat)
        self._last_beat: dict[str, tuple[Any, float]] = {}
        #: evacuation and fencing (compute/evacuate.py)
        self.evacuator = Evacuator(self)
        #: hosts whose heartbeat said nothing new since the last flush (_flush_beats)
        self._seen: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None
        #: resources asked -> (when, candidates, their free RAM) (_candidates)
        self._snapshots: dict[tuple[Any, ...], tuple[float, list[Any], dict[str, float]]] = {}
        #: image -> its kind (_image_kind)
        self._image_kinds: dict[str, str] = {}
        #: host -> MEMORY_MB being claimed there now by a concurrent schedule (_place):
        #: the weigher counts it as used, so a burst scheduled at once is spread
        #: instead of every schedule picking the same best host before any claimed
        self._claiming: dict[str, int] = {}
        self._claiming_lock = threading.Lock()
        #: schedules a burst's instances together (compute/batch.py)
        self.batcher = Batcher(self)

    async def start(self) -> None:
        await self.bus.subscribe("conductor", self.handle)
        # the agents' instance-state reports have a topic (and consumer) of their
        # own: a boot's end is not queued behind a burst's schedules
        await self.bus.subscribe(REPORTS, self.handle)
        self._flusher = asyncio.get_running_loop().create_task(self._flush_beats_forever())
        await asyncio.to_thread(self._recover)
        self.batcher.start()  # after the recovery: one scheduler at a time
        self._auditor = asyncio.get_running_loop().create_task(self._audit_forever())
        if self.compute.deferred.interval > 0:
            self._reclaimer = asyncio.get_running_loop().create_task(
                self._reclaim_forever())

    async def stop(self) -> None:
        await self.batcher.stop()
        for task in (self._auditor, self._reclaimer, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _reclaim_forever(self) -> None:
        """Delete soft-deleted servers once their reclaim interval is over (Nova's
        `_reclaim_queued_deletes` periodic task), checking every interval (at most
        every minute)."""
        every = max(1.0, min(self.compute.deferred.interval, 60.0))
        while True:
            await asyncio.sleep(every)
            try:
                done = await asyncio.to_thread(self.compute.deferred.reclaim)
                if done:
                    log.info("reclaimed %d soft-deleted servers", done)
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("reclaiming soft-deleted servers failed")

    def audit(self) -> AuditReport:
        """Release what belongs to no live server (see compute/audit.py)."""
        return audit(self.db, self.placement, self.network)

    async def _audit_forever(self) -> None:
        while True:
            try:
                report = await asyncio.to_thread(self.audit)
                if report.fixed:
                    log.warning("audit fixed %d leftovers", report.fixed)
            except Exception:  # noqa: BLE001 - the next audit tries again
                log.exception("audit failed")
            if self.audit_interval <= 0:
                return
            await asyncio.sleep(self.audit_interval)

    async def handle(self, msg: Message) -> Any:
        if isinstance(msg, ScheduleInstances):
            self.batcher.submit(msg.uuids)  # see compute/batch.py
            return None
        if isinstance(msg, InstanceState):
            await asyncio.to_thread(self._instance_state, msg)
            if msg.event == "rebuild":
                await asyncio.to_thread(self.evacuator.rebuilt, msg.uuid, msg.host, msg.error)
            return None
        if isinstance(msg, EvacuateInstance):
            await asyncio.to_thread(self.evacuator.run, msg)
            return None
        if isinstance(msg, Evacuated):
            return EvacuatedReply(uuids=await asyncio.to_thread(self.evacuator.evacuated_from,
                                                                msg.host))
        if isinstance(msg, Fenced):
            await asyncio.to_thread(self.evacuator.fenced, msg.host, msg.uuids)
            return None
        if isinstance(msg, SnapshotReady):
            await asyncio.to_thread(self._snapshot_ready, msg)
            return None
        if isinstance(msg, HostHeartbeat):
            if not self._beat_unchanged(msg):
                await asyncio.to_thread(self._heartbeat, msg)
            return None
        if isinstance(msg, LiveMigrationState):
            await asyncio.to_thread(self.compute.live_migrations.report, msg)
            return None
        if isinstance(msg, DesiredState):
            return DesiredInstancesReply.of(await asyncio.to_thread(self._desired, msg.host))
        log.warning("conductor ignored %s", msg.kind)
        return None

    # ---------------------------------------------------------- recovery
    def _recover(self) -> None:
        try:
            if self.compute.server_volumes.recover():
                log.warning("ended volume attachments a crash left half done")
        except Exception:  # noqa: BLE001 - the volume service may not be up yet
            log.exception("could not recover volume attachments")
        with self.db.session() as s:
            pending = list(s.scalars(select(m.Instance.uuid).where(
                m.Instance.deleted.is_(False), m.Instance.host.is_(None),
                (m.Instance.vm_state == states.BUILDING) |
                (m.Instance.task_state == "unshelving"))))
        for uuid in pending:
            self._schedule_one(uuid)

    # -------------------------------------------------------- scheduling
    def spec(self, inst: m.Instance) -> InstanceSpec:
        """What the driver needs (see `instances.instance_spec`)."""
        return instance_spec(inst, self.image, self.network,
                             self.compute.server_volumes.devices(inst.uuid))

    def _schedule_one(self, uuid: str) -> None:
        t0 = time.perf_counter()
        with self.db.session() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or inst.deleted or inst.host is not None or \
                    not (inst.vm_state == states.BUILDING or inst.task_state == "unshelving"):
                return
            flavor = dict(inst.flavor)
            project_id, user_id = inst.project_id, inst.user_id
            # a build goes to the zone it asked for; an unshelve to the one the server
            # is pinned to (none: any zone, as Nova)
            az = pinned_zone(inst) if inst.task_state == "unshelving" else \
                inst.availability_zone
            forced_host = None
            if inst.requested_az and ":" in inst.requested_az:
                forced_host = inst.requested_az.split(":", 1)[1] or None
            group = s.get(m.ServerGroup, inst.server_group) if inst.server_group else None
            image_ref = inst.image_ref
            group_policy = group.policy if group else None
            group_hosts: set[str] = set()
            if group is not None:
                members = s.scalars(select(m.ServerGroupMember.instance_uuid).where(
                    m.ServerGroupMember.group_uuid == group.uuid,
                    m.ServerGroupMember.instance_uuid != uuid))
                on = [h for h in s.scalars(select(m.Instance.host).where(
                    m.Instance.uuid.in_(list(members)), m.Instance.deleted.is_(False)))
                    if h]
                # anti-affinity: a host is ruled out once it holds max_server_per_host
                # members (2.64's rule; 1 without it)
                most = int((group.rules or {}).get("max_server_per_host", 1)) \
                    if group_policy == "anti-affinity" else 1
                group_hosts = {h for h in on if on.count(h) >= most}
            # only the columns the filters read, as plain rows (attributes named as
            # the Service's): at a thousand hosts, loading them as objects with
            # their resources was the largest part of each schedule
            services = {svc.host: svc for svc in s.execute(select(
                m.Service.host, m.Service.zone, m.Service.driver, m.Service.disabled,
                m.Service.forced_down, m.Service.last_seen_at).where(
                m.Service.binary == "nova-compute"))}
            # a volume-backed server's root disk is its volume: nothing on the host
            volume_backed = s.scalar(select(m.BlockDeviceMapping.id).where(
                m.BlockDeviceMapping.instance_uuid == uuid,
                m.BlockDeviceMapping.boot_index == 0).limit(1)) is not None
        # A crash between an earlier claim and writing the host leaves a claim behind.
        self.placement.release(uuid)
        resources = {"VCPU": int(flavor["vcpus"]), "MEMORY_MB": int(flavor["ram"])}
        if int(flavor.get("disk") or 0) and not volume_backed:
            resources["DISK_GB"] = int(flavor["disk"])
        kind = self._image_kind(image_ref)
        try:
            host = self._place(uuid, resources, project_id, user_id, services, az, forced_host,
                               group_policy, group_hosts, kind)
        except NoValidHost as exc:
            self._fail(uuid, f"No valid host was found. {exc}")
            return
        placed = self._record_host(uuid, host, services[host].zone)
        if placed is None:
            # Deleted while it was being scheduled: give the claim back, after the
            # transaction (a second one inside it would wait on its own lock).
            self.placement.release(uuid)
            return
        spec, requested, project_id = placed
        if self._prepare_placed(uuid, host, services[host].driver, spec, requested,
                                project_id, user_id, volume_backed) is None:
            return
        if self._deleted(uuid):
            self.compute.server_volumes.release(uuid)
            return
        self.compute.cast(f"agent.{host}", SpawnInstance(instance=asdict(spec)))
        log.info("scheduled %s on %s in %.1f ms", uuid, host,
                 (time.perf_counter() - t0) * 1000)

    def _prepare_placed(self, uuid: str, host: str, driver: str | None, spec: InstanceSpec,
                        requested: Any, project_id: str, user_id: str, volume_backed: bool,
                        has_volumes: bool = True) -> InstanceSpec | None:
        """What a placed instance needs before its host builds it: its ports (on
        the host's kind of interface) and its volumes, in `spec`. None when it could
        not be made (the instance is failed, or was deleted meanwhile and what was
        made for it given back). `has_volumes` False: it has no block device mapping
        (the batch knows; the read is skipped)."""
        if self.network is not None and requested:
            try:
                vif = "veth" if driver == "container" else "tap"
                spec.ports = self.network.allocate_for_instance(uuid, project_id, requested,
                                                                host, vif)
                if any(e.get("tag") for e in requested):
                    with self.db.transaction() as s:
                        row = s.get(m.Instance, uuid)
                        if row is not None:
                            device_tags.record(row, requested, spec.ports)
                spec.documents["network_data.json"] = metadata.network_data(spec.ports)
            except Exception as exc:  # noqa: BLE001
                self._fail(uuid, f"Build of instance {uuid} aborted: networking failed: {exc}")
                return None
            if self._deleted(uuid):
                # Deleted while its ports were made: the delete has already released
                # what it saw, so these ports and the claim are given back here.
                self.network.release_for_instance(uuid)
                self.placement.release(uuid)
                return None
        if not has_volumes:
            return spec
        owner = RequestContext(project_id=project_id, user_id=user_id, roles=["member"])
        try:
            devices = self.compute.server_volumes.prepare(uuid, host, owner)
            if devices:
                spec.block_devices = devices
                if volume_backed:
                    spec.image = self.compute.server_volumes.boot_volume_image(
                        owner, uuid) or spec.image
        except Exception as exc:  # noqa: BLE001 - the user must see why
            log.exception("volumes of %s could not be prepared", uuid)
            self._fail(uuid, f"Build of instance {uuid} aborted: Block Device Mapping is "
                             f"Invalid: {exc}")
            return None
        return spec

    def _deleted(self, uuid: str) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(m.Instance.deleted).where(m.Instance.uuid == uuid)))

    def _record_host(self, uuid: str, host: str, zone: str | None
                     ) -> tuple[Any, Any, str] | None:
        """Write the chosen host; None if the server was deleted meanwhile."""
        with self.db.transaction() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or inst.deleted:
                return None
            inst.host = host
            inst.availability_zone = zone
            inst.task_state = "spawning"
            inst.updated_at = utcnow()
            spec = self.spec(inst)
            shelved_image = shelved_image_id(inst)
            if shelved_image and self.image is not None:
                # unshelving: the server comes back from the image its shelve wrote
                spec.image_ref = shelved_image
                spec.image = self.image.lookup(INTERNAL, shelved_image)
            return spec, inst.requested_networks, inst.project_id

    def _image_kind(self, image_ref: str) -> str:
        """"container" for OCI images (container_format docker), "vm" for the rest,
        "" when unknown (no image service): what kind of host can boot it. Kept per
        image: a bootable (active) image's container format no longer changes."""
        if not image_ref or self.image is None:
            return ""
        if image_ref in self._image_kinds:
            return self._image_kinds[image_ref]
        try:
            image = self.image.lookup(INTERNAL, image_ref)
        except Exception:  # noqa: BLE001 - the build fails later with a clear fault
            return ""
        kind = "container" if image.get("container_format") == "docker" else "vm"
        if image.get("status") == "active":
            if len(self._image_kinds) > 10000:
                self._image_kinds.clear()
            self._image_kinds[image_ref] = kind
        return kind

    def _candidates(self, resources: dict[str, int], fresh: bool
                    ) -> tuple[list[Any], dict[str, float], bool]:
        """Placement's candidates for `resources` with their free RAM, and whether
        they come from the snapshot of a schedule less than CANDIDATES_TTL ago (a
        burst of boots of one flavor reads them once a second, not once a boot;
        claims made since are taken off the snapshot's free RAM, and a claim on a
        host that filled up meanwhile fails and the next host is tried)."""
        key = tuple(sorted(resources.items()))
        now = time.monotonic()
        with self._claiming_lock:
            snap = self._snapshots.get(key)
            if not fresh and snap is not None and now - snap[0] < CANDIDATES_TTL:
                return snap[1], snap[2], True
        candidates = list(self.placement.allocation_candidates(resources, limit=1000))
        free_ram = self.placement.free([c.root_uuid for c in candidates], "MEMORY_MB") \
            if candidates else {}
        with self._claiming_lock:
            if candidates:  # never keep "no host": a freed host is seen at once
                self._snapshots[key] = (now, candidates, free_ram)
            else:
                self._snapshots.pop(key, None)
        return candidates, free_ram, False

    def _place(self, uuid: str, resources: dict[str, int], project_id: str, user_id: str,
               services: dict[str, Any], az: str | None, forced_host: str | None,
               group_policy: str | None, group_hosts: set[str], kind: str = "") -> str:
        try:
            return self._place_once(uuid, resources, project_id, user_id, services, az,
                                    forced_host, group_policy, group_hosts, kind, False)
        except NoValidHost as exc:
            if not exc.args or exc.args[-1] is not SNAPSHOT:
                raise
        # the snapshot found no host: ask Placement what is true now
        return self._place_once(uuid, resources, project_id, user_id, services, az,
                                forced_host, group_policy, group_hosts, kind, True)

    def _place_once(self, uuid: str, resources: dict[str, int], project_id: str,
                    user_id: str, services: dict[str, Any], az: str | None,
                    forced_host: str | None, group_policy: str | None,
                    group_hosts: set[str], kind: str, fresh: bool) -> str:
        candidates, free_ram, snapped = self._candidates(resources, fresh)
        try:
            return self._choose(uuid, resources, project_id, user_id, services, az,
                                forced_host, group_policy, group_hosts, kind, candidates,
                                free_ram)
        except NoValidHost as exc:
            if snapped:
                raise NoValidHost(*exc.args, SNAPSHOT) from exc
            raise

    def _choose(self, uuid: str, resources: dict[str, int], project_id: str, user_id: str,
                services: dict[str, Any], az: str | None, forced_host: str | None,
                group_policy: str | None, group_hosts: set[str], kind: str,
                candidates: list[Any], free_ram: dict[str, float]) -> str:
        """Filter and weigh the candidates, claim on the best host that takes it."""
        hosts = self._eligible(resources, services, az, forced_host, group_policy,
                               group_hosts, kind, candidates)
        return self._claim_best(uuid, resources, project_id, user_id, group_policy,
                                group_hosts, hosts, free_ram)

    def _eligible(self, resources: dict[str, int], services: dict[str, Any], az: str | None,
                  forced_host: str | None, group_policy: str | None, group_hosts: set[str],
                  kind: str, candidates: list[Any]
                  ) -> list[tuple[str, dict[str, dict[str, int]]]]:
        """The candidates' hosts the filters keep, with their allocations; NoValidHost
        saying what ruled the others out when none is kept."""
        if not candidates:
            raise NoValidHost(f"There are not enough hosts available: no host has free "
                              f"{', '.join(f'{k}={v}' for k, v in resources.items())}.")
        by_provider = {provider_uuid(h): h for h in services}
        reasons: dict[str, int] = {}
        hosts: list[tuple[str, dict[str, dict[str, int]]]] = []
        for c in candidates:
            host = by_provider.get(c.root_uuid)
            why = None
            if host is None:
                why = "not a compute host"
            elif not self.compute.servicegroup.is_up(services[host]):
                why = "ComputeFilter (service down)"
            elif services[host].disabled:
                why = "ComputeFilter (service disabled)"
            elif az and services[host].zone != az:
                why = "AvailabilityZoneFilter"
            elif forced_host and host != forced_host:
                why = "forced host"
            elif kind and not _runs(services[host].driver, kind):
                why = "ImagePropertiesFilter"
            elif group_policy == "anti-affinity" and host in group_hosts:
                why = "ServerGroupAntiAffinityFilter"
            elif group_policy == "affinity" and group_hosts and host not in group_hosts:
                why = "ServerGroupAffinityFilter"
            if why:
                reasons[why] = reasons.get(why, 0) + 1
                continue
            assert host is not None
            hosts.append((host, c.allocations))
        if not hosts:
            detail = ", ".join(f"{k} ruled out {n} host(s)" for k, n in sorted(reasons.items()))
            raise NoValidHost(f"There are not enough hosts available: {detail}.")
        return hosts

    def _claim_best(self, uuid: str, resources: dict[str, int], project_id: str,
                    user_id: str, group_policy: str | None, group_hosts: set[str],
                    hosts: list[tuple[str, dict[str, dict[str, int]]]],
                    free_ram: dict[str, float]) -> str:
        """Claim on the best of `hosts` (weighed), the next on a lost race."""
        weight = self._weigher(group_policy, group_hosts, free_ram)
        ram = int(resources.get("MEMORY_MB", 0))
        while hosts:
            with self._claiming_lock:
                hosts.sort(key=weight)
                host, allocations = hosts.pop(0)
                self._claiming[host] = self._claiming.get(host, 0) + ram
            try:
                self.placement.claim(uuid, allocations, project_id=project_id,
                                     user_id=user_id)
                rp = provider_uuid(host)
                with self._claiming_lock:  # the snapshot's free RAM follows its claims
                    free_ram[rp] = free_ram.get(rp, 0.0) - ram
                return host
            except Conflict:
                continue  # lost the race for this host: try the next one
            finally:
                with self._claiming_lock:
                    left = self._claiming.pop(host) - ram
                    if left:
                        self._claiming[host] = left
        raise NoValidHost("There are not enough hosts available: every claim lost a race.")

    def _weigher(self, group_policy: str | None, group_hosts: set[str],
                 free_ram: dict[str, float], pending: dict[str, int] | None = None
                 ) -> Any:
        """The sort key of (host, allocations): soft (anti-)affinity first, then
        spread (most free RAM first) or pack; the RAM being claimed by concurrent
        schedules (`_claiming`, read under its lock) and `pending` (chosen in this
        batch, not claimed yet) counts as used."""
        def free(h: str) -> float:
            left = free_ram.get(provider_uuid(h), 0.0) - self._claiming.get(h, 0)
            return left - pending.get(h, 0) if pending else left

        soft = {"soft-anti-affinity": 1, "soft-affinity": -1}.get(group_policy or "", 0)

        def weight(item: tuple[str, Any]) -> tuple[float, float, str]:
            h = item[0]
            group_w = 0.0
            if soft:
                group_w = -soft * (1.0 if h in group_hosts else 0.0)
            spread = free(h) if self.weigher == "spread" else -free(h)
            return (-group_w, -spread, h)

        return weight

    def _fail(self, uuid: str, message: str) -> None:
        log.warning("build of %s failed: %s", uuid, message)
        self.placement.release(uuid)
        with self.db.transaction() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None:
                return
            inst.vm_state, inst.task_state = states.ERROR, None
            inst.fault = {"code": 500, "message": message[:255], "details": message,
                          "created": utcnow().isoformat() + "Z"}
            inst.updated_at = utcnow()
            self._finish_event(s, uuid, "Error", message)

    # ---------------------------------------------------- state reports
    def _finish_event(self, s: Any, uuid: str, result: str, tb: str | None,
                      request_id: str | None = None) -> None:
        q = select(m.InstanceAction).where(m.InstanceAction.instance_uuid == uuid)
        if request_id:
            q = q.where(m.InstanceAction.request_id == request_id)
        act = s.scalar(q.order_by(m.InstanceAction.id.desc()).limit(1))
        if act is None:
            return
        inst = s.get(m.Instance, uuid)
        for ev in s.scalars(select(m.InstanceActionEvent).where(
                m.InstanceActionEvent.action_id == act.id,
                m.InstanceActionEvent.finish_time.is_(None))):
            ev.finish_time, ev.result, ev.traceback = utcnow(), result, tb
            ev.host = ev.host or (inst.host if inst is not None else None)
        if result == "Error":
            act.message = "Error"
        act.updated_at = utcnow()

    def _snapshot_ready(self, msg: SnapshotReady) -> None:
        """Hand the agent's snapshot file to the image service (unless the agent
        uploaded it over HTTP); end the task either way."""
        error = msg.error
        if not error and not msg.uploaded:
            path = Path(msg.path)
            try:
                if self.image is None:
                    raise RuntimeError("the image service is not available")
                self.image.import_file(msg.image_id, path, msg.disk_format)
            except Exception as exc:  # noqa: BLE001 - the user must see why
                log.exception("snapshot %s of %s could not be stored", msg.image_id, msg.uuid)
                error = f"{type(exc).__name__}: {exc}"
            finally:
                path.unlink(missing_ok=True)
        if error and self.image is not None:
            # Nova deletes the image of a failed snapshot rather than leave it queued.
            try:
                self.image.discard(msg.image_id)
            except Exception:  # noqa: BLE001
                log.exception("could not remove the image of failed snapshot %s",
                              msg.image_id)
        with self.db.transaction() as s:
            inst = s.get(m.Instance, msg.uuid)
            if inst is not None and inst.task_state in ("image_snapshot", "image_backup",
                                                        "image_pending_upload",
                                                        "image_uploading"):
                inst.task_state = None
            if inst is not None:
                self._finish_event(s, msg.uuid, "Error" if error else "Success", error,
                                   msg.request_id or None)
                owner = RequestContext(project_id=inst.project_id, user_id=inst.user_id,
                                       roles=["member"])
        if not error and msg.rotation >= 0 and self.image is not None and inst is not None:
            self._rotate_backups(owner, msg)

    def _rotate_backups(self, owner: RequestContext, msg: SnapshotReady) -> None:
        """After a backup is stored: keep the newest `rotation` of its type."""
        assert self.image is not None
        try:
            backup_type = self.image.lookup(INTERNAL, msg.image_id).get("backup_type")
            if backup_type:
                rotate(self.image, owner, msg.uuid, str(backup_type), msg.rotation)
        except Exception:  # noqa: BLE001 - the backup itself is done
            log.exception("backups of %s could not be rotated", msg.uuid)

    def _instance_state(self, msg: InstanceState) -> None:
        if msg.vm_state == states.DELETED or (msg.error and msg.event == "spawn"):
            # Give the allocations back before the row says deleted, so anyone who
            # sees the server gone also sees its resources free.
            self.placement.release(msg.uuid)
            if msg.vm_state == states.DELETED and self.network is not None:
                self.network.release_for_instance(msg.uuid)
            if msg.vm_state == states.DELETED:
                self.compute.server_volumes.release(msg.uuid)
        if not msg.event and not msg.error:
            # A periodic power-state sync: most say nothing new; only a change is
            # written (and moves updated_at, as Nova's power-state sync does).
            with self.db.session() as s:
                power = s.scalar(select(m.Instance.power_state).where(
                    m.Instance.uuid == msg.uuid, m.Instance.deleted.is_(False)))
            if power is None or power == msg.power_state:
                return
        offloaded = msg.event == "shelve" and msg.vm_state == SHELVED_OFFLOADED and \
            not msg.error
        if offloaded:
            # as for a delete: free before the row says so (whoever sees it offloaded
            # sees its resources given back)
            self.placement.release(msg.uuid)
        unshelved_image = None
        sync_stop: PowerAction | None = None
        with self.db.transaction() as s:
            inst = s.get(m.Instance, msg.uuid)
            if inst is None or inst.deleted:
                return
            if msg.event == "lost" and msg.host and inst.host != msg.host:
                # a reconcile that began before the instance left this host (a shelve
                # offload, a resize): the instance is not lost, it is elsewhere
                return
            if not msg.event and not msg.error and msg.host == inst.host and \
                    power_sync.must_stop(inst.vm_state, inst.task_state, msg.power_state):
                # the power-state sync: a guest that stopped or crashed on its own is
                # stopped (compute/power_sync.py), unless the report may be older than
                # the server's last change (then the next reconcile says it again)
                if not power_sync.settled(inst.updated_at):
                    return
                sync_stop = power_sync.stop(s, inst, msg.power_state)
            if offloaded:  # off its host (its ports stay with it)
                inst.host = None
            if msg.event == "spawn" and not msg.error:
                unshelved_image = forget_shelved_image(inst)
            if msg.vm_state == states.DELETED:
                finish_delete(s, inst)
                self._finish_event(s, msg.uuid, "Success", None)
            elif msg.error and msg.event in ("spawn", "rebuild", "resize"):
                inst.vm_state, inst.task_state = states.ERROR, None
                inst.power_state = msg.power_state
                inst.fault = {"code": 500, "message": msg.error[:255], "details": msg.error,
                              "created": utcnow().isoformat() + "Z"}
                self._finish_event(s, msg.uuid, "Error", msg.error)
            elif inst.task_state == "deleting":
                inst.power_state = msg.power_state  # a late report must not undo a delete
            else:
                inst.power_state = msg.power_state
                if msg.event:
                    if msg.vm_state:
                        if msg.event == "resize" and inst.task_state == "resize_reverting":
                            # reverted: as it was before, running or stopped
                            inst.vm_state = states.STOPPED \
                                if msg.power_state == SHUTDOWN else states.ACTIVE
                        elif msg.event == "resize":
                            inst.vm_state = states.RESIZED
                        else:
                            inst.vm_state = msg.vm_state
                    inst.task_state = None
                    if msg.event == "spawn" and inst.launched_at is None:
                        inst.launched_at = utcnow()
                    self._finish_event(s, msg.uuid, "Error" if msg.error else "Success",
                                       msg.error, msg.request_id or None)
            inst.updated_at = utcnow()
        if sync_stop is not None:
            self.compute.cast(f"agent.{msg.host}", sync_stop)
        if unshelved_image and self.image is not None:
            with contextlib.suppress(Exception):  # gone already: nothing to do
                self.image.discard(unshelved_image)

    @staticmethod
    def _beat_key(msg: HostHeartbeat) -> tuple[Any, ...]:
        """What a heartbeat says that is worth writing: its driver and resources
        (with what the host's driver can do, kept with them: `host_can`)."""
        res = {**msg.resources, "capabilities": sorted(msg.capabilities)}
        return (msg.driver, tuple(sorted((k, str(v)) for k, v in res.items())))

    def _beat_unchanged(self, msg: HostHeartbeat) -> bool:
        """Whether this heartbeat only says "still here" (same driver and resources
        as the last one written, which is recent): then its host is marked seen, to
        be written with the others (_flush_beats), and True; else False (written in
        full: `_heartbeat`)."""
        seen = self._last_beat.get(msg.host)
        if seen is None or seen[0] != self._beat_key(msg) or \
                time.monotonic() - seen[1] >= INVENTORY_REFRESH:
            return False
        self._seen.add(msg.host)
        return True

    async def _flush_beats_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_FLUSH)
            try:
                await self.flush_beats()
            except Exception:  # noqa: BLE001 - the next flush writes them
                log.exception("writing the hosts' heartbeats failed")

    async def flush_beats(self) -> None:
        """Write last_seen_at of every host marked seen, in one statement."""
        hosts, self._seen = self._seen, set()
        if hosts:
            await asyncio.to_thread(self._write_seen, sorted(hosts))

    def _write_seen(self, hosts: list[str]) -> None:
        with self.db.transaction() as s:
            done = s.execute(update(m.Service).where(
                m.Service.host.in_(hosts), m.Service.binary == "nova-compute"
            ).values(last_seen_at=utcnow())).rowcount  # type: ignore[attr-defined]
        if done != len(hosts):
            # some host's service is gone (deleted through the API): its next
            # heartbeat registers it again, in full
            with self.db.session() as s:
                have = set(s.scalars(select(m.Service.host).where(
                    m.Service.host.in_(hosts), m.Service.binary == "nova-compute")))
            for h in set(hosts) - have:
                self._last_beat.pop(h, None)

    def _heartbeat(self, msg: HostHeartbeat) -> None:
        """Register the host's service, or write what changed in its heartbeat, and
        its Placement provider and inventory."""
        res = {**msg.resources, "capabilities": sorted(msg.capabilities)}
        key = self._beat_key(msg)
        now = time.monotonic()
        with self.db.transaction() as s:
            svc = s.scalar(select(m.Service).where(m.Service.host == msg.host,
                                                   m.Service.binary == "nova-compute"))
            if svc is None:
                svc = m.Service(uuid=str(uuidlib.uuid4()), host=msg.host,
                                binary="nova-compute", zone="nova")
                s.add(svc)
            svc.last_seen_at = utcnow()
            svc.driver = msg.driver
            svc.resources = res
            svc.updated_at = utcnow()
        rp = provider_uuid(msg.host)
        self.placement.ensure_provider(rp, msg.host)
        inv = {rc: {"total": int(res[rc]), "allocation_ratio": ALLOCATION_RATIOS[rc],
                    "max_unit": int(res[rc])}
               for rc in ("VCPU", "MEMORY_MB", "DISK_GB") if int(res.get(rc) or 0) > 0}
        self.placement.set_inventory(rp, inv)
        self._last_beat[msg.host] = (key, now)

    def _desired(self, host: str) -> list[dict[str, Any]]:
        # one query for both: every agent asks every resync interval
        with self.db.session() as s:
            out = []
            for inst in s.scalars(select(m.Instance).where(
                    or_(m.Instance.host == host, m.Instance.resize_source_host == host),
                    m.Instance.deleted.is_(False))):
                if inst.host == host:
                    state = "deleting" if inst.task_state == "deleting" else inst.vm_state
                    out.append({"uuid": inst.uuid, "vm_state": state,
                                "power_state": inst.power_state,
                                "instance": asdict(self.spec(inst))})
                if inst.resize_source_host == host:
                    # after its own entry: a resize on the same host is kept as the
                    # resize's source (the agent keeps the last entry of a uuid)
                    out.append({"uuid": inst.uuid, "vm_state": "resize_source"})
            return out
