"""A QEMU process per instance: starting it (its command line, its cgroups, the
saved memory loaded when suspended), finding it again and talking to it over QMP,
stopping it.

QEMU runs daemonized (its own session, a pid file), so guests outlive the agent;
with ports it runs inside the dataplane's namespace (`ip netns exec`), where the
ports' taps live. A new driver object on the same state directory finds running
guests by their pid files (checked against /proc: start time and command line) and
talks to them over their QMP sockets. The serial console is a file kept across
boots; each start of QEMU adds a line `[overcast] starting instance <uuid>` to it,
so it names its instance before the guest says anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from overcast.agent.virt import base
from overcast.agent.virt.base import PermanentError, RetryableError
from overcast.agent.virt.common import InstanceFiles, trim_console
from overcast.agent.virt.common import proc_start as _proc_start
from overcast.agent.virt.qemu import cgroups, volumes
from overcast.agent.virt.qemu.accel import QEMU, Accel, binary, esc, probe_accel
from overcast.agent.virt.qemu.qmp import QMP_TIMEOUT, Qmp, QmpError
from overcast.agent.virt.qemu.record import InstanceRecord

log = logging.getLogger("overcast.agent.virt.qemu")

#: the console log is cut to its last CONSOLE_KEEP bytes when a start finds it larger
CONSOLE_KEEP = 256 << 10
#: a guest still booting misses an ACPI power button press: pressed again this often
POWERDOWN_EVERY = 1.0
#: QMP run states -> Nova power states
POWER_STATES = {
    "running": base.RUNNING, "paused": base.PAUSED, "prelaunch": base.PAUSED,
    "debug": base.PAUSED, "io-error": base.PAUSED, "suspended": base.SUSPENDED,
    "inmigrate": base.SUSPENDED, "postmigrate": base.SUSPENDED,
    "finish-migrate": base.SUSPENDED, "save-vm": base.SUSPENDED,
    "restore-vm": base.SUSPENDED, "shutdown": base.SHUTDOWN,
    "guest-panicked": base.CRASHED, "internal-error": base.CRASHED,
    "watchdog": base.CRASHED, "colo": base.RUNNING,
}
#: QEMU start-up failures worth retrying (the host is short of something for now)
TRANSIENT = ("cannot set up guest memory", "Cannot allocate memory", "temporarily",
             "Device or resource busy", "Failed to get", "lock")


def proc_cmdline(pid: int) -> list[str]:
    """A process's command line ([] when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _is_nbd(vol: dict[str, Any]) -> bool:
    return (vol.get("connection_info") or {}).get("driver_volume_type") == "nbd"


def _tsc_khz() -> int | None:
    """The host's TSC rate in kHz (a TCG guest's TSC runs at it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return int(float(line.split(":", 1)[1]) * 1000)
    except (OSError, ValueError):
        pass
    return None


class QemuProcess(InstanceFiles[InstanceRecord]):
    """The process half of the QEMU driver (the driver sets `_accel`, `_probe_lock`
    and `_qmp_locks` in its constructor)."""

    record_type = InstanceRecord
    port_kind = "tap"
    _accel: Accel | None
    _probe_lock: asyncio.Lock
    _qmp_locks: dict[str, asyncio.Lock]

    @staticmethod
    def cgroup(uuid: str) -> str:
        """The name of the instance's cgroups."""
        return cgroups.name_of(uuid)

    async def accelerator(self) -> Accel:
        """The accelerator guests get here (probed once, see probe_accel)."""
        if self._accel is None:
            async with self._probe_lock:
                if self._accel is None:
                    self._accel = await asyncio.to_thread(
                        probe_accel, self.env.state_dir / "accel.json")
        return self._accel

    @staticmethod
    def _built(rec: InstanceRecord) -> InstanceRecord:
        if not rec.built:
            raise PermanentError(f"instance {rec.uuid} was never completely built")
        return rec

    # --------------------------------------------------------------- process
    def _pid(self, uuid: str, rec: InstanceRecord | None = None) -> int | None:
        """The pid of the instance's live QEMU, None when none runs. The pid file (or
        the record) names it; its command line must name our pid file, and its start
        time the recorded one (a pid reused by another process is not ours)."""
        d = self._dir(uuid)
        pidfile = d / "qemu.pid"
        candidates: list[int] = []
        with contextlib.suppress(OSError, ValueError):
            candidates.append(int(pidfile.read_text().strip()))
        if rec and rec.pid:
            candidates.append(int(rec.pid))
        for pid in dict.fromkeys(candidates):
            start = _proc_start(pid)
            if start is None or str(pidfile) not in proc_cmdline(pid):
                continue
            if rec and rec.pid == pid and rec.pid_start not in (None, start):
                continue
            return pid
        return None

    async def _alive(self, uuid: str, rec: InstanceRecord | None = None) -> int | None:
        return await asyncio.to_thread(self._pid, uuid, rec)

    async def _qmp(self, uuid: str, *commands: tuple[str, dict[str, Any] | None],
                   timeout: float = QMP_TIMEOUT) -> list[Any]:
        """Run QMP commands in one session; the replies in order."""
        path = self._dir(uuid) / "qmp.sock"

        def session() -> list[Any]:
            with Qmp(path, timeout) as q:
                return [q.execute(cmd, args) for cmd, args in commands]

        async with self._qmp_locks.setdefault(uuid, asyncio.Lock()):
            return await asyncio.to_thread(session)

    async def _status(self, uuid: str, rec: InstanceRecord) -> str:
        """QEMU's run state (query-status), `absent` when no process runs, `unknown`
        when it runs but does not answer."""
        if await self._alive(uuid, rec) is None:
            return "absent"
        try:
            (status,) = await self._qmp(uuid, ("query-status", None), timeout=5)
        except QmpError as exc:
            if await self._alive(uuid, rec) is None:
                return "absent"
            log.warning("QEMU of %s does not answer: %s", uuid, exc)
            return "unknown"
        return str(status.get("status", "unknown"))

    async def _wait_gone(self, pid: int, timeout: float) -> bool:
        start = _proc_start(pid)
        deadline = time.monotonic() + timeout
        while start is not None and _proc_start(pid) == start:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _kill(self, uuid: str, rec: InstanceRecord) -> None:
        pid = await self._alive(uuid, rec)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not await self._wait_gone(pid, 10):
            raise RetryableError(f"QEMU of {uuid} (pid {pid}) survived SIGKILL")

    async def _stop(self, uuid: str, rec: InstanceRecord, timeout: float) -> None:
        """Stop the guest: the ACPI power button (pressed every POWERDOWN_EVERY s)
        for up to `timeout` seconds, then QMP quit, then SIGKILL."""
        pid = await self._alive(uuid, rec)
        if pid is None:
            return
        if timeout > 0:
            deadline = time.monotonic() + timeout
            with contextlib.suppress(QmpError):
                (status,) = await self._qmp(uuid, ("query-status", None), timeout=5)
                if status.get("status") in ("paused", "prelaunch"):
                    await self._qmp(uuid, ("cont", None))  # a frozen guest hears nothing
            while time.monotonic() < deadline:
                with contextlib.suppress(QmpError):
                    await self._qmp(uuid, ("system_powerdown", None), timeout=5)
                if await self._wait_gone(pid, min(POWERDOWN_EVERY,
                                                  deadline - time.monotonic())):
                    return
        with contextlib.suppress(QmpError):
            await self._qmp(uuid, ("quit", None), timeout=5)
        if await self._wait_gone(pid, 5):
            return
        await self._kill(uuid, rec)

    # -------------------------------------------------------------- building
    async def _plug(self, rec: InstanceRecord) -> list[str]:
        """Every port's tap in the dataplane's namespace; their device names, in port
        order."""
        if self.env.plugger is None or not rec.ports:
            return []
        return [await self._plug_port(rec, port) for port in rec.ports]

    @staticmethod
    def _root_volume(rec: InstanceRecord) -> dict[str, Any] | None:
        return next((v for v in rec.volumes if rec.root_volume and
                     v.get("volume_id") == rec.root_volume), None)

    @staticmethod
    def _volume_args(rec: InstanceRecord, vol: dict[str, Any],
                     bootindex: int | None) -> list[str]:
        vid = str(vol["volume_id"])
        slot = vol.get("slot")
        return ["-blockdev", volumes.blockdev_arg(vol["connection_info"]),
                "-device", volumes.device_arg(volumes.device(
                    vid, rec.machine, bootindex, int(slot) if slot is not None else None))]

    def _argv(self, rec: InstanceRecord, accel: Accel, devices: list[str],
              incoming: bool, late_nbd: bool = False) -> list[str]:
        d = self._dir(rec.uuid)
        micro = rec.machine == "microvm"
        blk = "virtio-blk-device" if micro else "virtio-blk-pci"
        nic = "virtio-net-device" if micro else "virtio-net-pci"
        qmp = d / "qmp.sock"
        # sun_path is 108 bytes: a long state directory gets a relative path (QEMU
        # starts in the instance directory)
        qmp_arg = str(qmp) if len(str(qmp).encode()) <= 100 else qmp.name
        argv = [binary(QEMU), "-name", f"guest={rec.uuid}", "-uuid", rec.uuid,
                "-accel", accel.name, *(["-cpu", "host"] if accel.name == "kvm" else []),
                "-M", rec.machine, "-m", str(int(rec.memory_mb)),
                "-smp", str(max(1, int(rec.vcpus))),
                "-nodefaults", "-no-user-config", "-display", "none",
                "-chardev", f"file,id=console,path={esc(d / 'console.log')},append=on",
                "-serial", "chardev:console",
                "-qmp", f"unix:{esc(qmp_arg)},server=on,wait=off",
                "-pidfile", str(d / "qemu.pid"), "-daemonize"]
        if rec.boot == "kernel":
            argv += ["-kernel", str(d / "kernel")]
            if rec.ramdisk:
                argv += ["-initrd", str(d / "ramdisk")]
            argv += ["-append", self._cmdline(rec, accel)]
        else:
            argv += ["-boot", "strict=on"]
        boot = "" if rec.boot == "kernel" else ",bootindex=0"
        root = self._root_volume(rec)
        if root is None:
            argv += ["-drive", f"file={esc(d / 'disk.qcow2')},if=none,id=root,"
                               "format=qcow2,discard=unmap",
                     "-device", f"{blk},drive=root{boot}"]
        else:  # the volume is the root disk (first, so the guest names it vda)
            argv += self._volume_args(rec, root, 0 if rec.boot != "kernel" else None)
        if rec.config_drive:
            argv += ["-drive", f"file={esc(d / 'config.iso')},if=none,id=config,format=raw,"
                               "readonly=on", "-device", f"{blk},drive=config"]
        for vol in rec.volumes:
            if vol is not root and not (late_nbd and _is_nbd(vol)):
                argv += self._volume_args(rec, vol, None)
        if late_nbd and any(_is_nbd(v) for v in rec.volumes if v is not root):
            argv += ["-S"]  # NBD volumes are added over QMP before the guest runs
        for i, (port, dev) in enumerate(zip(rec.ports, devices, strict=False)):
            mtu = int(port.get("mtu") or 0)
            extra = "" if micro else ",romfile="
            argv += ["-netdev", f"tap,id=net{i},ifname={dev},script=no,downscript=no",
                     "-device", f"{nic},netdev=net{i},mac={port['mac_address']}"
                                f"{f',host_mtu={mtu}' if mtu else ''}{extra}"]
        if incoming:
            argv += ["-incoming", "defer"]
        return argv

    @staticmethod
    def _cmdline(rec: InstanceRecord, accel: Accel) -> str:
        """The kernel's command line: the image's os_command_line or a serial console
        with /dev/vda as root; under TCG a microvm guest needs the TSC rate (it has
        no HPET or PM timer to calibrate against)."""
        cmdline = str(rec.cmdline or "root=/dev/vda console=ttyS0 quiet panic=-1")
        khz = _tsc_khz()
        if rec.machine == "microvm" and accel.name == "tcg" and khz and \
                "tsc_early_khz=" not in cmdline:
            cmdline += f" tsc_early_khz={khz}"
        return cmdline

    # -------------------------------------------------------------- starting
    async def _start(self, rec: InstanceRecord, devices: list[str] | None = None) -> None:
        """Bring the instance to RUNNING: a live QEMU is kept (a paused one is
        continued); else QEMU starts on the instance's disks (from the saved memory
        when suspended). `devices` are the ports' taps when already plugged."""
        uuid = rec.uuid
        d = self._dir(uuid)
        if await self._alive(uuid, rec) is not None:
            if await self._status(uuid, rec) in ("paused", "prelaunch"):
                await self._qmp(uuid, ("cont", None))
            return
        accel = await self.accelerator()
        if devices is None:
            devices = await self._plug(rec)
        state = d / "memory.state"
        incoming = bool(rec.suspended) and await asyncio.to_thread(state.is_file)
        netns = self.env.plugger.host_ns if devices and self.env.plugger else None

        def prepare() -> None:
            console = d / "console.log"
            trim_console(console, CONSOLE_KEEP)
            (d / "qmp.sock").unlink(missing_ok=True)
            (d / "qemu.pid").unlink(missing_ok=True)
            how = "resuming" if incoming else "starting"
            with open(console, "a") as fh:
                fh.write(f"[overcast] {how} instance {uuid} on {self.host} "
                         f"(qemu, {accel.name}, {rec.machine})\n")

        await asyncio.to_thread(prepare)
        # in another namespace, QEMU reaches no NBD server on the host's loopback:
        # those volumes are connected from here once QEMU runs (paused until then)
        late_nbd = netns is not None and not incoming
        argv = self._argv(rec, accel, devices, incoming, late_nbd)
        r = await self._run(argv, check=False, timeout=60, netns=netns, cwd=d)
        if r.returncode != 0:
            err = (r.stderr or r.stdout).strip()[-800:]
            kind = RetryableError if any(t in err for t in TRANSIENT) else PermanentError
            raise kind(f"QEMU could not start instance {uuid}: {err}")
        pid = await self._alive(uuid)
        if pid is None:
            raise RetryableError(f"QEMU of instance {uuid} exited as it started")
        rec.pid, rec.pid_start = pid, _proc_start(pid)
        try:
            await asyncio.to_thread(cgroups.enter, self.cgroup(uuid), pid,
                                    int(rec.vcpus), int(rec.memory_mb))
        except OSError as exc:
            log.warning("no cgroup limits for %s: %s", uuid, exc)
        await self._save(rec)
        late = [v for v in rec.volumes if late_nbd and _is_nbd(v)
                and v is not self._root_volume(rec)]
        if late:
            try:
                for vol in late:
                    await self._add_volume(rec, vol, in_netns=True)
                await self._qmp(uuid, ("cont", None))
            except (QmpError, OSError) as exc:
                await self._kill(uuid, rec)
                raise RetryableError(f"the NBD volumes of {uuid} could not be "
                                     f"connected: {exc}") from exc
        if incoming:
            await self._incoming(rec, pid, state)

    async def _add_volume(self, rec: InstanceRecord, vol: dict[str, Any], *,
                          in_netns: bool) -> None:
        """The volume's block nodes and device added to the running QEMU (an NBD
        export connected from the agent's namespace when QEMU is in another)."""
        info = vol["connection_info"]
        vid = str(vol["volume_id"])
        fmt_node, _, _ = volumes.names(vid)
        sock = None
        fd_name = None
        if in_netns and _is_nbd(vol):
            data = info["data"]
            sock = await asyncio.to_thread(socket.create_connection,
                                           (str(data["host"]), int(data["port"])), 10)
            fd_name = f"nbd-{fmt_node}"
        path = self._dir(rec.uuid) / "qmp.sock"

        def add() -> None:
            with Qmp(path) as q:
                # a node left by an attach cut short (the agent killed between the
                # two commands) is taken as it is
                nodes = q.execute("query-named-block-nodes", {"flat": True})
                if not any(n.get("node-name") == fmt_node for n in nodes):
                    if sock is not None:
                        q.execute("getfd", {"fdname": fd_name}, fds=[sock.fileno()])
                    q.execute("blockdev-add", volumes.blockdev(info, fd_name))
                try:
                    slot = vol.get("slot")
                    q.execute("device_add", volumes.device(
                        vid, rec.machine, slot=int(slot) if slot is not None else None))
                except QmpError:
                    with contextlib.suppress(QmpError):
                        q.execute("blockdev-del", {"node-name": fmt_node})
                    raise

        try:
            async with self._qmp_locks.setdefault(rec.uuid, asyncio.Lock()):
                await asyncio.to_thread(add)
        finally:
            if sock is not None:
                sock.close()  # QEMU holds its own copy

    async def _incoming(self, rec: InstanceRecord, pid: int, state: Path) -> None:
        """Load the saved memory into the QEMU just started with `-incoming defer`,
        then let it run; a state that does not load means a cold boot."""
        uuid = rec.uuid
        path = self._dir(uuid) / "qmp.sock"

        def load() -> str:
            fd = os.open(state, os.O_RDONLY)
            try:
                with Qmp(path) as q:
                    q.execute("getfd", {"fdname": "state"}, fds=[fd])
                    q.execute("migrate-incoming", {"uri": "fd:state"})
                    deadline = time.monotonic() + 600
                    while time.monotonic() < deadline:
                        status = str(q.execute("query-status")["status"])
                        if status != "inmigrate":
                            if status in ("paused", "postmigrate", "prelaunch"):
                                q.execute("cont")
                            return status
                        time.sleep(0.02)
                    return "timeout"
            finally:
                os.close(fd)

        try:
            async with self._qmp_locks.setdefault(uuid, asyncio.Lock()):
                status = await asyncio.to_thread(load)
        except QmpError as exc:
            status = f"failed ({exc})"
        if status in ("paused", "running", "postmigrate", "prelaunch"):
            rec.suspended = False
            await self._save(rec)
            await asyncio.to_thread(state.unlink, True)
            return
        log.warning("the saved state of %s did not load (%s): booting it afresh", uuid,
                    status)
        await self._kill(uuid, rec)
        await asyncio.to_thread(state.rename, state.with_suffix(".state.bad"))
        rec.suspended = False
        await self._save(rec)
        await self._start(rec)
