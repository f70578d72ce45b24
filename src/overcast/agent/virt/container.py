"""The OCI container driver: each instance is a container run by crun (or runc).

An instance is built the way a VM is, only from host pieces that start in
milliseconds:

* its root file system is an overlay: the image unpacked once per host into a
  cached lower directory (oci_image.py; unpacked in a temporary directory and
  renamed into place, so a crash never leaves a half image that looks whole) under
  a writable upper directory of its own, which survives stop/start and reboots;
* its network is a named network namespace (`ovct-<uuid>`) made before the
  container, so the dataplane plugs the ports into it (veths named eth0, eth1...)
  and the guest's own init asks for its address by DHCP, as a VM's does;
* its flavor becomes cgroup limits (CPU quota = vcpus, memory limit = RAM);
* its metadata is a config drive: the OpenStack documents in a directory
  bind-mounted read-only at /mnt/config;
* its console is a file: the container's stdout and stderr, appended across boots.

Spawning is fast because nothing is copied: netns, then the runtime's `create` (on
the mounted overlay) while the dataplane plugs the ports, then `start`; about 65 ms
without ports and 80-110 ms with one on a 2-core host, the port's plug being the
longest step. Containers run detached in their own session, so they outlive the
agent: a new driver object on the same state directory reads what runs from the
runtime's `state` and carries on. On a host with hybrid cgroups whose cgroup2 mount
holds a controller, crun refuses to create containers; its create runs in a private
mount namespace where that mount is hidden (HOST_FACTS §1), runc needs nothing.

The guest learns it runs in a container from `container=overcast` in its
environment (as OCI runtimes set it): overcast-tiny's init then takes the veth as
its NIC and reads the documents at /mnt/config instead of looking for a drive.

Layout of the state directory:

    images/<image id>/rootfs, image.json    lower layer, what to run
    instances/<uuid>/instance.json           the instance's record
                     config.json, rootfs/    the OCI bundle (rootfs: overlay mount)
                     upper/, work/           its writable layer
                     config-drive/           the metadata documents
                     console.log, runtime.log
                     volumes/<volume id>/    a volume's storage daemon and export

Volumes (container_volumes.py) appear in the container as block devices: loop
devices over the volume's file, or over a qemu-storage-daemon's FUSE export of a
qcow2 file or an NBD export, made in the container's /dev and allowed in its
devices cgroup, live or from the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
from overcast.agent.virt.common import (
    BaseRecord,
    InstanceFiles,
    config_documents,
    host_resources,
    hostname_of,
    trim_console,
    write_documents,
)
from overcast.agent.virt.common import proc_start as _proc_start
from overcast.agent.virt.common import write_json as _write_json
from overcast.agent.virt.container_volumes import ContainerVolumes, bundle_entries
from overcast.agent.virt.oci_runtime import (
    PREFIX,
    RUNTIMES,
    Runtime,
    probe_runtime,
    runtime_named,
)
from overcast.bus.messages import InstanceSpec
from overcast.kit.runner import run, which

log = logging.getLogger("overcast.agent.virt.container")

NETNS_DIR = Path("/run/netns")
CPU_PERIOD = 100_000
PIDS_LIMIT = 4096
#: what a guest may do: Docker's default set plus NET_ADMIN, so its init can bring
#: its NIC up and take a DHCP lease inside its own network namespace
CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
                "CAP_FSETID", "CAP_KILL", "CAP_MKNOD", "CAP_NET_ADMIN",
                "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID",
                "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]
#: the console log is cut to its last CONSOLE_KEEP bytes when a boot finds it larger
#: than CONSOLE_MAX
CONSOLE_KEEP = 256 << 10
#: a guest's init ignores SIGTERM until it has a handler; it is sent again this often
TERM_EVERY = 0.5


def available() -> str | None:
    """None when this host can run containers, else why not."""
    if os.geteuid() != 0:
        return "needs root (namespaces, overlay mounts, cgroups)"
    if not any(which(r) for r in RUNTIMES):
        return "no OCI runtime: apt-get install crun (or runc)"
    if not which("ip"):
        return "needs ip (apt-get install iproute2)"
    try:
        if "overlay" not in Path("/proc/filesystems").read_text():
            return "the kernel has no overlayfs"
    except OSError:
        return "cannot read /proc/filesystems"
    return None


def describe() -> str:
    """Which runtime this host's containers get and why (for `overcast doctor`)."""
    rt, notes = probe_runtime(Path(tempfile.gettempdir()))
    return rt.describe() if rt else "; ".join(notes)


# ----------------------------------------------------------------------- helpers


async def _frozen(pid: int, timeout: float = 5) -> None:
    """Wait until the cgroup freezer holding `pid` has frozen every task: the v1
    freezer passes through FREEZING, and a paused guest must be still when pause
    returns (a snapshot reads its files next)."""
    if not pid:
        return
    try:
        groups = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return
    state = None
    for line in groups:
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            state = Path("/sys/fs/cgroup/freezer", path.lstrip("/"), "freezer.state")
        elif controllers == "" and state is None:
            state = Path("/sys/fs/cgroup", path.lstrip("/"), "cgroup.events")
    if state is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = state.read_text()
        except OSError:
            return
        if text.strip() == "FROZEN" or "frozen 1" in text:
            return
        await asyncio.sleep(0.01)
    raise RetryableError(f"the container of process {pid} did not freeze in {timeout} s")


def _is_mount(path: Path) -> bool:
    want = str(path)
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            if line.split()[4] == want:
                return True
    except OSError:
        pass
    return False


# ------------------------------------------------------------------------ driver


@dataclass
class ContainerRecord(BaseRecord):
    """What the container driver keeps about an instance: its flavor and ports, the
    runtime it was made with, its image and what the image runs (`process`: None
    until the instance is completely built), its network namespace and whether it
    is suspended (frozen)."""

    runtime: str | None = None
    image_id: str = ""
    process: dict[str, Any] | None = None
    netns: str = ""
    #: attached volumes (container_volumes.py): connection_info, the device name in
    #: the container and the host's loop device with its numbers
    volumes: list[dict[str, Any]] = field(default_factory=list)


class ContainerDriver(ContainerVolumes, InstanceFiles[ContainerRecord], Driver):
    name = "container"
    # suspend is the cgroup freezer, reported SUSPENDED (no memory image is saved:
    # a suspended container does not survive a host reboot)
    capabilities = frozenset({"pause", "suspend", "reboot", "rebuild", "resize",
                              "console_output", "snapshot", "volume_attach"})

    record_type = ContainerRecord
    port_kind = "veth"
    command_timeout = 60

    def __init__(self, host: str, env: DriverEnv, *, runtime: str | None = None) -> None:
        if runtime is not None and runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}")
        self.host = host
        self.env = env
        self.runtime_name = runtime
        self.images_dir = env.state_dir / "images"
        self.instances_dir = env.state_dir / "instances"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        self._runtime: Runtime | None = None
        self._runtimes: dict[str, Runtime] = {}
        self._probe_lock = asyncio.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        self._image_locks: dict[str, asyncio.Lock] = {}

    # ---------------------------------------------------------------- names
    @staticmethod
    def cid(uuid: str) -> str:
        """The instance's container id, network namespace and cgroup name."""
        return f"{PREFIX}{uuid}"

    # -------------------------------------------------------------- runtime
    async def runtime(self) -> Runtime:
        """The runtime new containers get: the one asked for, or the first that really
        creates a container here (probed once)."""
        if self._runtime is not None:
            return self._runtime
        async with self._probe_lock:
            if self._runtime is None:
                names = (self.runtime_name,) if self.runtime_name else RUNTIMES
                rt, notes = await asyncio.to_thread(probe_runtime, self.env.state_dir, names)
                if rt is None:
                    raise PermanentError("no OCI runtime can create containers here: "
                                         + "; ".join(notes))
                log.info("container driver on %s uses %s", self.host, rt.describe())
                self._runtime = rt
                self._runtimes[rt.name] = rt
        return self._runtime

    def _runtime_of(self, rec: ContainerRecord) -> Runtime:
        """The runtime an existing instance was made with (its state lives there)."""
        name = rec.runtime or self.runtime_name or \
            (self._runtime.name if self._runtime else RUNTIMES[0])
        rt = self._runtimes.get(name)
        if rt is None:
            rt = runtime_named(name)
            if rt is None:
                raise PermanentError(f"{name}, the runtime of this instance, is gone")
            self._runtimes[name] = rt
        return rt

    async def _state(self, rt: Runtime, uuid: str) -> dict[str, Any] | None:
        """The runtime's view of the container (status, pid), None when it has none."""
        r = await self._run(rt.argv("state", self.cid(uuid)), check=False)
        if r.returncode != 0:
            return None
        try:
            state: dict[str, Any] = json.loads(r.stdout)
        except ValueError:
            return None
        if state.get("status") == "running" and state.get("pid") and \
                _proc_start(int(state["pid"])) is None:
            state["status"] = "stopped"  # a zombie nobody reaped yet
        return state

    async def _status(self, rt: Runtime, uuid: str) -> str:
        state = await self._state(rt, uuid)
        return str(state.get("status")) if state else "absent"

    # --------------------------------------------------------------- records
    # ---------------------------------------------------------------- images
    async def _image(self, spec: InstanceSpec) -> tuple[str, dict[str, Any]]:
        """The image's id and its run config, unpacked into the cache if needed."""
        image_id = str(spec.image.get("id") or spec.image_ref or "")
        if not image_id:
            raise PermanentError(f"instance {spec.uuid} names no image")
        fmt = spec.image.get("container_format")
        if fmt not in (None, "", "docker", "bare"):
            raise PermanentError(f"image {image_id} is container_format {fmt}, not an "
                                 "OCI/docker image")
        if not re.fullmatch(r"[0-9A-Za-z._-]+", image_id):
            raise PermanentError(f"{image_id!r} is not an image id")
        target = self.images_dir / image_id
        lock = self._image_locks.setdefault(image_id, asyncio.Lock())
        async with lock:
            cfg = await asyncio.to_thread(self._image_config, target)
            if cfg is not None:
                return image_id, cfg
            path = await self._fetch(image_id)
            t0 = time.monotonic()
            cfg = await self._unpack(image_id, Path(path), target)
            log.info("unpacked image %s in %.0f ms", image_id, (time.monotonic() - t0) * 1e3)
            return image_id, cfg

    @staticmethod
    def _image_config(target: Path) -> dict[str, Any] | None:
        try:
            cfg: dict[str, Any] = json.loads((target / "image.json").read_text())
            return cfg
        except (OSError, ValueError):
            return None

    async def _unpack(self, image_id: str, src: Path, target: Path) -> dict[str, Any]:
        def prepare() -> Path:
            for stale in self.images_dir.glob(f".unpack-{image_id}-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a crash
            tmp = Path(tempfile.mkdtemp(prefix=f".unpack-{image_id}-", dir=self.images_dir))
            (tmp / "rootfs").mkdir()
            os.chmod(tmp / "rootfs", 0o755)
            return tmp

        tmp = await asyncio.to_thread(prepare)
        try:
            r = await asyncio.to_thread(
                run, [sys.executable, "-m", "overcast.agent.virt.oci_image", str(src),
                      str(tmp / "rootfs")], check=False, timeout=1800)
            if r.returncode != 0:
                raise PermanentError(f"image {image_id}: {r.stderr.strip()[-600:]}")
            cfg: dict[str, Any] = json.loads(r.stdout)

            def finish() -> None:
                _write_json(tmp / "image.json", cfg)
                try:
                    os.rename(tmp, target)
                except OSError:
                    if self._image_config(target) is None:
                        raise
                    shutil.rmtree(tmp, ignore_errors=True)  # another process won

            await asyncio.to_thread(finish)
            return cfg
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
            raise

    # -------------------------------------------------------------- metadata
    @staticmethod
    def _write_drive(where: Path, docs: dict[str, Any]) -> None:
        write_documents(where, docs)
        os.chmod(where, 0o755)

    # -------------------------------------------------------------- building
    def _bundle_config(self, rec: ContainerRecord) -> dict[str, Any]:
        d = self._dir(rec.uuid)
        proc = rec.process or {}
        ro = ["rbind", "ro", "nosuid", "nodev", "noexec"]
        mounts: list[dict[str, Any]] = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            # /run is per boot, as on a machine (pid files, the DHCP lease's address)
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=755", "size=65536k"]},
            {"destination": "/mnt/config", "type": "bind",
             "source": str(d / "config-drive"), "options": ro},
        ]
        devices, rules = bundle_entries(rec.volumes)
        allowed: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}, *rules]
        resources: dict[str, Any] = {"devices": allowed, "pids": {"limit": PIDS_LIMIT}}
        if rec.memory_mb:
            resources["memory"] = {"limit": int(rec.memory_mb) << 20}
        if rec.vcpus:
            resources["cpu"] = {"quota": int(rec.vcpus) * CPU_PERIOD,
                                "period": CPU_PERIOD}
        caps = list(CAPABILITIES)
        return {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False, "user": proc["user"], "args": proc["args"],
                "env": [*proc["env"], "container=overcast"], "cwd": proc["cwd"],
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "noNewPrivileges": False},
            "root": {"path": str(d / "rootfs"), "readonly": False},
            "hostname": rec.hostname,
            "mounts": mounts,
            "annotations": {"org.openstack.nova.instance": rec.uuid},
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                               {"type": "mount"},
                               {"type": "network", "path": str(NETNS_DIR / rec.netns)}],
                "cgroupsPath": f"/{self.cid(rec.uuid)}",
                "resources": resources,
                "devices": devices,
                "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                "/proc/latency_stats", "/proc/timer_list",
                                "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                  "/proc/sysrq-trigger"],
            },
        }

    async def _mount_rootfs(self, rec: ContainerRecord) -> None:
        d = self._dir(rec.uuid)
        if await asyncio.to_thread(_is_mount, d / "rootfs"):
            return
        lower = self.images_dir / rec.image_id / "rootfs"
        if not lower.is_dir():
            raise PermanentError(f"image {rec.image_id} of instance {rec.uuid} is "
                                 "no longer unpacked on this host")
        await self._run(["mount", "-t", "overlay", "overlay", "-o",
                         f"lowerdir={lower},upperdir={d / 'upper'},workdir={d / 'work'},"
                         "nodev", str(d / "rootfs")])

    async def _netns(self, rec: ContainerRecord) -> None:
        """The instance's network namespace, with loopback up."""
        ns = rec.netns
        if not (NETNS_DIR / ns).exists():
            await self._run(["ip", "netns", "add", ns])
            await self._run(["ip", "-n", ns, "link", "set", "lo", "up"])

    async def _plug(self, rec: ContainerRecord) -> None:
        """Every port of the instance plugged into its netns as eth0, eth1... (the
        dataplane's plug_port is idempotent)."""
        if self.env.plugger is None:
            return
        for i, port in enumerate(rec.ports):
            await self._plug_port(rec, port, netns=rec.netns, ifname=f"eth{i}")

    async def _create(self, rec: ContainerRecord) -> None:
        """Make the runtime's container from the instance's files (its overlay and
        netns ready; the ports may still be plugging: the process waits, not started,
        until `start`), with its stdio on the console file."""
        uuid = rec.uuid
        d = self._dir(uuid)
        rt = self._runtime_of(rec)

        def files() -> int:
            _write_json(d / "config.json", self._bundle_config(rec))
            console = d / "console.log"
            trim_console(console, CONSOLE_KEEP)
            (d / "runtime.log").unlink(missing_ok=True)
            return console.stat().st_size if console.exists() else 0

        offset = await asyncio.to_thread(files)
        r = await self._run(rt.launch_argv(d / "console.log", "--log", str(d / "runtime.log"),
                                           "create", "--bundle", str(d), self.cid(uuid)),
                            check=False)
        if r.returncode != 0:
            def why() -> str:
                text = ""
                with contextlib.suppress(OSError):
                    text = (d / "runtime.log").read_text()
                with contextlib.suppress(OSError), open(d / "console.log", "rb") as fh:
                    fh.seek(offset)
                    text += fh.read().decode(errors="replace")
                return text.strip()[-800:]

            raise RetryableError(f"{rt.name} could not create the container of {uuid}: "
                                 f"{await asyncio.to_thread(why)}")

    async def _start(self, rec: ContainerRecord, status: str | None = None) -> None:
        """Bring the instance to RUNNING from whatever is left of it: a running or
        paused container stays, any other is replaced, and the overlay, netns and ports
        are (re)made as needed; the writable layer is kept. `status` is the
        runtime's, when the caller knows it already.

        The runtime creates the container while the dataplane plugs the ports (both
        take tens of milliseconds); the guest's process starts once both are done."""
        uuid = rec.uuid
        rt = self._runtime_of(rec)
        status = status or await self._status(rt, uuid)
        if status in ("running", "paused"):
            return
        if status != "absent":
            await self._delete_container(rt, uuid)
        await self._netns(rec)
        await self._volumes_ready(rec)

        async def create() -> None:
            await self._mount_rootfs(rec)
            await self._create(rec)

        # both finish before a failure is raised (a cleanup must not race a plug)
        for outcome in await asyncio.gather(create(), self._plug(rec),
                                            return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
        r = await self._run(rt.argv("start", self.cid(uuid)), check=False)
        if r.returncode != 0:
            raise RetryableError(f"{rt.name} could not start instance {uuid}: "
                                 f"{(r.stderr or r.stdout).strip()[-400:]}")

    # ------------------------------------------------------------- stopping
    async def _wait_stopped(self, rt: Runtime, uuid: str, timeout: float,
                            term: bool) -> bool:
        """Wait until the container's process is gone; with `term`, (re)send SIGTERM
        meanwhile (a guest's init only acts on it once it has installed its handler)."""
        state = await self._state(rt, uuid)
        if not state or state.get("status") not in ("running", "paused"):
            return True
        pid = int(state.get("pid") or 0)
        start = _proc_start(pid) if pid else None
        deadline = time.monotonic() + timeout
        next_term = 0.0
        while start is not None and _proc_start(pid) == start:
            now = time.monotonic()
            if now >= deadline:
                return False
            if term and now >= next_term:
                await self._run(rt.argv("kill", self.cid(uuid), "TERM"), check=False)
                next_term = now + TERM_EVERY
            await asyncio.sleep(0.02)
        return True

    async def _stop(self, rt: Runtime, uuid: str, timeout: float) -> None:
        """Stop the guest (SIGTERM, SIGKILL after `timeout`) and delete the runtime's
        container; the overlay, netns and ports stay for the next start."""
        status = await self._status(rt, uuid)
        if status == "absent":
            return
        if status == "paused":
            await self._run(rt.argv("resume", self.cid(uuid)), check=False)
        if status in ("running", "paused") and timeout > 0 and \
                await self._wait_stopped(rt, uuid, timeout, term=True):
            await self._delete_container(rt, uuid)
            return
        await self._run(rt.argv("kill", self.cid(uuid), "KILL"), check=False)
        await self._wait_stopped(rt, uuid, 10, term=False)
        await self._delete_container(rt, uuid)

    async def _delete_container(self, rt: Runtime, uuid: str) -> None:
        """`delete --force`, retried a little: a killed guest's cgroup stays busy until
        its process is reaped."""
        deadline = time.monotonic() + 5
        while True:
            r = await self._run(rt.argv("delete", "--force", self.cid(uuid)), check=False)
            if r.returncode == 0 or await self._state(rt, uuid) is None:
                return
            if time.monotonic() > deadline:
                raise RetryableError(f"{rt.name} could not delete the container of "
                                     f"{uuid}: {r.stderr.strip()[-400:]}")
            await asyncio.sleep(0.1)

    # ------------------------------------------------------------- contract
    async def spawn(self, instance: InstanceSpec) -> None:
        """Create and start the instance; return when it is RUNNING. Idempotent: an
        instance whose container runs (or is paused) is left as it is; a half-built
        one is finished. A new instance that fails leaves nothing behind."""
        uuid = instance.uuid
        d = self._dir(uuid)
        async with self._lock(uuid):
            t0 = time.monotonic()
            fresh = not await asyncio.to_thread(d.is_dir)
            try:
                if not fresh:
                    rec = await self._record(uuid)
                    if rec.process is not None:
                        await self._start(rec)
                        return
                image_id, cfg = await self._image(instance)
                rt = await self.runtime()
                rec = ContainerRecord(
                    uuid=uuid, name=instance.name, hostname=hostname_of(instance.name),
                    runtime=rt.name, image_id=image_id, process=cfg, netns=self.cid(uuid),
                    vcpus=instance.vcpus, memory_mb=instance.memory_mb,
                    ports=[dict(p) for p in instance.ports], suspended=False,
                    created_at=time.time())
                docs = config_documents(instance)

                def files() -> None:
                    # the console and the user data are the tenant's: root only
                    d.mkdir(mode=0o700, exist_ok=True)
                    for sub in ("upper", "work", "rootfs"):
                        (d / sub).mkdir(exist_ok=True)
                    self._write_drive(d / "config-drive", docs)
                    self._write_record(rec)

                await asyncio.to_thread(files)
                await self._start(rec, "absent" if fresh else None)
            except BaseException:
                if fresh:
                    with contextlib.suppress(Exception):
                        await self._destroy(uuid)
                raise
            log.info("spawned %s in %.0f ms", uuid, (time.monotonic() - t0) * 1e3)

    async def _halt(self, rec: ContainerRecord) -> None:
        rt = self._runtime_of(rec)
        if await self._state(rt, rec.uuid) is not None:
            await self._delete_container(rt, rec.uuid)

    async def _release(self, rec: ContainerRecord) -> None:
        """The volumes' loop devices, the netns and the root file system's overlay
        mount."""
        await self._volumes_release(rec)
        ns = rec.netns or self.cid(rec.uuid)
        if (NETNS_DIR / ns).exists():
            await self._run(["ip", "netns", "delete", ns])
        rootfs = self._dir(rec.uuid) / "rootfs"
        if await asyncio.to_thread(_is_mount, rootfs):
            r = await self._run(["umount", str(rootfs)], check=False)
            if r.returncode != 0:
                await self._run(["umount", "--lazy", str(rootfs)])

    async def power_off(self, uuid: str, timeout: float = 60) -> None:
        """SIGTERM (repeated), SIGKILL after `timeout`; state SHUTDOWN."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            await self._stop(self._runtime_of(rec), uuid, timeout)
            if rec.suspended:
                rec.suspended = False
                await self._save(rec)

    async def power_on(self, uuid: str) -> None:
        """Start again on the same root file system (the writable layer is kept)."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            if rec.process is None:
                raise PermanentError(f"instance {uuid} was never completely built")
            if rec.suspended:  # a suspended guest the host lost in a reboot
                rec.suspended = False
                await self._save(rec)
            await self._start(rec)

    async def resize(self, instance: InstanceSpec) -> None:
        """The new flavor's limits on the same root file system (the writable layer is
        kept): stopped as power_off does (a minute at most), started with the new
        cgroup limits. Spawned when this host has no such instance."""
        uuid = instance.uuid
        try:
            built = (await self._record(uuid)).process is not None
        except InstanceNotFound:
            built = False
        if not built:
            await self.spawn(instance)
            return
        async with self._lock(uuid):
            rec = await self._record(uuid)
            await self._stop(self._runtime_of(rec), uuid, 60)
            rec.vcpus, rec.memory_mb = instance.vcpus, instance.memory_mb
            rec.suspended = False
            await self._save(rec)
            await self._start(rec)

    async def reboot(self, uuid: str, hard: bool) -> None:
        """Soft: stop as power_off does, then start; hard: SIGKILL, then start."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            if rec.process is None:
                raise PermanentError(f"instance {uuid} was never completely built")
            await self._stop(self._runtime_of(rec), uuid, 0 if hard else 60)
            if rec.suspended:
                rec.suspended = False
                await self._save(rec)
            await self._start(rec)

    async def _freeze(self, uuid: str, frozen: bool, suspended: bool) -> None:
        async with self._lock(uuid):
            rec = await self._record(uuid)
            rt = self._runtime_of(rec)
            status = await self._status(rt, uuid)
            want = "paused" if frozen else "running"
            if status not in ("running", "paused"):
                raise PermanentError(f"instance {uuid} is not running (its container is "
                                     f"{status})")
            if status != want:
                await self._run(rt.argv("pause" if frozen else "resume", self.cid(uuid)))
                if frozen:
                    state = await self._state(rt, uuid)
                    await _frozen(int((state or {}).get("pid") or 0))
            if rec.suspended != suspended:
                rec.suspended = suspended
                await self._save(rec)

    async def pause(self, uuid: str) -> None:
        """Freeze every process of the container (cgroup freezer); state PAUSED."""
        await self._freeze(uuid, True, False)

    async def unpause(self, uuid: str) -> None:
        await self._freeze(uuid, False, False)

    async def suspend(self, uuid: str) -> None:
        """The freezer, as pause, reported SUSPENDED: no memory image is written, so
        a suspended container does not survive a host reboot (it is SHUTDOWN then)."""
        await self._freeze(uuid, True, True)

    async def resume(self, uuid: str) -> None:
        await self._freeze(uuid, False, False)

    async def get_info(self, uuid: str) -> int:
        """From the runtime's state: running RUNNING, paused PAUSED (SUSPENDED when
        suspended), anything else (stopped, died, gone after a host reboot) SHUTDOWN."""
        rec = await self._record(uuid)
        status = await self._status(self._runtime_of(rec), uuid)
        if status == "running":
            return base.RUNNING
        if status == "paused":
            return base.SUSPENDED if rec.suspended else base.PAUSED
        return base.SHUTDOWN

    async def list_instances(self) -> list[str]:
        """Every instance with files on this host, running or not."""
        return await asyncio.to_thread(self._uuids)

    async def snapshot(self, uuid: str, dest: Path) -> str:
        """The merged root file system as a root file system tarball (the format the
        image had: it boots here as container_format docker); disk_format "raw". A
        running container is frozen while it is read (as `docker commit` pauses)."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            if rec.process is None:
                raise PermanentError(f"instance {uuid} was never completely built")
            rt = self._runtime_of(rec)
            await self._mount_rootfs(rec)
            frozen = await self._status(rt, uuid) == "running"
            if frozen:
                await self._run(rt.argv("pause", self.cid(uuid)))
            try:
                rootfs = self._dir(uuid) / "rootfs"
                # members named as in the image (bin/..., init), not ./bin/...
                top = sorted(await asyncio.to_thread(os.listdir, rootfs))
                await self._run(["tar", "--create", "--file", str(dest), "--numeric-owner",
                                 "--xattrs", "--sparse", "--directory", str(rootfs), "--",
                                 *top], timeout=3600)
            finally:
                if frozen:
                    await self._run(rt.argv("resume", self.cid(uuid)), check=False)
        return "raw"

    def host_resources(self) -> dict[str, Any]:
        rt = self._runtime.name if self._runtime else (self.runtime_name or "oci")
        return host_resources(self.env.state_dir, "container", rt)
