"""Schema of PUT /resource_providers/{uuid}/aggregates, after Placement's
`schemas/aggregate.py`: a bare list of distinct uuids from 1.1, an object with the
list and the provider's generation from 1.19."""

from __future__ import annotations

from typing import Any

from overcast.placement.schemas import common
from overcast.placement.schemas.common import GENERATION, UUID

_LIST: dict[str, Any] = {"type": "array", "items": UUID, "uniqueItems": True}
_WITH_GENERATION: dict[str, Any] = {
    "type": "object",
    "properties": {"aggregates": _LIST, "resource_provider_generation": GENERATION},
    "required": ["aggregates", "resource_provider_generation"],
    "additionalProperties": False,
}

PUT = common.versioned({"1.1": common.body(_LIST), "1.19": common.body(_WITH_GENERATION)})


def aggregates(body: Any) -> tuple[int | None, list[str]]:
    """A checked body -> (the generation seen, from 1.19; the aggregate uuids)."""
    if isinstance(body, dict):
        return body["resource_provider_generation"], [
            common.uuid(a, "aggregates") for a in body["aggregates"]]
    return None, [common.uuid(a, "aggregates") for a in body]
