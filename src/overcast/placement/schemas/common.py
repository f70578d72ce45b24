"""What Placement's request schemas share: its patterns and limits, the two ways it
words a refusal, and the parsers of the query terms several routes take.

The patterns and limits are Placement's own (openstack/placement
`placement/schemas/common.py` and `placement/db/constants.py`): resource class and
trait names `^[A-Z0-9_]+$`, custom ones `^CUSTOM_...`, integers of inventories up to
2**31 - 1, allocation ratios up to the largest single-precision float.

A body that fails its schema is refused as Placement refuses it: 400 "JSON does
not validate: <reason>" (code `placement.undefined_code`); a query string that
fails, 400 "Invalid query string parameters: <reason>". The values inside a query
term (`resources=VCPU:2`, `member_of=in:...`, `required=!X`) are parsed here after
the schema has passed, with `placement.query.bad_value` where Placement uses it.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from overcast.kit.errors import BadRequest
from overcast.kit.microversion import APIVersion
from overcast.kit.schema import Schema, Versioned
from overcast.placement.errors import QUERY_BAD_VALUE, UNDEFINED
from overcast.placement.versions import VERSIONS

#: Placement's integer columns (`db_const.MAX_INT`): inventory amounts stop here.
MAX_INT = 0x7FFFFFFF
#: The largest allocation ratio Placement stores (`db_const.SQL_SP_FLOAT_MAX`).
SQL_SP_FLOAT_MAX = 3.40282e38

UUID_PATTERN = "^[0-9a-fA-F-]{36}$"
RC_PATTERN = "^[A-Z0-9_]+$"
CUSTOM_PATTERN = "^CUSTOM_[A-Z0-9_]+$"
CONSUMER_TYPE_PATTERN = RC_PATTERN
#: `GET /usages?consumer_type=` also takes `all` and `unknown` (Placement's pattern).
CONSUMER_TYPE_GET_PATTERN = "^[A-Z0-9_]+$|^all$|^unknown$"
#: Granular request group suffixes: numbers from 1.25, names from 1.33.
GROUP_SUFFIX_1_25 = "[1-9][0-9]*"
GROUP_SUFFIX_1_33 = "[a-zA-Z0-9_-]{1,64}"

#: A custom trait or resource class name.
CUSTOM_NAME = re.compile(CUSTOM_PATTERN)
#: An amount in `resources=`: ASCII digits, perhaps signed (then refused below 1).
_AMOUNT = re.compile(r"\s*([+-]?)0*([0-9]+)\s*", re.ASCII)

_QUERY_PREFIX = "Invalid query string parameters: "
_BODY_PREFIX = "JSON does not validate: "


def text(max_length: int, min_length: int = 0, **extra: Any) -> dict[str, Any]:
    """A string of Placement's lengths. Placement takes any character but NUL, which
    no database column holds (PostgreSQL refuses it), so NUL is refused too."""
    out: dict[str, Any] = {"type": "string", "maxLength": max_length, **extra}
    if min_length:
        out["minLength"] = min_length
    if "pattern" not in out:
        out["pattern"] = "^[^\\x00]*$"
    return out


UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
#: A provider's generation. Placement takes any integer; one past the column's range
#: could never match and would overflow it, so it is refused.
GENERATION: dict[str, Any] = {"type": "integer", "maximum": MAX_INT}
#: Any string but one holding NUL (query values that reach a database filter).
STRING: dict[str, Any] = {"type": "string", "pattern": "^[^\\x00]*$"}


def body(schema: Mapping[str, Any]) -> Schema:
    """A body schema, refused as "JSON does not validate: <reason>"."""
    return Schema(schema, "placement")


class QuerySchema(Schema):
    """A query string schema, refused as "Invalid query string parameters: <reason>"
    (Placement's `util.validate_query_params`)."""

    def check(self, body: Any) -> Any:
        try:
            return super().check(body)
        except BadRequest as exc:
            reason = exc.message.removeprefix(_BODY_PREFIX)
            raise BadRequest(_QUERY_PREFIX + reason, code=UNDEFINED) from None


def query(schema: Mapping[str, Any]) -> QuerySchema:
    return QuerySchema(schema, "placement")


def versioned(by_version: Mapping[str, Schema]) -> Versioned:
    """Schemas per microversion range: {"1.0": S, "1.14": S2}."""
    return Versioned(VERSIONS, by_version)


def check_query(schemas: Versioned, request: Request) -> None:
    """Check a request's query string against its microversion's schema (`@accepts`
    documents and checks the newest; older microversions take less)."""
    schemas.for_request(request).check_query(request.query_params)


def extend(schema: Mapping[str, Any], properties: Mapping[str, Any] | None = None,
           **changes: Any) -> dict[str, Any]:
    """A copy of an object schema with more properties (and other keys changed)."""
    out = {**schema, **changes}
    out["properties"] = {**schema.get("properties", {}), **(properties or {})}
    return out


# ------------------------------------------------------------ values
def uuid(value: Any, what: str) -> str:
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"{_BODY_PREFIX}{str(value)[:64]!r} is not a valid uuid for "
                         f"{what}.") from None


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
        term = raw[1:] if neg else raw
        ids = term[3:].split(",") if term.startswith("in:") else [term]
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
                             f'Got: {raw[:128]}.', code=QUERY_BAD_VALUE)
        rc, amount = part.split(":", 1)
        m = _AMOUNT.fullmatch(amount)
        if m is None:
            raise BadRequest(f"Requested resource {rc[:64]} expected positive integer amount. "
                             f"Got: {amount[:64]}.", code=QUERY_BAD_VALUE)
        # No inventory holds more than 2**31 - 1 (Placement's maximum total): a larger
        # amount matches nothing, as in Placement, and never overflows a column.
        sign, digits = m.groups()
        n = MAX_INT + 1 if len(digits) > 10 else int(digits)
        n = -n if sign == "-" else n
        if n < 1:
            raise BadRequest(f"Requested resource {rc[:64]} requires amount >= 1. Got: {n}.",
                             code=QUERY_BAD_VALUE)
        if rc in out:
            raise BadRequest(f"Badly formed resources parameter: {rc[:64]} appears twice.",
                             code=QUERY_BAD_VALUE)
        out[rc] = min(n, MAX_INT + 1)
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
