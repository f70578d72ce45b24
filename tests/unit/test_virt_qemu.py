"""The QEMU driver for real (root, qemu-system-x86_64; TCG where KVM cannot run):
overcast-tiny boots from its kernel and ramdisk on `-M pc` and reports, on its
serial console, the instance id and key it read from its config drive (and, on a
real Linux dataplane, the address DHCP gave its tap); pause, suspend to a memory
file and resume (the guest carries on), soft and hard reboots, stop and start, all
read back from QEMU over QMP; second driver objects re-adopting the running guest;
a snapshot that is a standalone qcow2 of the root disk; a guest killed behind the
driver's back reported SHUTDOWN; destroy leaving no process, file, cgroup or tap.
Also: the contract test as is, the bootable disk through SeaBIOS, bad images.

Spawn and boot times are printed (run with -s to see them); nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.virt import base
from overcast.agent.virt import qemu as qm
from overcast.agent.virt.base import DriverEnv, InstanceNotFound, PermanentError
from overcast.agent.virt.qemu import QemuDriver, Qmp
from overcast.bus.messages import InstanceSpec
from overcast.image.builder import BuiltImage
from overcast.kit.runner import run, which
from tests.unit import test_driver_contract as contract
from tests.unit.guest import Images, ssh_key

WHY_NOT = qm.available() or (None if os.geteuid() == 0 else
                             "needs root (taps, namespaces, cgroups)")
pytestmark = pytest.mark.skipif(WHY_NOT is not None,
                                reason=f"the QEMU driver cannot run here: {WHY_NOT}")

KERNEL_ID = "0a1b2c3d-0000-4000-8000-00000000a001"
RAMDISK_ID = "0a1b2c3d-0000-4000-8000-00000000a002"
MACHINE = {"id": "0a1b2c3d-0000-4000-8000-00000000a003", "name": "overcast-tiny",
           "disk_format": "ami", "container_format": "ami", "kernel_id": KERNEL_ID,
           "ramdisk_id": RAMDISK_ID, "os_distro": "overcast-tiny", "status": "active"}
DISK = {"id": "0a1b2c3d-0000-4000-8000-00000000a004", "name": "overcast-tiny-disk",
        "disk_format": "qcow2", "container_format": "bare", "status": "active"}


def spec(name: str = "vm", image: dict[str, Any] | None = None, **kw: Any) -> InstanceSpec:
    image = dict(image or MACHINE)
    return InstanceSpec(uuid=str(uuid.uuid4()), name=name, project_id="p",
                        vcpus=kw.pop("vcpus", 1), memory_mb=kw.pop("memory_mb", 128),
                        root_gb=kw.pop("root_gb", 1), image_ref=image["id"], image=image,
                        **kw)


@pytest.fixture
def images(built: BuiltImage) -> Images:
    return Images({KERNEL_ID: built.kernel, RAMDISK_ID: built.ramdisk,
                   MACHINE["id"]: built.rootfs, DISK["id"]: built.disk})


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory for the module: the image cache is filled once."""
    return tmp_path_factory.mktemp("qemu") / "state"


@pytest.fixture
async def make(state_dir: Path, images: Images
               ) -> AsyncIterator[Callable[..., QemuDriver]]:
    """Drivers on the module's state directory; every instance is destroyed at the
    end and checked to have left nothing behind."""
    made: list[QemuDriver] = []

    def factory(plugger: Any = None) -> QemuDriver:
        env = DriverEnv(state_dir=state_dir, image_path=images.path, plugger=plugger)
        state_dir.mkdir(parents=True, exist_ok=True)
        d = QemuDriver("qemu-host", env)
        made.append(d)
        return d

    yield factory
    if made:
        d = made[-1]
        left = await d.list_instances()
        for u in left:
            await d.destroy(u)
        for u in left:
            assert await no_leftovers(d, u) == [], u


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Linux dataplane when the host has dnsmasq and busybox, else None (the
    guest then boots without a NIC)."""
    if not which("dnsmasq") or not which("busybox"):
        yield None
        return
    from overcast.agent.net.linux import LinuxDataplane

    dp = LinuxDataplane(f"ocq{secrets.token_hex(1)}", tmp_path_factory.mktemp("net"))
    try:
        yield dp
    finally:
        dp.cleanup()


# ------------------------------------------------------------------------- helpers


async def wait_console(d: QemuDriver, uuid_: str, text: str, *, count: int = 1,
                       timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = await d.console_output(uuid_)
        if out.count(text) >= count:
            return out
        assert time.monotonic() < deadline, f"{text!r} not on the console:\n{out[-3000:]}"
        await asyncio.sleep(0.05)


def report(console: str) -> dict[str, str]:
    """The last report of the guest (the `key: value` lines after OVERCAST-GUEST-UP)."""
    last = console.rsplit("OVERCAST-GUEST-UP", 1)[1]
    return dict(line.split(": ", 1) for line in last.splitlines() if ": " in line)


async def timed_spawn(d: QemuDriver, s: InstanceSpec) -> float:
    t0 = time.monotonic()
    await d.spawn(s)
    took = (time.monotonic() - t0) * 1e3
    accel = await d.accelerator()
    print(f"\nspawn {s.name}: {took:.0f} ms ({accel.name}, {len(s.ports)} ports, "
          f"config drive {s.config_drive})")
    return took


def pid_of(d: QemuDriver, uuid_: str) -> int:
    pid = d._pid(uuid_)
    assert pid is not None, f"no QEMU runs for {uuid_}"
    return pid


def qmp(d: QemuDriver, uuid_: str, command: str) -> Any:
    with Qmp(d.instances_dir / uuid_ / "qmp.sock") as q:
        return q.execute(command)


def alive(pid: int) -> bool:
    return qm._proc_start(pid) is not None


def leftovers(d: QemuDriver, uuid_: str) -> list[str]:
    """What of an instance is still on the host: its files, QEMU processes, cgroups
    and taps."""
    where = d.instances_dir / uuid_
    found = [str(where)] if where.exists() else []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and alive(int(proc.name)) and \
                any(str(where) in a for a in qm._cmdline(int(proc.name))):
            found.append(f"process {proc.name}")
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{d.cgroup(uuid_)}")]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(d.cgroup(uuid_))]
    return found


async def no_leftovers(d: QemuDriver, uuid_: str, timeout: float = 10) -> list[str]:
    """leftovers(), once the host had `timeout` seconds to reap killed processes (a
    killed QEMU's cgroup goes when init has reaped it)."""
    deadline = time.monotonic() + timeout
    while (left := leftovers(d, uuid_)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return left


def http_get(ns: str, url: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        r = run(["timeout", "2", "busybox", "wget", "-q", "-O", "-", url], netns=ns,
                check=False)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
        assert time.monotonic() < deadline, f"no answer from {url}: {r.stderr}"
        time.sleep(0.1)


def network(plane: Any, hostname: str) -> tuple[list[dict[str, Any]], str | None, str]:
    """One port on a fresh network with DHCP when there is a dataplane: (ports, the
    DHCP namespace, the port's address)."""
    if plane is None:
        return [], None, "none"
    from overcast.agent.net.linux import PortSpec, SubnetSpec

    net = str(uuid.uuid4())
    sub = SubnetSpec(id=str(uuid.uuid4()), cidr="10.62.0.0/24", gateway_ip="10.62.0.1")
    dhcp_port = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:62:00:02",
                         fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.62.0.2"}])
    port: dict[str, Any] = {
        "id": str(uuid.uuid4()), "mac_address": "fa:16:3e:62:00:10", "network_id": net,
        "mtu": 1400, "fixed_ips": [{"subnet_id": sub.id, "ip_address": "10.62.0.10"}]}
    vm = PortSpec(id=port["id"], mac_address=port["mac_address"],
                  fixed_ips=port["fixed_ips"], hostname=hostname)
    plane.ensure_dhcp(net, 1400, dhcp_port, [sub], [vm])
    return [port], plane.dhcp_ns(net), "10.62.0.10"


# --------------------------------------------------------------------------- tests


def test_available_and_the_accelerator_it_chose(tmp_path: Path) -> None:
    assert qm.available() is None
    text = qm.describe()
    assert text.split(" ", 1)[0] in ("KVM", "TCG") and ": " in text, text
    print(f"\n{text}")
    accel = qm.probe_accel(tmp_path / "accel.json")
    assert accel.name in ("kvm", "tcg")
    if not os.path.exists("/dev/kvm"):
        assert accel.name == "tcg" and "no /dev/kvm" in accel.why
    if os.path.isdir("/sys/module/kvm_pvm"):  # real guests crash under it
        assert accel.name == "tcg" and "kvm_pvm" in accel.why
    # remembered (for this boot of the host) in the cache file
    cached = json.loads((tmp_path / "accel.json").read_text())
    assert cached["name"] == accel.name and cached["why"] == accel.why


async def test_kernel_guest_lifecycle(make: Callable[..., QemuDriver], plane: Any,
                                      tmp_path: Path) -> None:
    d = make(plane)
    key, fingerprint = ssh_key()
    ports, dhcp_ns, address = network(plane, "tiny-vm")
    s = spec("tiny-vm", key_data=key, config_drive=True, ports=ports)
    await timed_spawn(d, s)
    t0 = time.monotonic()
    assert await d.get_info(s.uuid) == base.RUNNING
    pid = pid_of(d, s.uuid)
    await d.spawn(s)  # idempotent: the same QEMU goes on
    assert pid_of(d, s.uuid) == pid and await d.list_instances() == [s.uuid]
    argv = qm._cmdline(pid)
    # a PCI machine (volumes hot-plug), PCI devices, no option ROMs for the NICs
    assert argv[argv.index("-M") + 1] == "pc" and argv[argv.index("-m") + 1] == "128"
    assert any(a.startswith("virtio-blk-pci,drive=root") for a in argv)
    assert all(a.endswith("romfile=") for a in argv if a.startswith("virtio-net-pci"))
    accel = await d.accelerator()
    assert argv[argv.index("-accel") + 1] == accel.name
    # the flavor as cgroup limits (v1 here, v2 elsewhere)
    groups = dict(line.split(":", 2)[1:] for line in
                  Path(f"/proc/{pid}/cgroup").read_text().splitlines())
    if "memory" in groups and groups["memory"].endswith(d.cgroup(s.uuid)):
        mem = Path("/sys/fs/cgroup/memory", groups["memory"].lstrip("/"))
        assert int((mem / "memory.limit_in_bytes").read_text()) == \
            (128 + qm.MEMORY_OVERHEAD_MB) << 20
        cpu = Path("/sys/fs/cgroup/cpu", groups["cpu"].lstrip("/"))
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == 100_000

    out = await wait_console(d, s.uuid, "uptime:")
    print(f"boot to console report: {time.monotonic() - t0:.2f} s after spawn returned")
    got = report(out)
    assert got["instance-id"] == s.uuid and got["hostname"] == "tiny-vm"
    assert got["metadata"] == "configdrive" and got["key-fingerprint"] == fingerprint
    assert got["address"] == address
    if dhcp_ns:
        page = await asyncio.to_thread(http_get, dhcp_ns, f"http://{address}/")
        assert page == f"{s.uuid} tiny-vm"
        tap = plane.port_device(ports[0]["id"], "tap")
        assert tap in plane.list_devices()["links"]

    # pause and unpause, read back from QEMU
    await d.pause(s.uuid)
    assert await d.get_info(s.uuid) == base.PAUSED
    assert qmp(d, s.uuid, "query-status")["status"] == "paused"
    await d.unpause(s.uuid)
    assert await d.get_info(s.uuid) == base.RUNNING

    # the agent restarted: a new driver object finds the guest and drives it
    again = make(plane)
    assert await again.list_instances() == [s.uuid]
    assert await again.get_info(s.uuid) == base.RUNNING
    await again.pause(s.uuid)
    assert await d.get_info(s.uuid) == base.PAUSED
    await again.unpause(s.uuid)

    # suspend: the memory goes to a file and QEMU ends; resume carries on from it
    t0 = time.monotonic()
    await again.suspend(s.uuid)
    print(f"suspend: {(time.monotonic() - t0) * 1e3:.0f} ms")
    assert await again.get_info(s.uuid) == base.SUSPENDED and not alive(pid)
    assert (d.instances_dir / s.uuid / "memory.state").stat().st_size > 1 << 20
    third = make(plane)
    assert await third.get_info(s.uuid) == base.SUSPENDED
    t0 = time.monotonic()
    await third.resume(s.uuid)
    print(f"resume: {(time.monotonic() - t0) * 1e3:.0f} ms")
    assert await third.get_info(s.uuid) == base.RUNNING
    assert not (d.instances_dir / s.uuid / "memory.state").exists()
    # the same guest, not a new boot: its acpid powers it off at once on a soft reboot
    t0 = time.monotonic()
    await third.reboot(s.uuid, hard=False)
    print(f"soft reboot: {(time.monotonic() - t0) * 1e3:.0f} ms")
    out = await third.console_output(s.uuid)
    assert out.count("OVERCAST-GUEST-UP") == 1 and "power button, powering off" in out
    assert await third.get_info(s.uuid) == base.RUNNING
    out = await wait_console(third, s.uuid, "uptime:", count=2)
    assert report(out)["instance-id"] == s.uuid and report(out)["address"] == address

    t0 = time.monotonic()
    await third.power_off(s.uuid, timeout=30)
    print(f"power_off: {(time.monotonic() - t0) * 1e3:.0f} ms (ACPI)")
    assert await third.get_info(s.uuid) == base.SHUTDOWN
    # (a busy TCG guest may take the button twice: the power_off presses it again)
    assert (await third.console_output(s.uuid)).count("powering off") >= 2
    await third.power_off(s.uuid)  # already off: nothing to do
    with pytest.raises(PermanentError):
        await third.pause(s.uuid)
    await third.power_on(s.uuid)
    assert await third.get_info(s.uuid) == base.RUNNING
    pid = pid_of(third, s.uuid)
    await third.reboot(s.uuid, hard=True)  # system_reset: the same process boots again
    assert await third.get_info(s.uuid) == base.RUNNING and pid_of(third, s.uuid) == pid
    out = await wait_console(third, s.uuid, "uptime:", count=3)
    assert report(out)["instance-id"] == s.uuid
    tail = await third.console_output(s.uuid, tail=3)
    assert tail.count("\n") == 3 and "\r" not in tail

    # a snapshot: a standalone qcow2 holding the machine image's file system
    dest = tmp_path / "snap.qcow2"
    t0 = time.monotonic()
    assert await third.snapshot(s.uuid, dest) == "qcow2"
    print(f"snapshot: {(time.monotonic() - t0) * 1e3:.0f} ms")
    assert await third.get_info(s.uuid) == base.RUNNING  # it runs on
    info = json.loads(run(["qemu-img", "info", "--output=json", str(dest)]).stdout)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] == 1 << 30  # the flavor's root_gb
    raw = tmp_path / "snap.raw"
    run(["qemu-img", "convert", "-O", "raw", str(dest), str(raw)])
    with open(raw, "rb") as fh:
        fh.seek(1024 + 0x78)  # the ext4 superblock's volume name
        assert fh.read(16).rstrip(b"\0") == b"overcast-root"

    # the guest dies behind the driver's back
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while await third.get_info(s.uuid) != base.SHUTDOWN:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)

    t0 = time.monotonic()
    await third.destroy(s.uuid)
    print(f"destroy: {(time.monotonic() - t0) * 1e3:.0f} ms")
    assert await no_leftovers(third, s.uuid) == []
    if plane is not None:
        assert plane.port_device(ports[0]["id"], "tap") not in plane.list_devices()["links"]
    await third.destroy(s.uuid)  # idempotent
    with pytest.raises(InstanceNotFound):
        await third.get_info(s.uuid)
    with pytest.raises(InstanceNotFound):
        await third.console_output(s.uuid)
    assert await d.list_instances() == []


async def test_contract_lifecycle(make: Callable[..., QemuDriver],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/unit/test_driver_contract.py's test_lifecycle, as is, with the contract's
    spec carrying the overcast-tiny (AMI) image record."""
    plain = contract.spec
    monkeypatch.setattr(contract, "spec", lambda name="vm": dataclasses.replace(
        plain(name), image=dict(MACHINE), image_ref=MACHINE["id"]))
    t0 = time.monotonic()
    await contract.test_lifecycle(make())
    print(f"\ncontract lifecycle: {time.monotonic() - t0:.1f} s")
    await contract.test_resources_reported(make())


async def test_contract_volumes(make: Callable[..., Any], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/unit/test_driver_contract.py's test_volumes, as is."""
    plain = contract.spec
    monkeypatch.setattr(contract, "spec", lambda name="vm": dataclasses.replace(
        plain(name), image=dict(MACHINE), image_ref=MACHINE["id"]))
    await contract.test_volumes(make(), tmp_path)


async def test_bootable_disk_through_the_firmware(make: Callable[..., QemuDriver],
                                                  images: Images) -> None:
    """No kernel_id: SeaBIOS, the disk's MBR and syslinux; the root disk an overlay of
    the cached qcow2, grown to root_gb; the config drive a virtio disk."""
    d = make()
    s = spec("from-disk", image=DISK, config_drive=True, root_gb=1)
    await timed_spawn(d, s)
    t0 = time.monotonic()
    disk = d.instances_dir / s.uuid / "disk.qcow2"
    info = json.loads(run(["qemu-img", "info", "-U", "--output=json", str(disk)]).stdout)
    assert info["virtual-size"] == 1 << 30
    assert info["backing-filename"] == str(d.images_dir / f"{DISK['id']}.disk" / "disk.qcow2")
    argv = qm._cmdline(pid_of(d, s.uuid))
    assert argv[argv.index("-M") + 1] == "pc" and "-kernel" not in argv
    out = await wait_console(d, s.uuid, "uptime:", timeout=90)
    print(f"firmware boot to console report: {time.monotonic() - t0:.2f} s")
    assert "SYSLINUX" in out
    got = report(out)
    assert got["instance-id"] == s.uuid and got["metadata"] == "configdrive"


async def test_resize_keeps_the_disk_and_grows_it(make: Callable[..., QemuDriver]) -> None:
    """A cold resize restarts the guest with the new flavor on the same disk (grown,
    never shrunk); a resize of an instance the host does not have spawns it."""
    d = make()
    s = spec("resized", image=DISK, root_gb=1)
    await timed_spawn(d, s)
    disk = d.instances_dir / s.uuid / "disk.qcow2"
    inode = disk.stat().st_ino
    bigger = dataclasses.replace(s, vcpus=2, memory_mb=192, root_gb=2)
    await d.resize(bigger)
    assert await d.get_info(s.uuid) == base.RUNNING
    assert disk.stat().st_ino == inode  # the same disk, not a new one
    info = json.loads(run(["qemu-img", "info", "-U", "--output=json", str(disk)]).stdout)
    assert info["virtual-size"] == 2 << 30
    argv = qm._cmdline(pid_of(d, s.uuid))
    assert argv[argv.index("-smp") + 1] == "2" and argv[argv.index("-m") + 1] == "192"
    await d.resize(s)  # back: the disk stays 2 GiB
    info = json.loads(run(["qemu-img", "info", "-U", "--output=json", str(disk)]).stdout)
    assert info["virtual-size"] == 2 << 30 and disk.stat().st_ino == inode
    await d.destroy(s.uuid)
    await d.resize(s)  # not here (a resize from another host): spawned
    assert await d.get_info(s.uuid) == base.RUNNING
    await d.destroy(s.uuid)


async def test_bad_images_fail_permanently_and_leave_nothing(
        make: Callable[..., QemuDriver], images: Images, tmp_path: Path) -> None:
    d = make()
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\x89PNG not a disk" * 100)
    hostile = tmp_path / "hostile.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/hostname",
         str(hostile), "1M"])
    cases = {
        "junk": {**DISK, "id": str(uuid.uuid4())},
        "backing file": {**DISK, "id": str(uuid.uuid4())},
        "missing": {**DISK, "id": str(uuid.uuid4())},
        "container": {**DISK, "container_format": "docker"},
        "kernel is junk": {**MACHINE, "kernel_id": str(uuid.uuid4())},
        "iso": {**DISK, "disk_format": "iso"},
    }
    images.files[cases["junk"]["id"]] = junk
    images.files[cases["backing file"]["id"]] = hostile
    images.files[cases["kernel is junk"]["kernel_id"]] = junk
    for what, image in cases.items():
        with pytest.raises(PermanentError) as err:
            await d.spawn(spec(what.replace(" ", "-"), image=image))
        print(f"{what}: {err.value}")
    assert await d.list_instances() == []
    assert not list(d.images_dir.glob(".fill-*"))  # no half cache entries
    assert not (d.images_dir / f"{cases['kernel is junk']['kernel_id']}.file").exists()


async def test_missing_binaries_are_named_with_their_package(
        make: Callable[..., QemuDriver], monkeypatch: pytest.MonkeyPatch) -> None:
    d = make()
    real = qm.which
    monkeypatch.setattr(qm, "which", lambda n: None if n == qm.QEMU else real(n))
    assert qm.available() == "qemu-system-x86_64 is missing: apt-get install qemu-system-x86"
    with pytest.raises(PermanentError, match="apt-get install qemu-system-x86"):
        await d.spawn(spec())
    assert await d.list_instances() == []


async def test_half_built_and_orphaned_instances(make: Callable[..., QemuDriver]) -> None:
    """What a crash leaves behind: a half-built instance is built again by spawn; files
    that belong to no instance are listed, so the agent's reconciler destroys them."""
    d = make()
    s = spec("half")
    half = d.instances_dir / s.uuid
    half.mkdir(parents=True)
    (half / "instance.json").write_text(json.dumps({"uuid": s.uuid, "built": False}))
    (half / "disk.qcow2").write_bytes(b"half a disk")
    stray = d.instances_dir / str(uuid.uuid4())
    stray.mkdir()
    (stray / "console.log").write_text("left by a crash\n")
    assert await d.list_instances() == sorted([s.uuid, stray.name])
    await d.spawn(s)
    assert await d.get_info(s.uuid) == base.RUNNING
    assert json.loads((half / "instance.json").read_text())["built"] is True
    assert await d.get_info(stray.name) == base.SHUTDOWN
    await d.destroy(stray.name)
    assert not stray.exists() and await d.list_instances() == [s.uuid]
    # an instance rebuilt on this host after its image left the image service (the
    # conductor then sends only the id): the cached disk remembers how it boots
    gone = spec("gone", image={"id": MACHINE["id"]})
    await d.spawn(gone)
    argv = qm._cmdline(pid_of(d, gone.uuid))
    assert "-kernel" in argv and argv[argv.index("-M") + 1] == "pc"


async def test_a_state_directory_too_long_for_a_socket_path(
        tmp_path: Path, images: Images) -> None:
    """A unix socket's path holds 108 bytes; the agent's state directory may be
    longer (the all-in-one cloud's is): QMP still works (QEMU binds a relative path
    in the instance directory, the driver connects through /proc/self/fd)."""
    deep = tmp_path / ("x" * 60) / "state"
    deep.mkdir(parents=True)
    d = QemuDriver("qemu-host", DriverEnv(state_dir=deep, image_path=images.path))
    s = spec("deep")
    assert len(str(d.instances_dir / s.uuid / "qmp.sock")) > 108
    await d.spawn(s)
    try:
        assert await d.get_info(s.uuid) == base.RUNNING
        await d.pause(s.uuid)
        assert await QemuDriver("again", d.env).get_info(s.uuid) == base.PAUSED
        await d.unpause(s.uuid)
        assert await d.get_info(s.uuid) == base.RUNNING
    finally:
        await d.destroy(s.uuid)
    assert await no_leftovers(d, s.uuid) == []
