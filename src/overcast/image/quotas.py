"""Image quotas per project: how many images, and how many bytes of image data.

The count is checked when an image is created, the bytes when its data starts
to arrive (against the declared size) and again as it streams (against what is
left), so an upload never lands above the quota. Both refusals are 413.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.image import models as m
from overcast.kit.errors import RequestEntityTooLarge


@dataclass
class Quotas:
    #: Images a project may own (-1: unlimited).
    count: int = -1
    #: Bytes of image data a project may store (-1: unlimited).
    bytes: int = -1


def check_count(s: Session, quotas: Quotas, owner: str | None) -> None:
    if quotas.count < 0 or owner is None:
        return
    n = s.scalar(select(func.count()).select_from(m.Image).where(
        m.Image.owner == owner, m.Image.deleted.is_(False))) or 0
    if n >= quotas.count:
        raise RequestEntityTooLarge(
            f"Maximum number of images exceeded: the project has {n} of "
            f"{quotas.count} images. Delete some images to make room.")


def byte_budget(s: Session, quotas: Quotas, owner: str | None,
                declared_size: int | None) -> int | None:
    """Bytes the owner may still store (None: unlimited); 413 if the declared size
    is already more."""
    if quotas.bytes < 0:
        return None
    used = s.scalar(select(func.coalesce(func.sum(m.Image.size), 0)).where(
        m.Image.owner == owner, m.Image.deleted.is_(False))) or 0
    budget = quotas.bytes - int(used)
    if declared_size is not None and declared_size > budget:
        raise RequestEntityTooLarge(
            f"Image storage quota exceeded: {declared_size} bytes requested, "
            f"{max(budget, 0)} left. Delete some images or ask for a bigger "
            "quota.")
    return budget
