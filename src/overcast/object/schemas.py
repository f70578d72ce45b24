"""What a Swift request may carry: Swift's constraints, header checks and the
query strings, refused before any store code runs.

The limits are Swift's defaults (swift/common/constraints.py), which /info
advertises and python-swiftclient reads. Query strings go through kit.schema;
headers are checked here by hand (they are not JSON), each refusal a
plain-text 400 in Swift's wording.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from overcast.kit.schema import Schema, query_int
from overcast.object import errors

MAX_FILE_SIZE = 5 * 1024 * 1024 * 1024 + 2
MAX_META_NAME_LENGTH = 128
MAX_META_VALUE_LENGTH = 256
MAX_META_COUNT = 90
MAX_META_OVERALL_SIZE = 4096
MAX_HEADER_SIZE = 8192
MAX_OBJECT_NAME_LENGTH = 1024
MAX_CONTAINER_NAME_LENGTH = 256
MAX_ACCOUNT_NAME_LENGTH = 256
CONTAINER_LISTING_LIMIT = 10000
ACCOUNT_LISTING_LIMIT = 10000
MAX_HEADER_COUNT = 256
EXTRA_HEADER_COUNT = 0
#: SLO limits (swift/common/middleware/slo.py defaults).
SLO_MAX_MANIFEST_SEGMENTS = 1000
SLO_MAX_MANIFEST_SIZE = 8 * 1024 * 1024
SLO_MIN_SEGMENT_SIZE = 1
#: bulk delete (swift/common/middleware/bulk.py defaults).
MAX_DELETES_PER_REQUEST = 10000

CONSTRAINTS: dict[str, Any] = {
    "max_file_size": MAX_FILE_SIZE,
    "max_meta_name_length": MAX_META_NAME_LENGTH,
    "max_meta_value_length": MAX_META_VALUE_LENGTH,
    "max_meta_count": MAX_META_COUNT,
    "max_meta_overall_size": MAX_META_OVERALL_SIZE,
    "max_header_size": MAX_HEADER_SIZE,
    "max_object_name_length": MAX_OBJECT_NAME_LENGTH,
    "container_listing_limit": CONTAINER_LISTING_LIMIT,
    "account_listing_limit": ACCOUNT_LISTING_LIMIT,
    "max_account_name_length": MAX_ACCOUNT_NAME_LENGTH,
    "max_container_name_length": MAX_CONTAINER_NAME_LENGTH,
    "extra_header_count": EXTRA_HEADER_COUNT,
    "valid_api_versions": ["v1", "v1.0"],
}

#: Text Swift takes in a listing parameter: no NUL (it refuses "Invalid UTF8 or
#: contains NULL"; PostgreSQL could not even compare it).
_TEXT = {"type": "string", "maxLength": MAX_OBJECT_NAME_LENGTH, "pattern": "^[^\x00]*$"}
_LISTING_PROPS = {
    # any value: Swift answers text/plain for a format it does not know
    "format": {"type": "string", "maxLength": 64},
    "prefix": _TEXT,
    "delimiter": {**_TEXT, "minLength": 1, "maxLength": 1},
    "marker": _TEXT,
    "end_marker": _TEXT,
    "limit": query_int(),
    "reverse": {"type": "string"},
    "path": {"type": "string"},
    "bulk-delete": {"type": "string"},
    "extract-archive": {"type": "string", "enum": ["tar", "tar.gz", "tar.bz2"]},
}
#: Account and container listing queries (unknown parameters are ignored, as Swift
#: ignores them; temp-URL parameters are checked in `tempurl`).
LISTING_QUERY = Schema({"type": "object", "properties": _LISTING_PROPS}, "swift")
OBJECT_QUERY = Schema({"type": "object", "properties": {
    "multipart-manifest": {"type": "string", "enum": ["put", "get", "delete"]},
    "format": {"type": "string", "enum": ["json", "xml", "plain", "raw"]},
    "temp_url_sig": {"type": "string", "maxLength": 1024},
    "temp_url_expires": {"type": "string", "maxLength": 64},
    "temp_url_prefix": {"type": "string", "maxLength": MAX_OBJECT_NAME_LENGTH},
    "filename": {"type": "string", "maxLength": 1024},
    "inline": {"type": "string"},
    "heartbeat": {"type": "string"},
    "symlink": {"type": "string"},
    "extract-archive": {"type": "string", "enum": ["tar", "tar.gz", "tar.bz2"]},
}}, "swift")

#: Bodies of `?multipart-manifest=put`: a list of segments (slo.py's keys).
SLO_MANIFEST = Schema({"type": "array", "minItems": 1,
                       "maxItems": SLO_MAX_MANIFEST_SEGMENTS, "items": {
                           "type": "object", "required": ["path"],
                           "properties": {
                               "path": {"type": "string", "minLength": 3,
                                        "maxLength": 2 * MAX_OBJECT_NAME_LENGTH},
                               "etag": {"type": ["string", "null"], "maxLength": 64},
                               "size_bytes": {"type": ["integer", "null"], "minimum": 0},
                               "range": {"type": "string", "maxLength": 64},
                           }, "additionalProperties": False}}, "swift")


def listing_limit(raw: str | None, maximum: int) -> int:
    if raw is None or raw == "":
        return maximum
    value = int(raw)
    if value > maximum:
        raise errors.precondition_failed(f"Maximum limit is {maximum}")
    return value


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on", "t", "y")


def check_account_name(name: str) -> None:
    if not name or len(name.encode()) > MAX_ACCOUNT_NAME_LENGTH:
        raise errors.bad_request("Invalid account name")
    _check_utf8(name)


def check_container_name(name: str) -> None:
    if not name:
        raise errors.bad_request("Container name is required")
    if len(name.encode()) > MAX_CONTAINER_NAME_LENGTH:
        raise errors.bad_request(f"Container name length of {len(name.encode())} longer "
                                 f"than {MAX_CONTAINER_NAME_LENGTH}")
    if "/" in name:
        raise errors.bad_request("Container name cannot contain slashes")
    _check_utf8(name)


def check_object_name(name: str) -> None:
    if len(name.encode()) > MAX_OBJECT_NAME_LENGTH:
        raise errors.bad_request(f"Object name length of {len(name.encode())} longer "
                                 f"than {MAX_OBJECT_NAME_LENGTH}")
    _check_utf8(name)


def _check_utf8(name: str) -> None:
    if "\x00" in name or any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise errors.bad_request("Invalid UTF8 or contains NULL")


def metadata_updates(headers: Mapping[str, str], kind: str) -> dict[str, str | None]:
    """The `X-<Kind>-Meta-*` and `X-Remove-<Kind>-Meta-*` headers as {name: value}
    (None: remove; an empty value removes too on accounts and containers, as
    Swift does; objects keep it), checked against
    Swift's metadata limits. Names are lower-cased (HTTP headers are)."""
    prefix, remove = f"x-{kind}-meta-", f"x-remove-{kind}-meta-"
    out: dict[str, str | None] = {}
    count = size = 0
    for key, value in headers.items():
        k = key.lower()
        if k.startswith(prefix):
            name = k[len(prefix):]
        elif k.startswith(remove):
            out[k[len(remove):]] = None
            continue
        else:
            continue
        if not name:
            raise errors.bad_request("Metadata name cannot be empty")
        if len(name) > MAX_META_NAME_LENGTH:
            raise errors.bad_request(f"Metadata name too long: {prefix}{name}")
        if len(value) > MAX_META_VALUE_LENGTH:
            raise errors.bad_request(f"Metadata value longer than {MAX_META_VALUE_LENGTH}: "
                                     f"{prefix}{name}")
        count += 1
        size += len(name) + len(value)
        # An object's metadata is replaced whole, so an empty value is kept (Swift
        # stores it); on accounts and containers it removes the item.
        out[name] = value if kind == "object" else (value or None)
    if count > MAX_META_COUNT:
        raise errors.bad_request(f"Too many metadata items; max {MAX_META_COUNT}")
    if size > MAX_META_OVERALL_SIZE:
        raise errors.bad_request(f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")
    return out


def apply_updates(meta: Mapping[str, str], updates: Mapping[str, str | None]
                  ) -> dict[str, str]:
    """Merge updates into metadata, checking the total against Swift's limits."""
    out = dict(meta)
    for k, v in updates.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    if len(out) > MAX_META_COUNT:
        raise errors.bad_request(f"Too many metadata items; max {MAX_META_COUNT}")
    if sum(len(k) + len(v) for k, v in out.items()) > MAX_META_OVERALL_SIZE:
        raise errors.bad_request(f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")
    return out


#: Swift normalises delete-at times to ten digits (utils.normalize_delete_at_timestamp).
MAX_DELETE_AT = 9999999999


def delete_at(headers: Mapping[str, str], now: float | None = None) -> int | None:
    """X-Delete-At / X-Delete-After as a Unix time (None when neither is sent)."""
    now = time.time() if now is None else now
    after = headers.get("x-delete-after")
    if after is not None:
        try:
            seconds = int(after)
        except ValueError:
            raise errors.bad_request("Non-integer X-Delete-After")
        if seconds < 0:
            raise errors.bad_request("X-Delete-After in past")
        return min(int(now) + seconds, MAX_DELETE_AT)
    at = headers.get("x-delete-at")
    if at is None:
        return None
    try:
        value = int(at)
    except ValueError:
        raise errors.bad_request("Non-integer X-Delete-At")
    if value < now:
        raise errors.bad_request("X-Delete-At in past")
    return min(value, MAX_DELETE_AT)


def content_length(headers: Mapping[str, str]) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_request("Invalid Content-Length")
    if value < 0:
        raise errors.bad_request("Invalid Content-Length")
    if value > MAX_FILE_SIZE:
        raise errors.too_large()
    return value


def quota_value(raw: str | None, name: str) -> int | None:
    """A quota header: digits, or empty to remove it."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise errors.bad_request(f"Invalid {name} value: must be a non-negative integer")
    return int(raw)


#: Object headers Swift keeps with the object besides metadata.
KEPT_OBJECT_HEADERS = ("content-disposition", "content-encoding", "content-language",
                       "cache-control", "expires")


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: headers[k] for k in KEPT_OBJECT_HEADERS if k in headers}


#: Swift's symloop_max: how many symlinks a GET follows in a row.
SYMLOOP_MAX = 2
_SYMLINK_FORM = "X-Symlink-Target header must be of the form <container name>/<object name>"


def symlink_target(headers: Mapping[str, str], account: str, container: str, obj: str
                   ) -> tuple[str, str, str] | None:
    """(account, container, object) of an X-Symlink-Target, checked as symlink.py does."""
    from urllib.parse import unquote

    raw = headers.get("x-symlink-target")
    if raw is None:
        return None
    target = unquote(raw)
    t_container, _, t_obj = target.partition("/")
    if target.startswith("/") or not t_container or not t_obj:
        raise errors.precondition_failed(_SYMLINK_FORM)
    t_account = unquote(headers.get("x-symlink-target-account", account))
    check_container_name(t_container)
    check_object_name(t_obj)
    if (t_account, t_container, t_obj) == (account, container, obj):
        raise errors.bad_request("Symlink cannot target itself")
    etag = headers.get("x-symlink-target-etag")
    if etag is not None and any(ch in etag for ch in ';"\\'):
        raise errors.bad_request("Bad X-Symlink-Target-Etag format")
    return t_account, t_container, t_obj
