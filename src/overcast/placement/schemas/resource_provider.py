"""Schemas of /resource_providers: the create and update bodies (a parent from
1.14) and the list's query string (member_of 1.3, resources 1.4, in_tree 1.14,
required 1.18), after Placement's `schemas/resource_provider.py`."""

from __future__ import annotations

from typing import Any

from overcast.kit.microversion import APIVersion
from overcast.placement.schemas import common
from overcast.placement.schemas.common import STRING, UUID, extend, text

# Placement allows any name of at most 200 characters; an empty one is refused too.
_POST: dict[str, Any] = {
    "type": "object",
    "properties": {"name": text(200, 1), "uuid": UUID},
    "required": ["name"],
    "additionalProperties": False,
}
_PARENT = {"anyOf": [UUID, {"type": "null"}]}
_POST_1_14 = extend(_POST, {"parent_provider_uuid": _PARENT})


def _without_uuid(schema: dict[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in schema["properties"].items() if k != "uuid"}
    return {**schema, "properties": props}


CREATE = common.versioned({"1.0": common.body(_POST),
                           "1.14": common.body(_POST_1_14)})
UPDATE = common.versioned({"1.0": common.body(_without_uuid(_POST)),
                           "1.14": common.body(_without_uuid(_POST_1_14))})

_LIST_1_0: dict[str, Any] = {
    "type": "object",
    "properties": {"name": STRING, "uuid": UUID},
    "additionalProperties": False,
}
_LIST_1_3 = extend(_LIST_1_0, {"member_of": {"type": "string"}})
_LIST_1_4 = extend(_LIST_1_3, {"resources": {"type": "string"}})
_LIST_1_14 = extend(_LIST_1_4, {"in_tree": UUID})
_LIST_1_18 = extend(_LIST_1_14, {"required": {"type": "string"}})

#: The list's query string at the newest microversion (what `@accepts` documents).
LIST_QUERY = common.query(_LIST_1_18)
LIST_QUERIES = common.versioned({"1.0": common.query(_LIST_1_0),
                                 "1.3": common.query(_LIST_1_3),
                                 "1.4": common.query(_LIST_1_4),
                                 "1.14": common.query(_LIST_1_14),
                                 "1.18": LIST_QUERY})


def provider(body: dict[str, Any]) -> dict[str, Any]:
    """A checked POST/PUT body -> {"name", "uuid"?, "parent_uuid"?}."""
    out: dict[str, Any] = {"name": body["name"]}
    if body.get("uuid") is not None:
        out["uuid"] = common.uuid(body["uuid"], "uuid")
    if "parent_provider_uuid" in body:
        pu = body["parent_provider_uuid"]
        out["parent_uuid"] = None if pu is None else common.uuid(pu, "parent_provider_uuid")
    return out


def filters(v: APIVersion, q: Any) -> dict[str, Any]:
    """A checked query string -> `list_providers_filtered` arguments."""
    groups, forbidden_aggs = common.member_of(v, q.getlist("member_of"))
    req, forbidden = common.required(v, q.getlist("required"))
    return dict(
        name=q.get("name"), uuid=common.uuid(q["uuid"], "uuid") if q.get("uuid") else None,
        member_of=groups, forbidden_aggs=forbidden_aggs,
        resources=common.resources(q["resources"]) if q.get("resources") else None,
        required=req, forbidden=forbidden,
        in_tree=common.uuid(q["in_tree"], "in_tree") if q.get("in_tree") else None)
