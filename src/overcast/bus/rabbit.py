"""The bus over RabbitMQ (aio-pika), for control planes and agents on many hosts.

Every topic is a durable queue (`<namespace>.<topic>`, the namespace keeps two
clouds on one broker apart); messages are persistent and published with
publisher confirms, and a consumer acknowledges a message only after its
handler returned, so a crash mid-handler redelivers it. `call` uses a private
reply queue and correlation ids. A handler that raises has its message
rejected (not requeued, so a poison message cannot loop) and, for a call, the
error travels back to the caller. A typed reply travels as a message (its kind,
version and fields) and is checked against the request's reply type on receipt.

A topic's queue is declared once per bus, not before every message (a declare is
a round trip to the broker: with a thousand hosts heartbeating it was half the
cost of a cast). Messages are published mandatory and the channel raises on a
returned one, so a queue deleted behind our back is declared again and the
message sent again, never dropped silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import DeliveryError

from overcast.bus.base import Bus, BusTimeout, Handler, RemoteError
from overcast.bus.messages import Message, decode_reply, encode_reply

log = logging.getLogger("overcast.bus.rabbit")

__all__ = ["RabbitBus", "RemoteError"]


class RabbitBus(Bus):
    def __init__(self, url: str, namespace: str = "overcast") -> None:
        self.url = url
        self.namespace = namespace
        self._conn: AbstractRobustConnection | None = None
        self._channel: Any = None
        self._reply_queue: Any = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._consumers: list[tuple[Any, str]] = []
        self._lost_at: float | None = None
        #: topics whose queue this bus has declared (see the module's docstring)
        self._declared: set[str] = set()

    def _queue_name(self, topic: str) -> str:
        return f"{self.namespace}.{topic}"

    async def start(self) -> None:
        if self._conn is not None:
            return
        self._conn = await aio_pika.connect_robust(self.url)
        self._conn.close_callbacks.add(self._lost)
        self._conn.reconnect_callbacks.add(self._back)
        self._channel = await self._conn.channel(publisher_confirms=True,
                                                 on_return_raises=True)
        await self._channel.set_qos(prefetch_count=32)
        self._reply_queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await self._reply_queue.consume(self._on_reply, no_ack=True)

    def _lost(self, *_: Any) -> None:
        if self._conn is not None and self._lost_at is None:
            self._lost_at = time.time()
            # not back yet (consumers may be restored before `_back` runs)
            self.last_outage = (self._lost_at, math.inf)

    def _back(self, *_: Any) -> None:
        lost, self._lost_at = self._lost_at, None
        now = time.time()
        self.last_outage = (lost if lost is not None else now, now)
        log.warning("reconnected to the broker after %.1f s", now - self.last_outage[0])

    async def stop(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        if self._conn is not None:
            await self._conn.close()
        self._conn = None
        self._declared.clear()

    async def delete_topics(self, topics: list[str]) -> None:
        """Remove the durable queues of these topics (tests, decommissioned hosts)."""
        await self.start()
        for t in topics:
            await self._channel.queue_delete(self._queue_name(t))
            self._declared.discard(t)

    async def _declare(self, topic: str) -> Any:
        queue = await self._channel.declare_queue(self._queue_name(topic), durable=True)
        self._declared.add(topic)
        return queue

    async def _publish(self, topic: str, message: aio_pika.Message) -> None:
        """Publish to the topic's queue, declaring it first when this bus has not (or
        when the broker returned the message: the queue was deleted meanwhile)."""
        if topic not in self._declared:
            await self._declare(topic)
        try:
            await self._channel.default_exchange.publish(
                message, routing_key=self._queue_name(topic))
        except DeliveryError:
            await self._declare(topic)
            await self._channel.default_exchange.publish(
                message, routing_key=self._queue_name(topic))

    async def cast(self, topic: str, message: Message) -> None:
        await self.start()
        body = json.dumps(message.to_dict()).encode()
        await self._publish(topic, aio_pika.Message(
            body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json"))

    async def call(self, topic: str, message: Message, timeout: float = 30) -> Any:
        await self.start()
        corr = uuid.uuid4().hex
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[corr] = fut
        try:
            await self._publish(topic, aio_pika.Message(
                json.dumps(message.to_dict()).encode(), correlation_id=corr,
                reply_to=self._reply_queue.name, content_type="application/json",
                expiration=timeout))
            data = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise BusTimeout(f"no reply from {topic} within {timeout}s")
        finally:
            self._pending.pop(corr, None)
        return decode_reply(message, data)

    async def _on_reply(self, msg: AbstractIncomingMessage) -> None:
        fut = self._pending.get(msg.correlation_id or "")
        if fut is None or fut.done():
            return
        data = json.loads(msg.body)
        if "error" in data:
            fut.set_exception(RemoteError(data["error"]))
        else:
            fut.set_result(data)

    async def subscribe(self, topic: str, handler: Handler) -> None:
        await self.start()
        queue = await self._declare(topic)

        async def on_message(msg: AbstractIncomingMessage) -> None:
            reply: dict[str, Any]
            try:
                result = await handler(Message.from_dict(json.loads(msg.body)))
                reply = encode_reply(result)
                ok = True
            except Exception as exc:  # noqa: BLE001 - report, never kill the consumer
                log.exception("handler for %s failed", topic)
                reply = {"error": f"{type(exc).__name__}: {exc}"}
                ok = False
            if msg.reply_to:
                try:
                    await self._channel.default_exchange.publish(
                        aio_pika.Message(json.dumps(reply, default=str).encode(),
                                         correlation_id=msg.correlation_id,
                                         content_type="application/json"),
                        routing_key=msg.reply_to)
                except DeliveryError:
                    # the caller is gone (its reply queue with it): nobody to answer
                    log.info("the caller of %s on %s left before its reply", topic,
                             msg.correlation_id)
            if ok:
                await msg.ack()
            else:
                await msg.reject(requeue=False)

        tag = await queue.consume(on_message)
        self._consumers.append((queue, tag))
