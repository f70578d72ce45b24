"""NBD exports of volumes: one `qemu-storage-daemon` per storage host, steered by QMP.

The kernel here has no `nbd` module, so a compute host that is not the storage host
reaches a volume with QEMU's own userspace NBD client (`nbd://host:port/volume-<id>`).
One daemon serves every export (an export is a `blockdev-add` and a
`block-export-add` over QMP, a few milliseconds) instead of one process per volume:
fewer processes, one port, and exports come and go without a process start each.

The daemon outlives a crash of the component on purpose: guests on other hosts keep
their disks while `overcast up` restarts. On start the component finds it again by
its pid file and converges its exports to what the volume service's records own
(`reconcile`); a clean stop ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from overcast.agent.storage.base import StorageError
from overcast.agent.virt.qemu.qmp import Qmp, QmpError

log = logging.getLogger("overcast.agent.storage.nbd")


def node_name(volume_id: str) -> str:
    """QEMU node names hold at most 31 characters: 'v' and 30 hex digits of the id."""
    return "v" + volume_id.replace("-", "")[:30]


def export_name(volume_id: str) -> str:
    return f"volume-{volume_id}"


class NbdServer:
    """The host's qemu-storage-daemon: its NBD server on (address, port), and the
    exports on it."""

    def __init__(self, state_dir: Path, address: str = "127.0.0.1", port: int = 10809,
                 binary: str = "qemu-storage-daemon") -> None:
        self.state_dir = state_dir
        self.address = address
        self.port = port
        self.binary = binary
        self.socket = state_dir / "qsd.qmp"
        self.pidfile = state_dir / "qsd.pid"
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ the process
    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        # the pid must still be our daemon (pids are reused)
        if b"qemu-storage-daemon" in cmdline and str(self.socket).encode() in cmdline:
            return pid
        return None

    def _start_sync(self) -> None:
        if self._running_pid() is not None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        argv = [self.binary,
                "--chardev", f"socket,path={self.socket},server=on,wait=off,id=qmp0",
                "--monitor", "chardev=qmp0",
                "--nbd-server", f"addr.type=inet,addr.host={self.address},"
                                f"addr.port={self.port}",
                "--pidfile", str(self.pidfile), "--daemonize"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise StorageError(f"qemu-storage-daemon did not start: {r.stderr.strip()}")
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise StorageError("qemu-storage-daemon started without its QMP socket")
            time.sleep(0.01)

    async def start(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._start_sync)

    async def stop(self) -> None:
        pid = self._running_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not Path(f"/proc/{pid}").exists():
                break
            await asyncio.sleep(0.01)
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()

    def _qmp(self) -> Qmp:
        try:
            return Qmp(self.socket)
        except QmpError as exc:
            raise StorageError(f"the NBD export daemon does not answer: {exc}") from exc

    # ------------------------------------------------------------ exports
    def _exports_sync(self) -> dict[str, str]:
        """node name -> volume id of every export."""
        with self._qmp() as q:
            exports = q.execute("query-block-exports")
            nodes = {n["node-name"]: n for n in q.execute("query-named-block-nodes")}
        out = {}
        for e in exports:
            node = nodes.get(e.get("node-name", ""), {})
            name = Path(str(node.get("file", ""))).name
            if name.startswith("volume-"):
                out[e["node-name"]] = name.removeprefix("volume-")
        return out

    async def exports(self) -> list[str]:
        if self._running_pid() is None:
            return []
        return sorted(set((await asyncio.to_thread(self._exports_sync)).values()))

    def _add_sync(self, volume_id: str, path: Path, read_only: bool) -> None:
        node = node_name(volume_id)
        with self._qmp() as q:
            present = {e["id"] for e in q.execute("query-block-exports")}
            if node in present:
                return
            # O_DIRECT: the page cache of the storage host is no use to a remote
            # guest and doubled the copies (measured in bench/volume.py); QEMU's
            # thread pool rather than Linux native AIO or io_uring: a guest's
            # sequential reads over the export were 20-40% faster with it
            # (bench/volume_attach.py). A filesystem without O_DIRECT (tmpfs) gets
            # the page cache instead.
            for fast in (True, False):
                file: dict[str, Any] = {"driver": "file", "filename": str(path),
                                        "aio": "threads"}
                if fast:
                    file["cache"] = {"direct": True}
                try:
                    q.execute("blockdev-add", {
                        "driver": "raw", "node-name": node, "read-only": read_only,
                        "cache": {"direct": fast}, "file": file})
                    break
                except QmpError as exc:
                    if "Duplicate" in str(exc) or "already" in str(exc):
                        break
                    if not fast:
                        raise StorageError(f"cannot open {path} for export: {exc}"
                                           ) from exc
            try:
                q.execute("block-export-add", {
                    # No iothread: in QEMU 7.2 the NBD server runs a client's
                    # close callback (nbd_blockdev_client_closed) in the export's
                    # AioContext, and that callback asserts it is in the main
                    # loop: the first client to disconnect from an export in an
                    # iothread aborts the daemon and every export on it (later
                    # QEMU hands the callback to the main loop). Nor would it
                    # pay: an iothread in the guest's QEMU measured no faster
                    # (bench/volume_attach.py); the daemon's one thread is not
                    # what limits NBD here, the loopback TCP copy is.
                    "type": "nbd", "id": node, "node-name": node,
                    "name": export_name(volume_id), "writable": not read_only})
            except QmpError as exc:
                raise StorageError(f"cannot export volume {volume_id}: {exc}") from exc

    async def add(self, volume_id: str, path: Path, read_only: bool = False) -> None:
        await self.start()
        async with self._lock:
            await asyncio.to_thread(self._add_sync, volume_id, path, read_only)

    def _remove_sync(self, volume_id: str) -> None:
        node = node_name(volume_id)
        with self._qmp() as q:
            with contextlib.suppress(QmpError):
                # hard: clients still connected are cut off (the volume is going away
                # from them: detach has run, or the record is gone)
                q.execute("block-export-del", {"id": node, "mode": "hard"})
            # The export's removal is asynchronous: the node is free once it is gone.
            for _ in range(500):
                try:
                    q.execute("blockdev-del", {"node-name": node})
                    return
                except QmpError as exc:
                    if "find" in str(exc).lower() or "not found" in str(exc).lower():
                        return
                    time.sleep(0.01)
            raise StorageError(f"the export of volume {volume_id} did not go away")

    async def remove(self, volume_id: str) -> None:
        if self._running_pid() is None:
            return
        async with self._lock:
            await asyncio.to_thread(self._remove_sync, volume_id)

    def connection_info(self, volume_id: str, host: str, read_only: bool) -> dict[str, Any]:
        return {"driver_volume_type": "nbd", "data": {
            "volume_id": volume_id, "host": host, "port": self.port,
            "export_name": export_name(volume_id), "format": "raw", "read_only": read_only}}
