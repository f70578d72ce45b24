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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import uuid as uuidlib
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

log = logging.getLogger("overcast.agent.virt.container")

RUNTIMES = ("crun", "runc")
#: names of the container, its netns and its cgroup: ovct-<uuid>
PREFIX = "ovct-"
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


# ------------------------------------------------------------------- the runtime


@dataclass(frozen=True)
class Runtime:
    name: str  # crun | runc
    binary: str
    #: cgroup2 mounts hidden from it while it creates a container (crun, hybrid hosts)
    hide: tuple[str, ...] = ()

    def describe(self) -> str:
        extra = f" (creates with {', '.join(self.hide)} hidden: hybrid cgroups)" \
            if self.hide else ""
        return f"{self.name} at {self.binary}{extra}"

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def launch_argv(self, console: Path, *args: str) -> list[str]:
        """The runtime with `args` (a `create`), its stdio (and so the container's)
        on the console file, in a new session (a signal to the agent's process group
        never reaches a guest) and with the cgroup2 mounts hidden when needed."""
        hide = "".join(f"umount {shlex.quote(m)} 2>/dev/null; " for m in self.hide)
        argv = ["setsid", "--wait", "sh", "-c", hide + 'exec "$@" </dev/null >>"$0" 2>&1',
                str(console), self.binary, *args]
        return ["unshare", "--mount", "--propagation", "private", *argv] if self.hide \
            else argv


def _hidden_cgroup2_mounts() -> tuple[str, ...]:
    """cgroup2 mounts that make crun refuse a hybrid host: with cgroup v1 hierarchies
    mounted, any cgroup2 mount that holds a controller."""
    v1, v2 = False, []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return ()
    for line in lines:
        fields = line.split()
        if "-" not in fields:
            continue
        fstype = fields[fields.index("-") + 1]
        if fstype == "cgroup":
            v1 = True
        elif fstype == "cgroup2":
            v2.append(fields[4])
    if not v1:
        return ()
    hide = []
    for mnt in v2:
        with contextlib.suppress(OSError):
            if (Path(mnt) / "cgroup.controllers").read_text().strip():
                hide.append(mnt)
    return tuple(hide)


def runtime_named(name: str) -> Runtime | None:
    binary = which(name)
    if binary is None:
        return None
    return Runtime(name, binary, _hidden_cgroup2_mounts() if name == "crun" else ())


def probe_runtime(scratch: Path, names: tuple[str, ...] = RUNTIMES
                  ) -> tuple[Runtime | None, list[str]]:
    """The first of `names` that really creates a container here (namespaces, mounts
    and a cgroup with a memory limit; the process is never started), with the reason
    each one before it failed."""
    notes: list[str] = []
    for name in names:
        rt = runtime_named(name)
        if rt is None:
            notes.append(f"{name}: not installed")
            continue
        bundle = Path(tempfile.mkdtemp(prefix=".probe-", dir=scratch))
        cid = f"{PREFIX}probe-{uuidlib.uuid4().hex[:12]}"
        try:
            for sub in ("proc", "dev"):
                (bundle / "rootfs" / sub).mkdir(parents=True)
            (bundle / "rootfs" / "probe").touch(mode=0o755)
            (bundle / "config.json").write_text(json.dumps({
                "ociVersion": "1.0.2",
                "process": {"args": ["/probe"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                            "terminal": False},
                "root": {"path": "rootfs", "readonly": True},
                "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
                "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"},
                                         {"type": "network"}],
                          "cgroupsPath": f"/{cid}",
                          "resources": {"memory": {"limit": 64 << 20}}}}))
            # The created container's process holds the runtime's stdio: not our pipes.
            hide = "".join(f"umount {shlex.quote(m)} 2>/dev/null; " for m in rt.hide)
            errors = bundle / "runtime.log"
            argv = ["sh", "-c", hide + 'exec "$@" </dev/null >/dev/null 2>&1', "sh",
                    *rt.argv("--log", str(errors), "create", "--bundle", str(bundle), cid)]
            if rt.hide:
                argv = ["unshare", "--mount", "--propagation", "private", *argv]
            r = run(argv, check=False, timeout=30)
            if r.returncode == 0:
                return rt, notes
            why = errors.read_text().strip() if errors.exists() else f"rc {r.returncode}"
            notes.append(f"{name}: {why[-300:]}")
        except (OSError, CommandError) as exc:
            notes.append(f"{name}: {exc}")
        finally:
            with contextlib.suppress(CommandError):
                run(rt.argv("delete", "--force", cid), check=False, timeout=30)
            shutil.rmtree(bundle, ignore_errors=True)
    return None, notes


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


class ContainerDriver(InstanceFiles, Driver):
    name = "container"
    # suspend is the cgroup freezer, reported SUSPENDED (no memory image is saved:
    # a suspended container does not survive a host reboot)
    capabilities = frozenset({"pause", "suspend", "reboot", "rebuild", "resize",
                              "console_output", "snapshot"})

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

    def _runtime_of(self, rec: dict[str, Any]) -> Runtime:
        """The runtime an existing instance was made with (its state lives there)."""
        name = rec.get("runtime") or self.runtime_name or \
            (self._runtime.name if self._runtime else RUNTIMES[0])
        rt = self._runtimes.get(name)
        if rt is None:
            rt = runtime_named(name)
            if rt is None:
                raise PermanentError(f"{name}, the runtime of this instance, is gone")
            self._runtimes[name] = rt
        return rt

    async def _run(self, argv: list[str], *, check: bool = True,
                   timeout: float | None = 60) -> Result:
        try:
            return await asyncio.to_thread(run, argv, check=check, timeout=timeout)
        except CommandError as exc:
            raise RetryableError(str(exc)) from exc

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
            try:
                path = await self.env.image_path(image_id)
            except DriverError:
                raise
            except Exception as exc:  # noqa: BLE001 - the image service's own errors
                raise PermanentError(f"image {image_id} cannot be fetched: {exc}") from exc
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
    def _bundle_config(self, rec: dict[str, Any]) -> dict[str, Any]:
        d = self._dir(rec["uuid"])
        proc = rec["process"]
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
        devices: list[dict[str, Any]] = []
        allowed: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
        resources: dict[str, Any] = {"devices": allowed, "pids": {"limit": PIDS_LIMIT}}
        if rec.get("memory_mb"):
            resources["memory"] = {"limit": int(rec["memory_mb"]) << 20}
        if rec.get("vcpus"):
            resources["cpu"] = {"quota": int(rec["vcpus"]) * CPU_PERIOD,
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
            "hostname": rec["hostname"],
            "mounts": mounts,
            "annotations": {"org.openstack.nova.instance": rec["uuid"]},
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                               {"type": "mount"},
                               {"type": "network", "path": str(NETNS_DIR / rec["netns"])}],
                "cgroupsPath": f"/{self.cid(rec['uuid'])}",
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

    async def _mount_rootfs(self, rec: dict[str, Any]) -> None:
        d = self._dir(rec["uuid"])
        if await asyncio.to_thread(_is_mount, d / "rootfs"):
            return
        lower = self.images_dir / rec["image_id"] / "rootfs"
        if not lower.is_dir():
            raise PermanentError(f"image {rec['image_id']} of instance {rec['uuid']} is "
                                 "no longer unpacked on this host")
        await self._run(["mount", "-t", "overlay", "overlay", "-o",
                         f"lowerdir={lower},upperdir={d / 'upper'},workdir={d / 'work'},"
                         "nodev", str(d / "rootfs")])

    async def _netns(self, rec: dict[str, Any]) -> None:
        """The instance's network namespace, with loopback up."""
        ns = rec["netns"]
        if not (NETNS_DIR / ns).exists():
            await self._run(["ip", "netns", "add", ns])
            await self._run(["ip", "-n", ns, "link", "set", "lo", "up"])

    async def _plug(self, rec: dict[str, Any]) -> None:
        """Every port of the instance plugged into its netns as eth0, eth1... (the
        dataplane's plug_port is idempotent)."""
        ns = rec["netns"]
        plugger = self.env.plugger
        if plugger is None:
            return
        from overcast.agent.net.linux import PortSpec

        for i, port in enumerate(rec["ports"]):
            spec = PortSpec(id=port["id"], mac_address=port["mac_address"],
                            fixed_ips=list(port.get("fixed_ips") or []),
                            hostname=rec["hostname"])
            try:
                await asyncio.to_thread(plugger.plug_port, port["network_id"], spec,
                                        int(port.get("mtu") or 1500), kind="veth",
                                        netns=ns, ifname=f"eth{i}")
            except CommandError as exc:
                raise RetryableError(f"port {port['id']} could not be plugged: {exc}")

    async def _create(self, rec: dict[str, Any]) -> None:
        """Make the runtime's container from the instance's files (its overlay and
        netns ready; the ports may still be plugging: the process waits, not started,
        until `start`), with its stdio on the console file."""
        uuid = rec["uuid"]
        d = self._dir(uuid)
        rt = self._runtime_of(rec)

        def files() -> int:
            _write_json(d / "config.json", self._bundle_config(rec))
            console = d / "console.log"
            with contextlib.suppress(FileNotFoundError):
                if console.stat().st_size > CONSOLE_MAX:
                    keep = _tail(console, None, CONSOLE_KEEP)
                    console.write_text(keep)
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

    async def _start(self, rec: dict[str, Any], status: str | None = None) -> None:
        """Bring the instance to RUNNING from whatever is left of it: a running or
        paused container stays, any other is replaced, and the overlay, netns and ports
        are (re)made as needed; the writable layer is kept. `status` is the
        runtime's, when the caller knows it already.

        The runtime creates the container while the dataplane plugs the ports (both
        take tens of milliseconds); the guest's process starts once both are done."""
        uuid = rec["uuid"]
        rt = self._runtime_of(rec)
        status = status or await self._status(rt, uuid)
        if status in ("running", "paused"):
            return
        if status != "absent":
            await self._delete_container(rt, uuid)
        await self._netns(rec)

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
                    if "process" in rec:
                        await self._start(rec)
                        return
                image_id, cfg = await self._image(instance)
                rt = await self.runtime()
                rec = {"uuid": uuid, "name": instance.name,
                       "hostname": hostname_of(instance.name), "runtime": rt.name,
                       "image_id": image_id, "process": cfg, "netns": self.cid(uuid),
                       "vcpus": instance.vcpus, "memory_mb": instance.memory_mb,
                       "ports": [dict(p) for p in instance.ports],
                       "suspended": False,
                       "created_at": time.time()}
                docs = config_documents(instance)

                def files() -> None:
                    # the console and the user data are the tenant's: root only
                    d.mkdir(mode=0o700, exist_ok=True)
                    for sub in ("upper", "work", "rootfs"):
                        (d / sub).mkdir(exist_ok=True)
                    self._write_drive(d / "config-drive", docs)
                    _write_json(d / "instance.json", rec)

                await asyncio.to_thread(files)
                await self._start(rec, "absent" if fresh else None)
            except BaseException:
                if fresh:
                    with contextlib.suppress(Exception):
                        await self._destroy(uuid)
                raise
            log.info("spawned %s in %.0f ms", uuid, (time.monotonic() - t0) * 1e3)

    async def destroy(self, uuid: str) -> None:
        """Remove the container, its overlay, netns, ports and files. Idempotent."""
        self._dir(uuid)
        async with self._lock(uuid):
            await self._destroy(uuid)

    async def _destroy(self, uuid: str) -> None:
        d = self._dir(uuid)
        try:
            rec = await self._record(uuid)
        except InstanceNotFound:
            rec = {"uuid": uuid}
        rt = self._runtime_of(rec)
        if await self._state(rt, uuid) is not None:
            await self._delete_container(rt, uuid)
        if self.env.plugger is not None:
            for port in rec.get("ports") or []:
                try:
                    await asyncio.to_thread(self.env.plugger.unplug_port, port["id"], "veth")
                except CommandError as exc:
                    log.warning("unplugging port %s of %s: %s", port["id"], uuid, exc)
        ns = rec.get("netns") or self.cid(uuid)
        if (NETNS_DIR / ns).exists():
            await self._run(["ip", "netns", "delete", ns])
        rootfs = d / "rootfs"
        if await asyncio.to_thread(_is_mount, rootfs):
            r = await self._run(["umount", str(rootfs)], check=False)
            if r.returncode != 0:
                await self._run(["umount", "--lazy", str(rootfs)])
        await asyncio.to_thread(shutil.rmtree, d, True)

    async def power_off(self, uuid: str, timeout: float = 60) -> None:
        """SIGTERM (repeated), SIGKILL after `timeout`; state SHUTDOWN."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            await self._stop(self._runtime_of(rec), uuid, timeout)
            if rec.get("suspended"):
                rec["suspended"] = False
                await self._save(rec)

    async def power_on(self, uuid: str) -> None:
        """Start again on the same root file system (the writable layer is kept)."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            if "process" not in rec:
                raise PermanentError(f"instance {uuid} was never completely built")
            if rec.get("suspended"):  # a suspended guest the host lost in a reboot
                rec["suspended"] = False
                await self._save(rec)
            await self._start(rec)

    async def resize(self, instance: InstanceSpec) -> None:
        """The new flavor's limits on the same root file system (the writable layer is
        kept): stopped as power_off does (a minute at most), started with the new
        cgroup limits. Spawned when this host has no such instance."""
        uuid = instance.uuid
        try:
            rec = await self._record(uuid)
        except InstanceNotFound:
            rec = {}
        if "process" not in rec:
            await self.spawn(instance)
            return
        async with self._lock(uuid):
            rec = await self._record(uuid)
            await self._stop(self._runtime_of(rec), uuid, 60)
            rec.update(vcpus=instance.vcpus, memory_mb=instance.memory_mb, suspended=False)
            await self._save(rec)
            await self._start(rec)

    async def reboot(self, uuid: str, hard: bool) -> None:
        """Soft: stop as power_off does, then start; hard: SIGKILL, then start."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            if "process" not in rec:
                raise PermanentError(f"instance {uuid} was never completely built")
            await self._stop(self._runtime_of(rec), uuid, 0 if hard else 60)
            if rec.get("suspended"):
                rec["suspended"] = False
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
            if rec.get("suspended", False) != suspended:
                rec["suspended"] = suspended
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
            return base.SUSPENDED if rec.get("suspended") else base.PAUSED
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
            if "process" not in rec:
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
