"""The RabbitMQ bus against the broker on 127.0.0.1:5672 (skipped if none answers)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from overcast.bus.base import BusTimeout
from overcast.bus.messages import InstanceState, Message

URL = os.environ.get("OVERCAST_TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _reachable(), reason="no RabbitMQ on 127.0.0.1:5672")


async def test_cast_call_and_durability() -> None:
    from overcast.bus.rabbit import RabbitBus, RemoteError

    ns = f"test-{uuid.uuid4().hex[:8]}"
    sender, receiver = RabbitBus(URL, ns), RabbitBus(URL, ns)
    try:
        # sent before anyone listens: the durable queue keeps it
        await sender.cast("t", InstanceState(uuid="early"))
        got: list[str] = []

        async def handler(msg: Message) -> str:
            assert isinstance(msg, InstanceState)
            if msg.uuid == "boom":
                raise ValueError("bad message")
            got.append(msg.uuid)
            return msg.uuid.upper()

        await receiver.subscribe("t", handler)
        assert await sender.call("t", InstanceState(uuid="x"), timeout=10) == "X"
        for _ in range(100):
            if "early" in got:
                break
            await asyncio.sleep(0.05)
        assert got[0] == "early" and "x" in got
        with pytest.raises(RemoteError):
            await sender.call("t", InstanceState(uuid="boom"), timeout=10)
        with pytest.raises(BusTimeout):
            await sender.call("nobody-listens", InstanceState(), timeout=0.5)
    finally:
        await sender.delete_topics(["t", "nobody-listens"])
        await sender.stop()
        await receiver.stop()


async def test_typed_replies_and_newer_versions_over_rabbitmq() -> None:
    """A typed reply crosses the broker as a message and comes back as its type; a
    wrong one is refused where it is received; a message of a newer version than the
    receiver knows is refused (the caller hears why) instead of losing its fields."""
    from overcast.bus import messages
    from overcast.bus.messages import (
        ConsoleOutput,
        ConsoleOutputReply,
        HostHeartbeat,
        UnexpectedReply,
    )
    from overcast.bus.rabbit import RabbitBus, RemoteError

    ns = f"test-{uuid.uuid4().hex[:8]}"
    sender, receiver = RabbitBus(URL, ns), RabbitBus(URL, ns)
    answers: list[object] = [ConsoleOutputReply(output="boot\n"), HostHeartbeat(host="h")]

    async def handler(msg: Message) -> object:
        return answers.pop(0)

    class Newer(InstanceState):
        """What a newer sender writes: the same kind at version 2."""

        def to_dict(self) -> dict[str, object]:
            return {**super().to_dict(), "version": 2}

    messages.REGISTRY["instance_state"] = InstanceState
    try:
        await receiver.subscribe("t", handler)
        reply = await sender.call("t", ConsoleOutput(uuid="u"), timeout=10)
        assert reply == ConsoleOutputReply(output="boot\n")
        with pytest.raises(UnexpectedReply, match="not host_heartbeat"):
            await sender.call("t", ConsoleOutput(uuid="u"), timeout=10)
        with pytest.raises(RemoteError, match="UnsupportedVersion: instance_state message "
                                              "version 2 is newer"):
            await sender.call("t", Newer(uuid="x"), timeout=10)
    finally:
        messages.REGISTRY["instance_state"] = InstanceState
        await sender.delete_topics(["t"])
        await sender.stop()
        await receiver.stop()


async def test_a_queue_deleted_behind_the_bus_is_declared_again() -> None:
    """A bus declares a topic's queue once (not before every message, a broker round
    trip each); when someone deletes the queue meanwhile, the next cast is returned
    by the broker, and the bus declares the queue again and resends, so the message
    waits there for a consumer instead of being dropped."""
    from overcast.bus.rabbit import RabbitBus

    ns = f"test-{uuid.uuid4().hex[:8]}"
    sender, admin, receiver = RabbitBus(URL, ns), RabbitBus(URL, ns), RabbitBus(URL, ns)
    try:
        await sender.cast("gone", InstanceState(uuid="first"))
        await admin.delete_topics(["gone"])  # the first message goes with its queue
        await sender.cast("gone", InstanceState(uuid="second"))
        got: list[str] = []

        async def handler(msg: Message) -> None:
            assert isinstance(msg, InstanceState)
            got.append(msg.uuid)

        await receiver.subscribe("gone", handler)
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        assert got == ["second"]
    finally:
        await admin.delete_topics(["gone"])
        for bus in (sender, admin, receiver):
            await bus.stop()
