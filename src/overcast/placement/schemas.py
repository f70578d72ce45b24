"""What Placement accepts: request bodies and query strings, checked and turned
into the plain values the domain service takes.

Each function raises `BadRequest` with Placement's wording (and, for query
strings, `placement.query.*` codes); what a body may hold depends on the
negotiated microversion, so the functions that care take it.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from typing import Any

from overcast.kit.errors import BadRequest
from overcast.kit.microversion import APIVersion
from overcast.placement.errors import QUERY_BAD_VALUE, QUERY_MISSING_VALUE

#: A custom trait or resource class name.
CUSTOM_NAME = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
#: Granular request groups (`resources1`, `required_gpu`) are accepted and ignored.
_GROUPED = re.compile(r"^(resources|required|member_of|in_tree)[A-Za-z0-9_-]+$")
_CANDIDATE_PARAMS = {"resources", "required", "member_of", "limit", "in_tree", "group_policy",
                     "root_required", "same_subtree"}
_PROVIDER_PARAMS = {"name", "uuid", "member_of", "resources", "in_tree", "required"}


def obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Malformed JSON: the body must be a JSON object.")
    return body


def generation(body: dict[str, Any]) -> int:
    g = body.get("resource_provider_generation")
    if not isinstance(g, int) or isinstance(g, bool):
        raise BadRequest("JSON does not validate: 'resource_provider_generation' is a "
                         "required property and must be an integer.")
    return g


def uuid(value: Any, what: str) -> str:
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"JSON does not validate: {value!r} is not a valid uuid for {what}.")


def unexpected(params: Any, allowed: set[str], grouped: bool = False) -> None:
    unknown = {k for k in params if k not in allowed
               and not (grouped and _GROUPED.match(k))}
    if unknown:
        raise BadRequest(f"Invalid query string parameters: Additional properties are not "
                         f"allowed ({', '.join(sorted(unknown))} were unexpected).")


# ------------------------------------------------------------ providers
def provider(v: APIVersion, body: Any, create: bool) -> dict[str, Any]:
    """A provider's POST/PUT body -> {"name", "uuid"?, "parent_uuid"?}."""
    b = obj(body)
    name = b.get("name")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise BadRequest("JSON does not validate: 'name' is a required property (a string of "
                         "1 to 200 characters).")
    extra = set(b) - {"name", "uuid", "parent_provider_uuid"}
    if extra or ("parent_provider_uuid" in b and not v.at_least("1.14")):
        raise BadRequest(f"JSON does not validate: Additional properties are not allowed "
                         f"({', '.join(sorted(extra or {'parent_provider_uuid'}))}).")
    out: dict[str, Any] = {"name": name}
    if create and b.get("uuid") is not None:
        out["uuid"] = uuid(b["uuid"], "uuid")
    if "parent_provider_uuid" in b:
        pu = b["parent_provider_uuid"]
        out["parent_uuid"] = None if pu is None else uuid(pu, "parent_provider_uuid")
    return out


def provider_filters(v: APIVersion, q: Any) -> dict[str, Any]:
    """GET /resource_providers's query string -> `list_providers_filtered` arguments."""
    unexpected(q, _PROVIDER_PARAMS)
    groups, forbidden_aggs = member_of(v, q.getlist("member_of"))
    req, forbidden = required(v, q.getlist("required"))
    return dict(
        name=q.get("name"), uuid=uuid(q["uuid"], "uuid") if q.get("uuid") else None,
        member_of=groups, forbidden_aggs=forbidden_aggs,
        resources=resources(q["resources"]) if q.get("resources") else None,
        required=req, forbidden=forbidden,
        in_tree=uuid(q["in_tree"], "in_tree") if q.get("in_tree") else None)


# ------------------------------------------------------------ query terms
def member_of(v: APIVersion, values: list[str]) -> tuple[list[list[str]], list[str]]:
    """`member_of` values -> (groups any of which must match, forbidden aggregates)."""
    groups: list[list[str]] = []
    forbidden: list[str] = []
    if len(values) > 1 and not v.at_least("1.24"):
        raise BadRequest("Multiple member_of parameters are not supported.")
    for raw in values:
        neg = raw.startswith("!")
        if neg and not v.at_least("1.32"):
            raise BadRequest("Forbidden member_of (!) requires microversion 1.32.")
        text = raw[1:] if neg else raw
        ids = text[3:].split(",") if text.startswith("in:") else [text]
        ids = [uuid(x, "member_of") for x in ids if x]
        if not ids:
            raise BadRequest("Badly formed member_of parameter.", code=QUERY_BAD_VALUE)
        if neg:
            forbidden.extend(ids)
        else:
            groups.append(ids)
    return groups, forbidden


def resources(raw: str) -> dict[str, int]:
    """`VCPU:2,MEMORY_MB:1024` -> {"VCPU": 2, "MEMORY_MB": 1024}."""
    out: dict[str, int] = {}
    for part in raw.split(","):
        if ":" not in part:
            raise BadRequest(f'Badly formed resources parameter. Expected resources query '
                             f'string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. '
                             f'Got: {raw}.', code=QUERY_BAD_VALUE)
        rc, amount = part.split(":", 1)
        try:
            n = int(amount)
        except ValueError:
            raise BadRequest(f"Requested resource {rc} expected positive integer amount. "
                             f"Got: {amount}.", code=QUERY_BAD_VALUE)
        if n < 1:
            raise BadRequest(f"Requested resource {rc} requires amount >= 1. Got: {n}.",
                             code=QUERY_BAD_VALUE)
        if rc in out:
            raise BadRequest(f"Badly formed resources parameter: {rc} appears twice.",
                             code=QUERY_BAD_VALUE)
        # No inventory holds more than 2**31 - 1 (Placement's maximum total): a larger
        # amount matches nothing, as in Placement, and never overflows a column.
        out[rc] = min(n, 2**31)
    return out


def required(v: APIVersion, values: list[str]) -> tuple[list[str], list[str]]:
    """`required` values -> (required traits, forbidden traits)."""
    req: list[str] = []
    forb: list[str] = []
    for raw in values:
        if raw == "[]":
            # osc-placement sends `required=[]` when no trait was asked for.
            continue
        for t in raw.split(","):
            if not t:
                raise BadRequest("Invalid query string parameters: Expected 'required' "
                                 "parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC.",
                                 code=QUERY_BAD_VALUE)
            if t.startswith("!"):
                if not v.at_least("1.22"):
                    raise BadRequest("Forbidden traits require microversion 1.22.",
                                     code=QUERY_BAD_VALUE)
                forb.append(t[1:])
            else:
                req.append(t)
    return req, forb


def candidates_query(v: APIVersion, q: Any) -> tuple[dict[str, int], dict[str, Any]]:
    """GET /allocation_candidates's query string -> (resources, the other arguments of
    `candidates_with_summaries`)."""
    unexpected(q, _CANDIDATE_PARAMS, grouped=True)
    if not q.get("resources"):
        raise BadRequest("Invalid query string parameters: 'resources' is a required "
                         "property.", code=QUERY_MISSING_VALUE)
    wanted = resources(q["resources"])
    req, forbidden = required(v, q.getlist("required"))
    groups, forbidden_aggs = member_of(v, q.getlist("member_of"))
    limit = None
    if q.get("limit"):
        try:
            limit = int(q["limit"])
            assert limit >= 1
        except (ValueError, AssertionError):
            raise BadRequest("Invalid query string parameters: limit must be a positive "
                             "integer.", code=QUERY_BAD_VALUE)
    in_tree = uuid(q["in_tree"], "in_tree") if q.get("in_tree") else None
    return wanted, dict(required=req, forbidden=forbidden, member_of=groups,
                        forbidden_aggs=forbidden_aggs, in_tree=in_tree, limit=limit)


# ------------------------------------------------------------ bodies
def inventories(body: Any) -> tuple[int, dict[str, dict[str, Any]]]:
    """PUT .../inventories -> (generation seen, class -> inventory)."""
    b = obj(body)
    invs = b.get("inventories")
    if not isinstance(invs, dict) or not all(isinstance(v, dict) for v in invs.values()):
        raise BadRequest("JSON does not validate: 'inventories' is a required property "
                         "(an object of resource class -> inventory).")
    return generation(b), invs


def inventory(body: Any) -> tuple[int, dict[str, Any]]:
    """PUT .../inventories/{rc} -> (generation seen, the inventory's fields)."""
    b = obj(body)
    data = {k: v for k, v in b.items() if k != "resource_provider_generation"}
    return generation(b), data


def new_inventory(body: Any) -> tuple[int, str, dict[str, Any]]:
    """POST .../inventories -> (generation seen, resource class, the inventory's fields)."""
    b = obj(body)
    rc = b.get("resource_class")
    if not isinstance(rc, str):
        raise BadRequest("JSON does not validate: 'resource_class' is a required property.")
    data = {k: v for k, v in b.items() if k not in ("resource_class",
                                                    "resource_provider_generation")}
    return generation(b), rc, data


def traits(body: Any) -> tuple[int, list[str]]:
    """PUT .../traits -> (generation seen, trait names)."""
    b = obj(body)
    names = b.get("traits")
    if not isinstance(names, list) or not all(isinstance(t, str) for t in names):
        raise BadRequest("JSON does not validate: 'traits' is a required property (a list "
                         "of trait names).")
    return generation(b), names


def aggregates(v: APIVersion, body: Any) -> tuple[int | None, list[str]]:
    """PUT .../aggregates -> (generation seen from 1.19, aggregate uuids)."""
    if v.at_least("1.19"):
        b = obj(body)
        aggs, seen = b.get("aggregates"), generation(b)
    else:
        aggs, seen = body, None
    if not isinstance(aggs, list):
        raise BadRequest("JSON does not validate: 'aggregates' must be a list of uuids.")
    return seen, [uuid(a, "aggregates") for a in aggs]


def allocations(v: APIVersion, body: Any, consumer: str | None) -> dict[str, Any]:
    """One consumer's allocations body -> the service's consumer spec (see
    `Allocations.set_allocations`). `consumer` is None inside POST /allocations."""
    b = obj(body)
    raw = b.get("allocations")
    allocs: dict[str, dict[str, int]] = {}
    if v.at_least("1.12"):
        if not isinstance(raw, dict):
            raise BadRequest("JSON does not validate: 'allocations' must be an object of "
                             "resource provider uuid -> {resources}.")
        for rp, item in raw.items():
            if not isinstance(item, dict) or not isinstance(item.get("resources"), dict):
                raise BadRequest(f"JSON does not validate: 'resources' is a required "
                                 f"property of the allocation on {rp}.")
            allocs[uuid(rp, "allocations")] = item["resources"]
    else:
        if not isinstance(raw, list) or (not raw and consumer is not None):
            raise BadRequest("JSON does not validate: 'allocations' must be a non-empty list.")
        for item in raw:
            try:
                rp = item["resource_provider"]["uuid"]
                res = item["resources"]
            except (KeyError, TypeError):
                raise BadRequest("JSON does not validate: each allocation needs "
                                 "resource_provider.uuid and resources.")
            allocs.setdefault(uuid(rp, "resource_provider"), {}).update(res)
    for rp, res in allocs.items():
        if not res and not v.at_least("1.38"):
            raise BadRequest(f"JSON does not validate: the resources of {rp} are empty.")
    spec: dict[str, Any] = {"allocations": allocs}
    if v.at_least("1.8"):
        for key in ("project_id", "user_id"):
            if not isinstance(b.get(key), str) or not b[key]:
                raise BadRequest(f"JSON does not validate: '{key}' is a required property.")
            spec[key] = b[key]
    else:
        spec["project_id"] = b.get("project_id") or ""
        spec["user_id"] = b.get("user_id") or ""
    if v.at_least("1.28"):
        if "consumer_generation" not in b:
            raise BadRequest("JSON does not validate: 'consumer_generation' is a required "
                             "property.")
        spec["consumer_generation"] = b["consumer_generation"]
    if v.at_least("1.38") and b.get("consumer_type"):
        spec["consumer_type"] = b["consumer_type"]
    return spec
