"""S3 multipart uploads over the object store (where they are kept: `parts.py`):
CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts and ListMultipartUploads.

A completed upload is a Swift SLO whose segments are the parts, so the object
reads the same through Swift (`X-Static-Large-Object: True`); its ETag is S3's
(md5 of the parts' binary md5s, `-N`) through both APIs.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from overcast.kit.errors import OvercastError
from overcast.object import containers, large, objects
from overcast.object.objects import NewObject
from overcast.object.records import Entry, ObjectInfo, Segment
from overcast.object.s3 import common, object_routes, params, parts, xml
from overcast.object.s3 import errors as err
from overcast.object.s3.auth import S3Caller
from overcast.object.s3.common import Target, run, store_of

#: S3's smallest part (all but the last).
MIN_PART_SIZE = 5 << 20
#: At most this many entries of a segments container are read by ListMultipartUploads.
SCAN_LIMIT = 10000


async def _marker(request: Request, t: Target, key: str, upload_id: str) -> ObjectInfo:
    if not parts.is_upload_id(upload_id):
        raise err.no_such_upload(upload_id[:64])
    o = await run(objects.lookup, store_of(request), t.account,
                  parts.segments_container(t.bucket), parts.marker_name(key, upload_id))
    if o is None:
        raise err.no_such_upload(upload_id)
    found: ObjectInfo = o
    return found


async def _empty() -> AsyncIterator[bytes]:
    if False:  # pragma: no cover - an empty body
        yield b""


async def create(request: Request, who: S3Caller | None, t: Target, key: str) -> Response:
    await object_routes.check_object_acl(request, t)
    new = object_routes.new_object(request, key)
    new.length = 0
    store = store_of(request)
    seg = parts.segments_container(t.bucket)
    try:
        await run(containers.put, store, t.account, seg, {})
        uid = parts.new_upload_id()
        await objects.put(store, t.account, seg, parts.marker_name(key, uid), _empty(), new)
    except OvercastError as exc:
        raise common.domain_error(exc, bucket=t.bucket) from None
    return common.xml_response(xml.initiate_multipart(t.bucket, key, uid))


def _cut(segs: list[Segment], start: int, end: int) -> list[Segment]:
    """Bytes [start, end) of the concatenation of `segs`, as segments."""
    out, offset = [], 0
    for s in segs:
        lo, hi = max(start, offset), min(end, offset + s.length)
        if lo < hi:
            out.append(Segment(s.location, s.start + lo - offset, s.start + hi - offset))
        offset += s.length
    return out


async def upload_part(request: Request, who: S3Caller | None, t: Target, key: str
                      ) -> Response:
    q = request.query_params
    number = params.part_number(q.get("partNumber"))
    upload_id = q.get("uploadId", "")
    await _marker(request, t, key, upload_id)
    store = store_of(request)
    seg = parts.segments_container(t.bucket)
    name = parts.part_name(key, upload_id, number)
    if "x-amz-copy-source" in request.headers:
        st, src = await object_routes.copy_source(request, who)
        try:
            segs = await run(large.segments, store, src)
            size = sum(s.length for s in segs)
            span = params.copy_range(request.headers.get("x-amz-copy-source-range"), size)
            new = NewObject(content_type="application/octet-stream")
            if span is not None:
                segs, size = _cut(segs, span[0], span[1] + 1), span[1] + 1 - span[0]
            elif not src.is_manifest:
                new.etag = src.etag
            o = await objects.copy(store, segs, size, t.account, seg, name, new)
        except OvercastError as exc:
            raise common.domain_error(exc, bucket=t.bucket, key=key) from None
        return common.xml_response(xml.copy_part(o.etag, common.when(o.timestamp)))
    new = NewObject(content_type="application/octet-stream",
                    length=object_routes.declared_length(request),
                    etag=params.content_md5(request.headers.get("content-md5")))
    try:
        o = await objects.put(store, t.account, seg, name, common.body_of(request, who), new)
    except OvercastError as exc:
        raise common.domain_error(exc, bucket=t.bucket, key=key) from None
    return Response(status_code=200, headers={"ETag": xml.quote_etag(o.etag)})


def _parts_page(store: Any, t: Target, key: str, upload_id: str, marker: int, limit: int
                ) -> list[Entry]:
    prefix = parts.marker_name(key, upload_id) + "/"
    _, entries = containers.list_objects(
        store, t.account, parts.segments_container(t.bucket), prefix=prefix,
        marker=parts.part_name(key, upload_id, marker) if marker else None, limit=limit)
    return [x for x in entries if isinstance(x, Entry) and x.name[len(prefix):].isdigit()]


def _number(e: Entry) -> int:
    return int(e.name.rsplit("/", 1)[1])


async def list_parts(request: Request, t: Target, key: str) -> Response:
    upload_id = request.query_params.get("uploadId", "")
    await _marker(request, t, key, upload_id)
    max_parts, marker = params.max_parts(request.query_params)
    found = await run(_parts_page, store_of(request), t, key, upload_id, marker, max_parts + 1)
    page = [xml.Part(_number(x), common.when(x.timestamp), x.etag, x.size)
            for x in found[:max_parts]]
    owner = xml.Owner(t.account.removeprefix("AUTH_"))
    return common.xml_response(xml.list_parts(
        t.bucket, key, upload_id, page, owner=owner, part_number_marker=marker,
        max_parts=max_parts, is_truncated=len(found) > max_parts))


def _uploads(store: Any, t: Target, prefix: str) -> list[tuple[str, str, float]]:
    """(key, upload id, initiated) of every upload in progress under `prefix`."""
    c = containers.lookup(store, t.account, parts.segments_container(t.bucket))
    if c is None:
        return []
    _, entries = containers.list_objects(store, t.account, c.name, prefix=prefix,
                                         limit=SCAN_LIMIT)
    out = []
    for x in entries:
        if isinstance(x, Entry):
            found = parts.parse_marker(x.name)
            if found is not None:
                out.append((found[0], found[1], x.timestamp))
    return sorted(out)


async def list_uploads(request: Request, t: Target) -> Response:
    q = request.query_params
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter") or None
    key_marker, id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    limit = params.max_uploads(q)
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise err.invalid_argument("Invalid Encoding Method specified in Request",
                                   "encoding-type", encoding or "")
    found = await run(_uploads, store_of(request), t, prefix)
    if key_marker:
        found = [u for u in found if (u[0], u[1]) > (key_marker, id_marker or "\uffff")
                 or (u[0] > key_marker)]
    uploads: list[xml.Upload] = []
    common_prefixes: list[str] = []
    owner = xml.Owner(t.account.removeprefix("AUTH_"))
    truncated = False
    for k, uid, ts in found:
        if delimiter and delimiter in k[len(prefix):]:
            cp = k[:len(prefix) + k[len(prefix):].index(delimiter) + len(delimiter)]
            if cp not in common_prefixes:
                if len(uploads) + len(common_prefixes) >= limit:
                    truncated = True
                    break
                common_prefixes.append(cp)
            continue
        if len(uploads) + len(common_prefixes) >= limit:
            truncated = True
            break
        uploads.append(xml.Upload(k, uid, common.when(ts), owner=owner))
    return common.xml_response(xml.list_multipart_uploads(
        t.bucket, uploads, key_marker=key_marker, upload_id_marker=id_marker, prefix=prefix,
        delimiter=delimiter, common_prefixes=common_prefixes, max_uploads=limit,
        is_truncated=truncated, encoding_type=encoding))


def _check_parts(store: Any, t: Target, key: str, upload_id: str,
                 wanted: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """The SLO segments of the parts `wanted` lists, each checked (InvalidPart,
    EntityTooSmall), as `large.build_slo` takes them."""
    seg = parts.segments_container(t.bucket)
    out = []
    for i, (number, etag) in enumerate(wanted):
        name = parts.part_name(key, upload_id, number)
        o = objects.lookup(store, t.account, seg, name)
        if o is None or o.etag.strip('"') != etag.strip('"').lower():
            raise err.invalid_part(number)
        if o.size < MIN_PART_SIZE and i < len(wanted) - 1:
            raise err.S3Error("EntityTooSmall", 400, "Your proposed upload is smaller than "
                              "the minimum allowed object size.", ProposedSize=o.size,
                              MinSizeAllowed=MIN_PART_SIZE, PartNumber=number,
                              ETag=etag)
        out.append({"path": f"/{seg}/{name}", "etag": o.etag, "size_bytes": o.size})
    return out


async def complete(request: Request, who: S3Caller | None, t: Target, key: str
                   ) -> Response:
    upload_id = request.query_params.get("uploadId", "")
    marker = await _marker(request, t, key, upload_id)
    wanted = xml.parse_complete_multipart(await common.small_body(request, who))
    store = store_of(request)
    segs = await run(_check_parts, store, t, key, upload_id, wanted)
    try:
        stored, size, _ = await run(large.build_slo, store, t.account, segs)
    except OvercastError:
        raise err.invalid_part(wanted[0][0]) from None
    body = orjson.dumps(stored)
    etag = params.multipart_etag(e for _, e in wanted)
    new = NewObject(content_type=marker.content_type, meta=dict(marker.meta),
                    headers=dict(marker.headers), length=len(body), slo_manifest=stored,
                    size_override=size, etag_override=etag,
                    manifest_etag=hashlib.md5(body, usedforsecurity=False).hexdigest())

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    old = await object_routes.keep_version(request, t, key)
    try:
        o = await objects.put(store, t.account, t.bucket, key, chunks(), new)
    except OvercastError as exc:
        raise common.domain_error(exc, bucket=t.bucket, key=key) from None
    await parts.drop_parts(store, t, key, old, o)
    # the marker and the parts the manifest does not use
    used = {p["name"] for p in stored}
    leftovers = await run(_parts_page, store, t, key, upload_id, 0, params.MAX_PARTS + 1)
    seg = parts.segments_container(t.bucket)
    extra = [(seg, x.name) for x in leftovers if f"/{seg}/{x.name}" not in used]
    await run(parts.delete_all, store, t.account,
              [*extra, (seg, parts.marker_name(key, upload_id))])
    location = f"{request.base_url}object/s3/{t.bucket}/{key}"
    return common.xml_response(xml.complete_multipart(location, t.bucket, key, o.etag))


async def abort(request: Request, t: Target, key: str) -> Response:
    upload_id = request.query_params.get("uploadId", "")
    await _marker(request, t, key, upload_id)
    store = store_of(request)
    seg = parts.segments_container(t.bucket)
    found = await run(_parts_page, store, t, key, upload_id, 0, params.MAX_PARTS + 1)
    await run(parts.delete_all, store, t.account,
              [*((seg, x.name) for x in found), (seg, parts.marker_name(key, upload_id))])
    return Response(status_code=204)


__all__ = ["abort", "complete", "create", "list_parts", "list_uploads",
           "upload_part"]
