"""Resource providers: create, read, list with filters, rename, re-parent, delete.

Providers nest: each has a parent (or none) and a root, the top of its tree.
A provider may gain a parent (1.14) but never lose or change one; a provider
with allocations or children cannot be deleted (409). Names and uuids are
unique (409 with `placement.duplicate_name` / `placement.duplicate_uuid`).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from overcast.kit.errors import BadRequest, Conflict
from overcast.placement import models as m
from overcast.placement.errors import (
    CANNOT_DELETE_PARENT,
    DUPLICATE_NAME,
    DUPLICATE_UUID,
    PROVIDER_INUSE,
)
from overcast.placement.objects.base import MAX_AMOUNT, PlacementBase, bump, fits, raw, timestamp


class Providers(PlacementBase):
    def create_provider(self, name: str, uuid: str | None = None,
                        parent_uuid: str | None = None) -> dict[str, Any]:
        """Create a provider and return its view (what POST answers at 1.20).

        Three or four statements on the driver's cursor (`raw`; agents register
        hundreds at start): a look-up of a clashing uuid or name, of the parent and
        its root, the insert, the root link.
        """
        with self.db.transaction() as session:
            s = session.connection()
            rp_uuid = uuid or str(uuidlib.uuid4())
            clash = raw(s, "SELECT uuid, name FROM placement_providers "
                           "WHERE uuid = :uuid OR name = :name",
                        {"uuid": rp_uuid, "name": name})[0]
            if any(u == rp_uuid for u, _ in clash):
                raise Conflict(f"Conflicting resource provider uuid: {rp_uuid} already exists.",
                               code=DUPLICATE_UUID)
            if clash:
                raise Conflict(f"Conflicting resource provider name: {name} already exists.",
                               code=DUPLICATE_NAME)
            parent_id = root_id = root_uuid = None
            if parent_uuid:
                found = raw(s, "SELECT p.id, p.root_id, r.uuid FROM placement_providers p "
                               "LEFT JOIN placement_providers r ON r.id = p.root_id "
                               "WHERE p.uuid = :uuid", {"uuid": parent_uuid})[0]
                if not found:
                    raise BadRequest(f"parent provider UUID cannot be found: {parent_uuid}")
                parent_id, root_id, root_uuid = found[0]
            now = timestamp(s)
            pid = raw(s, "INSERT INTO placement_providers (uuid, name, generation, parent_id, "
                         "root_id, created_at, updated_at) VALUES (:uuid, :name, 0, :parent, "
                         ":root, :now, :now) RETURNING id",
                      {"uuid": rp_uuid, "name": name, "parent": parent_id, "root": root_id,
                       "now": now})[0][0][0]
            if root_id is None:
                raw(s, "UPDATE placement_providers SET root_id = :id WHERE id = :id",
                    {"id": pid})
            return {"uuid": rp_uuid, "name": name, "generation": 0,
                    "parent_provider_uuid": parent_uuid if parent_id else None,
                    "root_provider_uuid": root_uuid or rp_uuid}

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
                if amount > MAX_AMOUNT:      # more than any inventory holds: nothing fits
                    return []
                q = q.where(fits(m.Provider.id, rc, amount))
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
                               code=DUPLICATE_NAME)
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
            bump(s, p)
            s.flush()
            return self._view(s, p)

    def delete_provider(self, uuid: str) -> None:
        with self.db.transaction() as s:
            p = self._provider(s, uuid, lock=True)
            if s.scalar(select(func.count()).select_from(m.Allocation).where(
                    m.Allocation.provider_id == p.id)):
                raise Conflict(f"Unable to delete resource provider {uuid}: Resource provider "
                               f"has allocations.", code=PROVIDER_INUSE)
            if s.scalar(select(func.count()).select_from(m.Provider).where(
                    m.Provider.parent_id == p.id)):
                raise Conflict(f"Unable to delete parent resource provider {uuid}: It has "
                               f"child resource providers.",
                               code=CANNOT_DELETE_PARENT)
            for model in (m.Inventory, m.ProviderTrait, m.ProviderAggregate):
                s.execute(delete(model).where(model.provider_id == p.id))
            s.delete(p)

