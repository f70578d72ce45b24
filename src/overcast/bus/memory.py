"""The embedded bus: asyncio queues inside one process.

Each topic has a queue and one consumer task, so messages to one agent are
handled in order, while different topics run concurrently. A handler that
raises is logged and the consumer goes on; `call` gets the exception back.
Requests and replies cross in their wire form (`to_dict`/`from_dict`, typed replies
checked against the request's reply type), as a real transport carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from overcast.bus.base import Bus, BusTimeout, Handler
from overcast.bus.messages import Message, decode_reply, encode_reply

log = logging.getLogger("overcast.bus")


class MemoryBus(Bus):
    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[tuple[Message, asyncio.Future[Any] | None]]] = {}
        self._handlers: dict[str, Handler] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._handlers.clear()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    def _queue(self, topic: str) -> asyncio.Queue[tuple[Message, asyncio.Future[Any] | None]]:
        if topic not in self._queues:
            self._queues[topic] = asyncio.Queue()
        return self._queues[topic]

    async def cast(self, topic: str, message: Message) -> None:
        # Round-trip through the wire format, as a real transport would.
        msg = Message.from_dict(message.to_dict())
        await self._queue(topic).put((msg, None))

    async def call(self, topic: str, message: Message, timeout: float = 30) -> Any:
        return decode_reply(message, await self.call_wire(
            topic, Message.from_dict(message.to_dict()), timeout))

    async def call_wire(self, topic: str, message: Message, timeout: float) -> Any:
        """Deliver `message` (already in its received form) and return the reply in
        its wire form (`encode_reply`): what a transport between processes sends back."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue(topic).put((message, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise BusTimeout(f"no reply from {topic} within {timeout}s")

    async def subscribe(self, topic: str, handler: Handler) -> None:
        # One consumer per topic: subscribing again (a process that reconnected)
        # replaces the handler, so the topic's messages stay in order.
        known = topic in self._handlers
        self._handlers[topic] = handler
        if not known:
            self._tasks.append(asyncio.create_task(self._consume(topic), name=f"bus:{topic}"))

    async def _consume(self, topic: str) -> None:
        queue = self._queue(topic)
        while True:
            msg, fut = await queue.get()
            handler = self._handlers[topic]
            try:
                result = await handler(msg)
            except Exception as exc:  # noqa: BLE001 - a bad message must not kill the topic
                log.exception("handler for %s failed on %s", topic, msg.kind)
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                continue
            if fut is not None and not fut.done():
                fut.set_result(encode_reply(result))
