"""Deferred delete (Nova's `reclaim_instance_interval`, `restore`, `forceDelete`).

With `reclaim_instance_interval` > 0 a server's DELETE is a soft delete: its guest
is stopped and kept, with everything it holds (allocations, ports, volumes), and the
server shows SOFT_DELETED. Its owner may `restore` it (started again, ACTIVE) or
`forceDelete` it (deleted at once); otherwise `reclaim`, run periodically by the
conductor, deletes it for good once it has been soft deleted for the interval. A
server that never ran (no launched_at) is deleted at once, as in Nova.

`forceDelete` works with the interval at 0 too, on any server with no task running
(Nova's `force_delete`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from overcast.bus.messages import PowerAction
from overcast.compute import models as m
from overcast.compute import states
from overcast.db import utcnow
from overcast.kit.context import RequestContext

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService

log = logging.getLogger("overcast.compute.deferred_delete")

#: The control plane itself, reclaiming (sees every project's servers).
RECLAIMER = RequestContext(internal=True, roles=["admin"], request_id="req-reclaim")


class DeferredDelete:
    def __init__(self, compute: ComputeService, interval: float) -> None:
        self.compute = compute
        #: seconds a soft-deleted server is kept; 0: deletes are immediate
        self.interval = interval

    def soft_delete(self, ctx: RequestContext, uuid: str) -> bool:
        """Soft delete the server if deletes are deferred and it ever ran; False when
        it must be deleted at once instead."""
        if self.interval <= 0:
            return False
        svc = self.compute
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            if inst.launched_at is None or inst.vm_state not in \
                    states.ACTIONS["soft_delete"][0] or inst.task_state is not None:
                return False
            svc._transition(s, inst, "soft_delete")
            inst.deleted_at = utcnow()
            svc.record_action(s, ctx, uuid, "soft_delete", "compute_soft_delete_instance")
            host = inst.host
            if host is None:  # nothing runs anywhere: done here
                inst.vm_state, inst.task_state = states.SOFT_DELETED, None
        if host is not None:
            svc.cast(f"agent.{host}", PowerAction(uuid=uuid, action="soft_delete",
                                                  request_id=ctx.request_id))
        return True

    def restore(self, ctx: RequestContext, uuid: str) -> None:
        """Undo a soft delete: the server runs again (ACTIVE)."""
        svc = self.compute
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "restore")
            inst.deleted_at = None
            svc.record_action(s, ctx, uuid, "restore", "compute_restore_instance")
            host = inst.host
            if host is None:
                inst.vm_state, inst.task_state = states.ACTIVE, None
        if host is not None:
            svc.cast(f"agent.{host}", PowerAction(uuid=uuid, action="restore",
                                                  request_id=ctx.request_id))

    def force_delete(self, ctx: RequestContext, uuid: str) -> None:
        """Delete now, whatever the server's state, if no task runs on it."""
        self.compute.delete_now(ctx, uuid, "forceDelete")

    def due(self, now: dt.datetime | None = None) -> list[str]:
        """Soft-deleted servers whose interval is over."""
        cutoff = (now or utcnow()) - dt.timedelta(seconds=self.interval)
        with self.compute.db.session() as s:
            return list(s.scalars(select(m.Instance.uuid).where(
                m.Instance.deleted.is_(False), m.Instance.vm_state == states.SOFT_DELETED,
                m.Instance.task_state.is_(None), m.Instance.deleted_at <= cutoff)))

    def reclaim(self, now: dt.datetime | None = None) -> int:
        """Delete for good the soft-deleted servers whose interval is over (Nova's
        `_reclaim_queued_deletes`); returns how many."""
        done = 0
        for uuid in self.due(now):
            try:
                self.compute.delete_now(RECLAIMER, uuid, "delete")
                done += 1
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("could not reclaim soft-deleted server %s", uuid)
        return done
