"""Placement's domain service: one object, `app.state.placement`, made of the
per-resource parts in `objects/`.

No HTTP here. The routes in `handlers/` call it, and so do compute's scheduler,
conductor and agents' resource reports (`ensure_provider`, `set_inventory`,
`set_traits`, `allocation_candidates`, `free`, `claim`, `release`, ...). Each
part keeps the transactions of one resource; `objects/base.py` says how writes
race (provider generations) and `objects/allocation.py` how claims never
overcommit.
"""

from __future__ import annotations

from overcast.placement.errors import CONCURRENT, concurrent
from overcast.placement.objects.aggregate import Aggregates
from overcast.placement.objects.allocation import Allocations
from overcast.placement.objects.allocation_candidate import (
    AllocationCandidates,
    Candidate,
    CandidateResult,
)
from overcast.placement.objects.base import INV_DEFAULTS, capacity
from overcast.placement.objects.inventory import Inventories
from overcast.placement.objects.resource_class import STANDARD_CLASSES, ResourceClasses
from overcast.placement.objects.resource_provider import Providers
from overcast.placement.objects.trait import STANDARD_TRAITS, Traits
from overcast.placement.objects.usage import Usages

__all__ = ["CONCURRENT", "INV_DEFAULTS", "STANDARD_CLASSES", "STANDARD_TRAITS", "Candidate",
           "CandidateResult", "PlacementService", "capacity", "concurrent"]


class PlacementService(Providers, Inventories, Usages, Traits, Aggregates, ResourceClasses,
                       Allocations, AllocationCandidates):
    """Every placement resource's domain logic over one database."""
