"""Live and cold migration of a real QEMU guest (TCG) between two hosts on one
machine, with its disk (root): two agents, each with its own QEMU driver and state directory,
talk over the bus as remote hosts do; the migration stream and the disk's NBD
export go over TCP on 127.0.0.1 (each host's migration address).

overcast-tiny runs from its initramfs, so the test writes its disk through the
source QEMU's own block layer (`qemu-io` in the monitor, as a guest's write would
go) and reads it back through the target's. The guest's boot is the same after
the move: its console goes on (one OVERCAST-GUEST-UP, no second boot), and it
still answers the ACPI power button on the target. A failed migration (the target
cannot be reached) leaves the guest running on the source and nothing on the
target. The downtime QEMU measured is printed (and kept in the result).

A cold migration (a resize to another host, as the control plane asks it) carries
the disk too: the target pulls the source's overlay from a one-reader NBD export of
the source's agent, and the data written before is on the target's disk.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.host import Agent
from overcast.agent.virt import base
from overcast.agent.virt import qemu as qm
from overcast.agent.virt.base import DriverEnv
from overcast.agent.virt.qemu import QemuDriver
from overcast.bus import MemoryBus
from overcast.bus.live_migration import LiveMigrateInstance, LiveMigrationState
from overcast.bus.messages import (
    CleanupInstance,
    InstanceSpec,
    InstanceState,
    Message,
    ResizeInstance,
)
from overcast.config import load_settings
from overcast.image.builder import BuildError, BuiltImage, build_test_image

WHY_NOT = qm.available() or (None if os.geteuid() == 0 else "needs root")
pytestmark = pytest.mark.skipif(WHY_NOT is not None,
                                reason=f"QEMU live migration cannot be tried here: {WHY_NOT}")

KERNEL_ID = "0a1b2c3d-0000-4000-8000-00000000c001"
RAMDISK_ID = "0a1b2c3d-0000-4000-8000-00000000c002"
MACHINE = {"id": "0a1b2c3d-0000-4000-8000-00000000c003", "name": "overcast-tiny",
           "disk_format": "ami", "container_format": "ami", "kernel_id": KERNEL_ID,
           "ramdisk_id": RAMDISK_ID, "status": "active"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("settings"))
    try:
        return build_test_image(settings.guest_cache_dir)
    except BuildError as exc:
        pytest.skip(f"overcast-tiny cannot be built here: {exc}")


class Hosts:
    def __init__(self, bus: MemoryBus, agents: dict[str, Agent]) -> None:
        self.bus = bus
        self.agents = agents
        self.reports: list[LiveMigrationState] = []
        self.states: list[InstanceState] = []

    def driver(self, host: str) -> QemuDriver:
        d = self.agents[host].driver
        assert isinstance(d, QemuDriver)
        return d

    async def migrate(self, spec: InstanceSpec, source: str, dest: str,
                      timeout: float = 300) -> LiveMigrationState:
        seen = len(self.reports)
        await self.bus.cast(f"agent.{source}", LiveMigrateInstance(
            uuid=spec.uuid, dest=dest, migration_id=seen + 1, block_migration=True,
            instance=spec.__dict__))
        deadline = time.monotonic() + timeout
        while True:
            done = [r for r in self.reports[seen:]
                    if r.status in ("completed", "failed", "cancelled")]
            if done:
                return done[0]
            assert time.monotonic() < deadline, "the migration did not end"
            await asyncio.sleep(0.1)


@pytest.fixture
async def hosts(tmp_path: Path, built: BuiltImage) -> AsyncIterator[Hosts]:
    files = {KERNEL_ID: built.kernel, RAMDISK_ID: built.ramdisk, MACHINE["id"]: built.rootfs}

    async def image_path(image_id: str) -> Path:
        return files[image_id]

    bus = MemoryBus()
    await bus.start()
    agents = {}
    for name in ("mig-a", "mig-b"):
        state = tmp_path / name
        state.mkdir()
        # TCG, as CI runs it (a /dev/kvm that cannot run guests is not for this test)
        agents[name] = Agent(name, QemuDriver(name, DriverEnv(state_dir=state,
                                                              image_path=image_path),
                                              accel="tcg"), bus)
        await bus.subscribe(agents[name].topic, agents[name].handle)
    h = Hosts(bus, agents)

    async def conductor(msg: Message) -> Any:
        if isinstance(msg, LiveMigrationState):
            h.reports.append(msg)
        if isinstance(msg, InstanceState):
            h.states.append(msg)
        return None

    await bus.subscribe("conductor", conductor)
    await bus.subscribe("conductor.reports", conductor)
    try:
        yield h
    finally:
        for name in agents:
            d = h.driver(name)
            for u in await d.list_instances():
                await d.destroy(u)
        await bus.stop()


def spec() -> InstanceSpec:
    return InstanceSpec(uuid=str(uuid.uuid4()), name="mover", project_id="p", vcpus=1,
                        memory_mb=128, root_gb=1, image_ref=MACHINE["id"], image=MACHINE)


async def hmp(d: QemuDriver, uuid_: str, line: str) -> str:
    (out,) = await d._qmp(uuid_, ("human-monitor-command", {"command-line": line}))
    return str(out)


async def wait_console(d: QemuDriver, uuid_: str, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = await d.console_output(uuid_)
        if text in out:
            return out
        assert time.monotonic() < deadline, f"{text!r} not on the console:\n{out[-3000:]}"
        await asyncio.sleep(0.2)


async def test_live_migration_keeps_the_guest_and_its_disk(hosts: Hosts) -> None:
    a, b = hosts.driver("mig-a"), hosts.driver("mig-b")
    s = spec()
    await a.spawn(s)
    await wait_console(a, s.uuid, "OVERCAST-GUEST-UP")
    # data on the disk, written through the running QEMU (in the overlay, beyond
    # the image's own data)
    await hmp(a, s.uuid, "qemu-io root \"write -P 0x5a 256M 4M\"")
    report = await hosts.migrate(s, "mig-a", "mig-b")
    assert report.status == "completed", report.error
    assert report.power_state == base.RUNNING
    downtime = report.progress["downtime_ms"]
    print(f"\nQEMU live migration with the disk (TCG, 128 MB guest): downtime "
          f"{downtime} ms, memory {report.progress['memory_processed_bytes'] >> 20} MiB "
          f"sent, disk {report.progress['disk_total_bytes'] >> 20} MiB mirrored; "
          f"load {Path('/proc/loadavg').read_text().split()[:3]}")
    assert 0 < downtime < 5000
    # the guest runs on b only, from the same boot; its disk came along
    assert await a.list_instances() == []
    assert await b.get_info(s.uuid) == base.RUNNING
    console = await b.console_output(s.uuid)
    assert console.count("OVERCAST-GUEST-UP") == 1
    assert "receiving instance" in console
    await b._qmp(s.uuid, ("system_powerdown", None))
    await wait_console(b, s.uuid, "power button, powering off")
    # once it is off (QEMU flushed and gone), the target's disk holds the data
    await wait_off(b, s.uuid)
    assert disk_holds(b, s.uuid, "0x5a") and not disk_holds(b, s.uuid, "0x00")
    await b.destroy(s.uuid)


async def wait_off(d: QemuDriver, uuid_: str) -> None:
    deadline = time.monotonic() + 60
    while await d.get_info(uuid_) != base.SHUTDOWN:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)


def disk_holds(d: QemuDriver, uuid_: str, pattern: str) -> bool:
    """Whether the instance's root disk (read from the host) has 4 MiB of `pattern`
    at 256 MiB."""
    disk = d.instances_dir / uuid_ / "disk.qcow2"
    r = subprocess.run(["qemu-io", "-r", "-U", "-f", "qcow2", "-c",
                        f"read -P {pattern} 256M 4M", str(disk)], capture_output=True,
                       text=True)
    out = r.stdout + r.stderr
    assert "read 4194304/4194304" in out or "failed" in out, out
    return "failed" not in out


async def test_cold_migration_carries_the_disk(hosts: Hosts) -> None:
    a, b = hosts.driver("mig-a"), hosts.driver("mig-b")
    s = spec()
    await a.spawn(s)
    await wait_console(a, s.uuid, "OVERCAST-GUEST-UP")
    await hmp(a, s.uuid, "qemu-io root \"write -P 0x5a 256M 4M\"")
    # as ComputeService.resize(migrate=True) asks: the source powers off, the
    # target builds the instance on the source's disk
    await hosts.bus.cast("agent.mig-a", CleanupInstance(uuid=s.uuid, destroy=False))
    await hosts.bus.cast("agent.mig-b", ResizeInstance(instance=s.__dict__, power_on=True,
                                                       source_host="mig-a"))
    deadline = time.monotonic() + 300
    while not any(x.uuid == s.uuid and x.event == "resize" for x in hosts.states):
        assert time.monotonic() < deadline, "the resize did not end"
        await asyncio.sleep(0.2)
    (done,) = [x for x in hosts.states if x.event == "resize"]
    assert done.error is None and done.host == "mig-b" and done.vm_state == "active"
    await wait_console(b, s.uuid, "OVERCAST-GUEST-UP")
    # the source keeps its copy, off, until the resize is confirmed
    assert await a.get_info(s.uuid) == base.SHUTDOWN
    await b.power_off(s.uuid, timeout=30)
    assert disk_holds(b, s.uuid, "0x5a") and not disk_holds(b, s.uuid, "0x00")
    assert not list(b.instances_dir.glob(".incoming-*"))
    for d in (a, b):
        await d.destroy(s.uuid)


async def test_a_failed_live_migration_leaves_the_guest_on_its_source(hosts: Hosts) -> None:
    a, b = hosts.driver("mig-a"), hosts.driver("mig-b")
    s = spec()
    await a.spawn(s)
    # the target cannot reach its image: its prepare fails, nothing stays there
    b.images.fetch = _missing
    report = await hosts.migrate(s, "mig-a", "mig-b")
    assert report.status == "failed" and report.error
    assert await a.get_info(s.uuid) == base.RUNNING
    assert await b.list_instances() == []
    await a.destroy(s.uuid)


async def _missing(image_id: str) -> Path:
    raise FileNotFoundError(f"image {image_id} is not here")
