"""The door for request bodies: size and JSON well-formedness, before any service code.

Every JSON request body passes through `BodyGuard` before routing. It answers, in
the calling service's own error format:
- 413 when the body is larger than `max_json_bytes` (114,688 bytes, oslo's
  sizelimit default, which Nova, Neutron, Keystone and Glance run behind). A
  declared Content-Length over the limit is refused before a byte is read; a
  chunked body is refused as soon as it passes the limit, so five 200 MB bodies
  cost the server nothing;
- 400 for a body that is not JSON: malformed text, invalid UTF-8, lone UTF-16
  surrogates (`"\\ud800"`, which would otherwise reach the database as text no
  encoder can write), numbers that overflow to infinity (`1e400`), NaN, and
  nesting deeper than `max_depth` (10,000 levels made the standard library's
  parser raise RecursionError), and integers outside 64 bits (no OpenStack field
  holds one, and a database column cannot: SQLite raised OverflowError). Each
  service's schemas then bound its own fields more tightly.

Routes that take raw data (image bytes, later object data) are declared on their
`ServiceSpec.raw_body_paths` and stream past untouched. A body the guard has read
is replayed to the app unchanged, so services parse it as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: oslo.middleware's sizelimit default (`max_request_body_size`).
MAX_JSON_BYTES = 114_688
#: Far deeper than any OpenStack body (Keystone's auth document is 6 levels).
MAX_DEPTH = 64

_METHODS_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}
#: A run of 19 digits or more may be an integer outside 64 bits (2**63 has 19).
_LONG_DIGITS = re.compile(rb"[0-9]{19,}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: What each service says about a body that is not JSON (their own wording).
MALFORMED = {
    "nova": "Malformed request body",
    "cinder": "Malformed request body",
    "neutron": "Malformed JSON in request body.",
    "keystone": "Malformed JSON in request body.",
    "glance": "Malformed JSON in request body.",
    "placement": "Malformed JSON: the body is not valid JSON.",
}


class BodyRejected(Exception):
    """Why the guard refused a body: the status and the sentence for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_json_type(content_type: str) -> bool:
    """No type (clients often send none), application/json, or any `...+json` / `-json`
    type such as Glance's `application/openstack-images-v2.1-json-patch`."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "" or media == "application/json" or media.endswith(("+json",
                                                                          "-json-patch"))


def json_depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed body (iterative: no recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def check_json(raw: bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raise BodyRejected(400) unless `raw` is one well-formed, finite JSON document."""
    if not raw.strip():
        return
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc).split(":", 1)[0]
        raise BodyRejected(400, f"{{malformed}} ({reason}).") from None
    if json_depth(parsed) > max_depth:
        raise BodyRejected(400, f"{{malformed}} (nested deeper than {max_depth} levels).")
    if _LONG_DIGITS.search(raw):
        # orjson reads integers past 64 bits as floats, so the exact check is the
        # standard library's, run only when a long run of digits is there at all.
        json.loads(raw, parse_int=_int64)


def _int64(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise BodyRejected(400, f"Invalid input: the integer {text[:30]}"
                                f"{'...' if len(text) > 30 else ''} is out of range (at "
                                f"most {INT64_MAX}).")
    return value


class BodyGuard:
    """ASGI middleware: bounded, well-formed JSON bodies or an error in the service's
    format (`render` turns (request, status, message) into the response)."""

    def __init__(self, app: ASGIApp, *, render: Callable[[Request, int, str], object],
                 style: Callable[[Request], str], raw_body_paths: Iterable[str] = (),
                 max_json_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.render = render
        self.style = style
        self.raw = re.compile("|".join(f"(?:{p})" for p in raw_body_paths) or r"(?!)")
        self.max_json_bytes = max_json_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODY
                or self.raw.fullmatch(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and \
                    int(declared) > self.max_json_bytes:
                raise BodyRejected(413, self._too_large())
            body = await self._read(receive)
            if is_json_type(headers.get(b"content-type", b"").decode("latin-1")):
                check_json(body, self.max_depth)
        except BodyRejected as exc:
            request = Request(scope)
            message = exc.message.replace("{malformed}", MALFORMED.get(
                self.style(request), "Malformed JSON in request body."))
            response = self.render(request, exc.status, message)
            await response(scope, receive, send)  # type: ignore[operator]
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> str:
        return (f"Request is too large: a request body may be at most "
                f"{self.max_json_bytes} bytes.")

    async def _read(self, receive: Receive) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_json_bytes:
                raise BodyRejected(413, self._too_large())
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that hands the app the body already read, then goes on
    with the real channel (so a later disconnect is still seen)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
