"""Schemas of a provider's inventories: PUT all of them, POST one, PUT one, after
Placement's `schemas/inventory.py`: totals, reservations and units are integers
of at most 2**31 - 1, the allocation ratio a number of at most the largest
single-precision float, and no other field is taken."""

from __future__ import annotations

from typing import Any

from overcast.placement.schemas import common
from overcast.placement.schemas.common import (
    GENERATION,
    MAX_INT,
    RC_PATTERN,
    SQL_SP_FLOAT_MAX,
)

_FIELDS: dict[str, Any] = {
    "total": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "reserved": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    "min_unit": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "max_unit": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "step_size": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "allocation_ratio": {"type": "number", "maximum": SQL_SP_FLOAT_MAX},
}
#: One inventory record, as in PUT .../inventories (no generation of its own).
RECORD: dict[str, Any] = {
    "type": "object",
    "properties": {"resource_provider_generation": GENERATION, **_FIELDS},
    "required": ["total"],
    "additionalProperties": False,
}
#: PUT .../inventories/{rc}: one record and the provider's generation.
_PUT_ONE = {**RECORD, "required": ["total", "resource_provider_generation"]}
#: POST .../inventories: a record naming its class (the generation is optional).
_POST = {**RECORD, "properties": {**RECORD["properties"], "resource_class": {
    "type": "string", "pattern": RC_PATTERN, "maxLength": 255}},
    "required": ["total", "resource_class"]}
#: PUT .../inventories: every class's record. Placement leaves keys that are no
#: class name to fail later; here they fail the schema (still a 400).
_PUT_ALL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_provider_generation": GENERATION,
        "inventories": {"type": "object", "patternProperties": {RC_PATTERN: RECORD},
                        "additionalProperties": False},
    },
    "required": ["resource_provider_generation", "inventories"],
    "additionalProperties": False,
}

PUT_ALL = common.body(_PUT_ALL)
PUT_ONE = common.body(_PUT_ONE)
POST = common.body(_POST)


def record(body: dict[str, Any]) -> dict[str, Any]:
    """An inventory's fields, without the generation and class that came with them."""
    return {k: v for k, v in body.items()
            if k not in ("resource_provider_generation", "resource_class")}
