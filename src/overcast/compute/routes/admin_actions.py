"""The admin server actions `os-resetState`, `injectNetworkInfo` and `migrate`, added
to the action table of `server_actions` (the domain is `compute.admin_actions`). A
server's diagnostics are `routes/servers.py` (`compute.diagnostics`)."""

from __future__ import annotations

from fastapi import Response

from overcast.compute import schemas
from overcast.compute.admin_actions import AdminActions
from overcast.compute.routes.base import reply, router, service
from overcast.compute.routes.server_actions import ACTIONS, Action, Call

routes = router()


def _actions(c: Call) -> AdminActions:
    return AdminActions(service(c.request))


def _reset_state(c: Call) -> Response:
    state = schemas.RESET_STATE.check(c.arg)["state"]
    _actions(c).reset_state(c.ctx, c.uuid, state)
    return reply(c.request, None, 202)


def _inject_network_info(c: Call) -> Response:
    _actions(c).inject_network_info(c.ctx, c.uuid)
    return reply(c.request, None, 202)


def _migrate(c: Call) -> Response:
    arg = schemas.MIGRATE.for_request(c.request).check(c.arg)
    _actions(c).migrate(c.ctx, c.uuid, (arg or {}).get("host"))
    return reply(c.request, None, 202)


ACTIONS.update({
    "os-resetState": Action(_reset_state, admin=True),
    "injectNetworkInfo": Action(_inject_network_info, admin=True),
    "migrate": Action(_migrate, admin=True),
})
