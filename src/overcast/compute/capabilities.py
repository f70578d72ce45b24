"""What a compute host's driver can do, as its agent reports it in every heartbeat
(`Driver.capabilities`, kept with the host's resources), so the API refuses at once,
in Nova's words, what the server's host cannot do, instead of accepting an action
its driver would fail. A host that has not said (an agent from before capabilities
were reported) can do nothing optional.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.compute import models as m


def host_can(s: Session, host: str | None, capability: str) -> bool:
    """Whether the compute host `host` reported `capability` (False for no host)."""
    if not host:
        return False
    resources = s.scalar(select(m.Service.resources).where(
        m.Service.host == host, m.Service.binary == "nova-compute"))
    return capability in ((resources or {}).get("capabilities") or [])
