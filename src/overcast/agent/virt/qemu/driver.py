"""The QEMU driver: each instance is a QEMU process, driven over QMP (the package's
docstring tells how instances boot and where their files live).

Spawn caches the image (images.py), builds the instance's files (its record, a
qcow2 overlay as root disk, hard links to the kernel and ramdisk, the config drive)
while the dataplane plugs its taps, then starts QEMU (process.py). Power actions
over QMP: power_off presses the ACPI power button (repeated: a guest still booting
misses a press) and quits after the timeout; pause/unpause are stop/cont; suspend
saves the guest's memory to a file (a migration to a file descriptor) and ends the
process, resume starts it again with `-incoming` (so a suspended guest survives an
agent or host restart); a hard reboot is a system_reset, a soft one a power_off and
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from overcast.agent.virt import base
from overcast.agent.virt.base import (
    Driver,
    DriverEnv,
    InstanceNotFound,
    PermanentError,
    RetryableError,
)
from overcast.agent.virt.common import host_resources
from overcast.agent.virt.qemu import cgroups, volumes
from overcast.agent.virt.qemu.accel import QEMU, QEMU_IMG, Accel, binary
from overcast.agent.virt.qemu.configdrive import make_config_drive
from overcast.agent.virt.qemu.images import ImageCache
from overcast.agent.virt.qemu.migration import QemuMigration
from overcast.agent.virt.qemu.process import POWER_STATES, QemuProcess, _is_nbd
from overcast.agent.virt.qemu.qmp import Qmp, QmpError
from overcast.agent.virt.qemu.record import BootSource, InstanceRecord
from overcast.bus.messages import InstanceSpec

log = logging.getLogger("overcast.agent.virt.qemu")

GiB = 1 << 30
#: a volume's unplug is asked of the guest again this often while it has not happened
DEVICE_DEL_EVERY = 2.0


class QemuDriver(QemuMigration, QemuProcess, Driver):
    name = "qemu"
    capabilities = frozenset({"pause", "suspend", "reboot", "rebuild", "resize",
                              "console_output", "snapshot", "volume_attach",
                              "live_migration"})

    def __init__(self, host: str, env: DriverEnv, *, accel: str | None = None) -> None:
        if accel not in (None, "kvm", "tcg"):
            raise ValueError("accel must be kvm, tcg or None (probe)")
        self.host = host
        self.env = env
        self.images_dir = env.state_dir / "images"
        self.instances_dir = env.state_dir / "instances"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        self._accel: Accel | None = Accel(accel, "chosen by configuration") if accel \
            else None
        self._probe_lock = asyncio.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        self._qmp_locks: dict[str, asyncio.Lock] = {}
        self.images = ImageCache(self.images_dir, self._fetch, self._run)
        self._reaping: dict[str, asyncio.Task[None]] = {}
        #: instances being received by a live migration: (the task that hands the
        #: incoming stream to QEMU, the power state the guest had on its source)
        self._receiving: dict[str, tuple[asyncio.Task[None], int]] = {}

    # -------------------------------------------------------------- building
    async def _make_root_disk(self, rec: InstanceRecord) -> None:
        d = self._dir(rec.uuid)
        disk = d / "disk.qcow2"
        want = int(rec.root_gb or 0) * GiB
        staged = self._staged_disk(rec.uuid)
        if await asyncio.to_thread(staged.exists):  # pulled from its previous host
            await self._adopt_disk(rec, staged, disk, want)
            return
        if rec.base:
            have = int(rec.virtual_size)
            if want and want < have:
                raise PermanentError(
                    f"the flavor's root disk ({rec.root_gb} GB) is smaller than image "
                    f"{rec.image_id} ({have / GiB:.1f} GB)")
            size = [str(want)] if want > have else []
            await self._run([binary(QEMU_IMG), "create", "-q", "-f", "qcow2", "-F", "qcow2",
                             "-b", rec.base, str(disk), *size])
        else:
            await self._run([binary(QEMU_IMG), "create", "-q", "-f", "qcow2", str(disk),
                             str(want or GiB)])

    async def _link_boot_files(self, rec: InstanceRecord) -> None:
        """Hard links to the cached kernel and ramdisk (a copy across file systems):
        the instance keeps booting whatever happens to the cache."""
        d = self._dir(rec.uuid)

        def link() -> None:
            for role, source in (("kernel", rec.kernel), ("ramdisk", rec.ramdisk)):
                if not source:
                    continue
                dest = d / role
                dest.unlink(missing_ok=True)
                try:
                    os.link(source, dest)
                except OSError:
                    shutil.copyfile(source, dest)

        await asyncio.to_thread(link)

    # ------------------------------------------------------------- contract
    async def spawn(self, instance: InstanceSpec) -> None:
        """Create and start the instance; return once QEMU runs (the guest boots on its
        own). Idempotent: a running instance is left as it is, a built one started; a
        half-built one is built again. A new instance that fails leaves nothing."""
        uuid = instance.uuid
        d = self._dir(uuid)
        async with self._lock(uuid):
            t0 = time.monotonic()
            if await asyncio.to_thread(d.is_dir):
                rec = await self._record(uuid)
                if rec.built:
                    await self._start(rec)
                    return
                await self._destroy(uuid)  # died half-built: start over
            try:
                for name in (QEMU, QEMU_IMG):
                    binary(name)
                await self.accelerator()
                for b in instance.block_devices:
                    volumes.check(b.get("connection_info") or {})
                src = await self._boot_source(instance)
                rec = InstanceRecord.new(instance, src)

                def files() -> None:
                    # the console and the user data are the tenant's: root only
                    d.mkdir(mode=0o700)
                    self._write_record(rec)

                await asyncio.to_thread(files)
                devices: list[str] = []

                async def plug() -> None:
                    devices.extend(await self._plug(rec))

                jobs = [self._link_boot_files(rec), plug()]
                if not rec.root_volume:
                    jobs.append(self._make_root_disk(rec))
                if instance.config_drive:
                    jobs.append(make_config_drive(instance, d / "config.iso"))
                # all finish before a failure is raised (a cleanup must not race a plug)
                for outcome in await asyncio.gather(*jobs, return_exceptions=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
                rec.built = True
                await self._save(rec)
                await self._start(rec, devices)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._destroy(uuid)
                raise
            log.info("spawned %s in %.0f ms", uuid, (time.monotonic() - t0) * 1e3)

    async def _boot_source(self, instance: InstanceSpec) -> BootSource:
        """How the instance boots: from its image, or from its root volume (a kernel
        image's kernel still boots it; else the firmware boots the volume)."""
        root = next((b for b in instance.block_devices
                     if b.get("boot_index") in (0, "0")), None)
        image = instance.image or {}
        if root is None or image.get("kernel_id") or \
                (image.get("properties") or {}).get("kernel_id"):
            src = await self.images.boot_source(instance)
            if root is not None:
                src.base, src.virtual_size = None, 0
            return src
        machine = str(image.get("hw_machine_type") or "pc")
        machine = "q35" if machine.startswith("pc-q35") else "pc"
        return BootSource(image_id=str(image.get("id") or instance.image_ref or ""),
                          boot="disk", machine=machine)

    async def _halt(self, rec: InstanceRecord) -> None:
        await self._kill(rec.uuid, rec)

    async def _release(self, rec: InstanceRecord) -> None:
        name = self.cgroup(rec.uuid)
        if not await asyncio.to_thread(cgroups.remove, name) and name not in self._reaping:
            self._reaping[name] = asyncio.create_task(self._reap_cgroup(name))

    async def _reap_cgroup(self, name: str) -> None:
        """Remove a cgroup once its killed QEMU is reaped (list_instances sweeps what
        this misses, e.g. after an agent restart)."""
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if await asyncio.to_thread(cgroups.remove, name):
                    return
            log.warning("cgroup %s is still busy", name)
        finally:
            self._reaping.pop(name, None)

    def _sweep_cgroups(self) -> None:
        """Remove the empty cgroups of instances that no longer have files here (a
        busy cgroup cannot be removed: rmdir fails and it stays)."""
        mine = set(self._uuids())
        for name in cgroups.names():
            if name.removeprefix(cgroups.PREFIX) not in mine and name not in self._reaping:
                cgroups.remove(name)

    async def power_off(self, uuid: str, timeout: float = 60) -> None:
        """ACPI power button, QMP quit after `timeout`; state SHUTDOWN. A suspended
        instance's saved memory is dropped."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            await self._stop(uuid, rec, timeout)
            await self._forget_saved(rec)

    async def _forget_saved(self, rec: InstanceRecord) -> None:
        if rec.suspended:
            rec.suspended = False
            await self._save(rec)
        await asyncio.to_thread((self._dir(rec.uuid) / "memory.state").unlink, True)

    async def power_on(self, uuid: str) -> None:
        """Start QEMU again on the same disks (a suspended instance resumes)."""
        async with self._lock(uuid):
            await self._start(self._built(await self._record(uuid)))

    async def resize(self, instance: InstanceSpec) -> None:
        """The new flavor on the same disks: ACPI power-off (a minute at most), the
        root disk grown when the flavor's is bigger (never shrunk), QEMU started with
        the new vCPUs and memory. Spawned when this host has no such instance."""
        uuid = instance.uuid
        try:
            built = (await self._record(uuid)).built
        except InstanceNotFound:
            built = False
        if not built:
            await self.spawn(instance)
            return
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            await self._stop(uuid, rec, 60)
            await self._forget_saved(rec)
            want = 0 if rec.root_volume else int(instance.root_gb or 0) * GiB
            disk = self._dir(uuid) / "disk.qcow2"
            info = json.loads((await self._run([binary(QEMU_IMG), "info", "-U",
                                                "--output", "json", str(disk)])).stdout)
            if want > int(info.get("virtual-size") or 0):
                await self._run([binary(QEMU_IMG), "resize", "-q", str(disk), str(want)])
            rec.vcpus, rec.memory_mb = instance.vcpus, instance.memory_mb
            rec.root_gb = instance.root_gb
            await self._save(rec)
            await self._start(rec)

    async def reboot(self, uuid: str, hard: bool) -> None:
        """Hard: system_reset (QEMU restarted when it is not running); soft: the ACPI
        power button and a new start (hard after 60 s). Ends RUNNING, from a fresh
        boot (a suspended instance's saved memory is dropped)."""
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            await self._forget_saved(rec)
            if hard and await self._alive(uuid, rec) is not None:
                try:
                    await self._qmp(uuid, ("system_reset", None))
                    if await self._status(uuid, rec) != "running":
                        await self._qmp(uuid, ("cont", None))
                    return
                except QmpError as exc:
                    log.warning("system_reset of %s failed (%s): restarting QEMU", uuid, exc)
            await self._stop(uuid, rec, 0 if hard else 60)
            await self._start(rec)

    async def _freeze(self, uuid: str, frozen: bool) -> None:
        async with self._lock(uuid):
            rec = await self._record(uuid)
            status = await self._status(uuid, rec)
            if status not in ("running", "paused"):
                why = "suspended" if rec.suspended else status
                raise PermanentError(f"instance {uuid} is not running (it is {why})")
            if (status == "paused") != frozen:
                await self._qmp(uuid, ("stop" if frozen else "cont", None))

    async def pause(self, uuid: str) -> None:
        """QMP stop: the vCPUs halt, the guest stays in memory; state PAUSED."""
        await self._freeze(uuid, True)

    async def unpause(self, uuid: str) -> None:
        await self._freeze(uuid, False)

    async def suspend(self, uuid: str) -> None:
        """Save the guest's memory and devices to memory.state (a migration to a file
        descriptor, the vCPUs stopped first) and end QEMU; state SUSPENDED. The disks
        stay as they were; resume (or power_on) starts QEMU from the file."""
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            status = await self._status(uuid, rec)
            if status not in ("running", "paused"):
                if rec.suspended and status == "absent":
                    return
                raise PermanentError(f"instance {uuid} is not running (it is {status})")
            if self._in_netns(rec) and any(_is_nbd(v) for v in rec.volumes):
                raise PermanentError(f"instance {uuid} has NBD volumes that are connected "
                                     "at start: it cannot be suspended (stop it instead)")
            d = self._dir(uuid)
            state, part = d / "memory.state", d / ".memory.state.part"
            path = d / "qmp.sock"

            def save() -> dict[str, Any]:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    with Qmp(path) as q:
                        q.execute("stop")
                        q.execute("migrate-set-parameters", {"max-bandwidth": 64 * GiB})
                        q.execute("getfd", {"fdname": "state"}, fds=[fd])
                        q.execute("migrate", {"uri": "fd:state"})
                        deadline = time.monotonic() + 3600
                        while time.monotonic() < deadline:
                            info: dict[str, Any] = q.execute("query-migrate")
                            if info.get("status") in ("completed", "failed", "cancelled"):
                                if info["status"] == "completed":
                                    os.fsync(fd)
                                return info
                            time.sleep(0.02)
                        q.execute("migrate_cancel")
                        return {"status": "timeout"}
                finally:
                    os.close(fd)

            async with self._qmp_locks.setdefault(uuid, asyncio.Lock()):
                info = await asyncio.to_thread(save)
            if info.get("status") != "completed":
                await asyncio.to_thread(part.unlink, True)
                if status == "running":
                    with contextlib.suppress(QmpError):
                        await self._qmp(uuid, ("cont", None))
                raise RetryableError(f"saving the memory of {uuid} failed: "
                                     f"{info.get('error-desc') or info.get('status')}")
            await asyncio.to_thread(os.replace, part, state)
            rec.suspended = True
            await self._save(rec)
            await self._stop(uuid, rec, 0)

    async def resume(self, uuid: str) -> None:
        """QEMU started again from the saved memory; the guest carries on where it
        was. (A paused instance is continued.)"""
        async with self._lock(uuid):
            await self._start(self._built(await self._record(uuid)))

    async def get_info(self, uuid: str) -> int:
        """From QEMU itself (query-status) when its process lives; SHUTDOWN when it
        does not (SUSPENDED when its memory is saved); NOSTATE when a live QEMU does
        not answer."""
        rec = await self._record(uuid)
        status = await self._status(uuid, rec)
        if status == "absent":
            saved = self._dir(uuid) / "memory.state"
            if rec.suspended and await asyncio.to_thread(saved.is_file):
                return base.SUSPENDED
            return base.SHUTDOWN
        return POWER_STATES.get(status, base.NOSTATE)

    async def list_instances(self) -> list[str]:
        """Every instance with files on this host, running or not (a half-built one
        too: the agent's reconciler destroys what belongs to no instance). Empty
        cgroups of instances gone are removed on the way."""
        await asyncio.to_thread(self._sweep_cgroups)
        return await asyncio.to_thread(self._uuids)

    async def snapshot(self, uuid: str, dest: Path) -> str:
        """The root disk as a standalone qcow2 (the backing chain flattened). A running
        guest is paused while it is copied (QMP stop flushes its writes), so the copy
        is consistent; it runs on afterwards."""
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            if rec.root_volume:
                raise PermanentError(f"instance {uuid} boots from volume "
                                     f"{rec.root_volume}: snapshot the volume instead")
            disk = self._dir(uuid) / "disk.qcow2"
            status = await self._status(uuid, rec)
            if status == "running":
                await self._qmp(uuid, ("stop", None))
            try:
                # -U: QEMU holds the image's lock while it lives, paused or not
                await self._run([binary(QEMU_IMG), "convert", "-U", "-q", "-f", "qcow2",
                                 "-O", "qcow2", str(disk), str(dest)], timeout=3600)
            finally:
                if status == "running":
                    with contextlib.suppress(QmpError):
                        await self._qmp(uuid, ("cont", None))
        return "qcow2"

    # --------------------------------------------------------------- volumes
    def _in_netns(self, rec: InstanceRecord) -> bool:
        return bool(rec.ports) and self.env.plugger is not None

    async def _devices_present(self, uuid: str) -> set[str]:
        (peripherals,) = await self._qmp(uuid, ("qom-list", {"path": "/machine/peripheral"}))
        return {str(p.get("name")) for p in peripherals}

    async def attach_volume(self, uuid: str, connection_info: dict[str, Any],
                            device: str) -> str:
        """The volume attached (hot-plugged into a running guest, else on the command
        line from the next start) and recorded; the guest's name for it. Attaching an
        attached volume again returns its name (a running guest that lost it, after a
        crash between the record and QMP, gets it again)."""
        data = volumes.check(connection_info)
        vid = str(data["volume_id"])
        if connection_info["driver_volume_type"] == "file" and \
                not await asyncio.to_thread(os.path.exists, str(data["path"])):
            raise PermanentError(f"volume {vid}: no file {data['path']} on host {self.host}")
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            if rec.suspended:
                raise PermanentError(f"instance {uuid} is suspended: resume it before "
                                     "attaching a volume")
            status = await self._status(uuid, rec)
            live = status != "absent"
            if live and rec.machine != "pc":
                raise PermanentError(
                    f"instance {uuid} runs on machine {rec.machine}, which cannot hot-plug "
                    "disks: stop it, attach the volume, start it")
            vol = next((v for v in rec.volumes if v.get("volume_id") == vid), None)
            if vol is None:
                # the guest's kernel gives a new disk the lowest free index (the root
                # disk is vda, the config drive next)
                taken = {volumes.guest_name(0)} | \
                    ({volumes.guest_name(1)} if rec.config_drive else set()) | \
                    {str(v.get("device")) for v in rec.volumes}
                name = next(volumes.guest_name(i) for i in range(len(taken) + 1)
                            if volumes.guest_name(i) not in taken)
                slot = volumes.free_slot({int(v["slot"]) for v in rec.volumes
                                          if v.get("slot") is not None})
                vol = {"volume_id": vid, "device": name, "boot_index": None,
                       "connection_info": connection_info, "slot": slot}
                # recorded first: a crash before QEMU has it is repaired by the next
                # start (or a repeated attach), never leaves a device nobody owns
                rec.volumes.append(vol)
                await self._save(rec)
            if live and volumes.names(vid)[2] not in await self._devices_present(uuid):
                try:
                    await self._add_volume(rec, vol, in_netns=self._in_netns(rec))
                except (QmpError, OSError) as exc:
                    rec.volumes.remove(vol)
                    await self._save(rec)
                    raise PermanentError(f"volume {vid} could not be attached to {uuid}: "
                                         f"{exc}") from exc
            log.info("attached volume %s to %s as %s (%s)", vid, uuid, vol["device"],
                     "live" if live else "at next start")
            return str(vol["device"])

    async def detach_volume(self, uuid: str, volume_id: str, timeout: float = 30) -> None:
        """The volume's device unplugged from a running guest (device_del, then its
        disappearance waited for: the guest must release it) and its block nodes
        deleted; then off the record. A detached volume is no error."""
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            vol = next((v for v in rec.volumes if v.get("volume_id") == volume_id), None)
            if vol is None:
                return
            if volume_id == rec.root_volume:
                raise PermanentError(f"volume {volume_id} is the root disk of {uuid}: it "
                                     "cannot be detached")
            if rec.suspended:
                raise PermanentError(f"instance {uuid} is suspended: resume it before "
                                     "detaching a volume")
            if await self._status(uuid, rec) != "absent":
                await self._unplug_volume(uuid, volume_id, timeout)
            rec.volumes.remove(vol)
            await self._save(rec)
            log.info("detached volume %s from %s", volume_id, uuid)

    async def _unplug_volume(self, uuid: str, volume_id: str, timeout: float) -> None:
        fmt_node, _, dev = volumes.names(volume_id)
        deadline = time.monotonic() + timeout
        asked = 0.0
        while dev in await self._devices_present(uuid):
            now = time.monotonic()
            if now >= deadline:
                raise RetryableError(
                    f"the guest of {uuid} did not release volume {volume_id} within "
                    f"{timeout:.0f} s (is it still mounted, or the guest not running "
                    "its ACPI hot-plug?); the unplug stays requested")
            if now - asked >= DEVICE_DEL_EVERY:
                # asked again now and then: a guest still booting (its ACPI not up
                # yet) misses the eject request, as Nova's detach retries know
                try:
                    await self._qmp(uuid, ("device_del", {"id": dev}))
                except QmpError as exc:  # asked before and still pending: wait on
                    if "in the process of unplug" not in str(exc) and \
                            "not found" not in str(exc):
                        raise PermanentError(f"volume {volume_id}: {exc}") from exc
                asked = now
            await asyncio.sleep(0.05)
        # the device leaves QEMU's tree a moment before it lets go of its block node
        deadline = time.monotonic() + 10
        while True:
            (nodes,) = await self._qmp(uuid, ("query-named-block-nodes", {"flat": True}))
            if not any(n.get("node-name") == fmt_node for n in nodes):
                return
            try:
                await self._qmp(uuid, ("blockdev-del", {"node-name": fmt_node}))
                return
            except QmpError as exc:
                if "in use" not in str(exc) or time.monotonic() >= deadline:
                    raise RetryableError(f"volume {volume_id}: {exc}") from exc
            await asyncio.sleep(0.05)

    async def extend_volume(self, uuid: str, volume_id: str, size_bytes: int) -> None:
        """The grown volume's format node resized (QMP `block_resize`): the guest's
        virtio-blk sees the new capacity at once. A stopped guest needs nothing."""
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            if not any(v.get("volume_id") == volume_id for v in rec.volumes):
                return
            if await self._status(uuid, rec) == "absent":
                return
            try:
                await self._qmp(uuid, ("block_resize", {
                    "node-name": volumes.names(volume_id)[0], "size": size_bytes}))
            except QmpError as exc:
                raise PermanentError(f"volume {volume_id}: {exc}") from exc

    def host_resources(self) -> dict[str, Any]:
        return host_resources(self.env.state_dir, "QEMU",
                              self._accel.name if self._accel else "qemu")
