"""Migration records (`os-migrations`): one row per resize or cold migration of a
server, written in the same transaction as the server's own change, so the list
never shows a move that did not happen or misses one that did.

A record starts `migrating` (the hosts are at work), reads `finished` while the
server waits in VERIFY_RESIZE (derived from the server, so no host message needs to
touch it), and ends `confirmed` or `reverted`.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.compute import states
from overcast.db import Database, utcnow


def record(s: Session, inst: m.Instance, kind: str, source: str | None,
           dest: str | None, old_flavor: str | None, new_flavor: str | None) -> None:
    """A move begins (`kind`: resize or migration)."""
    s.add(m.Migration(uuid=str(uuidlib.uuid4()), instance_uuid=inst.uuid,
                      migration_type=kind, source_compute=source, dest_compute=dest,
                      old_flavor_id=old_flavor, new_flavor_id=new_flavor,
                      status="migrating"))


def close(s: Session, instance_uuid: str, status: str) -> None:
    """The server's open move ends (`confirmed` or `reverted`)."""
    for mig in s.scalars(select(m.Migration).where(
            m.Migration.instance_uuid == instance_uuid,
            m.Migration.status == "migrating")):
        mig.status, mig.updated_at = status, utcnow()


class MigrationService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_all(self, filters: dict[str, str]) -> list[tuple[m.Migration, str]]:
        """(record, shown status) of every move matching Nova's filters, newest
        first."""
        q = select(m.Migration, m.Instance.vm_state).join(
            m.Instance, m.Instance.uuid == m.Migration.instance_uuid, isouter=True)
        if filters.get("instance_uuid"):
            q = q.where(m.Migration.instance_uuid == filters["instance_uuid"])
        if filters.get("source_compute"):
            q = q.where(m.Migration.source_compute == filters["source_compute"])
        if filters.get("host"):
            q = q.where((m.Migration.source_compute == filters["host"]) |
                        (m.Migration.dest_compute == filters["host"]))
        if filters.get("migration_type"):
            q = q.where(m.Migration.migration_type == filters["migration_type"])
        out: list[tuple[m.Migration, str]] = []
        with self.db.session() as s:
            for mig, vm_state in s.execute(q.order_by(m.Migration.id.desc())):
                shown = "finished" if mig.status == "migrating" and \
                    vm_state == states.RESIZED else mig.status
                if not filters.get("status") or filters["status"] == shown:
                    out.append((mig, shown))
        return out


def view(mig: m.Migration, status: str, with_type: bool) -> dict[str, Any]:
    """Nova's migration (flavor ids are Nova's integers where overcast's are digits)."""
    def flavor(fid: str | None) -> int | None:
        return int(fid) if fid and fid.isdigit() and len(fid) < 10 else None

    body: dict[str, Any] = {
        "id": mig.id, "status": status, "instance_uuid": mig.instance_uuid,
        "source_node": mig.source_compute, "source_compute": mig.source_compute,
        "dest_node": mig.dest_compute, "dest_compute": mig.dest_compute,
        "dest_host": None, "old_instance_type_id": flavor(mig.old_flavor_id),
        "new_instance_type_id": flavor(mig.new_flavor_id),
        "created_at": mig.created_at.isoformat(timespec="microseconds"),
        "updated_at": mig.updated_at.isoformat(timespec="microseconds")
        if mig.updated_at else None}
    if with_type:
        body["migration_type"] = mig.migration_type
        body["links"] = []
    return body
