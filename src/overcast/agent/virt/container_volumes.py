"""Volumes in containers: the volume appears in the running container as a block
device (/dev/vdb, /dev/vdc... and /dev/disk/by-id/virtio-<serial>, as in a VM;
the serial is the volume id's first 20 characters). The guest reads and writes it
raw; it cannot mount it, as containers here have no CAP_SYS_ADMIN (the host may
mount a formatted volume, the guest may not).

The block device is a loop device on the host (the kernel has loop, not nbd):

* a raw file volume: a loop device straight over the file, with direct I/O
  (`losetup --direct-io=on`; the kernel falls back to buffered I/O where the file
  system cannot);
* a qcow2 file volume, or any NBD export: a `qemu-storage-daemon` per volume
  presents the guest-visible bytes as a plain file through its FUSE export
  (`--export type=fuse`, built in Debian's QEMU 7.2), and the loop device is over
  that file. For NBD this is QEMU's userspace NBD client, the same transport a VM
  uses; the daemon runs in the host's namespace, so 127.0.0.1 is the host's.

Attach to a running container: the loop device is made, its node created in the
container's /dev (through /proc/<pid>/root, which resolves in the container's mount
namespace: no nsenter, no tools inside the guest) and allowed in the container's
devices cgroup (v1 `devices.allow`; hybrid cgroups here, HOST_FACTS §6). Detach:
the node removed, the device denied again, the loop device detached and the
daemon stopped. Volumes are in the instance's record; at each start the loop
devices (and daemons) are made again if they are gone (a host reboot) and the
bundle lists them in `linux.devices` with their cgroup rule, so they are there
from the container's first instruction. Destroy releases them all.

Per-volume files live under the instance directory: volumes/<volume id>/
(qsd.pid, export: the FUSE mount point, qsd.log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overcast.agent.virt.base import PermanentError, RetryableError
from overcast.agent.virt.common import proc_start
from overcast.kit.runner import Result

log = logging.getLogger("overcast.agent.virt.container")

SERIAL_LEN = 20
QSD = "qemu-storage-daemon"


def check(connection_info: dict[str, Any]) -> dict[str, Any]:
    """The connection_info's data, checked (PermanentError: what is wrong)."""
    if not isinstance(connection_info, dict):
        raise PermanentError("connection_info must be an object")
    kind = connection_info.get("driver_volume_type")
    data = connection_info.get("data")
    if not isinstance(data, dict) or not re.fullmatch(
            r"[0-9A-Za-z][0-9A-Za-z-]*", str(data.get("volume_id") or "")):
        raise PermanentError("connection_info has no valid data.volume_id")
    fmt = str(data.get("format") or "raw")
    if kind == "file":
        if fmt not in ("raw", "qcow2"):
            raise PermanentError(f"volume format {fmt!r} is not raw or qcow2")
        if not str(data.get("path") or "").startswith("/"):
            raise PermanentError("a file volume's connection_info needs an absolute path")
    elif kind == "nbd":
        if fmt != "raw" or not data.get("host") or not data.get("port") or \
                not data.get("export_name"):
            raise PermanentError("an nbd connection_info needs host, port, export_name "
                                 "and format raw")
    else:
        raise PermanentError(f"driver_volume_type {kind!r} is not supported by the "
                             "container driver (file, nbd)")
    return data


def needs_daemon(connection_info: dict[str, Any]) -> bool:
    data = connection_info["data"]
    return connection_info["driver_volume_type"] == "nbd" or data.get("format") == "qcow2"


def _qsd_argv(connection_info: dict[str, Any], export: Path, pidfile: Path) -> list[str]:
    data = connection_info["data"]
    ro = bool(data.get("read_only"))
    if connection_info["driver_volume_type"] == "nbd":
        proto = (f"driver=nbd,node-name=p0,server.type=inet,server.host={data['host']},"
                 f"server.port={data['port']},export={data['export_name']}")
        fmt = "driver=raw,node-name=v0,file=p0"
    else:
        path = str(data["path"]).replace(",", ",,")
        proto = f"driver=file,node-name=p0,filename={path}"
        fmt = f"driver={data.get('format') or 'raw'},node-name=v0,file=p0"
    ro_opt = ",read-only=on" if ro else ""
    return [QSD, "--blockdev", proto + ro_opt, "--blockdev", fmt + ro_opt,
            "--export", f"type=fuse,id=e0,node-name=v0,mountpoint={export},"
                        f"writable={'off' if ro else 'on'}",
            "--pidfile", str(pidfile), "--daemonize"]


def _is_mount(path: Path) -> bool:
    want = str(path)
    try:
        return any(line.split()[4] == want
                   for line in Path("/proc/self/mountinfo").read_text().splitlines())
    except OSError:
        return False


def _loop_backing(dev: str) -> str | None:
    """The file behind a loop device (None: not set up)."""
    try:
        return (Path("/sys/block") / Path(dev).name / "loop" / "backing_file") \
            .read_text().strip()
    except OSError:
        return None


def _major_minor(dev: str) -> tuple[int, int]:
    st = os.stat(dev)
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def guest_name(index: int) -> str:
    """/dev/vdb for the first volume (vda is a VM's root disk; kept alike)."""
    return f"/dev/vd{chr(ord('b') + index)}" if index < 25 else f"/dev/vd{index}"


class Backing:
    """The host side of one container volume: its loop device, and the storage
    daemon with its FUSE export when the bytes need one. `run` runs a host command
    (failures retryable)."""

    def __init__(self, where: Path, connection_info: dict[str, Any], run: Any) -> None:
        self.where = where
        self.info = connection_info
        self.run = run
        self.export = where / "export"
        self.pidfile = where / "qsd.pid"

    def _daemon_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text().strip())
            if proc_start(pid) is not None:
                return pid
        return None

    async def file(self) -> Path:
        """The file the loop device goes over (the daemon started when needed)."""
        if not needs_daemon(self.info):
            return Path(self.info["data"]["path"])
        alive = await asyncio.to_thread(self._daemon_pid) is not None
        mounted = await asyncio.to_thread(_is_mount, self.export)
        if alive and mounted:
            return self.export
        if mounted:  # a daemon killed hard leaves its FUSE mount behind, dead
            await self.run(["umount", "--lazy", str(self.export)], check=False)
        if alive:
            await self.release_daemon()
        if shutil.which(QSD) is None:
            raise PermanentError(f"a {self.info['driver_volume_type']} "
                                 f"{self.info['data'].get('format') or 'raw'} volume needs "
                                 f"{QSD} (apt-get install qemu-system-x86) in a container")

        def prepare() -> None:
            self.where.mkdir(parents=True, exist_ok=True)
            self.export.touch()
            self.pidfile.unlink(missing_ok=True)

        await asyncio.to_thread(prepare)
        r: Result = await self.run(_qsd_argv(self.info, self.export, self.pidfile),
                                   check=False, timeout=30)
        if r.returncode != 0:
            raise RetryableError(f"{QSD} could not export volume "
                                 f"{self.info['data']['volume_id']}: "
                                 f"{(r.stderr or r.stdout).strip()[-400:]}")
        return self.export

    async def loop(self, current: str | None) -> str:
        """The loop device over the volume's file: `current` when it still is one."""
        path = await self.file()
        if current and await asyncio.to_thread(_loop_backing, current) == str(path):
            return current
        ro = ["-r"] if self.info["data"].get("read_only") else []
        # direct I/O on a plain file: the container's reads and writes go to the
        # file past the host's page cache (one copy, not two: the loop device's own
        # cache is the container's); a FUSE export keeps buffered I/O (its daemon
        # already opens the file as it should)
        dio = [] if needs_daemon(self.info) else ["--direct-io=on"]
        r = await self.run(["losetup", "-f", "--show", *ro, *dio, str(path)], timeout=30)
        return str(r.stdout.strip())

    async def release(self, dev: str | None) -> None:
        """The loop device detached (autoclear when still open) and the daemon
        stopped (its FUSE export unmounted)."""
        if dev and await asyncio.to_thread(_loop_backing, dev) is not None:
            await self.run(["losetup", "-d", dev], check=False, timeout=30)
        await self.release_daemon()
        await asyncio.to_thread(shutil.rmtree, self.where, True)

    async def release_daemon(self) -> None:
        """The storage daemon stopped and its FUSE export unmounted."""
        pid = await asyncio.to_thread(self._daemon_pid)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while proc_start(pid) is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if proc_start(pid) is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if await asyncio.to_thread(_is_mount, self.export):
            await self.run(["umount", "--lazy", str(self.export)], check=False)


# ------------------------------------------------------- inside the container
def devices_cgroup(pid: int) -> Path | None:
    """The container's v1 devices cgroup directory (None on a v2-only host, where
    the runtime's eBPF device filter cannot be changed from here)."""
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "devices" in controllers.split(","):
                where = Path("/sys/fs/cgroup/devices") / path.lstrip("/")
                return where if where.is_dir() else None
    except (OSError, ValueError):
        pass
    return None


def allow(pid: int, major: int, minor: int, ok: bool) -> None:
    where = devices_cgroup(pid)
    if where is None:
        if ok:
            raise PermanentError("the container's devices cgroup (v1) is not there: "
                                 "a block device cannot be allowed in it live")
        return
    name = "devices.allow" if ok else "devices.deny"
    (where / name).write_text(f"b {major}:{minor} rwm\n")


def make_node(pid: int, name: str, major: int, minor: int, serial: str) -> None:
    """The device node (and its by-id link) in the container's /dev, reached
    through /proc/<pid>/root (the container's root in its own mount namespace)."""
    root = Path(f"/proc/{pid}/root")
    node = root / name.lstrip("/")
    with contextlib.suppress(FileNotFoundError):
        node.unlink()
    os.mknod(node, stat.S_IFBLK | 0o660, os.makedev(major, minor))
    by_id = root / "dev/disk/by-id"
    with contextlib.suppress(OSError):
        by_id.mkdir(parents=True, exist_ok=True)
        link = by_id / f"virtio-{serial}"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(f"../../{Path(name).name}")


def remove_node(pid: int, name: str, serial: str) -> None:
    root = Path(f"/proc/{pid}/root")
    for path in (root / name.lstrip("/"), root / f"dev/disk/by-id/virtio-{serial}"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def bundle_entries(volumes: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                           list[dict[str, Any]]]:
    """The volumes as OCI `linux.devices` and their `resources.devices` rules."""
    devices, rules = [], []
    for vol in volumes:
        if vol.get("major") is None:
            continue
        major, minor = int(vol["major"]), int(vol["minor"])
        devices.append({"path": vol["device"], "type": "b", "major": major,
                        "minor": minor, "fileMode": 0o660, "uid": 0, "gid": 0})
        rules.append({"allow": True, "type": "b", "major": major, "minor": minor,
                      "access": "rwm"})
    return devices, rules


class ContainerVolumes:
    """The container driver's volume half (ContainerDriver mixes it in): attach and
    detach, the loop devices made ready before a start and released by destroy."""

    if TYPE_CHECKING:
        host: str

        def _dir(self, uuid: str) -> Path: ...
        def _lock(self, uuid: str) -> asyncio.Lock: ...
        async def _record(self, uuid: str) -> Any: ...
        async def _save(self, rec: Any) -> None: ...
        def _runtime_of(self, rec: Any) -> Any: ...
        async def _state(self, rt: Any, uuid: str) -> dict[str, Any] | None: ...
        async def _run(self, argv: list[str], *, check: bool = True,
                       timeout: float | None = None, netns: str | None = None,
                       cwd: Path | None = None) -> Result: ...

    def _backing(self, uuid: str, vol: dict[str, Any]) -> Backing:
        return Backing(self._dir(uuid) / "volumes" / str(vol["volume_id"]),
                       vol["connection_info"], self._run)

    async def _volume_ready(self, uuid: str, vol: dict[str, Any]) -> None:
        """The volume's loop device (made again when gone), its numbers in `vol`."""
        loop = await self._backing(uuid, vol).loop(vol.get("loop"))
        vol["loop"] = loop
        vol["major"], vol["minor"] = await asyncio.to_thread(_major_minor, loop)

    async def _volumes_ready(self, rec: Any) -> None:
        """Every recorded volume's loop device, before the container is created (its
        bundle lists them)."""
        for vol in rec.volumes:
            await self._volume_ready(rec.uuid, vol)
        if rec.volumes:
            await self._save(rec)

    async def _volumes_release(self, rec: Any) -> None:
        for vol in rec.volumes:
            try:
                await self._backing(rec.uuid, vol).release(vol.get("loop"))
            except Exception as exc:  # noqa: BLE001 - destroy goes on
                log.warning("releasing volume %s of %s: %s", vol.get("volume_id"),
                            rec.uuid, exc)

    async def _live_pid(self, rec: Any) -> int | None:
        state = await self._state(self._runtime_of(rec), rec.uuid)
        if state and state.get("status") in ("running", "paused") and state.get("pid"):
            return int(state["pid"])
        return None

    async def attach_volume(self, uuid: str, connection_info: dict[str, Any],
                            device: str) -> str:
        """The volume as a block device in the container (live when it runs, from the
        next start otherwise), recorded; its name there. Again: the same name."""
        data = check(connection_info)
        vid = str(data["volume_id"])
        if connection_info["driver_volume_type"] == "file" and \
                not await asyncio.to_thread(os.path.exists, str(data["path"])):
            raise PermanentError(f"volume {vid}: no file {data['path']} on host {self.host}")
        async with self._lock(uuid):
            rec = await self._record(uuid)
            if rec.process is None:
                raise PermanentError(f"instance {uuid} was never completely built")
            vol = next((v for v in rec.volumes if v.get("volume_id") == vid), None)
            fresh = vol is None
            if vol is None:
                taken = {v.get("device") for v in rec.volumes}
                name = next(guest_name(i) for i in range(len(taken) + 1)
                            if guest_name(i) not in taken)
                vol = {"volume_id": vid, "device": name, "boot_index": None,
                       "connection_info": connection_info}
                rec.volumes.append(vol)
                await self._save(rec)  # the intent first: destroy releases it
            pid = await self._live_pid(rec)
            if pid is not None:
                try:
                    await self._volume_ready(uuid, vol)
                    await self._save(rec)
                    major, minor = int(vol["major"]), int(vol["minor"])
                    await asyncio.to_thread(allow, pid, major, minor, True)
                    await asyncio.to_thread(make_node, pid, vol["device"], major, minor,
                                            vid[:SERIAL_LEN])
                except (OSError, PermanentError, RetryableError) as exc:
                    if fresh:
                        await self._backing(uuid, vol).release(vol.get("loop"))
                        rec.volumes.remove(vol)
                        await self._save(rec)
                    if isinstance(exc, OSError):
                        raise RetryableError(f"volume {vid} could not be put in the "
                                             f"container of {uuid}: {exc}") from exc
                    raise
            log.info("attached volume %s to container %s as %s", vid, uuid, vol["device"])
            return str(vol["device"])

    async def detach_volume(self, uuid: str, volume_id: str, timeout: float = 30) -> None:
        """The node gone from the container, the device denied in its cgroup, the
        loop device detached (the kernel frees it once the guest closes it) and the
        daemon stopped; then off the record. Not attached: no error."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            vol = next((v for v in rec.volumes if v.get("volume_id") == volume_id), None)
            if vol is None:
                return
            pid = await self._live_pid(rec)
            if pid is not None:
                await asyncio.to_thread(remove_node, pid, vol["device"],
                                        volume_id[:SERIAL_LEN])
                if vol.get("major") is not None:
                    await asyncio.to_thread(allow, pid, int(vol["major"]),
                                            int(vol["minor"]), False)
            await self._backing(uuid, vol).release(vol.get("loop"))
            rec.volumes.remove(vol)
            await self._save(rec)
            log.info("detached volume %s from container %s", volume_id, uuid)

    async def extend_volume(self, uuid: str, volume_id: str, size_bytes: int) -> None:
        """The grown volume's loop device told to read its file's size again
        (`losetup -c`): the container's node is that device, so it sees the new
        size at once. A volume not attached, or with no loop device yet (the
        container stopped), needs nothing: the next start makes a fresh one."""
        async with self._lock(uuid):
            rec = await self._record(uuid)
            vol = next((v for v in rec.volumes if v.get("volume_id") == volume_id), None)
            loop = vol.get("loop") if vol else None
            if not loop or await asyncio.to_thread(_loop_backing, str(loop)) is None:
                return
            if vol is not None and needs_daemon(vol["connection_info"]):
                # its FUSE export keeps the size it started with
                raise PermanentError(f"volume {volume_id} reaches the container through a "
                                     "storage daemon: stop the container to extend it")
            r = await self._run(["losetup", "-c", str(loop)], check=False, timeout=30)
            if r.returncode != 0:
                raise PermanentError(f"volume {volume_id}: losetup -c {loop} failed: "
                                     f"{r.stderr.strip()}")
            log.info("volume %s of container %s now %d bytes", volume_id, uuid, size_bytes)
