"""Swift's bulk middleware: many deletes in one request (`?bulk-delete`, and the
segments of an SLO with `?multipart-manifest=delete`), and archive extraction
(`?extract-archive=tar|tar.gz|tar.bz2`: every file of an uploaded tar becomes an
object). Each path is authorised as its own request would be; the answer
counts what was done and lists the failures, in json or plain text.
"""

from __future__ import annotations

from urllib.parse import unquote

import orjson
from fastapi import Request
from fastapi.responses import Response

from overcast.kit.context import RequestContext
from overcast.kit.errors import STATUS_TITLES, OvercastError
from overcast.object import containers, objects, policy, schemas
from overcast.object import errors as e
from overcast.object.access import authorize_object, body, run, store_of


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
    result = {"Number Deleted": deleted, "Number Not Found": not_found,
              "Response Body": "", "Response Status": status, "Errors": failures}
    if "json" in request.headers.get("accept", ""):
        return Response(orjson.dumps(result), headers={"Content-Type": "application/json"})
    text = (f"Number Deleted: {deleted}\nNumber Not Found: {not_found}\nResponse Body: \n"
            f"Response Status: {status}\nErrors: \n" +
            "".join(f"{p}, {s}\n" for p, s in failures))
    return Response(text.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
