"""The in-process bus: cast ordering, call replies, errors and timeouts."""

from __future__ import annotations

import asyncio

import pytest

from overcast.bus import BusTimeout, MemoryBus
from overcast.bus.messages import HostHeartbeat, InstanceState, Message


async def test_cast_delivers_in_order_and_call_replies() -> None:
    bus = MemoryBus()
    seen: list[str] = []

    async def handler(msg: Message) -> str:
        assert isinstance(msg, InstanceState)
        seen.append(msg.uuid)
        return msg.uuid.upper()

    await bus.subscribe("t", handler)
    for i in range(5):
        await bus.cast("t", InstanceState(uuid=f"u{i}"))
    assert await bus.call("t", InstanceState(uuid="x")) == "X"
    assert seen == ["u0", "u1", "u2", "u3", "u4", "x"]
    await bus.stop()


async def test_messages_cross_as_copies() -> None:
    bus = MemoryBus()
    got: list[Message] = []

    async def handler(msg: Message) -> None:
        got.append(msg)

    await bus.subscribe("t", handler)
    original = HostHeartbeat(host="h", resources={"VCPU": 1})
    await bus.call("t", original)
    assert got[0] == original and got[0] is not original
    await bus.stop()


async def test_call_gets_handler_error_and_times_out() -> None:
    bus = MemoryBus()

    async def boom(msg: Message) -> None:
        raise ValueError("bad")

    async def slow(msg: Message) -> None:
        await asyncio.sleep(5)

    await bus.subscribe("boom", boom)
    await bus.subscribe("slow", slow)
    with pytest.raises(ValueError):
        await bus.call("boom", InstanceState())
    with pytest.raises(BusTimeout):
        await bus.call("slow", InstanceState(), timeout=0.05)
    # the topic survives a failing handler
    with pytest.raises(ValueError):
        await bus.call("boom", InstanceState())
    await bus.stop()
