"""Image quotas per project: how many images, and how many bytes of image data;
and Glance's limits per image: extra properties, tags and members (128 each, its
image_property_quota, image_tag_quota and image_member_quota defaults).

The count is checked when an image is created, the bytes when its data starts
to arrive (against the declared size) and again as it streams (against what is
left), so an upload never lands above the quota. Every refusal is 413.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.image import models as m
from overcast.kit.errors import RequestEntityTooLarge

#: Glance's per-image limits (glance-api.conf defaults; negative: unlimited).
IMAGE_PROPERTY_QUOTA = 128
IMAGE_TAG_QUOTA = 128
IMAGE_MEMBER_QUOTA = 128


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


def check_properties(names: Iterable[str], before: Iterable[str] = ()) -> None:
    """413 when an image would hold more extra properties than Glance allows; only
    when properties are added, so an image over the limit can still shed some."""
    names = [n for n in names if not n.startswith("os_glance")]
    if IMAGE_PROPERTY_QUOTA < 0 or len(names) <= IMAGE_PROPERTY_QUOTA or \
            set(names) <= set(before):
        return
    raise RequestEntityTooLarge(
        "The limit has been exceeded on the number of allowed image properties. "
        f"Attempted: {len(names)}, Maximum: {IMAGE_PROPERTY_QUOTA}")


def check_tags(tags: list[str]) -> None:
    if 0 <= IMAGE_TAG_QUOTA < len(tags):
        raise RequestEntityTooLarge(
            "The limit has been exceeded on the number of allowed image tags. "
            f"Attempted: {len(tags)}, Maximum: "
            f"{IMAGE_TAG_QUOTA}")


def check_members(existing: int) -> None:
    if 0 <= IMAGE_MEMBER_QUOTA <= existing:
        raise RequestEntityTooLarge(
            "The limit has been exceeded on the number of allowed image members for "
            f"this image. Attempted: {existing + 1}, Maximum: {IMAGE_MEMBER_QUOTA}")
