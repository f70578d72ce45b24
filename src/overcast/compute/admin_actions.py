"""The admin server actions that are not the owner's: `os-resetState` (an admin
forces vm_state to active or error and clears the task, as Nova's reset does: nothing
is sent to the host), `injectNetworkInfo` (Nova asks the host's driver to write the
network configuration into the guest; neither libvirt nor overcast's drivers have
anything to write, so it is recorded and done) and `migrate` (a cold migration: a
resize to the same flavor on another host, `ComputeService.resize(migrate=True)`;
from 2.56 to a host the admin names),
and a server's `diagnostics` below 2.48, whose keys Nova leaves to each driver: here
what the control plane knows of the guest (its power state as last reported, its
host's driver, its uptime since launch, its flavor's vCPUs and memory). The routes
are `compute.routes.admin_actions`.
"""

from __future__ import annotations

from sqlalchemy import select

from overcast.compute import models as m
from overcast.compute.service import ComputeService
from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest

#: Nova's power states by number
POWER_STATES = {0: "pending", 1: "running", 3: "paused", 4: "shutdown", 6: "crashed",
                7: "suspended"}


class AdminActions:
    def __init__(self, compute: ComputeService) -> None:
        self.compute = compute

    def reset_state(self, ctx: RequestContext, uuid: str, state: str) -> None:
        with self.compute.db.transaction() as s:
            inst = self.compute.get_instance(s, ctx, uuid)
            inst.vm_state, inst.task_state, inst.updated_at = state, None, utcnow()

    def inject_network_info(self, ctx: RequestContext, uuid: str) -> None:
        with self.compute.db.transaction() as s:
            self.compute.get_instance(s, ctx, uuid)
            self.compute.record_action(s, ctx, uuid, "injectNetworkInfo",
                                       "compute_inject_network_info")

    def migrate(self, ctx: RequestContext, uuid: str, host: str | None = None) -> None:
        """A cold migration, to `host` when given (2.56): Nova's 400s for the server's
        own host and for a host with no compute service; the host must then pass the
        same checks as any other target (up, enabled, the server's zone, room)."""
        if host:
            with self.compute.db.session() as s:
                inst = self.compute.get_instance(s, ctx, uuid)
                if host == inst.host:
                    raise BadRequest("Cannot migrate to the host where the server exists.")
                if s.scalar(select(m.Service.id).where(
                        m.Service.binary == "nova-compute", m.Service.host == host)) is None:
                    raise BadRequest(f"Compute host {host} could not be found.")
        self.compute.resize(ctx, uuid, None, migrate=True, to_host=host)
