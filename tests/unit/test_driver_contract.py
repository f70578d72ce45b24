"""The driver contract, run against every driver this host can run.

The fake driver runs here; the real drivers run these same tests from their own
modules (tests/unit/test_virt_container.py, test_virt_qemu.py), on instances of the
guest image they boot, when the host can run them.
"""

from __future__ import annotations

import os
import uuid

import pytest

from overcast.agent.virt import base
from overcast.agent.virt.base import Driver, InstanceNotFound, PermanentError
from overcast.agent.virt.fake import FakeDriver
from overcast.bus.messages import InstanceSpec


def drivers() -> list[Driver]:
    return [FakeDriver("contract-host")]


def spec(name: str = "vm") -> InstanceSpec:
    return InstanceSpec(uuid=str(uuid.uuid4()), name=name, project_id="p", vcpus=1,
                        memory_mb=128, root_gb=1)


@pytest.fixture(params=drivers(), ids=lambda d: d.name)
def driver(request: pytest.FixtureRequest) -> Driver:
    return request.param  # type: ignore[no-any-return]


async def test_lifecycle(driver: Driver) -> None:
    s = spec()
    await driver.spawn(s)
    await driver.spawn(s)  # idempotent
    assert s.uuid in await driver.list_instances()
    assert await driver.get_info(s.uuid) == base.RUNNING
    for action, state in (("power_off", base.SHUTDOWN), ("power_on", base.RUNNING),
                          ("pause", base.PAUSED), ("unpause", base.RUNNING),
                          ("suspend", base.SUSPENDED), ("resume", base.RUNNING)):
        await getattr(driver, action)(s.uuid)
        assert await driver.get_info(s.uuid) == state, action
    await driver.reboot(s.uuid, hard=True)
    assert await driver.get_info(s.uuid) == base.RUNNING
    assert s.uuid in await driver.console_output(s.uuid)
    await driver.destroy(s.uuid)
    await driver.destroy(s.uuid)  # idempotent
    assert s.uuid not in await driver.list_instances()
    with pytest.raises(InstanceNotFound):
        await driver.get_info(s.uuid)


async def test_volumes(driver: Driver, tmp_path: object) -> None:
    """attach_volume/detach_volume (VOLUME_CONTRACT.md): a device name back, the same
    one when attached again, another for a second volume, a freed one reused;
    attached across a stop and start; extend of an attached volume (no error for a
    detached one); detach idempotent; a connection_info of no known kind refused."""
    from pathlib import Path

    s = spec()
    await driver.spawn(s)
    vols = []
    for _ in range(2):
        vid = str(uuid.uuid4())
        path = Path(str(tmp_path)) / f"{vid}.raw"
        with open(path, "wb") as fh:
            fh.truncate(8 << 20)
        vols.append({"driver_volume_type": "file",
                     "data": {"volume_id": vid, "path": str(path), "format": "raw",
                              "read_only": False}})
    first = await driver.attach_volume(s.uuid, vols[0], "")
    assert first.startswith("/dev/vd"), first
    assert await driver.attach_volume(s.uuid, vols[0], "") == first
    second = await driver.attach_volume(s.uuid, vols[1], "")
    assert second.startswith("/dev/vd") and second != first
    await driver.power_off(s.uuid, 0)
    await driver.power_on(s.uuid)
    assert await driver.get_info(s.uuid) == base.RUNNING
    # still attached: attaching again gives the same names
    assert await driver.attach_volume(s.uuid, vols[1], "") == second
    # an attached volume the storage side grew (the driver may grow a file itself)
    os.truncate(vols[1]["data"]["path"], 16 << 20)
    await driver.extend_volume(s.uuid, vols[1]["data"]["volume_id"], 16 << 20)
    # a name freed by a detach is the next one given (the lowest free, as a guest's
    # kernel names its disks)
    await driver.detach_volume(s.uuid, vols[0]["data"]["volume_id"])
    assert await driver.attach_volume(s.uuid, vols[0], "") == first
    for v in vols:
        await driver.detach_volume(s.uuid, v["data"]["volume_id"])
        await driver.detach_volume(s.uuid, v["data"]["volume_id"])  # idempotent
    # a detached volume's late growth is no error (Nova's event may come after)
    await driver.extend_volume(s.uuid, vols[1]["data"]["volume_id"], 32 << 20)
    with pytest.raises(PermanentError):
        await driver.attach_volume(s.uuid, {"driver_volume_type": "iscsi", "data": {
            "volume_id": str(uuid.uuid4())}}, "")
    await driver.destroy(s.uuid)


async def test_drivers_without_volumes_refuse_them() -> None:
    class NoVolumes(FakeDriver):
        name = "novolumes"
        attach_volume = Driver.attach_volume  # type: ignore[assignment]
        detach_volume = Driver.detach_volume  # type: ignore[assignment]

    d = NoVolumes()
    with pytest.raises(PermanentError, match="novolumes driver cannot attach"):
        await d.attach_volume("x", {}, "")
    with pytest.raises(PermanentError, match="novolumes driver cannot detach"):
        await d.detach_volume("x", "v")


async def test_resources_reported(driver: Driver) -> None:
    res = driver.host_resources()
    assert res["VCPU"] > 0 and res["MEMORY_MB"] > 0 and res["DISK_GB"] > 0


async def test_fake_failure_injection() -> None:
    d = FakeDriver()
    with pytest.raises(PermanentError):
        await d.spawn(spec("will-fail"))
    assert await d.list_instances() == []


async def test_fake_state_survives_a_new_driver_object(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "fake.json"
    d = FakeDriver("h", state_path=path)
    s = spec()
    await d.spawn(s)
    await d.pause(s.uuid)
    info = {"driver_volume_type": "nbd", "data": {"volume_id": "v1", "host": "h",
                                                   "port": 1, "export_name": "e"}}
    device = await d.attach_volume(s.uuid, info, "")
    again = FakeDriver("h", state_path=path)
    assert await again.list_instances() == [s.uuid]
    assert await again.get_info(s.uuid) == base.PAUSED
    assert await again.attach_volume(s.uuid, info, "") == device
