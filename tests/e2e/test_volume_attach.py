"""Volumes on real guests (root, QEMU under TCG; the container driver where it runs):
the host data path of block storage, driven through the virt drivers and the agent's
bus messages, without the volume service (the connection_info is made here as the
volume service hands it, VOLUME_CONTRACT.md).

overcast-tiny (kernel + ramdisk, on `-M pc`) watches for disks with a serial: it
mounts each new one, prints its files on the console, writes guest-<its id>.txt
and unmounts it (guest/init.sh, step 6). So a file written by one guest is read by
the next one the volume is attached to, and by the host afterwards (debugfs).

* a qcow2 file volume attached live through AttachVolume on the bus, seen by
  the guest, written; detached (DetachVolume: the guest releases it, QEMU keeps no
  device or block node; /dev/vdb without a config drive, vdc with one, which is
  vdb); attached to a second guest, which reads the first one's
  file; read on the host after the detach;
* the same volume kept across a hard reboot, a stop and start (on QEMU's command
  line) and a new driver object (an agent restart);
* a raw volume exported by a qemu-storage-daemon on 127.0.0.1 over NBD, attached
  to a guest that reads it;
* a volume extended while attached (QEMU block_resize); a read-only volume the
  guest reads and cannot write; a guest that does not release a disk (paused)
  makes detach fail with a clear error within the timeout, and a later detach
  finishes the unplug;
* an instance booted from a volume (boot_index 0): the volume is its /dev/vda;
* a running container gets volumes as block devices (a raw file as a loop device;
  a qcow2 file and an NBD export through qemu-storage-daemon's FUSE export), reads
  and writes their bytes, keeps them across a stop/start after a simulated host
  reboot, sees one grow, and leaves no loop device or daemon after detach/destroy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.host import Agent
from overcast.agent.virt import base
from overcast.agent.virt import qemu as qm
from overcast.agent.virt.base import DriverEnv, PermanentError, RetryableError
from overcast.agent.virt.qemu import QemuDriver, Qmp
from overcast.agent.virt.qemu import volumes as qv
from overcast.bus import MemoryBus
from overcast.bus.messages import (
    AttachVolume,
    DetachVolume,
    InstanceSpec,
    Message,
    VolumeAttachReply,
)
from overcast.config import load_settings
from overcast.image.builder import BuildError, BuiltImage, build_test_image

WHY_NOT = qm.available() or (None if os.geteuid() == 0 else "needs root") or \
    (None if shutil.which("mkfs.ext4") and shutil.which("debugfs") else
     "needs e2fsprogs (mkfs.ext4, debugfs)")
pytestmark = pytest.mark.skipif(WHY_NOT is not None,
                                reason=f"volumes on QEMU guests cannot be tried here: "
                                       f"{WHY_NOT}")

KERNEL_ID = "0a1b2c3d-0000-4000-8000-00000000b001"
RAMDISK_ID = "0a1b2c3d-0000-4000-8000-00000000b002"
MACHINE = {"id": "0a1b2c3d-0000-4000-8000-00000000b003", "name": "overcast-tiny",
           "disk_format": "ami", "container_format": "ami", "kernel_id": KERNEL_ID,
           "ramdisk_id": RAMDISK_ID, "status": "active"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("settings"))
    try:
        return build_test_image(settings.guest_cache_dir)
    except BuildError as exc:
        pytest.skip(f"overcast-tiny cannot be built here: {exc}")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vol") / "state"


@pytest.fixture
async def make(state_dir: Path, built: BuiltImage
               ) -> AsyncIterator[Callable[[], QemuDriver]]:
    """QEMU drivers on the module's state directory (no dataplane: the guests have
    no NIC and QEMU runs in the host's namespace); every instance destroyed after."""
    files = {KERNEL_ID: built.kernel, RAMDISK_ID: built.ramdisk, MACHINE["id"]: built.rootfs}

    async def image_path(image_id: str) -> Path:
        return files[image_id]

    made: list[QemuDriver] = []

    def factory() -> QemuDriver:
        state_dir.mkdir(parents=True, exist_ok=True)
        d = QemuDriver("vol-host", DriverEnv(state_dir=state_dir, image_path=image_path))
        made.append(d)
        return d

    yield factory
    if made:
        d = made[-1]
        for u in await d.list_instances():
            await d.destroy(u)


def spec(name: str, image: dict[str, Any] | None = None, **kw: Any) -> InstanceSpec:
    image = dict(image or MACHINE)
    # the config drive tells the guest its id (it names the file it writes); it is
    # the guest's vdb, so the first volume is vdc
    return InstanceSpec(uuid=str(uuid.uuid4()), name=name, project_id="p", vcpus=1,
                        memory_mb=128, root_gb=1, image_ref=image["id"], image=image,
                        config_drive=kw.pop("config_drive", True), **kw)


def make_volume(where: Path, fmt: str, files: dict[str, str], size_mb: int = 64) -> Path:
    """An ext4 file system holding `files`, as a raw or qcow2 volume file."""
    seed = where / f"seed-{secrets.token_hex(3)}"
    seed.mkdir(parents=True)
    for name, text in files.items():
        (seed / name).write_text(text)
    raw = where / f"vol-{secrets.token_hex(4)}.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), f"{size_mb}M"],
                   check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(seed), str(raw)], check=True)
    if fmt == "raw":
        return raw
    out = raw.with_suffix(".qcow2")
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw),
                    str(out)], check=True)
    raw.unlink()
    return out


def read_from_host(volume: Path, fmt: str, name: str) -> str:
    """A file of the volume's ext4, read on the host without mounting (debugfs)."""
    raw = volume
    if fmt != "raw":
        raw = volume.with_suffix(".check.raw")
        subprocess.run(["qemu-img", "convert", "-U", "-q", "-f", fmt, "-O", "raw",
                        str(volume), str(raw)], check=True)
    try:
        r = subprocess.run(["debugfs", "-R", f"cat /{name}", str(raw)], check=True,
                           capture_output=True, text=True)
        return r.stdout
    finally:
        if raw != volume:
            raw.unlink()


def file_info(volume_id: str, path: Path, fmt: str) -> dict[str, Any]:
    return {"driver_volume_type": "file",
            "data": {"volume_id": volume_id, "path": str(path), "format": fmt,
                     "read_only": False}}


async def wait_console(d: QemuDriver, uuid_: str, text: str, *, count: int = 1,
                       timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = await d.console_output(uuid_)
        if out.count(text) >= count:
            return out
        assert time.monotonic() < deadline, f"{text!r} not on the console:\n{out[-3000:]}"
        await asyncio.sleep(0.1)


def lines(console: str, prefix: str) -> list[str]:
    return [line.strip() for line in console.splitlines() if line.startswith(prefix)]


def qmp(d: QemuDriver, uuid_: str, command: str, args: dict[str, Any] | None = None
        ) -> Any:
    with Qmp(d.instances_dir / uuid_ / "qmp.sock") as q:
        return q.execute(command, args)


def devices_and_nodes(d: QemuDriver, uuid_: str) -> tuple[set[str], set[str]]:
    devs = {p["name"] for p in qmp(d, uuid_, "qom-list", {"path": "/machine/peripheral"})}
    nodes = {n["node-name"] for n in qmp(d, uuid_, "query-named-block-nodes",
                                         {"flat": True})}
    return devs, nodes


async def booted(d: QemuDriver, *specs: InstanceSpec) -> None:
    await asyncio.gather(*(d.spawn(s) for s in specs))
    for s in specs:
        await wait_console(d, s.uuid, "OVERCAST-GUEST-UP")


@contextlib.asynccontextmanager
async def agent_on(driver: QemuDriver) -> AsyncIterator[MemoryBus]:
    """The host agent on the in-process bus, with a conductor that wants nothing
    reconciled (the test drives the instances itself)."""
    bus = MemoryBus()

    async def conductor(msg: Message) -> Any:
        from overcast.bus.messages import DesiredInstancesReply, DesiredState

        if isinstance(msg, DesiredState):
            return DesiredInstancesReply.of([{"uuid": u, "vm_state": "active",
                                              "power_state": base.RUNNING}
                                             for u in await driver.list_instances()])
        return None

    await bus.subscribe("conductor", conductor)
    await bus.subscribe("conductor.reports", conductor)
    agent = Agent(driver.host, driver, bus, heartbeat_interval=3600,
                  resync_interval=3600, retry_delays=(0.5,))
    await agent.start()
    try:
        yield bus
    finally:
        await agent.stop()
        await bus.stop()


# --------------------------------------------------------------------------- tests


async def test_a_volume_moves_between_guests_over_the_bus(
        make: Callable[[], QemuDriver], tmp_path: Path) -> None:
    d = make()
    a, b = spec("vol-a"), spec("vol-b")
    await booted(d, a, b)
    assert qm._cmdline(d._pid(a.uuid) or 0)[qm._cmdline(d._pid(a.uuid) or 0)
                                           .index("-M") + 1] == "pc"
    vid = str(uuid.uuid4())
    ser = vid[:20]
    vol = make_volume(tmp_path, "qcow2", {"overcast-host.txt": "written on the host\n"})
    info = file_info(vid, vol, "qcow2")
    async with agent_on(d) as bus:
        t0 = time.monotonic()
        reply = await bus.call("agent.vol-host", AttachVolume(
            uuid=a.uuid, volume_id=vid, connection_info=info, device="/dev/vdc"),
            timeout=60)
        took = time.monotonic() - t0
        assert isinstance(reply, VolumeAttachReply) and reply.ok, reply
        assert reply.device == "/dev/vdc"
        out = await wait_console(d, a.uuid, f"OVERCAST-VOLUME-WROTE {ser}")
        print(f"\nattach (bus call): {took * 1e3:.0f} ms")
        assert f"OVERCAST-VOLUME {ser} /dev/vdc ext4 files=overcast-host.txt" in out, out
        assert f"OVERCAST-VOLUME-FILE {ser} overcast-host.txt: written on the host" in out
        # past the host's page cache (O_DIRECT on the file: issue 14's throughput)
        node = next(n for n in qmp(d, a.uuid, "query-named-block-nodes", {"flat": True})
                    if n["node-name"] == qv.names(vid)[1])
        assert node["cache"]["direct"] is True and node["file"] == str(vol)
        # attached again: the same answer, nothing added
        again = await bus.call("agent.vol-host", AttachVolume(
            uuid=a.uuid, volume_id=vid, connection_info=info), timeout=60)
        assert again.ok and again.device == "/dev/vdc"
        # a connection_info for another volume is refused
        wrong = await bus.call("agent.vol-host", AttachVolume(
            uuid=a.uuid, volume_id=str(uuid.uuid4()), connection_info=info), timeout=60)
        assert not wrong.ok and "not" in (wrong.error or "")

        t0 = time.monotonic()
        reply = await bus.call("agent.vol-host", DetachVolume(uuid=a.uuid, volume_id=vid),
                               timeout=60)
        print(f"detach (bus call): {(time.monotonic() - t0) * 1e3:.0f} ms")
        assert reply.ok, reply
        await wait_console(d, a.uuid, f"OVERCAST-VOLUME-GONE {ser}")
        devs, nodes = devices_and_nodes(d, a.uuid)
        assert not any(ser in x for x in devs | nodes), (devs, nodes)
        assert (await d._record(a.uuid)).volumes == []
        # the host reads what guest a wrote
        assert f"written by {a.uuid}" in read_from_host(vol, "qcow2", f"guest-{a.uuid}.txt")

        reply = await bus.call("agent.vol-host", AttachVolume(
            uuid=b.uuid, volume_id=vid, connection_info=info), timeout=60)
        assert reply.ok, reply
        out = await wait_console(d, b.uuid, f"OVERCAST-VOLUME-WROTE {ser}")
        assert f"OVERCAST-VOLUME-FILE {ser} guest-{a.uuid}.txt: written by {a.uuid}" in out
        reply = await bus.call("agent.vol-host", DetachVolume(uuid=b.uuid, volume_id=vid),
                               timeout=60)
        assert reply.ok, reply
        # detached twice: no error
        assert (await bus.call("agent.vol-host", DetachVolume(
            uuid=b.uuid, volume_id=vid), timeout=60)).ok
        # a file that is not there: refused, and nothing recorded
        gone = await bus.call("agent.vol-host", AttachVolume(
            uuid=b.uuid, volume_id=vid, connection_info=file_info(
                vid, tmp_path / "nothing.qcow2", "qcow2")), timeout=60)
        assert not gone.ok and "no file" in (gone.error or "")
        assert (await d._record(b.uuid)).volumes == []
    assert f"written by {b.uuid}" in read_from_host(vol, "qcow2", f"guest-{b.uuid}.txt")


async def test_a_volume_stays_across_reboots_restarts_and_a_new_agent(
        make: Callable[[], QemuDriver], tmp_path: Path) -> None:
    d = make()
    s = spec("vol-keep")
    await booted(d, s)
    vid = str(uuid.uuid4())
    ser = vid[:20]
    vol = make_volume(tmp_path, "raw", {"overcast-keep.txt": "kept\n"})
    # an attach cut short (the agent killed after blockdev-add): the block node is
    # there without its device; attaching again finishes it
    qmp(d, s.uuid, "blockdev-add", qv.blockdev(file_info(vid, vol, "raw")))
    assert await d.attach_volume(s.uuid, file_info(vid, vol, "raw"), "") == "/dev/vdc"
    await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {ser}")
    # hard reboot: a reset of the same QEMU, which keeps the hot-plugged device
    await d.reboot(s.uuid, hard=True)
    out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {ser}", count=2)
    assert lines(out, f"OVERCAST-VOLUME {ser}")[-1].endswith(
        f"files=guest-{s.uuid}.txt,overcast-keep.txt")
    # stop and start: a new QEMU, the volume on its command line
    await d.power_off(s.uuid, timeout=10)
    assert await d.get_info(s.uuid) == base.SHUTDOWN
    await d.power_on(s.uuid)
    argv = qm._cmdline(d._pid(s.uuid) or 0)
    assert any(ser in a and str(vol) in a for a in argv), argv
    await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {ser}", count=3)
    # suspended and resumed with the volume attached: the saved state loads (the
    # volume's PCI slot is the same on the new command line), the guest carries on
    await d.suspend(s.uuid)
    assert await d.get_info(s.uuid) == base.SUSPENDED
    await d.resume(s.uuid)
    assert await d.get_info(s.uuid) == base.RUNNING
    ups = (await d.console_output(s.uuid)).count("OVERCAST-GUEST-UP")
    # another driver object on the same state (the agent restarted) detaches it
    d2 = make()
    await d2.detach_volume(s.uuid, vid)
    await wait_console(d2, s.uuid, f"OVERCAST-VOLUME-GONE {ser}")
    assert not any(ser in x for x in set().union(*devices_and_nodes(d2, s.uuid)))
    # the guest that released it is the one resumed, not a fresh boot
    assert (await d2.console_output(s.uuid)).count("OVERCAST-GUEST-UP") == ups
    # attached while stopped: there from the next start
    await d2.power_off(s.uuid, timeout=10)
    await d2.attach_volume(s.uuid, file_info(vid, vol, "raw"), "")
    await d2.power_on(s.uuid)
    await wait_console(d2, s.uuid, f"OVERCAST-VOLUME-WROTE {ser}", count=4)
    await d2.power_off(s.uuid, timeout=0)
    await d2.detach_volume(s.uuid, vid)
    assert (await d2._record(s.uuid)).volumes == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def nbd_export(tmp_path: Path) -> Iterator[tuple[Path, int, str]]:
    """A raw ext4 volume exported by qemu-storage-daemon on 127.0.0.1 (as the storage
    host does): (file, port, export name)."""
    daemon = shutil.which("qemu-storage-daemon")
    if daemon is None:
        pytest.skip("no qemu-storage-daemon (qemu-system-x86 / qemu-utils)")
    vol = make_volume(tmp_path, "raw", {"overcast-nbd.txt": "served over NBD\n"})
    port = free_port()
    name = f"volume-{secrets.token_hex(4)}"
    proc = subprocess.Popen(
        [daemon, "--blockdev", f"driver=file,node-name=f0,filename={vol}",
         "--nbd-server", f"addr.type=inet,addr.host=127.0.0.1,addr.port={port}",
         "--export", f"type=nbd,id=e0,node-name=f0,name={name},writable=on"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        0.2):
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "qemu-storage-daemon did not listen"
            time.sleep(0.05)
        yield vol, port, name
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_an_nbd_volume_from_a_storage_daemon(
        make: Callable[[], QemuDriver], nbd_export: tuple[Path, int, str]) -> None:
    vol, port, name = nbd_export
    d = make()
    s = spec("vol-nbd")
    await booted(d, s)
    vid = str(uuid.uuid4())
    ser = vid[:20]
    info = {"driver_volume_type": "nbd",
            "data": {"volume_id": vid, "host": "127.0.0.1", "port": port,
                     "export_name": name, "format": "raw", "read_only": False}}
    t0 = time.monotonic()
    assert await d.attach_volume(s.uuid, info, "/dev/vdc") == "/dev/vdc"
    print(f"\nattach over NBD: {(time.monotonic() - t0) * 1e3:.0f} ms")
    out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {ser}")
    assert f"OVERCAST-VOLUME-FILE {ser} overcast-nbd.txt: served over NBD" in out
    assert "nbd" in str(qmp(d, s.uuid, "query-named-block-nodes", {"flat": True}))
    await d.detach_volume(s.uuid, vid)
    await wait_console(d, s.uuid, f"OVERCAST-VOLUME-GONE {ser}")
    # what the guest wrote went through the export into the storage host's file
    assert f"written by {s.uuid}" in read_from_host(vol, "raw", f"guest-{s.uuid}.txt")
    with pytest.raises(PermanentError, match="NBD export"):
        await d.attach_volume(s.uuid, {"driver_volume_type": "nbd", "data": {
            "volume_id": vid, "host": "127.0.0.1", "port": port, "export_name": name,
            "format": "qcow2"}}, "")


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Linux dataplane (QEMU of a guest with a port runs in its namespace)."""
    if not shutil.which("dnsmasq"):
        pytest.skip("needs dnsmasq for the Linux dataplane")
    from overcast.agent.net.linux import LinuxDataplane

    dp = LinuxDataplane(f"ocv{secrets.token_hex(1)}", tmp_path_factory.mktemp("net"))
    try:
        yield dp
    finally:
        dp.cleanup()


async def test_nbd_for_a_guest_in_the_dataplanes_namespace(
        state_dir: Path, built: BuiltImage, plane: Any,
        nbd_export: tuple[Path, int, str]) -> None:
    """QEMU of a guest with a port runs in the dataplane's namespace, where 127.0.0.1
    is not the storage daemon's: the agent connects and hands QEMU the socket, live
    and when QEMU starts again (started paused, the volume added, then run)."""
    files = {KERNEL_ID: built.kernel, RAMDISK_ID: built.ramdisk,
             MACHINE["id"]: built.rootfs}

    async def image_path(image_id: str) -> Path:
        return files[image_id]

    d = QemuDriver("vol-host", DriverEnv(state_dir=state_dir, image_path=image_path,
                                         plugger=plane))
    net = str(uuid.uuid4())
    port = {"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:63:00:10",
            "network_id": net, "mtu": 1400, "fixed_ips": []}
    plane.ensure_network(net, 1400)
    s = spec("vol-netns", ports=[port])
    vol, nport, name = nbd_export
    vid = str(uuid.uuid4())
    ser = vid[:20]
    info = {"driver_volume_type": "nbd",
            "data": {"volume_id": vid, "host": "127.0.0.1", "port": nport,
                     "export_name": name, "format": "raw", "read_only": False}}
    try:
        await booted(d, s)
        pid = d._pid(s.uuid) or 0
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        await d.attach_volume(s.uuid, info, "")
        out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {ser}")
        assert f"OVERCAST-VOLUME-FILE {ser} overcast-nbd.txt: served over NBD" in out
        await d.power_off(s.uuid, timeout=0)
        await d.power_on(s.uuid)
        argv = qm._cmdline(d._pid(s.uuid) or 0)
        assert "-S" in argv and not any(name in a for a in argv)
        out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {ser}", count=2)
        assert f"OVERCAST-VOLUME-FILE {ser} guest-{s.uuid}.txt: written by {s.uuid}" in out
        assert qmp(d, s.uuid, "query-status")["status"] == "running"
        await d.detach_volume(s.uuid, vid)
        await wait_console(d, s.uuid, f"OVERCAST-VOLUME-GONE {ser}", count=1)
    finally:
        await d.destroy(s.uuid)


async def test_a_guest_that_does_not_release_the_disk(
        make: Callable[[], QemuDriver], tmp_path: Path) -> None:
    d = make()
    s = spec("vol-stuck", config_drive=False)  # no config drive: the volume is vdb
    await booted(d, s)
    vid = str(uuid.uuid4())
    vol = make_volume(tmp_path, "raw", {})
    assert await d.attach_volume(s.uuid, file_info(vid, vol, "raw"), "") == "/dev/vdb"
    out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {vid[:20]}")
    assert f"OVERCAST-VOLUME {vid[:20]} /dev/vdb ext4" in out
    # extended while attached: QEMU grows the node (and the file under it, which
    # it holds locked) and the guest's kernel is told
    await d.extend_volume(s.uuid, vid, 96 << 20)
    sizes = {n["node-name"]: n["image"]["virtual-size"]
             for n in qmp(d, s.uuid, "query-named-block-nodes", {"flat": True})}
    assert sizes[qv.names(vid)[0]] == 96 << 20 and vol.stat().st_size == 96 << 20
    # a volume not attached to it: no error (the event may come after a detach)
    await d.extend_volume(s.uuid, str(uuid.uuid4()), 1 << 30)
    # a read-only volume: the guest reads it and cannot write it
    ro_id = str(uuid.uuid4())
    ro = make_volume(tmp_path, "raw", {"overcast-ro.txt": "read only\n"})
    ro_info = file_info(ro_id, ro, "raw")
    ro_info["data"]["read_only"] = True
    before = ro.read_bytes()
    assert await d.attach_volume(s.uuid, ro_info, "") == "/dev/vdc"
    out = await wait_console(d, s.uuid,
                             f"OVERCAST-VOLUME-FILE {ro_id[:20]} overcast-ro.txt: read only")
    assert f"OVERCAST-VOLUME {ro_id[:20]} /dev/vdc ext4-ro" in out
    await d.detach_volume(s.uuid, ro_id)
    assert ro.read_bytes() == before
    await d.pause(s.uuid)  # a frozen guest answers no ACPI eject
    t0 = time.monotonic()
    with pytest.raises(RetryableError, match="did not release volume"):
        await d.detach_volume(s.uuid, vid, timeout=2)
    assert time.monotonic() - t0 < 10
    assert [v["volume_id"] for v in (await d._record(s.uuid)).volumes] == [vid]
    await d.unpause(s.uuid)
    await d.detach_volume(s.uuid, vid, timeout=30)  # the pending unplug completes
    await wait_console(d, s.uuid, f"OVERCAST-VOLUME-GONE {vid[:20]}")
    assert not any(vid[:20] in x for x in set().union(*devices_and_nodes(d, s.uuid)))


async def test_microvm_takes_volumes_only_at_start(
        make: Callable[[], QemuDriver], tmp_path: Path) -> None:
    d = make()
    s = spec("vol-micro", image={**MACHINE, "hw_machine_type": "microvm"})
    await booted(d, s)
    vid = str(uuid.uuid4())
    vol = make_volume(tmp_path, "raw", {"overcast-m.txt": "micro\n"})
    with pytest.raises(PermanentError, match="cannot hot-plug"):
        await d.attach_volume(s.uuid, file_info(vid, vol, "raw"), "")
    assert (await d._record(s.uuid)).volumes == []
    await d.power_off(s.uuid, timeout=0)
    await d.attach_volume(s.uuid, file_info(vid, vol, "raw"), "")
    await d.power_on(s.uuid)
    out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {vid[:20]}")
    assert f"OVERCAST-VOLUME-FILE {vid[:20]} overcast-m.txt: micro" in out


async def test_booting_from_a_volume(make: Callable[[], QemuDriver], tmp_path: Path
                                     ) -> None:
    d = make()
    vid = str(uuid.uuid4())
    vol = make_volume(tmp_path, "qcow2", {"overcast-root.txt": "the root volume\n"})
    s = spec("vol-root", block_devices=[{"volume_id": vid, "device": "/dev/vda",
                                         "boot_index": 0,
                                         "connection_info": file_info(vid, vol, "qcow2")}])
    await booted(d, s)
    out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME-WROTE {vid[:20]}")
    assert f"OVERCAST-VOLUME {vid[:20]} /dev/vda ext4 files=overcast-root.txt" in out
    assert not (d.instances_dir / s.uuid / "disk.qcow2").exists()
    with pytest.raises(PermanentError, match="root disk"):
        await d.detach_volume(s.uuid, vid)
    with pytest.raises(PermanentError, match="boots from volume"):
        await d.snapshot(s.uuid, tmp_path / "snap")
    await d.destroy(s.uuid)
    assert vol.exists()  # the volume outlives the instance


async def test_booting_a_bootable_volume_through_the_firmware(
        make: Callable[[], QemuDriver], built: BuiltImage, tmp_path: Path) -> None:
    """An image without a kernel (overcast-tiny-disk, MBR + syslinux) copied into a
    volume: SeaBIOS boots the volume, which is the guest's vda."""
    d = make()
    vid = str(uuid.uuid4())
    vol = tmp_path / "root.qcow2"
    shutil.copyfile(built.disk, vol)
    disk_image = {"id": "0a1b2c3d-0000-4000-8000-00000000b004",
                  "name": "overcast-tiny-disk", "disk_format": "qcow2",
                  "container_format": "bare"}
    s = spec("vol-bios", image=disk_image, block_devices=[
        {"volume_id": vid, "device": "/dev/vda", "boot_index": 0,
         "connection_info": file_info(vid, vol, "qcow2")}])
    await d.spawn(s)  # the image's bytes are never fetched: the volume is the disk
    argv = qm._cmdline(d._pid(s.uuid) or 0)
    assert any(a.startswith("virtio-blk-pci,drive=vf-") and "bootindex=0" in a
               for a in argv), argv
    out = await wait_console(d, s.uuid, f"OVERCAST-VOLUME {vid[:20]} /dev/vda", timeout=120)
    assert f"instance-id: {s.uuid}" in out


# ------------------------------------------------------------------- containers
OCI = {"id": "5b0c3a52-8d7e-4f7a-9a51-0c0ffee0b0c1", "name": "overcast-tiny-oci",
       "disk_format": "raw", "container_format": "docker", "status": "active"}


def marked_volume(where: Path, fmt: str, marker: str, size_mb: int = 16) -> Path:
    """A volume whose first bytes are `marker` (a container reads it raw)."""
    raw = where / f"ct-{secrets.token_hex(4)}.raw"
    with open(raw, "wb") as fh:
        fh.write(marker.encode().ljust(512, b"\0"))
        fh.truncate(size_mb << 20)
    if fmt == "raw":
        return raw
    out = raw.with_suffix(".qcow2")
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw),
                    str(out)], check=True)
    raw.unlink()
    return out


async def test_a_container_gets_volumes_as_block_devices(
        built: BuiltImage, tmp_path: Path, nbd_export: tuple[Path, int, str]) -> None:
    from overcast.agent.virt import container as ct

    why = ct.available()
    if why is not None:
        pytest.skip(f"the container driver cannot run here: {why}")

    async def image_path(image_id: str) -> Path:
        return built.oci

    d = ct.ContainerDriver("ct-vol", DriverEnv(state_dir=tmp_path / "state",
                                               image_path=image_path))
    s = InstanceSpec(uuid=str(uuid.uuid4()), name="ct-vol", project_id="p", vcpus=1,
                     memory_mb=128, root_gb=1, image_ref=OCI["id"], image=dict(OCI))
    await d.spawn(s)
    rt = await d.runtime()

    def sh(script: str) -> str:
        r = subprocess.run(rt.argv("exec", d.cid(s.uuid), "/bin/sh", "-c", script),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    try:
        raw_id, qcow_id, nbd_id = (str(uuid.uuid4()) for _ in range(3))
        raw = marked_volume(tmp_path, "raw", "OVERCAST-RAW-VOLUME")
        qcow = marked_volume(tmp_path, "qcow2", "OVERCAST-QCOW2-VOLUME")
        t0 = time.monotonic()
        assert await d.attach_volume(s.uuid, file_info(raw_id, raw, "raw"), "") == \
            "/dev/vdb"
        print(f"\ncontainer attach (loop): {(time.monotonic() - t0) * 1e3:.0f} ms")
        assert sh("head -c 19 /dev/vdb") == "OVERCAST-RAW-VOLUME"
        assert sh(f"readlink /dev/disk/by-id/virtio-{raw_id[:20]}").strip() == "../../vdb"
        # the raw file's loop device does direct I/O (no second copy in the host's
        # page cache: issue 14's throughput)
        loop = Path((await d._record(s.uuid)).volumes[0]["loop"]).name
        assert Path(f"/sys/block/{loop}/loop/dio").read_text().strip() == "1"
        # written from inside, seen in the file on the host
        sh("printf OVERCAST-WRITTEN-BY-CONTAINER | dd of=/dev/vdb bs=512 seek=1 "
           "conv=notrunc 2>/dev/null && sync")
        # extended: the loop device (and what the container sees) grows
        with open(raw, "r+b") as fh:
            fh.truncate(32 << 20)
        await d.extend_volume(s.uuid, raw_id, 32 << 20)
        assert sh("blockdev --getsize64 /dev/vdb").strip() == str(32 << 20)
        # a qcow2 file and an NBD export go through a storage daemon's FUSE export
        t0 = time.monotonic()
        assert await d.attach_volume(s.uuid, file_info(qcow_id, qcow, "qcow2"), "") == \
            "/dev/vdc"
        print(f"container attach (qcow2 via qemu-storage-daemon): "
              f"{(time.monotonic() - t0) * 1e3:.0f} ms")
        assert sh("head -c 21 /dev/vdc") == "OVERCAST-QCOW2-VOLUME"
        vol, port, name = nbd_export
        nbd = {"driver_volume_type": "nbd",
               "data": {"volume_id": nbd_id, "host": "127.0.0.1", "port": port,
                        "export_name": name, "format": "raw", "read_only": False}}
        assert await d.attach_volume(s.uuid, nbd, "") == "/dev/vdd"
        magic = sh("dd if=/dev/vdd bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1")
        assert magic.split() == ["53", "ef"], magic  # the ext4 superblock's magic
        # stopped and started: the volumes are there from the first instruction;
        # first as after a host reboot: loop devices and storage daemons gone
        await d.power_off(s.uuid, timeout=0)
        for v in (await d._record(s.uuid)).volumes:
            subprocess.run(["losetup", "-d", v["loop"]], check=True)
            pidfile = d.instances_dir / s.uuid / "volumes" / v["volume_id"] / "qsd.pid"
            if pidfile.exists():  # killed hard: its FUSE mount stays, dead
                os.kill(int(pidfile.read_text()), 9)
        time.sleep(0.5)
        await d.power_on(s.uuid)
        assert sh("head -c 19 /dev/vdb") == "OVERCAST-RAW-VOLUME"
        assert sh("head -c 21 /dev/vdc") == "OVERCAST-QCOW2-VOLUME"
        loops = [v["loop"] for v in (await d._record(s.uuid)).volumes]
        # detach: gone from the container, the loop device and the daemon released
        await d.detach_volume(s.uuid, raw_id)
        await d.detach_volume(s.uuid, qcow_id)
        await d.detach_volume(s.uuid, raw_id)  # again: no error
        assert "vdb" not in sh("ls /dev") and "vdc" not in sh("ls /dev")
        assert sh("ls /dev").count("vdd") == 1
        assert raw.read_bytes()[512:541] == b"OVERCAST-WRITTEN-BY-CONTAINER"
        for loop in loops[:2]:  # detached (or, still open somewhere, autoclear)
            backing = Path(f"/sys/block/{Path(loop).name}/loop/backing_file")
            assert not backing.exists() or backing.read_text().strip() != str(raw)
        assert not (d.instances_dir / s.uuid / "volumes" / qcow_id).exists()
    finally:
        await d.destroy(s.uuid)
    # destroy released the NBD volume's daemon and loop device too
    left = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert s.uuid not in left and str(raw) not in left, left
