"""The SQLite write path of `overcast.db.Database`: writers of one process queue
on an in-process lock rather than in SQLite's busy handler."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from overcast.db import Database


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path}/w.db")

    @event.listens_for(db.engine, "connect")
    def _no_busy_wait(dbapi_conn: Any, _record: Any) -> None:
        # SQLite's own wait off: a writer that reaches a held lock fails at once
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    with db.transaction() as s:
        s.execute(text("CREATE TABLE t (n INTEGER)"))
    return db


def test_concurrent_writers_wait_their_turn_without_sqlite_busy_waits(tmp_path: Path
                                                                      ) -> None:
    """Eight threads PUTting small objects spent most of their time asleep in
    SQLite's busy handler (1, 2, 5, 10 ... ms between tries) while the write lock
    was free, so small-object PUTs did not scale past one client. Writers now queue
    on a lock that hands over at commit: with SQLite's own wait turned off, a second
    writer still gets its turn instead of "database is locked"."""
    db = _db(tmp_path)
    inside = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with db.transaction() as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
            inside.set()
            time.sleep(0.3)

    def second() -> None:
        inside.wait(5)
        try:
            with db.transaction() as s:
                s.execute(text("INSERT INTO t VALUES (2)"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    with db.session() as s:
        assert list(s.execute(text("SELECT n FROM t ORDER BY n")).scalars()) == [1, 2]
    db.dispose()


def test_the_writer_lock_is_released_after_a_failed_transaction(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with pytest.raises(RuntimeError), db.transaction():
        raise RuntimeError("boom")
    with db.transaction() as s:  # would wait for ever (30 s) on a leaked lock
        s.execute(text("INSERT INTO t VALUES (3)"))
    assert db._writer is not None and not db._writer.locked()
    db.dispose()
