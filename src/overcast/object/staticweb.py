"""Static web sites from containers (Swift's staticweb), for anonymous GET/HEAD
(or any caller sending `X-Web-Mode: true`) on containers that set
`X-Container-Meta-Web-Index`, `-Web-Listings`, `-Web-Listings-CSS` or `-Web-Error`.

- `/v1/a/c` redirects (301) to `/v1/a/c/`, which serves `<index>` or, with
  listings on, an HTML listing of the container's top level;
- `/v1/a/c/dir` redirects to `dir/` when `dir/<index>` exists or objects live
  under `dir/`; `dir/` serves `dir/<index>` or the listing of `dir/`;
- a missing object answers 404 with the body of `404<web-error>` when set.
Reading is still decided by the container's read ACL (`.r:*`, `.rlistings`).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from overcast.kit.context import RequestContext
from overcast.object import containers, objects, policy, schemas
from overcast.object import errors as e
from overcast.object.access import run, store_of
from overcast.object.records import ContainerInfo, Entry, Subdir
from overcast.object.store import iso_time

Serve = Callable[[str], Awaitable[Response]]


def applies(request: Request, ctx: RequestContext | None) -> bool:
    return request.method in ("GET", "HEAD") and (
        ctx is None or schemas.is_true(request.headers.get("x-web-mode")))


def _settings(c: ContainerInfo) -> tuple[str, bool, str, str]:
    return (c.meta.get("web-index", "").strip(), schemas.is_true(c.meta.get("web-listings")),
            c.meta.get("web-listings-css", "").strip(), c.meta.get("web-error", "").strip())


def _redirect(request: Request) -> Response:
    location = quote(request.url.path + "/")
    return Response(status_code=301, headers={"Location": location,
                                              "Content-Type": "text/html; charset=UTF-8"})


async def handle(request: Request, ctx: RequestContext | None, account: str, container: str,
                 obj: str, serve: Serve) -> Response | None:
    """The static-web answer, or None when the request is an ordinary one."""
    store = store_of(request)
    c = await run(containers.lookup, store, account, container)
    if c is None:
        return None
    index, listings, css, error = _settings(c)
    if not (index or listings):
        if not obj and schemas.is_true(request.headers.get("x-web-mode")):
            raise e.not_found()
        return None
    acc = policy.access(ctx, account)
    policy.check_container(acc, ctx, c.read_acl, False, request.headers.get("referer"))
    slash = request.url.path.endswith("/")
    if not obj:
        if not slash:
            return _redirect(request)
        if index and await run(objects.lookup, store, account, container, index):
            return await serve(index)
        return await _listing(request, c, "", listings, css, error, serve)
    if await run(objects.lookup, store, account, container, obj):
        return None
    base = obj if obj.endswith("/") else obj + "/"
    if index and await run(objects.lookup, store, account, container, base + index):
        return _redirect(request) if not slash else await serve(base + index)
    if not slash:
        _, under = await run(containers.list_objects, store, account, container,
                             prefix=base, delimiter="/", limit=1)
        if under:
            return _redirect(request)
        return await _error(request, 404, error, serve)
    return await _listing(request, c, base, listings, css, error, serve)


async def _error(request: Request, status: int, error: str, serve: Serve) -> Response:
    """The container's error page for `status` (`<status><web-error>`), or Swift's."""
    if error:
        page = await serve(f"{status}{error}")
        if page.status_code < 300:
            page.status_code = status
            return page
    raise e.not_found()


def _date(ts: float) -> str:
    return iso_time(ts)[:19].replace("T", " ")


def _css_path(css: str, prefix: str) -> str:
    if css.startswith("/") or "://" in css:
        return css
    return "../" * prefix.count("/") + css


async def _listing(request: Request, c: ContainerInfo, prefix: str, listings: bool,
                   css: str, error: str, serve: Serve) -> Response:
    if not listings:
        return await _error(request, 404, error, serve)
    _, entries = await run(containers.list_objects, store_of(request), c.account, c.name,
                           prefix=prefix, delimiter="/", limit=schemas.CONTAINER_LISTING_LIMIT)
    if prefix and not entries:
        return await _error(request, 404, error, serve)
    label = html.escape(request.url.path)
    href = html.escape(_css_path(css, prefix))
    head = (f'  <link rel="stylesheet" type="text/css" href="{href}" />\n' if css else
            '  <style type="text/css">\n   h1 {font-size: 1em; font-weight: bold;}\n'
            '   th {text-align: left; padding: 0px 1em 0px 1em;}\n'
            '   td {padding: 0px 1em 0px 1em;}\n   a {text-decoration: none;}\n  </style>\n')
    rows = []
    if prefix:
        rows.append(' <tr id="parent" class="item">\n  <td class="colname">'
                    '<a href="../">../</a></td>\n  <td class="colsize">&nbsp;</td>\n'
                    '  <td class="coldate">&nbsp;</td>\n </tr>\n')
    for entry in entries:
        name = entry.name[len(prefix):]
        link = html.escape(quote(name))
        if isinstance(entry, Subdir):
            rows.append(f' <tr class="item subdir">\n  <td class="colname"><a href="{link}">'
                        f'{html.escape(name)}</a></td>\n  <td class="colsize">&nbsp;</td>\n'
                        '  <td class="coldate">&nbsp;</td>\n </tr>\n')
        elif isinstance(entry, Entry):
            rows.append(f' <tr class="item">\n  <td class="colname"><a href="{link}">'
                        f'{html.escape(name)}</a></td>\n  <td class="colsize">{entry.size}</td>'
                        f'\n  <td class="coldate">{_date(entry.timestamp)}</td>\n </tr>\n')
    body = ('<!DOCTYPE html>\n<html>\n <head>\n'
            f'  <title>Listing of {label}</title>\n{head} </head>\n <body>\n'
            f'  <h1 id="title">Listing of {label}</h1>\n'
            '  <table id="listing">\n   <tr id="heading">\n'
            '    <th class="colname">Name</th>\n    <th class="colsize">Size</th>\n'
            '    <th class="coldate">Date</th>\n   </tr>\n'
            + "".join(rows) + '  </table>\n </body>\n</html>\n').encode()
    return Response(body if request.method == "GET" else b"", headers={
        "Content-Type": "text/html; charset=UTF-8", "Content-Length": str(len(body))})
