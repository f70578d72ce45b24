"""Compute request parsing: what each body and query accepts, and how it refuses.

Route modules hand a request's body (or query) to one of these functions and get
back plain data for the service, or a 400 worded exactly as Nova words it. The
checks are today's hand-written ones, gathered here; full JSON-schema validation
replaces them later without the routes changing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
import uuid as uuidlib
from collections.abc import Callable, Mapping
from typing import Any

from overcast.kit import validate as val
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion
from overcast.kit.paging import parse_limit

Query = Mapping[str, str]


# ------------------------------------------------------------------ flavors
def flavor_list_query(q: Query) -> dict[str, Any]:
    raw = q.get("is_public")
    is_public: bool | None = True
    if raw is not None:
        is_public = None if raw.lower() == "none" else val.query_bool(raw, "is_public")

    def intq(name: str) -> int | None:
        if q.get(name) is None:
            return None
        try:
            value = int(q[name])
        except ValueError:
            raise BadRequest(f"Invalid {name} filter [{q[name]}]")
        if not 0 <= value < 2**63:
            raise BadRequest(f"Invalid {name} filter [{q[name]}]")
        return value

    return {"is_public": is_public, "min_ram": intq("minRam"), "min_disk": intq("minDisk"),
            "sort_key": q.get("sort_key", "flavorid"), "sort_dir": q.get("sort_dir", "asc"),
            "limit": parse_limit(q.get("limit"), default=None, maximum=1000),
            "marker": q.get("marker")}


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


def flavor_create(body: Any) -> dict[str, Any]:
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
        # A flavor's description comes with 2.55, above the advertised maximum: at
        # every version this API serves, a body with one is refused as Nova does.
        raise NotFound("The resource could not be found.")
    return data


def extra_specs(body: Any) -> dict[str, str]:
    specs = val.wrapped(body, "extra_specs")
    for k, v in specs.items():
        if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not k or \
                len(k) > 255 or len(str(v)) > 255:
            raise BadRequest(f"Invalid input for field/attribute extra_specs. Value: {k}.")
    return {k: str(v) for k, v in specs.items()}


def extra_spec(body: Any, key: str) -> dict[str, str]:
    """PUT .../os-extra_specs/{key}: a body of exactly that one key."""
    if not isinstance(body, dict) or len(body) != 1 or key not in body:
        raise BadRequest("Request body and URI mismatch")
    return extra_specs({"extra_specs": body})


def one_action(body: Any) -> tuple[str, Any]:
    """An action body: exactly one {name: argument}."""
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: exactly one action is expected.")
    (name, arg), = body.items()
    return name, arg


def flavor_action(body: Any) -> tuple[bool, str]:
    """(add?, tenant) of addTenantAccess / removeTenantAccess."""
    name, arg = one_action(body)
    if name not in ("addTenantAccess", "removeTenantAccess") or not isinstance(arg, dict) or \
            not isinstance(arg.get("tenant"), str):
        raise BadRequest(f"Invalid flavor action {name}.")
    return name == "addTenantAccess", arg["tenant"]


# ----------------------------------------------------------------- keypairs
def keypair_create(body: Any, v: APIVersion, own_user: str | None,
                   check_user: Callable[[str], None]) -> dict[str, Any]:
    """name, public_key (None: generate one), type and user_id of a new key pair;
    `check_user` authorises another user's id, in the order Nova checks it."""
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
    user_id = own_user or ""
    if "user_id" in k:
        if not v.at_least("2.10"):
            raise BadRequest("Additional properties are not allowed ('user_id' was unexpected)")
        if k["user_id"] != own_user:
            check_user(k["user_id"])
        user_id = k["user_id"]
    extra = set(k) - {"name", "public_key", "type", "user_id"}
    if extra:
        raise BadRequest(f"Additional properties are not allowed "
                         f"({', '.join(sorted(extra))} were unexpected)")
    return {"name": name, "public_key": None if public_key is val.MISSING else public_key,
            "type": key_type, "user_id": user_id}


def keypair_page(q: Query, v: APIVersion) -> tuple[int | None, str | None]:
    if not v.at_least("2.35"):
        return None, None
    return parse_limit(q.get("limit"), default=None, maximum=1000), q.get("marker")


# ------------------------------------------------------------------ servers
SERVER_KEYS = {"name", "imageRef", "flavorRef", "networks", "key_name", "metadata",
               "user_data", "min_count", "max_count", "availability_zone", "accessIPv4",
               "accessIPv6", "OS-DCF:diskConfig", "config_drive", "adminPass",
               "security_groups", "block_device_mapping_v2", "block_device_mapping",
               "description", "return_reservation_id", "personality", "tags", "hostname"}


def metadata(value: Any, where: str = "metadata") -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute {where}. Value: {value}. "
                         f"{value!r} is not of type 'object'")
    for k, v in value.items():
        if not isinstance(v, str) or not k or len(k) > 255 or len(v) > 255:
            raise BadRequest(f"Invalid input for field/attribute {where}. Value: {value}. "
                             f"Keys and values must be strings of 1-255 characters.")
    return dict(value)


def metadata_body(body: Any) -> dict[str, str]:
    """POST/PUT .../metadata: {"metadata": {...}}."""
    return metadata(val.wrapped(body, "metadata"))


def meta_item(body: Any, key: str) -> dict[str, str]:
    """PUT .../metadata/{key}: {"meta": {key: value}}, that one key."""
    meta = metadata(val.wrapped(body, "meta"), "meta")
    if len(meta) != 1 or key not in meta:
        raise BadRequest("Request body and URI mismatch")
    return meta


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


def _ref(value: str | int) -> str:
    """The id at the end of an id-or-link reference."""
    return str(value).rstrip("/").rsplit("/", 1)[-1]


def _boot_image(sv: dict[str, Any]) -> str:
    image = sv.get("imageRef", "")
    if not isinstance(image, str):
        raise BadRequest(f"Invalid input for field/attribute imageRef. Value: {image}.")
    image = _ref(image) if image else ""
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
    return image


def _networks(sv: dict[str, Any], v: APIVersion) -> Any:
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
    return networks


def _user_data(sv: dict[str, Any]) -> str | None:
    user_data = sv.get("user_data")
    if user_data is not None:
        if not isinstance(user_data, str) or len(user_data) > 65535:
            raise BadRequest("Invalid input for field/attribute user_data.")
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("User data needs to be valid base 64.")
    return user_data


def _access_ips(sv: dict[str, Any]) -> None:
    for ipkey in ("accessIPv4", "accessIPv6"):
        if sv.get(ipkey):
            try:
                ip = ipaddress.ip_address(sv[ipkey])
                if ip.version != (4 if ipkey == "accessIPv4" else 6):
                    raise ValueError
            except ValueError:
                raise BadRequest(f"Invalid input for field/attribute {ipkey}. Value: "
                                 f"{sv[ipkey]}. {sv[ipkey]!r} is not a '"
                                 f"{'ipv4' if ipkey == 'accessIPv4' else 'ipv6'}'")


def _security_groups(sv: dict[str, Any]) -> list[str] | None:
    groups = sv.get("security_groups")
    if groups is None:
        return None
    if not isinstance(groups, list) or not all(
            isinstance(g, dict) and set(g) == {"name"} and isinstance(g["name"], str)
            and g["name"].strip() for g in groups):
        raise BadRequest("Invalid input for field/attribute security_groups. Value: "
                         f"{groups}. Each item must be an object with a non-empty "
                         "'name' and nothing else")
    return list(dict.fromkeys(g["name"].strip() for g in groups)) or None


def server_create(body: Any, v: APIVersion) -> dict[str, Any]:
    """POST /servers: what `ComputeService.create_servers` takes."""
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
    image = _boot_image(sv)
    networks = _networks(sv, v)
    user_data = _user_data(sv)
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
    _access_ips(sv)
    disk_config = sv.get("OS-DCF:diskConfig")
    if disk_config is not None and disk_config not in ("AUTO", "MANUAL"):
        raise BadRequest("Invalid input for field/attribute OS-DCF:diskConfig.")
    groups = _security_groups(sv)
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise BadRequest("Invalid input for field/attribute os:scheduler_hints.")
    return {"name": name, "flavor_ref": _ref(flavor), "image_ref": image,
            "networks": networks, "key_name": key_name,
            "metadata": metadata(sv.get("metadata") or {}), "user_data": user_data,
            "min_count": min_count, "max_count": max_count, "availability_zone": az,
            "access_ip_v4": sv.get("accessIPv4"), "access_ip_v6": sv.get("accessIPv6"),
            "config_drive": sv.get("config_drive") in (True, "True", "true", "1", 1),
            "description": sv.get("description"), "scheduler_hints": hints,
            "admin_pass": sv.get("adminPass"), "security_groups": groups,
            "return_reservation_id": bool(sv.get("return_reservation_id"))}


def server_update(body: Any, v: APIVersion) -> dict[str, Any]:
    sv = val.wrapped(body, "server")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if v.at_least("2.19"):
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
        if sv["description"] is not None and (not isinstance(sv["description"], str) or
                                              len(sv["description"]) > 255):
            raise BadRequest("Invalid input for field/attribute description.")
        data["description"] = sv["description"]
    _access_ips(sv)
    if "accessIPv4" in sv:
        data["access_ip_v4"] = sv["accessIPv4"]
    if "accessIPv6" in sv:
        data["access_ip_v6"] = sv["accessIPv6"]
    return data


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
SORT_KEYS = {"created_at", "display_name", "uuid", "updated_at", "vm_state", "task_state",
             "launched_at", "host", "key_name", "availability_zone", "display_description",
             "name", "power_state"}


def all_tenants(q: Query) -> bool:
    raw = q.get("all_tenants")
    return raw is not None and raw.lower() not in ("0", "false", "off", "no")


def server_list_query(q: Any, admin: bool) -> dict[str, Any] | None:
    """Filters, sort, limit and marker of a server listing (a starlette QueryParams);
    None for a status no server can have (the listing is empty)."""
    filters: dict[str, Any] = {}
    if all_tenants(q):
        filters["all_tenants"] = True
    for key in ("name", "image", "flavor", "key_name", "availability_zone",
                "reservation_id", "project_id", "tenant_id", "user_id"):
        if q.get(key):
            filters["project_id" if key == "tenant_id" else key] = q[key]
    if q.get("host") and admin:
        filters["host"] = q["host"]
    if q.get("status"):
        st = q["status"].upper()
        if st not in STATUS_TO_VM:
            return None
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
    sort = []
    for i, key in enumerate(sort_keys):
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort_key {key}.")
        d = sort_dirs[i] if i < len(sort_dirs) else sort_dirs[-1]
        if d not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_dir {d}.")
        col = {"display_name": "name", "display_description": "description"}.get(key, key)
        sort.append((col, d))
    return {"filters": filters, "sort": sort, "marker": q.get("marker"),
            "limit": parse_limit(q.get("limit"), default=None, maximum=1000)}


# ----------------------------------------------------------- server actions
def reboot(arg: Any) -> bool:
    """True for a hard reboot."""
    kind = arg.get("type") if isinstance(arg, dict) else None
    if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
        raise BadRequest("Invalid input for field/attribute type. Value: "
                         f"{kind}. It must be one of SOFT, HARD.")
    return kind.upper() == "HARD"


def rebuild(arg: Any) -> tuple[str, str | None, dict[str, str] | None]:
    """(image id, new name, new metadata) of a rebuild."""
    r = arg if isinstance(arg, dict) else {}
    image = r.get("imageRef")
    if not isinstance(image, str) or not image:
        raise BadRequest("Invalid input for field/attribute imageRef. 'imageRef' is a "
                         "required property")
    image = _ref(image)
    try:
        uuidlib.UUID(image)
    except ValueError:
        raise BadRequest("Invalid imageRef provided.")
    meta = metadata(r["metadata"]) if "metadata" in r else None
    return image, r.get("name"), meta


def resize(arg: Any) -> str:
    flavor = arg.get("flavorRef") if isinstance(arg, dict) else None
    if not isinstance(flavor, (str, int)) or isinstance(flavor, bool) or flavor == "":
        raise BadRequest("Invalid input for field/attribute flavorRef. 'flavorRef' is a "
                         "required property")
    return _ref(flavor)


def create_image(arg: Any) -> tuple[str, dict[str, str]]:
    r = arg if isinstance(arg, dict) else {}
    image_name = r.get("name")
    if not isinstance(image_name, str) or not image_name.strip() or len(image_name) > 255:
        raise BadRequest("Invalid input for field/attribute name. 'name' is a required "
                         "property of 1 to 255 characters.")
    meta = metadata(r["metadata"]) if r.get("metadata") is not None else {}
    return image_name, meta


def security_group_name(arg: Any) -> str:
    group = arg.get("name") if isinstance(arg, dict) else None
    if not isinstance(group, str) or not group.strip():
        raise BadRequest("Security group name cannot be empty")
    return group.strip()


def console_length(arg: Any) -> int | None:
    """The number of lines asked for; None for all of them."""
    if not isinstance(arg, dict) or arg.get("length") is None:
        return None
    try:
        length = int(arg["length"])
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute length. Value: "
                         f"{arg['length']}.")
    if length < -1:
        raise BadRequest("length must be >= -1")
    return None if length == -1 else length


# ------------------------------------------------- services, quotas, groups
def service_update(action: str, body: Any, v: APIVersion) -> tuple[str, str, dict[str, Any]]:
    """(host, binary, changes) of PUT /os-services/{action} (the pre-2.53 form)."""
    b = body if isinstance(body, dict) else {}
    host, binary = b.get("host"), b.get("binary")
    if not isinstance(host, str) or not isinstance(binary, str):
        raise BadRequest("Invalid input: host and binary are required.")
    if action == "enable":
        data: dict[str, Any] = {"disabled": False}
    elif action in ("disable", "disable-log-reason"):
        data = {"disabled": True, "disabled_reason": b.get("disabled_reason")}
    elif action == "force-down" and v.at_least("2.11"):
        data = {"forced_down": bool(b.get("forced_down"))}
    else:
        raise NotFound("Unknown action")
    return host, binary, data


def quota_set(body: Any, keys: list[str]) -> dict[str, int]:
    q = val.wrapped(body, "quota_set")
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
    return values


GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def server_group_create(body: Any, v: APIVersion) -> tuple[str, str]:
    """(name, policy) of a new server group (the pre-2.64 `policies` list)."""
    g = val.wrapped(body, "server_group")
    name = val.string(g, "name", "server_group", required=True, min_len=1, max_len=255)
    pols = g.get("policies")
    if not isinstance(pols, list) or len(pols) != 1:
        raise BadRequest("Invalid input for field/attribute policies.")
    policy = pols[0]
    if policy not in GROUP_POLICIES or (policy == "soft-affinity" and not v.at_least("2.15")) \
            or (policy == "soft-anti-affinity" and not v.at_least("2.15")):
        raise BadRequest(f"Invalid input for field/attribute policy. Value: {policy}.")
    return name, policy
