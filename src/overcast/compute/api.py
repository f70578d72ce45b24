"""Nova v2.1 routes (microversions 2.1 to 2.47): parse, authorise, delegate, shape."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import re
import uuid as uuidlib
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from overcast.compute import models as m
from overcast.compute import views
from overcast.compute.hosts import service_up
from overcast.compute.quotas import DEFAULT_QUOTAS
from overcast.compute.service import ComputeService
from overcast.kit import validate as val
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound
from overcast.kit.microversion import APIVersion, VersionRange
from overcast.kit.paging import parse_limit
from overcast.kit.web import FastJSONResponse, ServiceSpec, get_context

router = APIRouter()
VERSIONS = VersionRange("compute", APIVersion(2, 1), APIVersion(2, 47),
                        legacy_header="X-OpenStack-Nova-API-Version")
JSON_BODY = Body(None)
Ctx = Depends(get_context)


def _svc(request: Request) -> ComputeService:
    return request.app.state.compute  # type: ignore[no-any-return]


def _ver(request: Request) -> APIVersion:
    v = getattr(request.state, "compute_version", None)
    if v is None:
        v = VERSIONS.negotiate(request)
        request.state.compute_version = v
    return v  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/compute"


def _reply(request: Request, body: Any, status: int = 200) -> Response:
    hdrs = VERSIONS.response_headers(_ver(request))
    if body is None:
        return Response(status_code=status, headers=hdrs)
    return FastJSONResponse(body, status_code=status, headers=hdrs)


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow this operation to be performed.")


def _need(request: Request, version: str) -> None:
    if not _ver(request).at_least(version):
        raise NotFound("The resource could not be found.")


# ------------------------------------------------------------------ versions
def _version_doc(request: Request) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": str(VERSIONS.max),
            "min_version": str(VERSIONS.min), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{_base(request)}/v2.1/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@router.get("")
@router.get("/")
def versions(request: Request) -> Response:
    v20 = {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
           "updated": "2025-07-04T12:00:00Z",
           "links": [{"rel": "self", "href": f"{_base(request)}/v2/"}]}
    return JSONResponse({"versions": [v20, _version_doc(request)]})


@router.get("/v2.1")
@router.get("/v2.1/")
def version(request: Request) -> Response:
    return _reply(request, {"version": _version_doc(request)})


# ------------------------------------------------------------------- flavors
def _flavor_view(request: Request, fid: str, ctx: RequestContext) -> dict[str, Any]:
    fs = _svc(request).flavors
    with fs.db.session() as s:
        f = fs.get(s, fid, ctx)
        return views.flavor(_base(request), f, _ver(request), fs.extra_specs(s, fid))


def _list_flavors(request: Request, ctx: RequestContext, detail: bool) -> Response:
    q = request.query_params
    raw = q.get("is_public")
    is_public: bool | None = True
    if raw is not None:
        low = raw.lower()
        is_public = None if low == "none" else val.query_bool(raw, "is_public")
    def intq(name: str) -> int | None:
        if q.get(name) is None:
            return None
        try:
            return int(q[name])
        except ValueError:
            raise BadRequest(f"Invalid {name} filter [{q[name]}]")
    rows = _svc(request).flavors.list(
        ctx, is_public=is_public, min_ram=intq("minRam"), min_disk=intq("minDisk"),
        sort_key=q.get("sort_key", "flavorid"), sort_dir=q.get("sort_dir", "asc"),
        limit=parse_limit(q.get("limit"), default=None, maximum=1000), marker=q.get("marker"))
    v = _ver(request)
    items = [views.flavor(_base(request), f, v, es, detail) for f, es in rows]
    return _reply(request, {"flavors": items})


@router.get("/v2.1/flavors")
def list_flavors(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list_flavors(request, ctx, False)


@router.get("/v2.1/flavors/detail")
def list_flavors_detail(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list_flavors(request, ctx, True)


@router.get("/v2.1/flavors/{fid}")
def get_flavor(fid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return _reply(request, {"flavor": _flavor_view(request, fid, ctx)})


def _nonneg_int(d: dict[str, Any], key: str, *, required: bool = False, minimum: int = 0,
                default: int = 0) -> int:
    if key not in d or d[key] is None or d[key] == "":
        if required:
            raise BadRequest(f"Invalid input for field/attribute flavor. Value: {d}. "
                             f"'{key}' is a required property")
        return default
    raw = d[key]
    try:
        value = int(raw) if not isinstance(raw, bool) and str(int(raw)) == str(raw).strip() \
            else None
    except (TypeError, ValueError):
        value = None
    if value is None or value < minimum or value > 2147483647:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {raw}. "
                         f"It must be an integer >= {minimum}.")
    return value


@router.post("/v2.1/flavors")
def create_flavor(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    f = val.wrapped(body, "flavor")
    name = val.string(f, "name", "flavor", required=True, min_len=1, max_len=255,
                      strip_check=True)
    if name != name.strip():
        raise BadRequest("Invalid input for field/attribute name: leading or trailing "
                         "whitespace.")
    fid = f.get("id")
    if fid is not None and (not isinstance(fid, str) or not re.match(r"^[\w.\- ]{1,255}$",
                                                                     fid)):
        raise BadRequest(f"Invalid input for field/attribute id. Value: {fid}.")
    rx = f.get("rxtx_factor", 1.0)
    if not isinstance(rx, (int, float)) or isinstance(rx, bool) or rx <= 0:
        raise BadRequest(f"Invalid input for field/attribute rxtx_factor. Value: {rx}.")
    is_public = f.get("os-flavor-access:is_public", True)
    if not isinstance(is_public, bool):
        raise BadRequest("Invalid input for field/attribute os-flavor-access:is_public.")
    data = {"name": name, "id": fid, "vcpus": _nonneg_int(f, "vcpus", required=True, minimum=1),
            "ram": _nonneg_int(f, "ram", required=True, minimum=1),
            "disk": _nonneg_int(f, "disk", required=True),
            "ephemeral": _nonneg_int(f, "OS-FLV-EXT-DATA:ephemeral"),
            "swap": _nonneg_int(f, "swap"), "rxtx_factor": float(rx), "is_public": is_public}
    if "description" in f:
        _need(request, "2.55")
        data["description"] = f["description"]
    new_id = _svc(request).flavors.create(data)
    return _reply(request, {"flavor": _flavor_view(request, new_id, ctx)})


@router.delete("/v2.1/flavors/{fid}")
def delete_flavor(fid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _svc(request).flavors.delete(fid)
    return _reply(request, None, 202)


@router.get("/v2.1/flavors/{fid}/os-extra_specs")
def get_extra_specs(fid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    fs = _svc(request).flavors
    with fs.db.session() as s:
        fs.get(s, fid, ctx)
        return _reply(request, {"extra_specs": fs.extra_specs(s, fid)})


def _specs_body(body: Any) -> dict[str, str]:
    specs = val.wrapped(body, "extra_specs")
    for k, v in specs.items():
        if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not k or \
                len(k) > 255 or len(str(v)) > 255:
            raise BadRequest(f"Invalid input for field/attribute extra_specs. Value: {k}.")
    return {k: str(v) for k, v in specs.items()}


@router.post("/v2.1/flavors/{fid}/os-extra_specs")
def set_extra_specs(fid: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    return _reply(request, {"extra_specs": _svc(request).flavors.set_extra_specs(
        fid, _specs_body(body))})


@router.get("/v2.1/flavors/{fid}/os-extra_specs/{key}")
def get_extra_spec(fid: str, key: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    fs = _svc(request).flavors
    with fs.db.session() as s:
        fs.get(s, fid, ctx)
        specs = fs.extra_specs(s, fid)
    if key not in specs:
        raise NotFound(f"Flavor {fid} has no extra specs with key {key}.")
    return _reply(request, {key: specs[key]})


@router.put("/v2.1/flavors/{fid}/os-extra_specs/{key}")
def put_extra_spec(fid: str, key: str, request: Request, body: Any = JSON_BODY,
                   ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    if not isinstance(body, dict) or len(body) != 1 or key not in body:
        raise BadRequest("Request body and URI mismatch")
    specs = _specs_body({"extra_specs": body})
    _svc(request).flavors.set_extra_specs(fid, specs)
    return _reply(request, specs)


@router.delete("/v2.1/flavors/{fid}/os-extra_specs/{key}")
def delete_extra_spec(fid: str, key: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _svc(request).flavors.delete_extra_spec(fid, key)
    return _reply(request, None, 200)


@router.get("/v2.1/flavors/{fid}/os-flavor-access")
def flavor_access(fid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    items = [{"flavor_id": fid, "tenant_id": p} for p in _svc(request).flavors.access(fid)]
    return _reply(request, {"flavor_access": items})


@router.post("/v2.1/flavors/{fid}/action")
def flavor_action(fid: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: exactly one action is expected.")
    (name, arg), = body.items()
    if name not in ("addTenantAccess", "removeTenantAccess") or not isinstance(arg, dict) or \
            not isinstance(arg.get("tenant"), str):
        raise BadRequest(f"Invalid flavor action {name}.")
    fs = _svc(request).flavors
    projects = fs.add_access(fid, arg["tenant"]) if name == "addTenantAccess" else \
        fs.remove_access(fid, arg["tenant"])
    return _reply(request, {"flavor_access": [{"flavor_id": fid, "tenant_id": p}
                                              for p in projects]})


# ------------------------------------------------------------------ keypairs
def _kp_user(request: Request, ctx: RequestContext) -> str:
    wanted = request.query_params.get("user_id")
    if wanted and wanted != ctx.user_id:
        if not _ver(request).at_least("2.10"):
            raise BadRequest("user_id is supported from microversion 2.10.")
        _admin(ctx)
        return wanted
    return ctx.user_id or ""


@router.get("/v2.1/os-keypairs")
def list_keypairs(request: Request, ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    q = request.query_params
    limit = marker = None
    if v.at_least("2.35"):
        limit = parse_limit(q.get("limit"), default=None, maximum=1000)
        marker = q.get("marker")
    kps = _svc(request).keypairs.list(_kp_user(request, ctx), limit, marker)
    return _reply(request, {"keypairs": [{"keypair": views.keypair_brief(k, v)} for k in kps]})


@router.get("/v2.1/os-keypairs/{name}")
def get_keypair(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    kp = _svc(request).keypairs.get(_kp_user(request, ctx), name)
    return _reply(request, {"keypair": views.keypair_full(kp, _ver(request))})


@router.post("/v2.1/os-keypairs")
def create_keypair(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    k = val.wrapped(body, "keypair")
    name = val.string(k, "name", "keypair", required=True, min_len=1, max_len=255)
    if not re.match(r"^[a-zA-Z0-9 _.@\-]+$", name) or name != name.strip():
        raise BadRequest("Invalid input for field/attribute name: Keypair name contains "
                         "unsafe characters")
    public_key = val.string(k, "public_key", "keypair", max_len=65535)
    key_type = "ssh"
    if "type" in k:
        if not v.at_least("2.2") or k["type"] not in ("ssh", "x509"):
            raise BadRequest(f"Invalid input for field/attribute type. Value: {k['type']}.")
        key_type = k["type"]
    user_id = ctx.user_id or ""
    if "user_id" in k:
        if not v.at_least("2.10"):
            raise BadRequest("Additional properties are not allowed ('user_id' was unexpected)")
        if k["user_id"] != ctx.user_id:
            _admin(ctx)
        user_id = k["user_id"]
    extra = set(k) - {"name", "public_key", "type", "user_id"}
    if extra:
        raise BadRequest(f"Additional properties are not allowed "
                         f"({', '.join(sorted(extra))} were unexpected)")
    svc = _svc(request)
    with svc.db.session() as s:
        quota = svc.quotas.limits(s, ctx.project_id or "")["key_pairs"]
    kp, private = svc.keypairs.create(user_id, name,
                                      None if public_key is val.MISSING else public_key,
                                      key_type, quota)
    out = views.keypair_brief(kp, v)
    out["user_id"] = kp.user_id
    if private:
        out["private_key"] = private
    return _reply(request, {"keypair": out}, 201 if v.at_least("2.2") else 200)


@router.delete("/v2.1/os-keypairs/{name}")
def delete_keypair(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).keypairs.delete(_kp_user(request, ctx), name)
    return _reply(request, None, 204 if _ver(request).at_least("2.2") else 202)


# -------------------------------------------------------------------- servers
SERVER_KEYS = {"name", "imageRef", "flavorRef", "networks", "key_name", "metadata",
               "user_data", "min_count", "max_count", "availability_zone", "accessIPv4",
               "accessIPv6", "OS-DCF:diskConfig", "config_drive", "adminPass",
               "security_groups", "block_device_mapping_v2", "block_device_mapping",
               "description", "return_reservation_id", "personality", "tags", "hostname"}


def _metadata(value: Any, where: str = "metadata") -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute {where}. Value: {value}. "
                         f"{value!r} is not of type 'object'")
    for k, v in value.items():
        if not isinstance(v, str) or not k or len(k) > 255 or len(v) > 255:
            raise BadRequest(f"Invalid input for field/attribute {where}. Value: {value}. "
                             f"Keys and values must be strings of 1-255 characters.")
    return dict(value)


def _count(sv: dict[str, Any], key: str) -> int | None:
    if key not in sv:
        return None
    raw = sv[key]
    try:
        n = int(raw)
        if isinstance(raw, bool) or str(n) != str(raw).strip():
            raise ValueError
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {raw}.")
    if n < 1:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {raw}. "
                         f"{raw} is less than the minimum of 1")
    return n


def _parse_create(request: Request, body: Any) -> dict[str, Any]:
    v = _ver(request)
    sv = val.wrapped(body, "server")
    extra = set(sv) - SERVER_KEYS
    if extra:
        raise BadRequest(f"Invalid input for field/attribute server. Additional properties "
                         f"are not allowed ({', '.join(sorted(extra))} were unexpected)")
    name = sv.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise BadRequest("Invalid input for field/attribute name. Value: "
                         f"{name}. It must be a non-empty string of at most 255 characters.")
    flavor = sv.get("flavorRef")
    if not isinstance(flavor, (str, int)) or isinstance(flavor, bool) or str(flavor) == "":
        raise BadRequest("Invalid input for field/attribute flavorRef. 'flavorRef' is a "
                         "required property")
    flavor = str(flavor).rstrip("/").rsplit("/", 1)[-1]
    image = sv.get("imageRef", "")
    if not isinstance(image, str):
        raise BadRequest(f"Invalid input for field/attribute imageRef. Value: {image}.")
    image = image.rstrip("/").rsplit("/", 1)[-1] if image else ""
    bdm = sv.get("block_device_mapping_v2") or []
    if not image:
        boot = [b for b in bdm if isinstance(b, dict) and b.get("boot_index") in (0, "0")
                and b.get("source_type") == "image"]
        if boot:
            image = str(boot[0].get("uuid") or "")
    if image:
        try:
            uuidlib.UUID(image)
        except ValueError:
            raise BadRequest("Invalid imageRef provided.")
    elif not bdm:
        raise BadRequest("Invalid imageRef provided.")
    networks = sv.get("networks")
    if networks in ("none", "auto"):
        if not v.at_least("2.37"):
            raise BadRequest(f"Invalid input for field/attribute networks. Value: {networks}.")
    elif networks is not None and not isinstance(networks, list):
        raise BadRequest(f"Invalid input for field/attribute networks. Value: {networks}.")
    elif isinstance(networks, list):
        for item in networks:
            if not isinstance(item, dict) or not set(item) <= {"uuid", "port", "fixed_ip",
                                                                "tag"}:
                raise BadRequest("Invalid input for field/attribute networks. Value: "
                                 f"{networks}. Additional properties are not allowed.")
            for key in ("uuid", "port"):
                if item.get(key) is not None:
                    try:
                        uuidlib.UUID(str(item[key]))
                    except ValueError:
                        raise BadRequest(f"Invalid input for field/attribute {key}. Value: "
                                         f"{item[key]}. '{item[key]}' is not a 'uuid'")
            if not item.get("uuid") and not item.get("port"):
                raise BadRequest("Bad networks format: network uuid is not in proper "
                                 "format (None)")
    elif networks is None and v.at_least("2.37"):
        raise BadRequest("Invalid input for field/attribute server. 'networks' is a required "
                         "property")
    user_data = sv.get("user_data")
    if user_data is not None:
        if not isinstance(user_data, str) or len(user_data) > 65535:
            raise BadRequest("Invalid input for field/attribute user_data.")
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("User data needs to be valid base 64.")
    min_count = _count(sv, "min_count") or 1
    max_count = _count(sv, "max_count") or min_count
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    key_name = sv.get("key_name")
    if key_name is not None and not isinstance(key_name, str):
        raise BadRequest(f"Invalid input for field/attribute key_name. Value: {key_name}.")
    az = sv.get("availability_zone")
    if az is not None and (not isinstance(az, str) or not az):
        raise BadRequest("Invalid input for field/attribute availability_zone.")
    if "description" in sv:
        if not v.at_least("2.19"):
            raise BadRequest("Additional properties are not allowed ('description' was "
                             "unexpected)")
        if sv["description"] is not None and (not isinstance(sv["description"], str) or
                                              len(sv["description"]) > 255):
            raise BadRequest("Invalid input for field/attribute description.")
    for ipkey in ("accessIPv4", "accessIPv6"):
        if sv.get(ipkey):
            import ipaddress

            try:
                ip = ipaddress.ip_address(sv[ipkey])
                if ip.version != (4 if ipkey == "accessIPv4" else 6):
                    raise ValueError
            except ValueError:
                raise BadRequest(f"Invalid input for field/attribute {ipkey}. Value: "
                                 f"{sv[ipkey]}. {sv[ipkey]!r} is not a '"
                                 f"{'ipv4' if ipkey == 'accessIPv4' else 'ipv6'}'")
    disk_config = sv.get("OS-DCF:diskConfig")
    if disk_config is not None and disk_config not in ("AUTO", "MANUAL"):
        raise BadRequest("Invalid input for field/attribute OS-DCF:diskConfig.")
    groups = sv.get("security_groups")
    if groups is not None:
        if not isinstance(groups, list) or not all(
                isinstance(g, dict) and set(g) == {"name"} and isinstance(g["name"], str)
                and g["name"].strip() for g in groups):
            raise BadRequest("Invalid input for field/attribute security_groups. Value: "
                             f"{groups}. Each item must be an object with a non-empty "
                             "'name' and nothing else")
        groups = list(dict.fromkeys(g["name"].strip() for g in groups))
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise BadRequest("Invalid input for field/attribute os:scheduler_hints.")
    return {"name": name, "flavor_ref": flavor, "image_ref": image,
            "networks": networks, "key_name": key_name,
            "metadata": _metadata(sv.get("metadata") or {}), "user_data": user_data,
            "min_count": min_count, "max_count": max_count, "availability_zone": az,
            "access_ip_v4": sv.get("accessIPv4"), "access_ip_v6": sv.get("accessIPv6"),
            "config_drive": sv.get("config_drive") in (True, "True", "true", "1", 1),
            "description": sv.get("description"), "scheduler_hints": hints,
            "admin_pass": sv.get("adminPass"), "security_groups": groups or None,
            "return_reservation_id": bool(sv.get("return_reservation_id"))}


@router.post("/v2.1/servers")
def create_server(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    req = _parse_create(request, body)
    uuids = _svc(request).create_servers(ctx, req)
    if req["return_reservation_id"]:
        with _svc(request).db.session() as s:
            inst = s.get(m.Instance, uuids[0])
            return _reply(request, {"reservation_id": inst.reservation_id if inst else ""}, 202)
    uuid = uuids[0]
    out = {"id": uuid, "links": views.links(_base(request), "servers", uuid),
           "OS-DCF:diskConfig": "MANUAL",
           "security_groups": [{"name": n} for n in req["security_groups"] or ["default"]],
           "adminPass": req["admin_pass"] or uuidlib.uuid4().hex[:12]}
    return _reply(request, {"server": out}, 202)


def _addresses_of(request: Request, uuids: list[str]) -> dict[str, dict[str, Any]]:
    """Nova's `addresses` of each server, from the network service (one query)."""
    return _svc(request).addresses(uuids)


def _host_status(request: Request, svc_by_host: dict[str, m.Service],
                 inst: m.Instance) -> str:
    if not inst.host:
        return ""
    svc = svc_by_host.get(inst.host)
    if svc is None:
        return "UNKNOWN"
    if svc.forced_down or not service_up(svc):
        return "DOWN"
    return "MAINTENANCE" if svc.disabled else "UP"


def _server_views(request: Request, ctx: RequestContext, rows: list[m.Instance]
                  ) -> list[dict[str, Any]]:
    v = _ver(request)
    hosts = {svc.host: svc for svc in _svc(request).services()} if v.at_least("2.16") and \
        ctx.is_admin else {}
    addrs = _addresses_of(request, [i.uuid for i in rows])
    groups = _svc(request).security_groups([i.uuid for i in rows])
    out = []
    for i in rows:
        body = views.server(_base(request), i, v, admin=ctx.is_admin,
                            addresses=addrs.get(i.uuid, {}),
                            host_status=_host_status(request, hosts, i)
                            if ctx.is_admin and v.at_least("2.16") else None)
        if i.uuid in groups:  # as Nova: absent when the server's ports have none
            body["security_groups"] = groups[i.uuid]
        out.append(body)
    return out


#: Rendered server views by (uuid, updated_at, states, microversion, admin, base).
#: A server's row changes updated_at on every write (the column's onupdate), so a
#: hit is current; what lives outside the row (addresses, host status) is added
#: per request. Bounded: cleared when it grows past the limit.
_VIEW_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}
_VIEW_CACHE_MAX = 50_000


def _listed_views(request: Request, ctx: RequestContext, keys: list[Any]
                  ) -> list[dict[str, Any]]:
    """Detailed views of listed servers (`keys` are KEY_ATTRS rows)."""
    v = _ver(request)
    base = _base(request)
    admin = ctx.is_admin
    want_host = admin and v.at_least("2.16")
    hosts = _svc(request).host_statuses() if want_host else {}
    vkey = str(v)
    cache = _VIEW_CACHE
    cache_keys = [(k.uuid, k.updated_at, k.vm_state, k.task_state, k.power_state, vkey,
                   admin, base) for k in keys]
    missing = [ck[0] for ck in cache_keys if ck not in cache]
    if missing:
        full = _svc(request).server_rows(missing)
        if len(cache) + len(full) > _VIEW_CACHE_MAX:
            cache.clear()
        for ck in cache_keys:
            row = full.get(ck[0])
            if row is not None:
                cache[ck] = views.server(base, row, v, admin=admin, addresses={})
    addrs = _addresses_of(request, [k.uuid for k in keys])
    groups = _svc(request).security_groups([k.uuid for k in keys])
    out = []
    for k, ck in zip(keys, cache_keys, strict=True):
        body = cache.get(ck)
        if body is None:  # gone between the two reads
            continue
        body = dict(body)
        if addrs:
            body["addresses"] = addrs.get(k.uuid, {})
        if k.uuid in groups:  # as Nova: absent when the server's ports have none
            body["security_groups"] = groups[k.uuid]
        if want_host:
            body["host_status"] = hosts.get(k.host, "UNKNOWN") if k.host else ""
        out.append(body)
    return out


def _parse_time(raw: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid filter field: changes-since. Value: {raw}")
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


STATUS_TO_VM = {"ACTIVE": ["active"], "BUILD": ["building"], "SHUTOFF": ["stopped"],
                "PAUSED": ["paused"], "SUSPENDED": ["suspended"], "ERROR": ["error"],
                "VERIFY_RESIZE": ["resized"], "DELETED": ["deleted"], "REBOOT": ["active"],
                "HARD_REBOOT": ["active"], "RESIZE": ["active", "stopped"],
                "REBUILD": ["active", "stopped", "error"], "REVERT_RESIZE": ["resized"]}


def _list_servers(request: Request, ctx: RequestContext, detail: bool) -> Response:
    q = request.query_params
    filters: dict[str, Any] = {}
    all_tenants = q.get("all_tenants")
    if all_tenants is not None and all_tenants.lower() not in ("0", "false", "off", "no"):
        _admin(ctx)
        filters["all_tenants"] = True
    for key in ("name", "image", "flavor", "key_name", "availability_zone",
                "reservation_id", "project_id", "tenant_id", "user_id"):
        if q.get(key):
            filters["project_id" if key == "tenant_id" else key] = q[key]
    if q.get("host") and ctx.is_admin:
        filters["host"] = q["host"]
    if q.get("status"):
        st = q["status"].upper()
        if st not in STATUS_TO_VM:
            return _reply(request, {"servers": []})
        filters["status"] = st
        filters["vm_states"] = STATUS_TO_VM[st]
        if st == "DELETED":
            filters["deleted"] = True
    if q.get("changes-since"):
        filters["changes-since"] = _parse_time(q["changes-since"])
    if q.get("deleted", "").lower() in ("true", "1"):
        filters["deleted"] = True
    sort_keys = q.getlist("sort_key") or ["created_at"]
    sort_dirs = q.getlist("sort_dir") or ["desc"]
    allowed = {"created_at", "display_name", "uuid", "updated_at", "vm_state", "task_state",
               "launched_at", "host", "key_name", "availability_zone", "display_description",
               "name", "power_state"}
    sort = []
    for i, key in enumerate(sort_keys):
        if key not in allowed:
            raise BadRequest(f"Invalid sort_key {key}.")
        d = sort_dirs[i] if i < len(sort_dirs) else sort_dirs[-1]
        if d not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_dir {d}.")
        col = {"display_name": "name", "display_description": "description"}.get(key, key)
        sort.append((col, d))
    limit = parse_limit(q.get("limit"), default=None, maximum=1000)
    rows, more = _svc(request).list_servers(ctx, filters, limit=limit, marker=q.get("marker"),
                                            sort=sort)
    items = _listed_views(request, ctx, rows) if detail else \
        [views.server_brief(_base(request), r) for r in rows]
    body: dict[str, Any] = {"servers": items}
    if more and rows:
        from overcast.kit.paging import next_href

        path = "/v2.1/servers/detail" if detail else "/v2.1/servers"
        body["servers_links"] = [{"rel": "next", "href": next_href(
            _base(request), path, dict(q.multi_items()), rows[-1].uuid)}]
    return _reply(request, body)


@router.get("/v2.1/servers")
def list_servers(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list_servers(request, ctx, False)


@router.get("/v2.1/servers/detail")
def list_servers_detail(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _list_servers(request, ctx, True)


def _one(request: Request, ctx: RequestContext, uuid: str) -> dict[str, Any]:
    svc = _svc(request)
    with svc.db.session() as s:
        inst = svc.get_instance(s, ctx, uuid)
    return _server_views(request, ctx, [inst])[0]


@router.get("/v2.1/servers/{uuid}")
def get_server(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return _reply(request, {"server": _one(request, ctx, uuid)})


@router.put("/v2.1/servers/{uuid}")
def update_server(uuid: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    sv = val.wrapped(body, "server")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if _ver(request).at_least("2.19"):
        allowed.add("description")
    extra = set(sv) - allowed
    if extra:
        raise BadRequest(f"Additional properties are not allowed "
                         f"({', '.join(sorted(extra))} were unexpected)")
    data: dict[str, Any] = {}
    if "name" in sv:
        if not isinstance(sv["name"], str) or not sv["name"].strip() or len(sv["name"]) > 255:
            raise BadRequest(f"Invalid input for field/attribute name. Value: {sv['name']}.")
        data["name"] = sv["name"]
    if "description" in sv:
        data["description"] = sv["description"]
    if "accessIPv4" in sv:
        data["access_ip_v4"] = sv["accessIPv4"]
    if "accessIPv6" in sv:
        data["access_ip_v6"] = sv["accessIPv6"]
    _svc(request).update_server(ctx, uuid, data)
    return _reply(request, {"server": _one(request, ctx, uuid)})


@router.delete("/v2.1/servers/{uuid}")
def delete_server(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).delete_server(ctx, uuid)
    return _reply(request, None, 204)


POWER = {"os-stop": ("stop", "stop"), "os-start": ("start", "start"),
         "pause": ("pause", "pause"), "unpause": ("unpause", "unpause"),
         "suspend": ("suspend", "suspend"), "resume": ("resume", "resume")}


@router.post("/v2.1/servers/{uuid}/action")
def server_action(uuid: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: exactly one action is expected.")
    (name, arg), = body.items()
    svc = _svc(request)
    if name in POWER:
        action, label = POWER[name]
        svc.power_action(ctx, uuid, action, label)
        return _reply(request, None, 202)
    if name == "reboot":
        kind = arg.get("type") if isinstance(arg, dict) else None
        if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
            raise BadRequest("Invalid input for field/attribute type. Value: "
                             f"{kind}. It must be one of SOFT, HARD.")
        hard = kind.upper() == "HARD"
        svc.power_action(ctx, uuid, "reboot_hard" if hard else "reboot_soft", "reboot")
        return _reply(request, None, 202)
    if name == "rebuild":
        r = arg if isinstance(arg, dict) else {}
        image = r.get("imageRef")
        if not isinstance(image, str) or not image:
            raise BadRequest("Invalid input for field/attribute imageRef. 'imageRef' is a "
                             "required property")
        image = image.rstrip("/").rsplit("/", 1)[-1]
        try:
            uuidlib.UUID(image)
        except ValueError:
            raise BadRequest("Invalid imageRef provided.")
        meta = _metadata(r["metadata"]) if "metadata" in r else None
        inst = svc.rebuild(ctx, uuid, image, r.get("name"), meta)
        return _reply(request, {"server": _server_views(request, ctx, [inst])[0]}, 202)
    if name == "resize":
        flavor = arg.get("flavorRef") if isinstance(arg, dict) else None
        if not isinstance(flavor, (str, int)) or isinstance(flavor, bool) or flavor == "":
            raise BadRequest("Invalid input for field/attribute flavorRef. 'flavorRef' is a "
                             "required property")
        svc.resize(ctx, uuid, str(flavor).rstrip("/").rsplit("/", 1)[-1])
        return _reply(request, None, 202)
    if name == "confirmResize":
        svc.confirm_resize(ctx, uuid)
        return _reply(request, None, 204)
    if name == "revertResize":
        svc.revert_resize(ctx, uuid)
        return _reply(request, None, 202)
    if name == "createImage":
        r = arg if isinstance(arg, dict) else {}
        image_name = r.get("name")
        if not isinstance(image_name, str) or not image_name.strip() or len(image_name) > 255:
            raise BadRequest("Invalid input for field/attribute name. 'name' is a required "
                             "property of 1 to 255 characters.")
        meta = _metadata(r["metadata"]) if r.get("metadata") is not None else {}
        image_id = svc.create_image(ctx, uuid, image_name, meta)
        location = f"{request.app.state.settings.base_url}/image/v2/images/{image_id}"
        if _ver(request).at_least("2.45"):
            resp = _reply(request, {"image_id": image_id}, 202)
        else:
            resp = _reply(request, None, 202)
        resp.headers["Location"] = location
        return resp
    if name in ("addSecurityGroup", "removeSecurityGroup"):
        group = arg.get("name") if isinstance(arg, dict) else None
        if not isinstance(group, str) or not group.strip():
            raise BadRequest("Security group name cannot be empty")
        svc.security_group_action(ctx, uuid, group.strip(), name == "addSecurityGroup")
        return _reply(request, None, 202)
    if name in ("lock", "unlock"):
        svc.set_lock(ctx, uuid, name == "lock")
        return _reply(request, None, 202)
    if name == "os-getConsoleOutput":
        length = None
        if isinstance(arg, dict) and arg.get("length") is not None:
            try:
                length = int(arg["length"])
            except (TypeError, ValueError):
                raise BadRequest(f"Invalid input for field/attribute length. Value: "
                                 f"{arg['length']}.")
            if length < -1:
                raise BadRequest("length must be >= -1")
            if length == -1:
                length = None
        return _reply(request, {"output": svc.console_output(ctx, uuid, length)})
    raise BadRequest(f"There is no such action: {name}")


@router.get("/v2.1/servers/{uuid}/ips")
def server_ips(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return _reply(request, {"addresses": _one(request, ctx, uuid)["addresses"]})


# ------------------------------------------------------------------ metadata
@router.get("/v2.1/servers/{uuid}/metadata")
def get_metadata(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return _reply(request, {"metadata": _one(request, ctx, uuid)["metadata"]})


@router.post("/v2.1/servers/{uuid}/metadata")
def update_metadata(uuid: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    meta = _metadata(val.wrapped(body, "metadata"))
    return _reply(request, {"metadata": _svc(request).set_metadata(ctx, uuid, meta, False)})


@router.put("/v2.1/servers/{uuid}/metadata")
def replace_metadata(uuid: str, request: Request, body: Any = JSON_BODY,
                     ctx: RequestContext = Ctx) -> Response:
    meta = _metadata(val.wrapped(body, "metadata"))
    return _reply(request, {"metadata": _svc(request).set_metadata(ctx, uuid, meta, True)})


@router.get("/v2.1/servers/{uuid}/metadata/{key}")
def get_meta_item(uuid: str, key: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    meta = _one(request, ctx, uuid)["metadata"]
    if key not in meta:
        raise NotFound("Metadata item was not found")
    return _reply(request, {"meta": {key: meta[key]}})


@router.put("/v2.1/servers/{uuid}/metadata/{key}")
def put_meta_item(uuid: str, key: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    meta = _metadata(val.wrapped(body, "meta"), "meta")
    if len(meta) != 1 or key not in meta:
        raise BadRequest("Request body and URI mismatch")
    _svc(request).set_metadata(ctx, uuid, meta, False)
    return _reply(request, {"meta": meta})


@router.delete("/v2.1/servers/{uuid}/metadata/{key}")
def delete_meta_item(uuid: str, key: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    _svc(request).delete_metadata(ctx, uuid, key)
    return _reply(request, None, 204)


# ----------------------------------------------------------- instance actions
@router.get("/v2.1/servers/{uuid}/os-instance-actions")
def list_actions(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    return _reply(request, {"instanceActions": [views.action(a, v) for a in
                                                _svc(request).actions(ctx, uuid)]})


@router.get("/v2.1/servers/{uuid}/os-instance-actions/{request_id}")
def get_action(uuid: str, request_id: str, request: Request,
               ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    act, events = _svc(request).action(ctx, uuid, request_id)
    body = views.action(act, v)
    if ctx.is_admin or v.at_least("2.51"):
        body["events"] = [views.event(e, v, ctx.is_admin) for e in events]
    return _reply(request, {"instanceAction": body})


# ------------------------------------------------- services and hypervisors
@router.get("/v2.1/os-services")
def list_services(request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    v = _ver(request)
    q = request.query_params
    items = [views.service(s, v, service_up(s)) for s in _svc(request).services()
             if (not q.get("host") or s.host == q["host"]) and
             (not q.get("binary") or s.binary == q["binary"])]
    return _reply(request, {"services": items})


@router.put("/v2.1/os-services/{action}")
def update_service(action: str, request: Request, body: Any = JSON_BODY,
                   ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    v = _ver(request)
    b = body if isinstance(body, dict) else {}
    data: dict[str, Any] = {}
    if v.at_least("2.53"):
        if "status" in b:
            if b["status"] not in ("enabled", "disabled"):
                raise BadRequest("Invalid input for field/attribute status.")
            data["disabled"] = b["status"] == "disabled"
        if "disabled_reason" in b:
            data["disabled_reason"] = b["disabled_reason"]
        if "forced_down" in b:
            if not isinstance(b["forced_down"], bool):
                raise BadRequest("Invalid input for field/attribute forced_down.")
            data["forced_down"] = b["forced_down"]
        svc = _svc(request).hosts.update_service(action, data)
        return _reply(request, {"service": views.service(svc, v, service_up(svc))})
    host, binary = b.get("host"), b.get("binary")
    if not isinstance(host, str) or not isinstance(binary, str):
        raise BadRequest("Invalid input: host and binary are required.")
    if action == "enable":
        data = {"disabled": False}
    elif action in ("disable", "disable-log-reason"):
        data = {"disabled": True, "disabled_reason": b.get("disabled_reason")}
    elif action == "force-down" and v.at_least("2.11"):
        data = {"forced_down": bool(b.get("forced_down"))}
    else:
        raise NotFound("Unknown action")
    match = [s for s in _svc(request).services() if s.host == host and s.binary == binary]
    if not match:
        raise NotFound(f"Service {binary} on host {host} not found.")
    svc = _svc(request).hosts.update_service(match[0].uuid, data)
    out: dict[str, Any] = {"host": host, "binary": binary,
                           "status": "disabled" if svc.disabled else "enabled"}
    if action.startswith("disable"):
        out["disabled_reason"] = svc.disabled_reason
    if action == "force-down":
        out = {"host": host, "binary": binary, "forced_down": svc.forced_down}
    return _reply(request, {"service": out})


def _hypervisor_data(request: Request) -> list[tuple[m.Service, dict[str, int], int]]:
    from overcast.compute.hosts import provider_uuid

    placement = request.app.state.placement
    svc = _svc(request)
    out = []
    with svc.db.session() as s:
        running: dict[str, int] = {}
        for host in s.scalars(select(m.Instance.host).where(m.Instance.deleted.is_(False),
                                                              m.Instance.host.isnot(None))):
            if host:
                running[host] = running.get(host, 0) + 1
    for service in svc.services():
        if service.binary != "nova-compute":
            continue
        used: dict[str, int]
        try:
            used = placement.usages(provider_uuid(service.host))
        except NotFound:
            used = {}
        out.append((service, used, running.get(service.host, 0)))
    return out


def _hypervisors(request: Request, ctx: RequestContext, detail: bool) -> Response:
    _admin(ctx)
    v = _ver(request)
    pattern = request.query_params.get("hypervisor_hostname_pattern")
    items = [views.hypervisor(svc, v, service_up(svc), used, n, detail)
             for svc, used, n in _hypervisor_data(request)
             if not pattern or pattern in svc.host]
    return _reply(request, {"hypervisors": items})


@router.get("/v2.1/os-hypervisors")
def list_hypervisors(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _hypervisors(request, ctx, False)


@router.get("/v2.1/os-hypervisors/detail")
def list_hypervisors_detail(request: Request, ctx: RequestContext = Ctx) -> Response:
    return _hypervisors(request, ctx, True)


@router.get("/v2.1/os-hypervisors/statistics")
def hypervisor_stats(request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    v = _ver(request)
    rows = [views.hypervisor(svc, APIVersion(2, 1), service_up(svc), used, n, True)
            for svc, used, n in _hypervisor_data(request)]
    keys = ["vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
            "free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
            "disk_available_least"]
    stats = {k: sum(int(r[k]) for r in rows) for k in keys}
    stats["count"] = len(rows)
    del v
    return _reply(request, {"hypervisor_statistics": stats})


@router.get("/v2.1/os-hypervisors/{hid}/uptime")
def hypervisor_uptime(hid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    v = _ver(request)
    if v.at_least("2.88"):
        raise NotFound("The resource could not be found.")
    for svc, used, n in _hypervisor_data(request):
        if hid in (svc.uuid, str(svc.id)):
            body = views.hypervisor(svc, v, service_up(svc), used, n, False)
            body["uptime"] = (svc.resources or {}).get("uptime") or None
            return _reply(request, {"hypervisor": body})
    raise NotFound(f"Hypervisor {hid} could not be found.")


@router.get("/v2.1/os-hypervisors/{hid}")
def get_hypervisor(hid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    v = _ver(request)
    for svc, used, n in _hypervisor_data(request):
        if hid in (svc.uuid, str(svc.id)):
            return _reply(request, {"hypervisor": views.hypervisor(svc, v, service_up(svc),
                                                                   used, n, True)})
    raise NotFound(f"Hypervisor {hid} could not be found.")


@router.get("/v2.1/os-aggregates")
def list_aggregates(request: Request, ctx: RequestContext = Ctx) -> Response:
    # Host aggregates cannot be created yet, so the truthful list is empty
    # (`openstack hypervisor show` reads it to show a host's aggregates).
    _admin(ctx)
    return _reply(request, {"aggregates": []})


@router.get("/v2.1/os-availability-zone")
@router.get("/v2.1/os-availability-zone/detail")
def availability_zones(request: Request, ctx: RequestContext = Ctx) -> Response:
    detail = request.url.path.endswith("/detail")
    if detail:
        _admin(ctx)
    zones: dict[str, dict[str, Any]] = {}
    for svc in _svc(request).services():
        z = zones.setdefault(svc.zone, {"zoneName": svc.zone,
                                        "zoneState": {"available": False}, "hosts": {}})
        up = service_up(svc) and not svc.disabled
        z["zoneState"]["available"] = z["zoneState"]["available"] or up
        z["hosts"].setdefault(svc.host, {})[svc.binary] = {
            "available": up, "active": not svc.disabled,
            "updated_at": views.usage_time(svc.last_seen_at)}
    items = []
    for z in zones.values():
        if not detail:
            z = {"zoneName": z["zoneName"], "zoneState": z["zoneState"], "hosts": None}
        items.append(z)
    return _reply(request, {"availabilityZoneInfo": items})


# -------------------------------------------------------------- quotas/limits
def _quota_keys(v: APIVersion) -> list[str]:
    keys = ["instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
            "server_group_members", "injected_files", "injected_file_content_bytes",
            "injected_file_path_bytes"]
    if not v.at_least("2.36"):
        keys += ["floating_ips", "fixed_ips", "security_groups", "security_group_rules"]
    return keys


def _check_quota_target(ctx: RequestContext, project_id: str) -> None:
    if not ctx.is_admin and project_id != ctx.project_id:
        raise Forbidden("Policy doesn't allow os_compute_api:os-quota-sets:show to be "
                        "performed.")


@router.get("/v2.1/os-quota-sets/{project_id}")
@router.get("/v2.1/os-quota-sets/{project_id}/detail")
def show_quotas(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _check_quota_target(ctx, project_id)
    v = _ver(request)
    svc = _svc(request)
    with svc.db.session() as s:
        limits = svc.quotas.limits(s, project_id)
        used = svc.quotas.usage(s, project_id)
    detail = request.url.path.endswith("/detail")
    body: dict[str, Any] = {"id": project_id}
    for k in _quota_keys(v):
        body[k] = {"limit": limits[k], "in_use": used.get(k, 0), "reserved": 0} if detail \
            else limits[k]
    return _reply(request, {"quota_set": body})


@router.get("/v2.1/os-quota-sets/{project_id}/defaults")
def default_quotas(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    body: dict[str, Any] = {"id": project_id}
    body.update({k: DEFAULT_QUOTAS[k] for k in _quota_keys(v)})
    return _reply(request, {"quota_set": body})


@router.put("/v2.1/os-quota-sets/{project_id}")
def update_quotas(project_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    v = _ver(request)
    q = val.wrapped(body, "quota_set")
    keys = set(_quota_keys(v))
    values: dict[str, int] = {}
    for k, raw in q.items():
        if k == "force":
            continue
        if k not in keys:
            raise BadRequest(f"Invalid input for field/attribute quota_set. Additional "
                             f"properties are not allowed ('{k}' was unexpected)")
        try:
            n = int(raw)
            if isinstance(raw, bool):
                raise ValueError
        except (TypeError, ValueError):
            raise BadRequest(f"Invalid input for field/attribute {k}. Value: {raw}.")
        if n < -1:
            raise BadRequest(f"Invalid input for field/attribute {k}. Value: {raw}. "
                             f"{raw} is less than the minimum of -1")
        values[k] = n
    _svc(request).quotas.set(project_id, values)
    svc = _svc(request)
    with svc.db.session() as s:
        limits = svc.quotas.limits(s, project_id)
    return _reply(request, {"quota_set": {k: limits[k] for k in _quota_keys(v)}})


@router.delete("/v2.1/os-quota-sets/{project_id}")
def delete_quotas(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _admin(ctx)
    _svc(request).quotas.delete(project_id)
    return _reply(request, None, 202)


@router.get("/v2.1/limits")
def limits(request: Request, ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    svc = _svc(request)
    project = request.query_params.get("tenant_id") or ctx.project_id or ""
    if project != ctx.project_id:
        _admin(ctx)
    with svc.db.session() as s:
        lim = svc.quotas.limits(s, project)
        used = svc.quotas.usage(s, project)
    absolute: dict[str, Any] = {
        "maxTotalInstances": lim["instances"], "maxTotalCores": lim["cores"],
        "maxTotalRAMSize": lim["ram"], "maxServerMeta": lim["metadata_items"],
        "maxPersonality": lim["injected_files"],
        "maxPersonalitySize": lim["injected_file_content_bytes"],
        "maxTotalKeypairs": lim["key_pairs"], "maxServerGroups": lim["server_groups"],
        "maxServerGroupMembers": lim["server_group_members"],
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": used["server_groups"]}
    if not v.at_least("2.36"):
        absolute.update({"maxSecurityGroups": -1, "maxSecurityGroupRules": -1,
                         "maxTotalFloatingIps": -1, "totalFloatingIpsUsed": 0,
                         "totalSecurityGroupsUsed": 0})
    if not v.at_least("2.39"):
        absolute["maxImageMeta"] = 128
    return _reply(request, {"limits": {"rate": [], "absolute": absolute}})


# ------------------------------------------------------------- server groups
POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


@router.get("/v2.1/os-server-groups")
def list_groups(request: Request, ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    all_projects = request.query_params.get("all_projects", "").lower() in ("true", "1")
    return _reply(request, {"server_groups": [
        views.server_group(g, members, v)
        for g, members in _svc(request).server_groups.list(ctx, all_projects)]})


@router.post("/v2.1/os-server-groups")
def create_group(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    v = _ver(request)
    g = val.wrapped(body, "server_group")
    name = val.string(g, "name", "server_group", required=True, min_len=1, max_len=255)
    rules: dict[str, Any] = {}
    if v.at_least("2.64"):
        policy = g.get("policy")
        rules = g.get("rules") or {}
    else:
        pols = g.get("policies")
        if not isinstance(pols, list) or len(pols) != 1:
            raise BadRequest("Invalid input for field/attribute policies.")
        policy = pols[0]
    if policy not in POLICIES or (policy == "soft-affinity" and not v.at_least("2.15")) or \
            (policy == "soft-anti-affinity" and not v.at_least("2.15")):
        raise BadRequest(f"Invalid input for field/attribute policy. Value: {policy}.")
    grp = _svc(request).server_groups.create(ctx, name, policy, rules)
    return _reply(request, {"server_group": views.server_group(grp, [], v)})


@router.get("/v2.1/os-server-groups/{gid}")
def get_group(gid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    g, members = _svc(request).server_groups.get(ctx, gid)
    return _reply(request, {"server_group": views.server_group(g, members, _ver(request))})


@router.delete("/v2.1/os-server-groups/{gid}")
def delete_group(gid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).server_groups.delete(ctx, gid)
    return _reply(request, None, 204)


# ------------------------------------------------------------------- mounting
def setup(app: FastAPI) -> None:
    """Mount compute's routes and its bus; `app.py` makes the ComputeService itself
    (`app.state.compute`), with its ports, once every service exists."""
    from overcast.bus import make_bus

    settings = app.state.settings
    bus = getattr(app.state, "bus", None) or make_bus(settings.bus_url,
                                                      settings.bus_namespace)
    app.state.bus = bus

    async def start(app: FastAPI) -> None:
        from overcast.compute.conductor import Conductor

        compute: ComputeService = app.state.compute
        compute.loop = asyncio.get_running_loop()
        await asyncio.to_thread(compute.flavors.ensure_defaults)
        await bus.start()
        assert compute.placement is not None
        conductor = Conductor(app.state.db, bus, compute, compute.placement,
                              network=compute.network, image=compute.image)
        app.state.conductor = conductor
        await conductor.start()
        agents = []
        if settings.local_agent:
            from overcast.compute.local import start_local_agents

            agents = await start_local_agents(app, settings, bus)
        app.state.local_agents = agents

    async def stop(app: FastAPI) -> None:
        for agent in getattr(app.state, "local_agents", []):
            await agent.stop()
        await bus.stop()

    app.state.specs.append(ServiceSpec(
        name="nova", type="compute", prefix="/compute", error_style="nova",
        endpoint_path="/compute/v2.1", routers=[router], on_startup=[start],
        on_shutdown=[stop]))
