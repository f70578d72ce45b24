"""Server diagnostics (`GET /servers/{id}/diagnostics`, admin): what compute knows of
a server on its host, gathered from the control plane's own records.

Nova asks the hypervisor; overcast's control plane already holds what the API
reports: the power state the agent last reported, the flavor's CPUs and memory, the
server's NICs (its ports' MACs, from the network service) and disks (the local root
disk and the attached volumes), when it was launched and on which kind of host. The
counters a hypervisor samples (CPU time, bytes read, packets sent) are not recorded
anywhere, so they are None, which Nova's 2.48 format allows for any field a driver
cannot fill. `views.diagnostics` shapes the record per microversion.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import Conflict

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService

#: Nova's power states (nova.compute.power_state) as its diagnostics name them.
POWER_STATES = {0: "pending", 1: "running", 3: "paused", 4: "shutdown", 6: "crashed",
                7: "suspended"}


@dataclass(frozen=True)
class Diagnostics:
    """One server's diagnostics, before shaping."""

    state: str
    #: the host's driver (fake, qemu, container): the driver's own name, before 2.48
    driver: str
    hypervisor: str | None
    uptime: int | None
    config_drive: bool
    num_cpus: int
    memory_mb: int
    macs: list[str]
    num_disks: int


def _macs(addresses: dict[str, list[dict[str, str]]]) -> list[str]:
    """The distinct MACs of a server's addresses, in their order (one per NIC)."""
    seen: list[str] = []
    for ips in addresses.values():
        for ip in ips:
            mac = ip.get("OS-EXT-IPS-MAC:mac_addr")
            if mac and mac not in seen:
                seen.append(mac)
    return seen


def _uptime(launched_at: dt.datetime | None, state: str) -> int | None:
    if launched_at is None or state != "running":
        return None
    return max(0, int((utcnow() - launched_at).total_seconds()))


def gather(svc: ComputeService, ctx: RequestContext, uuid: str) -> Diagnostics:
    """The diagnostics of a server the caller may see (404 otherwise); 409 while it
    has no host yet, as Nova's InstanceNotReady."""
    inst = svc.instance(ctx, uuid)
    if not inst.host:
        raise Conflict(f"Instance {uuid} is not ready")
    host = next((h for h in svc.services() if h.host == inst.host), None)
    resources = (host.resources or {}) if host is not None else {}
    state = POWER_STATES.get(inst.power_state, "pending")
    volumes = svc.volumes_attached([uuid]).get(uuid, [])
    return Diagnostics(
        state=state, driver=host.driver if host is not None else "",
        hypervisor=str(resources.get("hypervisor_type") or "") or None,
        uptime=_uptime(inst.launched_at, state), config_drive=bool(inst.config_drive),
        num_cpus=int(inst.flavor["vcpus"]), memory_mb=int(inst.flavor["ram"]),
        macs=_macs(svc.addresses([uuid]).get(uuid, {})),
        num_disks=(1 if inst.image_ref else 0) + len(volumes))
