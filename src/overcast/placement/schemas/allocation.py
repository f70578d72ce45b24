"""Schemas of a consumer's allocations (PUT /allocations/{consumer}) and of several
consumers' at once (POST /allocations, 1.13), after Placement's
`schemas/allocation.py`: a list of {resource_provider, resources} before 1.12 and a
dict keyed by provider uuid from it; project_id and user_id required from 1.8;
empty allocations (to delete) from 1.28 with a required consumer_generation;
`mappings` from 1.34; `consumer_type` from 1.38.

One difference from Placement: `consumer_type` stays optional at 1.38 (Placement
requires it), as overcast's own callers and clients have always left it out.
"""

from __future__ import annotations

from typing import Any

from overcast.placement.schemas import common
from overcast.placement.schemas.common import (
    CONSUMER_TYPE_PATTERN,
    GENERATION,
    GROUP_SUFFIX_1_33,
    MAX_INT,
    RC_PATTERN,
    UUID,
    UUID_PATTERN,
    extend,
    text,
)

#: Resource class -> amount: at least one, each 1 to 2**31 - 1 (no inventory holds
#: more, so a larger amount could never fit).
_RESOURCES: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1, "maximum": MAX_INT}},
    "additionalProperties": False,
}
_OWNER = text(255, 1)

_LIST_1_0: dict[str, Any] = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "resource_provider": {
                        "type": "object",
                        "properties": {"uuid": UUID},
                        "required": ["uuid"],
                        "additionalProperties": False,
                    },
                    "resources": _RESOURCES,
                },
                "required": ["resource_provider", "resources"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["allocations"],
    "additionalProperties": False,
}
_LIST_1_8 = extend(_LIST_1_0, {"project_id": _OWNER, "user_id": _OWNER},
                   required=["allocations", "project_id", "user_id"])


def _by_provider(min_providers: int) -> dict[str, Any]:
    return {
        "type": "object",
        "minProperties": min_providers,
        "patternProperties": {UUID_PATTERN: {
            "type": "object",
            "properties": {"generation": GENERATION, "resources": _RESOURCES},
            "required": ["resources"],
            "additionalProperties": False,
        }},
        "additionalProperties": False,
    }


_DICT_1_12: dict[str, Any] = {
    "type": "object",
    "properties": {"allocations": _by_provider(1), "project_id": _OWNER, "user_id": _OWNER},
    "required": ["allocations", "project_id", "user_id"],
    "additionalProperties": False,
}
#: In POST /allocations an empty `allocations` removes the consumer's.
_DELETABLE = extend(_DICT_1_12, {"allocations": _by_provider(0)})
_GENERATION = {"type": ["integer", "null"], "maximum": MAX_INT}
_DICT_1_28 = extend(_DELETABLE, {"consumer_generation": _GENERATION},
                    required=[*_DELETABLE["required"], "consumer_generation"])
_MAPPINGS = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {f"^{GROUP_SUFFIX_1_33}$|^$": {
        "type": "array", "minItems": 1, "items": UUID}},
}
_DICT_1_34 = extend(_DICT_1_28, {"mappings": _MAPPINGS})
_DICT_1_38 = extend(_DICT_1_34, {"consumer_type": text(
    255, 1, pattern=CONSUMER_TYPE_PATTERN)})


def _many(one: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "minProperties": 1, "additionalProperties": False,
            "patternProperties": {UUID_PATTERN: one}}


PUT = common.versioned({
    "1.0": common.body(_LIST_1_0),
    "1.8": common.body(_LIST_1_8),
    "1.12": common.body(_DICT_1_12),
    "1.28": common.body(_DICT_1_28),
    "1.34": common.body(_DICT_1_34),
    "1.38": common.body(_DICT_1_38),
})
POST = common.versioned({
    "1.13": common.body(_many(_DELETABLE)),
    "1.28": common.body(_many(_DICT_1_28)),
    "1.34": common.body(_many(_DICT_1_34)),
    "1.38": common.body(_many(_DICT_1_38)),
})


def spec(body: dict[str, Any]) -> dict[str, Any]:
    """One consumer's checked body -> the service's consumer spec (see
    `Allocations.set_allocations`)."""
    raw = body["allocations"]
    allocs: dict[str, dict[str, int]] = {}
    if isinstance(raw, dict):
        for rp, item in raw.items():
            allocs[common.uuid(rp, "allocations")] = item["resources"]
    else:
        for item in raw:
            rp = common.uuid(item["resource_provider"]["uuid"], "resource_provider")
            allocs.setdefault(rp, {}).update(item["resources"])
    out: dict[str, Any] = {"allocations": allocs,
                           "project_id": body.get("project_id") or "",
                           "user_id": body.get("user_id") or ""}
    if "consumer_generation" in body:
        out["consumer_generation"] = body["consumer_generation"]
    if body.get("consumer_type"):
        out["consumer_type"] = body["consumer_type"]
    return out
