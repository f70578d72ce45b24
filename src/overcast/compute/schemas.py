"""Compute request schemas and parsing: what each body and query accepts, and how
it refuses.

Two layers, as Nova has them. First the JSON schemas (after Nova's
api/openstack/compute/schemas/*.py, per microversion range), which
each route declares with `@accepts` so they run before any service code and appear
in /openapi.json: types, formats, enums, lengths and ranges. Then the hand-written
parsers, which turn a checked body into plain data for the service and keep Nova's
own sentences for what a schema cannot say (an unknown action, a body and URI that
disagree, a base64 that does not decode, min_count above max_count).
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

from overcast.compute import personality, requested_destination, trusted_certs
from overcast.compute.versions import VERSIONS
from overcast.kit import validate as val
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion
from overcast.kit.paging import parse_limit
from overcast.kit.schema import MAX_INT, Schema, Versioned, string

Query = Mapping[str, str]


# =================================================================== JSON schemas
# After Nova's api/openstack/compute/schemas/*.py and api/validation/parameter_types.py,
# for the microversions this API serves (`versions.VERSIONS`). The route declares them with
# `@accepts`; the hand parsers below run after them and turn the checked body into
# what the service takes (and keep Nova's own sentences for what a schema cannot say).

def _nova(schema: dict[str, Any]) -> Schema:
    return Schema(schema, "nova")


def _obj(props: dict[str, Any], required: list[str] | None = None, *,
         extra: bool = False, **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "additionalProperties": extra, **more}
    if required:
        out["required"] = required
    return out


def _wrap(key: str, inner: dict[str, Any], **more: Any) -> dict[str, Any]:
    """{key: inner}, nothing else, as Nova's bodies are."""
    return _obj({key: inner}, [key], **more)


#: Nova's `name`: printable, 1-255, no leading or trailing whitespace.
NAME: dict[str, Any] = string(255, min_length=1, pattern=r"^(?!\s)[\s\S]*(?<!\s)$")
#: Nova's `description`: printable (spaces anywhere), at most 255, or null.
DESCRIPTION: dict[str, Any] = {"type": ["string", "null"], "maxLength": 255,
                               "format": "name"}
#: Nova's `boolean`: a JSON boolean or one of the strings oslo understands.
BOOLEAN: dict[str, Any] = {"type": ["boolean", "string"], "enum": [
    True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
    False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"]}
TRUE_STRINGS = frozenset({"True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes",
                          "yes"})
UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
IP_ADDRESS: dict[str, Any] = {"type": "string", "anyOf": [{"format": "ipv4"},
                                                          {"format": "ipv6"}]}
DISK_CONFIG: dict[str, Any] = {"type": "string", "enum": ["AUTO", "MANUAL"]}
ADMIN_PASSWORD: dict[str, Any] = {"type": "string", "maxLength": 255}
#: A flavor reference: its id or its link.
FLAVOR_REF: dict[str, Any] = {"type": ["string", "integer"], "minLength": 1,
                              "maxLength": 255, "format": "name"}
#: Nova's `metadata`: keys of 1-255 from a small alphabet, string values up to 255.
METADATA_KEY = r"^[a-zA-Z0-9\-_:. ]{1,255}$"
METADATA: dict[str, Any] = {"type": "object", "additionalProperties": False,
                            "patternProperties": {METADATA_KEY: {"type": "string",
                                                                 "maxLength": 255}}}
#: Nova's tag (device tags on networks and block devices: 2.32, and 2.42 on).
TAG: dict[str, Any] = {"type": "string", "pattern": r"^[^,/]*$", "minLength": 1,
                       "maxLength": 60, "format": "name"}


def _int_or_digits(minimum: int, maximum: int, pattern: str) -> dict[str, Any]:
    """An integer as a JSON number in [minimum, maximum] or a string matching
    `pattern` (as Nova's ['integer', 'string'] types: the range is for numbers, the
    pattern for strings, and the parser checks a string's value)."""
    return {"type": ["integer", "string"], "minimum": minimum, "maximum": maximum,
            "pattern": pattern}


#: Nova's `positive_integer`.
POSITIVE_INT = _int_or_digits(1, MAX_INT, r"^[0-9]{1,19}$")
#: Flavor sizes, as Nova's `flavor_param_positive`/`_non_negative`: up to 0x7FFFFFFF.
MAX_DB_INT = 0x7FFFFFFF


def _flavor_size(minimum: int) -> dict[str, Any]:
    return _int_or_digits(minimum, MAX_DB_INT, r"^[0-9]{1,10}$")


BASE64: dict[str, Any] = {"type": "string", "pattern": r"^[A-Za-z0-9+/=\s]*$"}
#: Nova's personality: a path's length is the injected_file_path_bytes quota's (403)
PERSONALITY: dict[str, Any] = {"type": "array", "items": _obj(
    {"path": {"type": "string"}, "contents": BASE64})}

# ------------------------------------------------------------------ servers
_BDM_LEGACY: dict[str, Any] = {
    "virtual_name": {"type": "string", "maxLength": 255},
    "volume_id": UUID, "snapshot_id": UUID,
    "volume_size": _int_or_digits(1, MAX_DB_INT, r"^[0-9]{1,10}$"),
    "device_name": {"type": "string", "minLength": 1, "maxLength": 255,
                    "pattern": r"^[a-zA-Z0-9._/-]*$"},
    "delete_on_termination": BOOLEAN, "no_device": {},
    "connection_info": {"type": "string", "maxLength": 16777215},
}
_BDM_V2: dict[str, Any] = {
    **_BDM_LEGACY,
    "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
    "uuid": {"type": "string", "minLength": 1, "maxLength": 255,
             "pattern": r"^[a-zA-Z0-9._-]*$"},
    "image_id": UUID,
    "destination_type": {"type": "string", "enum": ["local", "volume"]},
    "guest_format": {"type": "string", "maxLength": 255},
    "device_type": {"type": "string", "maxLength": 255},
    "disk_bus": {"type": "string", "maxLength": 255},
    "boot_index": {**_int_or_digits(-(2**31), MAX_DB_INT, r"^-?[0-9]{1,10}$"),
                   "type": ["integer", "string", "null"]},
}
_UUID_OR_LIST: dict[str, Any] = {"type": ["string", "array"], "format": "uuid",
                                 "items": UUID}
_HINTS: dict[str, Any] = _obj({
    "group": _UUID_OR_LIST, "different_host": _UUID_OR_LIST, "same_host": _UUID_OR_LIST,
    "query": {"type": ["string", "object"]}, "target_cell": NAME,
    "different_cell": {"type": ["string", "array"], "items": {"type": "string"}},
    "build_near_host_ip": IP_ADDRESS,
    "cidr": {"type": "string", "pattern": r"^/[0-9a-f.:]+$"},
}, extra=True)


def _network_item(*, uuid_format: bool, tag: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "fixed_ip": IP_ADDRESS,
        "port": {"type": ["string", "null"], "format": "uuid"},
        "uuid": UUID if uuid_format else {"type": "string", "maxLength": 255}}
    if tag:
        props["tag"] = TAG
    return _obj(props)


#: Nova's server tags (2.26): at most 50 per server.
SERVER_TAGS: dict[str, Any] = {"type": "array", "items": TAG, "maxItems": 50}


SERVER_TAGS_SET = _nova(_obj({"tags": SERVER_TAGS}, ["tags"]))
#: PUT /servers/{id}/tags/{tag}: no body (the tag is in the path)
SERVER_TAG_ADD = _nova({"type": "null"})


#: Nova's `hostname` (2.90): a DNS label.
HOSTNAME: dict[str, Any] = {"type": "string", "minLength": 2, "maxLength": 63,
                            "pattern": "^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$"}
#: Nova's `fqdn` (2.94's hostname): dots (and underscores) too.
FQDN_HOSTNAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255,
                                 "pattern": "^[a-zA-Z0-9-._]*$"}


def _server_create(*, description: bool = False, net_tag: bool = False,
                   bdm_tag: bool = False, networks_required: bool = False,
                   tags: bool = False, personality: bool = True,
                   trusted: bool = False, volume_type: bool = False,
                   destination: bool = False,
                   hostname: dict[str, Any] | None = None) -> Schema:
    bdm_v2 = dict(_BDM_V2, **({"tag": TAG} if bdm_tag else {}))
    if volume_type:  # 2.67: the type of a volume made for the server
        bdm_v2["volume_type"] = {"type": ["string", "null"], "minLength": 0,
                                 "maxLength": 255}
    if networks_required:  # 2.37: a list (uuids now checked) or "none"/"auto", required
        networks: dict[str, Any] = {
            "type": ["array", "string"], "pattern": "^(none|auto)$",
            "items": _network_item(uuid_format=True, tag=net_tag)}
    else:
        networks = {"type": "array", "items": _network_item(uuid_format=False, tag=net_tag)}
    props: dict[str, Any] = {
        "name": NAME, "imageRef": {"anyOf": [UUID, {"type": "string", "maxLength": 0}]},
        "flavorRef": FLAVOR_REF, "adminPass": ADMIN_PASSWORD, "metadata": METADATA,
        "networks": networks, "OS-DCF:diskConfig": DISK_CONFIG,
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "personality": PERSONALITY, "availability_zone": NAME,
        "block_device_mapping": {"type": "array", "items": _obj(_BDM_LEGACY)},
        "block_device_mapping_v2": {"type": "array", "items": _obj(bdm_v2)},
        "config_drive": BOOLEAN, "key_name": NAME,
        "min_count": POSITIVE_INT, "max_count": POSITIVE_INT,
        "return_reservation_id": BOOLEAN,
        "security_groups": {"type": "array", "items": _obj({"name": NAME})},
        "user_data": {"type": "string", "maxLength": 65535},
    }
    if description:
        props["description"] = DESCRIPTION
    if tags:  # 2.52: server tags at create
        props["tags"] = SERVER_TAGS
    if not personality:  # 2.57: no more personality files
        del props["personality"]
    if trusted:  # 2.63
        props["trusted_image_certificates"] = trusted_certs.SCHEMA
    if destination:  # 2.74 (admins)
        props["host"] = props["hypervisor_hostname"] = requested_destination.FQDN
    if hostname:  # 2.90 (2.94: an FQDN)
        props["hostname"] = hostname
    required = ["name", "flavorRef"] + (["networks"] if networks_required else [])
    return _nova(_obj({"server": _obj(props, required), "os:scheduler_hints": _HINTS,
                       "OS-SCH-HNT:scheduler_hints": _HINTS}, ["server"]))


SERVER_CREATE = Versioned(VERSIONS, {
    "2.1": _server_create(),
    "2.19": _server_create(description=True),
    # 2.32 only: device tags on networks and block devices (2.33 drops the latter)
    "2.32": _server_create(description=True, net_tag=True, bdm_tag=True),
    "2.33": _server_create(description=True, net_tag=True),
    "2.37": _server_create(description=True, net_tag=True, networks_required=True),
    "2.42": _server_create(description=True, net_tag=True, bdm_tag=True,
                           networks_required=True),
    "2.52": _server_create(description=True, net_tag=True, bdm_tag=True,
                           networks_required=True, tags=True),
    "2.57": _server_create(description=True, net_tag=True, bdm_tag=True,
                           networks_required=True, tags=True, personality=False),
    "2.63": _server_create(description=True, net_tag=True, bdm_tag=True,
                           networks_required=True, tags=True, personality=False,
                           trusted=True),
    "2.67": _server_create(description=True, net_tag=True, bdm_tag=True,
                           networks_required=True, tags=True, personality=False,
                           trusted=True, volume_type=True),
    "2.74": _server_create(description=True, net_tag=True, bdm_tag=True,
                           networks_required=True, tags=True, personality=False,
                           trusted=True, volume_type=True, destination=True),
    "2.90": _server_create(description=True, net_tag=True, bdm_tag=True,
                           networks_required=True, tags=True, personality=False,
                           trusted=True, volume_type=True, destination=True,
                           hostname=HOSTNAME),
})


def _server_update(description: bool, hostname: dict[str, Any] | None = None) -> Schema:
    props: dict[str, Any] = {"name": NAME, "OS-DCF:diskConfig": DISK_CONFIG,
                             "accessIPv4": {"type": "string", "format": "ipv4"},
                             "accessIPv6": {"type": "string", "format": "ipv6"}}
    if description:
        props["description"] = DESCRIPTION
    if hostname:  # 2.90
        props["hostname"] = hostname
    return _nova(_wrap("server", _obj(props)))


SERVER_UPDATE = Versioned(VERSIONS, {"2.1": _server_update(False),
                                     "2.19": _server_update(True),
                                     "2.90": _server_update(True, HOSTNAME)})

#: Nova's server sort keys (before 2.73).
SERVER_SORT_KEYS = [
    "access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone",
    "config_drive", "created_at", "display_description", "display_name", "host",
    "hostname", "image_ref", "instance_type_id", "kernel_id", "key_name", "launch_index",
    "launched_at", "locked_by", "node", "power_state", "progress", "project_id",
    "ramdisk_id", "root_device_name", "task_state", "terminated_at", "updated_at",
    "user_id", "uuid", "vm_state",
    # valid before Nova validated them; ignored, never refused
    "architecture", "cell_name", "cleaned", "default_ephemeral_device",
    "default_swap_device", "deleted", "deleted_at", "disable_terminate", "ephemeral_gb",
    "ephemeral_key_uuid", "id", "key_data", "launched_on", "locked", "memory_mb",
    "os_type", "reservation_id", "root_gb", "shutdown_terminate", "user_data", "vcpus",
    "vm_mode"]
SERVER_SORT_IGNORED = frozenset(SERVER_SORT_KEYS[SERVER_SORT_KEYS.index("architecture"):])
#: A query parameter holding a non-negative integer (Nova's `non_negative_integer`;
#: a limit past the largest page is capped, as Nova caps it).
QUERY_NON_NEGATIVE: dict[str, Any] = {"type": "string", "pattern": r"^[0-9]+$"}
_Q: dict[str, Any] = {"type": "string"}
_SERVER_LIST_PROPS: dict[str, Any] = {
    "limit": QUERY_NON_NEGATIVE, "marker": _Q,
    "changes-since": {"type": "string", "format": "date-time"},
    "sort_key": {"type": "string", "enum": SERVER_SORT_KEYS}, "sort_dir": _Q,
    "all_tenants": _Q, "deleted": _Q, "status": _Q, "name": _Q, "image": _Q,
    "flavor": _Q, "key_name": _Q, "availability_zone": _Q, "reservation_id": _Q,
    "project_id": _Q, "tenant_id": _Q, "user_id": _Q, "host": _Q, "ip": _Q, "ip6": _Q,
}
#: Every other parameter Nova's server list schema names (each refused or ignored
#: by Nova's later checks, as here): from 2.75 any parameter outside these is a 400.
_SERVER_LIST_NAMED = (
    "launch_index", "image_ref", "kernel_id", "ramdisk_id", "hostname", "power_state",
    "vm_state", "task_state", "node", "launched_at", "terminated_at", "display_name",
    "description", "display_description", "locked_by", "uuid", "root_device_name",
    "config_drive", "access_ip_v4", "access_ip_v6", "auto_disk_config", "progress",
    "soft_deleted", "created_at", "block_device_mapping", "services", "metadata",
    "system_metadata", "info_cache", "security_groups", "pci_devices", "page_size",
    "tags", "tags-any", "not-tags", "not-tags-any", "changes-before", "locked")
#: 2.75: no parameter Nova's schema does not name, and the sort keys Nova used to
#: ignore are refused (`locked` sorts from 2.73).
SERVER_SORT_KEYS_V275 = [k for k in SERVER_SORT_KEYS
                         if k not in SERVER_SORT_IGNORED] + ["locked"]
SERVER_LIST_QUERY = Versioned(VERSIONS, {
    "2.1": _nova(_obj(_SERVER_LIST_PROPS, extra=True)),
    "2.75": _nova(_obj({**{k: _Q for k in _SERVER_LIST_NAMED}, **_SERVER_LIST_PROPS,
                        "sort_key": {"type": "string", "enum": SERVER_SORT_KEYS_V275}},
                       patternProperties={"^_": _Q}))})


def strict_from_275(props: dict[str, Any]) -> Versioned:
    """A query schema that takes other parameters (and ignores them) before 2.75 and
    refuses them (400) from it, as Nova's query schemas do."""
    return Versioned(VERSIONS, {"2.1": _nova(_obj(props, extra=True)),
                                "2.75": _nova(_obj(props))})


# ----------------------------------------------------------- server actions
def _rebuild(description: bool, key_name: bool = False, user_data: bool = False,
             trusted: bool = False, hostname: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": NAME, "imageRef": UUID, "adminPass": ADMIN_PASSWORD, "metadata": METADATA,
        "preserve_ephemeral": BOOLEAN, "OS-DCF:diskConfig": DISK_CONFIG,
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"}, "personality": PERSONALITY}
    if description:
        props["description"] = DESCRIPTION
    if key_name:  # 2.54: a new key pair (null: none)
        props["key_name"] = {"anyOf": [NAME, {"type": "null"}]}
    if user_data:  # 2.57: new user data (null: none), and no more personality files
        props["user_data"] = {"type": ["string", "null"], "maxLength": 65535}
        del props["personality"]
    if trusted:  # 2.63 (null clears them)
        props["trusted_image_certificates"] = trusted_certs.SCHEMA
    if hostname:  # 2.90
        props["hostname"] = hostname
    return _obj(props, ["imageRef"])


_ANY: dict[str, Any] = {}


def _server_action(description: bool, rebuild_key: bool = False,
                   rebuild_user_data: bool = False, rebuild_trusted: bool = False,
                   rebuild_hostname: dict[str, Any] | None = None) -> Schema:
    """One schema for the action route: each action's argument as Nova checks it. An
    unknown action, or more than one, is the dispatcher's to refuse, in Nova's words."""
    return _nova({"type": "object", "properties": {
        "reboot": _obj({"type": {"type": "string", "enum": [
            "HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}}, ["type"]),
        "rebuild": _rebuild(description, rebuild_key, rebuild_user_data, rebuild_trusted,
                            rebuild_hostname),
        "resize": _obj({"flavorRef": FLAVOR_REF, "OS-DCF:diskConfig": DISK_CONFIG},
                       ["flavorRef"]),
        "confirmResize": _ANY, "revertResize": _ANY,
        "createImage": _obj({"name": NAME, "metadata": METADATA}, ["name"]),
        "addSecurityGroup": _obj({"name": string(255, min_length=1)}, ["name"]),
        "removeSecurityGroup": _obj({"name": string(255, min_length=1)}, ["name"]),
        "os-getConsoleOutput": _obj({"length": {
            **_int_or_digits(-1, MAX_INT, r"^-?[0-9]{1,19}$"),
            "type": ["integer", "string", "null"]}}),
        "os-start": _ANY, "os-stop": _ANY, "pause": _ANY, "unpause": _ANY,
        "suspend": _ANY, "resume": _ANY, "lock": _ANY, "unlock": _ANY,
    }})


SERVER_ACTION = Versioned(VERSIONS, {"2.1": _server_action(False),
                                     "2.19": _server_action(True),
                                     "2.54": _server_action(True, rebuild_key=True),
                                     "2.57": _server_action(True, rebuild_key=True,
                                                            rebuild_user_data=True),
                                     "2.63": _server_action(True, rebuild_key=True,
                                                            rebuild_user_data=True,
                                                            rebuild_trusted=True),
                                     "2.90": _server_action(True, rebuild_key=True,
                                                            rebuild_user_data=True,
                                                            rebuild_trusted=True,
                                                            rebuild_hostname=HOSTNAME)})

#: unshelve's argument: 2.77 takes null or an `availability_zone` (a name, required
#: in an object); 2.91 null or an object with an `availability_zone` (null unpins)
#: and/or a `host` (admins).
UNSHELVE = Versioned(VERSIONS, {
    "2.1": _nova({}),
    "2.77": _nova(_wrap("unshelve", {**_obj({"availability_zone": NAME},
                                            ["availability_zone"]),
                                     "type": ["object", "null"]})),
    "2.91": _nova(_wrap("unshelve", {**_obj({
        "availability_zone": {"type": ["string", "null"]}, "host": {"type": "string"}}),
        "type": ["object", "null"]}))})

# ----------------------------------------------------------------- metadata
METADATA_SET = _nova(_wrap("metadata", METADATA))
META_ITEM = _nova(_wrap("meta", {**METADATA, "minProperties": 1, "maxProperties": 1}))

# ------------------------------------------------------------------ flavors
#: Nova's long `description` (a flavor's, from 2.55): printable, up to 65535, or null.
LONG_DESCRIPTION: dict[str, Any] = {"type": ["string", "null"], "maxLength": 65535,
                                    "format": "name"}


def _flavor_create(description: bool) -> Schema:
    props = dict(_FLAVOR_PROPS, **({"description": LONG_DESCRIPTION} if description else {}))
    return _nova(_wrap("flavor", _obj(props, ["name", "ram", "vcpus", "disk"])))


_FLAVOR_PROPS: dict[str, Any] = {
    "name": NAME,
    "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
           "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
    "ram": _flavor_size(1), "vcpus": _flavor_size(1), "disk": _flavor_size(0),
    "OS-FLV-EXT-DATA:ephemeral": _flavor_size(0), "swap": _flavor_size(0),
    "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]{1,38}(\.[0-9]+)?$",
                    "exclusiveMinimum": 0, "maximum": 3.40282e+38},
    # Nova's `boolean`: a JSON boolean or one of oslo's strings ("True", "no"...)
    "os-flavor-access:is_public": BOOLEAN,
}
FLAVOR_CREATE = Versioned(VERSIONS, {"2.1": _flavor_create(False),
                                     "2.55": _flavor_create(True)})
#: 2.55: PUT /flavors/{id} changes the description, and only that.
FLAVOR_UPDATE = _nova(_wrap("flavor", _obj({"description": LONG_DESCRIPTION},
                                           ["description"])))
_SPECS: dict[str, Any] = {"type": "object", "additionalProperties": False,
                          "patternProperties": {METADATA_KEY: {
                              "type": ["string", "number"], "maxLength": 255}}}
EXTRA_SPECS_SET = _nova(_wrap("extra_specs", _SPECS))
EXTRA_SPEC_PUT = _nova({**_SPECS, "minProperties": 1, "maxProperties": 1})
_TENANT: dict[str, Any] = _obj({"tenant": string(255, min_length=1)}, ["tenant"])
FLAVOR_ACTION = _nova({"type": "object", "properties": {
    "addTenantAccess": _TENANT, "removeTenantAccess": _TENANT}})
FLAVOR_SORT_KEYS = ["created_at", "description", "disabled", "ephemeral_gb", "flavorid",
                    "id", "is_public", "memory_mb", "name", "root_gb", "rxtx_factor",
                    "swap", "updated_at", "vcpu_weight", "vcpus"]
FLAVOR_LIST_QUERY = strict_from_275({
    "limit": QUERY_NON_NEGATIVE, "marker": _Q, "is_public": _Q,
    # minRam/minDisk are strings here; the parser refuses a non-integer in Nova's words
    "minRam": _Q, "minDisk": _Q,
    "sort_key": {"type": "string", "enum": FLAVOR_SORT_KEYS},
    "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
})

# ----------------------------------------------------------------- keypairs
#: Nova's key pair name: letters, digits, spaces, '_' and '-'; from 2.92 '@' and '.'
#: too.
KEYPAIR_NAME_CHARS, KEYPAIR_NAME_CHARS_2_92 = r"^[_\- a-zA-Z0-9]+$", r"^[_\-@. a-zA-Z0-9]+$"
KEYPAIR_NAME: dict[str, Any] = {"allOf": [NAME, {"type": "string",
                                                 "pattern": KEYPAIR_NAME_CHARS}]}


def _keypair(*, key_type: bool, user_id: bool, v292: bool = False) -> Schema:
    name = {"allOf": [NAME, {"type": "string", "pattern": KEYPAIR_NAME_CHARS_2_92}]} \
        if v292 else KEYPAIR_NAME
    props: dict[str, Any] = {"name": name, "public_key": {"type": "string"}}
    if key_type:
        props["type"] = {"type": "string", "enum": ["ssh", "x509"]}
    if user_id:
        props["user_id"] = {"type": "string", "minLength": 1, "maxLength": 255}
    # 2.92: the public key must be given (no more key pairs generated here)
    return _nova(_wrap("keypair", _obj(props, ["name", "public_key"] if v292 else ["name"])))


KEYPAIR_CREATE = Versioned(VERSIONS, {
    "2.1": _keypair(key_type=False, user_id=False),
    "2.2": _keypair(key_type=True, user_id=False),
    "2.10": _keypair(key_type=True, user_id=True),
    "2.92": _keypair(key_type=True, user_id=True, v292=True)})
KEYPAIR_LIST_QUERY = strict_from_275({"user_id": _Q, "limit": QUERY_NON_NEGATIVE,
                                      "marker": _Q})
USER_QUERY = strict_from_275({"user_id": _Q})

# ------------------------------------------------- quotas, groups, services
#: A quota: -1 (unlimited) to the database's MAX_INT, as a number or a string.
QUOTA_VALUE = _int_or_digits(-1, MAX_DB_INT, r"^-?[0-9]{1,10}$")
_QUOTAS = ["instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
           "server_group_members", "injected_files", "injected_file_content_bytes",
           "injected_file_path_bytes"]
_NETWORK_QUOTAS = ["floating_ips", "fixed_ips", "security_groups", "security_group_rules"]
#: the personality quotas, gone from quota sets and classes at 2.57
FILE_QUOTAS = ["injected_files", "injected_file_content_bytes", "injected_file_path_bytes"]
_NO_FILES = [k for k in _QUOTAS if k not in FILE_QUOTAS]


def _quota_update(keys: list[str]) -> Schema:
    props: dict[str, Any] = {k: QUOTA_VALUE for k in keys}
    props["force"] = BOOLEAN
    return _nova(_wrap("quota_set", _obj(props)))


QUOTA_UPDATE = Versioned(VERSIONS, {"2.1": _quota_update(_QUOTAS + _NETWORK_QUOTAS),
                                    "2.36": _quota_update(_QUOTAS),
                                    "2.57": _quota_update(_NO_FILES)})


def _quota_class_update(keys: list[str]) -> Schema:
    return _nova(_wrap("quota_class_set", _obj({k: QUOTA_VALUE for k in keys})))


#: A quota class keeps the network quotas until 2.50 (quota sets drop them at 2.36).
QUOTA_CLASS_UPDATE = Versioned(VERSIONS, {
    "2.1": _quota_class_update(_QUOTAS + _NETWORK_QUOTAS),
    "2.50": _quota_class_update(_QUOTAS),
    "2.57": _quota_class_update(_NO_FILES)})


def _group_create(policies: list[str]) -> Schema:
    return _nova(_wrap("server_group", _obj({
        "name": NAME,
        "policies": {"type": "array", "items": [{"type": "string", "enum": policies}],
                     "additionalItems": False, "minItems": 1, "maxItems": 1}},
        ["name", "policies"])))


SERVER_GROUP_CREATE = Versioned(VERSIONS, {
    "2.1": _group_create(["anti-affinity", "affinity"]),
    "2.15": _group_create(["anti-affinity", "affinity", "soft-anti-affinity",
                           "soft-affinity"]),
    # 2.64: one `policy` and its `rules` (max_server_per_host, anti-affinity only)
    "2.64": _nova(_wrap("server_group", _obj({
        "name": NAME, "policy": {"type": "string", "enum": [
            "anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"]},
        "rules": _obj({"max_server_per_host": POSITIVE_INT})}, ["name", "policy"])))})
SERVER_GROUP_LIST_QUERY = strict_from_275({"all_projects": _Q,
                                           "limit": QUERY_NON_NEGATIVE,
                                           "offset": QUERY_NON_NEGATIVE})


def _service_update(forced_down: bool) -> Schema:
    props: dict[str, Any] = {
        "host": {"type": "string", "pattern": r"^[a-zA-Z0-9-._]*$", "minLength": 1,
                 "maxLength": 255},
        "binary": string(255, min_length=1),
        "disabled_reason": string(255, min_length=1)}
    if forced_down:
        props["forced_down"] = BOOLEAN
    return _nova(_obj(props, ["host", "binary"]))


#: 2.53: the service's UUID is in the path, the body says what changes.
_SERVICE_UPDATE_V253 = _nova({**_obj({
    "status": {"type": "string", "enum": ["enabled", "disabled"]},
    "disabled_reason": string(255, min_length=1), "forced_down": BOOLEAN}),
    "dependencies": {"disabled_reason": ["status"]}})
SERVICE_UPDATE = Versioned(VERSIONS, {"2.1": _service_update(False),
                                      "2.11": _service_update(True),
                                      "2.53": _SERVICE_UPDATE_V253})
SERVICE_LIST_QUERY = strict_from_275({"host": _Q, "binary": _Q})
HYPERVISOR_LIST_QUERY = _nova(_obj({"limit": QUERY_NON_NEGATIVE, "marker": _Q},
                                   extra=True))
LIMITS_QUERY = strict_from_275({"tenant_id": _Q})
USAGE_LIST_QUERY = strict_from_275({"start": _Q, "end": _Q, "detailed": _Q,
                                    "limit": QUERY_NON_NEGATIVE, "marker": _Q})
USAGE_SHOW_QUERY = strict_from_275({"start": _Q, "end": _Q,
                                    "limit": QUERY_NON_NEGATIVE, "marker": _Q})


# ====================================================================== parsers


# ------------------------------------------------------------------ flavors
def flavor_list_query(q: Query) -> dict[str, Any]:
    raw = q.get("is_public")
    is_public: bool | None = True
    if raw is not None:
        # oslo's bool_from_string, as Nova parses it: its one-letter forms too
        short = {"t": "true", "y": "yes", "f": "false", "n": "no"}.get(raw.lower(), raw)
        is_public = None if raw.lower() == "none" else val.query_bool(short, "is_public")

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
    if isinstance(fid, (int, float)) and not isinstance(fid, bool):
        fid = str(fid)  # Nova takes a number as the id and keeps its text
    if fid is not None and (not isinstance(fid, str) or not re.match(r"^[\w.\- ]{1,255}$",
                                                                     fid)):
        raise BadRequest(f"Invalid input for field/attribute id. Value: {fid}.")
    rx = f.get("rxtx_factor", 1.0)
    if isinstance(rx, str):  # the schema let through digits only
        rx = float(rx)
    if not isinstance(rx, (int, float)) or isinstance(rx, bool) or not 0 < rx < 3.5e38:
        raise BadRequest(f"Invalid input for field/attribute rxtx_factor. Value: {rx}.")
    is_public = f.get("os-flavor-access:is_public", True)
    if isinstance(is_public, str):  # the schema let through oslo's strings only
        is_public = is_public in TRUE_STRINGS
    data = {"name": name, "id": fid, "vcpus": _nonneg_int(f, "vcpus", required=True, minimum=1),
            "ram": _nonneg_int(f, "ram", required=True, minimum=1),
            "disk": _nonneg_int(f, "disk", required=True),
            "ephemeral": _nonneg_int(f, "OS-FLV-EXT-DATA:ephemeral"),
            "swap": _nonneg_int(f, "swap"), "rxtx_factor": float(rx), "is_public": is_public}
    if "description" in f:  # (the schema takes it from 2.55)
        data["description"] = f["description"]
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
    chars = KEYPAIR_NAME_CHARS_2_92 if v.at_least("2.92") else KEYPAIR_NAME_CHARS
    if not re.match(chars, name) or name != name.strip():
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
               "description", "return_reservation_id", "personality", "tags", "hostname",
               "trusted_image_certificates", "host", "hypervisor_hostname"}


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
                and b.get("source_type") == "image"
                and b.get("destination_type", "local") == "local"]
        if boot:
            image = str(boot[0].get("uuid") or "")
    if image:
        try:
            uuidlib.UUID(image)
        except ValueError:
            raise BadRequest("Invalid imageRef provided.")
    elif not bdm and not sv.get("block_device_mapping"):
        raise BadRequest("Invalid imageRef provided.")
    return image


_BOOT_DEVICES = {"vda", "xvda", "sda", "hda"}


def _boot_index(raw: Any) -> int | None:
    if raw is None:
        return None
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute boot_index. Value: {raw}.")
    return n if n >= 0 else None


def _block_devices(sv: dict[str, Any], image: str) -> list[dict[str, Any]]:
    """The volumes a create names (block_device_mapping_v2, or the legacy
    block_device_mapping), each {source_type, uuid, boot_index, volume_size,
    delete_on_termination, device_name, tag}; the image a server boots from
    locally is not one of them."""
    out: list[dict[str, Any]] = []
    for b in sv.get("block_device_mapping") or []:
        source = "volume" if b.get("volume_id") else "snapshot" if b.get("snapshot_id") \
            else None
        if source is None:
            raise BadRequest("Block Device Mapping is Invalid: a legacy mapping needs a "
                             "volume_id or a snapshot_id.")
        dev = str(b.get("device_name") or "")
        out.append({"source_type": source, "uuid": b.get("volume_id") or b["snapshot_id"],
                    "boot_index": 0 if dev.rsplit("/", 1)[-1] in _BOOT_DEVICES and
                    not image else None,
                    "volume_size": int(b["volume_size"]) if b.get("volume_size") else None,
                    "delete_on_termination": b.get("delete_on_termination") in
                    (True, *TRUE_STRINGS), "device_name": dev or None, "tag": None})
    for b in sv.get("block_device_mapping_v2") or []:
        source = b.get("source_type")
        dest = b.get("destination_type") or ("volume" if source in ("volume", "snapshot")
                                             else "local")
        boot = _boot_index(b.get("boot_index"))
        if dest == "local" and b.get("volume_type"):
            raise BadRequest("Block Device Mapping is Invalid: Specifying a volume_type "
                             "with destination_type=local is not supported.")
        if source == "volume" and b.get("volume_type"):
            raise BadRequest("Block Device Mapping is Invalid: Specifying volume type to "
                             "existing volume is not supported.")
        if dest == "local":
            if source == "image" and boot == 0:
                continue  # the image the server boots from, on its own disk
            raise BadRequest("Block Device Mapping is Invalid: local disks other than "
                             "the boot image (ephemeral, swap) are not supported.")
        if source is None:
            source = "volume" if b.get("volume_id") else "snapshot" \
                if b.get("snapshot_id") else None
        if source is None:
            raise BadRequest("Block Device Mapping is Invalid: source_type is required.")
        ref = b.get("uuid") or b.get("volume_id") or b.get("snapshot_id") or \
            b.get("image_id")
        if source != "blank" and not ref:
            raise BadRequest(f"Block Device Mapping is Invalid: a {source} mapping needs "
                             f"a uuid.")
        if ref:
            try:
                uuidlib.UUID(str(ref))
            except ValueError:
                raise BadRequest(f"Block Device Mapping is Invalid: {ref} is not a uuid.")
        size = int(b["volume_size"]) if b.get("volume_size") not in (None, "") else None
        if source in ("image", "blank") and not size:
            raise BadRequest("Block Device Mapping is Invalid: Images with "
                             "destination_type 'volume' need to have a non-zero size "
                             "specified" if source == "image" else
                             "Block Device Mapping is Invalid: a blank volume needs a "
                             "non-zero volume_size.")
        out.append({"source_type": source, "uuid": str(ref) if ref else None,
                    "boot_index": boot, "volume_size": size,
                    "delete_on_termination": b.get("delete_on_termination") in
                    (True, *TRUE_STRINGS), "device_name": b.get("device_name"),
                    "tag": b.get("tag"), "volume_type": b.get("volume_type") or None})
    boots = [d for d in out if d["boot_index"] == 0]
    if len(boots) > 1 or (boots and image):
        raise BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance "
                         "and image/block device mapping combination is not valid.")
    if not image and not boots:
        raise BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance "
                         "and image/block device mapping combination is not valid.")
    return out


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


def _access_ips(sv: dict[str, Any]) -> dict[str, str | None]:
    """The access addresses given, checked and normalised as Nova stores them (an IP
    address column: `0:0:0:0:0:babe:220.12.22.2` reads back as `::babe:dc0c:1602`)."""
    out: dict[str, str | None] = {}
    for ipkey in ("accessIPv4", "accessIPv6"):
        if ipkey in sv and not sv[ipkey]:
            out[ipkey] = sv[ipkey]
        if sv.get(ipkey):
            try:
                ip = ipaddress.ip_address(sv[ipkey])
                if ip.version != (4 if ipkey == "accessIPv4" else 6):
                    raise ValueError
            except ValueError:
                raise BadRequest(f"Invalid input for field/attribute {ipkey}. Value: "
                                 f"{sv[ipkey]}. {sv[ipkey]!r} is not a '"
                                 f"{'ipv4' if ipkey == 'accessIPv4' else 'ipv6'}'")
            out[ipkey] = str(ip)
    return out


def disk_config(body: dict[str, Any]) -> bool | None:
    """OS-DCF:diskConfig given: True for AUTO, False for MANUAL, None when absent."""
    value = body.get("OS-DCF:diskConfig")
    if value is None:
        return None
    if value not in ("AUTO", "MANUAL"):
        raise BadRequest(f"Invalid input for field/attribute OS-DCF:diskConfig. Value: "
                         f"{value}. It must be one of AUTO, MANUAL.")
    return value == "AUTO"


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
    block_devices = _block_devices(sv, image)
    networks = _networks(sv, v)
    user_data = _user_data(sv)
    min_count = _count(sv, "min_count") or 1
    max_count = _count(sv, "max_count") or min_count
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    hostname = sv.get("hostname") if v.at_least("2.90") else None
    if hostname and max_count > 1:
        raise BadRequest("Unable to allocate a single hostname to multiple instances")
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
    ips = _access_ips(sv)
    auto_disk = disk_config(sv)
    groups = _security_groups(sv)
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise BadRequest("Invalid input for field/attribute os:scheduler_hints.")
    if isinstance(hints.get("group"), list):
        if len(hints["group"]) != 1:
            raise BadRequest("Invalid input for field/attribute group: exactly one server "
                             "group is expected.")
        hints = {**hints, "group": hints["group"][0]}
    return {"name": name, "flavor_ref": _ref(flavor), "image_ref": image,
            "networks": networks, "key_name": key_name,
            "metadata": metadata(sv.get("metadata") or {}), "user_data": user_data,
            "min_count": min_count, "max_count": max_count, "availability_zone": az,
            "access_ip_v4": ips.get("accessIPv4"), "access_ip_v6": ips.get("accessIPv6"),
            "auto_disk_config": bool(auto_disk),
            "config_drive": sv.get("config_drive") in (True, *TRUE_STRINGS),
            "description": sv.get("description"), "scheduler_hints": hints,
            "admin_pass": sv.get("adminPass"), "security_groups": groups,
            "return_reservation_id": sv.get("return_reservation_id") in (True,
                                                                         *TRUE_STRINGS),
            "block_devices": block_devices, "tags": list(dict.fromkeys(sv.get("tags") or [])),
            "personality": personality.parse(sv.get("personality")),
            "trusted_certs": sv.get("trusted_image_certificates"), "hostname": hostname}


def server_update(body: Any, v: APIVersion) -> dict[str, Any]:
    sv = val.wrapped(body, "server")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if v.at_least("2.19"):
        allowed.add("description")
    if v.at_least("2.90"):
        allowed.add("hostname")
    extra = set(sv) - allowed
    if extra:
        raise BadRequest(f"Additional properties are not allowed "
                         f"({', '.join(sorted(extra))} were unexpected)")
    data: dict[str, Any] = {}
    if "name" in sv:
        if not isinstance(sv["name"], str) or not sv["name"].strip() or len(sv["name"]) > 255:
            raise BadRequest(f"Invalid input for field/attribute name. Value: {sv['name']}.")
        data["name"] = sv["name"]
    if "hostname" in sv:  # (the schema checked its form)
        data["hostname"] = sv["hostname"]
    if "description" in sv:
        if sv["description"] is not None and (not isinstance(sv["description"], str) or
                                              len(sv["description"]) > 255):
            raise BadRequest("Invalid input for field/attribute description.")
        data["description"] = sv["description"]
    ips = _access_ips(sv)
    if "accessIPv4" in ips:
        data["access_ip_v4"] = ips["accessIPv4"]
    if "accessIPv6" in ips:
        data["access_ip_v6"] = ips["accessIPv6"]
    auto_disk = disk_config(sv)
    if auto_disk is not None:
        data["auto_disk_config"] = auto_disk
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
#: oslo's strict boolean strings (lower-cased), as Nova's `locked` filter reads them
TRUE_STRINGS_LOWER = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_STRINGS_LOWER = frozenset({"0", "f", "false", "off", "n", "no"})
SORT_KEYS = {"created_at", "display_name", "uuid", "updated_at", "vm_state", "task_state",
             "launched_at", "host", "key_name", "availability_zone", "display_description",
             "name", "power_state"}


def all_tenants(q: Query) -> bool:
    raw = q.get("all_tenants")
    return raw is not None and raw.lower() not in ("0", "false", "off", "no")


#: The server filters Nova leaves a non-admin only from 2.83 (an admin has them at
#: every version; below 2.83 they are dropped from a non-admin's query, as Nova's
#: remove_invalid_options drops them).
FILTERS_2_83 = ("availability_zone", "config_drive", "key_name", "created_at",
                "launched_at", "terminated_at", "power_state", "task_state", "vm_state",
                "progress", "user_id")


def server_list_query(q: Any, admin: bool, lock_filter: bool = False,
                      strict_sort: bool = False, wide_filters: bool = False,
                      hostname_filter: bool = False) -> dict[str, Any] | None:
    """Filters, sort, limit and marker of a server listing (a starlette QueryParams);
    None for a status no server can have (the listing is empty). `lock_filter`
    (2.73): the `locked` filter and sort key apply. `strict_sort` (2.75): every
    `sort_key` given (not only the last, which the schema checks) must be one Nova
    still sorts by. `wide_filters` (2.83): a non-admin may use FILTERS_2_83;
    `hostname_filter` (2.90): and `hostname`."""
    filters: dict[str, Any] = {}
    if lock_filter and "locked" in q:
        raw = str(q["locked"]).strip().lower()
        if raw not in TRUE_STRINGS_LOWER | FALSE_STRINGS_LOWER:
            raise BadRequest(f"Unrecognized value '{q['locked']}', acceptable values are: "
                             "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', "
                             "'true', 'y', 'yes'")
        filters["locked"] = raw in TRUE_STRINGS_LOWER
    if all_tenants(q):
        filters["all_tenants"] = True
    for key in ("name", "image", "flavor", "reservation_id", "project_id", "tenant_id"):
        if q.get(key):
            filters["project_id" if key == "tenant_id" else key] = q[key]
    if admin or wide_filters:
        for key in ("key_name", "availability_zone", "user_id"):
            if q.get(key):
                filters[key] = q[key]
        for key in ("vm_state", "task_state"):  # Nova: exact, any of the values given
            if q.getlist(key):
                filters[key] = [None if v.lower() in ("none", "null") else v
                                for v in q.getlist(key)] if key == "task_state" \
                    else list(q.getlist(key))
        # Nova matches these as regular expressions on the column's text (as `name`)
        for key in ("power_state", "progress", "config_drive", "created_at",
                    "launched_at", "terminated_at"):
            if q.get(key):
                filters.setdefault("regex", {})[key] = q[key]
    if q.get("hostname") and (admin or hostname_filter):
        filters.setdefault("regex", {})["hostname"] = q["hostname"]
    if q.get("host") and admin:
        filters["host"] = q["host"]
    for key in ("ip", "ip6"):  # regular expressions on the fixed addresses, as Nova
        if q.get(key):
            filters[key] = q[key]
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
        if strict_sort and key not in SERVER_SORT_KEYS_V275:
            raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}. "
                             f"'{key}' is not one of {sorted(SERVER_SORT_KEYS_V275)}")
        if key in SERVER_SORT_IGNORED and not (lock_filter and key == "locked"):
            continue  # as Nova: taken, never applied (`locked` applies from 2.73)
        if key not in SORT_KEYS and key != "locked":
            raise BadRequest(f"Invalid sort_key {key}.")
        d = sort_dirs[i] if i < len(sort_dirs) else sort_dirs[-1]
        if d not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_dir {d}.")
        col = {"display_name": "name", "display_description": "description"}.get(key, key)
        sort.append((col, d))
    sort = sort or [("created_at", "desc")]
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


def rebuild(arg: Any) -> dict[str, Any]:
    """What a rebuild asks for: `image_ref` and, when given, the new `name`, `metadata`,
    access addresses (`access_ip_v4`/`_v6`), `auto_disk_config`, `personality`,
    (2.54, None to remove it) `key_name` and (2.57, None to remove it) `user_data`."""
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
    out: dict[str, Any] = {"image_ref": image, "name": r.get("name"), "metadata": meta,
                           "auto_disk_config": disk_config(r),
                           "personality": personality.parse(r.get("personality"))}
    if "key_name" in r:  # (the schema takes it from 2.54)
        out["key_name"] = r["key_name"]
    if "user_data" in r:  # (the schema takes it from 2.57)
        out["user_data"] = _user_data(r)
    if "trusted_image_certificates" in r:  # (from 2.63)
        out["trusted_certs"] = r["trusted_image_certificates"]
    if "hostname" in r:  # (the schema takes it from 2.90)
        out["hostname"] = r["hostname"]
    ips = _access_ips(r)
    for key, col in (("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6")):
        if key in ips:
            out[col] = ips[key]
    return out


def resize(arg: Any) -> tuple[str, bool | None]:
    """(flavor, OS-DCF:diskConfig as AUTO True / MANUAL False / absent None)."""
    flavor = arg.get("flavorRef") if isinstance(arg, dict) else None
    if not isinstance(flavor, (str, int)) or isinstance(flavor, bool) or flavor == "":
        raise BadRequest("Invalid input for field/attribute flavorRef. 'flavorRef' is a "
                         "required property")
    return _ref(flavor), disk_config(arg)


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
        data = {"forced_down": b.get("forced_down") in (True, *TRUE_STRINGS)}
    else:
        raise NotFound("Unknown action")
    return host, binary, data


def is_uuid(text: str) -> bool:
    """Whether `text` reads as a UUID (oslo's is_uuid_like)."""
    bare = text.lower().replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    try:
        return uuidlib.UUID(text).hex == bare
    except ValueError:
        return False


def service_update_v253(service_id: str, body: Any) -> dict[str, Any]:
    """The changes of PUT /os-services/{service_id} (2.53), in Nova's words."""
    if not is_uuid(service_id):
        raise BadRequest(f"Invalid uuid {service_id}")
    b = body if isinstance(body, dict) else {}
    data: dict[str, Any] = {}
    if b.get("status") == "enabled":
        if b.get("disabled_reason"):
            raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is "
                             "invalid.")
        data = {"disabled": False}
    elif b.get("status") == "disabled":
        data = {"disabled": True, "disabled_reason": b.get("disabled_reason")}
    if "forced_down" in b:
        data["forced_down"] = b["forced_down"] in (True, *TRUE_STRINGS)
    if not data:
        raise BadRequest("No updates were requested. Fields 'status' or 'forced_down' "
                         "should be specified.")
    return data


def hypervisor_query(q: Query, v: APIVersion) -> dict[str, Any]:
    """limit, marker, hypervisor_hostname_pattern and with_servers of a hypervisor
    listing; from 2.53 nothing else is allowed, and paging a pattern is refused."""
    if v.at_least("2.53"):
        extra = sorted(set(q) - {"limit", "marker", "hypervisor_hostname_pattern",
                                 "with_servers"})
        if extra:
            raise BadRequest(f"Invalid input for query parameters {extra[0]}. Additional "
                             f"properties are not allowed ('{extra[0]}' was unexpected)")
    with_servers = hypervisor_with_servers(q, v)
    pattern = q.get("hypervisor_hostname_pattern")
    if pattern is not None and ("limit" in q or "marker" in q):
        raise BadRequest("Paging over hypervisors with the hypervisor_hostname_pattern "
                         "query parameter is not supported.")
    limit = parse_limit(q.get("limit"), default=None, maximum=1000)
    return {"limit": limit, "marker": q.get("marker"), "pattern": pattern,
            "with_servers": with_servers}


def hypervisor_with_servers(q: Query, v: APIVersion) -> bool:
    """`with_servers` (2.53): one of Nova's boolean strings."""
    raw = q.get("with_servers")
    if raw is None or not v.at_least("2.53"):
        return False
    if raw not in BOOLEAN["enum"]:
        raise BadRequest(f"Invalid input for query parameters with_servers. Value: {raw}. "
                         f"'{raw}' is not one of the allowed boolean values")
    return raw in TRUE_STRINGS


def quota_set(body: Any, keys: list[str], wrapper: str = "quota_set") -> dict[str, int]:
    """The limits a quota set (or, with `wrapper`, a quota class set) update sets."""
    q = val.wrapped(body, wrapper)
    values: dict[str, int] = {}
    for k, raw in q.items():
        if k == "force":
            continue
        if k not in keys:
            raise BadRequest(f"Invalid input for field/attribute {wrapper}. Additional "
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
        if n > MAX_DB_INT:
            raise BadRequest(f"Invalid input for field/attribute {k}. Value: {raw}. "
                             f"{raw} is greater than the maximum of {MAX_DB_INT}")
        values[k] = n
    return values


GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def server_group_create(body: Any, v: APIVersion) -> tuple[str, str, dict[str, Any]]:
    """(name, policy, rules) of a new server group (the pre-2.64 `policies` list, or
    from 2.64 `policy` and `rules`)."""
    g = val.wrapped(body, "server_group")
    name = val.string(g, "name", "server_group", required=True, min_len=1, max_len=255)
    if v.at_least("2.64"):
        rules = {k: int(n) for k, n in (g.get("rules") or {}).items()}
        if rules and g["policy"] != "anti-affinity":
            raise BadRequest("Only anti-affinity policy supports rules.")
        return name, str(g["policy"]), rules
    pols = g.get("policies")
    if not isinstance(pols, list) or len(pols) != 1:
        raise BadRequest("Invalid input for field/attribute policies.")
    policy = pols[0]
    if policy not in GROUP_POLICIES or (policy == "soft-affinity" and not v.at_least("2.15")) \
            or (policy == "soft-anti-affinity" and not v.at_least("2.15")):
        raise BadRequest(f"Invalid input for field/attribute policy. Value: {policy}.")
    return name, policy, {}


# ------------------------------------------------------- volume attachments
_DEVICE_PATH: dict[str, Any] = {"type": ["string", "null"],
                                "pattern": r"(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"}


def _volume_attach(*, tag: bool, delete: bool = False) -> Schema:
    props: dict[str, Any] = {"volumeId": UUID, "device": _DEVICE_PATH}
    if tag:  # 2.49: a device tag, as at create (2.42)
        props["tag"] = TAG
    if delete:  # 2.79: the volume goes with the server
        props["delete_on_termination"] = BOOLEAN
    return _nova(_obj({"volumeAttachment": _obj(props, ["volumeId"])}, ["volumeAttachment"]))


VOLUME_ATTACH = Versioned(VERSIONS, {"2.1": _volume_attach(tag=False),
                                     "2.49": _volume_attach(tag=True),
                                     "2.79": _volume_attach(tag=True, delete=True)})


def boolean(value: Any) -> bool:
    """A value BOOLEAN took (a JSON boolean or one of Nova's strings) as a bool."""
    return value is True or value in TRUE_STRINGS
#: 2.85: what a GET shows may be sent back (only delete_on_termination may change).
_VOLUME_UPDATE_V285 = _nova(_wrap("volumeAttachment", _obj({
    "volumeId": UUID, "device": {"type": ["string", "null"],
                                 "pattern": r"(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"},
    "tag": TAG, "delete_on_termination": BOOLEAN, "serverId": UUID, "id": UUID},
    ["volumeId"])))
VOLUME_SWAP = Versioned(VERSIONS, {
    "2.1": _nova(_obj({"volumeAttachment": _obj({"volumeId": UUID}, ["volumeId"])},
                      ["volumeAttachment"])),
    "2.85": _VOLUME_UPDATE_V285})
VOLUME_ATTACHMENTS_QUERY = strict_from_275({"limit": QUERY_NON_NEGATIVE,
                                            "offset": QUERY_NON_NEGATIVE})

# ------------------------------------------------------ server external events
#: Nova's event names; `volume-extended` from 2.51 (block storage, in-process, hands
#: it to `compute.events` directly, whatever the HTTP API's version).
EVENT_NAMES = ["network-changed", "network-vif-plugged", "network-vif-unplugged",
               "network-vif-deleted"]


def _external_events(names: list[str]) -> Schema:
    return _nova(_obj({"events": {
        "type": "array", "minItems": 1, "items": _obj({
            "server_uuid": UUID, "name": {"type": "string", "enum": names},
            "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
            "tag": {"type": "string", "maxLength": 255}}, ["server_uuid", "name"])}},
        ["events"]))


SERVER_EXTERNAL_EVENTS = Versioned(VERSIONS, {
    "2.1": _external_events(EVENT_NAMES),
    "2.51": _external_events(EVENT_NAMES + ["volume-extended"]),
    "2.76": _external_events(EVENT_NAMES + ["volume-extended", "power-update"]),
    "2.82": _external_events(EVENT_NAMES + ["volume-extended", "power-update",
                                            "accelerator-request-bound"])})

# ------------------------------------- os-volumes, os-snapshots (up to 2.35)
_S: dict[str, Any] = {"type": "string"}
PROXY_LIST_QUERY = _nova(_obj({"limit": QUERY_NON_NEGATIVE, "offset": QUERY_NON_NEGATIVE},
                              extra=True))
PROXY_VOLUME_CREATE = _nova(_obj({"volume": _obj({
    "volume_type": _S, "metadata": {"type": "object"}, "snapshot_id": _S,
    "size": POSITIVE_INT, "availability_zone": _S, "display_name": _S,
    "display_description": _S}, ["size"])}, ["volume"]))
PROXY_SNAPSHOT_CREATE = _nova(_obj({"snapshot": _obj({
    "volume_id": _S, "force": BOOLEAN,
    "display_name": _S, "display_description": _S}, ["volume_id"])}, ["snapshot"]))

# ------------------ os-security-groups, os-floating-ips, os-networks (up to 2.35)
_SG_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255,
                            "pattern": r"\S"}
PROXY_SECURITY_GROUP_CREATE = _nova(_wrap("security_group", _obj({
    "name": _SG_NAME, "description": {"type": "string", "maxLength": 255}}, ["name"])))
PROXY_SECURITY_GROUP_UPDATE = _nova(_wrap("security_group", _obj({
    "name": _SG_NAME, "description": {"type": "string", "maxLength": 255}})))
_PORT: dict[str, Any] = {"type": ["integer", "string", "null"]}
PROXY_SECURITY_GROUP_RULE_CREATE = _nova(_wrap("security_group_rule", _obj({
    "parent_group_id": {"type": ["string", "integer"]},
    "ip_protocol": {"type": ["string", "null"]}, "from_port": _PORT, "to_port": _PORT,
    "cidr": {"type": ["string", "null"]}, "group_id": {"type": ["string", "null"]}},
    ["parent_group_id"])))
PROXY_FLOATING_IP_CREATE = _nova({"type": ["object", "null"], "properties": {
    "pool": {"type": ["string", "null"]}}, "additionalProperties": False})
ADD_FLOATING_IP = _nova(_obj({"address": IP_ADDRESS, "fixed_address": IP_ADDRESS},
                             ["address"]))
REMOVE_FLOATING_IP = _nova(_obj({"address": IP_ADDRESS}, ["address"]))

# -------------------------------------------------------- os-hosts (up to 2.42)
HOST_UPDATE = _nova(_obj({"status": {"type": "string", "enum": ["enable", "disable"]},
                          "maintenance_mode": {"type": "string",
                                               "enum": ["enable", "disable"]}}))

# ------------------------------------------------- admin actions (admin_actions)
RESET_STATE = _nova(_obj({"state": {"type": "string", "enum": ["active", "error"]}},
                         ["state"]))
#: `migrate` takes no argument before 2.56; from 2.56 an optional `host` (Nova's fqdn)
MIGRATE = Versioned(VERSIONS, {
    "2.1": _nova({"type": ["object", "null"], "properties": {},
                  "additionalProperties": False}),
    "2.56": _nova({"type": ["object", "null"], "additionalProperties": False, "properties": {
        "host": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                 "pattern": r"^[a-zA-Z0-9-._]*$"}}})})

# ---------------------------------------------------------- os-aggregates
_AZ_NAME: dict[str, Any] = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                            "pattern": r"^[^:]*$"}
AGGREGATE_CREATE = _nova(_wrap("aggregate", _obj({"name": NAME, "availability_zone": _AZ_NAME},
                                                 ["name"])))
AGGREGATE_UPDATE = _nova(_wrap("aggregate", _obj({"name": NAME, "availability_zone": _AZ_NAME},
                                                 minProperties=1)))
#: 2.81: the images to cache on an aggregate's hosts.
AGGREGATE_IMAGES = _nova(_obj({"cache": {"type": "array", "minItems": 1,
                                         "items": _obj({"id": UUID}, ["id"])}}, ["cache"]))
_HOST: dict[str, Any] = _obj({"host": string(255, min_length=1)}, ["host"])
AGGREGATE_ACTION = _nova({"type": "object", "minProperties": 1, "maxProperties": 1,
                          "additionalProperties": False, "properties": {
                              "add_host": _HOST, "remove_host": _HOST,
                              "set_metadata": _obj({"metadata": {
                                  "type": "object", "patternProperties": {
                                      r"^[a-zA-Z0-9\-_:. ]{1,255}$": {
                                          "type": ["string", "null"], "maxLength": 255}},
                                  "additionalProperties": False}}, ["metadata"])}})

