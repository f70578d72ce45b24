"""The `restore` and `forceDelete` server actions (`compute.deferred_delete`): undo a
soft delete, or delete now. Both 202."""

from __future__ import annotations

from fastapi import Response

from overcast.compute.routes.actions import Action, Call
from overcast.compute.routes.base import reply, service


def _restore(c: Call) -> Response:
    service(c.request).deferred.restore(c.ctx, c.uuid)
    return reply(c.request, None, 202)


def _force_delete(c: Call) -> Response:
    service(c.request).deferred.force_delete(c.ctx, c.uuid)
    return reply(c.request, None, 202)


ACTIONS = {"restore": Action(_restore), "forceDelete": Action(_force_delete)}
