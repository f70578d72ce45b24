"""Schema of POST /resource_classes (1.2), after Placement's
`schemas/resource_class.py`: a custom class's name, `CUSTOM_[A-Z0-9_]+`, at most
255 characters. PUT /resource_classes/{name} (1.7) takes its name from the path,
held to the same rule."""

from __future__ import annotations

from typing import Any

from overcast.kit.errors import BadRequest
from overcast.placement.schemas import common
from overcast.placement.schemas.common import CUSTOM_NAME, CUSTOM_PATTERN

_POST: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": CUSTOM_PATTERN, "maxLength": 255}},
    "required": ["name"],
    "additionalProperties": False,
}

POST = common.body(_POST)


def custom_class(name: str) -> str:
    """A custom class's name from a path, or Placement's 400 for it."""
    if not CUSTOM_NAME.match(name) or len(name) > 255:
        raise BadRequest(f"JSON does not validate: {name[:64]!r} does not match "
                         f"'{CUSTOM_PATTERN}'")
    return name
