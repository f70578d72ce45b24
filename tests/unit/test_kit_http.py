"""The direct body path (`overcast.kit.http`) over a real uvicorn server and raw
sockets: the bytes arrive whole and in order, the connection stays usable
(keep-alive, a pipelined request right behind the body, Expect: 100-continue),
a chunked body is never taken, a client that goes away or a refused body closes
the connection, and the server keeps serving."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from overcast.kit import http as kh

EVENTS: list[str] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    md5 = hashlib.md5(usedforsecurity=False)
    size, took, status = 0, False, 201
    direct = kh.direct_body(scope)
    if scope["method"] == "PUT" and direct is not None and direct.take():
        took = True
        limit = int(headers.get(b"x-limit", b"0")) or None

        def check(total: int) -> None:
            if limit is not None and total > limit:
                raise OverflowError(total)

        try:
            size = await direct.pump([md5.update, len], limit=check)
        except kh.ClientTimeout:
            EVENTS.append("timeout")
            status = 408
        except kh.ClientGone:
            EVENTS.append("gone")
            return
        except OverflowError:
            status = 413
    else:
        more = True
        while more:
            msg = await receive()
            more = msg.get("more_body", False)
            md5.update(msg.get("body", b""))
            size += len(msg.get("body", b""))
    body = json.dumps({"took": took, "size": size, "md5": md5.hexdigest()}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free,
                                           log_level="warning", lifespan="off",
                                           http=kh.protocol("auto")))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield free
    server.should_exit = True
    thread.join(timeout=10)


def _response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, Any]]:
    """One response off a connection (`buf` keeps what was read past it)."""
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        assert more, "connection closed before a response"
        buf += more
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        more = sock.recv(65536)
        assert more
        rest += more
    buf[:] = rest[length:]
    return status, json.loads(rest[:length])


def _put(length: int, extra: bytes = b"") -> bytes:
    return (b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n"
            % (length, extra))


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def test_large_body_whole_then_keep_alive(port: int) -> None:
    data = os.urandom((3 << 20) + 123)
    with _connect(port) as sock:
        buf = bytearray()
        for _ in range(2):  # the same connection twice: the parser started afresh
            sock.sendall(_put(len(data)) + data)
            status, got = _response(sock, buf)
            assert status == 201
            assert got == {"took": True, "size": len(data),
                           "md5": hashlib.md5(data).hexdigest()}
        sock.sendall(b"GET /y HTTP/1.1\r\nHost: t\r\n\r\n")
        assert _response(sock, buf) == (201, {"took": False, "size": 0,
                                              "md5": hashlib.md5(b"").hexdigest()})


def test_pipelined_request_behind_the_body(port: int) -> None:
    data = os.urandom(2 << 20)
    small = b"hello"
    with _connect(port) as sock:
        buf = bytearray()
        sock.sendall(_put(len(data)) + data + _put(len(small)) + small)
        status, first = _response(sock, buf)
        assert (status, first["size"], first["md5"]) == (
            201, len(data), hashlib.md5(data).hexdigest())
        status, second = _response(sock, buf)
        assert (status, second["size"], second["md5"]) == (
            201, len(small), hashlib.md5(small).hexdigest())


def test_expect_100_continue(port: int) -> None:
    data = os.urandom(1 << 20)
    with _connect(port) as sock:
        sock.sendall(_put(len(data), b"Expect: 100-continue\r\n"))
        interim = sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        buf = bytearray(interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):])
        sock.sendall(data)
        status, got = _response(sock, buf)
        assert (status, got["took"], got["md5"]) == (201, True, hashlib.md5(data).hexdigest())


def test_chunked_body_is_not_taken(port: int) -> None:
    data = os.urandom(300_000)
    with _connect(port) as sock:
        sock.sendall(b"PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n")
        status, got = _response(sock, bytearray())
        assert (status, got["took"], got["md5"]) == (201, False, hashlib.md5(data).hexdigest())


def test_client_gone_mid_body(port: int) -> None:
    EVENTS.clear()
    with _connect(port) as sock:
        sock.sendall(_put(4 << 20) + os.urandom(1 << 20))
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while "gone" not in EVENTS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert EVENTS == ["gone"]
    with _connect(port) as sock:  # the server goes on serving
        sock.sendall(_put(3) + b"abc")
        assert _response(sock, bytearray())[0] == 201


def test_refused_body_closes_the_connection(port: int) -> None:
    """A body refused half-way (a quota) is not read to its end: the answer is
    sent and the connection closed (the kernel may turn that into a reset while
    the client still sends), never left half-parsed for a next request."""
    data = os.urandom(3 << 20)
    with _connect(port) as sock:
        def send() -> None:
            try:
                sock.sendall(_put(len(data), b"X-Limit: 1000000\r\n") + data)
            except OSError:
                pass

        sender = threading.Thread(target=send)
        sender.start()
        buf = bytearray()
        try:
            status, _ = _response(sock, buf)
            assert status == 413
            assert sock.recv(65536) == b""  # closed after the answer
        except ConnectionResetError:
            pass
        sender.join(30)
        assert not sender.is_alive()
    with _connect(port) as sock:  # the server goes on serving
        sock.sendall(_put(3) + b"abc")
        assert _response(sock, bytearray())[0] == 201


def test_client_that_stalls_times_out(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that stops sending mid-body is given up on after CLIENT_TIMEOUT
    (the object store answers 408 then, as Swift's proxy); the connection closes."""
    monkeypatch.setattr(kh, "CLIENT_TIMEOUT", 0.5)
    EVENTS.clear()
    with _connect(port) as sock:
        sock.sendall(_put(4 << 20) + os.urandom(1 << 20))
        buf = bytearray()
        status, _ = _response(sock, buf)
        assert status == 408
        assert EVENTS == ["timeout"]
        assert sock.recv(65536) == b""  # closed: the rest of the body was never read
