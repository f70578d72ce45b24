"""Engine and session handling for SQLite (WAL) and PostgreSQL.

`Database.session()` is a plain unit of work. `Database.transaction()` is for
read-modify-write work that must not race (IPAM, quota checks, claims): on
SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock up front so two
writers serialize instead of one failing at commit; on PostgreSQL callers use
`SELECT ... FOR UPDATE` or optimistic generation columns.

On SQLite, writers of this process also queue on one in-process lock before
`BEGIN IMMEDIATE`. SQLite admits one writer at a time anyway, but a writer that
finds the database locked polls it from SQLite's busy handler, which sleeps 1,
2, 5, 10, 15, 20, 25 ... ms between tries: eight concurrent writers spent most
of their time asleep while the lock was free (small object PUTs did not scale
past one client). A lock wakes the next writer the moment the last one commits.
A writer that waits for it longer than the busy timeout goes on to SQLite's own
wait, so a stuck holder still ends in SQLite's "database is locked", as before.

SQLite runs in WAL mode at `synchronous=NORMAL`, decided with a measurement
(2026-12-07, 2 shared cores at load 20-24: one object row's write transaction,
p50 0.4-0.75 ms at NORMAL against 8-11 ms at FULL, which fsyncs the WAL on every
commit; 2-4x the commits per second) and this argument. The project's promise is
that nothing a user stored is lost across restarts and crashes of any process. In
WAL mode a commit is written to the WAL file before it returns, so it lives in the
kernel's page cache: a process killed at any point (kill -9, a crash, an OOM kill)
loses nothing that was acknowledged, and the next open replays the WAL. What
NORMAL gives up is only the last commits before a power loss or kernel crash (the
WAL is fsynced at each checkpoint, not each commit), and even then the database
stays consistent, never corrupt. Where that matters too, PostgreSQL (synchronous
commit) is the engine; object bytes are fsynced before the row that names them
either way, so a row never names bytes that are not on disk. Checkpoints stay
SQLite's automatic ones: turning them off (wal_autocheckpoint=0) did not shorten
the tail of those commits at that load (p95 17-47 ms against 10-17 ms), which is
the machine's, not the checkpoints'.

One unit of work at a time per thread: `transaction()` refuses to open while the
same thread already holds one (`NestedTransaction`). On SQLite the second
`BEGIN IMMEDIATE` would wait for the write lock its own thread holds, so the
conductor calling Placement inside its own transaction stalled every writer of the
cloud for the 30 s busy timeout and then failed; on PostgreSQL the two would commit
apart, one without the other. Finish one unit of work before starting the next, or
pass the session down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

#: Seconds a writer waits for SQLite's write lock before "database is locked".
BUSY_TIMEOUT = 30
#: Seconds a pooled server connection may have been idle and still be used unchecked.
PING_AFTER_IDLE = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection (SELECT 1) before use when it has been idle a while.

    A connection the server dropped (a restart, an idle timeout) must not fail the
    next request, so pooled connections are checked before use; SQLAlchemy's
    pool_pre_ping does that on every checkout, a round trip per unit of work (a
    fifth of the conductor's time scheduling a burst). A connection back in the
    pool a moment ago is as good as the last statement it ran: only one idle for
    PING_AFTER_IDLE seconds is checked, and one that fails the check is replaced
    (the pool tries another) instead of being handed out.
    """
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure: the connection is gone
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


class NestedTransaction(RuntimeError):
    """A write transaction was opened while this thread already held one (a bug)."""


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT}
            kwargs["pool_size"] = 20
            kwargs["max_overflow"] = 40
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 20
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            self._setup_sqlite(self.engine)
        else:
            _ping_when_idle(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._immediate = threading.local()
        self._held = threading.local()
        #: SQLite: this process's writers queue here, not in SQLite's busy handler.
        self._writer = threading.Lock() if self.is_sqlite else None

    def _setup_sqlite(self, engine: Engine) -> None:
        local = threading.local()
        self._sqlite_local = local

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = "IMMEDIATE" if getattr(self._immediate, "on", False) else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work that takes the write lock first (SQLite BEGIN IMMEDIATE)."""
        if getattr(self._held, "on", False):
            raise NestedTransaction(
                "a write transaction was opened while this thread holds one: it would "
                "wait for its own lock (SQLite) or commit apart from it (PostgreSQL)")
        self._held.on = True
        queued = self._writer is not None and self._writer.acquire(timeout=BUSY_TIMEOUT)
        try:
            with self._transaction() as s:
                yield s
        finally:
            if queued:
                assert self._writer is not None
                self._writer.release()
            self._held.on = False

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as s:
            self._immediate.on = True
            try:
                s.connection()  # begin now, while the flag is set
            finally:
                self._immediate.on = False
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
