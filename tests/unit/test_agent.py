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
