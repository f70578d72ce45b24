"""What a serving process does with its start-up heap and its database's
durability settings, before it takes requests (issue 17's tail latency)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from overcast.db import Database

SRC = Path(__file__).resolve().parents[2] / "src"


def test_settle_heap_freezes_what_start_up_built() -> None:
    """Objects alive when the app was built are moved out of the collector's sight,
    so no full collection walks them again while a request waits. Run in a fresh
    interpreter: freezing pytest's own heap would outlive this test."""
    code = ("import gc\n"
            "from overcast.serve import settle_heap\n"
            "built = [{'n': i} for i in range(5000)]\n"
            "assert gc.get_freeze_count() == 0\n"
            "settle_heap()\n"
            "print(gc.get_freeze_count())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(SRC)}, check=True, timeout=60)
    assert int(out.stdout) >= 5000


def test_sqlite_runs_in_wal_at_synchronous_normal(tmp_path: Path) -> None:
    """The durability setting db/engine.py argues for: WAL (a commit survives any
    process crash) at NORMAL (no fsync per commit)."""
    db = Database(f"sqlite:///{tmp_path}/d.db")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    db.dispose()
