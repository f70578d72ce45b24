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

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.compute import states, views
from overcast.db import Database, utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest


def record(s: Session, ctx: RequestContext, inst: m.Instance, kind: str,
           source: str | None, dest: str | None, old_flavor: str | None,
           new_flavor: str | None) -> None:
    """A move begins (`kind`: resize or migration), asked for by `ctx`'s user."""
    s.add(m.Migration(uuid=str(uuidlib.uuid4()), instance_uuid=inst.uuid,
                      migration_type=kind, source_compute=source, dest_compute=dest,
                      old_flavor_id=old_flavor, new_flavor_id=new_flavor,
                      status="migrating", **owner(ctx)))


def owner(ctx: RequestContext) -> dict[str, str | None]:
    """The user and project a migration record keeps (2.80): who asked for the move."""
    return {"user_id": ctx.user_id, "project_id": ctx.project_id}


def close(s: Session, instance_uuid: str, status: str) -> None:
    """The server's open move ends (`confirmed` or `reverted`)."""
    for mig in s.scalars(select(m.Migration).where(
            m.Migration.instance_uuid == instance_uuid,
            m.Migration.status == "migrating")):
        mig.status, mig.updated_at = status, utcnow()


class MigrationService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_all(self, filters: dict[str, Any], limit: int | None = None,
                 marker: str | None = None) -> list[tuple[m.Migration, str]]:
        """(record, shown status) of every move matching Nova's filters, newest
        first; from 2.59 a page of them (`limit`, after the move whose uuid is
        `marker`: 400 if there is none) and `changes-since` (a datetime: moves
        changed since; a move not yet changed counts from its creation)."""
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
        for key in ("user_id", "project_id"):  # 2.80
            if filters.get(key):
                q = q.where(getattr(m.Migration, key) == filters[key])
        resized = m.Instance.vm_state == states.RESIZED
        status = filters.get("status")
        if status == "finished":  # shown: a migrating record whose server waits
            q = q.where(m.Migration.status == "migrating", resized)
        elif status == "migrating":
            q = q.where(m.Migration.status == "migrating",
                        or_(m.Instance.vm_state.is_(None), ~resized))
        elif status:
            q = q.where(m.Migration.status == status)
        changed = func.coalesce(m.Migration.updated_at, m.Migration.created_at)
        if filters.get("changes-since"):
            q = q.where(changed >= filters["changes-since"])
        if filters.get("changes-before"):  # 2.66
            q = q.where(changed <= filters["changes-before"])
        out: list[tuple[m.Migration, str]] = []
        with self.db.session() as s:
            if marker is not None:
                after = s.scalar(select(m.Migration).where(m.Migration.uuid == marker))
                if after is None:
                    raise BadRequest(f"Marker {marker} could not be found.")
                q = q.where(or_(m.Migration.created_at < after.created_at, and_(
                    m.Migration.created_at == after.created_at, m.Migration.id < after.id)))
            q = q.order_by(m.Migration.created_at.desc(), m.Migration.id.desc())
            if limit is not None:
                q = q.limit(limit)
            for mig, vm_state in s.execute(q):
                shown = "finished" if mig.status == "migrating" and \
                    vm_state == states.RESIZED else mig.status
                out.append((mig, shown))
        return out


#: the statuses of a live migration still under way (Nova's list, which links them)
LIVE_IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")


def view(mig: m.Migration, status: str, with_type: bool, with_uuid: bool = False,
         base: str = "", with_owner: bool = False) -> dict[str, Any]:
    """Nova's migration (flavor ids are Nova's integers where overcast's are digits).

    From 2.23 (`with_type`) it says its `migration_type`, and a live migration in
    progress has `links` to itself under its server (`base`: where compute is
    mounted), where it can be shown, forced to complete or aborted; any other has
    no `links` at all, as in Nova. `with_owner` (2.80): who asked for it."""
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
        if mig.migration_type == "live-migration" and status in LIVE_IN_PROGRESS:
            body["links"] = views.links(base, f"servers/{mig.instance_uuid}/migrations",
                                        str(mig.id))
    if with_uuid:  # 2.59
        body["uuid"] = mig.uuid
    if with_owner:  # 2.80
        body["user_id"], body["project_id"] = mig.user_id, mig.project_id
    return body
