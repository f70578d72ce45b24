"""The object data contract: what the object service asks of a storage backend.

The service keeps names, metadata and listings in the database; a backend keeps
only opaque blobs under keys the service chooses. A write is a `Writer`:
bytes are appended, then `commit` makes the blob visible under its key all at
once (or `abort` throws it away), so no reader ever sees half an object. The
service hashes the bytes itself while streaming, so a backend needs no md5.

The embedded driver is `file.FileBackend` (files under the data dir). The
contract is small enough for a distributed one: Ceph RADOS maps `Writer` to a
striped write of a temporary object and `commit` to a rename (or an
`omap`-recorded pointer flip), `read` to ranged reads, `link` to a server-side
copy, `sweep` to listing its pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol


class Writer(Protocol):
    """One blob being written; the caller appends bytes from a worker thread."""

    key: str

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self) -> str:
        """Make every byte durable and the blob visible; return its location."""
        ...

    def abort(self) -> None:
        """Forget the blob (idempotent; safe after a failed write)."""
        ...


class Backend(Protocol):
    #: The scheme in locations ("file:<key>").
    name: str

    def open_write(self) -> Writer:
        """A new blob under a fresh key."""
        ...

    def read(self, location: str, start: int = 0, end: int | None = None,
             chunk: int = 1 << 20) -> Iterator[bytes]:
        """Bytes [start, end) of a committed blob (end None: to its end)."""
        ...

    def link(self, location: str) -> str | None:
        """A new location holding the same bytes without copying them (server-side
        copy), or None when the backend cannot: the service then streams a copy."""
        ...

    def delete(self, location: str) -> None:
        """Remove a blob; a missing one is not an error."""
        ...

    def clean_partials(self) -> int:
        """Remove what interrupted writes left (at start-up); how many."""
        ...

    def sweep(self, known: Iterable[str]) -> int:
        """Remove committed blobs no row names (a crash between the commit of the
        bytes and of the row, or before an overwritten blob was deleted)."""
        ...

    def locations(self) -> Iterator[str]:
        """Every committed blob."""
        ...
