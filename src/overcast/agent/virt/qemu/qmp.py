"""A QMP client: one session on a guest's control socket (QEMU's JSON protocol),
blocking, to be run in a thread. File descriptors ride along (SCM_RIGHTS) for
migrations to and from a file."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

QMP_TIMEOUT = 10.0


class QmpError(Exception):
    """QMP said no, or the socket is gone."""


class Qmp:
    """One QMP session on a guest's control socket (blocking; run it in a thread).
    Events met while waiting for a reply are kept in `events`."""

    def __init__(self, path: Path, timeout: float = QMP_TIMEOUT) -> None:
        self.events: list[dict[str, Any]] = []
        self._buf = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        where = str(path)
        dirfd = None
        if len(where.encode()) > 100:  # sun_path holds 108 bytes: go through the dir
            dirfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
            where = f"/proc/self/fd/{dirfd}/{path.name}"
        try:
            self.sock.connect(where)
            self._greeting(path)
            self.execute("qmp_capabilities")
        except (OSError, ValueError) as exc:
            self.sock.close()
            raise QmpError(f"QMP on {path}: {exc}") from exc
        except QmpError:
            self.sock.close()
            raise
        finally:
            if dirfd is not None:
                os.close(dirfd)

    def _greeting(self, path: Path) -> None:
        """Read up to QEMU's greeting. What the monitor still held for the session
        before this one (an event or a reply written as that client hung up) can
        come first: it is nobody's, and skipped."""
        for _ in range(64):
            msg = self._read()
            if "QMP" in msg:
                return
            if "event" not in msg and "return" not in msg and "error" not in msg:
                break
        raise QmpError(f"no QMP greeting on {path}")

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QEMU closed its control socket")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg: dict[str, Any] = json.loads(line)
        return msg

    def execute(self, command: str, args: dict[str, Any] | None = None,
                fds: list[int] | None = None) -> Any:
        msg: dict[str, Any] = {"execute": command}
        if args:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.sendall(data)
            while True:
                reply = self._read()
                if "event" in reply:
                    self.events.append(reply)
                    continue
                if "error" in reply:
                    raise QmpError(f"{command}: {reply['error'].get('desc', reply['error'])}")
                if "return" in reply:
                    return reply["return"]
        except (OSError, ValueError) as exc:
            raise QmpError(f"{command}: {exc}") from exc

