"""Small request-body checks that produce the clear 400 messages OpenStack gives.

Each helper names the field it is looking at (`'user/name'`) so a client knows
exactly what to fix.
"""

from __future__ import annotations

from typing import Any

from overcast.kit.errors import BadRequest

MISSING: Any = object()


def invalid(field: str, why: str) -> BadRequest:
    return BadRequest(f"Invalid input for field '{field}': {why}")


def wrapped(body: Any, key: str) -> dict[str, Any]:
    """`{"user": {...}}` -> the inner object, or 400."""
    if not isinstance(body, dict):
        raise BadRequest("Malformed request body: expected a JSON object.")
    inner = body.get(key, MISSING)
    if inner is MISSING:
        raise BadRequest(f"Invalid input for field '{key}': '{key}' is a required property.")
    if not isinstance(inner, dict):
        raise invalid(key, f"{inner!r} is not of type 'object'.")
    return inner


def string(d: dict[str, Any], key: str, where: str, *, required: bool = False,
           max_len: int = 255, min_len: int = 0, nullable: bool = False,
           strip_check: bool = False) -> Any:
    if key not in d:
        if required:
            raise invalid(f"{where}/{key}", f"'{key}' is a required property.")
        return MISSING
    value = d[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid(f"{where}/{key}", f"{value!r} is not of type 'string'.")
    if len(value) < min_len:
        raise invalid(f"{where}/{key}", f"{value!r} is too short.")
    if len(value) > max_len:
        raise invalid(f"{where}/{key}", f"the value is longer than {max_len} characters.")
    if strip_check and not value.strip():
        raise invalid(f"{where}/{key}", "it must not be empty or only whitespace.")
    return value


def boolean(d: dict[str, Any], key: str, where: str, *, required: bool = False) -> Any:
    if key not in d:
        if required:
            raise invalid(f"{where}/{key}", f"'{key}' is a required property.")
        return MISSING
    value = d[key]
    if not isinstance(value, bool):
        raise invalid(f"{where}/{key}", f"{value!r} is not of type 'boolean'.")
    return value


def string_list(d: dict[str, Any], key: str, where: str, *, max_items: int = 1000,
                max_len: int = 255) -> Any:
    if key not in d:
        return MISSING
    value = d[key]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise invalid(f"{where}/{key}", "it must be a list of strings.")
    if len(value) > max_items:
        raise invalid(f"{where}/{key}", f"at most {max_items} items are allowed.")
    for x in value:
        if not x or len(x) > max_len:
            raise invalid(f"{where}/{key}", f"{x!r} is not a valid item.")
    return value


def present(values: dict[str, Any]) -> dict[str, Any]:
    """Drop MISSING entries so services see only what the caller sent."""
    return {k: v for k, v in values.items() if v is not MISSING}


def query_bool(raw: str | None, name: str) -> bool | None:
    if raw is None:
        return None
    low = raw.lower()
    if low in ("true", "1", "yes", "on", ""):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"Invalid value {raw!r} for query parameter {name}: expected a boolean.")
