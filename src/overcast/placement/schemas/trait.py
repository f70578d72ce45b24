"""Schemas of traits, after Placement's `schemas/trait.py`: the query string of
GET /traits (name, associated) and the body of PUT /resource_providers/{uuid}/traits
(trait names of 1 to 255 characters and the provider's generation). A custom
trait's name (PUT /traits/{name}) is `CUSTOM_[A-Z0-9_]+`, at most 255 long."""

from __future__ import annotations

from typing import Any

from overcast.kit.errors import BadRequest
from overcast.placement.schemas import common
from overcast.placement.schemas.common import CUSTOM_NAME, GENERATION, STRING

_PROVIDER_TRAITS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "traits": {"type": "array", "items": common.text(255, 1)},
        "resource_provider_generation": GENERATION,
    },
    "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False,
}
_LIST: dict[str, Any] = {
    "type": "object",
    "properties": {"name": STRING, "associated": {"type": "string"}},
    "additionalProperties": False,
}

PUT_PROVIDER_TRAITS = common.body(_PROVIDER_TRAITS)
LIST_QUERY = common.query(_LIST)


def associated(value: str | None) -> bool | None:
    """`?associated=` -> True, False or None (not given)."""
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise BadRequest('The query parameter "associated" only accepts "true" or "false"')
    return value.lower() == "true"


def custom_trait(name: str) -> str:
    """A custom trait's name, or Placement's 400 for it."""
    if not CUSTOM_NAME.match(name) or len(name) > 255:
        raise BadRequest(f"The trait is invalid. A valid trait must be no longer than 255 "
                         f"characters, start with the prefix \"CUSTOM_\" and use following "
                         f"characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\": {name[:300]}")
    return name
