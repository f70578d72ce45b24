"""The object data contract, on the embedded file backend: a blob is visible only
once committed, an abort or a crash leaves nothing after clean-up, links share
bytes safely, and a sweep removes what no row names."""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast.object.backends.file import FileBackend


def test_commit_makes_the_blob_visible_at_once(tmp_path: Path) -> None:
    b = FileBackend(tmp_path / "objects")
    w = b.open_write()
    w.write(b"hello ")
    w.write(b"world")
    assert list(b.locations()) == []  # nothing under a real key before the commit
    loc = w.commit()
    assert list(b.locations()) == [loc]
    assert b"".join(b.read(loc)) == b"hello world"
    assert b"".join(b.read(loc, 6, 9)) == b"wor"
    assert b"".join(b.read(loc, 0, 11, chunk=4)) == b"hello world"


def test_abort_and_partials_leave_nothing(tmp_path: Path) -> None:
    b = FileBackend(tmp_path / "objects")
    w = b.open_write()
    w.write(b"x" * 1000)
    w.abort()
    w.abort()  # idempotent
    assert not any((tmp_path / "objects" / "tmp").iterdir())
    crashed = b.open_write()
    crashed.write(b"half")  # the process dies here: a temporary file stays
    again = FileBackend(tmp_path / "objects")
    assert again.clean_partials() == 1
    assert list(again.locations()) == []


def test_links_are_independent_copies(tmp_path: Path) -> None:
    b = FileBackend(tmp_path / "objects")
    w = b.open_write()
    w.write(b"data")
    loc = w.commit()
    copy = b.link(loc)
    assert copy is not None and copy != loc
    b.delete(loc)
    assert b"".join(b.read(copy)) == b"data"
    b.delete(loc)  # a missing blob is no error
    with pytest.raises(FileNotFoundError):
        list(b.read(loc))
    with pytest.raises(FileNotFoundError):
        list(b.read("file:../../etc/passwd"))


def test_sweep_removes_blobs_no_row_names(tmp_path: Path) -> None:
    b = FileBackend(tmp_path / "objects")
    keep, orphan = b.open_write(), b.open_write()
    keep.write(b"k")
    orphan.write(b"o")
    kept, lost = keep.commit(), orphan.commit()
    assert b.sweep([kept]) == 1
    assert list(b.locations()) == [kept] and lost != kept
