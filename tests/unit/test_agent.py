"""The host agent against a stand-in conductor on the in-process bus."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from typing import Any

from overcast.agent.host import Agent
from overcast.agent.virt import base
from overcast.agent.virt.fake import FakeDriver
from overcast.bus import MemoryBus
from overcast.bus.messages import (
    DesiredState,
    HostHeartbeat,
    InstanceSpec,
    InstanceState,
    Message,
    PowerAction,
    SpawnInstance,
)


class StandInConductor:
    def __init__(self) -> None:
        self.states: list[InstanceState] = []
        self.heartbeats: list[HostHeartbeat] = []
        self.desired: list[dict[str, Any]] = []

    async def handle(self, msg: Message) -> Any:
        if isinstance(msg, InstanceState):
            self.states.append(msg)
        elif isinstance(msg, HostHeartbeat):
            self.heartbeats.append(msg)
        elif isinstance(msg, DesiredState):
            return self.desired
        return None


def spec(name: str = "vm") -> InstanceSpec:
    return InstanceSpec(uuid=str(uuid.uuid4()), name=name, project_id="p", vcpus=1,
                        memory_mb=64, root_gb=1)


async def wait_for(cond: Any, timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_spawn_power_and_failure_are_reported() -> None:
    bus = MemoryBus()
    conductor = StandInConductor()
    await bus.subscribe("conductor", conductor.handle)
    await bus.subscribe("conductor.reports", conductor.handle)
    driver = FakeDriver("h1")
    agent = Agent("h1", driver, bus)
    await agent.start()
    await wait_for(lambda: conductor.heartbeats)
    assert conductor.heartbeats[0].resources["VCPU"] == driver.vcpus
    ok, bad = spec(), spec("fail-me")
    await bus.cast("agent.h1", SpawnInstance(instance=asdict(ok)))
    await bus.cast("agent.h1", SpawnInstance(instance=asdict(bad)))
    await wait_for(lambda: len(conductor.states) >= 2)
    by = {s.uuid: s for s in conductor.states}
    assert by[ok.uuid].vm_state == "active" and by[ok.uuid].power_state == base.RUNNING
    assert by[bad.uuid].vm_state == "error" and "injected" in (by[bad.uuid].error or "")
    await bus.cast("agent.h1", PowerAction(uuid=ok.uuid, action="stop"))
    await wait_for(lambda: conductor.states[-1].event == "stop")
    assert conductor.states[-1].vm_state == "stopped"
    assert await driver.get_info(ok.uuid) == base.SHUTDOWN
    await agent.stop()
    await bus.stop()


async def test_reconcile_readopts_builds_and_cleans_up() -> None:
    bus = MemoryBus()
    conductor = StandInConductor()
    await bus.subscribe("conductor", conductor.handle)
    await bus.subscribe("conductor.reports", conductor.handle)
    driver = FakeDriver("h2")
    running, orphan, building, lost = spec(), spec(), spec(), spec()
    await driver.spawn(running)
    await driver.spawn(orphan)
    conductor.desired = [
        {"uuid": running.uuid, "vm_state": "active", "instance": asdict(running)},
        {"uuid": building.uuid, "vm_state": "building", "instance": asdict(building)},
        {"uuid": lost.uuid, "vm_state": "active", "instance": asdict(lost)},
    ]
    agent = Agent("h2", driver, bus)
    await agent.start()
    await wait_for(lambda: {s.uuid for s in conductor.states} >=
                   {running.uuid, building.uuid, lost.uuid})
    by = {s.uuid: s for s in conductor.states}
    assert by[running.uuid].vm_state == "active"
    assert by[building.uuid].vm_state == "active"
    assert by[lost.uuid].vm_state == "stopped" and by[lost.uuid].event == "lost"
    assert orphan.uuid not in await driver.list_instances()
    await agent.stop()
    await bus.stop()


class FlakyDriver(FakeDriver):
    """A fake whose spawn fails with `error` the first `failures` times."""

    def __init__(self, host: str, failures: int, error: type[base.DriverError]) -> None:
        super().__init__(host)
        self.failures = failures
        self.error = error
        self.tries = 0

    async def spawn(self, instance: InstanceSpec) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise self.error(f"try {self.tries} failed")
        await super().spawn(instance)


async def _spawn_with(driver: FakeDriver, delays: tuple[float, ...] = (0.01, 0.02, 0.04)
                      ) -> tuple[InstanceState, InstanceSpec]:
    bus = MemoryBus()
    conductor = StandInConductor()
    await bus.subscribe("conductor", conductor.handle)
    await bus.subscribe("conductor.reports", conductor.handle)
    agent = Agent(driver.host, driver, bus, retry_delays=delays)
    await agent.start()
    s = spec()
    await bus.cast(agent.topic, SpawnInstance(instance=asdict(s)))
    await wait_for(lambda: any(x.uuid == s.uuid for x in conductor.states))
    await agent.stop()
    await bus.stop()
    return next(x for x in conductor.states if x.uuid == s.uuid), s


async def test_retryable_spawn_failures_are_retried_until_it_works() -> None:
    """A RetryableError is tried again (with back-off): two failures, then ACTIVE."""
    driver = FlakyDriver("r1", 2, base.RetryableError)
    state, s = await _spawn_with(driver)
    assert driver.tries == 3
    assert state.vm_state == "active" and state.error is None
    assert await driver.get_info(s.uuid) == base.RUNNING


async def test_permanent_spawn_failure_is_not_retried() -> None:
    driver = FlakyDriver("r2", 1, base.PermanentError)
    state, s = await _spawn_with(driver)
    assert driver.tries == 1
    assert state.vm_state == "error" and state.error == "try 1 failed"
    assert s.uuid not in await driver.list_instances()


async def test_endless_retryable_failure_gives_up_after_the_bounded_tries() -> None:
    """Four tries (three delays), then ERROR with the last try's error as the fault."""
    driver = FlakyDriver("r3", 1000, base.RetryableError)
    state, s = await _spawn_with(driver)
    assert driver.tries == 4
    assert state.vm_state == "error" and state.error == "try 4 failed"
    assert s.uuid not in await driver.list_instances()


async def test_retry_waits_grow_and_a_delay_named_by_the_error_wins() -> None:
    class Slow(FakeDriver):
        def __init__(self) -> None:
            super().__init__("r4")
            self.at: list[float] = []

        async def spawn(self, instance: InstanceSpec) -> None:
            self.at.append(asyncio.get_running_loop().time())
            if len(self.at) == 1:
                raise base.RetryableError("busy", delay=0.3)
            if len(self.at) == 2:
                raise base.RetryableError("busy again")
            await super().spawn(instance)

    driver = Slow()
    state, _ = await _spawn_with(driver, delays=(0.01, 0.1, 0.2))
    assert state.vm_state == "active"
    first, second = driver.at[1] - driver.at[0], driver.at[2] - driver.at[1]
    assert first >= 0.3 and 0.1 <= second < 0.3


async def test_console_output_is_a_typed_reply() -> None:
    from overcast.bus.messages import ConsoleOutput, ConsoleOutputReply

    bus = MemoryBus()
    driver = FakeDriver("t1")
    agent = Agent("t1", driver, bus)
    await bus.subscribe(agent.topic, agent.handle)
    s = spec()
    await driver.spawn(s)
    reply = await bus.call(agent.topic, ConsoleOutput(uuid=s.uuid, length=1))
    assert isinstance(reply, ConsoleOutputReply)
    # the last line only (the guest logs as it runs: a line each time it is read)
    line, end = reply.output.split("\n")
    assert end == "" and line.startswith(f"overcast-guest: instance-id={s.uuid} ")
    await bus.stop()


async def test_volumes_are_attached_and_detached_by_calls() -> None:
    """AttachVolume/DetachVolume are calls answered with a VolumeAttachReply: the
    device on success, the driver's reason on failure (never an exception)."""
    from overcast.bus.messages import (
        AttachVolume,
        DetachVolume,
        ExtendAttachedVolume,
        VolumeAttachReply,
    )

    bus = MemoryBus()
    driver = FakeDriver("h1")
    agent = Agent("h1", driver, bus, retry_delays=(0.01,))
    await bus.subscribe(agent.topic, agent.handle)
    s = spec()
    await driver.spawn(s)
    vid = str(uuid.uuid4())
    info = {"driver_volume_type": "file",
            "data": {"volume_id": vid, "path": "/v", "format": "raw", "read_only": False}}
    reply = await bus.call(agent.topic, AttachVolume(uuid=s.uuid, volume_id=vid,
                                                     connection_info=info, device=""))
    assert reply == VolumeAttachReply(ok=True, device="/dev/vdb")
    assert driver.instances[s.uuid].volumes == {vid: "/dev/vdb"}
    # the message as it crosses a real transport
    wire = AttachVolume(uuid=s.uuid, volume_id=vid, connection_info=info).to_dict()
    assert Message.from_dict(wire) == AttachVolume(uuid=s.uuid, volume_id=vid,
                                                   connection_info=info)
    # refusals come back as the reply's error
    other = await bus.call(agent.topic, AttachVolume(uuid=s.uuid, volume_id="other",
                                                     connection_info=info))
    assert not other.ok and "is for volume" in (other.error or "")
    bad = await bus.call(agent.topic, AttachVolume(
        uuid=s.uuid, volume_id="v2", connection_info={"driver_volume_type": "rbd",
                                                      "data": {"volume_id": "v2"}}))
    assert not bad.ok and "file or nbd" in (bad.error or "")
    lost = await bus.call(agent.topic, AttachVolume(uuid="nope", volume_id=vid,
                                                    connection_info=info))
    assert not lost.ok and "not on host" in (lost.error or "")
    grown = await bus.call(agent.topic, ExtendAttachedVolume(uuid=s.uuid, volume_id=vid,
                                                             size_bytes=2 << 30))
    assert grown == VolumeAttachReply(ok=True)
    done = await bus.call(agent.topic, DetachVolume(uuid=s.uuid, volume_id=vid))
    assert done == VolumeAttachReply(ok=True)
    assert driver.instances[s.uuid].volumes == {}
    # a volume no longer attached is no error (the event may come late)
    again = await bus.call(agent.topic, ExtendAttachedVolume(uuid=s.uuid, volume_id=vid,
                                                             size_bytes=1))
    assert again == VolumeAttachReply(ok=True)
    await bus.stop()
