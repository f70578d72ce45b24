"""What Glance v2 accepts: the request schemas checked at the door of every image route.

Not to be confused with `schemas.py`, the /v2/schemas documents clients download:
these are the checks every body and query string passes before service code runs
(declared on the routes with `kit.schema.accepts`, so /openapi.json lists them).

The facts are Glance's (glance/api/v2/images.py, image_members.py, image_tags.py):
- an image body is checked against the image schema (`get_base_properties`, with
  `additionalProperties: {"type": "string"}` for extra properties); attributes
  Glance refuses with 403 before its schema (`self`, `file`, `schema`,
  `direct_url`, `stores`) are left to the service so they still answer 403;
- a JSON-patch operation (application/openstack-images-v2.1-json-patch) has an
  `op` in add/remove/replace, a string `path` and, unless it removes, a `value`;
  the value is checked as Glance does, as the partial image {attribute: value};
- `min_ram`/`min_disk` are bounded by Glance's database (2**31 - 1, "'min_ram'
  value out of range, must not exceed 2147483647.");
- a tag is a string of at most 255 characters; a member a non-empty string of at
  most 255 (Glance's column); a member status one of pending/accepted/rejected;
- the list query's limit, sort keys and directions, visibility and member_status
  are refused in Glance's own words.
Glance refuses 4-byte unicode (outside the Basic Multilingual Plane) in every
value it stores (`utils.no_4byte_params`); NUL is refused everywhere too, since
PostgreSQL cannot store it (Glance answers 500 there). Other control characters
are accepted, as Glance accepts them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema

from overcast.image.inspect import CONTAINER_FORMATS, DISK_FORMATS
from overcast.image.listing import SORT_KEYS
from overcast.image.properties import MEMBER_STATUSES, READ_ONLY, RESERVED, VISIBILITIES
from overcast.kit.errors import BadRequest
from overcast.kit.schema import Schema

#: Glance's database columns for min_ram and min_disk are 32-bit (`_validate_db_int`).
MAX_DB_INT = 2**31 - 1
#: Image statuses (the image schema's enum), as list filters accept them.
STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated")

_FOUR_BYTE = re.compile("[\U00010000-\U0010ffff]")
UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){12}$")

#: A refusal worded by hand: (field, rule) or field -> the sentence for the value.
Messages = Mapping[str, Callable[[Any], str]]


class GlanceSchema(Schema):
    """A request schema worded as Glance words its refusals.

    On top of the kit's `Schema`: `messages` gives Glance's own sentence for a field
    (or "field:rule"; "" is the whole body) where Glance has one; every string of
    the request (keys too) is refused if it holds NUL, and with `no_4byte` if it
    holds 4-byte unicode; and in a query string, every value of a repeated
    parameter (`tag`, `sort_key`) is checked, not only the last one.
    """

    def __init__(self, schema: Mapping[str, Any], *, messages: Messages | None = None,
                 no_4byte: bool = True, text: bool = True) -> None:
        super().__init__(schema, "glance")
        self.messages = dict(messages or {})
        self.no_4byte = no_4byte
        self.text = text

    def check(self, body: Any) -> Any:
        try:
            body = self._check(body)
        except fastjsonschema.JsonSchemaValueException as exc:
            field = "/".join(str(p) for p in list(exc.path)[1:])
            word = self.messages.get(f"{field}:{exc.rule}") or self.messages.get(field)
            if word is not None:
                raise BadRequest(word(exc.value)) from None
            super().check(body)  # raises, in the kit's wording for Glance
            raise
        if self.text:
            check_text(body, no_4byte=self.no_4byte)
        return body

    def check_query(self, params: Mapping[str, str] | Any) -> dict[str, Any]:
        flat = super().check_query(params)
        multi = getattr(params, "multi_items", None)
        if multi is not None:
            for key, value in multi():
                if value != flat.get(key):
                    self.check({key: value})
        return flat


def check_text(value: Any, *, no_4byte: bool = True, key: str = "") -> None:
    """Refuse NUL (and, as Glance does, 4-byte unicode) anywhere in a parsed body:
    "Name can't contain 4 byte unicode characters." as Glance words it."""
    stack: list[tuple[str, Any]] = [(key, value)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                _text(k, "Property names", no_4byte)
                stack.append((k, v))
        elif isinstance(item, list):
            stack.extend((name, v) for v in item)
        elif isinstance(item, str):
            _text(item, (name or "Param value").title(), no_4byte)


def _text(text: str, what: str, no_4byte: bool) -> None:
    if "\x00" in text:
        raise BadRequest(f"{what} can't contain NUL characters.")
    if no_4byte and _FOUR_BYTE.search(text):
        raise BadRequest(f"{what} can't contain 4 byte unicode characters.")


def _int32() -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": MAX_DB_INT}


def _db_int_messages(*names: str) -> dict[str, Callable[[Any], str]]:
    """Glance's words for min_ram/min_disk out of its range (database, then domain)."""
    out: dict[str, Callable[[Any], str]] = {}
    for name in names:
        out[f"{name}:maximum"] = _out_of_range(name)
        out[f"{name}:minimum"] = _negative(name)
    return out


def _out_of_range(name: str) -> Callable[[Any], str]:
    return lambda v: f"'{name}' value out of range, must not exceed {MAX_DB_INT}."


def _negative(name: str) -> Callable[[Any], str]:
    return lambda v: (f"Invalid value '{v}' for parameter '{name}': Cannot be a negative "
                      "value")


# --- images ------------------------------------------------------------------------
#: What an image may hold, as Glance's image schema (get_base_properties) says. The
#: read-only attributes keep their types (Glance checks them before its 403).
IMAGE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "pattern": UUID_PATTERN},
    "name": {"type": ["null", "string"], "maxLength": 255},
    "status": {"type": "string", "enum": list(STATUSES)},
    "visibility": {"type": "string", "enum": list(VISIBILITIES)},
    "protected": {"type": "boolean"},
    "os_hidden": {"type": "boolean"},
    "checksum": {"type": ["null", "string"], "maxLength": 32},
    "os_hash_algo": {"type": ["null", "string"], "maxLength": 64},
    "os_hash_value": {"type": ["null", "string"], "maxLength": 128},
    "owner": {"type": ["null", "string"], "maxLength": 255},
    "size": {"type": ["null", "integer"]},
    "virtual_size": {"type": ["null", "integer"]},
    "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS]},
    "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS]},
    "created_at": {"type": "string"},
    "updated_at": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
    "min_ram": _int32(),
    "min_disk": _int32(),
    "locations": {"type": "array"},
    # Glance answers 403 "Attribute 'x' is read-only." before any schema: no rule here.
    "self": {}, "file": {}, "schema": {}, "direct_url": {}, "stores": {},
}

class ImageSchema(GlanceSchema):
    """An image body: Glance's 255-character bound on extra property names comes in
    its own words (the schema's patternProperties documents it)."""

    def check(self, body: Any) -> Any:
        if isinstance(body, dict) and any(len(k) > 255 for k in body):
            raise BadRequest("Custom property should not be greater than 255 characters.")
        return super().check(body)


IMAGE = ImageSchema({
    "type": "object",
    "properties": IMAGE_PROPERTIES,
    # extra properties are strings, with names of at most 255 characters
    "additionalProperties": {"type": "string"},
    "patternProperties": {"^.{256,}$": {"not": {}}},
}, messages={
    **_db_int_messages("min_ram", "min_disk"),
    "": lambda v: "Image body must be a JSON object.",
})

#: One operation of a JSON patch (application/openstack-images-v2.1-json-patch).
OPERATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "op": {"type": "string", "enum": ["add", "remove", "replace"]},
        "path": {"type": "string"},
    },
    "required": ["op", "path"],
    # add and replace need a value; remove does not
    "anyOf": [{"properties": {"op": {"enum": ["remove"]}}}, {"required": ["value"]}],
}


class PatchSchema(GlanceSchema):
    """A JSON patch of an image: each operation's shape (refused in Glance's words),
    then each value checked as the partial image {attribute: value}, as Glance's
    `_validate_change` does. Read-only and reserved attributes and paths the image
    does not have are left to the service (403 and 400 as Glance answers)."""

    def check(self, body: Any) -> Any:
        if isinstance(body, list):
            for op in body:
                problem = _operation_problem(op)
                if problem:
                    raise BadRequest(problem)
        body = super().check(body)
        for op in body:
            check_text(op["path"], key="path")
            if op["op"] == "remove":
                continue
            name = _attribute(op["path"])
            if name is None or name in READ_ONLY or name in RESERVED or name == "id" \
                    or name.startswith("os_glance"):
                continue
            IMAGE.check({name: op["value"]})
        return body


def _operation_problem(op: Any) -> str | None:
    """Glance's sentence for a malformed operation (RequestDeserializer.update)."""
    if not isinstance(op, dict):
        return "Operations must be JSON objects."
    kind = op.get("op")
    if kind is None:
        return ("Unable to find `op` in JSON Schema change. It must be one of the "
                "following: add, remove, replace.")
    if kind not in ("add", "remove", "replace"):
        return (f"Invalid operation: `{str(kind)[:64]}`. It must be one of the "
                "following: add, remove, replace.")
    if "path" not in op:
        return "Unable to find 'path' in JSON Schema change"
    if not isinstance(op["path"], str):
        return f"Invalid JSON pointer for this resource: {str(op['path'])[:64]!r}"
    if kind != "remove" and "value" not in op:
        return f'Operation "{kind}" requires a member named "value".'
    return None


def _attribute(pointer: str) -> str | None:
    """The attribute a one-level JSON pointer names ("/a~1b" -> "a/b"), else None."""
    if not pointer.startswith("/") or "/" in pointer[1:]:
        return None
    return pointer[1:].replace("~1", "/").replace("~0", "~").strip() or None


IMAGE_PATCH = PatchSchema({"type": "array", "items": OPERATION}, text=False, messages={
    "": lambda v: "Request body must be a JSON array of operation objects.",
})


#: The tag of PUT /v2/images/{id}/tags/{tag}: Glance checks it as {"tags": [tag]}.
TAG = GlanceSchema({"type": "string", "maxLength": 255})

# --- image import ------------------------------------------------------------------
IMPORT = GlanceSchema({
    "type": "object",
    "properties": {
        "method": {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 255},
                           "uri": {"type": "string"},
                           "glance_image_id": {"type": "string"},
                           "glance_region": {"type": "string"},
                           "glance_service_interface": {"type": "string"}},
            "required": ["name"],
        },
        "stores": {"type": "array", "items": {"type": "string"}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
    "required": ["method"],
}, messages={
    "": lambda v: "Import request requires a 'method' field.",
    "method": lambda v: "Import request requires a 'name' field.",
    "all_stores": lambda v: "'all_stores' must be boolean value only",
    "all_stores_must_succeed": lambda v: "'all_stores_must_succeed' must be boolean "
                                         "value only",
})

# --- members -----------------------------------------------------------------------
MEMBER_CREATE = GlanceSchema({
    "type": "object",
    "properties": {"member": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["member"],
}, messages={
    "": lambda v: 'Expected a member in the form: {"member": "image_id"}'
    if not isinstance(v, dict) else "Member to be added not specified",
    "member:minLength": lambda v: "Member can't be empty",
})

MEMBER_UPDATE = GlanceSchema({
    "type": "object",
    "properties": {"status": {"type": "string", "enum": list(MEMBER_STATUSES)}},
    "required": ["status"],
}, messages={
    "": lambda v: 'Expected a status in the form: {"status": "status"}'
    if not isinstance(v, dict) else "Status not specified",
    "status": lambda v: f"Invalid status: {str(v)[:64]}",
})

# --- GET /v2/images ----------------------------------------------------------------
_BOOL = {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[01]|"
                                      "[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])$"}
_SIZE = {"type": "string", "pattern": "^[-+]?[0-9]{1,19}$"}

IMAGE_LIST_QUERY = GlanceSchema({
    "type": "object",
    "properties": {
        "limit": {"type": "string", "pattern": "^[0-9]{0,64}$"},
        "marker": {"type": "string", "maxLength": 255},
        "sort_key": {"type": "string", "enum": list(SORT_KEYS)},
        "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
        "sort": {"type": "string", "maxLength": 1000},
        "visibility": {"type": "string", "enum": [*VISIBILITIES, "all"]},
        "member_status": {"type": "string", "enum": [*MEMBER_STATUSES, "all"]},
        "status": {"type": "string", "anyOf": [{"enum": list(STATUSES)},
                                               {"pattern": "^in:"}]},
        "size_min": _SIZE,
        "size_max": _SIZE,
        "protected": _BOOL,
        "os_hidden": _BOOL,
        "name": {"type": "string"},
        "id": {"type": "string"},
        "owner": {"type": "string"},
        "tag": {"type": "string"},
        "disk_format": {"type": "string"},
        "container_format": {"type": "string"},
        "checksum": {"type": "string"},
        "os_hash_value": {"type": "string"},
        "created_at": {"type": "string", "maxLength": 64},
        "updated_at": {"type": "string", "maxLength": 64},
        "changes-since": {"not": {}},
    },
    # any other key filters on an extra property
    "additionalProperties": {"type": "string"},
}, no_4byte=False, messages={
    "limit": lambda v: "limit param must be an integer" if not str(v).startswith("-")
    else "limit param must be positive",
    "sort_key": lambda v: (f"Invalid sort key: {str(v)[:64]}. It must be one of the "
                           f"following: {', '.join(SORT_KEYS)}."),
    "sort_dir": lambda v: f"Invalid sort direction: {str(v)[:64]}",
    "visibility": lambda v: f"Invalid visibility value: {str(v)[:64]}",
    "member_status": lambda v: f"Invalid status: {str(v)[:64]}",
    "status": lambda v: f"Invalid status value: {str(v)[:64]}",
    "size_min": lambda v: f"Invalid value for size_min: {str(v)[:64]}",
    "size_max": lambda v: f"Invalid value for size_max: {str(v)[:64]}",
    "protected": lambda v: f"Invalid value for protected: {str(v)[:64]}. It must be true "
                           "or false.",
    "os_hidden": lambda v: f"Invalid value for os_hidden: {str(v)[:64]}. It must be true "
                           "or false.",
    "changes-since": lambda v: 'The "changes-since" filter is no longer available on v2.',
})
