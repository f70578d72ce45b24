"""S3 on the wire, path style, at `/object/s3`: the service (ListBuckets), buckets
(Create/Delete/Head, location, ACL, versioning, listings v1 and v2, DeleteObjects,
ListMultipartUploads) and the dispatch of object requests (`object_routes`,
`multipart`) by method and sub-resource, as S3 chooses an operation.

A bucket is a Swift container of the caller's account and an object a Swift
object: every route resolves the bucket (`common.target`), checks the caller
(Swift's roles and ACLs), calls the object store's domain modules and answers
with `xml`'s documents. Request bodies are raw (raw-body paths on the
ServiceSpec) and checked against the signature as they stream (`body.py`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from overcast.kit.errors import OvercastError
from overcast.kit.web import ServiceSpec
from overcast.object import accounts, containers, objects, policy
from overcast.object.records import Entry, Subdir
from overcast.object.s3 import common, multipart, object_routes, params, parts, xml
from overcast.object.s3 import errors as err
from overcast.object.s3.auth import S3Authenticator, S3Caller
from overcast.object.s3.common import Target, run, store_of, xml_response

router = APIRouter()
Caller = Depends(common.caller)
MOUNT = "/object/s3"

#: Bucket sub-resources S3 has and the object store does not (answered NotImplemented).
_UNSUPPORTED = ("policy", "cors", "lifecycle", "website", "tagging", "replication",
                "logging", "notification", "encryption", "object-lock", "accelerate",
                "requestPayment", "inventory", "metrics", "analytics", "ownershipControls",
                "publicAccessBlock", "intelligent-tiering")


def _unsupported(request: Request) -> None:
    for name in _UNSUPPORTED:
        if name in request.query_params:
            raise err.not_implemented(f"The {name} sub-resource is not implemented.")


def is_bucket_name(name: str) -> bool:
    try:
        params.bucket_name(name)
    except err.S3Error:
        return False
    return True


# ------------------------------------------------------------------ service
@router.get("")
@router.get("/")
async def list_buckets(request: Request, who: S3Caller | None = Caller) -> Response:
    account = common.own_account(who)
    try:
        policy.check_account(policy.access(common.context(who), account), write=False)
    except OvercastError:
        raise err.access_denied() from None
    entries = await run(accounts.list_containers, store_of(request), account, limit=10000)
    # hidden containers (`<bucket>+segments`) are not buckets
    buckets = [xml.Bucket(c.name, common.when(c.timestamp)) for c in entries
               if not isinstance(c, Subdir) and is_bucket_name(c.name)]
    return xml_response(xml.list_buckets(common.owner_of(who), buckets))


# ------------------------------------------------------------------ buckets
@router.put("/{bucket}")
@router.put("/{bucket}/")
async def bucket_put(bucket: str, request: Request, who: S3Caller | None = Caller) -> Response:
    _unsupported(request)
    q = request.query_params
    if "versioning" in q:
        # Swift's versioning (X-Versions-Location) has no version ids: it does not
        # map onto S3's, so S3's answer for a missing feature
        raise err.not_implemented("Bucket versioning is not implemented.")
    if "acl" in q:
        t = await common.target(request, who, bucket)
        t.check_write(request, bucket_level=True)
        await common.small_body(request, who)
        canned = params.canned_acl(common.headers_of(request))
        if canned is None:
            raise err.not_implemented("Only canned ACLs (x-amz-acl) are implemented.")
        await _set_acl(request, t.account, bucket, canned)
        return Response(status_code=200)
    account = common.own_account(who)
    try:
        policy.check_account(policy.access(common.context(who), account), write=True)
    except OvercastError:
        raise err.access_denied() from None
    params.bucket_name(bucket)
    canned = params.canned_acl(common.headers_of(request)) or "private"
    region = xml.parse_create_bucket(await common.small_body(request, who))
    if region not in (None, "", common.REGION):
        raise err.S3Error("InvalidLocationConstraint", 400, "The specified location "
                          "constraint is not valid.", LocationConstraint=region)
    store = store_of(request)
    holders = await run(containers.accounts_holding, store, bucket)
    if account in holders:
        raise err.bucket_already_owned(bucket)
    if holders:
        raise err.bucket_already_exists(bucket)
    await run(containers.put, store, account, bucket, {},
              read_acl=common.PUBLIC_READ_ACL if canned == "public-read" else None)
    return Response(status_code=200, headers={"Location": f"/{bucket}"})


async def _set_acl(request: Request, account: str, bucket: str, canned: str) -> None:
    acl = common.PUBLIC_READ_ACL if canned == "public-read" else None
    await run(containers.post, store_of(request), account, bucket, {}, read_acl=acl)


@router.delete("/{bucket}")
@router.delete("/{bucket}/")
async def bucket_delete(bucket: str, request: Request, who: S3Caller | None = Caller
                        ) -> Response:
    _unsupported(request)
    t = await common.target(request, who, bucket)
    t.check_write(request, bucket_level=True)
    store = store_of(request)
    if t.container.object_count > 0:
        raise err.bucket_not_empty(bucket)
    seg = await run(containers.lookup, store, t.account, parts.segments_container(bucket))
    if seg is not None and seg.object_count > 0:
        # multipart uploads in progress hold parts there
        raise err.bucket_not_empty(bucket)
    try:
        await run(containers.delete, store, t.account, bucket)
        if seg is not None:
            await run(containers.delete, store, t.account, seg.name)
    except OvercastError as exc:
        if exc.status == 409:
            raise err.bucket_not_empty(bucket) from None
        raise common.domain_error(exc, bucket=bucket) from None
    return Response(status_code=204)


@router.head("/{bucket}")
@router.head("/{bucket}/")
async def bucket_head(bucket: str, request: Request, who: S3Caller | None = Caller
                      ) -> Response:
    t = await common.target(request, who, bucket)
    t.check_read(request, listing=True)
    return Response(status_code=200, headers={"x-amz-bucket-region": common.REGION})


@router.get("/{bucket}")
@router.get("/{bucket}/")
async def bucket_get(bucket: str, request: Request, who: S3Caller | None = Caller
                     ) -> Response:
    _unsupported(request)
    q = request.query_params
    t = await common.target(request, who, bucket)
    if "location" in q:
        t.check_read(request, listing=True)
        return xml_response(xml.location(common.REGION))
    if "versioning" in q:
        t.check_read(request, listing=True)
        return xml_response(xml.versioning(None))
    if "acl" in q:
        t.check_write(request, bucket_level=True)
        return xml_response(xml.acl(common.owner_of(who), t.canned_acl))
    if "uploads" in q:
        # READ on a bucket grants ListBucketMultipartUploads, as in S3
        t.check_read(request, listing=True)
        return await multipart.list_uploads(request, t)
    if "versions" in q:
        raise err.not_implemented("Bucket versioning is not implemented.")
    t.check_read(request, listing=True)
    return await _list_objects(request, t)


def _page(store: Any, t: Target, query: params.ListQuery) -> tuple[list[Any], bool]:
    """One page of entries (objects and common prefixes) after `query.after`."""
    if query.max_keys == 0:
        return [], False
    marker = query.after or None
    if marker is not None and query.prefix and marker < query.prefix:
        marker = None
    _, entries = containers.list_objects(store, t.account, t.bucket, prefix=query.prefix,
                                         delimiter=query.delimiter, marker=marker,
                                         limit=query.max_keys + 2)
    if marker and query.delimiter and entries and isinstance(entries[0], Subdir) and \
            marker.startswith(entries[0].name):
        # the marker is inside a common prefix already returned: S3 goes on after it
        entries = entries[1:]
    return entries[:query.max_keys], len(entries) > query.max_keys


async def _list_objects(request: Request, t: Target) -> Response:
    query = params.list_query(request.query_params)
    entries, truncated = await run(_page, store_of(request), t, query)
    owner = xml.Owner(policy.project_of(t.account) or t.account)
    objs = [xml.ObjectEntry(x.name, common.when(x.timestamp), x.etag, x.size, owner=owner)
            for x in entries if isinstance(x, Entry)]
    prefixes = [x.name for x in entries if isinstance(x, Subdir)]
    page = xml.Listing(t.bucket, objs, prefixes, query.prefix, query.delimiter,
                       query.max_keys, truncated, query.encoding_type)
    last = entries[-1].name if entries else None
    if not query.v2:
        next_marker = last if query.delimiter else None
        return xml_response(xml.list_objects(page, query.marker, next_marker))
    token = params.encode_token(last) if truncated and last is not None else None
    return xml_response(xml.list_objects_v2(
        page, continuation_token=query.continuation_token, next_token=token,
        start_after=query.start_after, fetch_owner=query.fetch_owner))


@router.post("/{bucket}")
@router.post("/{bucket}/")
async def bucket_post(bucket: str, request: Request, who: S3Caller | None = Caller
                      ) -> Response:
    if "delete" not in request.query_params:
        raise err.method_not_allowed(request.method, "BUCKET")
    t = await common.target(request, who, bucket)
    t.check_write(request)
    body = await common.small_body(request, who)
    md5 = params.content_md5(request.headers.get("content-md5"))
    if md5 is not None:
        import hashlib

        if hashlib.md5(body, usedforsecurity=False).hexdigest() != md5:
            raise err.bad_digest()
    keys, quiet = xml.parse_delete(body)
    deleted: list[str] = []
    failures: list[xml.DeleteFailure] = []
    for key in keys:
        try:
            params.object_key(key)
            await object_routes.delete_key(request, t, key)
            deleted.append(key)
        except OvercastError as exc:
            mapped = common.domain_error(exc, key=key)
            if isinstance(mapped, err.S3Error) and mapped.s3_code == "NoSuchKey":
                deleted.append(key)  # S3 reports a missing key as deleted
                continue
            code = mapped.s3_code if isinstance(mapped, err.S3Error) else "InternalError"
            failures.append(xml.DeleteFailure(key, code, mapped.message))
    return xml_response(xml.delete_result(deleted, failures, quiet))


# ------------------------------------------------------------------ objects
@router.api_route("/{bucket}/{key:path}", methods=["GET", "HEAD"])
async def key_get(bucket: str, key: str, request: Request, who: S3Caller | None = Caller
                  ) -> Response:
    if not key:
        if request.method == "HEAD":
            return await bucket_head(bucket, request, who)
        return await bucket_get(bucket, request, who)
    t = await common.target(request, who, bucket)
    params.object_key(key)
    q = request.query_params
    if "uploadId" in q and request.method == "GET":
        t.check_read(request, listing=True)
        return await multipart.list_parts(request, t, key)
    if "acl" in q:
        t.check_read(request, listing=False)
        await run(objects.head, store_of(request), t.account, bucket, key)
        return xml_response(xml.acl(common.owner_of(who), t.canned_acl))
    if "tagging" in q or "torrent" in q or "versionId" in q or "attributes" in q:
        raise err.not_implemented()
    t.check_read(request, listing=False)
    return await object_routes.get(request, who, t, key)


@router.put("/{bucket}/{key:path}")
async def key_put(bucket: str, key: str, request: Request, who: S3Caller | None = Caller
                  ) -> Response:
    if not key:
        return await bucket_put(bucket, request, who)
    t = await common.target(request, who, bucket)
    params.object_key(key)
    q = request.query_params
    t.check_write(request)
    if "tagging" in q or "retention" in q or "legal-hold" in q:
        raise err.not_implemented()
    if "acl" in q:
        await common.small_body(request, who)
        await object_routes.check_object_acl(request, t)
        await run(objects.head, store_of(request), t.account, bucket, key)
        return Response(status_code=200)
    if "uploadId" in q or "partNumber" in q:
        return await multipart.upload_part(request, who, t, key)
    if "x-amz-copy-source" in request.headers:
        return await object_routes.copy(request, who, t, key)
    return await object_routes.put(request, who, t, key)


@router.delete("/{bucket}/{key:path}")
async def key_delete(bucket: str, key: str, request: Request, who: S3Caller | None = Caller
                     ) -> Response:
    if not key:
        return await bucket_delete(bucket, request, who)
    t = await common.target(request, who, bucket)
    params.object_key(key)
    t.check_write(request)
    if "uploadId" in request.query_params:
        return await multipart.abort(request, t, key)
    if "tagging" in request.query_params:
        raise err.not_implemented()
    try:
        await object_routes.delete_key(request, t, key)
    except OvercastError as exc:
        mapped = common.domain_error(exc, bucket=bucket, key=key)
        if not (isinstance(mapped, err.S3Error) and mapped.s3_code == "NoSuchKey"):
            raise mapped from None
    return Response(status_code=204)


@router.post("/{bucket}/{key:path}")
async def key_post(bucket: str, key: str, request: Request, who: S3Caller | None = Caller
                   ) -> Response:
    if not key:
        return await bucket_post(bucket, request, who)
    t = await common.target(request, who, bucket)
    params.object_key(key)
    t.check_write(request)
    q = request.query_params
    if "uploads" in q:
        return await multipart.create(request, who, t, key)
    if "uploadId" in q:
        return await multipart.complete(request, who, t, key)
    raise err.method_not_allowed(request.method, "OBJECT")


# ------------------------------------------------------------------ wiring
class AmzRequestIdMiddleware:
    """Every S3 answer carries `x-amz-request-id` (the request id), where boto3 and
    the aws CLI look for it (ResponseMetadata.RequestId, debug logs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == MOUNT or path.startswith(MOUNT + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                rid = scope.get("state", {}).get("request_id", "")
                message["headers"] = [*message.get("headers", []),
                                      (b"x-amz-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


class VirtualHostMiddleware:
    """Virtual-host-style addressing: with a `public_url` host H, a request for
    `http://<bucket>.H/object/s3/<key>` is the path-style request for
    `/object/s3/<bucket>/<key>`. The path the client signed (and the bucket V2
    signs) are kept in the request's state for the signature check."""

    def __init__(self, app: ASGIApp, host: str) -> None:
        self.app = app
        self.suffix = "." + host.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                         if k == b"host"), "").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.endswith(self.suffix) and (path == MOUNT or
                                               path.startswith(MOUNT + "/")):
                bucket = name[:-len(self.suffix)]
                raw = (scope.get("raw_path") or path.encode()).split(b"?", 1)[0]
                scope = dict(scope)
                scope.setdefault("state", {})["s3_virtual"] = (raw.decode("latin-1"),
                                                               bucket)
                rest = path[len(MOUNT):]
                scope["path"] = f"{MOUNT}/{bucket}{rest}"
                scope["raw_path"] = (f"{MOUNT}/{bucket}".encode() +
                                     raw[len(MOUNT):])
        await self.app(scope, receive, send)


def setup(app: FastAPI) -> None:
    """Mounted before Swift's `/object` (the longer prefix must be matched first);
    the store itself is the Swift service's (`app.state.object_store`); the request
    checks are given the identity service in `app.wire` (`wire_auth`), once every
    service exists."""
    app.add_middleware(AmzRequestIdMiddleware)
    public = urlsplit(app.state.settings.public_url or "").hostname
    if public:
        app.add_middleware(VirtualHostMiddleware, host=public)
    app.state.specs.append(ServiceSpec(
        name="s3", type="s3", prefix=MOUNT, error_style="s3",
        endpoint_path=MOUNT, routers=[router], raw_body_paths=[r"/.*"]))


def wire_auth(app: FastAPI) -> None:
    """The S3 request checks, against the identity service's EC2 credentials."""
    app.state.s3_auth = S3Authenticator(app.state.identity, mount=MOUNT)


__all__ = ["router", "setup", "wire_auth"]
