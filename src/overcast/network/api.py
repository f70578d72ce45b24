"""Neutron v2.0 on the wire: /network/v2.0/{networks,subnets,ports,security-groups,
security-group-rules,routers,floatingips,quotas,extensions}."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound
from overcast.kit.paging import keyset_page, parse_limit
from overcast.kit.web import ServiceSpec, get_context, json_response
from overcast.network import models as m
from overcast.network.service import NetworkService

router = APIRouter()
Ctx = Depends(get_context)

EXTENSIONS = [
    ("agent", "agent", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
                                "application"),
    ("external-net", "Neutron external network", "Adds external network attribute to "
                                                 "network resource."),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP."),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute "
                                                               "to Floating IP resource"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("network-ip-availability", "Network IP Availability", "Provides IP availability data "
                                                           "for each network and subnet."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
                                               "field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical "
                                     "networks"),
    ("quotas", "Quota management support", "Expose functions for quotas management per "
                                           "tenant"),
    ("quota_details", "Quota details management support", "Expose functions for quotas "
                                                          "usage statistics per project"),
    ("revision-if-match", "If-Match constraints based on revision_number", "Extension "
     "indicating that If-Match based on revision_number is supported."),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
                                    "Neutron networks and access to external networks via "
                                    "a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the "
     "router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("security-group", "security-group", "The security groups extension."),
    ("standard-attr-description", "standard-attr-description", "Extension to add "
     "descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display "
     "the revision number of neutron resources."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at "
                                                       "fields to all Neutron resources "
                                                       "that have Neutron standard "
                                                       "attributes."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, "
     "trunk, network_segment_range, router, network, policy, subnetpool, port, "
     "security_group, floatingip", "Enables to set tag on resources with standard "
                                   "attribute."),
    ("stateful-security-group", "Stateful security group", "Extension adding possibility "
     "to define a security group as stateful or stateless."),
    ("subnet-service-types", "Subnet service types", "Provides ability to set the subnet "
                                                     "service_types field"),
    ("sorting", "Sorting support", "Enables sort feature in resource collections."),
    ("pagination", "Pagination support", "Enables pagination feature in resource "
                                         "collections."),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter "
                                                           "parameters."),
    ("fields-filter", "Fields filter", "Allows filtering of fields"),
]


def _svc(request: Request) -> NetworkService:
    svc: NetworkService = request.app.state.network
    return svc


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/network"


async def _body(request: Request, key: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed request body", type="HTTPBadRequest")
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Resource body required: a '{key}' object.", type="HTTPBadRequest")
    return dict(body[key])


@dataclass
class Resource:
    singular: str
    collection: str
    path: str
    model: Any
    query: Callable[[NetworkService, RequestContext], Any]
    views: Callable[[NetworkService, Session, list[Any]], list[dict[str, Any]]]
    get: Callable[[NetworkService, Session, RequestContext, str], Any]
    create: Callable[[NetworkService, RequestContext, dict[str, Any]], dict[str, Any]]
    update: Callable[..., dict[str, Any]]
    delete: Callable[[NetworkService, RequestContext, str], None]
    #: query filter name -> model attribute
    filters: dict[str, str] = field(default_factory=dict)


COMMON = {"id": "id", "name": "name", "description": "description",
          "project_id": "project_id", "tenant_id": "project_id",
          "revision_number": "revision_number"}

RESOURCES = [
    Resource("network", "networks", "networks", m.Network,
             lambda sv, c: sv.list_networks(c),
             lambda sv, s, xs: [sv.network_view(s, x) for x in xs],
             lambda sv, s, c, i: sv.get_network(s, c, i),
             lambda sv, c, b: sv.create_network(c, b),
             lambda sv, c, i, b, im: sv.update_network(c, i, b, im),
             lambda sv, c, i: sv.delete_network(c, i),
             {**COMMON, "admin_state_up": "admin_state_up", "shared": "shared",
              "router:external": "external", "status": "status", "mtu": "mtu",
              "provider:network_type": "network_type",
              "provider:physical_network": "physical_network",
              "provider:segmentation_id": "segmentation_id",
              "port_security_enabled": "port_security_enabled"}),
    Resource("subnet", "subnets", "subnets", m.Subnet,
             lambda sv, c: sv.list_subnets(c),
             lambda sv, s, xs: [sv.subnet_view(x) for x in xs],
             lambda sv, s, c, i: sv.get_subnet(s, c, i),
             lambda sv, c, b: sv.create_subnet(c, b),
             lambda sv, c, i, b, im: sv.update_subnet(c, i, b, im),
             lambda sv, c, i: sv.delete_subnet(c, i),
             {**COMMON, "network_id": "network_id", "ip_version": "ip_version",
              "cidr": "cidr", "gateway_ip": "gateway_ip", "enable_dhcp": "enable_dhcp",
              "ipv6_ra_mode": "ipv6_ra_mode", "ipv6_address_mode": "ipv6_address_mode"}),
    Resource("port", "ports", "ports", m.Port,
             lambda sv, c: sv.list_ports(c),
             lambda sv, s, xs: sv.port_views(s, xs),
             lambda sv, s, c, i: sv.get_port(s, c, i),
             lambda sv, c, b: sv.create_port(c, b),
             lambda sv, c, i, b, im: sv.update_port(c, i, b, im),
             lambda sv, c, i: sv.delete_port(c, i),
             {**COMMON, "network_id": "network_id", "mac_address": "mac_address",
              "admin_state_up": "admin_state_up", "status": "status",
              "device_owner": "device_owner", "device_id": "device_id",
              "binding:host_id": "binding_host_id",
              "port_security_enabled": "port_security_enabled"}),
    Resource("security_group", "security_groups", "security-groups", m.SecurityGroup,
             lambda sv, c: sv.list_sgs(c),
             lambda sv, s, xs: sv.sg_views(s, xs),
             lambda sv, s, c, i: sv.get_sg(s, c, i),
             lambda sv, c, b: sv.create_sg(c, b),
             lambda sv, c, i, b, im: sv.update_sg(c, i, b, im),
             lambda sv, c, i: sv.delete_sg(c, i),
             {**COMMON, "stateful": "stateful"}),
    Resource("security_group_rule", "security_group_rules", "security-group-rules",
             m.SecurityGroupRule,
             lambda sv, c: sv.list_rules(c),
             lambda sv, s, xs: [sv.rule_view(x) for x in xs],
             lambda sv, s, c, i: sv.get_rule(s, c, i),
             lambda sv, c, b: sv.create_rule(c, b),
             lambda sv, c, i, b, im: _no_update("security_group_rule"),
             lambda sv, c, i: sv.delete_rule(c, i),
             {"id": "id", "project_id": "project_id", "tenant_id": "project_id",
              "security_group_id": "security_group_id", "direction": "direction",
              "ethertype": "ethertype", "protocol": "protocol",
              "port_range_min": "port_range_min", "port_range_max": "port_range_max",
              "remote_ip_prefix": "remote_ip_prefix", "remote_group_id": "remote_group_id",
              "description": "description"}),
    Resource("router", "routers", "routers", m.Router,
             lambda sv, c: sv.list_routers(c),
             lambda sv, s, xs: [sv.router_view(s, x) for x in xs],
             lambda sv, s, c, i: sv.get_router(s, c, i),
             lambda sv, c, b: sv.create_router(c, b),
             lambda sv, c, i, b, im: sv.update_router(c, i, b, im),
             lambda sv, c, i: sv.delete_router(c, i),
             {**COMMON, "admin_state_up": "admin_state_up", "status": "status"}),
    Resource("floatingip", "floatingips", "floatingips", m.FloatingIP,
             lambda sv, c: sv.list_fips(c),
             lambda sv, s, xs: [sv.fip_view(x) for x in xs],
             lambda sv, s, c, i: sv.get_fip(s, c, i),
             lambda sv, c, b: sv.create_fip(c, b),
             lambda sv, c, i, b, im: sv.update_fip(c, i, b, im),
             lambda sv, c, i: sv.delete_fip(c, i),
             {**COMMON, "floating_network_id": "floating_network_id",
              "floating_ip_address": "floating_ip_address", "port_id": "port_id",
              "fixed_ip_address": "fixed_ip_address", "router_id": "router_id",
              "status": "status"}),
]


def _no_update(kind: str) -> dict[str, Any]:
    raise BadRequest(f"Updating a {kind} is not supported.", type="HTTPBadRequest")


def _coerce(col: Any, raw: str) -> Any:
    python_type = getattr(col.type, "python_type", str)
    if python_type is bool:
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise BadRequest(f"Invalid input for filter: '{raw}' is not a boolean.",
                         type="HTTPBadRequest")
    if python_type is int:
        try:
            return int(raw)
        except ValueError:
            raise BadRequest(f"Invalid input for filter: '{raw}' is not an integer.",
                             type="HTTPBadRequest")
    return raw


def _list(request: Request, ctx: RequestContext, res: Resource) -> Response:
    svc = _svc(request)
    q = res.query(svc, ctx)
    params = list(request.query_params.multi_items())
    grouped: dict[str, list[str]] = {}
    for k, v in params:
        grouped.setdefault(k, []).append(v)
    tag_filters: dict[str, list[str]] = {}
    fixed_ip_filters: list[str] = []
    sort_keys = grouped.pop("sort_key", [])
    sort_dirs = grouped.pop("sort_dir", [])
    fields = [f for v in grouped.pop("fields", []) for f in v.split(",") if f]
    limit_raw = grouped.pop("limit", [None])[0]
    marker = grouped.pop("marker", [None])[0]
    grouped.pop("page_reverse", None)
    for key, values in grouped.items():
        if key in ("tags", "tags-any", "not-tags", "not-tags-any"):
            tag_filters[key] = [t for v in values for t in v.split(",")]
            continue
        if key == "fixed_ips" and res.singular == "port":
            fixed_ip_filters += values
            continue
        if key == "security_group_id" and res.singular == "port":
            sel = m.PortSecurityGroup
            q = q.where(m.Port.id.in_(select(sel.port_id).where(
                sel.security_group_id.in_(values))))
            continue
        attr = res.filters.get(key)
        if attr is None:
            if key in ("fields",):
                continue
            # Neutron ignores filters on attributes it has but cannot query; unknown
            # attributes are refused (filter-validation).
            raise BadRequest(f"[{key}] is invalid attribute for filtering",
                             type="HTTPBadRequest")
        col = getattr(res.model, attr)
        vals = [_coerce(col, v) for v in values]
        q = q.where(col.in_(vals)) if len(vals) > 1 else q.where(col == vals[0])
    if fixed_ip_filters:
        for f in fixed_ip_filters:
            k, _, v = f.partition("=")
            if k not in ("ip_address", "subnet_id", "ip_address_substr"):
                raise BadRequest(f"Invalid fixed_ips filter {f}", type="HTTPBadRequest")
            col = m.IPAllocation.ip_address if k.startswith("ip_address") else \
                m.IPAllocation.subnet_id
            cond = col.contains(v) if k == "ip_address_substr" else col == v
            q = q.where(m.Port.id.in_(select(m.IPAllocation.port_id).where(cond)))
    sort: list[tuple[str, str]] = []
    for i, key in enumerate(sort_keys):
        attr = res.filters.get(key)
        if attr is None:
            raise BadRequest(f"{key} is invalid attribute for sort_keys",
                             type="HTTPBadRequest")
        d = sort_dirs[i] if i < len(sort_dirs) else "asc"
        if d not in ("asc", "desc"):
            raise BadRequest(f"{d} is invalid value for sort_dirs, valid value is 'asc' and "
                             "'desc'", type="HTTPBadRequest")
        sort.append((attr, d))
    if not sort:
        sort = [("created_at", "asc")] if hasattr(res.model, "created_at") else [("id", "asc")]
    limit = parse_limit(limit_raw, default=None, maximum=None)
    if limit == 0:
        limit = None
    with svc.db.session() as s:
        if tag_filters:
            rows, _ = keyset_page(s, q, res.model, limit=None, marker=None, sort=sort,
                                  marker_error=NotFound)
            rows = [r for r in rows if _tags_match(set(r.tags or []), tag_filters)]
            if marker is not None:
                ids = [r.id for r in rows]
                if marker not in ids:
                    raise NotFound(f"Marker {marker} could not be found.")
                rows = rows[ids.index(marker) + 1:]
            more = limit is not None and len(rows) > limit
            rows = rows[:limit] if limit is not None else rows
        else:
            rows, more = keyset_page(s, q, res.model, limit=limit, marker=marker, sort=sort,
                                     marker_error=NotFound)
        items = res.views(svc, s, rows)
    if fields:
        items = [{k: v for k, v in x.items() if k in fields} for x in items]
    body: dict[str, Any] = {res.collection: items}
    if more and rows:
        query = [(k, v) for k, v in params if k != "marker"] + [("marker", rows[-1].id)]
        body[f"{res.collection}_links"] = [{
            "rel": "next", "href": f"{_base(request)}/v2.0/{res.path}?{urlencode(query)}"}]
    return json_response(body)


def _tags_match(tags: set[str], f: dict[str, list[str]]) -> bool:
    if "tags" in f and not set(f["tags"]) <= tags:
        return False
    if "tags-any" in f and not set(f["tags-any"]) & tags:
        return False
    if "not-tags" in f and set(f["not-tags"]) <= tags:
        return False
    return not ("not-tags-any" in f and set(f["not-tags-any"]) & tags)


def _show(request: Request, ctx: RequestContext, res: Resource, ident: str) -> Response:
    svc = _svc(request)
    with svc.db.session() as s:
        obj = res.get(svc, s, ctx, ident)
        item = res.views(svc, s, [obj])[0]
    fields = [f for v in request.query_params.getlist("fields") for f in v.split(",") if f]
    if fields:
        item = {k: v for k, v in item.items() if k in fields}
    return json_response({res.singular: item})


def _register(res: Resource) -> None:
    base = f"/v2.0/{res.path}"

    @router.get(base, name=f"list_{res.collection}")
    def list_(request: Request, ctx: RequestContext = Ctx) -> Response:
        return _list(request, ctx, res)

    @router.post(base, name=f"create_{res.singular}", status_code=201)
    async def create(request: Request, ctx: RequestContext = Ctx) -> Response:
        raw = await request.body()
        try:
            doc = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise BadRequest("Malformed request body", type="HTTPBadRequest")
        svc = _svc(request)
        if isinstance(doc, dict) and isinstance(doc.get(res.collection), list):
            # bulk create: all or nothing
            made = []
            try:
                for item in doc[res.collection]:
                    if not isinstance(item, dict):
                        raise BadRequest("Invalid bulk item", type="HTTPBadRequest")
                    made.append(await asyncio.to_thread(res.create, svc, ctx, item))
            except Exception:
                for x in reversed(made):
                    await asyncio.to_thread(res.delete, svc, ctx, x["id"])
                raise
            return json_response({res.collection: made}, 201)
        if not isinstance(doc, dict) or not isinstance(doc.get(res.singular), dict):
            raise BadRequest(f"Resource body required: a '{res.singular}' object.",
                             type="HTTPBadRequest")
        out = await asyncio.to_thread(res.create, svc, ctx, dict(doc[res.singular]))
        return json_response({res.singular: out}, 201)

    @router.get(base + "/{ident}", name=f"show_{res.singular}")
    def show(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        return _show(request, ctx, res, ident)

    @router.put(base + "/{ident}", name=f"update_{res.singular}")
    async def update(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        body = await _body(request, res.singular)
        for key in ("id", "project_id", "tenant_id", "created_at", "updated_at",
                    "revision_number", "status"):
            if key in body and key != "status":
                raise BadRequest(f"Cannot update read-only attribute {key}",
                                 type="HTTPBadRequest")
        body.pop("status", None)
        out = await asyncio.to_thread(res.update, _svc(request), ctx, ident, body,
                                      request.headers.get("if-match"))
        return json_response({res.singular: out})

    @router.delete(base + "/{ident}", name=f"delete_{res.singular}", status_code=204)
    def delete_(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        res.delete(_svc(request), ctx, ident)
        return Response(status_code=204)

    if res.singular == "security_group_rule":
        return

    def _tagged(request: Request, ctx: RequestContext, ident: str) -> Any:
        svc = _svc(request)
        with svc.db.session() as s:
            obj = res.get(svc, s, ctx, ident)
            if not ctx.is_admin and getattr(obj, "project_id", None) not in (ctx.project_id,):
                raise Forbidden("Not allowed to change tags of another project's resource.",
                                type="PolicyNotAuthorized")
        return obj

    def _set_tags(request: Request, ctx: RequestContext, ident: str,
                  change: Callable[[list[str]], list[str]]) -> list[str]:
        svc = _svc(request)
        _tagged(request, ctx, ident)
        with svc.db.transaction() as s:
            obj = s.get(res.model, ident)
            if obj is None:
                raise NotFound(f"{res.singular} {ident} could not be found.")
            tags = change(list(obj.tags or []))
            for t in tags:
                if not isinstance(t, str) or not t or len(t) > 255 or "," in t:
                    raise BadRequest(f"Invalid tag {t!r}", type="HTTPBadRequest")
            obj.tags = list(dict.fromkeys(tags))
            obj.revision_number += 1
            return list(obj.tags)

    @router.get(base + "/{ident}/tags", name=f"tags_{res.singular}")
    def get_tags(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        svc = _svc(request)
        with svc.db.session() as s:
            obj = res.get(svc, s, ctx, ident)
            return json_response({"tags": list(obj.tags or [])})

    @router.put(base + "/{ident}/tags", name=f"replace_tags_{res.singular}")
    async def replace_tags(ident: str, request: Request, ctx: RequestContext = Ctx
                           ) -> Response:
        raw = await request.body()
        doc = orjson.loads(raw) if raw else None
        if not isinstance(doc, dict) or not isinstance(doc.get("tags"), list):
            raise BadRequest("Invalid tags body", type="HTTPBadRequest")
        tags = await asyncio.to_thread(_set_tags, request, ctx, ident,
                                       lambda _old: list(doc["tags"]))
        return json_response({"tags": tags})

    @router.put(base + "/{ident}/tags/{tag}", name=f"add_tag_{res.singular}",
                status_code=201)
    def add_tag(ident: str, tag: str, request: Request, ctx: RequestContext = Ctx
                ) -> Response:
        _set_tags(request, ctx, ident, lambda old: [*old, tag])
        return Response(status_code=201)

    @router.get(base + "/{ident}/tags/{tag}", name=f"check_tag_{res.singular}",
                status_code=204)
    def check_tag(ident: str, tag: str, request: Request, ctx: RequestContext = Ctx
                  ) -> Response:
        svc = _svc(request)
        with svc.db.session() as s:
            obj = res.get(svc, s, ctx, ident)
            if tag not in (obj.tags or []):
                raise NotFound(f"Tag {tag} could not be found.", type="TagNotFound")
        return Response(status_code=204)

    @router.delete(base + "/{ident}/tags/{tag}", name=f"remove_tag_{res.singular}",
                   status_code=204)
    def remove_tag(ident: str, tag: str, request: Request, ctx: RequestContext = Ctx
                   ) -> Response:
        def change(old: list[str]) -> list[str]:
            if tag not in old:
                raise NotFound(f"Tag {tag} could not be found.", type="TagNotFound")
            return [t for t in old if t != tag]

        _set_tags(request, ctx, ident, change)
        return Response(status_code=204)

    @router.delete(base + "/{ident}/tags", name=f"clear_tags_{res.singular}",
                   status_code=204)
    def clear_tags(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        _set_tags(request, ctx, ident, lambda _old: [])
        return Response(status_code=204)


for _res in RESOURCES:
    _register(_res)


@router.get("")
@router.get("/")
def versions(request: Request) -> Response:
    return json_response({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"rel": "self", "href": f"{_base(request)}/v2.0/"}]}]})


@router.get("/v2.0")
@router.get("/v2.0/")
def resources(request: Request) -> Response:
    return json_response({"resources": [
        {"name": r.singular, "collection": r.path,
         "links": [{"rel": "self", "href": f"{_base(request)}/v2.0/{r.path}"}]}
        for r in RESOURCES]})


@router.get("/v2.0/extensions")
def extensions(request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"extensions": [
        {"alias": a, "name": n, "description": d, "updated": "2013-01-01T10:00:00-00:00",
         "links": []} for a, n, d in EXTENSIONS]})


@router.get("/v2.0/extensions/{alias}")
def extension(alias: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    for a, n, d in EXTENSIONS:
        if a == alias:
            return json_response({"extension": {
                "alias": a, "name": n, "description": d,
                "updated": "2013-01-01T10:00:00-00:00", "links": []}})
    raise NotFound(f"Extension with alias {alias} does not exist", type="HTTPNotFound")


@router.put("/v2.0/routers/{router_id}/add_router_interface")
async def add_router_interface(router_id: str, request: Request,
                               ctx: RequestContext = Ctx) -> Response:
    raw = await request.body()
    body = orjson.loads(raw) if raw else None
    out = await asyncio.to_thread(_svc(request).add_interface, ctx, router_id, body)
    return json_response(out)


@router.put("/v2.0/routers/{router_id}/remove_router_interface")
async def remove_router_interface(router_id: str, request: Request,
                                  ctx: RequestContext = Ctx) -> Response:
    raw = await request.body()
    body = orjson.loads(raw) if raw else None
    out = await asyncio.to_thread(_svc(request).remove_interface, ctx, router_id, body)
    return json_response(out)


def _quota_target(ctx: RequestContext, project_id: str) -> None:
    if not ctx.is_admin and project_id != ctx.project_id:
        raise Forbidden("Only admin is authorized to access quotas for another tenant",
                        type="AdminRequired")


@router.get("/v2.0/quotas/{project_id}")
def show_quota(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _quota_target(ctx, project_id)
    return json_response({"quota": _svc(request).quotas(project_id)})


@router.get("/v2.0/quotas/{project_id}/details")
def quota_details(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _quota_target(ctx, project_id)
    svc = _svc(request)
    limits = svc.quotas(project_id)
    models: dict[str, Any] = {
        "network": m.Network, "subnet": m.Subnet, "port": m.Port, "router": m.Router,
        "floatingip": m.FloatingIP, "security_group": m.SecurityGroup,
        "security_group_rule": m.SecurityGroupRule}
    out = {}
    with svc.db.session() as s:
        for k, model in models.items():
            used = s.scalar(select(func.count()).select_from(model).where(
                model.project_id == project_id)) or 0
            out[k] = {"limit": limits[k], "used": int(used), "reserved": 0}
    return json_response({"quota": out})


@router.put("/v2.0/quotas/{project_id}")
async def update_quota(project_id: str, request: Request, ctx: RequestContext = Ctx
                       ) -> Response:
    if not ctx.is_admin:
        raise Forbidden("Only admin can update quotas", type="AdminRequired")
    body = await _body(request, "quota")
    out = await asyncio.to_thread(_svc(request).set_quotas, project_id, body)
    return json_response({"quota": out})


@router.delete("/v2.0/quotas/{project_id}", status_code=204)
def delete_quota(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    if not ctx.is_admin:
        raise Forbidden("Only admin can reset quotas", type="AdminRequired")
    _svc(request).reset_quotas(project_id)
    return Response(status_code=204)


def setup(app: FastAPI) -> None:
    from overcast.bus.messages import (
        Message,
        MetadataReply,
        MetadataRequest,
        NetworkDesired,
        NetworkDesiredReply,
        Resync,
    )

    settings = app.state.settings
    svc = NetworkService(app.state.db, uplink_mtu=getattr(settings, "uplink_mtu", 1400))
    app.state.network = svc
    compute = getattr(app.state, "compute", None)
    if compute is not None:
        compute.network_resolve = svc.resolve_requested
        compute.network_allocate = svc.allocate_for_instance
        compute.network_release = svc.release_for_instance
        compute.network_addresses = svc.addresses
        compute.network_security_groups = svc.instance_security_groups
        compute.network_group_action = svc.server_group_action
        compute.network_ports = svc.ports_for_instance

    async def start(app: FastAPI) -> None:
        bus = getattr(app.state, "bus", None)
        compute = getattr(app.state, "compute", None)
        if bus is None or compute is None:
            return

        from overcast.compute.metadata import MetadataService

        meta = MetadataService(app.state.db, svc.address_owner, svc.ports_for_instance,
                               svc.floating_of)

        async def handle(msg: Message) -> Any:
            if isinstance(msg, NetworkDesired):
                return NetworkDesiredReply.from_body(await asyncio.to_thread(
                    svc.desired, msg.host, msg.network_host, msg.also, msg.tunnel_ip))
            if isinstance(msg, MetadataRequest):
                status, ctype, body = await asyncio.to_thread(
                    meta.answer, msg.network_id, msg.address, msg.path)
                return MetadataReply.of(status, ctype, body)
            return None

        await bus.subscribe("network", handle)

        # Every host converges on a change (each one asks for only what it holds).
        # Changes are coalesced: the API thread only flags one, and one broadcast
        # on the event loop covers every change made before it runs, so a burst of
        # port creates neither waits on the loop nor floods the agents.
        loop = asyncio.get_running_loop()
        flag = threading.Lock()
        pending = [False]

        async def broadcast() -> None:
            with flag:
                pending[0] = False
            for host in await asyncio.to_thread(svc.agent_hosts):
                await bus.cast(f"agent.{host}", Resync(scope="network"))

        def changed(kind: str, ident: str) -> None:
            with flag:
                if pending[0]:
                    return
                pending[0] = True
            loop.call_soon_threadsafe(start_broadcast)

        tasks: set[asyncio.Task[None]] = set()

        def start_broadcast() -> None:
            task = loop.create_task(broadcast())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        svc.on_change = changed

    app.state.specs.append(ServiceSpec(
        name="neutron", type="network", prefix="/network", error_style="neutron",
        endpoint_path="/network", routers=[router], on_startup=[start]))
