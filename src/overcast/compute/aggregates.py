"""Host aggregates (`os-aggregates`): named sets of compute hosts with metadata.

As in Nova, an aggregate does two more things than group hosts:

- its `availability_zone` metadata is its hosts' zone: each member's nova-compute
  service takes the zone of its aggregates (the default zone, `nova`, once it is in
  none that has one), so `os-availability-zone`, the scheduler's zone filter and
  servers' `OS-EXT-AZ` follow; a host cannot be in two zones at once;
- it is mirrored in Placement: each member host's resource provider lists the
  aggregate's uuid among its aggregates (what `member_of` queries select on).

Errors are Nova's: a duplicate name is 409, an unknown host or aggregate 404, a host
added twice 409, deleting an aggregate that still has hosts 400.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.compute.hosts import provider_uuid
from overcast.compute.ports import PlacementPort
from overcast.db import Database, utcnow
from overcast.kit.errors import BadRequest, Conflict, NotFound

DEFAULT_ZONE = "nova"
AZ_KEY = "availability_zone"


@dataclass
class AggregateView:
    """One aggregate with its hosts and metadata, read in one session."""

    row: m.Aggregate
    hosts: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


class AggregateService:
    def __init__(self, db: Database, placement: PlacementPort | None = None) -> None:
        self.db = db
        self.placement = placement

    # ------------------------------------------------------------------ reads
    def _view(self, s: Session, agg: m.Aggregate) -> AggregateView:
        hosts = list(s.scalars(select(m.AggregateHost.host).where(
            m.AggregateHost.aggregate_id == agg.id).order_by(m.AggregateHost.host)))
        meta = {r.key: r.value for r in s.scalars(select(m.AggregateMetadata).where(
            m.AggregateMetadata.aggregate_id == agg.id))}
        return AggregateView(agg, hosts, meta)

    def _get(self, s: Session, agg_id: str | int) -> m.Aggregate:
        try:
            key = int(agg_id)
        except (TypeError, ValueError):
            raise NotFound(f"Aggregate {agg_id} could not be found.")
        agg = s.get(m.Aggregate, key) if -(2**31) <= key < 2**31 else None
        if agg is None:
            raise NotFound(f"Aggregate {agg_id} could not be found.")
        return agg

    def list_all(self) -> list[AggregateView]:
        with self.db.session() as s:
            return [self._view(s, a) for a in s.scalars(select(m.Aggregate)
                                                          .order_by(m.Aggregate.id))]

    def show(self, agg_id: str | int) -> AggregateView:
        with self.db.session() as s:
            return self._view(s, self._get(s, agg_id))

    # ----------------------------------------------------------------- writes
    def _check_name(self, s: Session, name: str, agg_id: int | None = None) -> None:
        other = s.scalar(select(m.Aggregate.id).where(m.Aggregate.name == name))
        if other is not None and other != agg_id:
            raise Conflict(f"Aggregate {name} already exists.")

    def create(self, name: str, zone: str | None) -> AggregateView:
        with self.db.transaction() as s:
            self._check_name(s, name)
            agg = m.Aggregate(uuid=str(uuidlib.uuid4()), name=name)
            s.add(agg)
            s.flush()
            if zone:
                s.add(m.AggregateMetadata(aggregate_id=agg.id, key=AZ_KEY, value=zone))
            s.flush()
            return self._view(s, agg)

    def update(self, agg_id: str, name: str | None, zone: str | None,
               zone_given: bool) -> AggregateView:
        changes: dict[str, str | None] = {AZ_KEY: zone} if zone_given else {}
        with self.db.transaction() as s:
            agg = self._get(s, agg_id)
            if name is not None:
                self._check_name(s, name, agg.id)
                agg.name = name
            agg.updated_at = utcnow()
        return self.set_metadata(agg_id, changes) if changes else self.show(agg_id)

    def delete(self, agg_id: str) -> None:
        with self.db.transaction() as s:
            agg = self._get(s, agg_id)
            if self._view(s, agg).hosts:
                raise BadRequest(f"Cannot perform action 'delete' on aggregate {agg_id}. "
                                 "Reason: Host aggregate is not empty.")
            s.delete(agg)

    def set_metadata(self, agg_id: str, changes: dict[str, str | None]) -> AggregateView:
        """Set each key (a None value removes it); a new zone moves the hosts."""
        with self.db.transaction() as s:
            agg = self._get(s, agg_id)
            view = self._view(s, agg)
            if AZ_KEY in changes and changes[AZ_KEY] != view.metadata.get(AZ_KEY):
                self._check_zone(s, agg.id, view.hosts, changes[AZ_KEY])
            for key, value in changes.items():
                s.execute(delete(m.AggregateMetadata).where(
                    m.AggregateMetadata.aggregate_id == agg.id,
                    m.AggregateMetadata.key == key))
                if value is not None:
                    s.add(m.AggregateMetadata(aggregate_id=agg.id, key=key, value=value))
            agg.updated_at = utcnow()
            s.flush()
            self._rezone(s, view.hosts)
            return self._view(s, agg)

    def add_host(self, agg_id: str, host: str) -> AggregateView:
        with self.db.transaction() as s:
            agg = self._get(s, agg_id)
            if s.scalar(select(m.Service.id).where(m.Service.host == host,
                                                   m.Service.binary == "nova-compute")) is None:
                raise NotFound(f"Compute host {host} could not be found.")
            view = self._view(s, agg)
            if host in view.hosts:
                raise Conflict(f"Aggregate {agg_id} already has host {host}.")
            if view.metadata.get(AZ_KEY):
                self._check_zone(s, agg.id, [host], view.metadata[AZ_KEY])
            s.add(m.AggregateHost(aggregate_id=agg.id, host=host))
            agg.updated_at = utcnow()
            s.flush()
            self._rezone(s, [host])
            agg_uuid = agg.uuid
        self._mirror(host, agg_uuid, True)
        return self.show(agg_id)

    def remove_host(self, agg_id: str, host: str) -> AggregateView:
        with self.db.transaction() as s:
            agg = self._get(s, agg_id)
            if host not in self._view(s, agg).hosts:
                raise NotFound(f"Aggregate {agg_id} has no host {host}.")
            s.execute(delete(m.AggregateHost).where(m.AggregateHost.aggregate_id == agg.id,
                                                    m.AggregateHost.host == host))
            agg.updated_at = utcnow()
            s.flush()
            self._rezone(s, [host])
            agg_uuid = agg.uuid
        self._mirror(host, agg_uuid, False)
        return self.show(agg_id)

    # ------------------------------------------------------------ zones, Placement
    def _zones_of(self, s: Session, host: str, skip: int | None = None) -> set[str]:
        """The zones a host's aggregates (but `skip`) give it."""
        rows = s.execute(select(m.AggregateMetadata.aggregate_id, m.AggregateMetadata.value)
                         .join(m.AggregateHost, m.AggregateHost.aggregate_id ==
                               m.AggregateMetadata.aggregate_id)
                         .where(m.AggregateHost.host == host,
                                m.AggregateMetadata.key == AZ_KEY))
        return {zone for agg_id, zone in rows if agg_id != skip}

    def _check_zone(self, s: Session, agg_id: int, hosts: list[str],
                    zone: str | None) -> None:
        """A host is in one zone: refuse a zone its other aggregates contradict."""
        for host in hosts:
            others = self._zones_of(s, host, skip=agg_id)
            if zone and others - {zone}:
                raise BadRequest(f"Cannot add host to aggregate {agg_id}. Reason: One or "
                                 f"more hosts already in availability zone(s) "
                                 f"{sorted(others)}.")

    def _rezone(self, s: Session, hosts: list[str]) -> None:
        for host in hosts:
            zones = sorted(self._zones_of(s, host))
            for svc in s.scalars(select(m.Service).where(m.Service.host == host)):
                svc.zone = zones[0] if zones else DEFAULT_ZONE

    def _mirror(self, host: str, agg_uuid: str, member: bool) -> None:
        """The host's provider in Placement lists the aggregate while it is a member
        (the provider's generation guards the write; a lost race is tried again)."""
        if self.placement is None:
            return
        rp = provider_uuid(host)
        for _ in range(5):
            try:
                generation, aggs = self.placement.provider_aggregates(rp)
                wanted = set(aggs) | {agg_uuid} if member else set(aggs) - {agg_uuid}
                if wanted == set(aggs):
                    return
                self.placement.put_provider_aggregates(rp, generation, sorted(wanted))
                return
            except NotFound:
                return  # a host with no provider yet: its first report makes one
            except Conflict:
                continue
