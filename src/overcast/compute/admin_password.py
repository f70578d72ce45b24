"""changePassword (Nova's `set_admin_password`): set a running guest's administrator
password, through the server's host (a call: the answer says whether the guest took
it).

Only drivers with a way into the guest declare "set_admin_password"
(`capabilities`); for the others the API answers as Nova does when the driver does
not support it, 409 "Set admin password is not supported", and nothing is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.bus.messages import SetAdminPassword
from overcast.compute import models as m
from overcast.compute.capabilities import host_can
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import Conflict

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService

NOT_SUPPORTED = "Set admin password is not supported"


class AdminPasswords:
    def __init__(self, compute: ComputeService) -> None:
        self.compute = compute

    def change(self, ctx: RequestContext, uuid: str, password: str) -> None:
        svc = self.compute
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "changePassword")
            if not host_can(s, inst.host, "set_admin_password"):
                raise Conflict(NOT_SUPPORTED)
            svc.record_action(s, ctx, uuid, "changePassword",
                              "compute_set_admin_password")
            host = inst.host
        try:
            answer = svc.call(f"agent.{host}", SetAdminPassword(uuid=uuid, password=password))
        finally:
            self._done(uuid)
        if not answer.ok:
            raise Conflict(f"Failed to set admin password on {uuid} because "
                           f"{answer.error}")

    def _done(self, uuid: str) -> None:
        """The call is over: the task ends (whatever the guest said)."""
        with self.compute.db.transaction() as s:
            inst = s.get(m.Instance, uuid)
            if inst is not None and inst.task_state == "updating_password":
                inst.task_state, inst.updated_at = None, utcnow()
