"""What block storage requests may carry: Cinder's request schemas (api/schemas),
as JSON Schema checked by kit.schema before any service code runs.

Clients send explicit nulls for what they leave out (`openstack volume create`
sends `"description": null, "volume_type": null, ...`), so optional fields take
null. Sizes come as numbers or strings of digits, as Cinder accepts both. Query
strings: list filters are open (Cinder drops filters it does not know), while
`limit`, `offset`, `sort` and the booleans are checked.
"""

from __future__ import annotations

from typing import Any

from overcast.kit.schema import MAX_INT, Schema, Versioned
from overcast.volume.versions import VERSIONS

STYLE = "cinder"

NAME = {"type": ["string", "null"], "maxLength": 255, "format": "name"}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
UUID_OR_NULL = {"type": ["string", "null"], "format": "uuid"}
SIZE = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                  {"type": "string", "pattern": r"^\s*[0-9]{1,10}\s*$"}]}
SIZE_OR_NULL = {"anyOf": [SIZE, {"type": "null"}]}
METADATA = {"type": "object", "maxProperties": 500,
            "patternProperties": {"^.{1,255}$": {"type": "string", "maxLength": 255}},
            "additionalProperties": False}
METADATA_OR_NULL = {"anyOf": [METADATA, {"type": "null"}]}
BOOL = {"anyOf": [{"type": "boolean"},
                  {"type": "string", "enum": ["true", "false", "True", "False", "TRUE",
                                              "FALSE", "1", "0", "yes", "no", "on",
                                              "off", "y", "n", "t", "f"]}]}


def _obj(key: str, props: dict[str, Any], required: list[str] | None = None,
         *, open_: bool = False, null: bool = False) -> Schema:
    inner: dict[str, Any] = {"type": ["object", "null"] if null else "object",
                             "properties": props, "additionalProperties": open_}
    if required:
        inner["required"] = required
    return Schema({"type": "object", "properties": {key: inner}, "required": [key]},
                  STYLE)


VOLUME_CREATE = Schema({
    "type": "object",
    "properties": {
        "volume": {
            "type": "object",
            "properties": {
                "name": NAME, "description": DESCRIPTION, "display_name": NAME,
                "display_description": DESCRIPTION, "size": SIZE_OR_NULL,
                "availability_zone": {"type": ["string", "null"], "maxLength": 255},
                "source_volid": UUID_OR_NULL, "snapshot_id": UUID_OR_NULL,
                "backup_id": UUID_OR_NULL, "imageRef": {"type": ["string", "null"]},
                "image_id": {"type": ["string", "null"]},
                "volume_type": {"type": ["string", "null"], "maxLength": 255},
                "metadata": METADATA_OR_NULL, "consistencygroup_id": UUID_OR_NULL,
                "group_id": UUID_OR_NULL, "multiattach": BOOL,
                "source_replica": UUID_OR_NULL,
            },
            "additionalProperties": True,
        },
        "OS-SCH-HNT:scheduler_hints": {"type": ["object", "null"]},
        "scheduler_hints": {"type": ["object", "null"]},
    },
    "required": ["volume"],
    "additionalProperties": False,
}, STYLE)

VOLUME_UPDATE = _obj("volume", {
    "name": NAME, "description": DESCRIPTION, "display_name": NAME,
    "display_description": DESCRIPTION, "metadata": METADATA})

METADATA_SET = Schema({"type": "object", "properties": {"metadata": METADATA},
                       "required": ["metadata"], "additionalProperties": False}, STYLE)
METADATA_ITEM = Schema({"type": "object", "properties": {"meta": {
    **METADATA, "minProperties": 1, "maxProperties": 1}},
    "required": ["meta"], "additionalProperties": False}, STYLE)

SNAPSHOT_CREATE = _obj("snapshot", {
    "name": NAME, "description": DESCRIPTION, "display_name": NAME,
    "display_description": DESCRIPTION, "volume_id": UUID_OR_NULL,
    "force": BOOL, "metadata": METADATA_OR_NULL}, ["volume_id"])
SNAPSHOT_UPDATE = _obj("snapshot", {
    "name": NAME, "description": DESCRIPTION, "display_name": NAME,
    "display_description": DESCRIPTION})

EXTRA_SPECS = {"type": "object", "maxProperties": 500,
               "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
                   "type": ["string", "integer", "boolean", "number"]}},
               "additionalProperties": False}
TYPE_CREATE = _obj("volume_type", {
    "name": {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"},
    "description": DESCRIPTION, "extra_specs": EXTRA_SPECS,
    "os-volume-type-access:is_public": BOOL, "is_public": BOOL}, ["name"])
TYPE_UPDATE = _obj("volume_type", {
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
             "format": "name"},
    "description": DESCRIPTION, "is_public": BOOL})
EXTRA_SPECS_SET = Schema({"type": "object", "properties": {"extra_specs": EXTRA_SPECS},
                          "required": ["extra_specs"], "additionalProperties": False},
                         STYLE)
EXTRA_SPEC_ITEM = Schema({**EXTRA_SPECS, "minProperties": 1, "maxProperties": 1}, STYLE)
TYPE_ACTION = Schema({"type": "object", "properties": {
    "addProjectAccess": {"type": "object", "properties": {"project": {
        "type": "string", "minLength": 1, "maxLength": 255}},
        "required": ["project"], "additionalProperties": False},
    "removeProjectAccess": {"type": "object", "properties": {"project": {
        "type": "string", "minLength": 1, "maxLength": 255}},
        "required": ["project"], "additionalProperties": False}},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False}, STYLE)

QUOTA_VALUE = {"anyOf": [{"type": "integer", "minimum": -1, "maximum": MAX_INT},
                         {"type": "string", "pattern": r"^-?[0-9]{1,18}$"}]}
QUOTA_UPDATE = Schema({"type": "object", "properties": {"quota_set": {
    "type": "object",
    "patternProperties": {"^(volumes|gigabytes|snapshots|backups|backup_gigabytes|groups|"
                          "per_volume_gigabytes)(_.{1,255})?$": QUOTA_VALUE},
    "properties": {"tenant_id": {"type": "string"}},
    "additionalProperties": False}}, "required": ["quota_set"],
    "additionalProperties": False}, STYLE)

TRANSFER_CREATE = _obj("transfer", {
    "volume_id": {"type": "string", "format": "uuid"}, "name": NAME,
    "no_snapshots": {"type": "boolean"}}, ["volume_id"])
TRANSFER_ACCEPT = _obj("accept", {"auth_key": {"type": "string", "minLength": 1,
                                               "maxLength": 255}}, ["auth_key"])

CONNECTOR = {"type": "object", "properties": {
    "host": {"type": "string", "maxLength": 255}, "ip": {"type": ["string", "null"]},
    "mode": {"type": ["string", "null"], "enum": ["rw", "ro", None]},
    "transport": {"type": "string", "enum": ["file", "nbd"]}},
    "additionalProperties": True}
ATTACHMENT_CREATE = _obj("attachment", {
    "volume_uuid": {"type": "string", "format": "uuid"},
    "instance_uuid": {"type": ["string", "null"], "format": "uuid"},
    "connector": {"anyOf": [CONNECTOR, {"type": "null"}]},
    "mode": {"type": "string", "enum": ["rw", "ro"]}}, ["volume_uuid"])
ATTACHMENT_UPDATE = _obj("attachment", {"connector": CONNECTOR}, ["connector"])
ATTACHMENT_ACTION = Schema({"type": "object", "properties": {"os-complete": {}},
                            "required": ["os-complete"], "additionalProperties": False},
                           STYLE)

# ----- volume actions (POST /volumes/{id}/action): exactly one action per body
_ACTIONS: dict[str, Any] = {
    "os-extend": {"type": "object", "properties": {"new_size": SIZE},
                  "required": ["new_size"], "additionalProperties": False},
    "os-reserve": {"type": ["object", "null"]},
    "revert": {"type": "object", "properties": {"snapshot_id": {
        "type": "string", "format": "uuid"}}, "required": ["snapshot_id"],
        "additionalProperties": False},
    "os-unreserve": {"type": ["object", "null"]},
    "os-begin_detaching": {"type": ["object", "null"]},
    "os-roll_detaching": {"type": ["object", "null"]},
    "os-attach": {"type": "object", "properties": {
        "instance_uuid": {"type": "string", "format": "uuid"},
        "host_name": {"type": "string", "maxLength": 255},
        "mountpoint": {"type": "string", "maxLength": 255},
        "mode": {"type": "string", "enum": ["rw", "ro"]}},
        "required": ["mountpoint"], "additionalProperties": False},
    "os-detach": {"type": ["object", "null"], "properties": {
        "attachment_id": {"type": ["string", "null"], "format": "uuid"}},
        "additionalProperties": False},
    "os-initialize_connection": {"type": "object", "properties": {"connector": CONNECTOR},
                                 "required": ["connector"], "additionalProperties": False},
    "os-terminate_connection": {"type": "object", "properties": {
        "connector": {"anyOf": [CONNECTOR, {"type": "null"}]}},
        "required": ["connector"], "additionalProperties": False},
    "os-volume_upload_image": {"type": "object", "properties": {
        "image_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "force": BOOL, "disk_format": {"type": "string", "enum": [
            "raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "qed", "ploop"]},
        "container_format": {"type": "string", "enum": ["bare", "ovf", "ova", "docker"]},
        "visibility": {"type": "string", "enum": ["public", "private", "shared",
                                                  "community"]},
        "protected": BOOL}, "required": ["image_name"], "additionalProperties": False},
    "os-set_bootable": {"type": "object", "properties": {"bootable": BOOL},
                        "required": ["bootable"], "additionalProperties": False},
    "os-update_readonly_flag": {"type": "object", "properties": {"readonly": BOOL},
                                "required": ["readonly"], "additionalProperties": False},
    "os-set_image_metadata": {"type": "object", "properties": {"metadata": METADATA},
                              "required": ["metadata"], "additionalProperties": False},
    "os-unset_image_metadata": {"type": "object", "properties": {"key": {
        "type": "string", "minLength": 1, "maxLength": 255}},
        "required": ["key"], "additionalProperties": False},
    "os-show_image_metadata": {"type": ["object", "null"]},
    "os-reset_status": {"type": "object", "properties": {
        "status": {"type": "string", "enum": [
            "creating", "available", "reserved", "attaching", "in-use", "detaching",
            "extending", "deleting", "error", "error_deleting", "error_extending",
            "downloading", "uploading", "maintenance", "error_restoring", "retyping",
            "backing-up", "restoring-backup"]},
        "attach_status": {"type": "string", "enum": ["attached", "detached"]},
        "migration_status": {"type": ["string", "null"], "enum": [
            "migrating", "error", "success", "completing", "none", "starting", None]}},
        "additionalProperties": False},
    "os-force_delete": {"type": ["object", "null"]},
    "os-unmanage": {"type": ["object", "null"]},
    "os-migrate_volume": {"type": "object", "properties": {
        "host": {"type": "string", "minLength": 1, "maxLength": 255},
        "force_host_copy": BOOL, "lock_volume": BOOL},
        "required": ["host"], "additionalProperties": False},
    "os-force_detach": {"type": ["object", "null"], "properties": {
        "attachment_id": {"type": ["string", "null"], "format": "uuid"},
        "connector": {"anyOf": [CONNECTOR, {"type": "null"}]}},
        "additionalProperties": False},
    "os-retype": {"type": "object", "properties": {
        "new_type": {"type": "string", "minLength": 1, "maxLength": 255},
        "migration_policy": {"type": ["string", "null"], "enum": [
            "never", "on-demand", None]}},
        "required": ["new_type"], "additionalProperties": False},
}
#: 3.16: a migration names its destination by `cluster` or by `host` (one of them)
_ACTIONS_316: dict[str, Any] = {**_ACTIONS, "os-migrate_volume": {
    "type": "object", "properties": {
        "host": {"type": ["string", "null"], "maxLength": 255},
        "cluster": {"type": ["string", "null"], "maxLength": 255},
        "force_host_copy": BOOL, "lock_volume": BOOL},
    "additionalProperties": False}}
VOLUME_ACTION = Versioned(VERSIONS, {
    "3.0": Schema({"type": "object", "properties": _ACTIONS, "minProperties": 1,
                   "maxProperties": 1, "additionalProperties": False}, STYLE),
    "3.16": Schema({"type": "object", "properties": _ACTIONS_316, "minProperties": 1,
                    "maxProperties": 1, "additionalProperties": False}, STYLE)})
SNAPSHOT_ACTION = Schema({"type": "object", "properties": {
    "os-reset_status": {"type": "object", "properties": {"status": {
        "type": "string", "enum": ["creating", "available", "deleting", "error",
                                   "error_deleting"]}},
        "required": ["status"], "additionalProperties": False},
    "os-force_delete": {"type": ["object", "null"]},
    "os-unmanage": {"type": ["object", "null"]},
    "os-update_snapshot_status": {"type": "object", "properties": {
        "status": {"type": "string"}, "progress": {"type": "string"}},
        "required": ["status"], "additionalProperties": False}},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False}, STYLE)

# ----- query strings
_PAGING = {"limit": {"type": "string", "pattern": r"^[0-9]{1,10}$"},
           "offset": {"type": "string", "pattern": r"^[0-9]{1,10}$"},
           "marker": {"type": "string", "maxLength": 255},
           "sort": {"type": "string", "maxLength": 255},
           "sort_key": {"type": "string", "maxLength": 255},
           "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
           "with_count": {"type": "string", "maxLength": 8},
           "all_tenants": {"type": "string", "maxLength": 8}}
LIST_QUERY = Schema({"type": "object", "properties": _PAGING,
                     "additionalProperties": {"type": "string", "maxLength": 2048}}, STYLE)
EMPTY_QUERY = Schema({"type": "object", "additionalProperties": {"type": "string"}}, STYLE)

TRUE = {"true", "1", "yes", "on", "y", "t"}
FALSE = {"false", "0", "no", "off", "n", "f"}


def flag(value: Any) -> bool:
    """Cinder's `strutils.bool_from_string` for a checked BOOL."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE


def size(value: Any) -> int:
    return int(str(value).strip())

# ----- generic volume groups (3.11, 3.13, 3.14)
GROUP_SPECS = {"type": "object", "maxProperties": 500,
               "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
                   "type": ["string", "integer", "boolean", "number"]}},
               "additionalProperties": False}
GROUP_TYPE_CREATE = _obj("group_type", {
    "name": {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"},
    "description": DESCRIPTION, "is_public": BOOL, "group_specs": GROUP_SPECS}, ["name"])
GROUP_TYPE_UPDATE = _obj("group_type", {
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "description": DESCRIPTION, "is_public": BOOL})
GROUP_SPECS_SET = Schema({"type": "object", "properties": {"group_specs": GROUP_SPECS},
                          "required": ["group_specs"], "additionalProperties": False},
                         STYLE)
GROUP_SPEC_ITEM = Schema({**GROUP_SPECS, "minProperties": 1, "maxProperties": 1}, STYLE)
GROUP_CREATE = _obj("group", {
    "name": NAME, "description": DESCRIPTION,
    "group_type": {"type": "string", "minLength": 1, "maxLength": 255},
    "volume_types": {"type": "array", "minItems": 1, "maxItems": 64,
                     "items": {"type": "string", "minLength": 1, "maxLength": 255}},
    "availability_zone": {"type": ["string", "null"], "maxLength": 255}},
    ["group_type", "volume_types"])
GROUP_UPDATE = _obj("group", {
    "name": NAME, "description": DESCRIPTION,
    "add_volumes": {"type": ["string", "null"], "maxLength": 37 * 64},
    "remove_volumes": {"type": ["string", "null"], "maxLength": 37 * 64}})
GROUP_ACTION = Schema({"type": "object", "properties": {
    "delete": {"type": "object", "properties": {"delete-volumes": BOOL},
               "additionalProperties": False},
    "reset_status": {"type": "object", "properties": {"status": {
        "type": "string", "enum": ["available", "error", "creating", "deleting",
                                   "updating", "in-use", "error_deleting"]}},
        "required": ["status"], "additionalProperties": False}},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False}, STYLE)
GROUP_FROM_SRC = Schema({"type": "object", "properties": {"create-from-src": {
    "type": "object", "properties": {
        "group_snapshot_id": UUID_OR_NULL, "source_group_id": UUID_OR_NULL,
        "name": NAME, "description": DESCRIPTION},
    "additionalProperties": False}}, "required": ["create-from-src"],
    "additionalProperties": False}, STYLE)
GROUP_SNAPSHOT_CREATE = _obj("group_snapshot", {
    "group_id": {"type": "string", "format": "uuid"}, "name": NAME,
    "description": DESCRIPTION}, ["group_id"])
GROUP_SNAPSHOT_ACTION = Schema({"type": "object", "properties": {"reset_status": {
    "type": "object", "properties": {"status": {"type": "string", "enum": [
        "available", "error", "creating", "deleting", "error_deleting"]}},
    "required": ["status"], "additionalProperties": False}},
    "required": ["reset_status"], "additionalProperties": False}, STYLE)

# ----- QoS specs
QOS_CREATE = Schema({"type": "object", "properties": {"qos_specs": {
    "type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"},
        "consumer": {"type": "string", "enum": ["front-end", "back-end", "both"]}},
    "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
        "type": ["string", "integer", "number"]}},
    "required": ["name"], "additionalProperties": False}},
    "required": ["qos_specs"], "additionalProperties": False}, STYLE)
QOS_UPDATE = Schema({"type": "object", "properties": {"qos_specs": {
    "type": "object", "minProperties": 1, "patternProperties": {
        "^[a-zA-Z0-9-_:. /]{1,255}$": {"type": ["string", "integer", "number"]}},
    "additionalProperties": False}}, "required": ["qos_specs"],
    "additionalProperties": False}, STYLE)
QOS_DELETE_KEYS = Schema({"type": "object", "properties": {"keys": {
    "type": "array", "minItems": 1, "items": {"type": "string", "maxLength": 255}}},
    "required": ["keys"], "additionalProperties": False}, STYLE)
QOS_QUERY = Schema({"type": "object", "properties": {
    "vol_type_id": {"type": "string", "maxLength": 36},
    "force": {"type": "string", "maxLength": 8}}, "additionalProperties": False}, STYLE)

# ----- manage existing
MANAGE = _obj("volume", {
    "host": {"type": "string", "minLength": 1, "maxLength": 255},
    "cluster": {"type": ["string", "null"], "maxLength": 255},
    "ref": {"type": "object", "properties": {"source-name": {
        "type": "string", "minLength": 1, "maxLength": 255}},
        "additionalProperties": True},
    "name": NAME, "description": DESCRIPTION,
    "volume_type": {"type": ["string", "null"], "maxLength": 255},
    "availability_zone": {"type": ["string", "null"], "maxLength": 255},
    "bootable": BOOL, "metadata": METADATA_OR_NULL}, ["host", "ref"])
MANAGEABLE_QUERY = Schema({"type": "object", "properties": {
    **_PAGING, "host": {"type": "string", "maxLength": 255},
    "cluster": {"type": "string", "maxLength": 255}},
    "additionalProperties": False}, STYLE)
SNAPSHOT_MANAGE = _obj("snapshot", {
    "volume_id": {"type": "string", "format": "uuid"},
    "ref": {"type": "object", "properties": {"source-name": {
        "type": "string", "minLength": 1, "maxLength": 255}},
        "additionalProperties": True},
    "name": NAME, "description": DESCRIPTION, "metadata": METADATA_OR_NULL},
    ["volume_id", "ref"])

# ----- workers cleanup (3.24): which services' interrupted work to clean
HOSTNAME = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
            "pattern": r"^[a-zA-Z0-9-._#@:]*$"}
WORKERS_CLEANUP = Schema({"type": ["object", "null"], "properties": {
    "cluster_name": HOSTNAME, "host": HOSTNAME, "disabled": BOOL, "is_up": BOOL,
    "binary": {"enum": ["cinder-volume", "cinder-scheduler"]},
    "resource_id": UUID_OR_NULL,
    "resource_type": {"type": ["string", "null"], "maxLength": 32},
    "service_id": {"type": ["integer", "string"], "pattern": r"^[0-9]{1,10}$"}},
    "additionalProperties": False}, STYLE)

# ----- replication: failover, freeze and thaw (os-services; `cluster` from 3.26)
FAILOVER = Schema({"type": "object", "properties": {
    "host": {"type": ["string", "null"], "maxLength": 255},
    "cluster": {"type": ["string", "null"], "maxLength": 255},
    "backend_id": {"type": ["string", "null"], "maxLength": 255}},
    "additionalProperties": False}, STYLE)
FREEZE_THAW = Schema({"type": "object", "properties": {
    "host": {"type": ["string", "null"], "maxLength": 255},
    "cluster": {"type": ["string", "null"], "maxLength": 255}},
    "additionalProperties": False}, STYLE)
