"""Resource classes: the standard ones (os-resource-classes) and CUSTOM_ ones.

A custom class is a row; a standard class is never stored and never deleted.
A class in use by an inventory cannot be deleted (409).
"""

from __future__ import annotations

from collections.abc import Iterable

import os_resource_classes
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.kit.errors import BadRequest, Conflict, NotFound
from overcast.placement import models as m
from overcast.placement.errors import DUPLICATE_NAME, UNDEFINED
from overcast.placement.objects.base import PlacementBase

STANDARD_CLASSES: list[str] = list(os_resource_classes.STANDARDS)
STANDARD_SET = frozenset(STANDARD_CLASSES)


def resource_class_exists(s: Session, name: str) -> bool:
    return name in STANDARD_SET or s.get(m.CustomResourceClass, name) is not None


def check_classes(s: Session, names: Iterable[str]) -> None:
    """400 for the first class that is neither standard nor custom."""
    for n in names:
        if not resource_class_exists(s, n):
            raise_unknown(n)


def check_classes_known(names: Iterable[str], custom: set[str]) -> None:
    """`check_classes` with the custom classes among `names` already read."""
    for n in names:
        if n not in STANDARD_SET and n not in custom:
            raise_unknown(n)


def raise_unknown(name: str) -> None:
    raise BadRequest(f"Unknown resource class in inventory or request: {name}.",
                     code=UNDEFINED)


class ResourceClasses(PlacementBase):
    def resource_class_exists(self, s: Session, name: str) -> bool:
        return resource_class_exists(s, name)

    def _check_classes(self, s: Session, names: Iterable[str]) -> None:
        check_classes(s, names)

    def resource_classes(self) -> list[str]:
        with self.db.session() as s:
            return STANDARD_CLASSES + sorted(s.scalars(select(m.CustomResourceClass.name)))

    def create_resource_class(self, name: str, *, exist_ok: bool) -> bool:
        with self.db.transaction() as s:
            if resource_class_exists(s, name):
                if exist_ok:
                    return False
                raise Conflict(f"Conflicting resource class already exists: {name}",
                               code=DUPLICATE_NAME)
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
                               f"inventory.", code=UNDEFINED)
            s.delete(row)
