"""What every S3 route needs before it acts: the caller (its signature checked),
the bucket it names (a Swift container) and whether it may read or write there.

Buckets are Swift containers and S3 names them globally: a bucket is looked up
first in the caller's own account (`AUTH_<project>` of its EC2 credential's
project), then, by name alone, in any account (the oldest container of that
name), where the container's Swift ACLs decide (`public-read` is `.r:*`). The
caller's roles are Swift's (keystoneauth: member/admin write, reader reads).
Domain refusals (Swift's 404/409/413) are turned into S3's codes here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from overcast.kit.context import RequestContext
from overcast.kit.errors import OvercastError, RequestEntityTooLarge
from overcast.object import containers, policy
from overcast.object import errors as e
from overcast.object.records import ContainerInfo
from overcast.object.s3 import errors as err
from overcast.object.s3 import xml
from overcast.object.s3.auth import S3Authenticator, S3Caller, SignedRequest
from overcast.object.s3.body import verified_body
from overcast.object.store import ObjectStore

#: The region every bucket is in (GetBucketLocation; clients sign with any).
REGION = "us-east-1"
#: Swift's read ACL that S3's `public-read` canned ACL stands for.
PUBLIC_READ_ACL = ".r:*,.rlistings"


def store_of(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.object_store
    return store


def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A blocking domain call, on a worker thread."""
    return asyncio.to_thread(fn, *args, **kwargs)


def headers_of(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


async def caller(request: Request) -> S3Caller | None:
    """The signed caller, None when the request carries no signature at all."""
    if any("\x00" in v for v in request.headers.values()):
        raise err.invalid_argument("Header values must not contain NUL.")
    auth: S3Authenticator = request.app.state.s3_auth
    state = request.scope.get("state", {})
    scope = dict(request.scope)
    # a virtual-host-style request: the path the client signed, and its bucket
    signed_path, host_bucket = state.get("s3_virtual", (None, None))
    if signed_path is not None:
        scope["raw_path"] = signed_path.encode("latin-1")
    return await asyncio.to_thread(auth.authenticate, SignedRequest.from_asgi(scope),
                                   state.get("request_id", ""), host_bucket=host_bucket)


def context(who: S3Caller | None) -> RequestContext | None:
    return who.context if who is not None else None


def owner_of(who: S3Caller | None) -> xml.Owner:
    ctx = context(who)
    if ctx is None or ctx.project_id is None:
        return xml.Owner("anonymous", "anonymous")
    return xml.Owner(ctx.project_id, ctx.project_name or ctx.project_id)


def own_account(who: S3Caller | None) -> str:
    """The caller's account; an anonymous caller has none (AccessDenied)."""
    ctx = context(who)
    if ctx is None or ctx.project_id is None:
        raise err.access_denied()
    return policy.account_of(ctx.project_id)


@dataclass
class Target:
    """A bucket as found for one caller: its account and container, and what the
    caller may do on that account before ACLs."""

    account: str
    bucket: str
    container: ContainerInfo
    access: policy.Access
    ctx: RequestContext | None

    def check_read(self, request: Request, *, listing: bool) -> None:
        try:
            if listing:
                policy.check_container(self.access, self.ctx, self.container.read_acl,
                                       False, request.headers.get("referer"))
            else:
                policy.check_object(self.access, self.ctx, self.container.read_acl,
                                    self.container.write_acl, False,
                                    request.headers.get("referer"))
        except OvercastError:
            raise err.access_denied() from None

    def check_write(self, request: Request, *, bucket_level: bool = False) -> None:
        """Object writes may be granted by the container's write ACL; changes to
        the bucket itself need an operator role on its account."""
        try:
            if bucket_level:
                policy.check_account(self.access, write=True)
            else:
                policy.check_object(self.access, self.ctx, self.container.read_acl,
                                    self.container.write_acl, True,
                                    request.headers.get("referer"))
        except OvercastError:
            raise err.access_denied() from None

    @property
    def canned_acl(self) -> str:
        acl = self.container.read_acl or ""
        return "public-read" if ".r:*" in acl.split(",") else "private"


def _find(store: ObjectStore, who: S3Caller | None, bucket: str) -> tuple[str, ContainerInfo]:
    ctx = context(who)
    if ctx is not None and ctx.project_id is not None:
        account = policy.account_of(ctx.project_id)
        c = containers.lookup(store, account, bucket)
        if c is not None:
            return account, c
    for account in containers.accounts_holding(store, bucket):
        c = containers.lookup(store, account, bucket)
        if c is not None:
            return account, c
    raise err.no_such_bucket(bucket)


async def target(request: Request, who: S3Caller | None, bucket: str) -> Target:
    """The bucket `bucket` for this caller, or NoSuchBucket."""
    if not bucket or "\x00" in bucket or len(bucket) > 256 or "/" in bucket:
        raise err.no_such_bucket(bucket[:64])
    account, c = await run(_find, store_of(request), who, bucket)
    ctx = context(who)
    return Target(account, bucket, c, policy.access(ctx, account), ctx)


def domain_error(exc: OvercastError, *, bucket: str = "", key: str = "") -> OvercastError:
    """A domain refusal (Swift's words) in S3's."""
    if isinstance(exc, err.S3Error):
        return exc
    if isinstance(exc, e.NotFound):
        return err.no_such_key(key) if key else err.no_such_bucket(bucket)
    if isinstance(exc, RequestEntityTooLarge):
        if "quota" in str(exc).lower():
            return err.quota_exceeded()
        return err.entity_too_large(5 << 30)
    if isinstance(exc, e.Unprocessable):
        return err.bad_digest()
    if isinstance(exc, e.ClientDisconnected):
        return err.incomplete_body()
    if exc.status in (401, 403):
        return err.access_denied()
    if exc.status == 409:
        return err.S3Error("OperationAborted", 409, str(exc))
    return exc


async def body_of(request: Request, who: S3Caller | None) -> AsyncIterator[bytes]:
    """The request body as its signature vouches for it (aws-chunked decoded)."""

    async def raw() -> AsyncIterator[bytes]:
        try:
            async for chunk in request.stream():
                yield chunk
        except ClientDisconnect:
            raise e.ClientDisconnected() from None

    async for piece in verified_body(raw(), who, headers_of(request)):
        yield piece


async def small_body(request: Request, who: S3Caller | None, limit: int = 2 << 20) -> bytes:
    """An XML request body (bounded: S3's documents are small)."""
    out = bytearray()
    async for piece in body_of(request, who):
        out += piece
        if len(out) > limit:
            raise err.malformed_xml()
    return bytes(out)


def when(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def xml_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None
                 ) -> Response:
    return Response(body, status_code=status, media_type=xml.CONTENT_TYPE,
                    headers=headers)
