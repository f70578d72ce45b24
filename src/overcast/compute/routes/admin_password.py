"""The `changePassword` server action (`compute.admin_password`): 202 once the guest
took the password; 409 when the host's driver cannot set one or the guest refused."""

from __future__ import annotations

from fastapi import Response

from overcast.compute import action_schemas
from overcast.compute.routes.actions import Action, Call
from overcast.compute.routes.base import reply, service


def _change_password(c: Call) -> Response:
    password = action_schemas.change_password(c.arg)
    service(c.request).admin_passwords.change(c.ctx, c.uuid, password)
    return reply(c.request, None, 202)


ACTIONS = {"changePassword": Action(_change_password)}
