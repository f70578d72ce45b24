"""Swift v1 on the wire: /object/info and /object/v1/{account}[/{container}[/{object}]].

Routes only: each checks names, headers and query (`schemas`), decides who may
act (`policy`: keystoneauth roles, container ACLs, temp URLs), calls the domain
modules (`accounts`, `containers`, `objects`, `large`) and shapes the answer
(`views`). Object bodies stream both ways (the paths are raw-body paths on the
ServiceSpec); blocking domain calls run on worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from overcast.kit.context import RequestContext
from overcast.kit.http import direct_body
from overcast.kit.web import ServiceSpec, json_response
from overcast.object import (
    access,
    accounts,
    bulk,
    containers,
    formpost,
    large,
    objects,
    policy,
    ranges,
    schemas,
    staticweb,
    tempurl,
    versions,
    views,
)
from overcast.object import errors as e
from overcast.object.backends.file import FileBackend
from overcast.object.objects import NewObject
from overcast.object.records import ObjectInfo, Segment
from overcast.object.store import ObjectStore, Quotas

log = logging.getLogger("overcast.object")
router = APIRouter()
A = "/v1/{account}"
C = "/v1/{account}/{container}"
O = "/v1/{account}/{container}/{obj:path}"  # noqa: E741
Caller = access.Caller


# ------------------------------------------------------------------ info
@router.get("/info")
def info(request: Request) -> Response:
    return json_response(views.info(request.app.state.object_tempurl_digests))


@router.api_route("/healthcheck", methods=["GET", "HEAD"])
async def healthcheck(request: Request) -> Response:
    """Swift's healthcheck middleware: "OK" while the store answers (here: its
    database takes a query), 503 otherwise; no token needed."""
    try:
        await access.run(access.store_of(request).alive)
    except Exception:  # any failure of the store is an unhealthy answer, not a 500
        log.exception("object store healthcheck failed")
        return Response(b"DISABLED", status_code=503, media_type="text/plain")
    return Response(b"OK", status_code=200, media_type="text/plain")


# ------------------------------------------------------------------ account
@router.api_route(A, methods=["GET", "HEAD"])
async def account_get(account: str, request: Request, ctx: RequestContext | None = Caller
                      ) -> Response:
    q = schemas.LISTING_QUERY.check_query(request.query_params)
    policy.check_account(policy.access(ctx, account), write=False)
    store = access.store_of(request)
    a = await access.run(accounts.get, store, account)
    headers = views.account_headers(a, owner=policy.access(ctx, account).owner)
    fmt = views.listing_format(q, request.headers.get("accept"))
    if request.method == "HEAD":
        return Response(status_code=204, headers={**headers,
                                                  "Content-Type": views.TYPES[fmt]})
    entries = await access.run(accounts.list_containers, store, account, **_listing(q, (
        schemas.ACCOUNT_LISTING_LIMIT)))
    return _listing_reply(views.account_listing(account, entries, fmt), entries, fmt,
                          headers)


def _listing(q: dict[str, Any], maximum: int) -> dict[str, Any]:
    return {"prefix": q.get("prefix") or "", "delimiter": q.get("delimiter") or None,
            "marker": q.get("marker") or None, "end_marker": q.get("end_marker") or None,
            "limit": schemas.listing_limit(q.get("limit"), maximum),
            "reverse": schemas.is_true(q.get("reverse"))}


def _listing_reply(body: bytes, entries: list[Any], fmt: str, headers: dict[str, str]
                   ) -> Response:
    if not entries and fmt == "plain":
        return Response(status_code=204, headers={**headers,
                                                  "Content-Type": views.TYPES[fmt]})
    return Response(body, status_code=200, headers={**headers,
                                                    "Content-Type": views.TYPES[fmt]})


@router.post(A)
async def account_post(account: str, request: Request, ctx: RequestContext | None = Caller
                       ) -> Response:
    q = schemas.LISTING_QUERY.check_query(request.query_params)
    acc = policy.access(ctx, account)
    if "bulk-delete" in q:
        return await bulk.bulk_delete(request, ctx, account)
    policy.check_account(acc, write=True)
    h = access.headers_of(request)
    meta = schemas.metadata_updates(h, "account")
    quota: int | None | bool = False
    if "quota-bytes" in meta or "x-account-meta-quota-bytes" in h:
        policy.check_account_quota(acc)
        raw = meta.pop("quota-bytes", None)
        quota = schemas.quota_value(raw, "X-Account-Meta-Quota-Bytes")
        if quota is None:
            quota = True  # removed
    await access.run(accounts.update, access.store_of(request), account, meta, quota)
    return Response(status_code=204, headers={"Content-Type": "text/html; charset=UTF-8"})


@router.put(A)
async def account_put(account: str, request: Request, ctx: RequestContext | None = Caller
                      ) -> Response:
    q = schemas.LISTING_QUERY.check_query(request.query_params)
    if "extract-archive" in q:
        return await bulk.extract_archive(request, ctx, account, "", q["extract-archive"])
    raise e.method_not_allowed()


@router.delete(A)
async def account_delete(account: str, request: Request,
                         ctx: RequestContext | None = Caller) -> Response:
    # Swift's bulk middleware takes `?bulk-delete` by DELETE as well as by POST
    q = schemas.LISTING_QUERY.check_query(request.query_params)
    if "bulk-delete" in q:
        policy.access(ctx, account)
        return await bulk.bulk_delete(request, ctx, account)
    raise e.method_not_allowed()


# ------------------------------------------------------------------ container
def _container_changes(h: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "x-container-read" in h:
        out["read_acl"] = policy.clean_acl("read", h["x-container-read"])
    if "x-remove-container-read" in h:
        out["read_acl"] = None
    if "x-container-write" in h:
        out["write_acl"] = policy.clean_acl("write", h["x-container-write"])
    if "x-remove-container-write" in h:
        out["write_acl"] = None
    stack, history = h.get("x-versions-location"), h.get("x-history-location")
    if stack and history:
        raise e.bad_request("Only one of X-Versions-Location or X-History-Location may be "
                            "specified")
    if stack or history:
        location = unquote(stack or history or "")
        schemas.check_container_name(location)
        out["versions"] = (location, "stack" if stack else "history")
    elif any(k in h for k in ("x-remove-versions-location", "x-remove-history-location")) \
            or h.get("x-versions-location") == "" or h.get("x-history-location") == "":
        out["versions"] = None
    return out


def _container_meta(h: dict[str, str]) -> dict[str, str | None]:
    meta = schemas.metadata_updates(h, "container")
    schemas.quota_value(meta.get("quota-bytes"), "X-Container-Meta-Quota-Bytes")
    schemas.quota_value(meta.get("quota-count"), "X-Container-Meta-Quota-Count")
    return meta


def _is_form(request: Request) -> bool:
    """A FormPost upload (formpost.py) rather than a metadata POST."""
    ctype = request.headers.get("content-type", "").lower()
    return ctype.startswith("multipart/form-data")


@router.put(C)
async def container_put(account: str, container: str, request: Request,
                        ctx: RequestContext | None = Caller) -> Response:
    schemas.check_container_name(container)
    q = schemas.LISTING_QUERY.check_query(request.query_params)
    if "extract-archive" in q:
        return await bulk.extract_archive(request, ctx, account, container,
                                          q["extract-archive"])
    policy.check_account(policy.access(ctx, account), write=True)
    h = access.headers_of(request)
    created = await access.run(containers.put, access.store_of(request), account, container,
                         _container_meta(h), **_container_changes(h))
    return Response(status_code=201 if created else 202,
                    headers={"Content-Type": "text/html; charset=UTF-8"})


@router.post(C)
async def container_post(account: str, container: str, request: Request,
                         ctx: RequestContext | None = Caller) -> Response:
    schemas.check_container_name(container)
    if _is_form(request):
        return await formpost.handle(request, account, container, "")
    policy.check_account(policy.access(ctx, account), write=True)
    h = access.headers_of(request)
    await access.run(containers.post, access.store_of(request), account, container,
                     _container_meta(h), **_container_changes(h))
    return Response(status_code=204, headers={"Content-Type": "text/html; charset=UTF-8"})


@router.delete(C)
async def container_delete(account: str, container: str, request: Request,
                           ctx: RequestContext | None = Caller) -> Response:
    schemas.check_container_name(container)
    policy.check_account(policy.access(ctx, account), write=True)
    await access.run(containers.delete, access.store_of(request), account, container)
    return Response(status_code=204, headers={"Content-Type": "text/html; charset=UTF-8"})


@router.api_route(C, methods=["GET", "HEAD"])
async def container_get(account: str, container: str, request: Request,
                        ctx: RequestContext | None = Caller) -> Response:
    schemas.check_container_name(container)
    q = schemas.LISTING_QUERY.check_query(request.query_params)
    if staticweb.applies(request, ctx):
        page = await staticweb.handle(request, ctx, account, container, "",
                                      _server(account, container, request, ctx))
        if page is not None:
            return page
    store = access.store_of(request)
    acc = policy.access(ctx, account)
    c = None if acc.reader else await access.run(containers.lookup, store, account, container)
    policy.check_container(acc, ctx, c.read_acl if c else None, False,
                           request.headers.get("referer"))
    fmt = views.listing_format(q, request.headers.get("accept"))
    if request.method == "HEAD":
        c = c or await access.run(containers.get, store, account, container)
        return Response(status_code=204, headers={**views.container_headers(c, acc.owner),
                                                  "Content-Type": views.TYPES[fmt]})
    if fmt == "json":  # the common case, built in one pass over the rows
        c, items = await access.run(containers.list_json, store, account, container,
                                    **_listing(q, schemas.CONTAINER_LISTING_LIMIT))
        return _listing_reply(orjson.dumps(items), items, fmt,
                              views.container_headers(c, acc.owner))
    c, entries = await access.run(containers.list_objects, store, account, container,
                            **_listing(q, schemas.CONTAINER_LISTING_LIMIT))
    return _listing_reply(views.container_listing(container, entries, fmt), entries, fmt,
                          views.container_headers(c, acc.owner))


# ------------------------------------------------------------------ objects
def _new_object(h: dict[str, str], name: str) -> NewObject:
    ctype = h.get("content-type")
    if not ctype or schemas.is_true(h.get("x-detect-content-type")):
        ctype = None
    meta = {k: v for k, v in schemas.metadata_updates(h, "object").items() if v is not None}
    return NewObject(content_type=ctype, meta=meta, headers=schemas.kept_headers(h),
                     delete_at=schemas.delete_at(h), etag=h.get("etag"),
                     length=schemas.content_length(h))


def _created(o: ObjectInfo, etag: str | None = None, extra: dict[str, str] | None = None
             ) -> Response:
    return Response(status_code=201, headers={
        "Etag": etag or o.etag, "Last-Modified": ranges.http_date(o.timestamp),
        "X-Timestamp": views.timestamp(o.timestamp),
        "Content-Type": "text/html; charset=UTF-8", **(extra or {})})


@router.put(O)
async def object_put(account: str, container: str, obj: str, request: Request,
                     ctx: RequestContext | None = Caller) -> Response:
    if not obj:  # /v1/a/c/ is the container, as Swift splits paths
        return await container_put(account, container, request, ctx)
    q = schemas.OBJECT_QUERY.check_query(request.query_params)
    if "extract-archive" in q:
        schemas.check_container_name(container)
        return await bulk.extract_archive(request, ctx, account, f"{container}/{obj}",
                                          q["extract-archive"])
    await access.authorize_object(request, ctx, account, container, obj, write=True)
    h = access.headers_of(request)
    store = access.store_of(request)
    if "x-copy-from" in h:
        src_container, src_obj = large.split_path(unquote(h["x-copy-from"]))
        await access.authorize_object(request, ctx, account, src_container, src_obj, write=False)
        return await _copy(request, ctx, account, src_container, src_obj, account, container,
                           obj, h, q)
    if "content-length" not in h and "chunked" not in h.get("transfer-encoding", ""):
        raise e.LengthRequired()
    new = _new_object(h, obj)
    if q.get("multipart-manifest") == "put":
        return await _slo_put(request, store, account, container, obj, new)
    await _symlink(store, h, account, container, obj, new)
    if "x-object-manifest" in h:
        new.dlo_manifest = unquote(h["x-object-manifest"])
        large.split_path(new.dlo_manifest + ("x" if new.dlo_manifest.endswith("/") or
                                             "/" not in new.dlo_manifest else ""))
    o = await objects.put(store, account, container, obj, access.body(request), new,
                          prepare=functools.partial(_archive_now, store, account, container,
                                                    obj), direct=direct_body(request.scope))
    return _created(o)


def _archive_now(store: ObjectStore, account: str, container: str, obj: str) -> None:
    """Versioned containers keep the copy an overwrite replaces (run by the write
    itself, on its worker thread: no hop of its own)."""
    c = containers.lookup(store, account, container)
    if c is not None and c.versions_location:
        versions.archive(store, c, obj)


async def _archive(store: ObjectStore, account: str, container: str, obj: str) -> None:
    await access.run(_archive_now, store, account, container, obj)


async def _slo_put(request: Request, store: ObjectStore, account: str, container: str,
                   obj: str, new: NewObject) -> Response:
    raw = b""
    async for chunk in access.body(request):
        raw += chunk
        if len(raw) > schemas.SLO_MAX_MANIFEST_SIZE:
            raise e.too_large(f"Manifest File > {schemas.SLO_MAX_MANIFEST_SIZE} bytes")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise e.bad_request("Manifest must be valid JSON.")
    segs = schemas.SLO_MANIFEST.check(parsed)
    stored, size, etag = await access.run(large.build_slo, store, account, segs)
    if new.etag and new.etag.strip('"') != etag:
        raise e.Unprocessable()
    body = orjson.dumps(stored)
    new.etag, new.length = None, len(body)
    # GET shows the manifest's own md5 as X-Manifest-Etag, listings as "hash"
    new.manifest_etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
    new.slo_manifest, new.size_override, new.etag_override = stored, size, etag

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    o = await objects.put(store, account, container, obj, chunks(), new,
                          prepare=functools.partial(_archive_now, store, account, container,
                                                    obj))
    return _created(o, etag=f'"{etag}"')


async def _copy(request: Request, ctx: RequestContext | None, src_account: str,
                src_container: str, src_obj: str, account: str, container: str, obj: str,
                h: dict[str, str], q: dict[str, Any]) -> Response:
    store = access.store_of(request)
    src = await access.run(objects.head, store, src_account, src_container, src_obj)
    link_path = None
    if src.symlink_path is not None:
        if q.get("symlink") == "get":
            link_path = src.symlink_path  # the link itself is copied
        else:
            src, _ = await _follow(request, ctx, src)  # a copy of what it leads to
    new = NewObject(content_type=h.get("content-type") or src.content_type,
                    headers={**src.headers, **schemas.kept_headers(h)},
                    delete_at=schemas.delete_at(h), symlink_path=link_path)
    updates = schemas.metadata_updates(h, "object")
    base = {} if schemas.is_true(h.get("x-fresh-metadata")) else src.meta
    new.meta = schemas.apply_updates(base, updates)
    keep_manifest = q.get("multipart-manifest") == "get"
    if keep_manifest and src.slo_manifest is not None:
        new.slo_manifest, new.size_override = src.slo_manifest, src.size
        new.manifest_etag = src.manifest_etag
        new.etag_override = src.etag
        segs = [Segment(src.location, 0, 0)] if src.location else []
        size = 0
    elif keep_manifest and src.dlo_manifest is not None:
        new.dlo_manifest = src.dlo_manifest
        segs, size = [], 0
    else:
        segs = await access.run(large.segments, store, src)
        size = sum(s.length for s in segs)
        if not src.is_manifest:
            new.etag = src.etag
    if keep_manifest and src.slo_manifest is not None and src.location:
        # the manifest's own body (its stored JSON) is what is copied
        body_size = await access.run(_blob_size, store, src.location)
        segs, size = [Segment(src.location, 0, body_size)], body_size
    await _archive(store, account, container, obj)
    o = await objects.copy(store, segs, size, account, container, obj, new)
    etag = f'"{o.etag}"' if o.is_manifest else o.etag
    # Swift's copy answers with the new object's user metadata too
    meta = {f"X-Object-Meta-{k.title()}": v for k, v in o.meta.items()}
    return _created(o, etag, {
        **meta,
        "X-Copied-From": f"{src_container}/{src_obj}",
        "X-Copied-From-Account": src_account,
        "X-Copied-From-Last-Modified": ranges.http_date(src.timestamp)})


def _blob_size(store: ObjectStore, location: str) -> int:
    return sum(len(b) for b in store.backend.read(location))


@router.api_route(O, methods=["COPY"])
async def object_copy(account: str, container: str, obj: str, request: Request,
                      ctx: RequestContext | None = Caller) -> Response:
    q = schemas.OBJECT_QUERY.check_query(request.query_params)
    h = access.headers_of(request)
    dest = unquote(h.get("destination", ""))
    if not dest:
        raise e.PreconditionFailed("You must specify a Destination header.")
    dest_container, dest_obj = large.split_path(dest)
    dest_account = unquote(h.get("destination-account", account))
    await access.authorize_object(request, ctx, account, container, obj, write=False)
    await access.authorize_object(request, ctx, dest_account, dest_container, dest_obj, write=True)
    return await _copy(request, ctx, account, container, obj, dest_account, dest_container,
                       dest_obj, h, q)


@router.post(O)
async def object_post(account: str, container: str, obj: str, request: Request,
                      ctx: RequestContext | None = Caller) -> Response:
    if not obj:
        return await container_post(account, container, request, ctx)
    schemas.OBJECT_QUERY.check_query(request.query_params)
    if _is_form(request):
        schemas.check_container_name(container)
        return await formpost.handle(request, account, container, obj)
    await access.authorize_object(request, ctx, account, container, obj, write=True)
    h = access.headers_of(request)
    meta = {k: v for k, v in schemas.metadata_updates(h, "object").items() if v is not None}
    delete_at: int | None | bool = False
    if "x-delete-at" in h or "x-delete-after" in h:
        delete_at = schemas.delete_at(h)
    if "x-remove-delete-at" in h:
        delete_at = None
    dlo: str | None | bool = unquote(h["x-object-manifest"]) if "x-object-manifest" in h \
        else False
    await access.run(objects.post, access.store_of(request), account, container, obj, meta,
               content_type=h.get("content-type"), headers=schemas.kept_headers(h),
               delete_at=delete_at, dlo_manifest=dlo)
    return Response(b"<html><h1>Accepted</h1><p>The request is accepted for processing."
                    b"</p></html>", status_code=202,
                    headers={"Content-Type": "text/html; charset=UTF-8"})


@router.delete(O)
async def object_delete(account: str, container: str, obj: str, request: Request,
                        ctx: RequestContext | None = Caller) -> Response:
    if not obj:
        return await container_delete(account, container, request, ctx)
    q = schemas.OBJECT_QUERY.check_query(request.query_params)
    await access.authorize_object(request, ctx, account, container, obj, write=True)
    store = access.store_of(request)
    if q.get("multipart-manifest") == "delete":
        src = await access.run(objects.head, store, account, container, obj)
        if src.slo_manifest is not None:
            paths = large.slo_segment_paths(src) + [(container, obj)]
            return await bulk.delete_many(request, ctx, account, paths)
    c = await access.run(containers.lookup, store, account, container)
    if c is not None and c.versions_location:
        await access.run(versions.delete, store, c, obj)
    else:
        await access.run(objects.delete, store, account, container, obj)
    return Response(status_code=204, headers={"Content-Type": "text/html; charset=UTF-8"})


@router.api_route(O, methods=["GET", "HEAD"])
async def object_get(account: str, container: str, obj: str, request: Request,
                     ctx: RequestContext | None = Caller) -> Response:
    if not obj:
        return await container_get(account, container, request, ctx)
    q = schemas.OBJECT_QUERY.check_query(request.query_params)
    await access.authorize_object(request, ctx, account, container, obj, write=False)
    if staticweb.applies(request, ctx):
        page = await staticweb.handle(request, ctx, account, container, obj,
                                      _server(account, container, request, ctx))
        if page is not None:
            return page
    return await _serve_object(account, container, obj, request, q, ctx)


def _server(account: str, container: str, request: Request, ctx: RequestContext | None
            ) -> staticweb.Serve:
    """How static web serves another object of the container (an index, an error
    page): as a GET of that object, with the same ACL check, without static web."""
    async def serve(name: str) -> Response:
        q = schemas.OBJECT_QUERY.check_query(request.query_params)
        await access.authorize_object(request, ctx, account, container, name, write=False)
        try:
            return await _serve_object(account, container, name, request, q, ctx)
        except e.NotFound:
            return Response(status_code=404)
    return serve


async def _serve_object(account: str, container: str, obj: str, request: Request,
                        q: dict[str, Any], ctx: RequestContext | None) -> Response:
    store = access.store_of(request)
    o, data = await access.run(objects.fetch, store, account, container, obj,
                               read_limit=SMALL_READ if request.method == "GET" else 0)
    location = None
    if o.symlink_path is not None and q.get("symlink") != "get":
        o, location = await _follow(request, ctx, o)
        account, data = o.account, None
    if q.get("multipart-manifest") == "get" and o.slo_manifest is not None:
        body = orjson.dumps(large.manifest_listing(o) if q.get("format") != "raw" else [
            {"path": s["name"], "etag": s["hash"], "size_bytes": s["bytes"],
             **({"range": s["range"]} if "range" in s else {})} for s in o.slo_manifest])
        headers = views.object_headers(o, size=len(body))
        headers["Content-Type"] = "application/json; charset=utf-8"
        return Response(body if request.method == "GET" else b"", headers=headers)
    etag, size = o.etag, o.size
    if o.dlo_manifest is not None:
        size, dlo_etag = await access.run(large.dlo_totals, store, account, o.dlo_manifest)
        etag = f'"{dlo_etag}"'
    elif o.slo_manifest is not None:
        etag = f'"{o.etag}"'
    headers = views.object_headers(o, etag=etag, size=size)
    if location:
        headers["Content-Location"] = quote(location)
    if getattr(request.state, "temp_url", False):
        headers = {k: v for k, v in headers.items() if not k.startswith("X-Object-Meta-")
                   or k.startswith("X-Object-Meta-Public-")}
    if getattr(request.state, "temp_url", False):
        # tempurl's rules for a GET/HEAD by temp URL: `inline` (with `filename`
        # if given), else `filename` as an attachment, else the object's stored
        # disposition, else an attachment named after the object
        filename = q.get("filename")
        if "inline" in q:
            headers["Content-Disposition"] = (f'inline; filename="{filename}"' if filename
                                              else "inline")
        elif filename or "Content-Disposition" not in headers:
            name = filename or obj.rstrip("/").rsplit("/", 1)[-1]
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
    status = ranges.condition(access.headers_of(request), etag, o.timestamp,
                              read=request.method in ("GET", "HEAD"))
    if status == 304:
        return Response(status_code=304, headers={k: v for k, v in headers.items()
                                                  if k != "Content-Length"})
    if status == 412:
        raise e.precondition_failed()
    spans = ranges.spans(request.headers.get("range"), size)
    if spans is not None and len(spans) == 1 and spans[0] == (0, size) and size == 0:
        spans = None  # the whole of an empty object
    if data is not None and (spans is None or len(spans) == 1):
        return _from_memory(data, spans, size, headers)
    segs = await access.run(large.segments, store, o) if request.method == "GET" else []
    if spans is None:
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        return StreamingResponse(objects.read(store, segs, 0, size), headers=headers)
    if len(spans) == 1:
        start, end = spans[0]
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return Response(status_code=206, headers=headers)
        return StreamingResponse(objects.read(store, segs, start, end), status_code=206,
                                 headers=headers)
    return _multirange(store, segs, spans, size, headers, request.method == "HEAD")


#: A GET of a plain object of at most this many bytes reads it with its row, in
#: the same worker-thread hop, and answers from memory.
SMALL_READ = 64 << 10


def _from_memory(data: bytes, spans: list[tuple[int, int]] | None, size: int,
                 headers: dict[str, str]) -> Response:
    """The answer to a GET of a small object already read: whole, or one range."""
    if spans is None:
        return Response(data, status_code=200, headers=headers)
    start, end = spans[0]
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    return Response(data[start:end], status_code=206, headers=headers)


async def _follow(request: Request, ctx: RequestContext | None, link: ObjectInfo
                  ) -> tuple[ObjectInfo, str]:
    """The object a symlink leads to (at most SYMLOOP_MAX links), each target read
    under its own container's ACLs, and its path (for Content-Location)."""
    store = access.store_of(request)
    o, path = link, ""
    for _ in range(schemas.SYMLOOP_MAX):
        if o.symlink_path is None:
            return o, path
        path = o.symlink_path
        _, _, t_account, t_container, t_obj = path.split("/", 4)
        await access.authorize_object(request, ctx, t_account, t_container, t_obj,
                                      write=False)
        want = o.headers.get("x-symlink-target-etag")
        target = await access.run(objects.lookup, store, t_account, t_container, t_obj)
        if target is None:
            raise e.not_found()
        if want and want.strip('"') != target.etag.strip('"'):
            raise e.Conflict(f"Object Etag {target.etag!r} does not match "
                             f"X-Symlink-Target-Etag header {want!r}",
                             extra={"plain": True}, headers={"Content-Location": quote(path)})
        o = target
    if o.symlink_path is None:
        return o, path
    raise e.Conflict(f"Too many levels of symbolic links, maximum allowed is "
                     f"{schemas.SYMLOOP_MAX}", extra={"plain": True})


async def _symlink(store: ObjectStore, h: dict[str, str], account: str, container: str,
                   obj: str, new: NewObject) -> None:
    """Make `new` a symlink when the PUT names a target (symlink.py's checks)."""
    link = schemas.symlink_target(h, account, container, obj)
    if link is None:
        return
    if new.length not in (None, 0):
        raise e.bad_request("Symlink requests require a zero byte body")
    t_account, t_container, t_obj = link
    want = h.get("x-symlink-target-etag")
    if want:
        target = await access.run(objects.lookup, store, t_account, t_container, t_obj)
        if target is None:
            raise e.Conflict(f"X-Symlink-Target does not exist: "
                             f"{t_container}/{t_obj}", extra={"plain": True})
        if want.strip('"') != target.etag.strip('"'):
            raise e.Conflict(f"Object Etag {target.etag!r} does not match "
                             f"X-Symlink-Target-Etag header {want!r}", extra={"plain": True})
        new.content_type = new.content_type or target.content_type
        new.headers["x-symlink-target-etag"] = want.strip('"')
    new.content_type = new.content_type or "application/symlink"
    new.headers["x-symlink-target"] = quote(f"{t_container}/{t_obj}")
    if "x-symlink-target-account" in h:
        new.headers["x-symlink-target-account"] = quote(t_account)
    new.symlink_path = f"/v1/{t_account}/{t_container}/{t_obj}"


def _multirange(store: ObjectStore, segs: list[Any], spans: list[tuple[int, int]],
                size: int, headers: dict[str, str], head: bool) -> Response:
    boundary = uuid.uuid4().hex
    ctype = headers["Content-Type"]
    parts = [(f"--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes "
              f"{a}-{b - 1}/{size}\r\n\r\n").encode() for a, b in spans]
    tail = f"\r\n--{boundary}--".encode()
    length = sum(len(p) for p in parts) + sum(b - a for a, b in spans) + \
        2 * (len(spans) - 1) + len(tail)
    headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
    headers["Content-Length"] = str(length)

    def body() -> Any:
        for i, (part, (a, b)) in enumerate(zip(parts, spans, strict=True)):
            if i:
                yield b"\r\n"
            yield part
            yield from objects.read(store, segs, a, b)
        yield tail

    if head:
        return Response(status_code=206, headers=headers)
    return StreamingResponse(body(), status_code=206, headers=headers)


# ------------------------------------------------------------------ wiring
def trans_id(request_id: str, now: float) -> str:
    """Swift's transaction id, "tx<21 hex>-<10 hex of the time>", made from the
    request id (so the two can be matched in logs)."""
    digits = "".join(ch for ch in request_id if ch in "0123456789abcdef")
    return f"tx{(digits + '0' * 21)[:21]}-{int(now):010x}"


class TransIdMiddleware:
    """Every object-service answer carries X-Trans-Id, in Swift's format."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/object/"):
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                rid = scope.get("state", {}).get("request_id", "").removeprefix("req-")
                message["headers"] = [*message.get("headers", []),
                                      (b"x-trans-id", trans_id(rid, time.time()).encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def setup(app: FastAPI) -> None:
    settings = app.state.settings
    backend = FileBackend(settings.data_dir / "objects")
    store = ObjectStore(app.state.db, backend, Quotas(
        bytes=settings.object_quota_bytes if settings.object_quota_bytes >= 0 else None,
        objects=settings.object_quota_count if settings.object_quota_count >= 0 else None))
    app.state.object_store = store
    app.state.object_tempurl_digests = [d for d in settings.object_tempurl_digests.split()
                                        if d in tempurl.DIGESTS]
    tasks: list[asyncio.Task[None]] = []

    async def expirer() -> None:
        while True:
            await asyncio.sleep(settings.object_expirer_interval)
            try:
                await asyncio.to_thread(objects.reap_expired, store)
            except Exception:  # noqa: BLE001 - the next pass retries
                log.exception("object expirer pass failed")

    async def start(app: FastAPI) -> None:
        await asyncio.to_thread(objects.recover, store)
        if settings.object_expirer_interval > 0:
            tasks.append(asyncio.create_task(expirer()))

    async def stop(app: FastAPI) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    app.add_middleware(TransIdMiddleware)
    app.state.specs.append(ServiceSpec(
        name="swift", type="object-store", prefix="/object", error_style="swift",
        endpoint_path="/object/v1/AUTH_$(project_id)s", routers=[router],
        on_engine_start=[start], on_engine_stop=[stop], raw_body_paths=[r"/v1/.*"]))
