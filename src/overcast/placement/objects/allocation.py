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

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from overcast.db import utcnow
from overcast.kit.errors import BadRequest, Conflict
from overcast.placement import models as m
from overcast.placement.errors import UNDEFINED, concurrent
from overcast.placement.objects.base import PlacementBase


def check_amount(rp_uuid: str, rc: str, used: Any, inv: tuple[Any, ...] | None) -> None:
    """An amount is a positive integer within the inventory's min/max unit and step."""
    if not isinstance(used, int) or isinstance(used, bool) or used < 1:
        raise BadRequest(f"JSON does not validate: the amount of {rc} must be an "
                         f"integer of at least 1.")
    if inv is None:
        raise BadRequest(f"Unable to allocate inventory: Inventory for '{rc}' on "
                         f"resource provider '{rp_uuid}' invalid.")
    min_unit, max_unit, step = inv[3], inv[4], inv[5]
    if used < min_unit or used > max_unit or used % step:
        raise BadRequest(
            f"Unable to allocate inventory: Unable to create allocation for "
            f"'{rc}' on resource provider '{rp_uuid}'. The requested amount "
            f"would violate inventory constraints (min_unit {min_unit}, "
            f"max_unit {max_unit}, step_size {step}).")


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

        This is the busiest write of the cloud (every boot, move and delete), so it
        is Core SQL in a fixed, small number of statements whatever the request
        holds: the touched providers (locked on PostgreSQL), the consumers, their
        old rows deleted, the inventories, the new rows inserted, the usage sums,
        one guarded generation bump. No ORM unit of work: its flushes cost more
        than the database's work for a single allocation.
        """
        with self.db.transaction() as session:
            # Core statements on the session's connection (same transaction): the
            # ORM session's execute path costs more than these small queries.
            s = session.connection()
            provs = self._touched_providers(s, consumers)
            by_uuid = {u: (pid, gen) for pid, u, gen in provs}
            have = {u: (g, t) for u, g, t in s.execute(select(
                m.Consumer.uuid, m.Consumer.generation, m.Consumer.consumer_type)
                .where(m.Consumer.uuid.in_(list(consumers))))}
            s.execute(delete(m.Allocation).where(m.Allocation.consumer_id.in_(list(consumers))))
            inventories = self._inventories_of(s, [pid for pid, _, _ in provs])
            rows: list[dict[str, Any]] = []
            for cid, spec in consumers.items():
                self._write_consumer(s, cid, spec, have.get(cid), by_uuid, inventories, rows)
            if rows:
                s.execute(insert(m.Allocation), rows)
            # Capacity is checked after every consumer's rows are written, so a move
            # (delete here, add there) inside one request is judged on the end state.
            self._check_capacity(s, provs, inventories)
            self._bump_all(s, provs)

    def _touched_providers(self, s: Connection, consumers: dict[str, dict[str, Any]]
                           ) -> list[tuple[int, str, int]]:
        """(id, uuid, generation) of every provider the write touches: those named
        in the request and those the consumers hold now.

        On PostgreSQL the rows are locked in id order, so the capacity check and the
        generation bump see the latest committed state and two multi-provider
        writers cannot deadlock; SQLite's BEGIN IMMEDIATE already serialises writers.
        """
        uuids = list({rp for spec in consumers.values()
                      for rp in (spec.get("allocations") or {})})
        held = select(m.Allocation.provider_id).where(
            m.Allocation.consumer_id.in_(list(consumers)))
        q = (select(m.Provider.id, m.Provider.uuid, m.Provider.generation)
             .where(or_(m.Provider.uuid.in_(uuids), m.Provider.id.in_(held)))
             .order_by(m.Provider.id))
        if not self.db.is_sqlite:
            q = q.with_for_update()
        return [(pid, u, gen) for pid, u, gen in s.execute(q)]

    @staticmethod
    def _inventories_of(s: Connection, ids: list[int]) -> dict[tuple[int, str], tuple[Any, ...]]:
        """(provider id, class) -> (total, reserved, ratio, min_unit, max_unit, step_size)."""
        i = m.Inventory
        return {(pid, rc): tuple(rest) for pid, rc, *rest in s.execute(select(
            i.provider_id, i.resource_class, i.total, i.reserved, i.allocation_ratio,
            i.min_unit, i.max_unit, i.step_size).where(i.provider_id.in_(ids)))}

    @staticmethod
    def _write_consumer(s: Connection, cid: str, spec: dict[str, Any],
                        have: tuple[int, str | None] | None,
                        by_uuid: dict[str, tuple[int, int]],
                        inventories: dict[tuple[int, str], tuple[Any, ...]],
                        rows: list[dict[str, Any]]) -> None:
        """Check one consumer's request, write its consumer row and queue its
        allocation rows (its old rows are already deleted)."""
        if "consumer_generation" in spec:
            seen = spec["consumer_generation"]
            if have is None and seen is not None:
                raise concurrent(f"consumer {cid} (expected generation {seen}, but it does "
                                 f"not exist)")
            if have is not None and seen != have[0]:
                raise concurrent(f"consumer {cid} (expected generation {seen}, have "
                                 f"{have[0]})")
        allocations: dict[str, dict[str, int]] = spec.get("allocations") or {}
        if not allocations:
            if have is not None:
                s.execute(delete(m.Consumer).where(m.Consumer.uuid == cid))
            return
        for rp_uuid, resources in allocations.items():
            if rp_uuid not in by_uuid:
                raise BadRequest(f"Unable to allocate inventory: Resource provider {rp_uuid} "
                                 f"not found.")
            pid = by_uuid[rp_uuid][0]
            for rc, used in resources.items():
                check_amount(rp_uuid, rc, used, inventories.get((pid, rc)))
                rows.append({"provider_id": pid, "consumer_id": cid, "resource_class": rc,
                             "used": used})
        if have is None:
            s.execute(insert(m.Consumer).values(
                uuid=cid, project_id=spec.get("project_id") or "",
                user_id=spec.get("user_id") or "", generation=0,
                consumer_type=spec.get("consumer_type"), created_at=utcnow()))
            return
        values: dict[str, Any] = {"generation": m.Consumer.generation + 1}
        for key in ("project_id", "user_id", "consumer_type"):
            if spec.get(key):
                values[key] = spec[key]
        s.execute(update(m.Consumer).where(m.Consumer.uuid == cid).values(**values))

    @staticmethod
    def _check_capacity(s: Connection, provs: list[tuple[int, str, int]],
                        inventories: dict[tuple[int, str], tuple[Any, ...]]) -> None:
        """Every touched provider's usage fits its capacity, on the end state, and no
        allocation is left against a class the provider has no inventory of."""
        uuid_of = {pid: u for pid, u, _ in provs}
        usage = s.execute(select(m.Allocation.provider_id, m.Allocation.resource_class,
                                 func.sum(m.Allocation.used))
                          .where(m.Allocation.provider_id.in_(list(uuid_of)))
                          .group_by(m.Allocation.provider_id, m.Allocation.resource_class)
                          .order_by(m.Allocation.provider_id, m.Allocation.resource_class))
        for pid, rc, used in usage:
            inv = inventories.get((pid, rc))
            if inv is None:
                raise BadRequest(f"Unable to allocate inventory: no inventory of {rc} on "
                                 f"resource provider {uuid_of[pid]}.")
            total, reserved, ratio = inv[0], inv[1], inv[2]
            if used > int((total - reserved) * ratio):
                raise Conflict(f"Unable to allocate inventory: Unable to create allocation "
                               f"for '{rc}' on resource provider '{uuid_of[pid]}'. "
                               f"The requested amount would exceed the capacity.",
                               code=UNDEFINED)

    @staticmethod
    def _bump_all(s: Connection, provs: list[tuple[int, str, int]]) -> None:
        """Bump every touched provider's generation in one statement, each guarded by
        the generation read at the start: a writer that moved one meanwhile wins."""
        if not provs:
            return
        guard = or_(*(and_(m.Provider.id == pid, m.Provider.generation == gen)
                      for pid, _, gen in provs))
        res = s.execute(update(m.Provider).where(guard).values(
            generation=m.Provider.generation + 1, updated_at=utcnow()))
        if res.rowcount != len(provs):  # type: ignore[attr-defined]
            raise concurrent(f"resource provider {provs[0][1]}")

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

