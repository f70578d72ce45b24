"""Containers: create/update, read, delete (only when empty), and object listings.

A container's counters (objects, bytes) change in the same transaction as the
object rows, so HEAD answers from one row. Listings read the (container, name)
index (`listing.scan`); expired objects are left out at once, before the
reaper removes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.object import accounts
from overcast.object import errors as e
from overcast.object import models as m
from overcast.object.listing import scan
from overcast.object.records import ContainerInfo, Entry, Subdir
from overcast.object.schemas import apply_updates
from overcast.object.store import ObjectStore, iso_time, live, now, reap_expired


def info(row: m.Container) -> ContainerInfo:
    return ContainerInfo(row.account, row.name, int(row.object_count), int(row.bytes_used),
                         dict(row.meta or {}), row.read_acl, row.write_acl, row.created_at,
                         row.versions_location, row.versions_mode)


def find(s: Session, account: str, name: str, *, lock: bool = False) -> m.Container:
    q = select(m.Container).where(m.Container.account == account, m.Container.name == name)
    if lock:
        q = q.with_for_update()
    row = s.scalar(q)
    if row is None:
        raise e.not_found()
    return row


def get(store: ObjectStore, account: str, name: str) -> ContainerInfo:
    with store.db.session() as s:
        return info(find(s, account, name))


def lookup(store: ObjectStore, account: str, name: str) -> ContainerInfo | None:
    with store.db.session() as s:
        row = s.scalar(select(m.Container).where(m.Container.account == account,
                                                 m.Container.name == name))
        return info(row) if row is not None else None


#: Sentinel: "leave this field as it is".
KEEP = object()


def put(store: ObjectStore, account: str, name: str, meta: dict[str, str | None], *,
        read_acl: object = KEEP, write_acl: object = KEEP, versions: object = KEEP) -> bool:
    """Create the container, or update it; True when it was created."""
    with store.db.transaction() as s:
        accounts.ensure(s, account)
        row = s.scalar(select(m.Container).where(m.Container.account == account,
                                                 m.Container.name == name))
        created = row is None
        if row is None:
            row = m.Container(account=account, name=name, meta={}, object_count=0,
                              bytes_used=0, created_at=now())
            s.add(row)
        _apply(row, meta, read_acl, write_acl, versions)
        return created


def post(store: ObjectStore, account: str, name: str, meta: dict[str, str | None], *,
         read_acl: object = KEEP, write_acl: object = KEEP, versions: object = KEEP) -> None:
    with store.db.transaction() as s:
        _apply(find(s, account, name), meta, read_acl, write_acl, versions)


def _apply(row: m.Container, meta: dict[str, str | None], read_acl: object,
           write_acl: object, versions: object) -> None:
    row.meta = apply_updates(row.meta or {}, meta)
    if read_acl is not KEEP:
        row.read_acl = read_acl or None  # type: ignore[assignment]
    if write_acl is not KEEP:
        row.write_acl = write_acl or None  # type: ignore[assignment]
    if versions is not KEEP:
        # (location, mode), or None to stop versioning
        pair = versions if isinstance(versions, tuple) else (None, None)
        row.versions_location, row.versions_mode = pair


def delete(store: ObjectStore, account: str, name: str) -> None:
    """409 while it holds live objects. Expired ones not yet reaped are reaped
    first: no listing shows them, so a client emptying the container by its
    listing could never delete them (Swift's listing still shows them until the
    expirer runs, and a DELETE of each removes its row)."""
    with store.db.session() as s:
        row = find(s, account, name)
        cid, count = row.id, row.object_count
    if count:
        reap_expired(store, container_id=cid)
    with store.db.transaction() as s:
        row = find(s, account, name, lock=True)
        if row.object_count > 0:
            raise e.not_empty()
        s.delete(row)


def _json_item(r: Any) -> dict[str, Any]:
    """A listing row as Swift's JSON listing shows it (`views.container_listing`'s
    json entry, built straight from the row: no `Entry` in between)."""
    item = {"name": r[0], "hash": r[5] or r[2], "bytes": r[1], "content_type": r[3],
            "last_modified": iso_time(r[4])}
    if r[5]:
        item["slo_etag"] = f'"{r[2]}"'
    if r[6]:
        item["symlink_path"] = r[6]
    return item


def list_json(store: ObjectStore, account: str, container: str, *, prefix: str = "",
              delimiter: str | None = None, marker: str | None = None,
              end_marker: str | None = None, limit: int, reverse: bool = False
              ) -> tuple[ContainerInfo, list[dict[str, Any]]]:
    """`list_objects` for a JSON listing: each entry already the dict the JSON
    shows (a 10,000-object page built in one pass over the rows instead of two)."""
    with store.db.session() as s:
        row = find(s, account, container)
        q = select(m.Object.name, m.Object.size, m.Object.etag, m.Object.content_type,
                   m.Object.timestamp, m.Object.manifest_etag, m.Object.symlink_path
                   ).where(m.Object.container_id == row.id, live())
        entries = scan(s, q, m.Object.name, _json_item, prefix=prefix,
                       delimiter=delimiter, marker=marker, end_marker=end_marker,
                       limit=limit, reverse=reverse)
        return info(row), [{"subdir": e.name} if isinstance(e, Subdir) else e
                           for e in entries]


def list_objects(store: ObjectStore, account: str, container: str, *, prefix: str = "",
                 delimiter: str | None = None, marker: str | None = None,
                 end_marker: str | None = None, limit: int, reverse: bool = False
                 ) -> tuple[ContainerInfo, list[Entry | Subdir]]:
    with store.db.session() as s:
        row = find(s, account, container)
        q = select(m.Object.name, m.Object.size, m.Object.etag, m.Object.content_type,
                   m.Object.timestamp, m.Object.manifest_etag, m.Object.symlink_path
                   ).where(m.Object.container_id == row.id, live())
        entries = scan(s, q, m.Object.name,
                       lambda r: Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6]),
                       prefix=prefix, delimiter=delimiter, marker=marker,
                       end_marker=end_marker, limit=limit, reverse=reverse)
        return info(row), entries


def accounts_holding(store: ObjectStore, name: str) -> list[str]:
    """The accounts that hold a container called `name`, oldest container first
    (S3's bucket names are global: a bucket outside the caller's account is found
    by its name alone)."""
    with store.db.session() as s:
        return list(s.scalars(select(m.Container.account).where(m.Container.name == name)
                              .order_by(m.Container.created_at, m.Container.id)))
