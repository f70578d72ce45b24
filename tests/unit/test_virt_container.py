"""The OCI container driver for real (root, crun or runc): overcast-tiny-oci boots as a
container and reports itself on its console with the config drive's instance id and
key; stop, start, reboot, pause, suspend and their power states; the writable layer
kept across restarts; a snapshot that boots; destroy leaving no process, mount,
namespace, cgroup or file; a second driver object re-adopting running containers; a
docker-save image with whiteouts; and, on a real Linux dataplane, a DHCP lease and
the guest's web page from the network's DHCP namespace.

Spawn latencies are printed (run with -s to see them); nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import os
import secrets
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.virt import base
from overcast.agent.virt import container as ct
from overcast.agent.virt.base import DriverEnv, InstanceNotFound, PermanentError
from overcast.agent.virt.container import ContainerDriver
from overcast.bus.messages import InstanceSpec
from overcast.image.builder import BuiltImage
from overcast.kit.runner import run
from tests.unit import test_driver_contract as contract
from tests.unit.guest import Images, ssh_key

WHY_NOT = ct.available()
pytestmark = pytest.mark.skipif(WHY_NOT is not None,
                                reason=f"the container driver cannot run here: {WHY_NOT}")

IMAGE = {"id": "5b0c3a52-8d7e-4f7a-9a51-0c0ffee0c1ff", "name": "overcast-tiny-oci",
         "disk_format": "raw", "container_format": "docker", "os_distro": "overcast-tiny",
         "hypervisor_type": "container", "status": "active"}


def spec(name: str = "ct", image: dict[str, Any] | None = None, **kw: Any) -> InstanceSpec:
    image = image or IMAGE
    return InstanceSpec(uuid=str(uuid.uuid4()), name=name, project_id="p",
                        vcpus=kw.pop("vcpus", 1), memory_mb=kw.pop("memory_mb", 128),
                        root_gb=1, image_ref=image["id"], image=dict(image), **kw)


@pytest.fixture
def images(built: BuiltImage) -> Images:
    return Images({IMAGE["id"]: built.oci})


@pytest.fixture
async def make(tmp_path: Path, images: Images
               ) -> AsyncIterator[Callable[..., ContainerDriver]]:
    """Drivers on one state directory; every instance is destroyed at the end and
    checked to have left nothing behind."""
    made: list[ContainerDriver] = []

    def factory(plugger: Any = None, runtime: str | None = None) -> ContainerDriver:
        env = DriverEnv(state_dir=tmp_path / "state", image_path=images.path,
                        plugger=plugger)
        env.state_dir.mkdir(exist_ok=True)
        d = ContainerDriver("ct-host", env, runtime=runtime)
        made.append(d)
        return d

    yield factory
    if made:
        d = made[-1]
        left = await d.list_instances()
        for u in left:
            await d.destroy(u)
        for u in left:
            assert await leftovers(d, u) == [], u


async def wait_console(d: ContainerDriver, uuid_: str, text: str, *, count: int = 1,
                       timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = await d.console_output(uuid_)
        if out.count(text) >= count:
            return out
        assert time.monotonic() < deadline, f"{text!r} not on the console:\n{out[-2000:]}"
        await asyncio.sleep(0.05)


async def timed_spawn(d: ContainerDriver, s: InstanceSpec) -> float:
    cached = (d.images_dir / s.image["id"] / "image.json").exists()
    t0 = time.monotonic()
    await d.spawn(s)
    took = (time.monotonic() - t0) * 1e3
    rt = await d.runtime()
    how = "cached image" if cached else "image unpacked first"
    print(f"\nspawn {s.name}: {took:.0f} ms ({rt.name}, {how}, {len(s.ports)} ports)")
    return took


async def pid_of(d: ContainerDriver, uuid_: str) -> int:
    rt = await d.runtime()
    return int(json.loads(run(rt.argv("state", d.cid(uuid_))).stdout)["pid"])


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


async def leftovers(d: ContainerDriver, uuid_: str) -> list[str]:
    """What of an instance is still on the host: its files, netns, mounts, runtime
    container and cgroups."""
    found = []
    cid = d.cid(uuid_)
    where = d.instances_dir / uuid_
    if where.exists():
        found.append(str(where))
    if (ct.NETNS_DIR / cid).exists():
        found.append(f"netns {cid}")
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines()
              if str(where) in line or cid in line]
    for name in ct.RUNTIMES:
        rt = ct.runtime_named(name)
        if rt and run(rt.argv("state", cid), check=False).returncode == 0:
            found.append(f"{name} container {cid}")
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{cid}")]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(cid)]
    return found


# ------------------------------------------------------------------------- tests


async def test_boots_with_config_drive_key_and_flavor_limits(
        make: Callable[..., ContainerDriver]) -> None:
    d = make()
    key, fingerprint = ssh_key()
    s = spec("tiny-one", key_data=key, vcpus=2, memory_mb=96,
             user_data=base64.b64encode(b"#!/bin/sh\necho hi\n").decode())
    await timed_spawn(d, s)
    assert await d.get_info(s.uuid) == base.RUNNING
    pid = await pid_of(d, s.uuid)
    # the guest reads its config documents, the user data decoded
    latest = Path(f"/proc/{pid}/root/mnt/config/openstack/latest")
    assert (latest / "user_data").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert json.loads((latest / "meta_data.json").read_text())["uuid"] == s.uuid
    t0 = time.monotonic()
    out = await wait_console(d, s.uuid, "uptime:")
    print(f"console report {(time.monotonic() - t0) * 1e3:.0f} ms after spawn returned")
    assert f"instance-id: {s.uuid}" in out
    assert "hostname: tiny-one" in out and "metadata: configdrive" in out
    assert f"key-fingerprint: {fingerprint}" in out
    await d.spawn(s)  # idempotent: the same container goes on
    assert await pid_of(d, s.uuid) == pid and await d.list_instances() == [s.uuid]
    # the flavor as cgroup limits, the name as the UTS host name
    groups = dict(line.split(":", 2)[1:] for line in
                  Path(f"/proc/{pid}/cgroup").read_text().splitlines())
    if "memory" in groups:  # cgroup v1 (this host: hybrid)
        mem = Path("/sys/fs/cgroup/memory", groups["memory"].lstrip("/"))
        assert int((mem / "memory.limit_in_bytes").read_text()) == 96 << 20
        cpu = Path("/sys/fs/cgroup/cpu", groups["cpu,cpuacct" if "cpu,cpuacct" in groups
                                                else "cpu"].lstrip("/"))
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == 200_000
        assert int((cpu / "cpu.cfs_period_us").read_text()) == 100_000
    else:
        unified = Path("/sys/fs/cgroup", groups[""].lstrip("/"))
        assert int((unified / "memory.max").read_text()) == 96 << 20
        assert (unified / "cpu.max").read_text().split() == ["200000", "100000"]
    uts = run(["nsenter", "--uts", f"--target={pid}", "hostname"]).stdout.strip()
    assert uts == "tiny-one"
    # a second instance from the cached image: the fast path
    s2 = spec("tiny-two")
    await timed_spawn(d, s2)
    await wait_console(d, s2.uuid, f"instance-id: {s2.uuid}")


async def test_power_cycle_keeps_the_writable_layer(
        make: Callable[..., ContainerDriver]) -> None:
    d = make()
    s = spec("cycler")
    await timed_spawn(d, s)
    await wait_console(d, s.uuid, "uptime:")
    pid = await pid_of(d, s.uuid)
    Path(f"/proc/{pid}/root/root/kept.txt").write_text("still here\n")
    t0 = time.monotonic()
    await d.power_off(s.uuid, timeout=20)
    print(f"power_off: {(time.monotonic() - t0) * 1e3:.0f} ms (init's SIGTERM trap)")
    assert await d.get_info(s.uuid) == base.SHUTDOWN and not alive(pid)
    await d.power_off(s.uuid)  # already off: nothing to do
    t0 = time.monotonic()
    await d.power_on(s.uuid)
    print(f"power_on: {(time.monotonic() - t0) * 1e3:.0f} ms")
    assert await d.get_info(s.uuid) == base.RUNNING
    pid = await pid_of(d, s.uuid)
    assert Path(f"/proc/{pid}/root/root/kept.txt").read_text() == "still here\n"
    await wait_console(d, s.uuid, "OVERCAST-GUEST-UP", count=2)
    for action, state in (("pause", base.PAUSED), ("unpause", base.RUNNING),
                          ("suspend", base.SUSPENDED), ("resume", base.RUNNING)):
        await getattr(d, action)(s.uuid)
        assert await d.get_info(s.uuid) == state, action
    freezer = [line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
               if ":freezer:" in line]
    await d.pause(s.uuid)
    if freezer:
        group = freezer[0].split(":", 2)[2].lstrip("/")
        assert Path("/sys/fs/cgroup/freezer", group, "freezer.state").read_text().strip() \
            == "FROZEN"
    await d.unpause(s.uuid)
    t0 = time.monotonic()
    await d.reboot(s.uuid, hard=False)
    print(f"soft reboot: {(time.monotonic() - t0) * 1e3:.0f} ms")
    assert await d.get_info(s.uuid) == base.RUNNING
    await wait_console(d, s.uuid, "OVERCAST-GUEST-UP", count=3)
    t0 = time.monotonic()
    await d.reboot(s.uuid, hard=True)
    print(f"hard reboot: {(time.monotonic() - t0) * 1e3:.0f} ms")
    assert await d.get_info(s.uuid) == base.RUNNING
    pid = await pid_of(d, s.uuid)
    assert Path(f"/proc/{pid}/root/root/kept.txt").exists()
    out = await wait_console(d, s.uuid, "OVERCAST-GUEST-UP", count=4)
    assert out.count(f"instance-id: {s.uuid}") == 4
    assert (await d.console_output(s.uuid, tail=2)).count("\n") == 2
    # a stopped instance can be paused by nobody
    await d.power_off(s.uuid, timeout=0)
    with pytest.raises(PermanentError):
        await d.pause(s.uuid)


async def test_resize_keeps_the_writable_layer(make: Callable[..., ContainerDriver]) -> None:
    d = make()
    s = spec("resized")
    await timed_spawn(d, s)
    await wait_console(d, s.uuid, "uptime:")
    pid = await pid_of(d, s.uuid)
    Path(f"/proc/{pid}/root/root/kept.txt").write_text("still here\n")
    await d.resize(dataclasses.replace(s, vcpus=2, memory_mb=256))
    assert await d.get_info(s.uuid) == base.RUNNING
    pid = await pid_of(d, s.uuid)
    assert Path(f"/proc/{pid}/root/root/kept.txt").read_text() == "still here\n"
    cfg = json.loads((d.instances_dir / s.uuid / "config.json").read_text())
    assert cfg["linux"]["resources"]["memory"]["limit"] == 256 << 20
    await d.destroy(s.uuid)


async def test_contract_lifecycle(make: Callable[..., ContainerDriver],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/unit/test_driver_contract.py's test_lifecycle, as is, with the contract's
    spec carrying the overcast-tiny-oci image record."""
    plain = contract.spec
    monkeypatch.setattr(contract, "spec", lambda name="vm": dataclasses.replace(
        plain(name), image=dict(IMAGE), image_ref=IMAGE["id"]))
    await contract.test_lifecycle(make())
    await contract.test_resources_reported(make())


async def test_contract_volumes(make: Callable[..., Any], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/unit/test_driver_contract.py's test_volumes, as is."""
    plain = contract.spec
    monkeypatch.setattr(contract, "spec", lambda name="vm": dataclasses.replace(
        plain(name), image=dict(IMAGE), image_ref=IMAGE["id"]))
    await contract.test_volumes(make(), tmp_path)


async def test_snapshot_is_a_rootfs_tarball_that_boots(
        make: Callable[..., ContainerDriver], images: Images, tmp_path: Path) -> None:
    d = make()
    s = spec("origin")
    await timed_spawn(d, s)
    await wait_console(d, s.uuid, "uptime:")
    pid = await pid_of(d, s.uuid)
    Path(f"/proc/{pid}/root/root/note.txt").write_text("from the origin\n")
    dest = tmp_path / "snap.tar"
    t0 = time.monotonic()
    assert await d.snapshot(s.uuid, dest) == "raw"
    print(f"snapshot: {(time.monotonic() - t0) * 1e3:.0f} ms, {dest.stat().st_size} bytes")
    assert await d.get_info(s.uuid) == base.RUNNING  # it keeps running
    with tarfile.open(dest) as tar:
        names = set(tar.getnames())
    assert {"init", "bin/busybox", "etc/udhcpc.sh", "root/note.txt"} <= names
    snap = {**IMAGE, "id": str(uuid.uuid4()), "name": "snap", "image_type": "snapshot"}
    images.files[snap["id"]] = dest
    s2 = spec("from-snap", image=snap)
    await timed_spawn(d, s2)
    await wait_console(d, s2.uuid, f"instance-id: {s2.uuid}")
    pid2 = await pid_of(d, s2.uuid)
    assert Path(f"/proc/{pid2}/root/root/note.txt").read_text() == "from the origin\n"


async def test_destroy_leaves_nothing(make: Callable[..., ContainerDriver]) -> None:
    d = make()
    a, b = spec("doomed"), spec("doomed-paused")
    for s in (a, b):
        await d.spawn(s)
    await wait_console(d, a.uuid, "uptime:")
    pids = [await pid_of(d, s.uuid) for s in (a, b)]
    await d.pause(b.uuid)
    for s in (a, b):
        assert await leftovers(d, s.uuid)
        t0 = time.monotonic()
        await d.destroy(s.uuid)
        print(f"destroy: {(time.monotonic() - t0) * 1e3:.0f} ms")
        assert await leftovers(d, s.uuid) == []
        await d.destroy(s.uuid)  # idempotent
        with pytest.raises(InstanceNotFound):
            await d.get_info(s.uuid)
        with pytest.raises(InstanceNotFound):
            await d.console_output(s.uuid)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, "a guest process outlived destroy"
        await asyncio.sleep(0.05)
    assert await d.list_instances() == []


async def test_a_new_driver_object_readopts_running_containers(
        make: Callable[..., ContainerDriver]) -> None:
    first = make()
    keep, crash = spec("keeper"), spec("crasher")
    for s in (keep, crash):
        await first.spawn(s)
    await first.pause(keep.uuid)
    await wait_console(first, crash.uuid, "uptime:")
    again = make()  # the agent restarted
    assert await again.list_instances() == sorted([keep.uuid, crash.uuid])
    assert await again.get_info(keep.uuid) == base.PAUSED
    await again.unpause(keep.uuid)
    assert await again.get_info(keep.uuid) == base.RUNNING
    assert f"instance-id: {crash.uuid}" in await again.console_output(crash.uuid)
    os.kill(await pid_of(again, crash.uuid), 9)  # the guest dies behind our back
    deadline = time.monotonic() + 5
    while await again.get_info(crash.uuid) != base.SHUTDOWN:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await again.power_on(crash.uuid)
    assert await again.get_info(crash.uuid) == base.RUNNING
    await wait_console(again, crash.uuid, "OVERCAST-GUEST-UP", count=2)
    # the host rebooted: no container, mount or netns is left, only files
    pid = await pid_of(again, keep.uuid)
    Path(f"/proc/{pid}/root/root/kept.txt").write_text("through a reboot\n")
    rt = await again.runtime()
    for s in (keep, crash):
        run(rt.argv("delete", "--force", again.cid(s.uuid)))
        run(["umount", str(again.instances_dir / s.uuid / "rootfs")])
        run(["ip", "netns", "delete", again.cid(s.uuid)])
    booted = make()
    assert await booted.get_info(keep.uuid) == base.SHUTDOWN
    await booted.power_on(keep.uuid)
    assert await booted.get_info(keep.uuid) == base.RUNNING
    await wait_console(booted, keep.uuid, "OVERCAST-GUEST-UP", count=2)
    pid = await pid_of(booted, keep.uuid)
    assert Path(f"/proc/{pid}/root/root/kept.txt").read_text() == "through a reboot\n"
    assert "metadata: configdrive" in await booted.console_output(keep.uuid, tail=6)


def docker_save(rootfs_tar: Path, dest: Path) -> None:
    """A `docker save` archive: the rootfs as layer 1, and a layer 2 that whites out
    /etc/motd, makes /var/www opaque (dropping layer 1's old.html) and adds files."""
    def layer(members: list[tuple[str, bytes | None]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                if data is None:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.size, info.mode = len(data), 0o644
                    tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    base_layer = rootfs_tar.read_bytes()
    extra = layer([("etc/motd", b"old motd\n"), ("var/www/old.html", b"old\n")])
    top = layer([("etc/.wh.motd", b""), ("var/www/", None), ("var/www/.wh..wh..opq", b""),
                 ("var/www/new.html", b"new\n"), ("hello.txt", b"from layer 3\n")])
    config = json.dumps({"config": {"Entrypoint": ["/init"], "Env": ["GREETING=hi"],
                                    "WorkingDir": "/"}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["tiny:test"],
                            "Layers": ["l1/layer.tar", "l2/layer.tar", "l3/layer.tar"]}])
    with tarfile.open(dest, "w") as tar:
        for name, data in (("manifest.json", manifest.encode()), ("config.json", config),
                           ("l1/layer.tar", base_layer), ("l2/layer.tar", extra),
                           ("l3/layer.tar", top)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


async def test_docker_save_image_with_whiteouts(make: Callable[..., ContainerDriver],
                                               images: Images, built: BuiltImage,
                                               tmp_path: Path) -> None:
    archive = tmp_path / "saved.tar"
    docker_save(built.oci, archive)
    img = {**IMAGE, "id": str(uuid.uuid4()), "name": "tiny-saved"}
    images.files[img["id"]] = archive
    d = make()
    s = spec("saved", image=img)
    await timed_spawn(d, s)
    await wait_console(d, s.uuid, f"instance-id: {s.uuid}")
    root = Path(f"/proc/{await pid_of(d, s.uuid)}/root")
    assert (root / "hello.txt").read_text() == "from layer 3\n"
    assert not (root / "etc/motd").exists()
    assert (root / "var/www/new.html").exists() and not (root / "var/www/old.html").exists()
    env = Path(f"/proc/{await pid_of(d, s.uuid)}/environ").read_bytes().split(b"\0")
    assert b"GREETING=hi" in env and b"container=overcast" in env


async def test_bad_images_fail_permanently_and_leave_nothing(
        make: Callable[..., ContainerDriver], images: Images, tmp_path: Path) -> None:
    d = make()
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\x89PNG not a tarball" * 100)
    img = {**IMAGE, "id": str(uuid.uuid4())}
    images.files[img["id"]] = junk
    s = spec("junk", image=img)
    with pytest.raises(PermanentError):
        await d.spawn(s)
    with pytest.raises(PermanentError):
        await d.spawn(spec("vm-image", image={**IMAGE, "container_format": "ami"}))
    with pytest.raises(PermanentError):
        await d.spawn(spec("missing", image={**IMAGE, "id": str(uuid.uuid4())}))
    assert await d.list_instances() == []
    assert await leftovers(d, s.uuid) == []


@pytest.mark.parametrize("runtime", ct.RUNTIMES)
async def test_each_runtime(make: Callable[..., ContainerDriver], runtime: str) -> None:
    rt = ct.runtime_named(runtime)
    if rt is None:
        pytest.skip(f"{runtime} is not installed")
    d = make(runtime=runtime)
    s = spec(f"on-{runtime}")
    await timed_spawn(d, s)
    s2 = spec(f"on-{runtime}-2")
    await timed_spawn(d, s2)
    await wait_console(d, s2.uuid, f"instance-id: {s2.uuid}")
    for action, state in (("pause", base.PAUSED), ("unpause", base.RUNNING),
                          ("power_off", base.SHUTDOWN), ("power_on", base.RUNNING)):
        await getattr(d, action)(s2.uuid)
        assert await d.get_info(s2.uuid) == state, action


# ------------------------------------------------------------ with a real dataplane


@pytest.fixture
def plane(tmp_path: Path) -> Any:
    from overcast.agent.net.linux import LinuxDataplane

    if not ct.which("dnsmasq") or not ct.which("busybox"):
        pytest.skip("needs dnsmasq and busybox (scripts/install-host.sh)")
    dp = LinuxDataplane(f"occ{secrets.token_hex(1)}", tmp_path / "net")
    try:
        yield dp
    finally:
        dp.cleanup()


def http_get(ns: str, url: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        r = run(["timeout", "2", "busybox", "wget", "-q", "-O", "-", url], netns=ns,
                check=False)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
        assert time.monotonic() < deadline, f"no answer from {url}: {r.stderr}"
        time.sleep(0.05)


async def answering(d: ContainerDriver, s: InstanceSpec, ns: str, address: str,
                    t0: float, boots: int = 1, after: str = "spawn") -> str:
    """Wait for the guest's report (its web server is up by then), then fetch its page
    from the DHCP namespace; print both times. (Polling HTTP before the guest has its
    address would measure ARP retransmits, not the guest.)"""
    out = await wait_console(d, s.uuid, "uptime:", count=boots)
    up = (time.monotonic() - t0) * 1e3
    page = await asyncio.to_thread(http_get, ns, f"http://{address}/")
    print(f"{s.name}: console report {up:.0f} ms, HTTP answer "
          f"{(time.monotonic() - t0) * 1e3:.0f} ms after {after} began")
    assert page == f"{s.uuid} {s.name}"
    return out


async def test_dhcp_lease_and_http_on_a_real_network(
        make: Callable[..., ContainerDriver], plane: Any) -> None:
    from overcast.agent.net.linux import PortSpec, SubnetSpec

    net = str(uuid.uuid4())
    sub = SubnetSpec(id=str(uuid.uuid4()), cidr="10.61.0.0/24", gateway_ip="10.61.0.1")
    dhcp_port = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:61:00:02",
                         fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.61.0.2"}])
    port = {"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:61:00:10",
            "network_id": net, "mtu": 1400,
            "fixed_ips": [{"subnet_id": sub.id, "ip_address": "10.61.0.10"}]}
    vm = PortSpec(id=port["id"], mac_address=port["mac_address"],
                  fixed_ips=port["fixed_ips"], hostname="webby")
    await asyncio.to_thread(plane.ensure_dhcp, net, 1400, dhcp_port, [sub], [vm])
    d = make(plugger=plane)
    s = spec("webby", ports=[port])
    t0 = time.monotonic()
    await timed_spawn(d, s)
    out = await answering(d, s, plane.dhcp_ns(net), "10.61.0.10", t0)
    assert "address: 10.61.0.10" in out and "metadata: configdrive" in out
    ns = d.cid(s.uuid)
    link = run(["ip", "-n", ns, "link", "show", "eth0"]).stdout
    assert "mtu 1400" in link and port["mac_address"] in link
    # stopped and started: plugged again, leased again, answering again
    await d.power_off(s.uuid, timeout=20)
    t0 = time.monotonic()
    await d.power_on(s.uuid)
    await answering(d, s, plane.dhcp_ns(net), "10.61.0.10", t0, boots=2, after="power_on")
    # a second one on the cached image: the latency that matters
    port2 = {**port, "id": str(uuid.uuid4()), "mac_address": "fa:16:3e:61:00:11",
             "fixed_ips": [{"subnet_id": sub.id, "ip_address": "10.61.0.11"}]}
    vm2 = PortSpec(id=port2["id"], mac_address=port2["mac_address"],
                   fixed_ips=port2["fixed_ips"], hostname="webby2")
    await asyncio.to_thread(plane.ensure_dhcp, net, 1400, dhcp_port, [sub], [vm, vm2])
    s2 = spec("webby2", ports=[port2])
    t0 = time.monotonic()
    await timed_spawn(d, s2)
    await answering(d, s2, plane.dhcp_ns(net), "10.61.0.11", t0)
    for x in (s, s2):
        await d.destroy(x.uuid)
        assert await leftovers(d, x.uuid) == []
    links = plane.list_devices()["links"]
    assert plane.port_device(port["id"]) not in links
    assert plane.port_device(port2["id"]) not in links
    with contextlib.suppress(Exception):
        await asyncio.to_thread(plane.stop_dhcp, net)
