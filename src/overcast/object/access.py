"""What every object route needs before it acts: who is calling, on which store,
and whether they may touch one object (roles, container ACLs, temp URLs).

Shared by the routes (`api.py`) and the bulk operations (`bulk.py`, `formpost.py`).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from overcast.kit.context import RequestContext
from overcast.kit.web import get_context
from overcast.object import accounts, containers, policy, schemas, tempurl
from overcast.object import errors as e
from overcast.object.store import ObjectStore


async def caller(request: Request) -> RequestContext | None:
    """The token's context, or None for an anonymous request (ACLs, temp URLs).

    Every object route depends on it, so it also refuses header values holding NUL
    (no HTTP server passes them on, and no database column can store them)."""
    if any("\x00" in v for v in request.headers.values()):
        raise e.bad_request("Invalid UTF8 or contains NULL")
    if request.headers.get("x-auth-token"):
        return await get_context(request)
    return None


Caller = Depends(caller)


def store_of(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.object_store
    return store


def headers_of(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A blocking domain call, on a worker thread."""
    return asyncio.to_thread(fn, *args, **kwargs)


async def temp_url_keys(store: ObjectStore, account: str, container: str | None
                        ) -> list[str]:
    """The account's and the container's temp-URL keys (FormPost uses them too)."""
    a = await run(accounts.get, store, account)
    keys = [a.meta[k] for k in ("temp-url-key", "temp-url-key-2") if k in a.meta]
    c = await run(containers.lookup, store, account, container) if container else None
    if c is not None:
        keys += [c.meta[k] for k in ("temp-url-key", "temp-url-key-2") if k in c.meta]
    return keys


async def authorize_object(request: Request, ctx: RequestContext | None, account: str,
                           container: str, obj: str, write: bool) -> None:
    """Roles, then the container's ACLs, then a temp URL's signature."""
    schemas.check_container_name(container)
    schemas.check_object_name(obj)
    store = store_of(request)
    q = request.query_params
    # A temp URL is judged by its signature alone, token or not: Swift's tempurl
    # middleware answers 401 for an expired or wrong one before auth is asked.
    if "temp_url_sig" in q or "temp_url_expires" in q:
        keys = await temp_url_keys(store, account, container)
        sub = request.url.path[len("/object"):]
        allowed = request.app.state.object_tempurl_digests
        sig = q.get("temp_url_sig", "")
        algo_ok = (sig.partition(":")[0] if ":" in sig else {
            40: "sha1", 64: "sha256", 128: "sha512"}.get(len(sig))) in allowed
        if algo_ok and tempurl.valid(q, request.method, [sub, request.url.path], keys):
            # a temp URL shows no user metadata (tempurl's outgoing_remove_headers)
            request.state.temp_url = True
            return
        raise e.Unauthorized("Temp URL invalid", extra={"plain": True})
    acc = policy.access(ctx, account)
    if acc.owner or (acc.reader and not write):
        return
    c = await run(containers.lookup, store, account, container)
    policy.check_object(acc, ctx, c.read_acl if c else None, c.write_acl if c else None,
                        write, request.headers.get("referer"))


async def body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise e.ClientDisconnected() from None


async def spool(request: Request, limit: int = schemas.MAX_FILE_SIZE) -> IO[bytes]:
    """The request body in a temporary file (memory stays flat), rewound; 413 past
    `limit` bytes. The caller closes it (the file has no name: nothing to clean)."""
    fh = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    size = 0
    try:
        async for chunk in body(request):
            size += len(chunk)
            if size > limit:
                raise e.too_large()
            await asyncio.to_thread(fh.write, chunk)
    except BaseException:
        fh.close()
        raise
    fh.seek(0)
    return fh
