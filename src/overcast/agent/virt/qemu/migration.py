"""Live migration of a QEMU guest to another host, with its disk (the driver's
`live_migration` capability; the agent runs the steps, agent/live_migration.py).

Target (`prepare_live_migration`): the instance's record comes from the source
(the same machine type, vCPUs, memory, devices and volume slots: QEMU's migration
needs the same device model on both sides), with this host's cached kernel and
base image; its ports are plugged into this host's dataplane, its root disk is a
new qcow2 overlay of the source's size over the same base image, its console log
goes on from the source's, and QEMU starts with `-incoming defer`. The disk is
exported writable over NBD from that QEMU (`nbd-server-start`, `block-export-add`)
and a second socket waits for the migration stream. Both listening sockets are
opened by the agent on the host's migration address (DriverEnv.migration_address:
127.0.0.1 for hosts on one machine, the management address in a lab) and handed
to QEMU with `getfd`, so a QEMU inside the dataplane's namespace is reached the
same way as one outside.

Source (`live_migrate`): the agent connects to both and hands the sockets to QEMU;
the root disk's new data (the overlay: the base image is the same on both sides)
is mirrored to the NBD export (`blockdev-mirror`, sync `top`) until the job is
ready, then the memory is sent (`migrate` over the socket) with
`pause-before-switchover`: when QEMU has stopped the guest for the last round, the
mirror is completed (`block-job-cancel` of a ready job leaves the target in sync)
and the migration continues to its end. QEMU reports the downtime
(`query-migrate`). An abort cancels both jobs; any failure leaves the guest
running here and the agent removes the target's copy (`finish_live_migration`).
Volumes (NBD exports of a storage host) are shared: they are not copied, the
target opens the same exports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

from overcast.agent.virt import base
from overcast.agent.virt.base import (
    DriverError,
    InstanceNotFound,
    MigrationAborted,
    MigrationRequests,
    PermanentError,
    ProgressFn,
)
from overcast.agent.virt.common import proc_start
from overcast.agent.virt.qemu import cgroups
from overcast.agent.virt.qemu.accel import QEMU, QEMU_IMG, binary
from overcast.agent.virt.qemu.configdrive import make_config_drive
from overcast.agent.virt.qemu.process import _is_nbd
from overcast.agent.virt.qemu.qmp import Qmp, QmpError
from overcast.agent.virt.qemu.record import InstanceRecord
from overcast.bus.messages import InstanceSpec

log = logging.getLogger("overcast.agent.virt.qemu.migration")

#: the longest pause of the guest QEMU aims for in the last round (ms)
DOWNTIME_LIMIT_MS = 300
#: the migration stream's bandwidth cap (QEMU's default, 32 MiB/s, is for WANs)
MAX_BANDWIDTH = 4 << 30
#: the longest a live migration may take before it is cancelled
MIGRATION_TIMEOUT = 900.0
#: how much of the source's console log the target's starts with
CONSOLE_CARRIED = 64 << 10
EXPORT = "overcast-root"
#: QEMU's self-announce after an incoming migration: every 0.5 s at most, for about
#: 15 s (see _wait_for_stream)
ANNOUNCE = {"announce-initial": 50, "announce-max": 500, "announce-rounds": 30,
            "announce-step": 100}


class QemuMigration:
    """The live-migration half of the QEMU driver (mixed into QemuDriver, whose
    process and file helpers it uses)."""

    # ------------------------------------------------------------- source
    async def live_migration_source_info(self: Any, uuid: str) -> dict[str, Any]:
        """The source's record (the device model the target must rebuild), the size
        of its root disk, its power state and the tail of its console log."""
        rec = self._built(await self._record(uuid))
        d: Path = self._dir(uuid)
        info: dict[str, Any] = {"record": rec.to_json(),
                                "power_state": await self.get_info(uuid)}
        if not rec.root_volume:
            out = await self._run([binary(QEMU_IMG), "info", "-U", "--output", "json",
                                   str(d / "disk.qcow2")])
            info["disk_size"] = int(json.loads(out.stdout).get("virtual-size") or 0)

        def console() -> str:
            try:
                with open(d / "console.log", "rb") as fh:
                    fh.seek(0, 2)
                    fh.seek(max(0, fh.tell() - CONSOLE_CARRIED))
                    return fh.read().decode(errors="replace")
            except FileNotFoundError:
                return ""

        info["console"] = await asyncio.to_thread(console)
        return info

    async def live_migrate(self: Any, uuid: str, target: dict[str, Any],
                           block_migration: bool, progress: ProgressFn,
                           requests: MigrationRequests) -> dict[str, int]:
        """Mirror the root disk (block migration), send the memory, finish the mirror
        at the switchover; the counters and QEMU's `downtime_ms` once the guest runs
        on the target. On failure or abort the guest goes on here."""
        rec = self._built(await self._record(uuid))
        if await self._alive(uuid, rec) is None:
            raise PermanentError(f"instance {uuid} is not running")
        mirror = block_migration and not rec.root_volume
        addr = str(target["address"])
        path = self._dir(uuid) / "qmp.sock"
        started = {"mirror": False, "migrate": False, "stopped": False}

        def session(*commands: tuple[str, dict[str, Any] | None],
                    sock: socket.socket | None = None) -> list[Any]:
            with _connect(path) as q:
                out = []
                for cmd, args in commands:
                    fds = [sock.fileno()] if sock is not None and cmd == "getfd" else None
                    out.append(q.execute(cmd, args, fds=fds))
                return out

        async def qmp(*commands: tuple[str, dict[str, Any] | None],
                      sock: socket.socket | None = None) -> list[Any]:
            async with self._qmp_locks.setdefault(uuid, asyncio.Lock()):
                return await asyncio.to_thread(session, *commands, sock=sock)

        async def connect(port: int) -> socket.socket:
            return await asyncio.to_thread(socket.create_connection, (addr, port), 10)

        disk = {"disk_total_bytes": 0, "disk_processed_bytes": 0, "disk_remaining_bytes": 0}

        async def mirror_job() -> dict[str, Any] | None:
            (jobs,) = await qmp(("query-block-jobs", None))
            job = next((j for j in jobs if j.get("device") == "mig-root"), None)
            if job is not None:
                total, done = int(job.get("len") or 0), int(job.get("offset") or 0)
                disk.update(disk_total_bytes=total, disk_processed_bytes=done,
                            disk_remaining_bytes=max(0, total - done))
            return job

        deadline = time.monotonic() + MIGRATION_TIMEOUT
        try:
            if mirror:
                sock = await connect(int(target["nbd_port"]))
                try:
                    await qmp(("getfd", {"fdname": "mig-nbd"}),
                              ("blockdev-add", {"driver": "raw", "node-name": "mig-target",
                                                "file": {"driver": "nbd",
                                                         "node-name": "mig-target-nbd",
                                                         "server": {"type": "fd",
                                                                    "str": "mig-nbd"},
                                                         "export": EXPORT}}),
                              sock=sock)
                finally:
                    sock.close()
                await qmp(("blockdev-mirror", {"job-id": "mig-root", "device": "root",
                                               "target": "mig-target", "sync": "top"}))
                started["mirror"] = True
                while True:  # the bulk of the disk first
                    self._check(requests, uuid, deadline)
                    job = await mirror_job()
                    if job is None:
                        raise DriverError(f"the disk mirror of {uuid} ended early")
                    await progress({**self._memory({}), **disk})
                    if job.get("ready"):
                        break
                    await asyncio.sleep(0.1)
            await qmp(("migrate-set-capabilities", {"capabilities": [
                          {"capability": "pause-before-switchover", "state": mirror}]}),
                      ("migrate-set-parameters", {"downtime-limit": DOWNTIME_LIMIT_MS,
                                                  "max-bandwidth": MAX_BANDWIDTH}))
            sock = await connect(int(target["port"]))
            try:
                await qmp(("getfd", {"fdname": "mig-out"}),
                          ("migrate", {"uri": "fd:mig-out"}), sock=sock)
            finally:
                sock.close()
            started["migrate"] = True
            while True:
                self._check(requests, uuid, deadline)
                if requests.force_complete and not started["stopped"]:
                    await qmp(("stop", None))  # a paused guest's memory stops changing
                    started["stopped"] = True
                (state,) = await qmp(("query-migrate", None))
                status = str(state.get("status"))
                if mirror:
                    await mirror_job()
                await progress({**self._memory(state), **disk})
                if status == "pre-switchover":
                    await self._finish_mirror(qmp, uuid)
                    started["mirror"] = False
                    await qmp(("migrate-continue", {"state": "pre-switchover"}))
                elif status == "completed":
                    return {**self._memory(state), **disk, "disk_remaining_bytes": 0,
                            "disk_processed_bytes": disk["disk_total_bytes"],
                            "downtime_ms": int(state.get("downtime") or 0)}
                elif status in ("failed", "cancelled"):
                    raise DriverError(f"QEMU's migration of {uuid} {status}: "
                                      f"{state.get('error-desc', '')}".rstrip(": "))
                await asyncio.sleep(0.05)
        except BaseException:
            await self._undo_outgoing(qmp, uuid, started)
            raise

    @staticmethod
    def _check(requests: MigrationRequests, uuid: str, deadline: float) -> None:
        if requests.abort:
            raise MigrationAborted(f"live migration of {uuid} aborted")
        if time.monotonic() > deadline:
            raise DriverError(f"live migration of {uuid} did not end in "
                              f"{MIGRATION_TIMEOUT:.0f} s")

    @staticmethod
    def _memory(state: dict[str, Any]) -> dict[str, int]:
        ram = state.get("ram") or {}
        return {"memory_total_bytes": int(ram.get("total") or 0),
                "memory_processed_bytes": int(ram.get("transferred") or 0),
                "memory_remaining_bytes": int(ram.get("remaining") or 0)}

    @staticmethod
    async def _finish_mirror(qmp: Any, uuid: str) -> None:
        """The guest is stopped: complete the ready mirror (cancelling a ready job
        leaves its target in sync) and wait until it is gone."""
        await qmp(("block-job-cancel", {"device": "mig-root"}))
        for _ in range(600):
            (jobs,) = await qmp(("query-block-jobs", None))
            if not any(j.get("device") == "mig-root" for j in jobs):
                return
            await asyncio.sleep(0.02)
        raise DriverError(f"the disk mirror of {uuid} did not complete")

    @staticmethod
    async def _undo_outgoing(qmp: Any, uuid: str, started: dict[str, bool]) -> None:
        """A failed or aborted migration: cancel what runs; the guest goes on."""
        steps: list[tuple[str, dict[str, Any] | None]] = []
        if started["migrate"]:
            steps.append(("migrate_cancel", None))
        if started["mirror"]:
            steps.append(("block-job-cancel", {"device": "mig-root", "force": True}))
        for cmd, args in steps:
            with contextlib.suppress(QmpError, OSError):
                await qmp((cmd, args))
        for _ in range(200):  # until both are over (or the QMP socket is gone)
            try:
                (state,) = await qmp(("query-migrate", None))
                (jobs,) = await qmp(("query-block-jobs", None))
            except (QmpError, OSError):
                break
            if state.get("status") not in ("active", "setup", "cancelling",
                                           "pre-switchover", "device") and not jobs:
                break
            await asyncio.sleep(0.05)
        with contextlib.suppress(QmpError, OSError):
            await qmp(("blockdev-del", {"node-name": "mig-target"}))
        with contextlib.suppress(QmpError, OSError):
            (status,) = await qmp(("query-status", None))
            if started["stopped"] or status.get("status") in ("postmigrate",
                                                              "finish-migrate"):
                await qmp(("cont", None))
        log.info("live migration of %s undone; the guest goes on here", uuid)

    # ------------------------------------------------------------- target
    async def prepare_live_migration(self: Any, instance: InstanceSpec,
                                     source_info: dict[str, Any],
                                     block_migration: bool) -> dict[str, Any]:
        """Build the instance here as the source has it and start QEMU waiting for
        its state; where the source sends its disk and memory."""
        uuid = instance.uuid
        d: Path = self._dir(uuid)
        addr = self.env.migration_address
        async with self._lock(uuid):
            if await asyncio.to_thread(d.exists):
                raise PermanentError(f"instance {uuid} already has files on {self.host}")
            binary(QEMU)
            accel = await self.accelerator()
            src = await self._boot_source(instance)
            rec = InstanceRecord.from_json({
                **source_info["record"], "base": src.base, "kernel": src.kernel,
                "ramdisk": src.ramdisk, "pid": None, "pid_start": None,
                "suspended": False, "built": True})
            rec.base, rec.kernel, rec.ramdisk = src.base, src.kernel, src.ramdisk
            if not rec.root_volume and not block_migration:
                raise PermanentError(f"instance {uuid} has a local disk: it needs a block "
                                     "migration")
            try:
                await self._build_incoming(rec, instance, source_info)
                devices = await self._plug(rec)
                netns = self.env.plugger.host_ns if devices and self.env.plugger else None
                late_nbd = netns is not None
                argv = self._argv(rec, accel, devices, True, late_nbd)
                r = await self._run(argv, check=False, timeout=60, netns=netns, cwd=d)
                if r.returncode != 0:
                    raise PermanentError(f"QEMU could not start to receive {uuid}: "
                                         f"{(r.stderr or r.stdout).strip()[-800:]}")
                pid = await self._alive(uuid)
                if pid is None:
                    raise DriverError(f"QEMU receiving {uuid} exited as it started")
                rec.pid, rec.pid_start = pid, proc_start(pid)
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(cgroups.enter, self.cgroup(uuid), pid,
                                            int(rec.vcpus), int(rec.memory_mb))
                await self._save(rec)
                for vol in rec.volumes:
                    if late_nbd and _is_nbd(vol) and vol is not self._root_volume(rec):
                        await self._add_volume(rec, vol, in_netns=True)
                nbd_port = await self._export_disk(uuid, addr) \
                    if not rec.root_volume else None
                port = await self._wait_for_stream(uuid, addr,
                                                   int(source_info.get("power_state") or 1))
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._destroy(uuid)
                raise
        return {"address": addr, "port": port, "nbd_port": nbd_port}

    async def _build_incoming(self: Any, rec: InstanceRecord, instance: InstanceSpec,
                              source_info: dict[str, Any]) -> None:
        """The instance's files: record, console (the source's so far), boot files,
        an empty overlay of the source disk's size over the same base, config drive."""
        d: Path = self._dir(rec.uuid)

        def files() -> None:
            d.mkdir(mode=0o700)
            self._write_record(rec)
            with open(d / "console.log", "w") as fh:
                fh.write(str(source_info.get("console") or ""))
                fh.write(f"[overcast] receiving instance {rec.uuid} on {self.host} "
                         "(live migration)\n")

        await asyncio.to_thread(files)
        await self._link_boot_files(rec)
        if not rec.root_volume:
            size = str(int(source_info.get("disk_size") or 0) or (int(rec.root_gb) << 30))
            backing = ["-F", "qcow2", "-b", rec.base] if rec.base else []
            await self._run([binary(QEMU_IMG), "create", "-q", "-f", "qcow2", *backing,
                             str(d / "disk.qcow2"), size])
        if rec.config_drive:
            await make_config_drive(instance, d / "config.iso")

    async def _export_disk(self: Any, uuid: str, addr: str) -> int:
        """The root disk exported writable over NBD by the receiving QEMU, on a
        socket this agent listens on; its port."""
        lsock = await asyncio.to_thread(socket.create_server, (addr, 0))
        path = self._dir(uuid) / "qmp.sock"

        def export() -> None:
            with Qmp(path) as q:
                q.execute("getfd", {"fdname": "mig-nbd"}, fds=[lsock.fileno()])
                q.execute("nbd-server-start", {"addr": {"type": "fd",
                                                        "data": {"str": "mig-nbd"}}})
                blocks = q.execute("query-block")
                node = next(b["inserted"]["node-name"] for b in blocks
                            if b.get("device") == "root" and b.get("inserted"))
                q.execute("block-export-add", {"type": "nbd", "id": "mig-root",
                                               "node-name": node, "name": EXPORT,
                                               "writable": True})

        try:
            async with self._qmp_locks.setdefault(uuid, asyncio.Lock()):
                await asyncio.to_thread(export)
            return int(lsock.getsockname()[1])
        finally:
            lsock.close()  # QEMU listens on its own copy

    async def _wait_for_stream(self: Any, uuid: str, addr: str, power_state: int) -> int:
        """A socket for the migration stream; the connection the source makes is
        handed to QEMU (`migrate-incoming fd:`) as it comes. Its port."""
        lsock = await asyncio.to_thread(socket.create_server, (addr, 0))
        lsock.setblocking(False)
        path = self._dir(uuid) / "qmp.sock"
        loop = asyncio.get_running_loop()

        async def accept() -> None:
            try:
                conn, _ = await asyncio.wait_for(loop.sock_accept(lsock), 600)
            finally:
                lsock.close()
            try:
                conn.setblocking(True)

                def incoming() -> None:
                    with Qmp(path) as q:
                        q.execute("getfd", {"fdname": "mig-in"}, fds=[conn.fileno()])
                        # the guest's NICs announce themselves (RARP) for ANNOUNCE_FOR
                        # seconds after it arrives, not QEMU's 1 s: its ports are bound
                        # here only once the move is over, and the switches (the
                        # network node's VXLAN) learn where it is from these frames
                        q.execute("migrate-set-parameters", ANNOUNCE)
                        q.execute("migrate-incoming", {"uri": "fd:mig-in"})

                async with self._qmp_locks.setdefault(uuid, asyncio.Lock()):
                    await asyncio.to_thread(incoming)
            finally:
                conn.close()

        self._receiving[uuid] = (asyncio.create_task(accept()), power_state)
        return int(lsock.getsockname()[1])

    async def finish_live_migration(self: Any, uuid: str, ok: bool) -> None:
        """Ok: the guest is here (the NBD export closed; running again if it ran on
        the source and the last round left it paused). Else everything goes."""
        task, power_state = self._receiving.pop(uuid, (None, base.RUNNING))
        if task is not None and not task.done():
            task.cancel()
        if not ok:
            async with self._lock(uuid):
                await self._destroy(uuid)
            return
        try:
            rec = self._built(await self._record(uuid))
        except InstanceNotFound:
            raise DriverError(f"instance {uuid} was not received on {self.host}")
        status = "inmigrate"
        for _ in range(600):
            status = await self._status(uuid, rec)
            if status != "inmigrate":
                break
            await asyncio.sleep(0.05)
        with contextlib.suppress(QmpError):
            await self._qmp(uuid, ("nbd-server-stop", None))
        if status in ("paused", "prelaunch") and power_state == base.RUNNING:
            await self._qmp(uuid, ("cont", None))
        elif status not in ("running", "paused"):
            raise DriverError(f"instance {uuid} did not arrive on {self.host} ({status})")
        log.info("instance %s arrived on %s by live migration", uuid, self.host)

    # ------------------------------------------------- cold migration's disk
    def _staged_disk(self: Any, uuid: str) -> Path:
        """Where a disk pulled from another host waits for the instance's spawn (a
        dot name: not an instance)."""
        self._dir(uuid)  # checks the id
        return Path(self.instances_dir) / f".incoming-{uuid}.qcow2"

    async def export_disk(self: Any, uuid: str) -> dict[str, Any]:
        """Power the instance off and serve its root disk's file (the qcow2 overlay,
        as bytes: the base image is the same on both hosts) read-only over NBD for
        one reader (qemu-nbd exits when it disconnects, or after EXPORT_TIMEOUT)."""
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            await self._stop(uuid, rec, 60)
        if rec.root_volume:
            return {}  # the volume is shared: nothing to carry
        disk = self._dir(uuid) / "disk.qcow2"
        addr = self.env.migration_address
        pidfile = self._dir(uuid) / "export.pid"
        for _ in range(5):  # a port found free may be taken before qemu-nbd binds it
            with socket.create_server((addr, 0)) as probe:
                port = int(probe.getsockname()[1])
            r = await self._run([binary(QEMU_NBD), "--read-only", "--format", "raw",
                                 "--export-name", EXPORT, "--bind", addr, "--port",
                                 str(port), "--shared", "1", "--fork", "--pid-file",
                                 str(pidfile), str(disk)], check=False, timeout=30)
            if r.returncode == 0:
                break
        else:
            raise DriverError(f"the disk of {uuid} could not be exported: "
                              f"{(r.stderr or r.stdout).strip()[-400:]}")
        asyncio.get_running_loop().call_later(EXPORT_TIMEOUT, _end_export, pidfile, disk)
        return {"address": addr, "port": port, "export": EXPORT, "backed": bool(rec.base)}

    async def import_disk(self: Any, instance: InstanceSpec, source: dict[str, Any]) -> None:
        """Copy the source's overlay file from its NBD export (sparse), to be
        adopted by the spawn that follows (`_adopt_disk`)."""
        if not source:
            return
        staged = self._staged_disk(instance.uuid)
        part = staged.with_suffix(".part")
        url = f"nbd://{source['address']}:{int(source['port'])}/{source['export']}"
        await self._run([binary(QEMU_IMG), "convert", "-q", "-f", "raw", "-O", "raw", url,
                         str(part)])
        info = json.loads((await self._run([binary(QEMU_IMG), "info", "-U", "-f", "qcow2",
                                            "--output", "json", str(part)])).stdout)
        if (info.get("format-specific") or {}).get("data", {}).get("data-file"):
            await asyncio.to_thread(part.unlink, True)
            raise PermanentError(f"the disk of {instance.uuid} names a data file")
        await asyncio.to_thread(part.rename, staged)

    async def _adopt_disk(self: Any, rec: InstanceRecord, staged: Path, disk: Path,
                          want: int) -> None:
        """The pulled disk becomes the instance's root disk: its backing file is this
        host's copy of the base image, and it is grown to `want` bytes if smaller."""
        if rec.base:
            await self._run([binary(QEMU_IMG), "rebase", "-q", "-u", "-f", "qcow2", "-F",
                             "qcow2", "-b", rec.base, str(staged)])
        else:
            await self._run([binary(QEMU_IMG), "rebase", "-q", "-u", "-f", "qcow2", "-b",
                             "", str(staged)])
        info = json.loads((await self._run([binary(QEMU_IMG), "info", "-U", "--output",
                                            "json", str(staged)])).stdout)
        if want > int(info.get("virtual-size") or 0):
            await self._run([binary(QEMU_IMG), "resize", "-q", str(staged), str(want)])
        await asyncio.to_thread(staged.rename, disk)


def _connect(path: Path, tries: int = 5) -> Qmp:
    """A QMP session, tried again a few times when the connection or its greeting
    fails (nothing was sent yet: a retry cannot run a command twice). Seen in the
    lab once: a session opened while another had just closed got no greeting."""
    for attempt in range(tries):
        try:
            return Qmp(path)
        except QmpError:
            if attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


#: an export nobody read is ended after this long (seconds)
EXPORT_TIMEOUT = 600.0
QEMU_NBD = "qemu-nbd"


def _end_export(pidfile: Path, disk: Path) -> None:
    """End a qemu-nbd that still serves `disk` (its pid file names it)."""
    import os
    import signal

    from overcast.agent.virt.qemu.process import proc_cmdline

    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if str(disk) in proc_cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)
