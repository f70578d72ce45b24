"""Placement's microversions (1.0 to 1.39) and the router dependency that negotiates them.

What the versions used here change: 1.1 provider aggregates; 1.2 custom resource
classes (1.7 PUT creates one); 1.5 DELETE all inventories; 1.6 traits; 1.8
project/user on allocations; 1.9 /usages; 1.10 allocation candidates (1.12 dict
allocation requests, 1.17 traits in summaries, 1.27 every class in summaries,
1.29 tree uuids in summaries, 1.34 mappings); 1.11 provider allocations link;
1.13 POST /allocations; 1.14 nested providers; 1.19 generations on aggregates;
1.20 POST returns the provider; 1.22 forbidden traits; 1.24 several member_of;
1.28 consumer generations; 1.32 forbidden aggregates; 1.38 consumer types and
empty allocations.

Every route module mounts `VERSION` on its router, so a version out of range is
refused (406) before the handler runs; handlers read `VERSIONS.of(request)`, and a
route that starts at a microversion depends on `require("X.Y")`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.kit.microversion import APIVersion, VersionRange

VERSIONS = VersionRange("placement", APIVersion(1, 0), APIVersion(1, 39))
VERSION = Depends(VERSIONS.dependency)


def require(text: str) -> Any:
    """A route's dependency: 404 below microversion `text`, as a route that does not
    exist at that version, before its schemas are checked (Placement's
    `version_handler` picks the handler before it reads the request)."""
    if APIVersion.parse(text) > VERSIONS.max:
        raise ValueError(f"placement gate {text} is above the advertised maximum")

    async def gate(request: Request) -> None:
        VERSIONS.require(request, text)

    return Depends(gate)
