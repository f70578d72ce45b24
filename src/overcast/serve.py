"""The process model of `overcast up`: an engine and N API workers on one port.

One process on a 2-core machine uses one core, and API traffic and the cloud's
own work (conductor, scheduler, local agents, storage, periodic tasks) share one
event loop: twenty clients polling servers starved the conductor until boots
failed (issue 17). So `overcast up --workers N` (default: as many as cores,
`api_workers`) runs:

- the **engine**, the process `overcast up` started as: it prepares the cloud
  (migrations, bootstrap, default networks, test image), runs the app's engine
  role (`create_app(role="engine")`: conductor, scheduler, local agents and
  storage, bus subscriptions, periodic tasks), owns the bus hub
  (`bus.local.LocalHub`, a Unix socket in the data directory; or RabbitMQ when
  `bus_url` says so) and supervises the workers; it serves no requests;
- **N API workers** (`create_app(role="api")`), started once the engine is up:
  each serves every API with uvicorn on the one listening socket the engine bound
  and passed down (the kernel hands each connection to one of them); their casts
  and calls reach the engine over the bus.

A worker that dies is started again (after a short, growing pause if it keeps
dying). SIGINT/SIGTERM to the engine stops the workers (SIGTERM, then SIGKILL
after a grace period) and then the engine; a worker also asks the kernel to kill
it (SIGKILL) when the engine dies unstopped (PR_SET_PDEATHSIG), so no process
outlives it and none answers for a cloud that is gone.
Every process logs to the one log file, each line naming its process (`engine`,
`api-1`, ...). `--workers 1` is the single process of before (role "all").
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import hashlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from overcast.config import Settings

log = logging.getLogger("overcast.serve")

#: Seconds a worker gets to finish its requests after SIGTERM before SIGKILL.
STOP_GRACE = 8.0
#: A worker that lived shorter than this died young: the next start waits longer.
YOUNG = 5.0
PR_SET_PDEATHSIG = 1
#: Seconds to wait for a port still held by a stopping cloud.
BIND_WAIT = 10.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s %(message)s"


class QuietStream:
    """A stream that stops writing once its reader has gone, instead of raising.

    A server's console is only for the person who started it: when that terminal or
    pipe goes away (`overcast up | head`, a closed ssh session), the cloud keeps running.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return int(self._stream.write(text))
            except (BrokenPipeError, OSError, ValueError):
                self._gone = True
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._gone = True

    def isatty(self) -> bool:
        return not self._gone and bool(self._stream.isatty())

    def fileno(self) -> int:
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:
        return str(getattr(self._stream, "encoding", "utf-8"))


def raise_open_file_limit(want: int = 65536) -> None:
    """Take the hard limit of open files (or `want`) as the soft one: at the usual
    soft limit of 1,024, a few hundred idle client connections, each a descriptor,
    would leave the cloud unable to open a database file, a log or a QMP socket."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def protect_server_process() -> None:
    """Make this process a server that no peer can stop (every process of the cloud).

    Short commands get the default SIGPIPE action so `overcast ... | head` ends
    quietly. A server must never have it: a write to a socket whose client has hung
    up would kill the process with status 141. With SIGPIPE ignored that write fails
    with EPIPE, which only ends that one connection. The console's own pipe may close
    too; then the cloud goes on without it.
    """
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    raise_open_file_limit()
    if not isinstance(sys.stdout, QuietStream):
        sys.stdout = QuietStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, QuietStream):
        sys.stderr = QuietStream(sys.stderr)  # type: ignore[assignment]


def setup_logging(settings: Settings, process_name: str) -> None:
    """Log to DATA_DIR/logs/overcast.log (opened for appending by every process, so
    lines land whole), each line naming this process."""
    multiprocessing.current_process().name = process_name
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # private from the start
    logs = settings.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    handler = logging.FileHandler(logs / "overcast.log")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, settings.log_level.upper(), logging.INFO))


def default_workers() -> int:
    """As many API workers as this process may use cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def hub_path(settings: Settings) -> Path:
    """Where the engine's bus hub listens: DATA_DIR/run/bus.sock, or, when that path is
    too long for a Unix socket (108 bytes), a private directory under the temp dir
    named after the data directory."""
    path = settings.data_dir / "run" / "bus.sock"
    if len(os.fsencode(path)) < 100:
        return path
    digest = hashlib.sha256(os.fsencode(settings.data_dir.resolve())).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"overcast-{os.getuid()}-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    os.chmod(short, 0o700)
    return short / "bus.sock"


def engine_bus(settings: Settings) -> Any:
    """The engine's bus: the hub on a Unix socket for the embedded `memory` bus,
    else the bus the URL names (RabbitMQ), which the workers reach the same way."""
    from overcast.bus import make_bus
    from overcast.bus.local import LocalHub

    if settings.bus_url in ("", "memory"):
        return LocalHub(hub_path(settings))
    return make_bus(settings.bus_url, settings.bus_namespace)


def worker_bus(settings: Settings) -> Any:
    from overcast.bus import make_bus
    from overcast.bus.local import LocalBusClient

    if settings.bus_url in ("", "memory"):
        return LocalBusClient(hub_path(settings))
    return make_bus(settings.bus_url, settings.bus_namespace)


def listen(host: str, port: int) -> socket.socket:
    """The one listening socket every worker accepts on (bound here, in the engine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # The workers of an engine that was just killed may still hold the port for
    # the moment their graceful stop takes (they stop when it dies): wait for it.
    deadline = time.monotonic() + BIND_WAIT
    while True:
        try:
            sock.bind((host, port))
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                sock.close()
                raise
            time.sleep(0.2)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def settle_heap() -> None:
    """Collect once, then move every object alive now out of the collector's sight
    (gc.freeze), in a serving process that has built its app.

    What start-up built (the app, its routes and schemas, SQLAlchemy's mappers,
    the imported modules: hundreds of thousands of objects) lives as long as the
    process. Left to the collector, every full collection walks all of it again
    while a request waits: that walk is the tail of the latency (p99 well above
    p50) of a process that otherwise does the same work for every request. Frozen,
    it is never walked; a forked worker also stops writing to those pages (the
    collector's bookkeeping), so they stay shared with the engine."""
    gc.collect()
    gc.freeze()


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this worker when the engine ends without stopping it.

    An engine that stops as it should stops its workers first (SIGTERM, a graceful
    end); this is for an engine that died (SIGKILL, a crash). Then the workers end at
    once, with SIGKILL: a worker left to finish gracefully went on answering for a
    moment with no engine behind it, so a client (and the kill -9 test) took its
    answers for the cloud's restart, then found the port closed while the new
    engine was still starting."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before we asked
        os._exit(0)


def api_worker(settings: Settings, sock: socket.socket, name: str, parent: int,
               go: Any, app: Any = None) -> None:
    """The body of one API worker process (started by `Engine`).

    Forked at start with `app` already built by the engine (a fresh interpreter
    importing and building everything costs each worker seconds of CPU that the
    engine needs to prepare the cloud); a worker started again later is spawned
    afresh and builds its own. It waits for `go` (the engine is up) before it
    accepts requests."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine stops us with SIGTERM
    _die_with_parent(parent)
    protect_server_process()
    setup_logging(settings, name)
    import uvicorn

    from overcast.kit.http import protocol as http_protocol

    if app is None:
        from overcast.app import create_app

        app = create_app(settings, role="api", bus=worker_bus(settings))
    else:
        app.state.db.engine.dispose(close=False)  # no connection of the engine's, ever
    settle_heap()
    go.wait()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5, http=http_protocol(settings.api_http),
                            loop=settings.api_loop)
    graceful_server_class()(config).run(sockets=[sock])
    log.info("%s stopped", name)


def graceful_server_class() -> Any:
    from collections.abc import Iterator

    import uvicorn

    class GracefulServer(uvicorn.Server):
        """Stops on SIGINT/SIGTERM and exits 0, instead of re-raising the signal."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit)
                        for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return GracefulServer


class Engine:
    """The engine process: bind the port, start the workers (they build their apps
    while the engine prepares the cloud), run the engine role, watch the workers.

    Made before the cloud is prepared (`overcast up`), then `run(app)` once it is.
    The first workers are forked with `template`, an app built for the "api" role
    before this process started any thread, loop or database connection; workers
    started again later are spawned (forking a process with threads is unsafe)."""

    def __init__(self, settings: Settings, workers: int, template: Any = None) -> None:
        self.settings = settings
        self.count = workers
        self.sock = listen(settings.host, settings.port)
        self.ctx = multiprocessing.get_context("spawn")
        self.go = self.ctx.Event()
        self.procs: dict[str, BaseProcess] = {}
        self.started: dict[str, float] = {}
        self.pause: dict[str, float] = {}
        self.dead: dict[str, float] = {}
        self.stopping = asyncio.Event()
        forkable = template is not None and threading.active_count() == 1
        for i in range(1, self.count + 1):
            self._start(f"api-{i}", template if forkable else None)

    def run(self, app: Any, ready: Callable[[], None] | None = None) -> None:
        """Run the engine role of `app` and serve through the workers until stopped."""
        try:
            asyncio.run(self._main(app, ready or (lambda: None)))
        finally:
            self.sock.close()

    def abandon(self) -> None:
        """Stop the workers when the cloud could not be prepared."""
        asyncio.run(self._stop_workers())
        self.sock.close()

    async def _main(self, app: Any, ready: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        async with app.router.lifespan_context(app):
            settle_heap()
            self.go.set()
            ready()
            log.info("engine up: %d API workers on %s:%s", self.count,
                     self.settings.host, self.settings.port)
            while not self.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 0.25)
                self._watch()
            await self._stop_workers()
        log.info("engine stopped")

    def _start(self, name: str, template: Any = None) -> None:
        ctx = multiprocessing.get_context("fork") if template is not None else self.ctx
        proc = ctx.Process(target=api_worker, name=name, daemon=False,
                           args=(self.settings, self.sock, name, os.getpid(), self.go,
                                 template))
        proc.start()
        self.procs[name], self.started[name] = proc, time.monotonic()

    def _watch(self) -> None:
        """Start again every worker that ended while the engine runs: after a
        moment (a SIGTERM to the whole process group reaches the engine too), and
        after a pause that doubles while it keeps dying young."""
        now = time.monotonic()
        for name, proc in list(self.procs.items()):
            if proc.exitcode is None:
                continue
            if name not in self.dead:
                self.dead[name] = now
                lived = now - self.started[name]
                before = self.pause.get(name, 0.0)
                self.pause[name] = min(max(before * 2, 1.0), 30.0) if lived < YOUNG else 0.5
                log.warning("API worker %s ended (exit code %s) after %.1f s; starting it "
                            "again in %.1f s", name, proc.exitcode, lived, self.pause[name])
            if now < self.dead[name] + self.pause[name]:
                continue
            del self.dead[name]
            self._start(name)

    async def _stop_workers(self) -> None:
        for proc in self.procs.values():
            if proc.exitcode is None and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and any(p.exitcode is None
                                                  for p in self.procs.values()):
            await asyncio.sleep(0.05)
        for name, proc in self.procs.items():
            if proc.exitcode is None and proc.pid is not None:
                log.warning("API worker %s did not stop in %.0f s: killed", name, STOP_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.join(2)


# ------------------------------------------------------------------ the pidfile
class AlreadyRunning(RuntimeError):
    """Another `overcast up` serves this data directory."""


def pid_path(settings: Settings) -> Path:
    return settings.data_dir / "run" / "overcast.pid"


def running_pid(settings: Settings) -> int | None:
    """The pid of the `overcast up` serving this data directory, if one runs (a
    pidfile left by one that was killed names a process that is gone, or another)."""
    try:
        pid = int(pid_path(settings).read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"overcast" in cmdline and b"up" in cmdline.split(b"\0") else None


def claim_pidfile(settings: Settings) -> None:
    """Write this process's pid (the engine's, or the one process's); refuse when
    another `overcast up` runs on the same data directory: two engines would run
    two conductors and two local agents on one database."""
    other = running_pid(settings)
    if other is not None and other != os.getpid():
        raise AlreadyRunning(f"overcast up already runs on {settings.data_dir} "
                             f"(pid {other}); `overcast down` stops it")
    path = pid_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


def release_pidfile(settings: Settings) -> None:
    with contextlib.suppress(OSError, ValueError):
        if int(pid_path(settings).read_text().split()[0]) == os.getpid():
            pid_path(settings).unlink()


def processes_of(pid: int) -> list[tuple[int, str]]:
    """(pid, name) of `pid`'s child processes: the API workers of an engine."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append((int(entry.name), stat.split("(", 1)[1].rsplit(")", 1)[0]))
    return sorted(out)


def worker_pids(pid: int) -> list[int]:
    """The API workers of the engine `pid` (its children but multiprocessing's
    resource tracker)."""
    out = []
    for child, _name in processes_of(pid):
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
    return out


def stop_running(settings: Settings, timeout: float = 60) -> int | None:
    """SIGTERM to the `overcast up` of this data directory; wait until it is gone.
    Returns its pid (None: none ran)."""
    pid = running_pid(settings)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        with contextlib.suppress(OSError):
            if "zombie" in Path(f"/proc/{pid}/status").read_text():
                break
        time.sleep(0.1)
    else:
        # it did not stop in time: kill it (its workers die with it: PDEATHSIG)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pid
