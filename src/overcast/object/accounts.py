"""Accounts: one per project (`AUTH_<project_id>`), made on their first write.

An account that was never written still answers (Swift's account_autocreate):
no containers, no metadata. Counts are the sum of its containers' counters.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, select
from sqlalchemy.orm import Session

from overcast.object import models as m
from overcast.object import policy
from overcast.object.listing import scan
from overcast.object.records import AccountInfo, ContainerEntry, Subdir
from overcast.object.schemas import apply_updates
from overcast.object.store import ObjectStore, now


def ensure(s: Session, account: str) -> m.Account:
    row = s.get(m.Account, account)
    if row is None:
        row = m.Account(name=account, project_id=policy.project_of(account) or account,
                        meta={}, created_at=now())
        s.add(row)
        s.flush()
    return row


_C = cast(Table, m.Container.__table__).c
#: built once (every PUT under a quota reads it): a call only binds the account
_USAGE = select(func.count(), func.coalesce(func.sum(_C.object_count), 0),
                func.coalesce(func.sum(_C.bytes_used), 0)).where(
    _C.account == bindparam("account"))


def usage(s: Session | Connection, account: str) -> tuple[int, int, int]:
    """(containers, objects, bytes) of an account."""
    count, objects, used = s.execute(_USAGE, {"account": account}).one()
    return int(count), int(objects), int(used)


def get(store: ObjectStore, account: str) -> AccountInfo:
    with store.db.session() as s:
        row = s.get(m.Account, account)
        count, objects, used = usage(s, account)
        if row is None:
            return AccountInfo(account, count, objects, used, {}, None, now(), False)
        return AccountInfo(account, count, objects, used, dict(row.meta or {}),
                           row.quota_bytes, row.created_at, True)


def update(store: ObjectStore, account: str, meta: dict[str, str | None],
           quota_bytes: int | None | bool = False) -> None:
    """Merge metadata (None values remove); set the byte quota unless it is False."""
    with store.db.transaction() as s:
        row = ensure(s, account)
        row.meta = apply_updates(row.meta or {}, meta)
        if quota_bytes is not False:
            row.quota_bytes = None if quota_bytes is True else quota_bytes


def list_containers(store: ObjectStore, account: str, *, prefix: str = "",
                    delimiter: str | None = None, marker: str | None = None,
                    end_marker: str | None = None, limit: int,
                    reverse: bool = False) -> list[ContainerEntry | Subdir]:
    q = select(m.Container.name, m.Container.object_count, m.Container.bytes_used,
               m.Container.created_at).where(m.Container.account == account)
    with store.db.session() as s:
        return scan(s, q, m.Container.name,
                    lambda r: ContainerEntry(r[0], r[1], r[2], r[3]),
                    prefix=prefix, delimiter=delimiter, marker=marker,
                    end_marker=end_marker, limit=limit, reverse=reverse)
