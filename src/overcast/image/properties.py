"""An image's attributes: which a user may set, which nobody may, and how a create
body or a JSON patch (application/openstack-images-v2.1-json-patch) is checked
and applied.

Core attributes are columns of the image row; anything else is an extra
property (a string); tags are a list of short strings. Glance's refusals are
kept word for word: read-only and reserved attributes are 403, bad values 400,
a missing property on remove/replace 409.
"""

from __future__ import annotations

from typing import Any

from overcast.image import models as m
from overcast.image import quotas
from overcast.image.inspect import CONTAINER_FORMATS, DISK_FORMATS
from overcast.image.policy import check_publicize
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden

VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")

#: Core attributes a user may set on create and PATCH.
SETTABLE = {"name", "visibility", "protected", "os_hidden", "disk_format", "container_format",
            "min_disk", "min_ram", "tags", "id", "owner"}
#: Attributes nobody sets (403 "Attribute 'x' is read-only.").
READ_ONLY = {"status", "checksum", "size", "virtual_size", "os_hash_algo", "os_hash_value",
             "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations",
             "stores"}
#: Attributes of a record that exist but are not in the record (Glance: 403 "reserved").
RESERVED = {"deleted", "deleted_at", "location"}


def check_tags(tags: list[str]) -> None:
    for t in tags:
        if not t or len(t) > 255:
            raise BadRequest(f"Invalid tag {t!r}: tags are 1 to 255 characters.")
    quotas.check_tags(list(dict.fromkeys(tags)))


def core_value(name: str, value: Any) -> Any:
    if name == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise BadRequest("Invalid value for name: it must be a string of at most 255 "
                             "characters.")
        return value
    if name == "visibility":
        if value not in VISIBILITIES:
            raise BadRequest(f"Invalid visibility value: {value}")
        return value
    if name in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise BadRequest(f"Invalid value for {name}: {value!r} is not a boolean.")
        return value
    if name == "disk_format":
        if value is not None and value not in DISK_FORMATS:
            raise BadRequest(f"Invalid disk format '{value}' for image. It must be one of "
                             f"{', '.join(DISK_FORMATS)}.")
        return value
    if name == "container_format":
        if value is not None and value not in CONTAINER_FORMATS:
            raise BadRequest(f"Invalid container format '{value}' for image. It must be one "
                             f"of {', '.join(CONTAINER_FORMATS)}.")
        return value
    if name in ("min_disk", "min_ram"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadRequest(f"Invalid value for {name}: it must be an integer >= 0.")
        return value
    if name == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise BadRequest("Invalid value for owner.")
        return value
    return value


def prop_value(name: str, value: Any) -> str:
    if len(name) > 255:
        raise BadRequest("Property names are at most 255 characters.")
    if not isinstance(value, str):
        raise BadRequest(f"Invalid value for property {name}: extra properties are strings.")
    return value


def split_body(body: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], dict[str, str],
                                                              list[str]]:
    core: dict[str, Any] = {}
    props: dict[str, str] = {}
    tags: list[str] = []
    for key, value in body.items():
        if key in READ_ONLY:
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key in RESERVED or key.startswith("os_glance"):
            raise Forbidden(f"Attribute '{key}' is reserved.")
        if key == "tags":
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise BadRequest("Invalid value for tags: it must be a list of strings.")
            check_tags(value)
            tags = value
        elif key in SETTABLE:
            core[key] = core_value(key, value)
        else:
            props[key] = prop_value(key, value)
    return core, props, tags


def apply_patch(ctx: RequestContext, img: m.Image, props: dict[str, str], tags: list[str],
                op: Any) -> None:
    """Apply one JSON-patch operation to an image row and its properties and tags."""
    if not isinstance(op, dict) or len([k for k in ("add", "replace", "remove", "op")
                                        if k in op]) != 1:
        raise BadRequest("Operation objects must contain exactly one of \"add\", "
                         "\"remove\", or \"replace\".")
    kind = next(k for k in ("add", "replace", "remove") if k in op) if "op" not in op \
        else op["op"]
    path = op.get(kind) if "op" not in op else op.get("path")
    if kind not in ("add", "replace", "remove") or not isinstance(path, str):
        raise BadRequest("Invalid operation: `op` must be add, replace or remove and "
                         "`path` a string.")
    if not path.startswith("/") or path.count("/") != 1 or len(path) < 2:
        if path.startswith("/tags/") or path.startswith("/locations"):
            raise BadRequest(f"Unsupported path {path}.")
        raise BadRequest(f"Json path should start with a '/', end with no '/', no 2 "
                         f"subsequent '/' are allowed: {path}")
    name = path[1:].replace("~1", "/").replace("~0", "~")
    value = op.get("value")
    if kind != "remove" and "value" not in op:
        raise BadRequest(f"Operation \"{kind}\" requires a member named \"value\".")
    if name in READ_ONLY or name == "id":
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith("os_glance"):
        raise Forbidden(f"Attribute '{name}' is reserved.")
    if name == "tags":
        if kind == "remove":
            tags.clear()
            return
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise BadRequest("Invalid value for tags: it must be a list of strings.")
        check_tags(value)
        tags[:] = value
        return
    if name in SETTABLE:
        if kind == "remove":
            raise Forbidden(f"Properties {name} must not be removed.")
        if name == "owner" and not ctx.is_admin:
            raise Forbidden("Attribute 'owner' can only be changed by an admin.")
        if name in ("disk_format", "container_format") and img.status != "queued":
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
        core = core_value(name, value)
        if name == "visibility":
            check_publicize(ctx, value)
            if value != "shared" and img.visibility == "shared":
                pass  # Glance keeps members; they stop mattering
        setattr(img, name, core)
        return
    if kind == "remove":
        if name not in props:
            raise Conflict(f"Property {name} does not exist.")
        del props[name]
        return
    if kind == "replace" and name not in props:
        raise Conflict(f"Property {name} does not exist.")
    props[name] = prop_value(name, value)
