"""Placement's domain logic: providers, inventories, traits, aggregates,
consumers and allocations, and the allocation-candidates query.

No HTTP here. Every write runs in one transaction and bumps the generation of
each provider it touches; a caller that passes the generation it saw loses a
race with `Conflict(code="placement.concurrent_update")`. Claims re-check
capacity inside the same transaction that writes them (SQLite: BEGIN
IMMEDIATE; PostgreSQL: the touched provider rows are locked FOR UPDATE), so two
claims can never both take the last unit.

Allocation candidates are computed in SQL: one query per requested resource
class finds the providers that can still fit the amount (capacity, min/max
unit, step size, usage by correlated indexed sub-queries), filtered by
forbidden traits, aggregates and tree; only those rows reach Python, which
groups them by tree. When no provider has a parent, a single joined query with
LIMIT answers directly.
"""

from __future__ import annotations

import itertools
import uuid as uuidlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import os_resource_classes
import os_traits
from sqlalchemy import and_, delete, exists, func, literal, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from overcast.db import Database, utcnow
from overcast.kit.errors import BadRequest, Conflict, NotFound
from overcast.placement import models as m

STANDARD_CLASSES: list[str] = list(os_resource_classes.STANDARDS)
STANDARD_TRAITS: set[str] = set(os_traits.get_traits())

CONCURRENT = "placement.concurrent_update"
INV_DEFAULTS = {"reserved": 0, "min_unit": 1, "step_size": 1, "allocation_ratio": 1.0}


def concurrent(what: str) -> Conflict:
    return Conflict(f"{what}: the resource provider or consumer was changed by another "
                    f"request (generation mismatch). Re-read it and retry.", code=CONCURRENT)


@dataclass
class Candidate:
    allocations: dict[str, dict[str, int]]
    root_uuid: str


@dataclass
class CandidateResult:
    candidates: list[Candidate] = field(default_factory=list)
    #: provider uuid -> summary of every provider in the candidates' trees
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)


def capacity(inv: m.Inventory) -> int:
    return int((inv.total - inv.reserved) * inv.allocation_ratio)


class PlacementService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ helpers
    def _provider(self, s: Session, uuid: str, *, lock: bool = False) -> m.Provider:
        q = select(m.Provider).where(m.Provider.uuid == uuid)
        if lock and not self.db.is_sqlite:
            q = q.with_for_update()
        p = s.scalar(q)
        if p is None:
            raise NotFound(f"No resource provider with uuid {uuid} found.")
        return p

    @staticmethod
    def _bump(s: Session, p: m.Provider, seen: int | None = None) -> None:
        """Increase a provider's generation, failing if it moved since `seen`."""
        expected = p.generation if seen is None else seen
        res = s.execute(update(m.Provider).where(
            m.Provider.id == p.id, m.Provider.generation == expected).values(
            generation=expected + 1, updated_at=utcnow()))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise concurrent(f"resource provider {p.uuid}")
        p.generation = expected + 1

    def resource_class_exists(self, s: Session, name: str) -> bool:
        return name in STANDARD_CLASSES or s.get(m.CustomResourceClass, name) is not None

    def _check_classes(self, s: Session, names: Iterable[str]) -> None:
        for n in names:
            if not self.resource_class_exists(s, n):
                raise BadRequest(f"Unknown resource class in inventory or request: {n}.",
                                 code="placement.undefined_code")

    # ---------------------------------------------------------- providers
    def create_provider(self, name: str, uuid: str | None = None,
                        parent_uuid: str | None = None) -> m.Provider:
        with self.db.transaction() as s:
            rp_uuid = uuid or str(uuidlib.uuid4())
            if s.scalar(select(m.Provider.id).where(m.Provider.uuid == rp_uuid)):
                raise Conflict(f"Conflicting resource provider uuid: {rp_uuid} already exists.",
                               code="placement.duplicate_uuid")
            if s.scalar(select(m.Provider.id).where(m.Provider.name == name)):
                raise Conflict(f"Conflicting resource provider name: {name} already exists.",
                               code="placement.duplicate_name")
            parent = None
            if parent_uuid:
                parent = s.scalar(select(m.Provider).where(m.Provider.uuid == parent_uuid))
                if parent is None:
                    raise BadRequest(f"parent provider UUID cannot be found: {parent_uuid}")
            p = m.Provider(uuid=rp_uuid, name=name, generation=0,
                           parent_id=parent.id if parent else None)
            s.add(p)
            s.flush()
            p.root_id = parent.root_id if parent else p.id
            return p

    def ensure_provider(self, uuid: str, name: str, parent_uuid: str | None = None) -> None:
        with self.db.session() as s:
            if s.scalar(select(m.Provider.id).where(m.Provider.uuid == uuid)):
                return
        try:
            self.create_provider(name, uuid, parent_uuid)
        except Conflict:
            with self.db.session() as s:
                if not s.scalar(select(m.Provider.id).where(m.Provider.uuid == uuid)):
                    raise

    def get_provider(self, uuid: str) -> dict[str, Any]:
        with self.db.session() as s:
            return self._view(s, self._provider(s, uuid))

    def _view(self, s: Session, p: m.Provider) -> dict[str, Any]:
        parent_uuid = root_uuid = None
        if p.parent_id is not None:
            parent_uuid = s.scalar(select(m.Provider.uuid).where(m.Provider.id == p.parent_id))
        root_uuid = p.uuid if p.root_id in (None, p.id) else s.scalar(
            select(m.Provider.uuid).where(m.Provider.id == p.root_id))
        return {"uuid": p.uuid, "name": p.name, "generation": p.generation,
                "parent_provider_uuid": parent_uuid, "root_provider_uuid": root_uuid}

    def list_providers_filtered(self, *, name: str | None = None, uuid: str | None = None,
                                member_of: Sequence[Sequence[str]] = (),
                                forbidden_aggs: Sequence[str] = (),
                                resources: dict[str, int] | None = None,
                                required: Sequence[str] = (), forbidden: Sequence[str] = (),
                                in_tree: str | None = None) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(m.Provider).order_by(m.Provider.id)
            if name:
                q = q.where(m.Provider.name == name)
            if uuid:
                q = q.where(m.Provider.uuid == uuid)
            if in_tree:
                root = s.scalar(select(m.Provider.root_id).where(m.Provider.uuid == in_tree))
                if root is None:
                    return []
                q = q.where(m.Provider.root_id == root)
            for group in member_of:
                q = q.where(exists().where(m.ProviderAggregate.provider_id == m.Provider.id,
                                           m.ProviderAggregate.aggregate.in_(list(group))))
            if forbidden_aggs:
                q = q.where(~exists().where(m.ProviderAggregate.provider_id == m.Provider.id,
                                            m.ProviderAggregate.aggregate.in_(
                                                list(forbidden_aggs))))
            for t in required:
                q = q.where(exists().where(m.ProviderTrait.provider_id == m.Provider.id,
                                           m.ProviderTrait.trait == t))
            if forbidden:
                q = q.where(~exists().where(m.ProviderTrait.provider_id == m.Provider.id,
                                            m.ProviderTrait.trait.in_(list(forbidden))))
            for rc, amount in (resources or {}).items():
                q = q.where(self._fits(m.Provider.id, rc, amount))
            return [self._view(s, p) for p in s.scalars(q)]

    def list_providers(self) -> list[tuple[str, str, int]]:
        with self.db.session() as s:
            return [(p.uuid, p.name, p.generation)
                    for p in s.scalars(select(m.Provider).order_by(m.Provider.id))]

    def update_provider(self, uuid: str, name: str, parent_uuid: Any = ...) -> dict[str, Any]:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            if name != p.name and s.scalar(select(m.Provider.id).where(m.Provider.name == name)):
                raise Conflict(f"Conflicting resource provider name: {name} already exists.",
                               code="placement.duplicate_name")
            p.name = name
            if parent_uuid is not ...:
                current = None if p.parent_id is None else s.scalar(
                    select(m.Provider.uuid).where(m.Provider.id == p.parent_id))
                if parent_uuid != current:
                    if parent_uuid is None:
                        raise BadRequest("Un-parenting a provider is not allowed.")
                    if current is not None:
                        raise BadRequest("Re-parenting a provider is not allowed.")
                    parent = s.scalar(select(m.Provider).where(m.Provider.uuid == parent_uuid))
                    if parent is None:
                        raise BadRequest(f"parent provider UUID cannot be found: {parent_uuid}")
                    if parent.root_id == p.root_id:
                        raise BadRequest("creating loop in the provider tree is not allowed.")
                    p.parent_id = parent.id
                    old_root = p.root_id
                    s.execute(update(m.Provider).where(m.Provider.root_id == old_root)
                              .values(root_id=parent.root_id))
            self._bump(s, p)
            s.flush()
            return self._view(s, p)

    def delete_provider(self, uuid: str) -> None:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            if s.scalar(select(func.count()).select_from(m.Allocation).where(
                    m.Allocation.provider_id == p.id)):
                raise Conflict(f"Unable to delete resource provider {uuid}: Resource provider "
                               f"has allocations.", code="placement.resource_provider.inuse")
            if s.scalar(select(func.count()).select_from(m.Provider).where(
                    m.Provider.parent_id == p.id)):
                raise Conflict(f"Unable to delete parent resource provider {uuid}: It has "
                               f"child resource providers.",
                               code="placement.resource_provider.cannot_delete_parent")
            for model in (m.Inventory, m.ProviderTrait, m.ProviderAggregate):
                s.execute(delete(model).where(model.provider_id == p.id))
            s.delete(p)

    # ------------------------------------------------------------ inventory
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

    def _used(self, s: Session, provider_id: int, rc: str) -> int:
        return int(s.scalar(select(func.coalesce(func.sum(m.Allocation.used), 0)).where(
            m.Allocation.provider_id == provider_id, m.Allocation.resource_class == rc)) or 0)

    def put_inventories(self, uuid: str, seen: int | None,
                        inventories: dict[str, dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """Replace every inventory of a provider (PUT .../inventories)."""
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            self._check_classes(s, inventories)
            clean = {rc: self.normalise_inventory(rc, d) for rc, d in inventories.items()}
            existing = {i.resource_class: i for i in s.scalars(
                select(m.Inventory).where(m.Inventory.provider_id == p.id))}
            for rc in existing:
                if rc not in clean and self._used(s, p.id, rc):
                    raise Conflict(f"update conflict: Inventory for '{rc}' on resource "
                                   f"provider '{uuid}' in use.", code="placement.inventory.inuse")
            self._write_inventories(s, p, existing, clean, replace=True)
            self._bump(s, p, seen)
            return p.generation, clean

    def _write_inventories(self, s: Session, p: m.Provider, existing: dict[str, m.Inventory],
                           clean: dict[str, dict[str, Any]], replace: bool) -> None:
        if replace:
            for rc, inv in existing.items():
                if rc not in clean:
                    s.delete(inv)
        for rc, data in clean.items():
            used = self._used(s, p.id, rc)
            cap = int((data["total"] - data["reserved"]) * data["allocation_ratio"])
            if used > cap:
                raise Conflict(f"Unable to update inventory for resource provider {p.uuid}: "
                               f"{rc} usage {used} would exceed the new capacity {cap}.",
                               code="placement.inventory.inuse")
            row = existing.get(rc)
            if row is None:
                s.add(m.Inventory(provider_id=p.id, resource_class=rc, **data))
            else:
                for k, v in data.items():
                    setattr(row, k, v)

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
            self._check_classes(s, [rc])
            existing = {i.resource_class: i for i in s.scalars(
                select(m.Inventory).where(m.Inventory.provider_id == p.id,
                                          m.Inventory.resource_class == rc))}
            if create_only and rc in existing:
                raise Conflict(f"Update conflict: inventory for {rc} already exists on "
                               f"resource provider {uuid}.", code="placement.undefined_code")
            if not create_only and rc not in existing:
                raise BadRequest(f"No inventory record with resource class {rc} for resource "
                                 f"provider {uuid}.")
            clean = {rc: self.normalise_inventory(rc, data)}
            self._write_inventories(s, p, existing, clean, replace=False)
            self._bump(s, p, seen)
            return p.generation, clean[rc]

    def delete_inventory(self, uuid: str, rc: str, seen: int | None = None) -> None:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            inv = s.scalar(select(m.Inventory).where(m.Inventory.provider_id == p.id,
                                                     m.Inventory.resource_class == rc))
            if inv is None:
                raise NotFound(f"No inventory of class {rc} found for delete")
            if self._used(s, p.id, rc):
                raise Conflict(f"Inventory for '{rc}' on resource provider '{uuid}' in use.",
                               code="placement.inventory.inuse")
            s.delete(inv)
            self._bump(s, p, seen)

    def delete_inventories(self, uuid: str) -> None:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            for inv in s.scalars(select(m.Inventory).where(m.Inventory.provider_id == p.id)):
                if self._used(s, p.id, inv.resource_class):
                    raise Conflict(f"Inventory for '{inv.resource_class}' on resource provider "
                                   f"'{uuid}' in use.", code="placement.inventory.inuse")
                s.delete(inv)
            self._bump(s, p)

    # ------------------------------------------------------- traits, aggs
    def trait_names(self, name_filter: str | None = None,
                    associated: bool | None = None) -> list[str]:
        with self.db.session() as s:
            names = set(STANDARD_TRAITS) | set(s.scalars(select(m.CustomTrait.name)))
            if associated is not None:
                used = set(s.scalars(select(m.ProviderTrait.trait).distinct()))
                names = names & used if associated else names - used
        if name_filter:
            if name_filter.startswith("in:"):
                wanted = set(name_filter[3:].split(","))
                names = names & wanted
            elif name_filter.startswith("startswith:"):
                names = {n for n in names if n.startswith(name_filter[11:])}
            else:
                raise BadRequest(f"Badly formatted name parameter. Expected name query string "
                                 f"to start with 'in:' or 'startswith:'. Got: {name_filter}")
        return sorted(names)

    def trait_exists(self, s: Session, name: str) -> bool:
        return name in STANDARD_TRAITS or s.get(m.CustomTrait, name) is not None

    def create_trait(self, name: str) -> bool:
        """Create a CUSTOM_ trait; returns False if it already existed."""
        with self.db.transaction() as s:
            if self.trait_exists(s, name):
                return False
            s.add(m.CustomTrait(name=name))
            return True

    def delete_trait(self, name: str) -> None:
        with self.db.transaction() as s:
            if name in STANDARD_TRAITS:
                raise BadRequest(f"Cannot delete standard trait {name}.")
            row = s.get(m.CustomTrait, name)
            if row is None:
                raise NotFound(f"No such trait(s): {name}.")
            if s.scalar(select(func.count()).select_from(m.ProviderTrait).where(
                    m.ProviderTrait.trait == name)):
                raise Conflict(f"The trait {name} is in use by a resource provider.",
                               code="placement.undefined_code")
            s.delete(row)

    def provider_traits(self, uuid: str) -> tuple[int, list[str]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            return p.generation, sorted(s.scalars(select(m.ProviderTrait.trait).where(
                m.ProviderTrait.provider_id == p.id)))

    def put_provider_traits(self, uuid: str, seen: int | None, traits: list[str]) -> int:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            missing = [t for t in traits if not self.trait_exists(s, t)]
            if missing:
                raise BadRequest(f"No such trait(s): {', '.join(sorted(missing))}.")
            s.execute(delete(m.ProviderTrait).where(m.ProviderTrait.provider_id == p.id))
            for t in sorted(set(traits)):
                s.add(m.ProviderTrait(provider_id=p.id, trait=t))
            self._bump(s, p, seen)
            return p.generation

    def set_traits(self, uuid: str, traits: list[str]) -> None:
        for t in traits:
            if t.startswith("CUSTOM_"):
                self.create_trait(t)
        for _ in range(10):
            gen, current = self.provider_traits(uuid)
            if sorted(set(traits)) == current:
                return
            try:
                self.put_provider_traits(uuid, gen, traits)
                return
            except Conflict as exc:
                if exc.code != CONCURRENT:
                    raise
        raise concurrent(f"resource provider {uuid}")

    def provider_aggregates(self, uuid: str) -> tuple[int, list[str]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            return p.generation, sorted(s.scalars(select(m.ProviderAggregate.aggregate).where(
                m.ProviderAggregate.provider_id == p.id)))

    def put_provider_aggregates(self, uuid: str, seen: int | None, aggs: list[str]) -> int:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            s.execute(delete(m.ProviderAggregate).where(m.ProviderAggregate.provider_id == p.id))
            for a in sorted(set(aggs)):
                s.add(m.ProviderAggregate(provider_id=p.id, aggregate=a))
            self._bump(s, p, seen)
            return p.generation

    # ----------------------------------------------------- resource classes
    def resource_classes(self) -> list[str]:
        with self.db.session() as s:
            return STANDARD_CLASSES + sorted(s.scalars(select(m.CustomResourceClass.name)))

    def create_resource_class(self, name: str, *, exist_ok: bool) -> bool:
        with self.db.transaction() as s:
            if self.resource_class_exists(s, name):
                if exist_ok:
                    return False
                raise Conflict(f"Conflicting resource class already exists: {name}",
                               code="placement.duplicate_name")
            s.add(m.CustomResourceClass(name=name))
            return True

    def delete_resource_class(self, name: str) -> None:
        with self.db.transaction() as s:
            if name in STANDARD_CLASSES:
                raise BadRequest(f"Cannot delete standard resource class {name}: Cannot "
                                 f"delete standard resource class.")
            row = s.get(m.CustomResourceClass, name)
            if row is None:
                raise NotFound(f"No such resource class {name}.")
            if s.scalar(select(func.count()).select_from(m.Inventory).where(
                    m.Inventory.resource_class == name)):
                raise Conflict(f"Unable to delete resource class {name}. Class is in use in "
                               f"inventory.", code="placement.undefined_code")
            s.delete(row)

    # ---------------------------------------------------------- allocations
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
                self._bump(s, p)

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
            used = self._used(s, p.id, inv.resource_class)
            if used > capacity(inv):
                raise Conflict(f"Unable to allocate inventory: Unable to create allocation "
                               f"for '{inv.resource_class}' on resource provider '{p.uuid}'. "
                               f"The requested amount would exceed the capacity.",
                               code="placement.undefined_code")
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

    def usages(self, uuid: str) -> dict[str, int]:
        return self.provider_usages(uuid)[1]

    def provider_usages(self, uuid: str) -> tuple[int, dict[str, int]]:
        with self.db.session() as s:
            p = self._provider(s, uuid)
            out = {i.resource_class: 0 for i in s.scalars(
                select(m.Inventory).where(m.Inventory.provider_id == p.id))}
            for rc, used in s.execute(select(m.Allocation.resource_class,
                                             func.sum(m.Allocation.used))
                                      .where(m.Allocation.provider_id == p.id)
                                      .group_by(m.Allocation.resource_class)):
                out[rc] = int(used)
            return p.generation, out

    def project_usages(self, project_id: str, user_id: str | None = None,
                       consumer_type: str | None = None) -> dict[str, int]:
        with self.db.session() as s:
            q = (select(m.Allocation.resource_class, func.sum(m.Allocation.used))
                 .join(m.Consumer, m.Consumer.uuid == m.Allocation.consumer_id)
                 .where(m.Consumer.project_id == project_id)
                 .group_by(m.Allocation.resource_class))
            if user_id:
                q = q.where(m.Consumer.user_id == user_id)
            if consumer_type:
                q = q.where(m.Consumer.consumer_type == consumer_type)
            return {rc: int(n) for rc, n in s.execute(q)}

    # ------------------------------------------------ allocation candidates
    @staticmethod
    def _fits(provider_col: Any, rc: str, amount: int) -> Any:
        """SQL condition: the provider has inventory of `rc` that can still take `amount`."""
        inv = aliased(m.Inventory)
        used = (select(func.coalesce(func.sum(m.Allocation.used), 0))
                .where(m.Allocation.provider_id == inv.provider_id,
                       m.Allocation.resource_class == rc)
                .correlate(inv).scalar_subquery())
        return exists().where(
            inv.provider_id == provider_col, inv.resource_class == rc,
            (inv.total - inv.reserved) * inv.allocation_ratio >= used + amount,
            inv.min_unit <= amount, inv.max_unit >= amount,
            literal(amount) % inv.step_size == 0)

    def _provider_filters(self, q: Any, *, forbidden: Sequence[str],
                          member_of: Sequence[Sequence[str]], forbidden_aggs: Sequence[str],
                          in_tree_root: int | None) -> Any:
        if forbidden:
            q = q.where(~exists().where(m.ProviderTrait.provider_id == m.Provider.id,
                                        m.ProviderTrait.trait.in_(list(forbidden))))
        for group in member_of:
            q = q.where(or_(
                exists().where(m.ProviderAggregate.provider_id == m.Provider.id,
                               m.ProviderAggregate.aggregate.in_(list(group))),
                exists().where(m.ProviderAggregate.provider_id == m.Provider.root_id,
                               m.ProviderAggregate.aggregate.in_(list(group)))))
        if forbidden_aggs:
            q = q.where(~exists().where(m.ProviderAggregate.provider_id == m.Provider.id,
                                        m.ProviderAggregate.aggregate.in_(
                                            list(forbidden_aggs))))
        if in_tree_root is not None:
            q = q.where(m.Provider.root_id == in_tree_root)
        return q

    def allocation_candidates(
        self, resources: dict[str, int], *, required: Sequence[str] = (),
        forbidden: Sequence[str] = (), member_of: Sequence[Sequence[str]] = (),
        forbidden_aggs: Sequence[str] = (), in_tree: str | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        return self.candidates_with_summaries(
            resources, required=required, forbidden=forbidden, member_of=member_of,
            forbidden_aggs=forbidden_aggs, in_tree=in_tree, limit=limit,
            summaries=False).candidates

    def candidates_with_summaries(
        self, resources: dict[str, int], *, required: Sequence[str] = (),
        forbidden: Sequence[str] = (), member_of: Sequence[Sequence[str]] = (),
        forbidden_aggs: Sequence[str] = (), in_tree: str | None = None,
        limit: int | None = None, summaries: bool = True,
    ) -> CandidateResult:
        if not resources:
            raise BadRequest("Badly formed resources parameter: at least one resource class "
                             "is required.", code="placement.query.missing_value")
        with self.db.session() as s:
            self._check_classes(s, resources)
            unknown = [t for t in [*required, *forbidden] if not self.trait_exists(s, t)]
            if unknown:
                raise BadRequest(f"No such trait(s): {', '.join(unknown)}.")
            root = None
            if in_tree:
                root = s.scalar(select(m.Provider.root_id).where(m.Provider.uuid == in_tree))
                if root is None:
                    return CandidateResult()
            nested = s.scalar(select(exists().where(m.Provider.parent_id.isnot(None))))
            if nested:
                result = self._tree_candidates(s, resources, required, forbidden, member_of,
                                               forbidden_aggs, root, limit)
            else:
                result = self._flat_candidates(s, resources, required, forbidden, member_of,
                                               forbidden_aggs, root, limit)
            if summaries:
                result.summaries = self._summaries(s, result.candidates)
            return result

    def _flat_candidates(self, s: Session, resources: dict[str, int], required: Sequence[str],
                         forbidden: Sequence[str], member_of: Sequence[Sequence[str]],
                         forbidden_aggs: Sequence[str], root: int | None,
                         limit: int | None) -> CandidateResult:
        # Written as one parameterised SQL text: building the equivalent expression
        # tree costs more than running the query at 10,000 providers.
        where: list[str] = []
        params: dict[str, Any] = {}
        for i, (rc, amount) in enumerate(resources.items()):
            params[f"rc{i}"], params[f"amt{i}"] = rc, amount
            where.append(
                f"EXISTS (SELECT 1 FROM placement_inventories i WHERE i.provider_id = p.id "
                f"AND i.resource_class = :rc{i} AND i.min_unit <= :amt{i} "
                f"AND i.max_unit >= :amt{i} AND (:amt{i} % i.step_size) = 0 "
                f"AND (i.total - i.reserved) * i.allocation_ratio >= :amt{i} + "
                f"(SELECT COALESCE(SUM(a.used), 0) FROM placement_allocations a "
                f"WHERE a.provider_id = p.id AND a.resource_class = :rc{i}))")
        for i, t in enumerate(required):
            params[f"req{i}"] = t
            where.append(f"EXISTS (SELECT 1 FROM placement_provider_traits t "
                         f"WHERE t.provider_id = p.id AND t.trait = :req{i})")
        if forbidden:
            names = ", ".join(f":forb{i}" for i in range(len(forbidden)))
            params.update({f"forb{i}": t for i, t in enumerate(forbidden)})
            where.append(f"NOT EXISTS (SELECT 1 FROM placement_provider_traits t "
                         f"WHERE t.provider_id = p.id AND t.trait IN ({names}))")
        for g, group in enumerate(member_of):
            names = ", ".join(f":mo{g}_{i}" for i in range(len(group)))
            params.update({f"mo{g}_{i}": a for i, a in enumerate(group)})
            where.append(f"EXISTS (SELECT 1 FROM placement_provider_aggregates g "
                         f"WHERE g.provider_id = p.id AND g.aggregate IN ({names}))")
        if forbidden_aggs:
            names = ", ".join(f":nmo{i}" for i in range(len(forbidden_aggs)))
            params.update({f"nmo{i}": a for i, a in enumerate(forbidden_aggs)})
            where.append(f"NOT EXISTS (SELECT 1 FROM placement_provider_aggregates g "
                         f"WHERE g.provider_id = p.id AND g.aggregate IN ({names}))")
        if root is not None:
            params["root"] = root
            where.append("p.root_id = :root")
        sql = "SELECT p.uuid FROM placement_providers p WHERE " + " AND ".join(where) + \
            " ORDER BY p.id"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        out = [Candidate(allocations={u: dict(resources)}, root_uuid=u)
               for u in s.scalars(text(sql), params)]
        return CandidateResult(candidates=out)

    def _tree_candidates(self, s: Session, resources: dict[str, int], required: Sequence[str],
                         forbidden: Sequence[str], member_of: Sequence[Sequence[str]],
                         forbidden_aggs: Sequence[str], root: int | None,
                         limit: int | None) -> CandidateResult:
        # Per class: the providers that can take the amount, grouped by tree.
        per_rc: dict[str, dict[int, list[int]]] = {}
        for rc, amount in resources.items():
            q = select(m.Provider.id, m.Provider.root_id).where(
                self._fits(m.Provider.id, rc, amount)).order_by(m.Provider.id)
            q = self._provider_filters(q, forbidden=forbidden, member_of=member_of,
                                       forbidden_aggs=forbidden_aggs, in_tree_root=root)
            groups: dict[int, list[int]] = {}
            for pid, rid in s.execute(q):
                groups.setdefault(rid, []).append(pid)
            per_rc[rc] = groups
        roots = set.intersection(*(set(g) for g in per_rc.values()))
        ids: set[int] = set()
        combos: list[tuple[int, dict[str, int]]] = []
        for rid in sorted(roots):
            options = [[(rc, pid) for pid in per_rc[rc][rid]] for rc in resources]
            for combo in itertools.product(*options):
                combos.append((rid, dict(combo)))
                ids.update(pid for _, pid in combo)
        uuids: dict[int, str] = {}
        if ids:
            uuids = {pid: u for pid, u in s.execute(select(m.Provider.id, m.Provider.uuid)
                                                    .where(m.Provider.id.in_(ids | roots)))}
        traits: dict[int, set[str]] = {}
        if required:
            for pid, t in s.execute(select(m.ProviderTrait.provider_id, m.ProviderTrait.trait)
                                    .where(m.ProviderTrait.provider_id.in_(ids))):
                traits.setdefault(pid, set()).add(t)
        out: list[Candidate] = []
        seen: set[tuple[Any, ...]] = set()
        for rid, pick in combos:
            if required:
                have = set().union(*(traits.get(pid, set()) for pid in pick.values()))
                if not set(required) <= have:
                    continue
            allocs: dict[str, dict[str, int]] = {}
            for rc, pid in pick.items():
                allocs.setdefault(uuids[pid], {})[rc] = resources[rc]
            key = tuple(sorted((k, tuple(sorted(v.items()))) for k, v in allocs.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(allocations=allocs, root_uuid=uuids[rid]))
            if limit is not None and len(out) >= limit:
                break
        return CandidateResult(candidates=out)

    def _summaries(self, s: Session, candidates: list[Candidate]) -> dict[str, dict[str, Any]]:
        # Plain column selects, not ORM objects: this runs on every candidates call.
        roots = {c.root_uuid for c in candidates}
        if not roots:
            return {}
        root_ids = select(m.Provider.id).where(m.Provider.uuid.in_(roots)).scalar_subquery()
        provs = s.execute(select(m.Provider.id, m.Provider.uuid, m.Provider.parent_id,
                                 m.Provider.root_id)
                          .where(m.Provider.root_id.in_(root_ids))).all()
        uuid_of = {pid: u for pid, u, _, _ in provs}
        out: dict[str, dict[str, Any]] = {}
        for _pid, u, parent, root in provs:
            out[u] = {"resources": {}, "traits": [],
                      "parent_provider_uuid": uuid_of.get(parent) if parent else None,
                      "root_provider_uuid": uuid_of.get(root, u) if root else u}
        pids = list(uuid_of)
        used = {(pid, rc): int(n) for pid, rc, n in s.execute(
            select(m.Allocation.provider_id, m.Allocation.resource_class,
                   func.sum(m.Allocation.used)).where(m.Allocation.provider_id.in_(pids))
            .group_by(m.Allocation.provider_id, m.Allocation.resource_class))}
        for pid, rc, total, reserved, ratio in s.execute(
                select(m.Inventory.provider_id, m.Inventory.resource_class, m.Inventory.total,
                       m.Inventory.reserved, m.Inventory.allocation_ratio)
                .where(m.Inventory.provider_id.in_(pids))):
            out[uuid_of[pid]]["resources"][rc] = {
                "capacity": int((total - reserved) * ratio), "used": used.get((pid, rc), 0)}
        for pid, t in s.execute(select(m.ProviderTrait.provider_id, m.ProviderTrait.trait)
                                .where(m.ProviderTrait.provider_id.in_(pids))):
            out[uuid_of[pid]]["traits"].append(t)
        for v in out.values():
            v["traits"].sort()
        return out

    def free(self, uuids: Iterable[str], resource_class: str) -> dict[str, float]:
        """Capacity left of one class on each provider (the scheduler's weigher input),
        in one aggregate query."""
        ids = list(uuids)
        if not ids:
            return {}
        names = ", ".join(f":u{i}" for i in range(len(ids)))
        params: dict[str, Any] = {f"u{i}": u for i, u in enumerate(ids)}
        params["rc"] = resource_class
        sql = ("SELECT p.uuid, (i.total - i.reserved) * i.allocation_ratio - "
               "COALESCE((SELECT SUM(a.used) FROM placement_allocations a "
               "WHERE a.provider_id = p.id AND a.resource_class = :rc), 0) "
               "FROM placement_providers p JOIN placement_inventories i "
               "ON i.provider_id = p.id AND i.resource_class = :rc "
               f"WHERE p.uuid IN ({names})")
        with self.db.session() as s:
            return {u: float(f) for u, f in s.execute(text(sql), params)}

    def provider_summaries(self, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self.db.session() as s:
            return self._summaries(s, [Candidate(allocations={}, root_uuid=u) for u in uuids])


def and_all(conds: list[Any]) -> Any:
    return and_(*conds) if conds else literal(True)
