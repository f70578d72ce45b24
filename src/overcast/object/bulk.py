"""Swift's bulk middleware: many deletes in one request (`?bulk-delete`, and the
segments of an SLO with `?multipart-manifest=delete`), and archive extraction
(`?extract-archive=tar|tar.gz|tar.bz2`: every file of an uploaded tar becomes an
object). Each path is authorised as its own request would be; the answer
counts what was done and lists the failures, in json or plain text.
"""

from __future__ import annotations

import asyncio
import tarfile
from collections.abc import AsyncIterator
from typing import IO
from urllib.parse import quote, unquote

import orjson
from fastapi import Request
from fastapi.responses import Response

from overcast.kit.context import RequestContext
from overcast.kit.errors import STATUS_TITLES, OvercastError
from overcast.object import containers, objects, policy, schemas
from overcast.object import errors as e
from overcast.object.access import authorize_object, body, run, spool, store_of
from overcast.object.objects import NewObject


async def bulk_delete(request: Request, ctx: RequestContext | None, account: str
                       ) -> Response:
    raw = b""
    async for chunk in body(request):
        raw += chunk
        if len(raw) > schemas.MAX_DELETES_PER_REQUEST * (schemas.MAX_OBJECT_NAME_LENGTH + 260):
            raise e.too_large()
    lines = [unquote(x.strip()) for x in raw.decode("utf-8", "replace").splitlines()
             if x.strip()]
    if len(lines) > schemas.MAX_DELETES_PER_REQUEST:
        raise e.too_large(f"Maximum Bulk Deletes: {schemas.MAX_DELETES_PER_REQUEST} per "
                          "request")
    paths = []
    for line in lines:
        c, _, o = line.lstrip("/").partition("/")
        paths.append((c, o))
    return await delete_many(request, ctx, account, paths)


async def delete_many(request: Request, ctx: RequestContext | None, account: str,
                       paths: list[tuple[str, str]]) -> Response:
    """Delete objects (and containers, for paths without an object) and answer as
    Swift's bulk middleware: counts and per-path errors, json or plain text."""
    store = store_of(request)
    deleted = not_found = 0
    failures: list[list[str]] = []
    for c, o in paths:
        try:
            if o:
                await authorize_object(request, ctx, account, c, o, write=True)
                await run(objects.delete, store, account, c, o)
            else:
                schemas.check_container_name(c)
                policy.check_account(policy.access(ctx, account), write=True)
                await run(containers.delete, store, account, c)
            deleted += 1
        except e.NotFound:
            not_found += 1
        except OvercastError as exc:
            failures.append([f"/{c}/{o}" if o else f"/{c}",
                             f"{exc.status} {STATUS_TITLES.get(exc.status, 'Error')}"])
    status = "400 Bad Request" if failures else "200 OK"
    return _reply(request, {"Number Deleted": deleted, "Number Not Found": not_found},
                  status, "", failures)


#: ?extract-archive= values and tarfile's modes for them.
ARCHIVE_MODES = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2"}
#: bulk.py's max_containers_per_extraction and max_failed_extractions defaults.
MAX_CONTAINERS = 10000
MAX_FAILED = 1000


async def _member_chunks(tar: tarfile.TarFile, info: tarfile.TarInfo
                         ) -> AsyncIterator[bytes]:
    fh = tar.extractfile(info)
    if fh is None:
        return
    while True:
        data = await asyncio.to_thread(fh.read, 1 << 20)
        if not data:
            return
        yield data


async def extract_archive(request: Request, ctx: RequestContext | None, account: str,
                          base: str, fmt: str) -> Response:
    """Every file of the uploaded tar becomes an object under `base` (a container,
    maybe with a prefix; or, at the account, the first path part of each file names
    its container, created when missing)."""
    mode = ARCHIVE_MODES.get(fmt)
    if mode is None:
        raise e.bad_request(f"Unsupported archive format: {fmt}")
    store = store_of(request)
    fh: IO[bytes] = await spool(request)
    created = 0
    failures: list[list[str]] = []
    seen: set[str] = set()
    status = "201 Created"
    body_text = ""
    try:
        try:
            tar = await run(tarfile.open, fileobj=fh, mode=mode)
        except (tarfile.TarError, EOFError, OSError):
            raise e.bad_request("Invalid Tar File: not a tar archive") from None
        with tar:
            while len(failures) < MAX_FAILED:
                info = await run(tar.next)
                if info is None:
                    break
                if not info.isfile():
                    continue
                path = info.name[2:] if info.name.startswith("./") else info.name
                path = path.lstrip("/")
                if base:
                    path = base.rstrip("/") + "/" + path
                if "/" not in path:
                    continue
                container, name = path.split("/", 1)
                try:
                    if container not in seen:
                        if len(seen) >= MAX_CONTAINERS:
                            raise e.bad_request(
                                f"More than {MAX_CONTAINERS} containers to create from tar.")
                        schemas.check_container_name(container)
                        if await run(containers.lookup, store, account, container) is None:
                            policy.check_account(policy.access(ctx, account), write=True)
                            await run(containers.put, store, account, container, {})
                        seen.add(container)
                    await authorize_object(request, ctx, account, container, name, write=True)
                    await objects.put(store, account, container, name,
                                      _member_chunks(tar, info),
                                      NewObject(length=info.size))
                    created += 1
                except OvercastError as exc:
                    failures.append([quote(path[:1024]),
                                     f"{exc.status} {STATUS_TITLES.get(exc.status, 'Error')}"])
    finally:
        fh.close()
    if failures:
        status = "400 Bad Request"
    elif not created:
        status, body_text = "400 Bad Request", "Invalid Tar File: No Valid Files"
    return _reply(request, {"Number Files Created": created}, status, body_text, failures)


def _reply(request: Request, counts: dict[str, int], status: str, body_text: str,
           failures: list[list[str]]) -> Response:
    """bulk.py's answer: json when asked for, else "Key: value" lines."""
    result: dict[str, object] = {**counts, "Response Body": body_text,
                                 "Response Status": status, "Errors": failures}
    if "json" in request.headers.get("accept", ""):
        return Response(orjson.dumps(result), headers={"Content-Type": "application/json"})
    text = "".join(f"{k}: {v}\n" for k, v in result.items() if k != "Errors")
    text += "Errors: \n" + "".join(f"{p}, {s}\n" for p, s in failures)
    return Response(text.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
