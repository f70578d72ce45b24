"""The host agent: registers its host, reports resources and instance states,
carries out what the conductor asks, and reconciles actual with desired state.

Reconciliation runs at start, periodically and after every message: the agent
asks the conductor which instances should be on this host (`DesiredState`),
compares with what the driver really runs, and takes one idempotent step per
difference: report (re-adopt) what runs, build what should be building,
report SHUTDOWN for what should run but is gone, destroy what belongs to no
instance. Components (e.g. the network dataplane) hang off the same agent.

Before all of that, at start, the agent fences its host (`fence`): the guests that
were evacuated to other hosts while this one was down are destroyed before it
takes a message or reports up (compute/evacuate.py tells the whole story).

A driver's RetryableError is retried: the action runs again after each of
`retry_delays` (growing waits; a delay the error names wins), and only a
PermanentError, any other failure, or a RetryableError on the last try ends the
instance in ERROR with the error as its fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, TypeVar

from overcast.agent import live_migration
from overcast.agent.virt import base
from overcast.agent.virt.base import Driver, DriverError, InstanceNotFound, RetryableError
from overcast.bus import REPORTS, Bus, BusTimeout
from overcast.bus.disk_transfer import DiskExport, ExportDisk
from overcast.bus.messages import (
    AttachInterface,
    AttachVolume,
    CacheImages,
    CleanupInstance,
    ConsoleOutput,
    ConsoleOutputReply,
    DeleteInstance,
    DesiredInstancesReply,
    DesiredState,
    DetachInterface,
    DetachVolume,
    Evacuated,
    EvacuatedReply,
    ExtendAttachedVolume,
    Fenced,
    HostHeartbeat,
    HostUptime,
    HostUptimeReply,
    InstanceSpec,
    InstanceState,
    InterfaceReply,
    Message,
    MessageError,
    PowerAction,
    RebuildInstance,
    ResizeInstance,
    Resync,
    SetAdminPassword,
    SetAdminPasswordReply,
    ShelveInstance,
    SnapshotInstance,
    SnapshotReady,
    SpawnInstance,
    VolumeAttachReply,
)

log = logging.getLogger("overcast.agent")

T = TypeVar("T")

#: the waits (seconds) before each new try of an action that failed with a
#: RetryableError: four tries in all, the last about 7 s after the first
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0)

#: action -> (driver method, vm_state after, expected power state after)
POWER_ACTIONS: dict[str, tuple[str, str, int]] = {
    "stop": ("power_off", "stopped", base.SHUTDOWN),
    "start": ("power_on", "active", base.RUNNING),
    "reboot_soft": ("reboot", "active", base.RUNNING),
    "reboot_hard": ("reboot", "active", base.RUNNING),
    "pause": ("pause", "paused", base.PAUSED),
    "unpause": ("unpause", "active", base.RUNNING),
    "suspend": ("suspend", "suspended", base.SUSPENDED),
    "resume": ("resume", "active", base.RUNNING),
    # a soft delete stops the guest and keeps it; a restore starts it again
    "soft_delete": ("power_off", "soft-delete", base.SHUTDOWN),
    "restore": ("power_on", "active", base.RUNNING),
    # unshelving a server still on its host (not offloaded) starts it
    "unshelve": ("power_on", "active", base.RUNNING),
    "rescue": ("rescue", "rescued", base.RUNNING),
    "unrescue": ("unrescue", "active", base.RUNNING),
}


#: (image_id, file, disk_format): upload a snapshot's bytes into its image
SnapshotUpload = Callable[[str, Path, str], Awaitable[None]]


class Component(Protocol):
    async def start(self, agent: Agent) -> None: ...

    async def reconcile(self) -> None: ...

    async def stop(self) -> None: ...


class Agent:
    def __init__(self, host: str, driver: Driver, bus: Bus, *,
                 components: list[Component] | None = None,
                 heartbeat_interval: float = 10.0, resync_interval: float = 60.0,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS,
                 fence_timeout: float = 10.0,
                 upload_snapshot: SnapshotUpload | None = None,
                 scratch_dir: Path | None = None, host_ip: str = "") -> None:
        self.host = host
        #: the host's address its hypervisor shows (its tunnel endpoint)
        self.host_ip = host_ip
        #: a remote host uploads snapshots to the image API itself (cloud_client);
        #: without it the control plane reads the file (the all-in-one cloud)
        self.upload_snapshot = upload_snapshot
        #: where snapshots are written before they leave the host
        self.scratch_dir = scratch_dir or Path(tempfile.gettempdir()) / "overcast-snapshots"
        self.driver = driver
        self.bus = bus
        self.components = list(components or [])
        self.heartbeat_interval = heartbeat_interval
        self.resync_interval = resync_interval
        self.retry_delays = tuple(retry_delays)
        #: how long one ask of the conductor for what to fence waits
        self.fence_timeout = fence_timeout
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        #: instances whose spawn runs in this agent now
        self._spawning: set[str] = set()
        self.live_migrations = live_migration.LiveMigrations(self)

    @property
    def topic(self) -> str:
        return f"agent.{self.host}"

    async def start(self) -> None:
        # Fencing first: nothing evacuated away from this host may run here once it
        # takes work or says it is up.
        await self.fence()
        await self.bus.subscribe(self.topic, self.handle)
        await self.heartbeat()
        for c in self.components:
            await c.start(self)
        self._tasks.append(asyncio.create_task(self._every(self.heartbeat_interval,
                                                           self.heartbeat)))
        self._tasks.append(asyncio.create_task(self._every(self.resync_interval,
                                                           self.reconcile)))
        # First reconcile in the background: the conductor may still be starting.
        self._tasks.append(asyncio.create_task(self.reconcile()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for c in self.components:
            await c.stop()

    async def fence(self) -> list[str]:
        """Destroy the guests that were evacuated away from this host while it was
        down (Nova's `_destroy_evacuated_instances`), with their disks and devices,
        and tell the conductor (`Fenced`); returns the uuids destroyed. The conductor
        is waited for: until it answers, this host must not report up."""
        wait = 1.0
        while True:
            try:
                reply: EvacuatedReply = await self.bus.call(
                    "conductor", Evacuated(host=self.host), timeout=self.fence_timeout)
                break
            except MessageError as exc:
                # a conductor from before fencing: it evacuates nothing either
                log.warning("conductor cannot say what to fence on %s (%s); none fenced",
                            self.host, exc)
                return []
            except BusTimeout:
                log.warning("conductor did not answer; %s waits to fence before it "
                            "reports up", self.host)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 10.0)
        if not reply.uuids:
            return []
        here = set(await self.driver.list_instances())
        destroyed = []
        for uuid in reply.uuids:
            if uuid not in here:
                continue
            log.warning("fencing: destroying %s, evacuated from %s", uuid, self.host)
            try:
                await self._retrying("fence", uuid, functools.partial(self.driver.destroy, uuid))
            except InstanceNotFound:
                pass
            destroyed.append(uuid)
        # every one of them is gone from here now (the ones not found never were)
        await self.bus.cast(REPORTS, Fenced(host=self.host, uuids=list(reply.uuids)))
        return destroyed

    async def _every(self, interval: float, fn: Any) -> None:
        # The first wait is a random part of the interval: agents started together
        # (a host's restart, `overcast agent --count`) spread their periodic work
        # over it instead of reaching the control plane all in the same instant.
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            try:
                await fn()
            except Exception:  # noqa: BLE001 - periodic work must survive one failure
                log.exception("periodic %s failed on %s", fn.__name__, self.host)
            await asyncio.sleep(interval)

    async def heartbeat(self) -> None:
        resources = self.driver.host_resources()
        if self.host_ip:
            resources = {**resources, "host_ip": self.host_ip}
        await self.bus.cast("conductor", HostHeartbeat(
            host=self.host, driver=self.driver.name, resources=resources,
            instances=await self.driver.list_instances(),
            capabilities=sorted(self.driver.capabilities)))

    async def report(self, uuid: str, vm_state: str, power_state: int, *,
                     event: str | None = None, error: str | None = None,
                     request_id: str = "") -> None:
        await self.bus.cast(REPORTS, InstanceState(
            uuid=uuid, host=self.host, power_state=power_state, vm_state=vm_state,
            task_state=None, event=event, error=error, request_id=request_id))

    # --------------------------------------------------------------- messages
    async def handle(self, msg: Message) -> Any:
        if isinstance(msg, SpawnInstance):
            asyncio.create_task(self._spawn(InstanceSpec(**msg.instance), "spawn"))
            return None
        if isinstance(msg, RebuildInstance):
            asyncio.create_task(self._rebuild(InstanceSpec(**msg.instance), "rebuild",
                                              msg.power_on))
            return None
        if isinstance(msg, ResizeInstance):
            # the driver keeps the instance's disk (_spawn picks resize for this event)
            asyncio.create_task(self._spawn(InstanceSpec(**msg.instance), "resize",
                                            power_on=msg.power_on,
                                            source_host=msg.source_host))
            return None
        if isinstance(msg, ExportDisk):
            try:
                return DiskExport(ok=True, info=await self.driver.export_disk(msg.uuid))
            except Exception as exc:  # noqa: BLE001 - the target must hear why
                log.warning("export of %s's disk failed: %s", msg.uuid, exc)
                return DiskExport(ok=False, error=str(exc) or type(exc).__name__)
        if isinstance(msg, DeleteInstance):
            asyncio.create_task(self._delete(msg.uuid))
            return None
        if isinstance(msg, PowerAction):
            asyncio.create_task(self._power(msg))
            return None
        if isinstance(msg, Resync):
            for c in self.components:
                asyncio.create_task(c.reconcile())
            return None
        if isinstance(msg, CleanupInstance):
            asyncio.create_task(self._cleanup(msg))
            return None
        if isinstance(msg, SnapshotInstance):
            asyncio.create_task(self._snapshot(msg))
            return None
        if isinstance(msg, ShelveInstance):
            asyncio.create_task(self._shelve(msg))
            return None
        if isinstance(msg, CacheImages):
            asyncio.create_task(self._cache_images(msg.image_ids))
            return None
        if isinstance(msg, AttachInterface | DetachInterface):
            try:
                if isinstance(msg, AttachInterface):
                    await self.driver.attach_interface(msg.uuid, msg.port)
                else:
                    await self.driver.detach_interface(msg.uuid, msg.port_id)
            except Exception as exc:  # noqa: BLE001 - the caller must hear why
                return InterfaceReply(ok=False, error=str(exc))
            return InterfaceReply(ok=True)
        if isinstance(msg, SetAdminPassword):
            try:
                await self.driver.set_admin_password(msg.uuid, msg.password)
            except Exception as exc:  # noqa: BLE001 - the caller must hear why
                return SetAdminPasswordReply(ok=False, error=str(exc))
            return SetAdminPasswordReply(ok=True)
        if isinstance(msg, HostUptime):
            return HostUptimeReply(uptime=base.host_uptime())
        if isinstance(msg, ConsoleOutput):
            return ConsoleOutputReply(
                output=await self.driver.console_output(msg.uuid, msg.length))
        if isinstance(msg, AttachVolume | DetachVolume | ExtendAttachedVolume):
            return await self._volume(msg)
        if isinstance(msg, live_migration.MESSAGES):
            return await self.live_migrations.handle(msg)
        log.warning("agent %s ignored unknown message %s", self.host, msg.kind)
        return None

    async def _cache_images(self, image_ids: list[str]) -> None:
        """Fetch each image into this host's cache (os-aggregates/{id}/images); what
        fails is logged, as Nova's compute host logs it, and the rest go on."""
        for image_id in image_ids:
            try:
                await self.driver.cache_image(image_id)
            except NotImplementedError as exc:
                log.info("image %s not cached on %s: %s", image_id, self.host, exc)
                return
            except Exception:  # noqa: BLE001 - a cast: nobody waits for the answer
                log.exception("image %s could not be cached on %s", image_id, self.host)
            else:
                log.info("image %s cached on %s", image_id, self.host)

    async def _retrying(self, what: str, uuid: str, step: Callable[[], Awaitable[T]]) -> T:
        """`step()`, run again after each of `retry_delays` while it fails with a
        RetryableError; the last try's error is raised. Other errors are raised at
        once."""
        tries = len(self.retry_delays) + 1
        for attempt in range(1, tries + 1):
            try:
                return await step()
            except RetryableError as exc:
                if attempt == tries:
                    log.warning("%s of %s failed %d times; giving up: %s", what, uuid,
                                tries, exc)
                    raise
                wait = exc.delay if exc.delay is not None else \
                    self.retry_delays[attempt - 1]
                log.warning("%s of %s failed (try %d of %d), again in %.1f s: %s", what,
                            uuid, attempt, tries, wait, exc)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _spawn(self, spec: InstanceSpec, event: str, *, power_on: bool = True,
                     source_host: str = "") -> None:
        if spec.uuid in self._spawning:
            return  # already under way here (a reconcile met a spawn in flight)
        self._spawning.add(spec.uuid)
        try:
            await self._spawn_once(spec, event, power_on, source_host)
        finally:
            self._spawning.discard(spec.uuid)

    async def _pull_disk(self, spec: InstanceSpec, source_host: str) -> None:
        """A resize that moves the instance here: its disk comes from its source
        (bus/disk_transfer.py) unless this host has it already (a retry)."""
        if source_host in ("", self.host) or spec.uuid in await self.driver.list_instances():
            return
        try:
            export: DiskExport = await self.bus.call(f"agent.{source_host}",
                                                     ExportDisk(uuid=spec.uuid), timeout=300)
        except BusTimeout:
            raise DriverError(f"host {source_host} did not export the disk of {spec.uuid}")
        if not export.ok:
            raise DriverError(f"host {source_host} cannot export the disk of {spec.uuid}: "
                              f"{export.error}")
        await self.driver.import_disk(spec, export.info)

    async def _spawn_once(self, spec: InstanceSpec, event: str, power_on: bool = True,
                          source_host: str = "") -> None:
        # a failed resize keeps what the instance has (its disk is the user's data)
        resize = event == "resize"
        try:
            if resize:
                await self._pull_disk(spec, source_host)
            await self._retrying(event, spec.uuid, lambda: self.driver.resize(spec)
                                 if resize else self.driver.spawn(spec))
        except DriverError as exc:
            if not resize:
                with contextlib.suppress(Exception):
                    await self.driver.destroy(spec.uuid)
            await self.report(spec.uuid, "error", base.NOSTATE, event=event, error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user as a fault
            log.exception("%s of %s failed", event, spec.uuid)
            if not resize:
                with contextlib.suppress(Exception):
                    await self.driver.destroy(spec.uuid)
            await self.report(spec.uuid, "error", base.NOSTATE, event=event,
                              error=f"{type(exc).__name__}: {exc}")
            return
        if not power_on:  # a stopped instance stays stopped (resize)
            with contextlib.suppress(DriverError):
                await self.driver.power_off(spec.uuid)
        power = await self.driver.get_info(spec.uuid)
        await self.report(spec.uuid, "active" if power_on else "stopped", power, event=event)

    async def _rebuild(self, spec: InstanceSpec, event: str, power_on: bool = True) -> None:
        if spec.uuid in self._spawning:
            return
        self._spawning.add(spec.uuid)  # from the destroy on: a reconcile leaves it be
        try:
            with contextlib.suppress(DriverError):
                await self.driver.destroy(spec.uuid)
            await self._spawn_once(spec, event, power_on)
        finally:
            self._spawning.discard(spec.uuid)

    async def _delete(self, uuid: str) -> None:
        try:
            await self._retrying("delete", uuid, lambda: self.driver.destroy(uuid))
        except Exception as exc:  # noqa: BLE001
            log.exception("destroy of %s failed", uuid)
            await self.report(uuid, "error", base.NOSTATE, event="delete", error=str(exc))
            return
        await self.report(uuid, "deleted", base.NOSTATE, event="delete")

    async def _cleanup(self, msg: CleanupInstance) -> None:
        try:
            if msg.destroy:
                await self.driver.destroy(msg.uuid)
            else:
                await self.driver.power_off(msg.uuid)
        except InstanceNotFound:
            pass
        except Exception:  # noqa: BLE001 - the reconciler retries removals
            log.exception("cleanup of %s on %s failed", msg.uuid, self.host)

    async def _snapshot(self, msg: SnapshotInstance) -> bool:
        """Write the disk out and report it (SnapshotReady); whether it worked."""
        # Without an uploader the file is read by the control plane (same machine in
        # the all-in-one cloud), which removes it once the image service has it.
        scratch = self.scratch_dir
        scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        dest = scratch / f"{msg.image_id}.disk"
        try:
            fmt = await self._retrying("snapshot", msg.uuid,
                                       lambda: self.driver.snapshot(msg.uuid, dest))
            if self.upload_snapshot is not None:
                try:
                    await self.upload_snapshot(msg.image_id, dest, fmt)
                finally:
                    dest.unlink(missing_ok=True)
            ready = SnapshotReady(uuid=msg.uuid, image_id=msg.image_id,
                                  path="" if self.upload_snapshot else str(dest),
                                  uploaded=self.upload_snapshot is not None,
                                  disk_format=fmt, request_id=msg.request_id,
                                  rotation=msg.rotation)
        except Exception as exc:  # noqa: BLE001 - the user must see why
            log.exception("snapshot of %s failed", msg.uuid)
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()
            ready = SnapshotReady(uuid=msg.uuid, image_id=msg.image_id, error=str(exc),
                                  request_id=msg.request_id, rotation=msg.rotation)
        await self.bus.cast(REPORTS, ready)
        return ready.error is None

    async def _shelve(self, msg: ShelveInstance) -> None:
        """Stop, snapshot (when asked), remove (offload); report the outcome. The
        snapshot is reported first, so its image is being stored before the server
        says it is shelved (an unshelve spawns from it)."""
        try:
            await self._retrying("power_off", msg.uuid,
                                 lambda: self.driver.power_off(msg.uuid))
            if msg.image_id and not await self._snapshot(SnapshotInstance(
                    uuid=msg.uuid, image_id=msg.image_id, request_id=msg.request_id)):
                raise DriverError(f"the snapshot of {msg.uuid} to shelve it failed")
            if msg.offload:
                await self._retrying("destroy", msg.uuid,
                                     lambda: self.driver.destroy(msg.uuid))
                await self.report(msg.uuid, "shelved_offloaded", base.NOSTATE,
                                  event="shelve", request_id=msg.request_id)
            else:
                power = await self.driver.get_info(msg.uuid)
                await self.report(msg.uuid, "shelved", power, event="shelve",
                                  request_id=msg.request_id)
        except Exception as exc:  # noqa: BLE001 - the user must see why
            log.exception("shelve of %s failed", msg.uuid)
            try:
                power = await self.driver.get_info(msg.uuid)
            except Exception:  # noqa: BLE001
                power = base.NOSTATE
            await self.report(msg.uuid, "", power, event="shelve", error=str(exc),
                              request_id=msg.request_id)

    async def _volume(self, msg: AttachVolume | DetachVolume | ExtendAttachedVolume
                      ) -> VolumeAttachReply:
        """An attach, detach or resize, answered (a call): an attach is retried like
        any action while the driver says it is worth it; any failure comes back as
        the reply's error."""
        what = "attach" if isinstance(msg, AttachVolume) else \
            "detach" if isinstance(msg, DetachVolume) else "extend"
        try:
            if isinstance(msg, ExtendAttachedVolume):
                await self.driver.extend_volume(msg.uuid, msg.volume_id, msg.size_bytes)
                return VolumeAttachReply(ok=True)
            if isinstance(msg, AttachVolume):
                info = msg.connection_info
                data = info.get("data") if isinstance(info, dict) else None
                if isinstance(data, dict) and data.get("volume_id") not in \
                        (None, msg.volume_id):
                    raise DriverError(f"connection_info is for volume {data['volume_id']}, "
                                      f"not {msg.volume_id}")
                device = await self._retrying(
                    "attach_volume", msg.uuid,
                    lambda: self.driver.attach_volume(msg.uuid, info, msg.device))
                return VolumeAttachReply(ok=True, device=device)
            # not retried: the driver already waited for the guest, and the caller's
            # call would time out before a second wait ended
            await self.driver.detach_volume(msg.uuid, msg.volume_id)
            return VolumeAttachReply(ok=True)
        except DriverError as exc:
            log.warning("%s of volume %s on %s failed: %s", what, msg.volume_id, msg.uuid,
                        exc)
            return VolumeAttachReply(ok=False, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - the caller must hear why
            log.exception("%s of volume %s on %s failed", what, msg.volume_id, msg.uuid)
            return VolumeAttachReply(ok=False, error=f"{type(exc).__name__}: {exc}")

    async def _power(self, msg: PowerAction) -> None:
        method, vm_state, _ = POWER_ACTIONS[msg.action]
        fn = getattr(self.driver, method)
        try:
            if method == "reboot":
                await self._retrying(msg.action, msg.uuid,
                                     lambda: fn(msg.uuid, hard=msg.action == "reboot_hard"))
            elif method == "rescue":
                await self._retrying(msg.action, msg.uuid, lambda: fn(msg.uuid, msg.image_ref))
            else:
                await self._retrying(msg.action, msg.uuid, lambda: fn(msg.uuid))
            power = await self.driver.get_info(msg.uuid)
            await self.report(msg.uuid, vm_state, power, event=msg.action,
                              request_id=msg.request_id)
        except InstanceNotFound as exc:
            await self.report(msg.uuid, "stopped", base.SHUTDOWN, event=msg.action,
                              error=str(exc), request_id=msg.request_id)
        except Exception as exc:  # noqa: BLE001
            log.exception("%s of %s failed", msg.action, msg.uuid)
            try:
                power = await self.driver.get_info(msg.uuid)
            except Exception:  # noqa: BLE001
                power = base.NOSTATE
            await self.report(msg.uuid, "", power, event=msg.action, error=str(exc),
                              request_id=msg.request_id)

    # ----------------------------------------------------------- reconcile
    async def reconcile(self) -> None:
        async with self._lock:
            try:
                reply: DesiredInstancesReply = await self.bus.call(
                    "conductor", DesiredState(host=self.host), timeout=30)
            except BusTimeout:
                log.warning("conductor did not answer; reconcile on %s skipped", self.host)
                return
            actual = set(await self.driver.list_instances())
            wanted = {d.uuid: d for d in reply.instances}
            moving = self.live_migrations.busy()
            for uuid, d in wanted.items():
                state = d.vm_state
                if state == "resize_source" or uuid in moving:
                    continue  # kept (powered off) until the resize is confirmed/reverted
                if state == "deleting":
                    asyncio.create_task(self._delete(uuid))
                elif state == "building":
                    # Not built, or built while nobody listened (the control plane or
                    # this agent died between the spawn and its report): spawning is
                    # idempotent, and reports the outcome either way.
                    if d.instance is not None:
                        asyncio.create_task(self._spawn(d.instance, "spawn"))
                elif uuid in self._spawning:
                    continue  # a spawn, rebuild or evacuation is building it now
                elif uuid in actual:
                    power = await self.driver.get_info(uuid)
                    if power != d.power_state:  # report changes only
                        await self.report(uuid, state, power)
                elif state in ("active", "paused", "suspended", "stopped") and \
                        uuid not in self._spawning:  # (a resize here builds it now)
                    # It should exist but is gone (host rebooted, process killed).
                    await self.report(uuid, "stopped", base.SHUTDOWN, event="lost",
                                      error="the instance is no longer on its host")
            for uuid in actual - set(wanted) - moving:
                log.info("removing orphan instance %s from %s", uuid, self.host)
                with contextlib.suppress(Exception):
                    await self.driver.destroy(uuid)
            for c in self.components:
                await c.reconcile()


def spec_dict(spec: InstanceSpec) -> dict[str, Any]:
    return asdict(spec)
