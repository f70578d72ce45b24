"""The pieces that let guests outlive a restart of `overcast up` (the whole story is
tests/e2e/test_restart_keeps_guests.py): a restarted agent recognises a running
QEMU by its pid file however the data directory was spelled, never takes a reused
pid for it; the data directory is absolute; `auto` comes back with the real drivers
whose guests are on the host; stopping the agent leaves the guests alone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.host import Agent
from overcast.agent.virt import base
from overcast.agent.virt.base import DriverEnv
from overcast.agent.virt.common import proc_start
from overcast.agent.virt.fake import FakeDriver
from overcast.agent.virt.qemu import InstanceRecord, QemuDriver
from overcast.agent.virt.qemu.process import names_pidfile
from overcast.bus import MemoryBus
from overcast.compute import local
from overcast.config import load_settings
from tests.unit.test_agent import StandInConductor
from tests.unit.test_agent import spec as agent_spec

SLEEP = "import time; time.sleep(60)"


def stand_in(argv_tail: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """A process whose command line looks like a QEMU's (`-pidfile PATH`)."""
    return subprocess.Popen([sys.executable, "-c", SLEEP,
                             *argv_tail], cwd=cwd)


def execed(pid: int) -> None:
    """Wait for a stand-in just forked to run its own command line."""
    deadline = time.monotonic() + 10
    while SLEEP not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


async def no_image(image_id: str) -> Path:
    raise AssertionError("no image is needed")


def test_a_pid_file_is_recognised_however_its_path_was_spelled(
        tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    real = tmp_path / "real" / "inst"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    pidfile = real / "qemu.pid"
    pidfile.write_text("")
    same = stand_in(["-pidfile", str(pidfile)], real)
    relative = stand_in(["-pidfile", "qemu.pid"], real)
    other = stand_in(["-pidfile", str(tmp_path / "other.pid")], real)
    bare = stand_in([str(pidfile)], real)  # names the path, not as its pid file
    procs += [same, relative, other, bare]
    via_link = tmp_path / "link" / "inst" / "qemu.pid"
    for p in procs:
        execed(p.pid)
    assert names_pidfile(same.pid, pidfile)
    assert names_pidfile(same.pid, via_link)
    assert names_pidfile(relative.pid, pidfile)
    assert names_pidfile(relative.pid, via_link)
    assert not names_pidfile(other.pid, pidfile)
    assert names_pidfile(bare.pid, pidfile)  # the exact string, as before
    assert not names_pidfile(bare.pid, via_link)
    assert not names_pidfile(2 ** 22 + 1, pidfile)  # no such process


def test_a_new_driver_on_another_spelling_of_the_state_dir_finds_the_guest(
        tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    state = tmp_path / "cloud" / "instances" / "qemu"
    first = QemuDriver("h", DriverEnv(state_dir=state, image_path=no_image))
    uid = str(uuid.uuid4())
    d = first.instances_dir / uid
    d.mkdir()
    p = stand_in(["-uuid", uid, "-pidfile", str(d / "qemu.pid")], d)
    procs.append(p)
    execed(p.pid)
    (d / "qemu.pid").write_text(f"{p.pid}\n")
    rec = InstanceRecord(uuid=uid, built=True, pid=p.pid, pid_start=proc_start(p.pid))
    first._write_record(rec)
    assert first._pid(uid, rec) == p.pid
    # `overcast up` started again, its data directory named through a symlink
    (tmp_path / "alias").symlink_to(tmp_path / "cloud")
    again = QemuDriver("h", DriverEnv(state_dir=tmp_path / "alias" / "instances" / "qemu",
                                      image_path=no_image))
    assert again._pid(uid, again._load(uid)) == p.pid
    assert asyncio.run(again._alive(uid, again._load(uid))) == p.pid
    # a pid whose process started at another time is someone else's
    (d / "qemu.pid").unlink()
    stale = InstanceRecord(uuid=uid, built=True, pid=p.pid, pid_start="1")
    assert again._pid(uid, stale) is None


def test_the_data_dir_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(data_dir=Path("cloud"), environ={})
    assert settings.data_dir == tmp_path / "cloud"
    assert settings.data_dir.is_absolute()


def test_auto_comes_back_with_the_drivers_whose_guests_are_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_unavailable", lambda name: None)
    assert local.auto_drivers("none", tmp_path) == ["fake"]
    (tmp_path / "instances" / "qemu" / "instances").mkdir(parents=True)
    assert local.auto_drivers("none", tmp_path) == ["fake"]  # no guest
    (tmp_path / "instances" / "qemu" / "instances" / str(uuid.uuid4())).mkdir()
    assert local.auto_drivers("none", tmp_path) == ["qemu"]
    (tmp_path / "instances" / "container" / "instances" / str(uuid.uuid4())).mkdir(
        parents=True)
    assert local.auto_drivers("none", tmp_path) == ["qemu", "container"]
    assert local.auto_drivers("linux", None) == ["qemu", "container"]
    # a driver that cannot run here is not chosen (its guests wait for it)
    monkeypatch.setattr(local, "_unavailable",
                        lambda name: "no QEMU" if name == "qemu" else None)
    assert local.auto_drivers("none", tmp_path) == ["container"]


async def test_an_agent_stopped_and_started_again_leaves_the_guests_running() -> None:
    bus = MemoryBus()
    conductor = StandInConductor()
    await bus.subscribe("conductor", conductor.handle)
    await bus.subscribe("conductor.reports", conductor.handle)
    driver = FakeDriver("h1")
    guest = agent_spec()
    await driver.spawn(guest)
    conductor.desired = [{"uuid": guest.uuid, "vm_state": "active",
                          "power_state": base.RUNNING, "instance": asdict(guest)}]
    calls: list[str] = []
    for name in ("destroy", "power_off", "pause", "suspend", "reboot", "spawn"):
        original = getattr(driver, name)

        async def spy(*a: Any, _n: str = name, _o: Any = original, **k: Any) -> Any:
            calls.append(_n)
            return await _o(*a, **k)

        setattr(driver, name, spy)
    for _ in range(2):  # `overcast up` started, stopped, started again
        agent = Agent("h1", driver, bus, heartbeat_interval=3600, resync_interval=3600)
        await agent.start()
        await agent.reconcile()
        await agent.stop()
    assert calls == []
    assert await driver.get_info(guest.uuid) == base.RUNNING
    # the guest was never reported anything but running
    assert all(s.power_state == base.RUNNING and s.event != "lost"
               for s in conductor.states if s.uuid == guest.uuid)
