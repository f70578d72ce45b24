"""S3's XML, as pure functions: the error document, the result documents the S3
routes answer with (ListAllMyBucketsResult, ListBucketResult v1 and v2, the
multipart results, CopyObjectResult, DeleteResult, ACLs, versioning, location)
and the parsers of the documents clients send (CompleteMultipartUpload, Delete,
CreateBucketConfiguration, VersioningConfiguration).

Element names, order and formats are Amazon's (the SDKs parse them by name; the
order is the documented one): times in ISO 8601 with milliseconds and `Z`, ETags
quoted, `encoding-type=url` applied to keys, prefixes, delimiters and markers.
Built with ElementTree, so every text is escaped; parsed with ElementTree too
(expat refuses entity expansion bombs; the routes bound the body size), a parse
failure being S3's MalformedXML.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from overcast.object.s3 import errors as err
from overcast.object.s3.errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CONTENT_TYPE = "application/xml"


# ---------------------------------------------------------------- formatting
def iso_time(t: dt.datetime) -> str:
    """S3's listing time: 2026-12-07T04:30:00.000Z (naive times are UTC)."""
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def http_time(t: dt.datetime) -> str:
    """The `Last-Modified` header's form: Mon, 07 Dec 2026 04:30:00 GMT."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return email.utils.format_datetime(t.astimezone(dt.UTC), usegmt=True)


def quote_etag(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _encode(value: str | None, url: bool) -> str | None:
    """A key or prefix as `encoding-type=url` asks (botocore unquotes it)."""
    if value is None or not url:
        return value
    return urllib.parse.quote(value, safe="/")


def _document(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _root(tag: str) -> ET.Element:
    return ET.Element(tag, {"xmlns": NS})


def _add(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    """A child element; booleans as S3 writes them, None as an empty element."""
    el = ET.SubElement(parent, tag)
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = str(value)
    return el


def _add_if(parent: ET.Element, tag: str, value: Any) -> None:
    if value is not None and value != "":
        _add(parent, tag, value)


# --------------------------------------------------------------------- errors
def error_document(error: S3Error, resource: str = "", request_id: str = "") -> bytes:
    """`<Error><Code/><Message/>...<Resource/><RequestId/></Error>`, the body of
    every S3 refusal (no namespace, as S3 sends it)."""
    root = ET.Element("Error")
    _add(root, "Code", error.s3_code)
    _add(root, "Message", error.message)
    for name, value in error.fields.items():
        _add(root, name, value)
    if resource:
        _add(root, "Resource", resource)
    _add(root, "RequestId", request_id)
    _add(root, "HostId", request_id)
    return _document(root)


# -------------------------------------------------------------------- records
@dataclass(frozen=True)
class Owner:
    id: str
    display_name: str = ""


@dataclass(frozen=True)
class Bucket:
    name: str
    created: dt.datetime


@dataclass(frozen=True)
class ObjectEntry:
    """One object in a bucket listing."""

    key: str
    last_modified: dt.datetime
    etag: str
    size: int
    storage_class: str = "STANDARD"
    owner: Owner | None = None


@dataclass(frozen=True)
class Part:
    number: int
    last_modified: dt.datetime
    etag: str
    size: int


@dataclass(frozen=True)
class Upload:
    key: str
    upload_id: str
    initiated: dt.datetime
    owner: Owner | None = None
    storage_class: str = "STANDARD"


def _owner(parent: ET.Element, owner: Owner, tag: str = "Owner") -> None:
    el = _add(parent, tag)
    _add(el, "ID", owner.id)
    _add(el, "DisplayName", owner.display_name or owner.id)


# ----------------------------------------------------------------- services
def list_buckets(owner: Owner, buckets: Iterable[Bucket]) -> bytes:
    """`GET /`: ListAllMyBucketsResult."""
    root = _root("ListAllMyBucketsResult")
    _owner(root, owner)
    holder = _add(root, "Buckets")
    for b in buckets:
        el = _add(holder, "Bucket")
        _add(el, "Name", b.name)
        _add(el, "CreationDate", iso_time(b.created))
    return _document(root)


def _contents(root: ET.Element, objects: Iterable[ObjectEntry], url: bool,
              owners: bool) -> None:
    for o in objects:
        el = _add(root, "Contents")
        _add(el, "Key", _encode(o.key, url))
        _add(el, "LastModified", iso_time(o.last_modified))
        _add(el, "ETag", quote_etag(o.etag))
        _add(el, "Size", o.size)
        if owners and o.owner is not None:
            _owner(el, o.owner)
        _add(el, "StorageClass", o.storage_class)


def _prefixes(root: ET.Element, prefixes: Iterable[str], url: bool) -> None:
    for p in prefixes:
        _add(_add(root, "CommonPrefixes"), "Prefix", _encode(p, url))


@dataclass(frozen=True)
class Listing:
    """One page of a bucket listing, as the store found it."""

    bucket: str
    objects: Sequence[ObjectEntry]
    common_prefixes: Sequence[str] = ()
    prefix: str = ""
    delimiter: str | None = None
    max_keys: int = 1000
    is_truncated: bool = False
    encoding_type: str | None = None

    @property
    def url(self) -> bool:
        return self.encoding_type == "url"


def list_objects(page: Listing, marker: str = "", next_marker: str | None = None) -> bytes:
    """`GET /bucket` (ListObjects, version 1): ListBucketResult with Marker, and
    NextMarker when truncated with a delimiter (S3 leaves it out otherwise)."""
    root = _root("ListBucketResult")
    _add(root, "Name", page.bucket)
    _add(root, "Prefix", _encode(page.prefix, page.url))
    _add(root, "Marker", _encode(marker, page.url))
    if page.is_truncated and next_marker is not None:
        _add(root, "NextMarker", _encode(next_marker, page.url))
    _add(root, "MaxKeys", page.max_keys)
    _add_if(root, "Delimiter", _encode(page.delimiter, page.url))
    _add_if(root, "EncodingType", page.encoding_type)
    _add(root, "IsTruncated", page.is_truncated)
    _contents(root, page.objects, page.url, owners=True)
    _prefixes(root, page.common_prefixes, page.url)
    return _document(root)


def list_objects_v2(page: Listing, *, continuation_token: str | None = None,
                    next_token: str | None = None, start_after: str | None = None,
                    fetch_owner: bool = False) -> bytes:
    """`GET /bucket?list-type=2`: ListBucketResult with KeyCount and the
    continuation tokens (owners only with fetch-owner)."""
    root = _root("ListBucketResult")
    _add(root, "Name", page.bucket)
    _add(root, "Prefix", _encode(page.prefix, page.url))
    _add(root, "KeyCount", len(page.objects) + len(page.common_prefixes))
    _add(root, "MaxKeys", page.max_keys)
    _add_if(root, "Delimiter", _encode(page.delimiter, page.url))
    _add_if(root, "EncodingType", page.encoding_type)
    _add(root, "IsTruncated", page.is_truncated)
    _add_if(root, "ContinuationToken", continuation_token)
    if page.is_truncated:
        _add_if(root, "NextContinuationToken", next_token)
    _add_if(root, "StartAfter", _encode(start_after, page.url))
    _contents(root, page.objects, page.url, owners=fetch_owner)
    _prefixes(root, page.common_prefixes, page.url)
    return _document(root)


# ------------------------------------------------------------------ multipart
def initiate_multipart(bucket: str, key: str, upload_id: str) -> bytes:
    root = _root("InitiateMultipartUploadResult")
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "UploadId", upload_id)
    return _document(root)


def complete_multipart(location: str, bucket: str, key: str, etag: str) -> bytes:
    """The multipart ETag is `"<md5 of the parts' md5s>-<count>"`; the caller makes it."""
    root = _root("CompleteMultipartUploadResult")
    _add(root, "Location", location)
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "ETag", quote_etag(etag))
    return _document(root)


def list_parts(bucket: str, key: str, upload_id: str, parts: Sequence[Part], *,
               owner: Owner, part_number_marker: int = 0, max_parts: int = 1000,
               is_truncated: bool = False, storage_class: str = "STANDARD") -> bytes:
    root = _root("ListPartsResult")
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "UploadId", upload_id)
    _owner(root, owner, "Initiator")
    _owner(root, owner)
    _add(root, "StorageClass", storage_class)
    _add(root, "PartNumberMarker", part_number_marker)
    _add(root, "NextPartNumberMarker", parts[-1].number if parts else part_number_marker)
    _add(root, "MaxParts", max_parts)
    _add(root, "IsTruncated", is_truncated)
    for p in parts:
        el = _add(root, "Part")
        _add(el, "PartNumber", p.number)
        _add(el, "LastModified", iso_time(p.last_modified))
        _add(el, "ETag", quote_etag(p.etag))
        _add(el, "Size", p.size)
    return _document(root)


def list_multipart_uploads(bucket: str, uploads: Sequence[Upload], *,
                           key_marker: str = "", upload_id_marker: str = "",
                           prefix: str = "", delimiter: str | None = None,
                           common_prefixes: Sequence[str] = (), max_uploads: int = 1000,
                           is_truncated: bool = False, encoding_type: str | None = None
                           ) -> bytes:
    url = encoding_type == "url"
    root = _root("ListMultipartUploadsResult")
    _add(root, "Bucket", bucket)
    _add(root, "KeyMarker", _encode(key_marker, url))
    _add(root, "UploadIdMarker", upload_id_marker)
    _add(root, "NextKeyMarker", _encode(uploads[-1].key if uploads else "", url))
    _add(root, "NextUploadIdMarker", uploads[-1].upload_id if uploads else "")
    _add_if(root, "Delimiter", _encode(delimiter, url))
    _add(root, "Prefix", _encode(prefix, url))
    _add(root, "MaxUploads", max_uploads)
    _add_if(root, "EncodingType", encoding_type)
    _add(root, "IsTruncated", is_truncated)
    for u in uploads:
        el = _add(root, "Upload")
        _add(el, "Key", _encode(u.key, url))
        _add(el, "UploadId", u.upload_id)
        if u.owner is not None:
            _owner(el, u.owner, "Initiator")
            _owner(el, u.owner)
        _add(el, "StorageClass", u.storage_class)
        _add(el, "Initiated", iso_time(u.initiated))
    _prefixes(root, common_prefixes, url)
    return _document(root)


# ---------------------------------------------------------------- copy, delete
def copy_object(etag: str, last_modified: dt.datetime) -> bytes:
    root = _root("CopyObjectResult")
    _add(root, "LastModified", iso_time(last_modified))
    _add(root, "ETag", quote_etag(etag))
    return _document(root)


def copy_part(etag: str, last_modified: dt.datetime) -> bytes:
    root = _root("CopyPartResult")
    _add(root, "LastModified", iso_time(last_modified))
    _add(root, "ETag", quote_etag(etag))
    return _document(root)


@dataclass(frozen=True)
class DeleteFailure:
    key: str
    code: str
    message: str


def delete_result(deleted: Iterable[str], failures: Iterable[DeleteFailure] = (),
                  quiet: bool = False) -> bytes:
    """DeleteObjects' answer: each deleted key (none when quiet) and each failure."""
    root = _root("DeleteResult")
    if not quiet:
        for key in deleted:
            _add(_add(root, "Deleted"), "Key", key)
    for f in failures:
        el = _add(root, "Error")
        _add(el, "Key", f.key)
        _add(el, "Code", f.code)
        _add(el, "Message", f.message)
    return _document(root)


# ------------------------------------------------------- bucket sub-resources
def location(region: str) -> bytes:
    """GetBucketLocation: empty for us-east-1, as S3 answers."""
    root = _root("LocationConstraint")
    if region and region != "us-east-1":
        root.text = region
    return _document(root)


def versioning(status: str | None) -> bytes:
    """GetBucketVersioning: no Status until versioning was ever enabled."""
    root = _root("VersioningConfiguration")
    _add_if(root, "Status", status)
    return _document(root)


#: The grants of the canned ACLs overcast supports, beyond the owner's FULL_CONTROL.
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
CANNED_ACLS = {"private": (), "public-read": ("READ",),
               "public-read-write": ("READ", "WRITE")}


def acl(owner: Owner, canned: str = "private") -> bytes:
    """GetBucketAcl / GetObjectAcl for a canned ACL: the owner's FULL_CONTROL and
    the AllUsers grants the canned ACL adds."""
    root = ET.Element("AccessControlPolicy", {"xmlns": NS, "xmlns:xsi": XSI})
    _owner(root, owner)
    grants = _add(root, "AccessControlList")
    g = _add(grants, "Grant")
    grantee = _add(g, "Grantee", None)
    grantee.set("xsi:type", "CanonicalUser")
    _add(grantee, "ID", owner.id)
    _add(grantee, "DisplayName", owner.display_name or owner.id)
    _add(g, "Permission", "FULL_CONTROL")
    for permission in CANNED_ACLS.get(canned, ()):
        g = _add(grants, "Grant")
        grantee = _add(g, "Grantee")
        grantee.set("xsi:type", "Group")
        _add(grantee, "URI", ALL_USERS)
        _add(g, "Permission", permission)
    return _document(root)


# -------------------------------------------------------------------- parsers
def _parse(body: bytes) -> ET.Element:
    if not body.strip():
        raise err.malformed_xml()
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise err.malformed_xml() from None


def _local(tag: str) -> str:
    """A tag without its namespace ("{ns}Part" -> "Part"): clients differ."""
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element, name: str) -> str | None:
    found = _children(el, name)
    return (found[0].text or "").strip() if found else None


def parse_complete_multipart(body: bytes) -> list[tuple[int, str]]:
    """CompleteMultipartUpload: its (part number, ETag without quotes) in the order
    given, which must ascend (InvalidPartOrder)."""
    root = _parse(body)
    if _local(root.tag) != "CompleteMultipartUpload":
        raise err.malformed_xml()
    parts = []
    for p in _children(root, "Part"):
        number, etag = _text(p, "PartNumber"), _text(p, "ETag")
        if not number or not number.isdigit() or etag is None:
            raise err.malformed_xml()
        parts.append((int(number), etag.strip('"')))
    if not parts:
        raise err.malformed_xml()
    numbers = [n for n, _ in parts]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise err.invalid_part_order()
    if not all(1 <= n <= 10000 for n in numbers):
        raise err.invalid_argument("Part number must be an integer between 1 and 10000, "
                                   "inclusive", "partNumber", str(numbers[-1]))
    return parts


#: DeleteObjects takes at most this many keys (S3's limit).
MAX_DELETE_KEYS = 1000


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """DeleteObjects' body: the keys (at most 1000) and Quiet."""
    root = _parse(body)
    if _local(root.tag) != "Delete":
        raise err.malformed_xml()
    keys = []
    for o in _children(root, "Object"):
        key = _text(o, "Key")
        if key is None:
            raise err.malformed_xml()
        keys.append(key)
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise err.malformed_xml()
    quiet = (_text(root, "Quiet") or "false").lower() == "true"
    return keys, quiet


def parse_create_bucket(body: bytes) -> str | None:
    """CreateBucketConfiguration's LocationConstraint (None for no body)."""
    if not body.strip():
        return None
    root = _parse(body)
    if _local(root.tag) != "CreateBucketConfiguration":
        raise err.malformed_xml()
    return _text(root, "LocationConstraint")


def parse_versioning(body: bytes) -> str:
    """PutBucketVersioning: `Enabled` or `Suspended`."""
    root = _parse(body)
    status = _text(root, "Status") if _local(root.tag) == "VersioningConfiguration" else None
    if status not in ("Enabled", "Suspended"):
        raise err.malformed_xml()
    return status
