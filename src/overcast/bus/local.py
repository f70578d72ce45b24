"""The bus between the processes of one all-in-one cloud: a hub on a Unix socket.

`overcast up --workers N` serves the APIs from N worker processes and runs the
conductor, scheduler, local agents and storage in one engine process (see
`overcast.serve`). They need a bus between them, and the all-in-one must not ask
the user to install a broker. So the engine owns the bus: `LocalHub` is the
embedded `MemoryBus` (one queue and one consumer per topic, as before) that also
listens on a Unix domain socket in the data directory, and each worker speaks to
it through a `LocalBusClient`, which implements the same `Bus` interface.

Why a socket hub and not a queue table in the database: a cast from a worker is
one write of a few hundred bytes and a call is one round trip between two
processes (tens of microseconds each, `bench/process_model.py` measures it);
a database queue costs a committed transaction per message and polling (or a
notification channel SQLite does not have) on the consumer side, and it would
compete with the API's own writes for SQLite's one write lock. The messages
that matter survive without durability: desired state is in the database before
any cast, and every agent reconciles periodically (DESIGN.md, "reconcile rather
than replay").

The wire: frames of a 4-byte big-endian length and a JSON object (orjson).
Client to hub: `cast` {topic, msg}, `call` {id, topic, msg, timeout}, `sub`
{topic}, `reply` {id, result|message|error}. Hub to client: `reply` to a call, and
`deliver` {id, topic, msg} for a topic a client subscribed to (the client replies).
A handler that raises becomes {"error": "Type: text"}, which the caller gets as
`RemoteError` (as over RabbitMQ).

Reconnect: a client that starts before the hub, or whose hub went away, keeps
its casts in order in memory and sends them once connected again; a `call` waits
for the connection within its own timeout. A call in flight when the connection
breaks fails (`RemoteError`): it may or may not have run, and only the caller
knows whether trying again is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import struct
from pathlib import Path
from typing import Any

import orjson

from overcast.bus.base import Bus, BusTimeout, Handler, RemoteError
from overcast.bus.memory import MemoryBus
from overcast.bus.messages import Message, decode_reply, encode_reply

log = logging.getLogger("overcast.bus.local")

_LEN = struct.Struct(">I")
#: The largest frame either side accepts (a backup chunk is the biggest message).
MAX_FRAME = 256 * 1024 * 1024
#: Casts a disconnected client keeps before it drops the oldest (and says so).
MAX_BACKLOG = 100_000
#: Bytes buffered towards the hub above which a cast waits for them to drain.
DRAIN_ABOVE = 256 * 1024
GONE = "the engine went away before it answered (the call may or may not have run)"


def _frame(obj: dict[str, Any]) -> bytes:
    data = orjson.dumps(obj)
    return _LEN.pack(len(data)) + data


async def _read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = _LEN.unpack(await reader.readexactly(_LEN.size))
    if size > MAX_FRAME:
        raise ValueError(f"bus frame of {size} bytes is over the limit")
    obj = orjson.loads(await reader.readexactly(size))
    if not isinstance(obj, dict):
        raise ValueError("bus frame is not an object")
    return obj


def _error_reply(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}"}


class _Peer:
    """One connected client, as the hub sees it: its writer and the deliveries
    (messages of topics it subscribed to) it has not answered yet."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.ids = itertools.count(1)
        self.gone = False

    def send(self, obj: dict[str, Any]) -> None:
        if not self.gone:
            self.writer.write(_frame(obj))

    def close(self) -> None:
        self.gone = True
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(RemoteError("the subscriber went away"))
        self.pending.clear()
        self.writer.close()


class LocalHub(MemoryBus):
    """The engine's bus: in-process topics, also served on a Unix socket."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._peers: set[_Peer] = set()
        self._calls: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._server is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket of an engine that died
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for peer in list(self._peers):
            peer.close()
        for task in list(self._calls):
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        await super().stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _Peer(writer)
        self._peers.add(peer)
        try:
            while True:
                await self._dispatch(peer, await _read_frame(reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker stopped or died
        except Exception:  # noqa: BLE001 - a bad frame ends that connection only
            log.exception("bus connection closed on a bad frame")
        finally:
            self._peers.discard(peer)
            peer.close()

    async def _dispatch(self, peer: _Peer, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "cast":
            await self._queue(str(frame["topic"])).put((Message.from_dict(frame["msg"]), None))
        elif op == "call":
            task = asyncio.create_task(self._answer(peer, frame))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        elif op == "sub":
            await self.subscribe(str(frame["topic"]), self._forwarder(peer, str(frame["topic"])))
        elif op == "reply":
            fut = peer.pending.pop(int(frame["id"]), None)
            if fut is not None and not fut.done():
                if "error" in frame:
                    fut.set_exception(RemoteError(str(frame["error"])))
                else:
                    fut.set_result({k: v for k, v in frame.items() if k in ("result", "message")})
        else:
            raise ValueError(f"unknown bus operation {op!r}")

    async def _answer(self, peer: _Peer, frame: dict[str, Any]) -> None:
        reply: dict[str, Any]
        try:
            # The caller times out on its own; wait a little longer so it does first.
            reply = await self.call_wire(str(frame["topic"]), Message.from_dict(frame["msg"]),
                                         float(frame.get("timeout", 30)) + 1)
        except Exception as exc:  # noqa: BLE001 - the caller gets every failure
            reply = _error_reply(exc)
        peer.send({"op": "reply", "id": frame["id"], **reply})

    def _forwarder(self, peer: _Peer, topic: str) -> Handler:
        async def forward(msg: Message) -> Any:
            if peer.gone:
                raise RemoteError(f"the subscriber of {topic} went away")
            ident = next(peer.ids)
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            peer.pending[ident] = fut
            peer.send({"op": "deliver", "id": ident, "topic": topic, "msg": msg.to_dict()})
            data = await fut
            return Message.from_dict(data["message"]) if "message" in data else data.get(
                "result")

        return forward


class LocalBusClient(Bus):
    """A worker's side of the hub: the `Bus` interface over the Unix socket."""

    def __init__(self, path: Path, connect_wait: float = 5.0) -> None:
        self.path = path
        self.connect_wait = connect_wait
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._backlog: list[bytes] = []
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._handlers: dict[str, Handler] = {}
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._connected = asyncio.Event()
        self._runner = asyncio.create_task(self._run(), name="bus:local-client")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), self.connect_wait)

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        self._disconnected()

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def _run(self) -> None:
        delay = 0.05
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.path))
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            # Subscriptions again, then the casts kept while away, in order, all
            # before anything new: writes are synchronous, nothing slips between.
            for topic in self._handlers:
                writer.write(_frame({"op": "sub", "topic": topic}))
            for data in self._backlog:
                writer.write(data)
            self._backlog.clear()
            self._writer = writer
            self._connected.set()
            log.info("connected to the bus hub at %s", self.path)
            try:
                while True:
                    self._received(await _read_frame(reader))
            except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                log.warning("the bus hub went away (%s); reconnecting", exc or "closed")
            finally:
                self._disconnected()
                writer.close()

    def _disconnected(self) -> None:
        self._writer = None
        self._connected.clear()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(RemoteError(GONE))
        self._pending.clear()

    def _received(self, frame: dict[str, Any]) -> None:
        if frame.get("op") == "reply":
            fut = self._pending.pop(int(frame["id"]), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif frame.get("op") == "deliver":
            task = asyncio.create_task(self._deliver(frame))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, frame: dict[str, Any]) -> None:
        reply: dict[str, Any]
        try:
            handler = self._handlers[str(frame["topic"])]
            reply = encode_reply(await handler(Message.from_dict(frame["msg"])))
        except Exception as exc:  # noqa: BLE001 - the hub's caller gets the error
            log.exception("handler for %s failed", frame.get("topic"))
            reply = _error_reply(exc)
        self._send({"op": "reply", "id": frame["id"], **reply}, keep=False)

    def _send(self, obj: dict[str, Any], keep: bool) -> None:
        data = _frame(obj)
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)
        elif keep:
            if len(self._backlog) >= MAX_BACKLOG:
                self._backlog.pop(0)
                log.error("bus backlog full while the hub is away: dropped the oldest cast")
            self._backlog.append(data)

    async def cast(self, topic: str, message: Message) -> None:
        self._send({"op": "cast", "topic": topic, "msg": message.to_dict()}, keep=True)
        writer = self._writer
        # wait only when the hub reads slower than we write (the buffer grew)
        if writer is not None and writer.transport.get_write_buffer_size() > DRAIN_ABOVE:
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def call(self, topic: str, message: Message, timeout: float = 30) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise BusTimeout(f"no bus hub to reach {topic} within {timeout}s")
        ident = next(self._ids)
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending[ident] = fut
        self._send({"op": "call", "id": ident, "topic": topic, "msg": message.to_dict(),
                    "timeout": timeout}, keep=False)
        try:
            data = await asyncio.wait_for(fut, max(deadline - loop.time(), 0.001))
        except TimeoutError:
            raise BusTimeout(f"no reply from {topic} within {timeout}s")
        finally:
            self._pending.pop(ident, None)
        if "error" in data:
            raise RemoteError(str(data["error"]))
        return decode_reply(message, data)

    async def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic] = handler
        self._send({"op": "sub", "topic": topic}, keep=False)
