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
