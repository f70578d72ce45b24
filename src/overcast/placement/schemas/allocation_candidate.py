"""Schemas of the query string of GET /allocation_candidates (1.10), after
Placement's `schemas/allocation_candidate.py`: `resources` (required until 1.25),
`limit` 1.16, `required` 1.17, `member_of` 1.21, granular groups (`resources1`)
and `group_policy` 1.25, `in_tree` 1.31, named groups (`resources_gpu`) 1.33,
`root_required` 1.35, `same_subtree` 1.36. Granular groups are checked and then
ignored: overcast places the unsuffixed group only."""

from __future__ import annotations

from typing import Any

from overcast.kit.errors import BadRequest
from overcast.kit.microversion import APIVersion
from overcast.placement.errors import QUERY_MISSING_VALUE
from overcast.placement.schemas import common
from overcast.placement.schemas.common import GROUP_SUFFIX_1_25, GROUP_SUFFIX_1_33, extend

_Q: dict[str, Any] = {"type": "string"}
_1_10: dict[str, Any] = {
    "type": "object",
    "properties": {"resources": _Q},
    "required": ["resources"],
    "additionalProperties": False,
}
_1_16 = extend(_1_10, {"limit": {"type": "string", "pattern": "^[1-9][0-9]*$"}})
_1_17 = extend(_1_16, {"required": _Q})
_1_21 = extend(_1_17, {"member_of": _Q})


def _groups(suffix: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    return {f"^{kind}({suffix})?$": _Q for kind in kinds}


_1_25: dict[str, Any] = {
    "type": "object",
    "properties": {"limit": _1_16["properties"]["limit"],
                   "group_policy": {"type": "string", "enum": ["none", "isolate"]}},
    "patternProperties": _groups(GROUP_SUFFIX_1_25, ("resources", "required", "member_of")),
    "additionalProperties": False,
}
_1_31 = {**_1_25, "patternProperties": _groups(
    GROUP_SUFFIX_1_25, ("resources", "required", "member_of", "in_tree"))}
_1_33 = {**_1_31, "patternProperties": _groups(
    GROUP_SUFFIX_1_33, ("resources", "required", "member_of", "in_tree"))}
_1_35 = extend(_1_33, {"root_required": _Q})
_1_36 = extend(_1_35, {"same_subtree": _Q})

#: The query string at the newest microversion (what `@accepts` documents).
QUERY = common.query(_1_36)
QUERIES = common.versioned({
    "1.10": common.query(_1_10), "1.16": common.query(_1_16),
    "1.17": common.query(_1_17), "1.21": common.query(_1_21),
    "1.25": common.query(_1_25), "1.31": common.query(_1_31),
    "1.33": common.query(_1_33), "1.35": common.query(_1_35), "1.36": QUERY})


def terms(v: APIVersion, q: Any) -> tuple[dict[str, int], dict[str, Any]]:
    """A checked query string -> (resources, the other arguments of
    `candidates_with_summaries`)."""
    if not q.get("resources"):
        raise BadRequest("Invalid query string parameters: 'resources' is a required "
                         "property.", code=QUERY_MISSING_VALUE)
    wanted = common.resources(q["resources"])
    req, forbidden = common.required(v, q.getlist("required"))
    groups, forbidden_aggs = common.member_of(v, q.getlist("member_of"))
    raw_limit = q.get("limit")
    # Past 2**31 a limit limits nothing: no cloud has that many candidates.
    limit = None if not raw_limit else min(int(raw_limit[:12]), common.MAX_INT)
    in_tree = common.uuid(q["in_tree"], "in_tree") if q.get("in_tree") else None
    return wanted, dict(required=req, forbidden=forbidden, member_of=groups,
                        forbidden_aggs=forbidden_aggs, in_tree=in_tree, limit=limit)
