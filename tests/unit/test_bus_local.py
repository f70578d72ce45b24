"""The bus between the processes of one cloud (bus.local): a hub on a Unix socket
and its clients, as the engine and the API workers of `overcast up` use them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from overcast.bus import BusTimeout
from overcast.bus.base import RemoteError
from overcast.bus.local import LocalBusClient, LocalHub
from overcast.bus.messages import ConsoleOutput, ConsoleOutputReply, InstanceState, Message


async def _until(cond: object, timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_casts_arrive_in_order_and_calls_get_typed_replies(tmp_path: Path) -> None:
    hub, client = LocalHub(tmp_path / "bus.sock"), LocalBusClient(tmp_path / "bus.sock")
    seen: list[str] = []

    async def agent(msg: Message) -> object:
        if isinstance(msg, ConsoleOutput):
            return ConsoleOutputReply(output=f"console of {msg.uuid}")
        assert isinstance(msg, InstanceState)
        seen.append(msg.uuid)
        return None

    await hub.start()
    await hub.subscribe("agent.h", agent)
    await client.start()
    for i in range(50):
        await client.cast("agent.h", InstanceState(uuid=f"u{i}"))
    reply = await client.call("agent.h", ConsoleOutput(uuid="x"))
    assert isinstance(reply, ConsoleOutputReply) and reply.output == "console of x"
    await _until(lambda: len(seen) == 50)
    assert seen == [f"u{i}" for i in range(50)]
    await client.stop()
    await hub.stop()
    assert not (tmp_path / "bus.sock").exists()


async def test_handler_errors_and_timeouts_reach_the_caller(tmp_path: Path) -> None:
    hub, client = LocalHub(tmp_path / "bus.sock"), LocalBusClient(tmp_path / "bus.sock")

    async def boom(msg: Message) -> None:
        raise ValueError("bad disk")

    async def slow(msg: Message) -> None:
        await asyncio.sleep(5)

    await hub.start()
    await hub.subscribe("boom", boom)
    await hub.subscribe("slow", slow)
    await client.start()
    with pytest.raises(RemoteError, match="ValueError: bad disk"):
        await client.call("boom", InstanceState())
    with pytest.raises(BusTimeout):
        await client.call("slow", InstanceState(), timeout=0.1)
    await client.stop()
    await hub.stop()


async def test_a_client_started_before_the_hub_keeps_its_casts(tmp_path: Path) -> None:
    """A worker up before the engine (or while it restarts) must not lose casts:
    they wait in order and go once the hub is there; a call waits within its timeout."""
    path = tmp_path / "bus.sock"
    client = LocalBusClient(path, connect_wait=0.05)
    await client.start()
    assert not client.connected
    for i in range(3):
        await client.cast("conductor", InstanceState(uuid=f"early{i}"))
    with pytest.raises(BusTimeout):
        await client.call("conductor", InstanceState(), timeout=0.1)
    seen: list[str] = []

    async def conductor(msg: Message) -> str:
        assert isinstance(msg, InstanceState)
        seen.append(msg.uuid)
        return "ok"

    hub = LocalHub(path)
    await hub.subscribe("conductor", conductor)
    await hub.start()
    assert await client.call("conductor", InstanceState(uuid="late"), timeout=5) == "ok"
    await _until(lambda: len(seen) == 4)
    assert seen == ["early0", "early1", "early2", "late"]
    # the hub goes away and comes back: the client reconnects and goes on
    await hub.stop()
    await _until(lambda: not client.connected)
    await client.cast("conductor", InstanceState(uuid="while-away"))
    hub2 = LocalHub(path)
    await hub2.subscribe("conductor", conductor)
    await hub2.start()
    await _until(lambda: "while-away" in seen)
    await client.stop()
    await hub2.stop()


async def test_a_topic_subscribed_by_a_client_is_served_across(tmp_path: Path) -> None:
    """A client can hold a topic too (re-subscribed after a reconnect): casts and
    calls sent to it in the engine reach the client's handler."""
    path = tmp_path / "bus.sock"
    hub, client = LocalHub(path), LocalBusClient(path)
    got: list[str] = []

    async def handler(msg: Message) -> str:
        assert isinstance(msg, InstanceState)
        got.append(msg.uuid)
        return f"seen {msg.uuid}"

    await hub.start()
    await client.start()
    await client.subscribe("events", handler)
    await _until(lambda: "events" in hub._handlers)
    assert await hub.call("events", InstanceState(uuid="a")) == "seen a"
    await hub.cast("events", InstanceState(uuid="b"))
    await _until(lambda: got == ["a", "b"])
    await client.stop()
    with pytest.raises(RemoteError):
        await hub.call("events", InstanceState(uuid="c"), timeout=1)
    await hub.stop()
