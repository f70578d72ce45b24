"""Placement's routes, one module per resource under the same name as its
`objects/` module (`handlers/trait.py` and `objects/trait.py`, as
openstack/placement lays them out); `overcast.placement.api` mounts them all.

A handler declares its body and query schemas (`@accepts` with
`schemas/<resource>.py`, checked before it runs), delegates to `app.state.placement` and shapes the
reply (`views`); the router it sits on negotiates the microversion and, for
every resource, requires an admin (`policy.ADMIN`), so no handler checks either
by hand and none touches the database.
"""

from __future__ import annotations

from fastapi import Body, Request

from overcast.placement.service import PlacementService

#: A body read as raw JSON (any type): its schema says what is wrong with it.
JSON_BODY = Body(None)


def placement(request: Request) -> PlacementService:
    return request.app.state.placement  # type: ignore[no-any-return]
