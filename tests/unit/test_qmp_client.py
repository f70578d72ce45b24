"""The QMP client against a scripted monitor on a UNIX socket."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from overcast.agent.virt.qemu.qmp import Qmp, QmpError

GREETING = {"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}


def _monitor(path: Path, first: list[dict[str, object]]) -> threading.Thread:
    """A monitor that writes `first` lines on connect, then answers every command
    with an empty return."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn, srv:
            conn.sendall(b"".join(json.dumps(m).encode() + b"\n" for m in first))
            buf = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    _, buf = buf.split(b"\n", 1)
                    conn.sendall(b'{"return": {}}\n')

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_a_stale_event_before_the_greeting_is_skipped(tmp_path: Path) -> None:
    """What the monitor still held for the session before (an event, a reply)
    may come ahead of the greeting: the session starts all the same."""
    path = tmp_path / "qmp.sock"
    _monitor(path, [{"event": "RTC_CHANGE", "data": {}}, {"return": {}}, GREETING])
    with Qmp(path, timeout=5) as q:
        assert q.execute("query-status") == {}


def test_something_else_than_qmp_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "qmp.sock"
    _monitor(path, [{"hello": "not a monitor"}])
    with pytest.raises(QmpError, match="no QMP greeting"):
        Qmp(path, timeout=5)
