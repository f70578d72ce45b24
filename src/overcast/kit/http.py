"""The HTTP protocol the API workers serve with: uvicorn's httptools protocol,
plus a direct path for large request bodies.

uvicorn hands a request body to the app in messages of at most about 64 KiB: it
stops reading the connection once that much waits (`HIGH_WATER_LIMIT`) and reads
on when the app asks for the next message. A 1 GiB upload is then 16,384
messages, each a pause and a resume of the socket, an event, a task wake-up and
a pass through the app's async iterators on the event loop; and md5 of the body,
the one stream no number of cores can split, waits for the loop between
buffers. That, not md5, was most of a large object PUT's and an image upload's
CPU (bench/body_receive.py measures every path beside a plain socket).

So a route that streams a large body to disk (an object PUT, an image upload)
may take the rest of the body over (`DirectBody`, in the scope's extensions as
`DIRECT_BODY`): the connection stops reading on the event loop, and worker
threads receive the remaining Content-Length bytes straight from the socket
into large reusable buffers, while other threads hash and write each buffer
(`DirectBody.pump`). The event loop sees none of those bytes. Once they are all
in, the connection's parser starts afresh at the next request (keep-alive and
pipelining are unchanged); when the body cannot be read to its end (the client
went away or stalled), the connection is closed after the answer.

Only a body of known length (Content-Length, not chunked) on plain HTTP is
taken over; anything else goes the usual way (`take` answers None).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import httptools
import uvicorn
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: The uvicorn release whose protocol internals `BigBodyHttpToolsProtocol` and
#: `DirectBody` were written and tested against (pyproject pins it).
TESTED_UVICORN = "0.55."
#: The scope extension under which a request offers its `DirectBody`.
DIRECT_BODY = "overcast.direct_body"
#: Size and number of the receive buffers of one direct body.
BUFFER = 1 << 20
BUFFERS = 6
#: Seconds a direct receive waits for more bytes from the client before giving
#: up (Swift's proxy `client_timeout`: it then answers 408).
CLIENT_TIMEOUT = 60.0

#: The threads that receive direct bodies (one per body in flight; each body's
#: consumers run on threads of their own).
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=32,
                                              thread_name_prefix="direct-body")


class ClientGone(ClientDisconnect):
    """The client closed the connection before the body's end (to the app, what
    Starlette raises when a streamed body is cut)."""


class ClientTimeout(ClientGone):
    """The client sent nothing for CLIENT_TIMEOUT seconds in the middle of the body."""


class DirectBody:
    """The rest of one request's body, read off the event loop (see the module).

    `take` (on the loop) stops the connection's reading and returns the body bytes
    already parsed; `pump` (awaited on the loop) receives the rest on threads and
    feeds every buffer to each consumer, then hands the connection back."""

    def __init__(self, protocol: BigBodyHttpToolsProtocol, cycle: Any, length: int) -> None:
        self._protocol = protocol
        self._cycle = cycle
        self._length = length
        self._remaining = 0
        self._head = b""
        self._taken = False

    def take(self) -> bool:
        """Stop the connection's reading on the loop and keep the body bytes already
        received for `pump`; False when this body cannot be taken over (then the
        app reads it as usual)."""
        p, cycle = self._protocol, self._cycle
        if (self._taken or p.cycle is not cycle or p.pipeline or cycle.disconnected
                or cycle.response_complete or p.transport is None
                or p.transport.is_closing() or p.transport.get_extra_info("sslcontext")):
            return False
        self._taken = True
        if cycle.waiting_for_100_continue:
            p.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        self._head = bytes(cycle.body)
        cycle.body = bytearray()
        self._remaining = self._length - p.body_seen if cycle.more_body else 0
        if self._remaining > 0:
            p.flow.pause_reading()
        return True

    async def pump(self, consumers: Sequence[Callable[[memoryview], Any]], *,
                   limit: Callable[[int], None] | None = None) -> int:
        """The whole body (what `take` kept, then the rest, received on a worker
        thread into reusable buffers), each consumer (a hash's `update`, a file's
        `write`) running on a thread of its own over every buffer in order; how
        many bytes came. `limit(total)` is called on the receiving thread after
        each buffer and may raise to stop (a quota): the connection then closes
        after the answer, since the rest of the body was not read. Raises
        ClientGone or ClientTimeout (the same)."""
        assert self._taken, "pump before take"
        remaining, self._remaining = self._remaining, 0
        head, self._head = self._head, b""
        if remaining <= 0:
            await asyncio.get_running_loop().run_in_executor(
                _POOL, _feed_all, consumers, head, limit)
            return len(head)
        fd = os.dup(self._protocol.transport.get_extra_info("socket").fileno())
        complete = False
        try:
            got = await asyncio.get_running_loop().run_in_executor(
                _POOL, _receive, fd, head, remaining, consumers, limit)
            complete = True
            return got
        finally:
            self._finish(complete)

    def _finish(self, complete: bool) -> None:
        """Give the connection back: the parser starts at the next request (the
        whole body was read), or the connection closes after the answer."""
        p, cycle = self._protocol, self._cycle
        cycle.more_body = False
        if complete and p.parser is not None:
            p.parser = httptools.HttpRequestParser(p)
            _lenient(p.parser)
            cycle.message_event.set()
            if cycle.response_complete:
                p.flow.resume_reading()
            return
        cycle.keep_alive = False
        cycle.message_event.set()


def _lenient(parser: Any) -> None:
    try:  # as uvicorn sets its own parser up
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
    except AttributeError:  # pragma: no cover - httptools < 0.6.3
        pass


def _feed_all(consumers: Sequence[Callable[[memoryview], Any]], data: bytes,
              limit: Callable[[int], None] | None) -> None:
    if limit is not None:
        limit(len(data))
    if data:
        for fn in consumers:
            fn(memoryview(data))


def _receive(fd: int, head: bytes, remaining: int,
             consumers: Sequence[Callable[[memoryview], Any]],
             limit: Callable[[int], None] | None) -> int:
    """The receiving thread (it owns `fd`, a duplicate of the connection's socket,
    and closes it): fill buffers from the socket, hand each to every consumer's
    thread, reuse it once all of them are done with it."""
    sock = socket.socket(fileno=fd)
    try:
        sock.settimeout(CLIENT_TIMEOUT)
        _feed_all(consumers, head, limit)
        return _pipeline(sock, len(head), remaining, consumers, limit)
    finally:
        sock.close()


def _pipeline(sock: socket.socket, total: int, remaining: int,
              consumers: Sequence[Callable[[memoryview], Any]],
              limit: Callable[[int], None] | None) -> int:
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(BUFFERS):
        free.put(bytearray(BUFFER))
    lanes: list[queue.Queue[tuple[memoryview, Any] | None]] = [
        queue.Queue() for _ in consumers]
    errors: list[BaseException] = []

    class Countdown:
        __slots__ = ("buf", "left", "lock")

        def __init__(self, buf: bytearray) -> None:
            self.buf, self.left, self.lock = buf, len(consumers), threading.Lock()

        def release(self) -> None:
            with self.lock:
                self.left -= 1
                last = self.left == 0
            if last:
                free.put(self.buf)

    def lane(fn: Callable[[memoryview], Any], q: queue.Queue[tuple[memoryview, Any] | None]
             ) -> None:
        while (item := q.get()) is not None:
            view, count = item
            try:
                if not errors:
                    fn(view)
            except BaseException as exc:  # noqa: BLE001 - handed to the receiver
                errors.append(exc)
            finally:
                count.release()

    # threads of their own, not the pool's: a lane waiting for a free pool
    # thread while its receiver waits for a buffer would deadlock a full pool
    threads = [threading.Thread(target=lane, args=(fn, q), daemon=True,
                                name="direct-body-lane")
               for fn, q in zip(consumers, lanes, strict=True)]
    for t in threads:
        t.start()
    try:
        while remaining > 0 and not errors:
            buf = free.get()
            view = memoryview(buf)
            n = 0
            want = min(len(buf), remaining)
            while n < want:
                try:
                    k = sock.recv_into(view[n:want])
                except TimeoutError:
                    raise ClientTimeout() from None
                except OSError:
                    raise ClientGone() from None
                if not k:
                    raise ClientGone()
                n += k
            remaining -= n
            total += n
            if limit is not None:
                limit(total)
            count = Countdown(buf)
            for q in lanes:
                q.put((view[:n], count))
    finally:
        for q in lanes:
            q.put(None)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return total


class BigBodyHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol offering a `DirectBody` to every request whose
    body has a Content-Length (see the module)."""

    body_seen = 0

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.body_seen = 0
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:
            return
        length = None
        for name, value in self.headers:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                return
        if length is not None and length > 0:
            ext = cast(dict[str, Any], self.scope.setdefault("extensions", {}))
            ext[DIRECT_BODY] = DirectBody(self, cycle, length)

    def on_body(self, body: bytes) -> None:
        self.body_seen += len(body)
        super().on_body(body)


def direct_body(scope: Any) -> DirectBody | None:
    """The request's direct body, when its server offers one."""
    ext = scope.get("extensions") or {}
    found = ext.get(DIRECT_BODY)
    return found if isinstance(found, DirectBody) else None


def protocol(setting: str) -> str | type[HttpToolsProtocol]:
    """uvicorn's `http` argument for the `api_http` setting: "auto" is this
    protocol when httptools is installed (else uvicorn's choice, h11);
    "httptools" and "h11" are uvicorn's own, unchanged (to compare with)."""
    if setting != "auto":
        return setting
    if not uvicorn.__version__.startswith(TESTED_UVICORN):
        # the protocol reaches into uvicorn's connection internals, which are
        # not an API: another uvicorn gets its own protocol (no direct bodies)
        return "httptools"
    return BigBodyHttpToolsProtocol
