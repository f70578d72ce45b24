"""The QEMU driver: each instance is a QEMU process, driven over QMP.

How an instance boots depends on its image (Glance's record, as Nova's libvirt
driver reads it):

* an image with a `kernel_id` property (an AMI, or a qcow2 snapshot of an AMI
  instance) boots that kernel (and its `ramdisk_id`) directly: `-M microvm` with
  virtio-mmio devices, the kernel entered through its PVH note when it is an ELF
  vmlinux (under TCG that reaches userspace in about 2 s instead of 5), with
  `tsc_early_khz` on the command line (without it a TCG guest on microvm, which
  has no HPET or PM timer, sometimes hangs calibrating its TSC: HOST_FACTS §4);
  its root disk is an overlay over the machine image (a machine image without
  data gets a blank root disk: the guest runs from its ramdisk);
* any other image is a bootable disk (qcow2, raw, vmdk, vdi, vhd, vhdx) booted
  through the firmware: `-M pc` (or the image's `hw_machine_type`) and SeaBIOS.

Images are cached once per host in the driver's state directory: kernels and
ramdisks copied, disks converted to standalone qcow2 (after checking that they are
what they claim to be and have no backing or data file that would read host files).
Each entry is made in a temporary directory renamed into place, so a crash never
leaves a half image that looks whole. An instance's root disk is a qcow2 overlay
over the cached base (`qemu-img create -F qcow2 -b base`), grown to the flavor's
root_gb. Its config drive, when asked for, is an ISO 9660 image labelled config-2
(vfat when no ISO tool is installed) holding the openstack/latest documents.

The accelerator is chosen once per host boot by booting a 512-byte test guest under
KVM (with `-cpu host`, as instances get): a /dev/kvm that cannot run it, or takes
seconds for it, means TCG (on a host whose KVM is kvm_pvm, /dev/kvm exists but
guests hang). The answer is cached in the state directory, keyed by the boot id.

QEMU runs daemonized (its own session, a pid file), so guests outlive the agent;
with ports it runs inside the dataplane's namespace (`ip netns exec`), where the
ports' taps live. A new driver object on the same state directory finds running
guests by their pid files (checked against /proc: start time and command line) and
talks to them over their QMP sockets. Each QEMU process is put in cgroups that cap
its CPU at the flavor's vCPUs and its memory at the guest's RAM plus QEMU's own
overhead (best effort: a host without cgroups runs guests without limits).

Power actions over QMP: power_off presses the ACPI power button (repeated: a guest
still booting misses a press) and quits after the timeout; pause/unpause are
stop/cont; suspend saves the guest's memory to a file (a migration to a file
descriptor) and ends the process, resume starts it again with `-incoming` (so a
suspended guest survives an agent or host restart); a hard reboot is a
system_reset, a soft one a power_off and start. The serial console is a file kept
across boots; each start of QEMU adds a line `[overcast] starting instance <uuid>`
to it, so it names its instance before the guest says anything.

Spawn returns once QEMU runs: about 60-100 ms on an idle 2-core host with the image
cached (mostly QEMU's start-up, which copies a 60 MB vmlinux into the guest), 150-
400 ms while other guests boot beside it, plus the image's caching the first time.
overcast-tiny then reports on its console about 2.8 s later under TCG (microvm,
PVH), or 6.5 s later from its disk through SeaBIOS.

Layout of the state directory:

    accel.json                          the accelerator probe's answer
    images/<image id>.file/data         a kernel or ramdisk, as fetched
    images/<image id>.disk/disk.qcow2   a machine image as a standalone qcow2
                          /image.json   what was checked (format, virtual size) and
                                        how it boots (kernel_id...)
    instances/<uuid>/instance.json      the instance's record
                     disk.qcow2         its root disk (overlay over the cached base)
                     kernel, ramdisk    hard links to the cached files
                     config.iso         its config drive
                     console.log        the serial console, across boots
                     qemu.pid, qmp.sock the running process and its control socket
                     memory.state       the saved guest while suspended
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overcast.agent.virt import base
from overcast.agent.virt.base import (
    Driver,
    DriverEnv,
    DriverError,
    InstanceNotFound,
    PermanentError,
    RetryableError,
)
from overcast.agent.virt.common import (
    CONSOLE_MAX,
    InstanceFiles,
    config_documents,
    host_resources,
    hostname_of,
    write_documents,
)
from overcast.agent.virt.common import proc_start as _proc_start
from overcast.agent.virt.common import tail as _tail
from overcast.agent.virt.common import write_json as _write_json
from overcast.bus.messages import InstanceSpec
from overcast.kit.runner import CommandError, Result, run, which

log = logging.getLogger("overcast.agent.virt.qemu")

QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
#: Debian packages of the binaries the driver needs
PACKAGES = {QEMU: "qemu-system-x86", QEMU_IMG: "qemu-utils", "genisoimage": "genisoimage"}
#: the cgroups of an instance's QEMU: ovq-<uuid>
PREFIX = "ovq-"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD = 100_000
#: QEMU's own memory on top of the guest's RAM (TCG code buffer, the kernel it
#: loaded, device state: about 150 MB at -m 128 under TCG)
MEMORY_OVERHEAD_MB = 256
#: the console log is cut to its last CONSOLE_KEEP bytes when a start finds it larger
CONSOLE_KEEP = 256 << 10
#: a guest still booting misses an ACPI power button press: pressed again this often
POWERDOWN_EVERY = 1.0
QMP_TIMEOUT = 10.0
#: a healthy KVM runs the test guest in well under a second; kvm_pvm takes seconds
KVM_PROBE_TIMEOUT = 2.0
#: the test guest's exit code: isa-debug-exit turns `out 0xf4, 0x31` into (0x31 << 1) | 1
KVM_PROBE_EXIT = 99
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
#: Glance disk formats -> qemu-img format names
DISK_FORMATS = {"qcow2": "qcow2", "raw": "raw", "ami": "raw", "vmdk": "vmdk", "vdi": "vdi",
                "vhd": "vpc", "vhdx": "vhdx"}
MACHINES = ("pc", "q35")
#: the image properties that decide how an image boots (kept with its cached disk,
#: for a spawn whose image record is gone from the image service)
BOOT_PROPERTIES = ("disk_format", "container_format", "kernel_id", "ramdisk_id",
                   "os_command_line", "hw_machine_type")
#: QEMU start-up failures worth retrying (the host is short of something for now)
TRANSIENT = ("cannot set up guest memory", "Cannot allocate memory", "temporarily",
             "Device or resource busy", "Failed to get", "lock")
GiB = 1 << 30


def available() -> str | None:
    """None when this host can run QEMU guests, else what is missing."""
    for binary in (QEMU, QEMU_IMG):
        if which(binary) is None:
            return f"{binary} is missing: apt-get install {PACKAGES[binary]}"
    return None


def describe() -> str:
    """The accelerator guests get here and why (for `overcast doctor`)."""
    why = available()
    if why:
        return why
    accel = probe_accel(Path(tempfile.gettempdir()) / "overcast-qemu-accel.json")
    return accel.describe()


# -------------------------------------------------------------------- accelerator


@dataclass(frozen=True)
class Accel:
    name: str  # kvm | tcg
    why: str

    def describe(self) -> str:
        what = "KVM (hardware virtualization)" if self.name == "kvm" else \
            "TCG (software emulation, guests boot in seconds)"
        return f"{what}: {self.why}"


_ACCEL: dict[str, Accel] = {}


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _probe_sector() -> bytes:
    """A boot sector that says `out 0xf4, 0x31` (QEMU's isa-debug-exit ends QEMU with
    exit code 99) and halts."""
    code = bytes([0xB0, 0x31, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
    return code.ljust(510, b"\0") + b"\x55\xaa"


def _run_kvm_probe(qemu: str) -> Accel:
    scratch = Path(tempfile.mkdtemp(prefix="overcast-kvm-probe-"))
    try:
        img = scratch / "probe.img"
        img.write_bytes(_probe_sector())
        t0 = time.monotonic()
        try:
            r = run([qemu, "-accel", "kvm", "-cpu", "host", "-M", "pc", "-m", "16",
                     "-nodefaults", "-no-user-config", "-display", "none",
                     "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                     "-drive", f"file={_esc(img)},format=raw,if=ide"],
                    check=False, timeout=KVM_PROBE_TIMEOUT)
        except CommandError:
            return Accel("tcg", f"/dev/kvm is there but a test guest under KVM did not "
                                f"finish within {KVM_PROBE_TIMEOUT:.0f} s (a broken or "
                                "paravirtual KVM, such as kvm_pvm)")
        took = (time.monotonic() - t0) * 1e3
        if r.returncode == KVM_PROBE_EXIT:
            return Accel("kvm", f"a test guest ran under KVM in {took:.0f} ms")
        err = [line for line in r.stderr.splitlines() if line.strip()]
        detail = err[0].strip() if err else f"exit code {r.returncode}"
        return Accel("tcg", f"/dev/kvm is there but a test guest failed under KVM "
                            f"({detail[:300]})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def probe_accel(cache: Path | None = None) -> Accel:
    """KVM when a test guest really runs under it, else TCG; asked once per process
    and remembered in `cache` (a JSON file) until the host reboots or QEMU changes."""
    qemu = which(QEMU)
    if qemu is None:
        return Accel("tcg", f"{QEMU} is missing")
    if not os.path.exists("/dev/kvm"):
        return Accel("tcg", "this host has no /dev/kvm")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return Accel("tcg", "/dev/kvm is not accessible to this user")
    st = os.stat(qemu)
    key = f"{_boot_id()}:{qemu}:{st.st_size}:{st.st_mtime_ns}"
    saved: dict[str, Any] = {}
    if cache is not None:
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads(cache.read_text())
    accel = _ACCEL.get(key)
    if accel is None and saved.get("key") == key and saved.get("name") in ("kvm", "tcg"):
        accel = Accel(str(saved["name"]), str(saved.get("why", "")))
    if accel is None:
        accel = _run_kvm_probe(qemu)
        log.info("QEMU accelerator: %s", accel.describe())
    _ACCEL[key] = accel
    if cache is not None and saved.get("key") != key:
        with contextlib.suppress(OSError):
            _write_json(cache, {"key": key, "name": accel.name, "why": accel.why})
    return accel


# ------------------------------------------------------------------------- helpers


def _esc(path: Path | str) -> str:
    """A path inside a QEMU option string (commas are doubled)."""
    return str(path).replace(",", ",,")


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _tsc_khz() -> int | None:
    """The host's TSC rate in kHz (a TCG guest's TSC runs at it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return int(float(line.split(":", 1)[1]) * 1000)
    except (OSError, ValueError):
        pass
    return None


def _prop(image: dict[str, Any], key: str) -> Any:
    """An image property: Glance v2 records carry them at the top level, older ones
    under `properties`."""
    value = image.get(key)
    if value in (None, ""):
        value = (image.get("properties") or {}).get(key)
    return value if value not in ("", None) else None


def _binary(name: str) -> str:
    path = which(name)
    if path is None:
        raise PermanentError(f"{name} is missing on this host: apt-get install "
                             f"{PACKAGES.get(name, name)}")
    return path


def _is_kernel(path: Path) -> bool:
    """An ELF (vmlinux, PVH) or an x86 bzImage (setup header `HdrS`)."""
    with open(path, "rb") as fh:
        head = fh.read(0x210)
    return head[:4] == b"\x7fELF" or head[0x202:0x206] == b"HdrS"


# ---------------------------------------------------------------------------- cgroups


def _cgroup_dirs(name: str) -> list[Path]:
    """Where an instance's cgroups go: v1 cpu and memory hierarchies (a hybrid host),
    else one cgroup2 directory when it has the cpu and memory controllers."""
    dirs = []
    for ctrl in ("cpu", "cpu,cpuacct", "memory"):
        root = CGROUP_ROOT / ctrl
        if (root / "cgroup.procs").exists() and not root.is_symlink():
            dirs.append(root / name)
    if dirs:
        return dirs
    try:
        controllers = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
    except OSError:
        return []
    return [CGROUP_ROOT / name] if {"cpu", "memory"} <= set(controllers) else []


def _cgroup_enter(name: str, pid: int, vcpus: int, memory_mb: int) -> None:
    """Put `pid` (all its threads) in the instance's cgroups, with the CPU capped at
    `vcpus` and memory at the guest's plus QEMU's overhead."""
    limit = (memory_mb + MEMORY_OVERHEAD_MB) << 20
    quota = max(1, vcpus) * CPU_PERIOD
    for d in _cgroup_dirs(name):
        d.mkdir(exist_ok=True)
        files: dict[str, str] = {}
        if (d / "cpu.cfs_quota_us").exists():
            files = {"cpu.cfs_period_us": str(CPU_PERIOD), "cpu.cfs_quota_us": str(quota)}
        elif (d / "memory.limit_in_bytes").exists():
            files = {"memory.limit_in_bytes": str(limit)}
        elif (d / "cpu.max").exists() or (d / "memory.max").exists():
            files = {"cpu.max": f"{quota} {CPU_PERIOD}", "memory.max": str(limit)}
        for fname, value in files.items():
            if (d / fname).exists():
                (d / fname).write_text(value)
        (d / "cgroup.procs").write_text(str(pid))


def _cgroup_remove(name: str) -> bool:
    """Remove the instance's cgroups; False while one is still busy (a killed QEMU
    stays in its cgroup until init reaps it, about a second later here)."""
    gone = True
    for d in _cgroup_dirs(name):
        try:
            d.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            gone = False
    return gone


def _cgroup_names() -> set[str]:
    """The names of every instance cgroup on the host (ovq-*)."""
    names: set[str] = set()
    for d in {p.parent for p in _cgroup_dirs(f"{PREFIX}x")}:
        with contextlib.suppress(OSError):
            names.update(n for n in os.listdir(d) if n.startswith(PREFIX))
    return names


# -------------------------------------------------------------------------------- QMP


class QmpError(Exception):
    """QMP said no, or the socket is gone."""


class Qmp:
    """One QMP session on a guest's control socket (blocking; run it in a thread).
    Events met while waiting for a reply are kept in `events`."""

    def __init__(self, path: Path, timeout: float = QMP_TIMEOUT) -> None:
        self.events: list[dict[str, Any]] = []
        self._buf = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        where = str(path)
        dirfd = None
        if len(where.encode()) > 100:  # sun_path holds 108 bytes: go through the dir
            dirfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
            where = f"/proc/self/fd/{dirfd}/{path.name}"
        try:
            self.sock.connect(where)
            greeting = self._read()
            if "QMP" not in greeting:
                raise QmpError(f"no QMP greeting on {path}")
            self.execute("qmp_capabilities")
        except (OSError, ValueError) as exc:
            self.sock.close()
            raise QmpError(f"QMP on {path}: {exc}") from exc
        except QmpError:
            self.sock.close()
            raise
        finally:
            if dirfd is not None:
                os.close(dirfd)

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QEMU closed its control socket")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg: dict[str, Any] = json.loads(line)
        return msg

    def execute(self, command: str, args: dict[str, Any] | None = None,
                fds: list[int] | None = None) -> Any:
        msg: dict[str, Any] = {"execute": command}
        if args:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.sendall(data)
            while True:
                reply = self._read()
                if "event" in reply:
                    self.events.append(reply)
                    continue
                if "error" in reply:
                    raise QmpError(f"{command}: {reply['error'].get('desc', reply['error'])}")
                if "return" in reply:
                    return reply["return"]
        except (OSError, ValueError) as exc:
            raise QmpError(f"{command}: {exc}") from exc


# --------------------------------------------------------------------------- metadata


def write_config_drive(dest: Path, docs: dict[str, Any]) -> None:
    """An ISO 9660 image labelled config-2 with openstack/latest/<document> (vfat, as
    Nova's config_drive_format=vfat, when no ISO tool is installed)."""
    scratch = Path(tempfile.mkdtemp(prefix=".config-drive-", dir=dest.parent))
    try:
        write_documents(scratch, docs)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.unlink(missing_ok=True)
        iso = which("genisoimage") or which("xorrisofs") or which("mkisofs")
        if iso:
            run([iso, "-quiet", "-o", str(tmp), "-V", "config-2", "-J", "-r",
                 str(scratch)], timeout=120)
        elif which("mkfs.vfat") and which("mcopy"):
            run(["mkfs.vfat", "-n", "config-2", "-C", str(tmp), "65536"], timeout=120)
            run(["mcopy", "-s", "-i", str(tmp), str(scratch / "openstack"), "::/"],
                timeout=120)
        else:
            raise PermanentError("a config drive needs genisoimage (apt-get install "
                                 "genisoimage) or mkfs.vfat and mcopy (dosfstools, mtools)")
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------------------- driver


class QemuDriver(InstanceFiles, Driver):
    name = "qemu"
    capabilities = frozenset({"pause", "suspend", "reboot", "rebuild", "resize",
                              "console_output", "snapshot"})

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
        self._image_locks: dict[str, asyncio.Lock] = {}
        self._reaping: dict[str, asyncio.Task[None]] = {}

    # ---------------------------------------------------------------- names
    @staticmethod
    def cgroup(uuid: str) -> str:
        """The name of the instance's cgroups."""
        return f"{PREFIX}{uuid}"

    async def accelerator(self) -> Accel:
        """The accelerator guests get here (probed once, see probe_accel)."""
        if self._accel is None:
            async with self._probe_lock:
                if self._accel is None:
                    self._accel = await asyncio.to_thread(
                        probe_accel, self.env.state_dir / "accel.json")
        return self._accel

    async def _run(self, argv: list[str], *, check: bool = True, timeout: float | None = 120,
                   netns: str | None = None, cwd: Path | None = None) -> Result:
        try:
            return await asyncio.to_thread(run, argv, check=check, timeout=timeout,
                                           netns=netns, cwd=str(cwd) if cwd else None)
        except CommandError as exc:
            raise RetryableError(str(exc)) from exc

    # --------------------------------------------------------------- records
    @staticmethod
    def _built(rec: dict[str, Any]) -> dict[str, Any]:
        if not rec.get("built"):
            raise PermanentError(f"instance {rec['uuid']} was never completely built")
        return rec

    # --------------------------------------------------------------- process
    def _pid(self, uuid: str, rec: dict[str, Any] | None = None) -> int | None:
        """The pid of the instance's live QEMU, None when none runs. The pid file (or
        the record) names it; its command line must name our pid file, and its start
        time the recorded one (a pid reused by another process is not ours)."""
        d = self._dir(uuid)
        pidfile = d / "qemu.pid"
        candidates: list[int] = []
        with contextlib.suppress(OSError, ValueError):
            candidates.append(int(pidfile.read_text().strip()))
        if rec and rec.get("pid"):
            candidates.append(int(rec["pid"]))
        for pid in dict.fromkeys(candidates):
            start = _proc_start(pid)
            if start is None or str(pidfile) not in _cmdline(pid):
                continue
            if rec and rec.get("pid") == pid and rec.get("pid_start") not in (None, start):
                continue
            return pid
        return None

    async def _alive(self, uuid: str, rec: dict[str, Any] | None = None) -> int | None:
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

    async def _status(self, uuid: str, rec: dict[str, Any]) -> str:
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

    async def _kill(self, uuid: str, rec: dict[str, Any]) -> None:
        pid = await self._alive(uuid, rec)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not await self._wait_gone(pid, 10):
            raise RetryableError(f"QEMU of {uuid} (pid {pid}) survived SIGKILL")

    async def _stop(self, uuid: str, rec: dict[str, Any], timeout: float) -> None:
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

    # ---------------------------------------------------------------- images
    def _image_lock(self, key: str) -> asyncio.Lock:
        return self._image_locks.setdefault(key, asyncio.Lock())

    async def _fetch(self, image_id: str) -> Path:
        try:
            return Path(await self.env.image_path(image_id))
        except DriverError:
            raise
        except Exception as exc:  # noqa: BLE001 - the image service's own errors
            raise PermanentError(f"image {image_id} cannot be fetched: {exc}") from exc

    async def _cached(self, image_id: str, kind: str, fmt: str = "raw",
                      image: dict[str, Any] | None = None) -> Path:
        """The cache entry `images/<id>.<kind>` (kind: file or disk, a disk of qemu-img
        format `fmt` whose record is `image`), made if needed."""
        if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", image_id):
            raise PermanentError(f"{image_id!r} is not an image id")
        target = self.images_dir / f"{image_id}.{kind}"
        async with self._image_lock(target.name):
            if await asyncio.to_thread(target.is_dir):
                return target
            return await self._fill(image_id, kind, target, fmt, image or {})

    async def _fill(self, image_id: str, kind: str, target: Path, fmt: str,
                    image: dict[str, Any]) -> Path:
        src = await self._fetch(image_id)

        def prepare() -> Path:
            for stale in self.images_dir.glob(f".fill-{image_id}.{kind}-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a crash
            return Path(tempfile.mkdtemp(prefix=f".fill-{image_id}.{kind}-",
                                         dir=self.images_dir))

        tmp = await asyncio.to_thread(prepare)
        try:
            t0 = time.monotonic()
            if kind == "file":
                await asyncio.to_thread(shutil.copyfile, src, tmp / "data")
            else:
                await self._convert_disk(image_id, src, tmp, fmt, image)
            await asyncio.to_thread(os.rename, tmp, target)
            log.info("cached image %s (%s) in %.0f ms", image_id, kind,
                     (time.monotonic() - t0) * 1e3)
            return target
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
            raise

    async def _convert_disk(self, image_id: str, src: Path, tmp: Path, fmt: str,
                            image: dict[str, Any]) -> None:
        """Check the image is a disk of its declared format with no backing or data
        file, and convert it into tmp/disk.qcow2 (+ image.json)."""
        info = await self._image_info(image_id, src, fmt)
        await self._run([_binary(QEMU_IMG), "convert", "-q", "-f", fmt, "-O", "qcow2",
                         str(src), str(tmp / "disk.qcow2")], timeout=3600)
        await asyncio.to_thread(_write_json, tmp / "image.json", {
            "id": image_id, "source_format": fmt, "virtual_size": int(info["virtual-size"]),
            "properties": {k: _prop(image, k) for k in BOOT_PROPERTIES if _prop(image, k)},
            "cached_at": time.time()})

    async def _image_info(self, image_id: str, src: Path, fmt: str) -> dict[str, Any]:
        # qemu-img on hostile data is bounded (Nova does the same with prlimit)
        limit = ["prlimit", "--as=1073741824", "--cpu=30", "--"] if which("prlimit") else []
        r = await self._run([*limit, _binary(QEMU_IMG), "info", "-f", fmt, "--output=json",
                             str(src)], check=False, timeout=60)
        if r.returncode != 0:
            raise PermanentError(f"image {image_id} is not a valid {fmt} image: "
                                 f"{r.stderr.strip()[-400:]}")
        try:
            info: dict[str, Any] = json.loads(r.stdout)
        except ValueError:
            raise PermanentError(f"image {image_id}: qemu-img info said {r.stdout[:200]!r}")
        if info.get("backing-filename") or info.get("full-backing-filename"):
            raise PermanentError(f"image {image_id} refers to a backing file "
                                 f"({info.get('backing-filename')}): refused")
        data = ((info.get("format-specific") or {}).get("data") or {})
        if data.get("data-file"):
            raise PermanentError(f"image {image_id} refers to an external data file: refused")
        if not info.get("virtual-size"):
            raise PermanentError(f"image {image_id} is an empty disk")
        return info

    def _remembered(self, image_id: str) -> dict[str, Any]:
        """The boot properties of an image whose disk is cached here ({} if none)."""
        if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", image_id):
            return {}
        try:
            info = json.loads((self.images_dir / f"{image_id}.disk" / "image.json")
                              .read_text())
        except (OSError, ValueError):
            return {}
        props = info.get("properties")
        return dict(props) if isinstance(props, dict) else {}

    async def _boot_source(self, spec: InstanceSpec) -> dict[str, Any]:
        """What the instance boots from: kernel (+ramdisk) or firmware, the machine and
        the cached base of its root disk (None: a blank one)."""
        image = spec.image or {}
        image_id = str(image.get("id") or spec.image_ref or "")
        if not image_id:
            raise PermanentError(f"instance {spec.uuid} names no image")
        if not image.get("disk_format"):  # the image service no longer knows it
            image = {**await asyncio.to_thread(self._remembered, image_id), **image}
        disk_format = str(image.get("disk_format") or "")
        container_format = str(image.get("container_format") or "")
        if container_format in ("docker", "ova", "ovf"):
            raise PermanentError(f"image {image_id} is container_format {container_format}, "
                                 "not a disk image QEMU boots")
        if disk_format in ("aki", "ari"):
            raise PermanentError(f"image {image_id} is a {disk_format} (a kernel or ramdisk), "
                                 "not a machine image")
        if disk_format == "iso":
            raise PermanentError(f"image {image_id} is an ISO: booting installer CDs is not "
                                 "supported, use a disk image")
        if disk_format and disk_format not in DISK_FORMATS:
            raise PermanentError(f"image {image_id} has disk_format {disk_format}, which "
                                 f"QEMU here does not boot ({', '.join(DISK_FORMATS)})")
        fmt = DISK_FORMATS.get(disk_format, "raw")
        kernel_id = _prop(image, "kernel_id")
        src: dict[str, Any] = {"image_id": image_id, "base": None, "kernel": None,
                               "ramdisk": None, "virtual_size": 0,
                               "cmdline": _prop(image, "os_command_line")}
        if kernel_id:
            src["boot"], src["machine"] = "kernel", "microvm"
            kernel = await self._cached(str(kernel_id), "file")
            if not await asyncio.to_thread(_is_kernel, kernel / "data"):
                await asyncio.to_thread(shutil.rmtree, kernel, True)
                raise PermanentError(f"image {kernel_id} (the kernel_id of {image_id}) is "
                                     "not a Linux kernel (ELF or bzImage)")
            src["kernel"] = str(kernel / "data")
            ramdisk_id = _prop(image, "ramdisk_id")
            if ramdisk_id:
                src["ramdisk"] = str((await self._cached(str(ramdisk_id), "file")) / "data")
            if image.get("size") == 0:
                return src  # a machine image without data: the guest lives in its ramdisk
            try:
                path = await self._fetch(image_id)
            except PermanentError:
                if image.get("size"):
                    raise
                return src  # no data behind the machine image (size unknown)
            if (await asyncio.to_thread(path.stat)).st_size == 0:
                return src
        else:
            src["boot"] = "disk"
            machine = str(_prop(image, "hw_machine_type") or "pc")
            machine = "q35" if machine.startswith("pc-q35") else \
                "pc" if machine.startswith("pc-i440fx") else machine
            if machine not in MACHINES:
                raise PermanentError(f"image {image_id} asks for machine {machine}; this "
                                     f"driver boots disks on {' or '.join(MACHINES)}")
            src["machine"] = machine
        cached = await self._cached(image_id, "disk", fmt, image)
        info = json.loads(await asyncio.to_thread((cached / "image.json").read_text))
        src["base"] = str(cached / "disk.qcow2")
        src["virtual_size"] = int(info["virtual_size"])
        return src

    # -------------------------------------------------------------- building
    async def _make_root_disk(self, rec: dict[str, Any]) -> None:
        d = self._dir(rec["uuid"])
        disk = d / "disk.qcow2"
        want = int(rec.get("root_gb") or 0) * GiB
        if rec.get("base"):
            have = int(rec["virtual_size"])
            if want and want < have:
                raise PermanentError(
                    f"the flavor's root disk ({rec['root_gb']} GB) is smaller than image "
                    f"{rec['image_id']} ({have / GiB:.1f} GB)")
            size = [str(want)] if want > have else []
            await self._run([_binary(QEMU_IMG), "create", "-q", "-f", "qcow2", "-F", "qcow2",
                             "-b", rec["base"], str(disk), *size])
        else:
            await self._run([_binary(QEMU_IMG), "create", "-q", "-f", "qcow2", str(disk),
                             str(want or GiB)])

    async def _link_boot_files(self, rec: dict[str, Any]) -> None:
        """Hard links to the cached kernel and ramdisk (a copy across file systems):
        the instance keeps booting whatever happens to the cache."""
        d = self._dir(rec["uuid"])

        def link() -> None:
            for role in ("kernel", "ramdisk"):
                if not rec.get(role):
                    continue
                dest = d / role
                dest.unlink(missing_ok=True)
                try:
                    os.link(rec[role], dest)
                except OSError:
                    shutil.copyfile(rec[role], dest)

        await asyncio.to_thread(link)

    async def _config_drive(self, spec: InstanceSpec) -> None:
        docs = config_documents(spec)
        dest = self._dir(spec.uuid) / "config.iso"
        try:
            await asyncio.to_thread(write_config_drive, dest, docs)
        except CommandError as exc:
            raise RetryableError(f"the config drive of {spec.uuid} failed: {exc}") from exc

    async def _plug(self, rec: dict[str, Any]) -> list[str]:
        """Every port's tap in the dataplane's namespace (plug_port is idempotent);
        their device names, in port order."""
        plugger = self.env.plugger
        if plugger is None or not rec.get("ports"):
            return []
        from overcast.agent.net.linux import PortSpec

        devices = []
        for port in rec["ports"]:
            spec = PortSpec(id=port["id"], mac_address=port["mac_address"],
                            fixed_ips=list(port.get("fixed_ips") or []),
                            hostname=rec.get("hostname", ""))
            try:
                devices.append(await asyncio.to_thread(
                    plugger.plug_port, port["network_id"], spec,
                    int(port.get("mtu") or 1500), kind="tap"))
            except CommandError as exc:
                raise RetryableError(f"port {port['id']} could not be plugged: {exc}")
        return devices

    def _argv(self, rec: dict[str, Any], accel: Accel, devices: list[str],
              incoming: bool) -> list[str]:
        d = self._dir(rec["uuid"])
        micro = rec["machine"] == "microvm"
        blk = "virtio-blk-device" if micro else "virtio-blk-pci"
        nic = "virtio-net-device" if micro else "virtio-net-pci"
        qmp = d / "qmp.sock"
        # sun_path is 108 bytes: a long state directory gets a relative path (QEMU
        # starts in the instance directory)
        qmp_arg = str(qmp) if len(str(qmp).encode()) <= 100 else qmp.name
        argv = [_binary(QEMU), "-name", f"guest={rec['uuid']}", "-uuid", rec["uuid"],
                "-accel", accel.name, *(["-cpu", "host"] if accel.name == "kvm" else []),
                "-M", rec["machine"], "-m", str(int(rec["memory_mb"])),
                "-smp", str(max(1, int(rec["vcpus"]))),
                "-nodefaults", "-no-user-config", "-display", "none",
                "-chardev", f"file,id=console,path={_esc(d / 'console.log')},append=on",
                "-serial", "chardev:console",
                "-qmp", f"unix:{_esc(qmp_arg)},server=on,wait=off",
                "-pidfile", str(d / "qemu.pid"), "-daemonize"]
        if rec["boot"] == "kernel":
            argv += ["-kernel", str(d / "kernel")]
            if rec.get("ramdisk"):
                argv += ["-initrd", str(d / "ramdisk")]
            argv += ["-append", self._cmdline(rec, accel)]
        else:
            argv += ["-boot", "strict=on"]
        boot = "" if rec["boot"] == "kernel" else ",bootindex=0"
        argv += ["-drive", f"file={_esc(d / 'disk.qcow2')},if=none,id=root,format=qcow2,"
                           "discard=unmap", "-device", f"{blk},drive=root{boot}"]
        if rec.get("config_drive"):
            argv += ["-drive", f"file={_esc(d / 'config.iso')},if=none,id=config,format=raw,"
                               "readonly=on", "-device", f"{blk},drive=config"]
        for i, (port, dev) in enumerate(zip(rec.get("ports") or [], devices, strict=False)):
            mtu = int(port.get("mtu") or 0)
            extra = "" if micro else ",romfile="
            argv += ["-netdev", f"tap,id=net{i},ifname={dev},script=no,downscript=no",
                     "-device", f"{nic},netdev=net{i},mac={port['mac_address']}"
                                f"{f',host_mtu={mtu}' if mtu else ''}{extra}"]
        if incoming:
            argv += ["-incoming", "defer"]
        return argv

    @staticmethod
    def _cmdline(rec: dict[str, Any], accel: Accel) -> str:
        """The kernel's command line: the image's os_command_line or a serial console
        with /dev/vda as root; under TCG a microvm guest needs the TSC rate (it has
        no HPET or PM timer to calibrate against)."""
        cmdline = str(rec.get("cmdline") or "root=/dev/vda console=ttyS0 quiet panic=-1")
        khz = _tsc_khz()
        if rec["machine"] == "microvm" and accel.name == "tcg" and khz and \
                "tsc_early_khz=" not in cmdline:
            cmdline += f" tsc_early_khz={khz}"
        return cmdline

    # -------------------------------------------------------------- starting
    async def _start(self, rec: dict[str, Any], devices: list[str] | None = None) -> None:
        """Bring the instance to RUNNING: a live QEMU is kept (a paused one is
        continued); else QEMU starts on the instance's disks (from the saved memory
        when suspended). `devices` are the ports' taps when already plugged."""
        uuid = rec["uuid"]
        d = self._dir(uuid)
        if await self._alive(uuid, rec) is not None:
            if await self._status(uuid, rec) in ("paused", "prelaunch"):
                await self._qmp(uuid, ("cont", None))
            return
        accel = await self.accelerator()
        if devices is None:
            devices = await self._plug(rec)
        state = d / "memory.state"
        incoming = bool(rec.get("suspended")) and await asyncio.to_thread(state.is_file)
        netns = self.env.plugger.host_ns if devices and self.env.plugger else None

        def prepare() -> None:
            console = d / "console.log"
            with contextlib.suppress(FileNotFoundError):
                if console.stat().st_size > CONSOLE_MAX:
                    console.write_text(_tail(console, None, CONSOLE_KEEP))
            (d / "qmp.sock").unlink(missing_ok=True)
            (d / "qemu.pid").unlink(missing_ok=True)
            how = "resuming" if incoming else "starting"
            with open(console, "a") as fh:
                fh.write(f"[overcast] {how} instance {uuid} on {self.host} "
                         f"(qemu, {accel.name}, {rec['machine']})\n")

        await asyncio.to_thread(prepare)
        argv = self._argv(rec, accel, devices, incoming)
        r = await self._run(argv, check=False, timeout=60, netns=netns, cwd=d)
        if r.returncode != 0:
            err = (r.stderr or r.stdout).strip()[-800:]
            kind = RetryableError if any(t in err for t in TRANSIENT) else PermanentError
            raise kind(f"QEMU could not start instance {uuid}: {err}")
        pid = await self._alive(uuid)
        if pid is None:
            raise RetryableError(f"QEMU of instance {uuid} exited as it started")
        rec["pid"], rec["pid_start"] = pid, _proc_start(pid)
        try:
            await asyncio.to_thread(_cgroup_enter, self.cgroup(uuid), pid,
                                    int(rec["vcpus"]), int(rec["memory_mb"]))
        except OSError as exc:
            log.warning("no cgroup limits for %s: %s", uuid, exc)
        await self._save(rec)
        if incoming:
            await self._incoming(rec, pid, state)

    async def _incoming(self, rec: dict[str, Any], pid: int, state: Path) -> None:
        """Load the saved memory into the QEMU just started with `-incoming defer`,
        then let it run; a state that does not load means a cold boot."""
        uuid = rec["uuid"]
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
            rec["suspended"] = False
            await self._save(rec)
            await asyncio.to_thread(state.unlink, True)
            return
        log.warning("the saved state of %s did not load (%s): booting it afresh", uuid,
                    status)
        await self._kill(uuid, rec)
        await asyncio.to_thread(state.rename, state.with_suffix(".state.bad"))
        rec["suspended"] = False
        await self._save(rec)
        await self._start(rec)

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
                if rec.get("built"):
                    await self._start(rec)
                    return
                await self._destroy(uuid)  # died half-built: start over
            try:
                for binary in (QEMU, QEMU_IMG):
                    _binary(binary)
                await self.accelerator()
                src = await self._boot_source(instance)
                rec = {"uuid": uuid, "name": instance.name,
                       "hostname": hostname_of(instance.name), **src,
                       "vcpus": instance.vcpus, "memory_mb": instance.memory_mb,
                       "root_gb": instance.root_gb,
                       "ports": [dict(p) for p in instance.ports],
                       "config_drive": bool(instance.config_drive), "built": False,
                       "suspended": False, "created_at": time.time()}

                def files() -> None:
                    # the console and the user data are the tenant's: root only
                    d.mkdir(mode=0o700)
                    _write_json(d / "instance.json", rec)

                await asyncio.to_thread(files)
                devices: list[str] = []

                async def plug() -> None:
                    devices.extend(await self._plug(rec))

                jobs = [self._make_root_disk(rec), self._link_boot_files(rec), plug()]
                if instance.config_drive:
                    jobs.append(self._config_drive(instance))
                # all finish before a failure is raised (a cleanup must not race a plug)
                for outcome in await asyncio.gather(*jobs, return_exceptions=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
                rec["built"] = True
                await self._save(rec)
                await self._start(rec, devices)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._destroy(uuid)
                raise
            log.info("spawned %s in %.0f ms", uuid, (time.monotonic() - t0) * 1e3)

    async def destroy(self, uuid: str) -> None:
        """Kill QEMU, unplug the taps, remove the cgroups and every file. Idempotent."""
        self._dir(uuid)
        async with self._lock(uuid):
            await self._destroy(uuid)

    async def _destroy(self, uuid: str) -> None:
        d = self._dir(uuid)
        try:
            rec = await self._record(uuid)
        except InstanceNotFound:
            rec = {"uuid": uuid}
        await self._kill(uuid, rec)
        if self.env.plugger is not None:
            for port in rec.get("ports") or []:
                try:
                    await asyncio.to_thread(self.env.plugger.unplug_port, port["id"], "tap")
                except CommandError as exc:
                    log.warning("unplugging port %s of %s: %s", port["id"], uuid, exc)
        await asyncio.to_thread(shutil.rmtree, d, True)
        name = self.cgroup(uuid)
        if not await asyncio.to_thread(_cgroup_remove, name) and name not in self._reaping:
            self._reaping[name] = asyncio.create_task(self._reap_cgroup(name))

    async def _reap_cgroup(self, name: str) -> None:
        """Remove a cgroup once its killed QEMU is reaped (list_instances sweeps what
        this misses, e.g. after an agent restart)."""
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if await asyncio.to_thread(_cgroup_remove, name):
                    return
            log.warning("cgroup %s is still busy", name)
        finally:
            self._reaping.pop(name, None)

    def _sweep_cgroups(self) -> None:
        """Remove the empty cgroups of instances that no longer have files here (a
        busy cgroup cannot be removed: rmdir fails and it stays)."""
        mine = set(self._uuids())
        for name in _cgroup_names():
            if name.removeprefix(PREFIX) not in mine and name not in self._reaping:
                _cgroup_remove(name)

    async def power_off(self, uuid: str, timeout: float = 60) -> None:
        """ACPI power button, QMP quit after `timeout`; state SHUTDOWN. A suspended
        instance's saved memory is dropped."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            await self._stop(uuid, rec, timeout)
            await self._forget_saved(rec)

    async def _forget_saved(self, rec: dict[str, Any]) -> None:
        if rec.get("suspended"):
            rec["suspended"] = False
            await self._save(rec)
        await asyncio.to_thread((self._dir(rec["uuid"]) / "memory.state").unlink, True)

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
            rec = await self._record(uuid)
        except InstanceNotFound:
            rec = {}
        if not rec.get("built"):
            await self.spawn(instance)
            return
        async with self._lock(uuid):
            rec = self._built(await self._record(uuid))
            await self._stop(uuid, rec, 60)
            await self._forget_saved(rec)
            want = int(instance.root_gb or 0) * GiB
            disk = self._dir(uuid) / "disk.qcow2"
            info = json.loads((await self._run([_binary(QEMU_IMG), "info", "-U",
                                                "--output", "json", str(disk)])).stdout)
            if want > int(info.get("virtual-size") or 0):
                await self._run([_binary(QEMU_IMG), "resize", "-q", str(disk), str(want)])
            rec.update(vcpus=instance.vcpus, memory_mb=instance.memory_mb,
                       root_gb=instance.root_gb)
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
                why = "suspended" if rec.get("suspended") else status
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
                if rec.get("suspended") and status == "absent":
                    return
                raise PermanentError(f"instance {uuid} is not running (it is {status})")
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
            rec["suspended"] = True
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
            if rec.get("suspended") and await asyncio.to_thread(saved.is_file):
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
            disk = self._dir(uuid) / "disk.qcow2"
            status = await self._status(uuid, rec)
            if status == "running":
                await self._qmp(uuid, ("stop", None))
            try:
                # -U: QEMU holds the image's lock while it lives, paused or not
                await self._run([_binary(QEMU_IMG), "convert", "-U", "-q", "-f", "qcow2",
                                 "-O", "qcow2", str(disk), str(dest)], timeout=3600)
            finally:
                if status == "running":
                    with contextlib.suppress(QmpError):
                        await self._qmp(uuid, ("cont", None))
        return "qcow2"

    def host_resources(self) -> dict[str, Any]:
        return host_resources(self.env.state_dir, "QEMU",
                              self._accel.name if self._accel else "qemu")

