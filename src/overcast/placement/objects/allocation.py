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

from sqlalchemy import exists, select
from sqlalchemy.engine import Connection

from overcast.kit.errors import BadRequest, Conflict
from overcast.placement import models as m
from overcast.placement.errors import UNDEFINED, concurrent
from overcast.placement.objects.base import PlacementBase, id_list, names, raw, timestamp


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
        is a fixed, small number of statements whatever the request holds, run on
        the driver's cursor (`raw`): the touched providers (locked on PostgreSQL),
        the consumers, their old rows deleted, the inventories, the new rows
        inserted, the usage sums, one guarded generation bump. Neither the ORM's unit
        of work nor Core's expressions: either costs more than the database's work
        for a single allocation.
        """
        with self.db.transaction() as session:
            s = session.connection()
            cids = list(consumers)
            provs = self._touched_providers(s, consumers)
            by_uuid = {u: (pid, gen) for pid, u, gen in provs}
            params: dict[str, Any] = {}
            in_cids = names("c", cids, params)
            have = {u: (g, t) for u, g, t in raw(
                s, "SELECT uuid, generation, consumer_type FROM placement_consumers "
                   f"WHERE uuid IN ({in_cids})", params)[0]}
            raw(s, f"DELETE FROM placement_allocations WHERE consumer_id IN ({in_cids})",
                params)
            inventories = self._inventories_of(s, [pid for pid, _, _ in provs])
            rows: list[dict[str, Any]] = []
            for cid, spec in consumers.items():
                self._write_consumer(s, cid, spec, have.get(cid), by_uuid, inventories, rows)
            if rows:
                raw(s, "INSERT INTO placement_allocations (provider_id, consumer_id, "
                       "resource_class, used) VALUES (:provider_id, :consumer_id, "
                       ":resource_class, :used)", many=rows)
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
        params: dict[str, Any] = {}
        uuids = names("u", {rp for spec in consumers.values()
                            for rp in (spec.get("allocations") or {})}, params)
        cids = names("c", consumers, params)
        sql = ("SELECT id, uuid, generation FROM placement_providers "
               f"WHERE uuid IN ({uuids}) OR id IN (SELECT provider_id FROM "
               f"placement_allocations WHERE consumer_id IN ({cids})) ORDER BY id")
        if not self.db.is_sqlite:
            sql += " FOR UPDATE"
        return [(pid, u, gen) for pid, u, gen in raw(s, sql, params)[0]]

    @staticmethod
    def _inventories_of(s: Connection, ids: list[int]) -> dict[tuple[int, str], tuple[Any, ...]]:
        """(provider id, class) -> (total, reserved, ratio, min_unit, max_unit, step_size)."""
        if not ids:
            return {}
        return {(pid, rc): tuple(rest) for pid, rc, *rest in raw(
            s, "SELECT provider_id, resource_class, total, reserved, allocation_ratio, "
               "min_unit, max_unit, step_size FROM placement_inventories "
               f"WHERE provider_id IN ({id_list(ids)})")[0]}

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
                raw(s, "DELETE FROM placement_consumers WHERE uuid = :uuid", {"uuid": cid})
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
            raw(s, "INSERT INTO placement_consumers (uuid, project_id, user_id, generation, "
                   "consumer_type, created_at) VALUES (:uuid, :project_id, :user_id, 0, "
                   ":consumer_type, :created_at)",
                {"uuid": cid, "project_id": spec.get("project_id") or "",
                 "user_id": spec.get("user_id") or "",
                 "consumer_type": spec.get("consumer_type"), "created_at": timestamp(s)})
            return
        sets = ["generation = generation + 1"]
        values: dict[str, Any] = {"uuid": cid}
        for key in ("project_id", "user_id", "consumer_type"):
            if spec.get(key):
                sets.append(f"{key} = :{key}")
                values[key] = spec[key]
        raw(s, f"UPDATE placement_consumers SET {', '.join(sets)} WHERE uuid = :uuid", values)

    @staticmethod
    def _check_capacity(s: Connection, provs: list[tuple[int, str, int]],
                        inventories: dict[tuple[int, str], tuple[Any, ...]]) -> None:
        """Every touched provider's usage fits its capacity, on the end state, and no
        allocation is left against a class the provider has no inventory of."""
        if not provs:
            return
        uuid_of = {pid: u for pid, u, _ in provs}
        usage = raw(s, "SELECT provider_id, resource_class, SUM(used) FROM "
                       f"placement_allocations WHERE provider_id IN ({id_list(uuid_of)}) "
                       "GROUP BY provider_id, resource_class "
                       "ORDER BY provider_id, resource_class")[0]
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
        params: dict[str, Any] = {"now": timestamp(s)}
        guard = []
        for i, (pid, _, gen) in enumerate(provs):
            params[f"id{i}"], params[f"g{i}"] = pid, gen
            guard.append(f"(id = :id{i} AND generation = :g{i})")
        _, count = raw(s, "UPDATE placement_providers SET generation = generation + 1, "
                          f"updated_at = :now WHERE {' OR '.join(guard)}", params)
        if count != len(provs):
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

