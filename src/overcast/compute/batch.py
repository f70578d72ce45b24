"""Scheduling a burst of boots as one batch (the conductor's `ScheduleInstances`).

Every ScheduleInstances the conductor receives adds its instances to a queue; one
task takes what has gathered whenever the previous batch is done (a boot alone is
scheduled at once; a burst is scheduled in batches of whatever came meanwhile) and
schedules the batch in one pass:

- one read of the instances, the compute services, their volume mappings and
  their server groups' members;
- the filters and the weigher for each instance in memory, on Placement's
  candidates (read once a second per flavor, `Conductor._candidates`), the RAM
  chosen earlier in the batch counted as used (so a burst is spread) and server
  groups honoured across the batch (a member chosen earlier counts where it goes);
- one Placement write for every claim (`set_allocations`: one transaction, each
  consumer new, each provider's capacity checked on the end state);
- one transaction writing the chosen hosts, then the ports and volumes of those
  that asked for them, and the SpawnInstance casts sent together.

Anything uncertain falls back to the one-at-a-time path (`Conductor._schedule_one`:
its claim retries another host on a lost race), which keeps its guarantees: the
batched claim failed (a host filled up meanwhile, a claim left by a crash), an
instance that fits no host on the batch's view (NoValidHost is decided afresh,
per instance, with its fault), unshelving. So a batch never claims twice for one
instance and never overcommits a host: Placement's checks are the same.

A boot alone is a batch of one (the same few statements: it skips the reads the
one-at-a-time path makes to be safe on its own).

A ScheduleInstances is acknowledged once queued: what a crash loses here is in the
database (instances in BUILD without a host), and the conductor schedules those
again at its start (`Conductor._recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from overcast.bus.messages import InstanceSpec, SpawnInstance
from overcast.compute import models as m
from overcast.compute import states
from overcast.compute.hosts import NoValidHost, provider_uuid
from overcast.compute.instances import instance_spec
from overcast.db import utcnow
from overcast.kit.errors import BadRequest, Conflict

if TYPE_CHECKING:
    from overcast.compute.conductor import Conductor

log = logging.getLogger("overcast.conductor")

#: most instances in one batch (one claim transaction, one host-writing transaction)
BATCH_MAX = 200


@dataclass
class _Plan:
    """One instance of the batch, as read, and where it goes."""

    uuid: str
    project_id: str
    user_id: str
    resources: dict[str, int]
    az: str | None
    forced_host: str | None
    group: str | None
    image_ref: str
    volume_backed: bool
    has_volumes: bool
    host: str = ""
    allocations: dict[str, dict[str, int]] | None = None
    free_ram: dict[str, float] | None = None


class _Images:
    """The image service's lookups of one batch, each image read once."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.seen: dict[str, Any] = {}

    def lookup(self, ctx: Any, image_id: str, /) -> dict[str, Any]:
        if image_id not in self.seen:
            try:
                self.seen[image_id] = self.port.lookup(ctx, image_id)
            except Exception as exc:  # noqa: BLE001 - raised again for each instance
                self.seen[image_id] = exc
        found = self.seen[image_id]
        if isinstance(found, Exception):
            raise found
        return dict(found)


class Batcher:
    def __init__(self, conductor: Conductor) -> None:
        self.cond = conductor
        self._queue: list[str] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        #: instances scheduled in batches, and the batches (tests and logs)
        self.scheduled = 0
        self.batches = 0

    # ------------------------------------------------------------ the queue
    def submit(self, uuids: list[str]) -> None:
        """Queue instances to schedule (from the event loop)."""
        self._queue.extend(uuids)
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        self._wake = asyncio.Event()
        if self._queue:
            self._wake.set()
        self._task = asyncio.get_running_loop().create_task(self._run_forever(),
                                                            name="conductor:schedule")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run_forever(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = list(dict.fromkeys(self._queue[:BATCH_MAX]))
                del self._queue[:BATCH_MAX]
                try:
                    await asyncio.to_thread(self.run, batch)
                except Exception:  # noqa: BLE001 - one at a time, each with its own fault
                    log.exception("scheduling a batch of %d failed; one at a time",
                                  len(batch))
                    for uuid in batch:
                        try:
                            await asyncio.to_thread(self.cond._schedule_one, uuid)
                        except Exception:  # noqa: BLE001
                            log.exception("scheduling %s failed", uuid)

    # ------------------------------------------------------------ the batch
    def run(self, uuids: list[str]) -> None:
        """Schedule these instances (in a worker thread)."""
        cond = self.cond
        t0 = time.perf_counter()
        plans, singles, services, groups = self._read(uuids)
        if not plans:
            for uuid in singles:
                cond._schedule_one(uuid)
            return
        marks = [time.perf_counter()]
        chosen = self._choose(plans, services, groups, singles)
        marks.append(time.perf_counter())
        if chosen and not self._claim(chosen):
            singles.extend(p.uuid for p in chosen)
            chosen = []
        marks.append(time.perf_counter())
        specs = self._record(chosen, services) if chosen else []
        marks.append(time.perf_counter())
        ready: list[tuple[_Plan, InstanceSpec]] = []
        for plan, spec, requested in specs:
            built = cond._prepare_placed(plan.uuid, plan.host, services[plan.host].driver,
                                         spec, requested, plan.project_id, plan.user_id,
                                         plan.volume_backed, plan.has_volumes)
            if built is not None:
                ready.append((plan, built))
        # deleted while its ports and volumes were made: not built (the delete has
        # taken the host's share back; the volumes are given back here)
        gone = self._deleted([p.uuid for p, _ in ready])
        sent: list[Future[None]] = []
        hosts: list[tuple[str, str]] = []
        for plan, spec in ready:
            if plan.uuid in gone:
                if plan.has_volumes:
                    cond.compute.server_volumes.release(plan.uuid)
                continue
            sent.append(self._cast(plan.host, spec))
            hosts.append((plan.uuid, plan.host))
        for fut in sent:
            fut.result(30)
        marks.append(time.perf_counter())
        self.batches += 1
        self.scheduled += len(sent)
        ms = (marks[-1] - t0) * 1000
        for uuid, host in hosts:
            log.info("scheduled %s on %s in %.1f ms (a batch of %d)", uuid, host, ms,
                     len(uuids))
        steps = [(b - a) * 1000 for a, b in zip([t0, *marks], marks, strict=False)]
        log.info("batch of %d: %d sent, %d one at a time; read %.0f ms, choose %.0f ms, "
                 "claim %.0f ms, hosts and specs %.0f ms, ports, volumes and casts %.0f ms",
                 len(uuids), len(sent), len(singles), *steps)
        for uuid in singles:
            cond._schedule_one(uuid)

    def _read(self, uuids: list[str]) -> tuple[list[_Plan], list[str], dict[str, Any],
                                                dict[str, tuple[str, dict[str, Any], list[str]]]]:
        """The batch's instances as plans (those the batch takes) and singles (the
        one-at-a-time path's), the compute services, and each server group's
        (policy, rules, hosts of its members placed already)."""
        plans: list[_Plan] = []
        singles: list[str] = []
        with self.cond.db.session() as s:
            rows = {i.uuid: i for i in s.scalars(select(m.Instance).where(
                m.Instance.uuid.in_(uuids)))}
            bdm = m.BlockDeviceMapping
            mapped: dict[str, bool] = {}
            for uuid, boot in s.execute(select(bdm.instance_uuid, bdm.boot_index).where(
                    bdm.instance_uuid.in_(uuids))):
                mapped[uuid] = mapped.get(uuid, False) or boot == 0
            group_ids = {i.server_group for i in rows.values() if i.server_group}
            groups: dict[str, tuple[str, dict[str, Any], list[str]]] = {}
            if group_ids:
                for g in s.scalars(select(m.ServerGroup).where(
                        m.ServerGroup.uuid.in_(group_ids))):
                    groups[g.uuid] = (g.policy, dict(g.rules or {}), [])
                mem = m.ServerGroupMember
                for gid, host in s.execute(
                        select(mem.group_uuid, m.Instance.host)
                        .join(m.Instance, m.Instance.uuid == mem.instance_uuid)
                        .where(mem.group_uuid.in_(group_ids), m.Instance.deleted.is_(False),
                               m.Instance.host.is_not(None))):
                    if gid in groups and host:
                        groups[gid][2].append(host)
            for uuid in uuids:
                inst = rows.get(uuid)
                if inst is None or inst.deleted or inst.host is not None:
                    continue
                if inst.task_state == "unshelving":
                    singles.append(uuid)  # comes back from its shelved image
                    continue
                if inst.vm_state != states.BUILDING:
                    continue
                flavor = inst.flavor
                volume_backed = mapped.get(uuid, False)
                resources = {"VCPU": int(flavor["vcpus"]), "MEMORY_MB": int(flavor["ram"])}
                if int(flavor.get("disk") or 0) and not volume_backed:
                    resources["DISK_GB"] = int(flavor["disk"])
                forced = None
                if inst.requested_az and ":" in inst.requested_az:
                    forced = inst.requested_az.split(":", 1)[1] or None
                if inst.server_group and inst.server_group not in groups:
                    singles.append(uuid)  # its group went away: as the single path does
                    continue
                plans.append(_Plan(
                    uuid=uuid, project_id=inst.project_id, user_id=inst.user_id,
                    resources=resources, az=inst.availability_zone, forced_host=forced,
                    group=inst.server_group, image_ref=inst.image_ref or "",
                    volume_backed=volume_backed, has_volumes=uuid in mapped))
            services = {svc.host: svc for svc in s.execute(select(
                m.Service.host, m.Service.zone, m.Service.driver, m.Service.disabled,
                m.Service.forced_down, m.Service.last_seen_at).where(
                m.Service.binary == "nova-compute"))} if plans else {}
        return plans, singles, services, groups

    def _choose(self, plans: list[_Plan], services: dict[str, Any],
                groups: dict[str, tuple[str, dict[str, Any], list[str]]],
                singles: list[str]) -> list[_Plan]:
        """A host for each plan, in memory; those with none on the batch's view go
        to `singles` (decided afresh there, with their fault when none fits).

        Plans outside server groups that ask the same (resources, zone, forced host,
        kind of image) share one pass of the filters and a heap of their hosts by
        weight, so a burst costs the filters once, not once per instance."""
        cond = self.cond
        pending: dict[str, int] = {}
        chosen: list[_Plan] = []
        shared: dict[tuple[Any, ...], _Hosts | None] = {}
        for plan in plans:
            kind = cond._image_kind(plan.image_ref)
            ram = plan.resources.get("MEMORY_MB", 0)
            picked: tuple[str, dict[str, dict[str, int]], dict[str, float]] | None
            if plan.group:
                picked = self._pick_in_group(plan, services, groups, kind, pending)
            else:
                key = (tuple(sorted(plan.resources.items())), plan.az, plan.forced_host,
                       kind)
                if key not in shared:
                    shared[key] = self._hosts(plan, services, kind, pending)
                view = shared[key]
                picked = view.pop(ram) if view is not None else None
            if picked is None:
                singles.append(plan.uuid)
                continue
            plan.host, plan.allocations, plan.free_ram = picked
            pending[plan.host] = pending.get(plan.host, 0) + ram
            if plan.group:
                groups[plan.group][2].append(plan.host)
            chosen.append(plan)
        return chosen

    def _filtered(self, plan: _Plan, services: dict[str, Any], kind: str,
                  policy: str | None, group_hosts: set[str]
                  ) -> tuple[list[tuple[str, dict[str, dict[str, int]]]],
                             dict[str, float]] | None:
        """The hosts the filters keep for `plan` with the candidates' free RAM, on the
        snapshot of the candidates and, when it keeps none, afresh; None if none."""
        cond = self.cond
        for fresh in (False, True):
            candidates, free_ram, snapped = cond._candidates(plan.resources, fresh)
            try:
                return cond._eligible(plan.resources, services, plan.az, plan.forced_host,
                                      policy, group_hosts, kind, candidates), free_ram
            except NoValidHost:
                if not snapped:
                    return None
        return None

    def _hosts(self, plan: _Plan, services: dict[str, Any], kind: str,
               pending: dict[str, int]) -> _Hosts | None:
        found = self._filtered(plan, services, kind, None, set())
        if found is None:
            return None
        return _Hosts(self.cond, found[0], found[1], pending)

    def _pick_in_group(self, plan: _Plan, services: dict[str, Any],
                       groups: dict[str, tuple[str, dict[str, Any], list[str]]], kind: str,
                       pending: dict[str, int]
                       ) -> tuple[str, dict[str, dict[str, int]], dict[str, float]] | None:
        """The best host for a server group's member, the members placed so far
        (earlier in the batch too) counted as the group's filters and weigher do."""
        cond = self.cond
        policy, rules, on = groups[plan.group or ""]
        most = int(rules.get("max_server_per_host", 1)) if policy == "anti-affinity" else 1
        group_hosts = {h for h in on if on.count(h) >= most}
        found = self._filtered(plan, services, kind, policy, group_hosts)
        if found is None:
            return None
        hosts, free_ram = found
        weight = cond._weigher(policy, group_hosts, free_ram, pending)
        with cond._claiming_lock:
            host, allocations = min(hosts, key=weight)
            left = _left(cond, free_ram, host, pending)
        if left < plan.resources.get("MEMORY_MB", 0):
            return None
        return host, allocations, free_ram

    def _claim(self, chosen: list[_Plan]) -> bool:
        """Every claim of the batch in one Placement transaction (each consumer new);
        False when Placement refused it (the batch goes one at a time)."""
        cond = self.cond
        try:
            cond.placement.set_allocations({p.uuid: {
                "allocations": p.allocations, "project_id": p.project_id,
                "user_id": p.user_id, "consumer_generation": None} for p in chosen})
        except (Conflict, BadRequest) as exc:
            log.info("the batched claim of %d instances was refused (%s); one at a time",
                     len(chosen), exc)
            return False
        with cond._claiming_lock:  # the snapshots' free RAM follows the claims
            for p in chosen:
                assert p.free_ram is not None
                rp = provider_uuid(p.host)
                p.free_ram[rp] = p.free_ram.get(rp, 0.0) - p.resources.get("MEMORY_MB", 0)
        return True

    def _record(self, chosen: list[_Plan], services: dict[str, Any]
                ) -> list[tuple[_Plan, InstanceSpec, Any]]:
        """Write the chosen hosts in one transaction, with each instance's spec; the
        claims of those deleted meanwhile are given back."""
        cond = self.cond
        images = _Images(cond.image) if cond.image is not None else None
        out: list[tuple[_Plan, InstanceSpec, Any]] = []
        gone: list[str] = []
        by_uuid = {p.uuid: p for p in chosen}
        with cond.db.transaction() as s:
            rows = {i.uuid: i for i in s.scalars(select(m.Instance).where(
                m.Instance.uuid.in_(list(by_uuid))))}
            now = utcnow()
            for plan in chosen:
                inst = rows.get(plan.uuid)
                if inst is None or inst.deleted:
                    gone.append(plan.uuid)
                    continue
                inst.host = plan.host
                inst.availability_zone = services[plan.host].zone
                inst.task_state = "spawning"
                inst.updated_at = now
                devices = cond.compute.server_volumes.devices(plan.uuid) \
                    if plan.has_volumes else []
                spec = instance_spec(inst, images, cond.network, devices)  # type: ignore[arg-type]
                out.append((plan, spec, inst.requested_networks))
        for uuid in gone:  # after the transaction (a second one inside it would wait)
            cond.placement.release(uuid)
        return out

    def _deleted(self, uuids: list[str]) -> set[str]:
        if not uuids:
            return set()
        with self.cond.db.session() as s:
            return set(s.scalars(select(m.Instance.uuid).where(
                m.Instance.uuid.in_(uuids), m.Instance.deleted.is_(True))))

    def _cast(self, host: str, spec: InstanceSpec) -> Future[None]:
        """Send the spawn without waiting for the broker (the batch waits for all)."""
        loop = self.cond.compute.loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(
            self.cond.bus.cast(f"agent.{host}", SpawnInstance(instance=asdict(spec))), loop)


def _left(cond: Conductor, free_ram: dict[str, float], host: str,
          pending: dict[str, int]) -> float:
    """The RAM `host` has left on the batch's view: the candidates' free RAM less
    what concurrent schedules are claiming there and what the batch chose there."""
    return free_ram.get(provider_uuid(host), 0.0) - cond._claiming.get(host, 0) - \
        pending.get(host, 0)


class _Hosts:
    """The hosts the filters kept for a kind of request, by weight (a heap): the
    best is popped for each instance, its weight taken again (what the batch or a
    concurrent schedule claimed since moves it) and, while it has room, pushed back."""

    def __init__(self, cond: Conductor, hosts: list[tuple[str, dict[str, dict[str, int]]]],
                 free_ram: dict[str, float], pending: dict[str, int]) -> None:
        self.cond, self.free_ram, self.pending = cond, free_ram, pending
        self.weight = cond._weigher(None, set(), free_ram, pending)
        self.allocations = dict(hosts)
        with cond._claiming_lock:
            self.heap = [(self.weight(item), item[0]) for item in hosts]
        heapq.heapify(self.heap)

    def pop(self, ram: int) -> tuple[str, dict[str, dict[str, int]], dict[str, float]] | None:
        cond = self.cond
        with cond._claiming_lock:
            while self.heap:
                seen, host = self.heap[0]
                now = self.weight((host, None))
                if now != seen:  # moved since it was pushed: in its place again
                    heapq.heapreplace(self.heap, (now, host))
                    continue
                if _left(cond, self.free_ram, host, self.pending) < ram:
                    heapq.heappop(self.heap)  # full on the batch's view
                    continue
                # the caller adds `ram` to pending: its weight is taken again when
                # it is next on top
                return host, self.allocations[host], self.free_ram
        return None
