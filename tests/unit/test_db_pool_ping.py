"""A pooled PostgreSQL connection the server dropped is replaced, not handed out.

The pool used to ping every connection on every checkout (pool_pre_ping): a round
trip per unit of work, a fifth of the conductor's time scheduling a burst. Now only
a connection idle for a while is checked; this proves one the server killed while
it sat in the pool still does not reach the caller.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

psycopg = pytest.importorskip("psycopg")

ADMIN = os.environ.get("OVERCAST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg() -> bool:
    try:
        psycopg.connect(ADMIN, connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


@pytest.mark.postgres
@pytest.mark.skipif(not _pg(), reason=f"no PostgreSQL at {ADMIN}")
def test_a_pooled_connection_the_server_dropped_is_replaced(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import text

    from overcast.db import engine

    monkeypatch.setattr(engine, "PING_AFTER_IDLE", 0.2)
    name = f"oc_ping_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    db = engine.Database(ADMIN.rsplit("/", 1)[0].replace("postgresql://",
                                                         "postgresql+psycopg://", 1)
                         + f"/{name}")
    try:
        with db.session() as s:
            first = s.execute(text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute("SELECT pg_terminate_backend(%s)", (first,))
        time.sleep(0.5)
        with db.session() as s:
            again = s.execute(text("SELECT pg_backend_pid()")).scalar()
        assert again != first
    finally:
        db.dispose()
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
