"""The `rescue` (200, with the rescue's adminPass) and `unrescue` (202) server actions
(`compute.rescue`)."""

from __future__ import annotations

import uuid as uuidlib

from fastapi import Response

from overcast.compute import action_schemas
from overcast.compute.routes.actions import Action, Call
from overcast.compute.routes.base import reply, service, version


def _rescue(c: Call) -> Response:
    password, image = action_schemas.rescue(c.arg)
    service(c.request).rescues.rescue(c.ctx, c.uuid, image,
                                      allow_bfv=version(c.request).at_least("2.87"))
    return reply(c.request, {"adminPass": password or uuidlib.uuid4().hex[:12]})


def _unrescue(c: Call) -> Response:
    service(c.request).rescues.unrescue(c.ctx, c.uuid)
    return reply(c.request, None, 202)


ACTIONS = {"rescue": Action(_rescue), "unrescue": Action(_unrescue)}
