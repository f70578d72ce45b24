"""S3's object operations on Swift objects: PutObject (streamed, Content-MD5 and
the signature's payload checks), GetObject/HeadObject (Range, conditions,
`response-*` overrides), CopyObject (metadata COPY or REPLACE) and the delete
behind DeleteObject and DeleteObjects.

User metadata (`x-amz-meta-*`) is Swift's object metadata (`X-Object-Meta-*`),
the kept headers (Content-Disposition, Content-Encoding, ...) are Swift's, so an
object reads the same through either API. Deleting a completed multipart
object removes its parts from the bucket's segments container too.
"""

from __future__ import annotations

import contextlib

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from overcast.kit.errors import OvercastError, RangeNotSatisfiable
from overcast.object import large, objects, ranges, schemas, versions
from overcast.object.objects import NewObject
from overcast.object.records import ObjectInfo, Segment
from overcast.object.s3 import common, params, parts, xml
from overcast.object.s3 import errors as err
from overcast.object.s3.auth import S3Caller
from overcast.object.s3.common import Target, run, store_of

#: GetObject's query parameters that set a response header (signed requests only).
_OVERRIDES = {"response-content-type": "Content-Type",
              "response-content-language": "Content-Language",
              "response-expires": "Expires", "response-cache-control": "Cache-Control",
              "response-content-disposition": "Content-Disposition",
              "response-content-encoding": "Content-Encoding"}


def object_headers(o: ObjectInfo) -> dict[str, str]:
    """An object's S3 headers: ETag, type, dates, user metadata, kept headers."""
    h = {"ETag": xml.quote_etag(o.etag), "Content-Type": o.content_type,
         "Last-Modified": ranges.http_date(o.timestamp), "Accept-Ranges": "bytes",
         "Content-Length": str(o.size)}
    for k, v in o.meta.items():
        h[f"x-amz-meta-{k}"] = v
    for k, v in o.headers.items():
        h["-".join(p.capitalize() for p in k.split("-"))] = v
    if o.slo_manifest is not None:
        h["x-amz-mp-parts-count"] = str(len(o.slo_manifest))
    return h


async def head_object(request: Request, t: Target, key: str) -> ObjectInfo:
    try:
        o: ObjectInfo = await run(objects.head, store_of(request), t.account, t.bucket, key)
    except OvercastError as exc:
        raise common.domain_error(exc, bucket=t.bucket, key=key) from None
    return o


def _conditions(h: dict[str, str], o: ObjectInfo, prefix: str = "") -> None:
    """If-* (or x-amz-copy-source-if-*) headers: 304 or PreconditionFailed."""
    names = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
    picked = {n: h[prefix + n] for n in names if prefix + n in h}
    status = ranges.condition(picked, o.etag, o.timestamp, read=not prefix)
    if status == 304:
        raise _NotModified(o)
    if status is not None:
        cond = next((prefix + n for n in ("if-match", "if-unmodified-since",
                                          "if-none-match", "if-modified-since")
                     if prefix + n in h), "If-Match")
        raise err.precondition_failed(cond)


class _NotModified(Exception):
    def __init__(self, o: ObjectInfo) -> None:
        self.o = o


async def get(request: Request, who: S3Caller | None, t: Target, key: str) -> Response:
    o = await head_object(request, t, key)
    headers = object_headers(o)
    q = request.query_params
    overrides = {name: q[p] for p, name in _OVERRIDES.items() if p in q}
    if overrides and who is None:
        raise err.invalid_request("Request specific response headers cannot be used for "
                                  "anonymous GET requests.")
    h = common.headers_of(request)
    try:
        _conditions(h, o)
    except _NotModified:
        return Response(status_code=304, headers={k: v for k, v in headers.items()
                                                  if k != "Content-Length"})
    if "partNumber" in q:
        raise err.not_implemented("GetObject by part number is not implemented.")
    headers.update(overrides)
    store = store_of(request)
    try:
        spans = ranges.spans(h.get("range"), o.size)
    except RangeNotSatisfiable:
        raise err.invalid_range(o.size) from None
    if spans is not None and len(spans) > 1:
        spans = None  # S3 serves one range; several get the whole object
    segs: list[Segment] = []
    if request.method == "GET":
        try:
            segs = await run(large.segments, store, o)
        except OvercastError as exc:
            raise common.domain_error(exc, bucket=t.bucket, key=key) from None
    if spans is None:
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        return StreamingResponse(objects.read(store, segs, 0, o.size), headers=headers)
    start, end = spans[0]
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{o.size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=206, headers=headers)
    return StreamingResponse(objects.read(store, segs, start, end), status_code=206,
                             headers=headers)


def new_object(request: Request, key: str) -> NewObject:
    """What a PutObject or CreateMultipartUpload says besides the bytes."""
    h = common.headers_of(request)
    meta = params.user_metadata(request.headers.items())
    # `aws-chunked` describes the request body, not the object: S3 drops it
    encoding = ",".join(x.strip() for x in h.get("content-encoding", "").split(",")
                        if x.strip() and x.strip() != "aws-chunked")
    h.pop("content-encoding", None)
    if encoding:
        h["content-encoding"] = encoding
    return NewObject(content_type=h.get("content-type") or None, meta=meta,
                     headers=schemas.kept_headers(h))


def declared_length(request: Request) -> int | None:
    h = common.headers_of(request)
    raw = h.get("x-amz-decoded-content-length") if "aws-chunked" in h.get(
        "content-encoding", "") or h.get("x-amz-content-sha256", "").startswith(
        "STREAMING-") else h.get("content-length")
    if raw is None:
        if "chunked" in h.get("transfer-encoding", ""):
            return None
        raise err.S3Error("MissingContentLength", 411, "You must provide the "
                          "Content-Length HTTP header.")
    if not raw.isdigit():
        raise err.invalid_argument("Content-Length must be a number", "Content-Length",
                                   raw[:32])
    if int(raw) > 5 << 30:
        raise err.entity_too_large(5 << 30)
    return int(raw)


async def check_object_acl(request: Request, t: Target) -> None:
    """Swift has no per-object ACL: an object's canned ACL may only say what its
    bucket's already grants (private, or public-read in a public-read bucket)."""
    canned = params.canned_acl(common.headers_of(request))
    if canned is not None and canned != "private" and canned != t.canned_acl:
        raise err.not_implemented("Object ACLs other than the bucket's are not "
                                  "implemented.")


async def put(request: Request, who: S3Caller | None, t: Target, key: str) -> Response:
    await check_object_acl(request, t)
    new = new_object(request, key)
    new.length = declared_length(request)
    new.etag = params.content_md5(request.headers.get("content-md5"))
    store = store_of(request)
    old = await keep_version(request, t, key)
    try:
        o = await objects.put(store, t.account, t.bucket, key,
                              common.body_of(request, who), new)
    except OvercastError as exc:
        raise common.domain_error(exc, bucket=t.bucket, key=key) from None
    if old is not None:
        await parts.drop_parts(store, t, key, old, o)
    return Response(status_code=200, headers={"ETag": xml.quote_etag(o.etag)})


async def copy_source(request: Request, who: S3Caller | None
                      ) -> tuple[Target, ObjectInfo]:
    """The object `x-amz-copy-source` names, which the caller must be able to read."""
    src = params.copy_source(request.headers["x-amz-copy-source"])
    if src.version_id not in (None, "null"):
        raise err.not_implemented("Object versions are not implemented.")
    st = await common.target(request, who, src.bucket)
    st.check_read(request, listing=False)
    o = await head_object(request, st, src.key)
    try:
        _conditions(common.headers_of(request), o, prefix="x-amz-copy-source-")
    except _NotModified:
        raise err.precondition_failed("x-amz-copy-source-If-Modified-Since") from None
    return st, o


async def copy(request: Request, who: S3Caller | None, t: Target, key: str) -> Response:
    await check_object_acl(request, t)
    st, src = await copy_source(request, who)
    h = common.headers_of(request)
    directive = h.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise err.invalid_argument("Unknown metadata directive.",
                                   "x-amz-metadata-directive", directive[:16])
    if directive == "COPY" and (st.account, st.bucket, src.name) == (t.account, t.bucket,
                                                                      key):
        raise err.invalid_request("This copy request is illegal because it is trying to "
                                  "copy an object to itself without changing the object's "
                                  "metadata, storage class, website redirect location or "
                                  "encryption attributes.")
    if directive == "REPLACE":
        new = new_object(request, key)
    else:
        new = NewObject(content_type=src.content_type, meta=dict(src.meta),
                        headers=dict(src.headers))
    store = store_of(request)
    try:
        segs = await run(large.segments, store, src)
        size = sum(s.length for s in segs)
        if not src.is_manifest:
            new.etag = src.etag
        old = await keep_version(request, t, key)
        o = await objects.copy(store, segs, size, t.account, t.bucket, key, new)
    except OvercastError as exc:
        raise common.domain_error(exc, bucket=t.bucket, key=key) from None
    await parts.drop_parts(store, t, key, old, o)
    return common.xml_response(xml.copy_object(o.etag, common.when(o.timestamp)))


async def keep_version(request: Request, t: Target, key: str) -> ObjectInfo | None:
    """Before an overwrite: the object there now, whose parts go once it is
    replaced (None when there is none, or when Swift's versioning of the
    container, X-Versions-Location, keeps it as an older version: then its
    parts stay, the archived copy reads them)."""
    store = store_of(request)
    if t.container.versions_location:
        await run(versions.archive, store, t.container, key)
        return None
    found: ObjectInfo | None = await run(objects.lookup, store, t.account, t.bucket, key)
    return found


async def delete_key(request: Request, t: Target, key: str) -> None:
    """Delete one object (and, for a completed multipart upload, its parts); in a
    container Swift versions, as Swift's DELETE does there."""
    store = store_of(request)
    if t.container.versions_location:
        await run(objects.head, store, t.account, t.bucket, key)
        await run(versions.delete, store, t.container, key)
        return
    o = await run(objects.delete, store, t.account, t.bucket, key)
    with contextlib.suppress(OvercastError):
        await parts.drop_parts(store, t, key, o)
