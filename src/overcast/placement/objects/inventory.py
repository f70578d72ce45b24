"""Inventories: how much of each resource class a provider has, and on what terms
(reserved, min/max unit, step size, allocation ratio).

Replacing or shrinking an inventory never leaves allocations above the new
capacity, nor removes a class still in use (409 `placement.inventory.inuse`).
`set_inventory` is the agents' form: it retries lost generation races and does
nothing when the inventory already is what the host reports.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from overcast.kit.errors import BadRequest, Conflict, NotFound
from overcast.placement import models as m
from overcast.placement.errors import CONCURRENT, INVENTORY_INUSE, UNDEFINED, concurrent
from overcast.placement.objects.base import (
    INV_DEFAULTS,
    PlacementBase,
    allocated,
    bump,
    names,
    raw,
    timestamp,
)
from overcast.placement.objects.resource_class import (
    STANDARD_SET,
    check_classes,
    check_classes_known,
)

#: An inventory's columns besides its provider and class, as `normalise_inventory` orders them.
INV_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


class Inventories(PlacementBase):
    def inventories(self, uuid: str) -> tuple[int, dict[str, dict[str, Any]]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            return p.generation, {i.resource_class: self._inv_view(i) for i in s.scalars(
                select(m.Inventory).where(m.Inventory.provider_id == p.id))}

    @staticmethod
    def _inv_view(i: m.Inventory) -> dict[str, Any]:
        return {"total": i.total, "reserved": i.reserved, "min_unit": i.min_unit,
                "max_unit": i.max_unit, "step_size": i.step_size,
                "allocation_ratio": i.allocation_ratio}

    @staticmethod
    def normalise_inventory(rc: str, data: dict[str, Any]) -> dict[str, Any]:
        inv = {**INV_DEFAULTS, **data}
        if "total" not in inv:
            raise BadRequest(f"'total' is a required property of the {rc} inventory.")
        inv.setdefault("max_unit", inv["total"])
        for key in ("total", "reserved", "min_unit", "max_unit", "step_size"):
            v = inv[key]
            if not isinstance(v, int) or isinstance(v, bool):
                raise BadRequest(f"JSON does not validate: {key} of {rc} must be an integer.")
        ratio = inv["allocation_ratio"]
        if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or ratio <= 0:
            raise BadRequest(f"JSON does not validate: allocation_ratio of {rc} must be a "
                             f"positive number.")
        if inv["total"] < 1 or inv["min_unit"] < 1 or inv["max_unit"] < 1 or \
                inv["step_size"] < 1 or inv["reserved"] < 0:
            raise BadRequest(f"JSON does not validate: invalid values in the {rc} inventory.")
        if inv["reserved"] > inv["total"]:
            raise BadRequest(f"Unable to update inventory for resource provider: the reserved "
                             f"value of {rc} is greater than total.")
        if inv["min_unit"] > inv["max_unit"]:
            raise BadRequest(f"Unable to update inventory: min_unit of {rc} is greater than "
                             f"max_unit.")
        inv["allocation_ratio"] = float(ratio)
        return {k: inv[k] for k in ("total", "reserved", "min_unit", "max_unit", "step_size",
                                    "allocation_ratio")}

    def put_inventories(self, uuid: str, seen: int | None,
                        inventories: dict[str, dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """Replace every inventory of a provider (PUT .../inventories).

        Agents and operators write a provider's three or four classes at once, right
        after creating it, so this is a fixed handful of statements on the driver's
        cursor (`raw`): the provider (locked on PostgreSQL), unknown custom classes,
        its inventories and usage, then only the rows that change and one guarded
        generation bump.
        """
        with self.db.transaction() as session:
            s = session.connection()
            params: dict[str, Any] = {"uuid": uuid}
            sql = "SELECT id, generation FROM placement_providers WHERE uuid = :uuid"
            found = raw(s, sql if self.db.is_sqlite else sql + " FOR UPDATE", params)[0]
            if not found:
                raise NotFound(f"No resource provider with uuid {uuid} found.")
            pid, generation = found[0]
            custom = [rc for rc in inventories if rc not in STANDARD_SET]
            if custom:
                params = {}
                known = {n for (n,) in raw(
                    s, "SELECT name FROM placement_resource_classes "
                       f"WHERE name IN ({names('rc', custom, params)})", params)[0]}
                check_classes_known(inventories, known)
            clean = {rc: self.normalise_inventory(rc, d) for rc, d in inventories.items()}
            existing = {rc: dict(zip(INV_FIELDS, rest, strict=True)) for rc, *rest in raw(
                s, f"SELECT resource_class, {', '.join(INV_FIELDS)} FROM placement_inventories "
                   "WHERE provider_id = :pid", {"pid": pid})[0]}
            usage = dict(raw(s, "SELECT resource_class, SUM(used) FROM placement_allocations "
                                "WHERE provider_id = :pid GROUP BY resource_class",
                             {"pid": pid})[0]) if existing else {}
            gone = [rc for rc in existing if rc not in clean]
            for rc in gone:
                if usage.get(rc):
                    raise Conflict(f"update conflict: Inventory for '{rc}' on resource "
                                   f"provider '{uuid}' in use.", code=INVENTORY_INUSE)
            for rc, data in clean.items():
                used = int(usage.get(rc) or 0)
                cap = int((data["total"] - data["reserved"]) * data["allocation_ratio"])
                if used > cap:
                    raise Conflict(f"Unable to update inventory for resource provider {uuid}: "
                                   f"{rc} usage {used} would exceed the new capacity {cap}.",
                                   code=INVENTORY_INUSE)
            if gone:
                params = {"pid": pid}
                raw(s, "DELETE FROM placement_inventories WHERE provider_id = :pid AND "
                       f"resource_class IN ({names('rc', gone, params)})", params)
            changed = [{"pid": pid, "rc": rc, **d} for rc, d in clean.items()
                       if rc in existing and existing[rc] != d]
            if changed:
                raw(s, f"UPDATE placement_inventories SET "
                       f"{', '.join(f'{k} = :{k}' for k in INV_FIELDS)} "
                       "WHERE provider_id = :pid AND resource_class = :rc", many=changed)
            new = [{"pid": pid, "rc": rc, **d} for rc, d in clean.items() if rc not in existing]
            if new:
                raw(s, f"INSERT INTO placement_inventories (provider_id, resource_class, "
                       f"{', '.join(INV_FIELDS)}) VALUES (:pid, :rc, "
                       f"{', '.join(f':{k}' for k in INV_FIELDS)})", many=new)
            expected = generation if seen is None else seen
            count = raw(s, "UPDATE placement_providers SET generation = :new, updated_at = :now "
                           "WHERE id = :pid AND generation = :seen",
                        {"new": expected + 1, "now": timestamp(s), "pid": pid,
                         "seen": expected})[1]
            if count != 1:
                raise concurrent(f"resource provider {uuid}")
            return expected + 1, clean

    def _write_inventories(self, s: Session, p: m.Provider, existing: dict[str, m.Inventory],
                           clean: dict[str, dict[str, Any]], replace: bool) -> None:
        """Write the inventories in `clean`: the usage of every class in one query,
        the new rows in one insert (agents and operators write a provider's three
        or four classes at once)."""
        if replace:
            for rc, inv in existing.items():
                if rc not in clean:
                    s.delete(inv)
        usage = dict(s.execute(select(m.Allocation.resource_class, func.sum(m.Allocation.used))
                               .where(m.Allocation.provider_id == p.id,
                                      m.Allocation.resource_class.in_(list(clean)))
                               .group_by(m.Allocation.resource_class)).tuples().all())
        new_rows = []
        for rc, data in clean.items():
            used = int(usage.get(rc) or 0)
            cap = int((data["total"] - data["reserved"]) * data["allocation_ratio"])
            if used > cap:
                raise Conflict(f"Unable to update inventory for resource provider {p.uuid}: "
                               f"{rc} usage {used} would exceed the new capacity {cap}.",
                               code=INVENTORY_INUSE)
            row = existing.get(rc)
            if row is None:
                new_rows.append({"provider_id": p.id, "resource_class": rc, **data})
            else:
                for k, v in data.items():
                    setattr(row, k, v)
        if new_rows:
            s.execute(insert(m.Inventory), new_rows)

    def set_inventory(self, uuid: str, inventories: dict[str, dict[str, Any]]) -> None:
        """Replace a provider's inventories, retrying lost generation races (agents)."""
        for _ in range(10):
            gen, current = self.inventories(uuid)
            wanted = {rc: self.normalise_inventory(rc, d) for rc, d in inventories.items()}
            if current == wanted:
                return
            try:
                self.put_inventories(uuid, gen, inventories)
                return
            except Conflict as exc:
                if exc.code != CONCURRENT:
                    raise
        raise concurrent(f"resource provider {uuid}")

    def put_inventory(self, uuid: str, seen: int | None, rc: str,
                      data: dict[str, Any], *, create_only: bool = False) -> tuple[int, dict]:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            check_classes(s, [rc])
            existing = {i.resource_class: i for i in s.scalars(
                select(m.Inventory).where(m.Inventory.provider_id == p.id,
                                          m.Inventory.resource_class == rc))}
            if create_only and rc in existing:
                raise Conflict(f"Update conflict: inventory for {rc} already exists on "
                               f"resource provider {uuid}.", code=UNDEFINED)
            if not create_only and rc not in existing:
                raise BadRequest(f"No inventory record with resource class {rc} for resource "
                                 f"provider {uuid}.")
            clean = {rc: self.normalise_inventory(rc, data)}
            self._write_inventories(s, p, existing, clean, replace=False)
            bump(s, p, seen)
            return p.generation, clean[rc]

    def delete_inventory(self, uuid: str, rc: str, seen: int | None = None) -> None:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            inv = s.scalar(select(m.Inventory).where(m.Inventory.provider_id == p.id,
                                                     m.Inventory.resource_class == rc))
            if inv is None:
                raise NotFound(f"No inventory of class {rc} found for delete")
            if allocated(s, p.id, rc):
                raise Conflict(f"Inventory for '{rc}' on resource provider '{uuid}' in use.",
                               code=INVENTORY_INUSE)
            s.delete(inv)
            bump(s, p, seen)

    def delete_inventories(self, uuid: str) -> None:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            for inv in s.scalars(select(m.Inventory).where(m.Inventory.provider_id == p.id)):
                if allocated(s, p.id, inv.resource_class):
                    raise Conflict(f"Inventory for '{inv.resource_class}' on resource provider "
                                   f"'{uuid}' in use.", code=INVENTORY_INUSE)
                s.delete(inv)
            bump(s, p)

