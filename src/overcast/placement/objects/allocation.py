"""Allocations: what each consumer holds on which providers, written atomically.

`set_allocations` writes one or more consumers in one transaction: it locks the
providers involved (PostgreSQL, in id order), replaces each consumer's rows,
then checks every touched provider's capacity on the end state, so a move
(delete here, add there) inside one request is judged as a whole, and bumps
their generations. Two claims can never both take the last unit. A consumer's
own generation (1.28) guards against a writer that read it before another did.
`claim`, `replace_allocations`, `move_allocations` and `release` are the forms
the scheduler and compute use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from overcast.kit.errors import BadRequest, Conflict
from overcast.placement import models as m
from overcast.placement.errors import UNDEFINED, concurrent
from overcast.placement.objects.base import PlacementBase, allocated, bump, capacity


class Allocations(PlacementBase):
    def get_allocations(self, consumer_uuid: str) -> dict[str, dict[str, int]]:
        return self.consumer_allocations(consumer_uuid)[0]

    def consumer_allocations(self, consumer_uuid: str) -> tuple[
            dict[str, dict[str, int]], m.Consumer | None, dict[str, int]]:
        with self.db.session() as s:
            rows = s.execute(select(m.Provider.uuid, m.Provider.generation,
                                    m.Allocation.resource_class, m.Allocation.used)
                             .join(m.Provider, m.Provider.id == m.Allocation.provider_id)
                             .where(m.Allocation.consumer_id == consumer_uuid)).all()
            out: dict[str, dict[str, int]] = {}
            gens: dict[str, int] = {}
            for rp, gen, rc, used in rows:
                out.setdefault(rp, {})[rc] = used
                gens[rp] = gen
            consumer = s.get(m.Consumer, consumer_uuid)
            return out, consumer, gens

    def provider_allocations(self, uuid: str) -> tuple[int, dict[str, dict[str, int]]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            out: dict[str, dict[str, int]] = {}
            for a in s.scalars(select(m.Allocation).where(m.Allocation.provider_id == p.id)):
                out.setdefault(a.consumer_id, {})[a.resource_class] = a.used
            return p.generation, out

    def set_allocations(self, consumers: dict[str, dict[str, Any]]) -> None:
        """Write the allocations of one or more consumers atomically.

        `consumers` maps consumer uuid -> {"allocations": {rp: {rc: n}},
        "project_id", "user_id", "consumer_generation" (None = new consumer,
        missing key = don't check), "consumer_type"}. Empty allocations delete.
        """
        with self.db.transaction() as s:
            touched: dict[int, m.Provider] = {}
            self._lock_providers(s, consumers)
            for cid, spec in consumers.items():
                self._write_consumer(s, cid, spec, touched)
            # Capacity is checked after every consumer's rows are written, so a move
            # (delete here, add there) inside one request is judged on the end state.
            for p in touched.values():
                self._check_provider_capacity(s, p)
                bump(s, p)

    def _lock_providers(self, s: Session, consumers: dict[str, dict[str, Any]]) -> None:
        """Lock every provider the write touches, in id order (PostgreSQL).

        Taking the row locks before reading usage makes the capacity check and
        the generation bump see the latest committed state; the fixed order
        keeps two multi-provider writers from deadlocking. SQLite needs none of
        this: BEGIN IMMEDIATE already serialises writers.
        """
        if self.db.is_sqlite:
            return
        uuids = {rp for spec in consumers.values() for rp in (spec.get("allocations") or {})}
        ids = set(s.scalars(select(m.Allocation.provider_id).where(
            m.Allocation.consumer_id.in_(list(consumers)))))
        q = select(m.Provider).where(or_(m.Provider.uuid.in_(uuids), m.Provider.id.in_(ids)))
        s.execute(q.order_by(m.Provider.id).with_for_update()
                  .execution_options(populate_existing=True)).all()

    def _write_consumer(self, s: Session, cid: str, spec: dict[str, Any],
                        touched: dict[int, m.Provider]) -> None:
        consumer = s.get(m.Consumer, cid)
        if "consumer_generation" in spec:
            seen = spec["consumer_generation"]
            if consumer is None and seen is not None:
                raise concurrent(f"consumer {cid} (expected generation {seen}, but it does "
                                 f"not exist)")
            if consumer is not None and seen != consumer.generation:
                raise concurrent(f"consumer {cid} (expected generation {seen}, have "
                                 f"{consumer.generation})")
        allocations: dict[str, dict[str, int]] = spec.get("allocations") or {}
        for row in s.scalars(select(m.Allocation).where(m.Allocation.consumer_id == cid)):
            if row.provider_id not in touched:
                touched[row.provider_id] = s.get(m.Provider, row.provider_id)  # type: ignore
            s.delete(row)
        s.flush()
        if not allocations:
            if consumer is not None:
                s.delete(consumer)
            return
        if consumer is None:
            consumer = m.Consumer(uuid=cid, project_id=spec.get("project_id") or "",
                                  user_id=spec.get("user_id") or "", generation=0,
                                  consumer_type=spec.get("consumer_type"))
            s.add(consumer)
        else:
            if spec.get("project_id"):
                consumer.project_id = spec["project_id"]
            if spec.get("user_id"):
                consumer.user_id = spec["user_id"]
            if spec.get("consumer_type"):
                consumer.consumer_type = spec["consumer_type"]
            consumer.generation += 1
        for rp_uuid, resources in allocations.items():
            p = s.scalar(select(m.Provider).where(m.Provider.uuid == rp_uuid))
            if p is None:
                raise BadRequest(f"Unable to allocate inventory: Resource provider {rp_uuid} "
                                 f"not found.")
            touched.setdefault(p.id, p)
            for rc, used in resources.items():
                if not isinstance(used, int) or isinstance(used, bool) or used < 1:
                    raise BadRequest(f"JSON does not validate: the amount of {rc} must be an "
                                     f"integer of at least 1.")
                inv = s.scalar(select(m.Inventory).where(m.Inventory.provider_id == p.id,
                                                         m.Inventory.resource_class == rc))
                if inv is None:
                    raise BadRequest(f"Unable to allocate inventory: Inventory for '{rc}' on "
                                     f"resource provider '{rp_uuid}' invalid.")
                if used < inv.min_unit or used > inv.max_unit or used % inv.step_size:
                    raise BadRequest(
                        f"Unable to allocate inventory: Unable to create allocation for "
                        f"'{rc}' on resource provider '{rp_uuid}'. The requested amount "
                        f"would violate inventory constraints (min_unit {inv.min_unit}, "
                        f"max_unit {inv.max_unit}, step_size {inv.step_size}).")
                s.add(m.Allocation(provider_id=p.id, consumer_id=cid, resource_class=rc,
                                   used=used))
        s.flush()

    def _check_provider_capacity(self, s: Session, p: m.Provider) -> None:
        for inv in s.scalars(select(m.Inventory).where(m.Inventory.provider_id == p.id)):
            used = allocated(s, p.id, inv.resource_class)
            if used > capacity(inv):
                raise Conflict(f"Unable to allocate inventory: Unable to create allocation "
                               f"for '{inv.resource_class}' on resource provider '{p.uuid}'. "
                               f"The requested amount would exceed the capacity.",
                               code=UNDEFINED)
        # Allocations against classes with no inventory left behind are invalid too.
        stray = s.scalar(select(m.Allocation.resource_class).where(
            m.Allocation.provider_id == p.id,
            ~exists().where(m.Inventory.provider_id == p.id,
                            m.Inventory.resource_class == m.Allocation.resource_class)))
        if stray:
            raise BadRequest(f"Unable to allocate inventory: no inventory of {stray} on "
                             f"resource provider {p.uuid}.")

    def claim(self, consumer_uuid: str, allocations: dict[str, dict[str, int]], *,
              project_id: str, user_id: str, consumer_generation: int | None = None) -> None:
        """Atomically allocate for a new consumer (None generation) or an existing one."""
        self.set_allocations({consumer_uuid: {
            "allocations": allocations, "project_id": project_id, "user_id": user_id,
            "consumer_generation": consumer_generation}})

    def replace_allocations(self, consumer_uuid: str, allocations: dict[str, dict[str, int]],
                            *, project_id: str, user_id: str) -> None:
        """Swap a consumer's allocations in one transaction (resize, migration)."""
        self.set_allocations({consumer_uuid: {
            "allocations": allocations, "project_id": project_id, "user_id": user_id}})

    def move_allocations(self, source: str, target: str, *, project_id: str,
                         user_id: str) -> None:
        """Move `source`'s allocations to consumer `target` (resize confirm/revert)."""
        allocs = self.get_allocations(source)
        self.set_allocations({source: {"allocations": {}},
                              target: {"allocations": allocs, "project_id": project_id,
                                       "user_id": user_id}})

    def release(self, consumer_uuid: str) -> None:
        # Callers release defensively (before a claim, on every failure path): look
        # before taking the write lock, which a no-op would hold for nothing.
        with self.db.session() as s:
            held = s.scalar(select(exists().where(m.Allocation.consumer_id == consumer_uuid))) \
                or s.get(m.Consumer, consumer_uuid) is not None
        if held:
            self.set_allocations({consumer_uuid: {"allocations": {}}})

