"""Placement on the wire (microversions 1.0 to 1.39): the routers of `handlers/`,
mounted at /placement, and the service object they call.

The parts, under one name per resource (as openstack/placement lays them out):
`handlers/<resource>.py` the routes (parse, delegate, shape; no SQL),
`objects/<resource>.py` the domain logic and its transactions,
`schemas/<resource>.py` what requests may hold (JSON Schemas per microversion,
checked by `@accepts` before a handler runs), `views.py` what replies look like per microversion,
`policy.py` who may call (admins), `errors.py` the error codes, `versions.py`
the microversion range. `VERSIONS` is importable from here too.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from overcast.kit.web import ServiceSpec
from overcast.placement.handlers import (
    aggregate,
    allocation,
    allocation_candidate,
    inventory,
    resource_class,
    resource_provider,
    root,
    trait,
    usage,
)
from overcast.placement.service import PlacementService
from overcast.placement.versions import VERSIONS

__all__ = ["ROUTERS", "VERSIONS", "setup"]

#: Each router carries its own dependencies (the version, and admin for resources).
ROUTERS: list[APIRouter] = [part.router for part in (
    root, resource_provider, inventory, usage, trait, aggregate, resource_class, allocation,
    allocation_candidate)]


def setup(app: FastAPI) -> None:
    app.state.placement = PlacementService(app.state.db)
    app.state.specs.append(ServiceSpec(
        name="placement", type="placement", prefix="/placement", error_style="placement",
        endpoint_path="/placement", routers=ROUTERS))
