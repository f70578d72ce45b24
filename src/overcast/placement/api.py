"""Placement routes (microversions 1.0 to 1.39): parse, authorise, delegate, shape.

Every route negotiates the microversion first; responses are shaped for the
version asked for (e.g. parent/root uuids from 1.14, dict allocation requests
from 1.12, traits in summaries from 1.17, consumer generations from 1.28).
"""

from __future__ import annotations

import re
import uuid as uuidlib
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound
from overcast.kit.microversion import APIVersion, VersionRange
from overcast.kit.web import ServiceSpec, get_context
from overcast.placement.service import PlacementService

router = APIRouter()
VERSIONS = VersionRange("placement", APIVersion(1, 0), APIVersion(1, 39))
JSON_BODY = Body(None)
Ctx = Depends(get_context)
_NAME_RE = re.compile(r"^CUSTOM_[A-Z0-9_]+$")


def _svc(request: Request) -> PlacementService:
    return request.app.state.placement  # type: ignore[no-any-return]


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("Policy does not allow placement:* to be performed.",
                        code="placement.undefined_code")


def _ver(request: Request) -> APIVersion:
    v = getattr(request.state, "placement_version", None)
    if v is None:
        v = VERSIONS.negotiate(request)
        request.state.placement_version = v
    return v  # type: ignore[no-any-return]


def _reply(request: Request, body: Any, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    hdrs = {**VERSIONS.response_headers(_ver(request)), **(headers or {})}
    if body is None:
        return Response(status_code=status, headers=hdrs)
    return JSONResponse(body, status_code=status, headers=hdrs)


def _need(request: Request, version: str) -> None:
    if not _ver(request).at_least(version):
        raise NotFound("The resource could not be found.")


def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Malformed JSON: the body must be a JSON object.")
    return body


def _gen(body: dict[str, Any]) -> int:
    g = body.get("resource_provider_generation")
    if not isinstance(g, int) or isinstance(g, bool):
        raise BadRequest("JSON does not validate: 'resource_provider_generation' is a "
                         "required property and must be an integer.")
    return g


def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"JSON does not validate: {value!r} is not a valid uuid for {what}.")


def _base(request: Request) -> str:
    # Links are relative to the service root: osc-placement appends them to the
    # endpoint URL from the catalog.
    return ""


# ------------------------------------------------------------------ root
@router.get("")
@router.get("/")
def root(request: Request) -> Response:
    v = _ver(request)
    body = {"versions": [{"id": "v1.0", "max_version": str(VERSIONS.max),
                          "min_version": str(VERSIONS.min), "status": "CURRENT",
                          "links": [{"rel": "self", "href": ""}]}]}
    return JSONResponse(body, headers=VERSIONS.response_headers(v))


# ------------------------------------------------------- resource providers
def _rp_view(request: Request, rp: dict[str, Any]) -> dict[str, Any]:
    b = f"{_base(request)}/resource_providers/{rp['uuid']}"
    links = [{"rel": "self", "href": b}, {"rel": "inventories", "href": f"{b}/inventories"},
             {"rel": "usages", "href": f"{b}/usages"}]
    v = _ver(request)
    if v.at_least("1.1"):
        links.append({"rel": "aggregates", "href": f"{b}/aggregates"})
    if v.at_least("1.6"):
        links.append({"rel": "traits", "href": f"{b}/traits"})
    if v.at_least("1.11"):
        links.append({"rel": "allocations", "href": f"{b}/allocations"})
    out = {"uuid": rp["uuid"], "name": rp["name"], "generation": rp["generation"],
           "links": links}
    if v.at_least("1.14"):
        out["parent_provider_uuid"] = rp["parent_provider_uuid"]
        out["root_provider_uuid"] = rp["root_provider_uuid"]
    return out


def _rp_body(request: Request, body: Any, create: bool) -> dict[str, Any]:
    b = _obj(body)
    name = b.get("name")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise BadRequest("JSON does not validate: 'name' is a required property (a string of "
                         "1 to 200 characters).")
    extra = set(b) - {"name", "uuid", "parent_provider_uuid"}
    if extra or ("parent_provider_uuid" in b and not _ver(request).at_least("1.14")):
        raise BadRequest(f"JSON does not validate: Additional properties are not allowed "
                         f"({', '.join(sorted(extra or {'parent_provider_uuid'}))}).")
    out: dict[str, Any] = {"name": name}
    if create and b.get("uuid") is not None:
        out["uuid"] = _uuid(b["uuid"], "uuid")
    if "parent_provider_uuid" in b:
        pu = b["parent_provider_uuid"]
        out["parent_uuid"] = None if pu is None else _uuid(pu, "parent_provider_uuid")
    return out


@router.post("/resource_providers")
def create_rp(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    data = _rp_body(request, body, True)
    p = _svc(request).create_provider(data["name"], data.get("uuid"), data.get("parent_uuid"))
    rp = _svc(request).get_provider(p.uuid)
    loc = {"Location": f"{_base(request)}/resource_providers/{p.uuid}"}
    if _ver(request).at_least("1.20"):
        return _reply(request, _rp_view(request, rp), 200, loc)
    return _reply(request, None, 201, loc)


def _parse_member_of(request: Request, values: list[str]) -> tuple[list[list[str]], list[str]]:
    groups: list[list[str]] = []
    forbidden: list[str] = []
    if len(values) > 1 and not _ver(request).at_least("1.24"):
        raise BadRequest("Multiple member_of parameters are not supported.")
    for raw in values:
        neg = raw.startswith("!")
        if neg and not _ver(request).at_least("1.32"):
            raise BadRequest("Forbidden member_of (!) requires microversion 1.32.")
        text = raw[1:] if neg else raw
        ids = text[3:].split(",") if text.startswith("in:") else [text]
        ids = [_uuid(x, "member_of") for x in ids if x]
        if not ids:
            raise BadRequest("Badly formed member_of parameter.",
                             code="placement.query.bad_value")
        if neg:
            forbidden.extend(ids)
        else:
            groups.append(ids)
    return groups, forbidden


def _parse_resources(raw: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in raw.split(","):
        if ":" not in part:
            raise BadRequest(f'Badly formed resources parameter. Expected resources query '
                             f'string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. '
                             f'Got: {raw}.', code="placement.query.bad_value")
        rc, amount = part.split(":", 1)
        try:
            n = int(amount)
        except ValueError:
            raise BadRequest(f"Requested resource {rc} expected positive integer amount. "
                             f"Got: {amount}.", code="placement.query.bad_value")
        if n < 1:
            raise BadRequest(f"Requested resource {rc} requires amount >= 1. Got: {n}.",
                             code="placement.query.bad_value")
        if rc in out:
            raise BadRequest(f"Badly formed resources parameter: {rc} appears twice.",
                             code="placement.query.bad_value")
        out[rc] = n
    return out


def _parse_required(request: Request, values: list[str]) -> tuple[list[str], list[str]]:
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
                                 code="placement.query.bad_value")
            if t.startswith("!"):
                if not _ver(request).at_least("1.22"):
                    raise BadRequest("Forbidden traits require microversion 1.22.",
                                     code="placement.query.bad_value")
                forb.append(t[1:])
            else:
                req.append(t)
    return req, forb


@router.get("/resource_providers")
def list_rps(request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    q = request.query_params
    allowed = {"name", "uuid", "member_of", "resources", "in_tree", "required"}
    unknown = set(q) - allowed
    if unknown:
        raise BadRequest(f"Invalid query string parameters: Additional properties are not "
                         f"allowed ({', '.join(sorted(unknown))} were unexpected).")
    member_of, forbidden_aggs = _parse_member_of(request, q.getlist("member_of"))
    required, forbidden = _parse_required(request, q.getlist("required"))
    rps = _svc(request).list_providers_filtered(
        name=q.get("name"), uuid=_uuid(q["uuid"], "uuid") if q.get("uuid") else None,
        member_of=member_of, forbidden_aggs=forbidden_aggs,
        resources=_parse_resources(q["resources"]) if q.get("resources") else None,
        required=required, forbidden=forbidden,
        in_tree=_uuid(q["in_tree"], "in_tree") if q.get("in_tree") else None)
    return _reply(request, {"resource_providers": [_rp_view(request, r) for r in rps]})


@router.get("/resource_providers/{uuid}")
def get_rp(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    return _reply(request, _rp_view(request, _svc(request).get_provider(uuid)))


@router.put("/resource_providers/{uuid}")
def update_rp(uuid: str, request: Request, body: Any = JSON_BODY,
              ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    data = _rp_body(request, body, False)
    rp = _svc(request).update_provider(uuid, data["name"], data.get("parent_uuid", ...))
    return _reply(request, _rp_view(request, rp))


@router.delete("/resource_providers/{uuid}")
def delete_rp(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    _svc(request).delete_provider(uuid)
    return _reply(request, None, 204)


# ----------------------------------------------------------- inventories
@router.get("/resource_providers/{uuid}/inventories")
def get_inventories(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    gen, invs = _svc(request).inventories(uuid)
    return _reply(request, {"resource_provider_generation": gen, "inventories": invs})


@router.put("/resource_providers/{uuid}/inventories")
def put_inventories(uuid: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    b = _obj(body)
    invs = b.get("inventories")
    if not isinstance(invs, dict) or not all(isinstance(v, dict) for v in invs.values()):
        raise BadRequest("JSON does not validate: 'inventories' is a required property "
                         "(an object of resource class -> inventory).")
    gen, clean = _svc(request).put_inventories(uuid, _gen(b), invs)
    return _reply(request, {"resource_provider_generation": gen, "inventories": clean})


@router.delete("/resource_providers/{uuid}/inventories")
def delete_inventories(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.5")
    _svc(request).delete_inventories(uuid)
    return _reply(request, None, 204)


@router.post("/resource_providers/{uuid}/inventories")
def post_inventory(uuid: str, request: Request, body: Any = JSON_BODY,
                   ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    b = _obj(body)
    rc = b.get("resource_class")
    if not isinstance(rc, str):
        raise BadRequest("JSON does not validate: 'resource_class' is a required property.")
    data = {k: v for k, v in b.items() if k not in ("resource_class",
                                                    "resource_provider_generation")}
    gen, inv = _svc(request).put_inventory(uuid, _gen(b), rc, data, create_only=True)
    return _reply(request, {"resource_provider_generation": gen, "resource_class": rc, **inv},
                  201, {"Location": f"{_base(request)}/resource_providers/{uuid}/"
                                    f"inventories/{rc}"})


@router.get("/resource_providers/{uuid}/inventories/{rc}")
def get_inventory(uuid: str, rc: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    gen, invs = _svc(request).inventories(uuid)
    if rc not in invs:
        raise NotFound(f"No inventory of class {rc} for {uuid}")
    return _reply(request, {"resource_provider_generation": gen, **invs[rc]})


@router.put("/resource_providers/{uuid}/inventories/{rc}")
def put_inventory(uuid: str, rc: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    b = _obj(body)
    data = {k: v for k, v in b.items() if k != "resource_provider_generation"}
    gen, inv = _svc(request).put_inventory(uuid, _gen(b), rc, data)
    return _reply(request, {"resource_provider_generation": gen, **inv})


@router.delete("/resource_providers/{uuid}/inventories/{rc}")
def delete_inventory(uuid: str, rc: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    _svc(request).delete_inventory(uuid, rc)
    return _reply(request, None, 204)


# --------------------------------------------------------------- usages
@router.get("/resource_providers/{uuid}/usages")
def rp_usages(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    gen, usages = _svc(request).provider_usages(uuid)
    return _reply(request, {"resource_provider_generation": gen, "usages": usages})


@router.get("/usages")
def project_usages(request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.9")
    q = request.query_params
    if not q.get("project_id"):
        raise BadRequest("Invalid query string parameters: 'project_id' is a required "
                         "property.")
    usages = _svc(request).project_usages(q["project_id"], q.get("user_id"),
                                          q.get("consumer_type"))
    return _reply(request, {"usages": usages})


# ------------------------------------------------------ traits, aggregates
@router.get("/traits")
def list_traits(request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.6")
    q = request.query_params
    assoc = q.get("associated")
    associated = None if assoc is None else assoc.lower() == "true"
    return _reply(request, {"traits": _svc(request).trait_names(q.get("name"), associated)})


@router.get("/traits/{name}")
def get_trait(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.6")
    if name not in _svc(request).trait_names(f"in:{name}"):
        raise NotFound(f"No such trait(s): {name}.")
    return _reply(request, None, 204)


@router.put("/traits/{name}")
def put_trait(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.6")
    if not _NAME_RE.match(name) or len(name) > 255:
        raise BadRequest(f"The trait is invalid. A valid trait must be no longer than 255 "
                         f"characters, start with the prefix \"CUSTOM_\" and use following "
                         f"characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\": {name}")
    created = _svc(request).create_trait(name)
    return _reply(request, None, 201 if created else 204,
                  {"Location": f"{_base(request)}/traits/{name}"})


@router.delete("/traits/{name}")
def delete_trait(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.6")
    _svc(request).delete_trait(name)
    return _reply(request, None, 204)


@router.get("/resource_providers/{uuid}/traits")
def get_rp_traits(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.6")
    gen, traits = _svc(request).provider_traits(uuid)
    return _reply(request, {"resource_provider_generation": gen, "traits": traits})


@router.put("/resource_providers/{uuid}/traits")
def put_rp_traits(uuid: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.6")
    b = _obj(body)
    traits = b.get("traits")
    if not isinstance(traits, list) or not all(isinstance(t, str) for t in traits):
        raise BadRequest("JSON does not validate: 'traits' is a required property (a list "
                         "of trait names).")
    gen = _svc(request).put_provider_traits(uuid, _gen(b), traits)
    return _reply(request, {"resource_provider_generation": gen, "traits": sorted(set(traits))})


@router.delete("/resource_providers/{uuid}/traits")
def delete_rp_traits(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.6")
    gen, _ = _svc(request).provider_traits(uuid)
    _svc(request).put_provider_traits(uuid, gen, [])
    return _reply(request, None, 204)


@router.get("/resource_providers/{uuid}/aggregates")
def get_rp_aggs(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.1")
    gen, aggs = _svc(request).provider_aggregates(uuid)
    body: dict[str, Any] = {"aggregates": aggs}
    if _ver(request).at_least("1.19"):
        body["resource_provider_generation"] = gen
    return _reply(request, body)


@router.put("/resource_providers/{uuid}/aggregates")
def put_rp_aggs(uuid: str, request: Request, body: Any = JSON_BODY,
                ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.1")
    if _ver(request).at_least("1.19"):
        b = _obj(body)
        aggs, seen = b.get("aggregates"), _gen(b)
    else:
        aggs, seen = body, None
    if not isinstance(aggs, list):
        raise BadRequest("JSON does not validate: 'aggregates' must be a list of uuids.")
    aggs = [_uuid(a, "aggregates") for a in aggs]
    gen = _svc(request).put_provider_aggregates(uuid, seen, aggs)
    out: dict[str, Any] = {"aggregates": sorted(set(aggs))}
    if _ver(request).at_least("1.19"):
        out["resource_provider_generation"] = gen
    return _reply(request, out)


# ------------------------------------------------------- resource classes
@router.get("/resource_classes")
def list_rcs(request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.2")
    return _reply(request, {"resource_classes": [
        {"name": n, "links": [{"rel": "self", "href": f"{_base(request)}/resource_classes/{n}"}]}
        for n in _svc(request).resource_classes()]})


@router.post("/resource_classes")
def create_rc(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.2")
    name = _obj(body).get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise BadRequest("JSON does not validate: 'name' must match ^CUSTOM_[A-Z0-9_]+$.")
    _svc(request).create_resource_class(name, exist_ok=False)
    return _reply(request, None, 201,
                  {"Location": f"{_base(request)}/resource_classes/{name}"})


@router.get("/resource_classes/{name}")
def get_rc(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.2")
    if name not in _svc(request).resource_classes():
        raise NotFound(f"No such resource class {name}.")
    return _reply(request, {"name": name, "links": [
        {"rel": "self", "href": f"{_base(request)}/resource_classes/{name}"}]})


@router.put("/resource_classes/{name}")
def put_rc(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.7")
    if not _NAME_RE.match(name):
        raise BadRequest(f"JSON does not validate: {name!r} must match ^CUSTOM_[A-Z0-9_]+$.")
    created = _svc(request).create_resource_class(name, exist_ok=True)
    return _reply(request, None, 201 if created else 204,
                  {"Location": f"{_base(request)}/resource_classes/{name}"})


@router.delete("/resource_classes/{name}")
def delete_rc(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.2")
    _svc(request).delete_resource_class(name)
    return _reply(request, None, 204)


# ------------------------------------------------------------ allocations
def _allocations_body(request: Request, body: Any, consumer: str | None) -> dict[str, Any]:
    """One consumer's PUT body -> the service's consumer spec."""
    b = _obj(body)
    v = _ver(request)
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
            allocs[_uuid(rp, "allocations")] = item["resources"]
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
            allocs.setdefault(_uuid(rp, "resource_provider"), {}).update(res)
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


@router.get("/allocations/{consumer}")
def get_allocations(consumer: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    v = _ver(request)
    allocs, cons, gens = _svc(request).consumer_allocations(consumer)
    body: dict[str, Any] = {"allocations": {
        rp: {"generation": gens[rp], "resources": res} for rp, res in allocs.items()}}
    if v.at_least("1.12") and cons is not None:
        body["project_id"] = cons.project_id
        body["user_id"] = cons.user_id
    if v.at_least("1.28") and cons is not None:
        body["consumer_generation"] = cons.generation
    if v.at_least("1.38") and cons is not None:
        body["consumer_type"] = cons.consumer_type or "UNKNOWN"
    return _reply(request, body)


@router.put("/allocations/{consumer}")
def put_allocations(consumer: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    consumer = _uuid(consumer, "consumer")
    spec = _allocations_body(request, body, consumer)
    _svc(request).set_allocations({consumer: spec})
    return _reply(request, None, 204)


@router.post("/allocations")
def post_allocations(request: Request, body: Any = JSON_BODY,
                     ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.13")
    b = _obj(body)
    specs = {_uuid(c, "consumer"): _allocations_body(request, item, None)
             for c, item in b.items()}
    _svc(request).set_allocations(specs)
    return _reply(request, None, 204)


@router.delete("/allocations/{consumer}")
def delete_allocations(consumer: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    if not _svc(request).get_allocations(consumer):
        raise NotFound(f"No allocations for consumer '{consumer}'")
    _svc(request).release(consumer)
    return _reply(request, None, 204)


@router.get("/resource_providers/{uuid}/allocations")
def rp_allocations(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _ver(request)
    gen, allocs = _svc(request).provider_allocations(uuid)
    return _reply(request, {"resource_provider_generation": gen, "allocations": {
        c: {"resources": r} for c, r in allocs.items()}})


# --------------------------------------------------- allocation candidates
@router.get("/allocation_candidates")
def allocation_candidates(request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _need(request, "1.10")
    v = _ver(request)
    q = request.query_params
    allowed = {"resources", "required", "member_of", "limit", "in_tree", "group_policy",
               "root_required", "same_subtree"}
    unknown = {k for k in q if k not in allowed and not re.match(
        r"^(resources|required|member_of|in_tree)[A-Za-z0-9_-]+$", k)}
    if unknown:
        raise BadRequest(f"Invalid query string parameters: Additional properties are not "
                         f"allowed ({', '.join(sorted(unknown))} were unexpected).")
    if not q.get("resources"):
        raise BadRequest("Invalid query string parameters: 'resources' is a required "
                         "property.", code="placement.query.missing_value")
    resources = _parse_resources(q["resources"])
    required, forbidden = _parse_required(request, q.getlist("required"))
    member_of, forbidden_aggs = _parse_member_of(request, q.getlist("member_of"))
    limit = None
    if q.get("limit"):
        try:
            limit = int(q["limit"])
            assert limit >= 1
        except (ValueError, AssertionError):
            raise BadRequest("Invalid query string parameters: limit must be a positive "
                             "integer.", code="placement.query.bad_value")
    in_tree = _uuid(q["in_tree"], "in_tree") if q.get("in_tree") else None
    result = _svc(request).candidates_with_summaries(
        resources, required=required, forbidden=forbidden, member_of=member_of,
        forbidden_aggs=forbidden_aggs, in_tree=in_tree, limit=limit)
    requests = []
    for c in result.candidates:
        if v.at_least("1.12"):
            item: dict[str, Any] = {"allocations": {rp: {"resources": res}
                                                    for rp, res in c.allocations.items()}}
            if v.at_least("1.34"):
                item["mappings"] = {"": sorted(c.allocations)}
        else:
            item = {"allocations": [{"resource_provider": {"uuid": rp}, "resources": res}
                                    for rp, res in c.allocations.items()]}
        requests.append(item)
    summaries = {}
    for rp, s in result.summaries.items():
        entry: dict[str, Any] = {"resources": s["resources"]}
        if v.at_least("1.17"):
            entry["traits"] = s["traits"]
        if v.at_least("1.29"):
            entry["parent_provider_uuid"] = s["parent_provider_uuid"]
            entry["root_provider_uuid"] = s["root_provider_uuid"]
        if not v.at_least("1.27"):
            # before 1.27 summaries carry only the requested classes
            entry["resources"] = {rc: x for rc, x in entry["resources"].items()
                                  if rc in resources}
        summaries[rp] = entry
    return _reply(request, {"allocation_requests": requests, "provider_summaries": summaries})


# --------------------------------------------------------------- mounting
def setup(app: FastAPI) -> None:
    app.state.placement = PlacementService(app.state.db)
    app.state.specs.append(ServiceSpec(
        name="placement", type="placement", prefix="/placement", error_style="placement",
        endpoint_path="/placement", routers=[router]))
