"""The `shelve`, `shelveOffload` (admin, as Nova's default policy) and `unshelve` server
actions (`compute.shelve`). All 202. Unshelve takes an `availability_zone` from 2.77
and a `host` (admins) from 2.91."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from overcast.compute import schemas
from overcast.compute.routes.actions import Action, Call
from overcast.compute.routes.base import reply, service, version


def _shelve(c: Call) -> Response:
    service(c.request).shelving.shelve(c.ctx, c.uuid)
    return reply(c.request, None, 202)


def _shelve_offload(c: Call) -> Response:
    service(c.request).shelving.shelve_offload(c.ctx, c.uuid)
    return reply(c.request, None, 202)


def _unshelve(c: Call) -> Response:
    # before 2.77 any argument is taken and ignored, as Nova does
    v = version(c.request)
    schemas.UNSHELVE.for_request(c.request).check({"unshelve": c.arg})
    args: dict[str, Any] = {}
    if isinstance(c.arg, dict) and v.at_least("2.77") and "availability_zone" in c.arg:
        args["new_az"] = c.arg["availability_zone"]  # (null from 2.91: unpin)
    if isinstance(c.arg, dict) and v.at_least("2.91"):
        args["host"] = c.arg.get("host")
    service(c.request).shelving.unshelve(c.ctx, c.uuid, **args)
    return reply(c.request, None, 202)


ACTIONS = {"shelve": Action(_shelve), "shelveOffload": Action(_shelve_offload, admin=True),
           "unshelve": Action(_unshelve)}
