"""The audit: what a crash can still leave behind, found and given back.

The order of operations keeps a deleted server from holding anything (its row is
marked deleted in the transaction that decides, and the scheduler gives back a
claim it made for a server deleted meanwhile). A process killed between two of
those steps can still leave a Placement allocation whose consumer is gone, or a
compute port bound to a server that no longer exists. Like Nova's
`nova-manage placement audit --delete`, this finds both and removes them, and logs
each fix; the conductor runs it at start and then periodically
(`audit_interval`).

Only compute's own consumers are touched: allocations on compute hosts' providers
whose consumer is neither a live server nor the migration consumer of one.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from dataclasses import dataclass, field

from sqlalchemy import select

from overcast.compute import models as m
from overcast.compute.hosts import provider_uuid
from overcast.compute.ports import NetworkPort, PlacementPort
from overcast.db import Database

log = logging.getLogger("overcast.compute.audit")


@dataclass
class AuditReport:
    """What one audit removed."""

    allocations: list[str] = field(default_factory=list)  # consumer uuids released
    ports_of: list[str] = field(default_factory=list)  # instance uuids whose ports went

    @property
    def fixed(self) -> int:
        return len(self.allocations) + len(self.ports_of)


def migration_consumer(uuid: str) -> str:
    """The consumer that holds a resizing server's old flavor on its source host."""
    return str(uuidlib.uuid5(uuidlib.UUID(uuid), "resize-source"))


def _live(db: Database) -> tuple[set[str], list[str]]:
    """(the consumers live servers may hold, the compute hosts)."""
    with db.session() as s:
        live = set(s.scalars(select(m.Instance.uuid).where(m.Instance.deleted.is_(False))))
        hosts = list(s.scalars(select(m.Service.host).where(
            m.Service.binary == "nova-compute")))
    consumers = live | {migration_consumer(u) for u in live}
    return consumers, hosts


def audit(db: Database, placement: PlacementPort | None, network: NetworkPort | None
          ) -> AuditReport:
    """Release allocations and compute ports that belong to no live server."""
    report = AuditReport()
    consumers, hosts = _live(db)
    if placement is not None:
        for host in hosts:
            try:
                _, allocations = placement.provider_allocations(provider_uuid(host))
            except Exception:  # noqa: BLE001 - a host without a provider has none
                continue
            for consumer in allocations:
                if consumer in consumers or consumer in report.allocations:
                    continue
                if _still_orphan(db, consumer):
                    placement.release(consumer)
                    report.allocations.append(consumer)
                    log.warning("audit: released the allocations of %s, which is no "
                                "live server (on host %s)", consumer, host)
    if network is not None:
        for device in sorted(network.compute_devices()):
            if device in consumers or not _still_orphan(db, device):
                continue
            network.release_for_instance(device)
            report.ports_of.append(device)
            log.warning("audit: released the ports of %s, which is no live server",
                        device)
    return report


def _still_orphan(db: Database, uuid: str) -> bool:
    """Checked again, one at a time: a server created since the first look is live."""
    with db.session() as s:
        row = s.scalar(select(m.Instance.deleted).where(m.Instance.uuid == uuid))
        if row is False:
            return False
        parent = s.scalars(select(m.Instance.uuid).where(m.Instance.deleted.is_(False)))
        return all(migration_consumer(p) != uuid for p in parent)
