"""What an S3 request may carry, parsed into plain values or refused with S3's
own error: bucket names, keys, the listing parameters of ListObjects (v1, v2)
and ListMultipartUploads / ListParts, part numbers, canned ACLs, user metadata,
`x-amz-copy-source` and its range, and the multipart ETag. Pure functions, so
the S3 routes stay four steps (parse, authorise, delegate, shape) over the
object store's domain layer.

The limits are Amazon's: bucket names of 3 to 63 lower-case letters, digits,
dots and hyphens (not an IP address); keys of at most 1024 UTF-8 bytes; at most
1000 keys a page; part numbers 1 to 10000; user metadata of at most 2 KiB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from overcast.object.s3 import errors as err
from overcast.object.s3.errors import S3Error

MAX_KEYS = 1000
MAX_KEY_BYTES = 1024
MAX_PARTS = 10000
MAX_METADATA_BYTES = 2048
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
CANNED_ACLS = ("private", "public-read", "public-read-write", "authenticated-read",
               "bucket-owner-read", "bucket-owner-full-control")
#: The canned ACLs the object store can honour (Swift's container read ACLs).
SUPPORTED_ACLS = ("private", "public-read")


def bucket_name(name: str) -> str:
    """A bucket name S3 accepts for a new bucket, else InvalidBucketName."""
    if not _BUCKET.match(name) or ".." in name or _IPV4.match(name) or \
            ".-" in name or "-." in name:
        raise err.invalid_bucket_name(name)
    return name


def object_key(key: str) -> str:
    """A key of at most 1024 UTF-8 bytes (KeyTooLongError), without NUL."""
    if not key:
        raise err.invalid_argument("An object key must not be empty.", "key", "")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", 400, "Your key is too long", MaxSizeAllowed=1024)
    if "\x00" in key:
        raise err.invalid_argument("An object key must not contain NUL.", "key", "")
    return key


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit() or len(raw) > 12:
        raise err.invalid_argument(f"Provided {name} not an integer or within integer "
                                   f"range", name, raw[:32])
    value = int(raw)
    if value < low:
        raise err.invalid_argument(f"Argument {name} must be an integer between {low} and "
                                   f"{2**31 - 1}", name, raw)
    return min(value, high)


def _encoding(query: Mapping[str, str]) -> str | None:
    value = query.get("encoding-type")
    if value not in (None, "url"):
        raise err.invalid_argument("Invalid Encoding Method specified in Request",
                                   "encoding-type", value or "")
    return value


def encode_token(key: str) -> str:
    """An opaque continuation token for ListObjectsV2: the last key returned."""
    return base64.urlsafe_b64encode(key.encode("utf-8", "surrogatepass")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        raw = token.encode("ascii") + b"=" * (-len(token) % 4)
        return base64.b64decode(raw, altchars=b"-_", validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise err.invalid_argument("The continuation token provided is incorrect",
                                   "continuation-token", token[:64]) from None


@dataclass(frozen=True)
class ListQuery:
    """One page request of a bucket listing: keys after `after` (exclusive)."""

    prefix: str
    delimiter: str | None
    max_keys: int
    after: str
    encoding_type: str | None
    v2: bool
    #: what the request said, echoed back: Marker (v1), ContinuationToken and
    #: StartAfter (v2)
    marker: str = ""
    continuation_token: str | None = None
    start_after: str | None = None
    fetch_owner: bool = False


def list_query(query: Mapping[str, str]) -> ListQuery:
    """ListObjects (v1) or, with `list-type=2`, ListObjectsV2."""
    v2 = query.get("list-type") == "2"
    if "list-type" in query and not v2:
        raise err.invalid_argument("Invalid List Type specified in Request", "list-type",
                                   query.get("list-type", ""))
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    max_keys = _int(query, "max-keys", MAX_KEYS, 0, MAX_KEYS)
    encoding = _encoding(query)
    if not v2:
        marker = query.get("marker", "")
        return ListQuery(prefix, delimiter, max_keys, marker, encoding, False, marker=marker)
    token = query.get("continuation-token")
    start_after = query.get("start-after")
    after = decode_token(token) if token is not None else (start_after or "")
    return ListQuery(prefix, delimiter, max_keys, after, encoding, True,
                     continuation_token=token, start_after=start_after,
                     fetch_owner=query.get("fetch-owner", "").lower() == "true")


def part_number(raw: str | None) -> int:
    if raw is None or not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTS:
        raise err.invalid_argument("Part number must be an integer between 1 and 10000, "
                                   "inclusive", "partNumber", (raw or "")[:16])
    return int(raw)


def max_parts(query: Mapping[str, str]) -> tuple[int, int]:
    """ListParts: (max-parts, part-number-marker)."""
    return (_int(query, "max-parts", 1000, 0, 1000),
            _int(query, "part-number-marker", 0, 0, MAX_PARTS))


def max_uploads(query: Mapping[str, str]) -> int:
    return _int(query, "max-uploads", 1000, 0, 1000)


def canned_acl(headers: Mapping[str, str]) -> str | None:
    """`x-amz-acl`: None when absent; an ACL S3 knows but the store cannot honour is
    NotImplemented, an unknown one InvalidArgument."""
    value = headers.get("x-amz-acl")
    if value is None:
        return None
    if value not in CANNED_ACLS:
        raise err.invalid_argument("", "x-amz-acl", value[:64])
    if value not in SUPPORTED_ACLS:
        raise err.not_implemented(f"The canned ACL {value} is not implemented.")
    if any(h.startswith("x-amz-grant-") for h in headers):
        raise err.invalid_request("Specifying both Canned ACLs and Header Grants is not "
                                  "allowed")
    return value


def user_metadata(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The `x-amz-meta-*` headers (names lower-cased, without the prefix), at most
    2 KiB in all, as S3 counts it (names and values)."""
    meta: dict[str, str] = {}
    for name, value in headers:
        lname = name.lower()
        if lname.startswith("x-amz-meta-"):
            meta[lname[len("x-amz-meta-"):]] = value.strip()
    size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
    if size > MAX_METADATA_BYTES:
        raise S3Error("MetadataTooLarge", 400, "Your metadata headers exceed the maximum "
                      "allowed metadata size.", Size=size, MaxSizeAllowed=MAX_METADATA_BYTES)
    return meta


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None = None


def copy_source(raw: str) -> CopySource:
    """`x-amz-copy-source: /bucket/key?versionId=..` (URL-encoded, leading slash
    optional)."""
    path, _, query = raw.partition("?")
    path = urllib.parse.unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise err.invalid_argument("Copy Source must mention the source bucket and key: "
                                   "sourcebucket/sourcekey", "x-amz-copy-source", raw[:256])
    version = urllib.parse.parse_qs(query).get("versionId", [None])[0]
    return CopySource(bucket, object_key(key), version)


def copy_range(raw: str | None, size: int) -> tuple[int, int] | None:
    """`x-amz-copy-source-range: bytes=first-last` of a source of `size` bytes:
    (first, last) inclusive, both required; InvalidRange beyond the source."""
    if raw is None:
        return None
    m = re.fullmatch(r"bytes=(\d+)-(\d+)", raw.strip())
    if not m:
        raise err.invalid_argument("The x-amz-copy-source-range value must be of the form "
                                   "bytes=first-last where first and last are the "
                                   "zero-based offsets of the first and last bytes to copy",
                                   "x-amz-source-range", raw[:64])
    first, last = int(m.group(1)), int(m.group(2))
    if first > last or last >= size:
        raise err.invalid_range(size)
    return first, last


def multipart_etag(part_md5s: Iterable[str]) -> str:
    """A completed multipart object's ETag: the MD5 of the parts' binary MD5s,
    a dash, the number of parts (what every S3 client expects)."""
    digests = [bytes.fromhex(h.strip('"')) for h in part_md5s]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"  # noqa: S324


def content_md5(raw: str | None) -> str | None:
    """`Content-MD5` (base64) as hex, for the store to compare with what it
    computed (BadDigest); InvalidDigest when it is not an MD5."""
    if raw is None:
        return None
    try:
        digest = base64.b64decode(raw.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise err.invalid_digest() from None
    if len(digest) != 16:
        raise err.invalid_digest()
    return digest.hex()
