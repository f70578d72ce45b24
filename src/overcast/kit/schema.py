"""Request schemas: one checked door for every JSON body and query string.

A service writes its request schemas as JSON Schema (draft 4, as Nova, Keystone and
Placement do) in its `schemas.py`, one per resource and microversion range, and
checks a body with `Schema.check(body)` before any service code runs. Schemas are
compiled once, at import, with fastjsonschema: a typical server-create body checks
in ~4 µs, where the jsonschema package takes ~90 µs (measured in bench/door.py),
so the door does not slow the hot paths.

The formats the real services check are built in: `uuid`, `ipv4`, `ipv6`, `cidr`,
`mac_address`, `date-time`, and `name` (printable text: no NUL or control
characters, no lone surrogates, as Nova's `name` format refuses them).

A refusal is a `BadRequest` phrased the way the service's clients expect, by style:
Nova's "Invalid input for field/attribute X. Value: V. reason", Neutron's "Invalid
input for X. Reason: reason.", Keystone's "Invalid input for field 'X': reason",
Placement's "JSON does not validate: reason" and Glance's "Invalid input: reason".
The value quoted is cut short, so a 1 MB name never comes back in the error.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import fastjsonschema

from overcast.kit.errors import BadRequest

_MAC = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")
# Printable: no C0/C1 controls, no DEL, no lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_uuid(value: object) -> bool:
    """A string that parses as a UUID (what Nova's and Neutron's `uuid` format take)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_ip(version: int) -> Any:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False

    return check


def _is_cidr(value: str) -> bool:
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


FORMATS: dict[str, Any] = {
    "uuid": is_uuid,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
    "mac_address": lambda v: bool(_MAC.match(v)),
    "date-time": _is_datetime,
    "name": lambda v: not _UNPRINTABLE.search(v),
}

#: Largest value a 64-bit signed database column holds; bigger integers are refused.
MAX_INT = 2**63 - 1


def _quote(value: Any, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _field(path: list[str]) -> str:
    return "/".join(str(p) for p in path[1:]) or "body"


def _reason(exc: fastjsonschema.JsonSchemaValueException) -> str:
    rule, definition, value = exc.rule, exc.rule_definition, exc.value
    if rule == "type":
        kinds = definition if isinstance(definition, list) else [definition]
        return f"{_quote(value)} is not of type {', '.join(repr(k) for k in kinds)}"
    if rule == "maxLength":
        return f"{_quote(value)} is too long (at most {definition} characters)"
    if rule == "minLength":
        return f"{_quote(value)} is too short (at least {definition} characters)"
    if rule == "maximum":
        return f"{_quote(value)} is greater than the maximum of {definition}"
    if rule == "minimum":
        return f"{_quote(value)} is less than the minimum of {definition}"
    if rule == "enum":
        return f"{_quote(value)} is not one of {definition!r}"
    if rule == "required":
        missing = [k for k in definition if not isinstance(value, dict) or k not in value]
        return f"{missing[0]!r} is a required property" if missing else "missing property"
    if rule == "additionalProperties":
        return "Additional properties are not allowed"
    if rule == "format":
        return f"{_quote(value)} is not a '{definition}'"
    if rule == "pattern":
        return f"{_quote(value)} does not match {definition!r}"
    if rule in ("maxItems", "maxProperties"):
        return f"{_quote(value)} has too many items (at most {definition})"
    if rule in ("minItems", "minProperties"):
        return f"{_quote(value)} has too few items (at least {definition})"
    if rule == "uniqueItems":
        return f"{_quote(value)} has non-unique elements"
    return str(exc.message).replace("data.", "", 1)


def refusal(style: str, field: str, value: Any, reason: str) -> BadRequest:
    """The service's own sentence for input that its schema refuses."""
    if style in ("nova", "cinder"):
        return BadRequest(f"Invalid input for field/attribute {field}. "
                          f"Value: {_quote(value)}. {reason}")
    if style == "neutron":
        return BadRequest(f"Invalid input for {field}. Reason: {reason}.",
                          type="HTTPBadRequest")
    if style == "keystone":
        return BadRequest(f"Invalid input for field '{field}': {reason}")
    if style == "placement":
        return BadRequest(f"JSON does not validate: {reason}",
                          code="placement.undefined_code")
    return BadRequest(f"Invalid input for {field}: {reason}")


class Schema:
    """A compiled request schema for one body or query string of one service."""

    def __init__(self, schema: Mapping[str, Any], style: str) -> None:
        self.schema = dict(schema)
        self.style = style
        self._check = fastjsonschema.compile(self.schema, formats=FORMATS)

    def check(self, body: Any) -> Any:
        """Return the body (with schema defaults filled in) or raise BadRequest."""
        try:
            return self._check(body)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise refusal(self.style, _field(list(exc.path)), exc.value,
                          _reason(exc)) from None

    def check_query(self, params: Mapping[str, str] | Any) -> dict[str, Any]:
        """Check a query string: each parameter's last value, as a string (the schema
        gives patterns for numbers, as Nova's query schemas do)."""
        flat = {k: params[k] for k in params}
        return self.check(flat)  # type: ignore[no-any-return]


# --- small builders for the shapes every service repeats -----------------------------
def string(max_length: int = 255, *, min_length: int = 0, fmt: str | None = "name",
           **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "maxLength": max_length, **extra}
    if min_length:
        out["minLength"] = min_length
    if fmt:
        out["format"] = fmt
    return out


def integer(minimum: int = 0, maximum: int = MAX_INT, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


def int_string(minimum: int = 0, maximum: int = MAX_INT) -> dict[str, Any]:
    """An integer that may come as a JSON number or a string of digits (Nova's
    `non_negative_integer` accepts both)."""
    return {"anyOf": [integer(minimum, maximum),
                      {"type": "string", "pattern": r"^[0-9]{1,19}$"}]}


def query_int(maximum: int = MAX_INT) -> dict[str, Any]:
    """A query parameter holding a non-negative integer no larger than `maximum`."""
    digits = len(str(maximum))
    return {"type": "string", "pattern": rf"^[0-9]{{1,{digits}}}$"}


# --- routes that declare what they accept ------------------------------------------
class Versioned:
    """Schemas per microversion range, as Nova keeps them: {"2.1": S, "2.19": S2}
    gives S below 2.19 and S2 from it on. `versions` is the service's VersionRange."""

    def __init__(self, versions: Any, by_version: Mapping[str, Schema]) -> None:
        self.versions = versions
        self.by_version = sorted(((_version_key(k), s) for k, s in by_version.items()),
                                 key=lambda kv: kv[0])

    def for_request(self, request: Any) -> Schema:
        v = self.versions.of(request)
        chosen = self.by_version[0][1]
        for key, schema in self.by_version:
            if (v.major, v.minor) >= key:
                chosen = schema
        return chosen

    def all(self) -> list[Schema]:
        return [s for _, s in self.by_version]


def _version_key(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


BodySchema = Schema | Versioned


def accepts(body: BodySchema | None = None, query: BodySchema | None = None) -> Any:
    """Declare a route's request schemas: the body (the handler's `body` parameter)
    and the query string (read from its `request` parameter) are checked before the
    handler runs, and the OpenAPI document (`openapi_document`) lists them.

        @routes.post("/v2.1/servers")
        @accepts(body=schemas.SERVER_CREATE)
        def create(request: Request, body: Any = JSON_BODY, ...) -> Response: ...
    """
    import functools
    import inspect

    def decorate(fn: Any) -> Any:
        params = inspect.signature(fn).parameters
        if body is not None and "body" not in params:
            raise TypeError(f"{fn.__name__}: @accepts(body=...) needs a `body` parameter")
        if (query is not None or isinstance(body, Versioned)) and "request" not in params:
            raise TypeError(f"{fn.__name__}: @accepts needs a `request` parameter")

        def check(kwargs: dict[str, Any]) -> None:
            if query is not None:
                qs = query.for_request(kwargs["request"]) if isinstance(
                    query, Versioned) else query
                qs.check_query(kwargs["request"].query_params)
            if body is not None:
                schema = body.for_request(kwargs["request"]) if isinstance(
                    body, Versioned) else body
                kwargs["body"] = schema.check(kwargs.get("body"))

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                check(kwargs)
                return await fn(*args, **kwargs)
            wrapper: Any = async_wrapper
        else:
            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                check(kwargs)
                return fn(*args, **kwargs)
            wrapper = sync_wrapper
        wrapper.__request_schemas__ = {"body": body, "query": query}
        return wrapper

    return decorate


def openapi_document(app: Any) -> dict[str, Any]:
    """An OpenAPI 3 document of every route that declares its schemas with `accepts`
    (and of the others, without a body schema), for fuzzers and client authors."""
    from starlette.routing import Mount, Route

    paths: dict[str, dict[str, Any]] = {}

    def add(prefix: str, route: Any) -> None:
        if not isinstance(route, Route):
            return
        declared = getattr(route.endpoint, "__request_schemas__", {})
        for method in sorted((route.methods or set()) - {"HEAD"}):
            op: dict[str, Any] = {"responses": {"default": {"description": "any"}}}
            b = declared.get("body")
            if b is not None:
                schemas = b.all() if isinstance(b, Versioned) else [b]
                one = schemas[-1].schema if len(schemas) == 1 else {
                    "oneOf": [s.schema for s in schemas]}
                op["requestBody"] = {"content": {"application/json": {"schema": one}}}
            q = declared.get("query")
            if q is not None:
                latest = q.all()[-1] if isinstance(q, Versioned) else q
                op["parameters"] = [
                    {"name": name, "in": "query", "required": False, "schema": spec}
                    for name, spec in latest.schema.get("properties", {}).items()]
            paths.setdefault(prefix + route.path, {})[method.lower()] = op

    for route in app.router.routes:
        if isinstance(route, Mount):
            for inner in route.routes:
                add(route.path, inner)
        else:
            add("", route)
    return {"openapi": "3.0.3", "info": {"title": "overcast", "version": "1"},
            "paths": paths}
