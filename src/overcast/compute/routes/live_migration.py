"""Live migration's routes: the admin action `os-migrateLive` (added to the action
table of `server_actions`) and a server's in-progress live migrations:
`GET /servers/{id}/migrations[/{mid}]` (2.23), `POST .../{mid}/action
{"force_complete": null}` (2.22) and `DELETE .../{mid}` to abort (2.24). The
domain is `compute.live_migration`, the request schemas
`compute.live_migration_schemas`."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import live_migration_schemas as schemas
from overcast.compute.live_migration import IN_PROGRESS, LiveMigrations, view
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import JSON_BODY, VERSIONS, Ctx, reply, router, service, version
from overcast.compute.routes.server_actions import ACTIONS, Action, Call
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.microversion import APIVersion
from overcast.kit.schema import accepts

routes = router()


def _live(request: Request) -> LiveMigrations:
    return service(request).live_migrations


def _migrate_live(c: Call) -> Response:
    host, block = schemas.migrate_live(c.arg, version(c.request))
    _live(c.request).start(c.ctx, c.uuid, host, block)
    return reply(c.request, None, 202)


ACTIONS.update({"os-migrateLive": Action(_migrate_live, admin=True)})


def _mid(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise NotFound(f"Migration {text} could not be found.") from None


def _view(request: Request, mig: Any) -> dict[str, Any]:
    v = version(request)
    return view(mig, v.at_least("2.59"), v.at_least("2.80"))


@routes.get("/v2.1/servers/{server_id}/migrations", dependencies=[ADMIN])
def list_server_migrations(request: Request, server_id: str, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.23")
    migs = _live(request).list(ctx, server_id)
    return reply(request, {"migrations": [_view(request, x) for x in migs]})


@routes.get("/v2.1/servers/{server_id}/migrations/{mid}", dependencies=[ADMIN])
def show_server_migration(request: Request, server_id: str, mid: str,
                          ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.23")
    mig = _live(request).show(ctx, server_id, _mid(mid))
    return reply(request, {"migration": _view(request, mig)})


@routes.post("/v2.1/servers/{server_id}/migrations/{mid}/action", dependencies=[ADMIN])
@accepts(body=schemas.MIGRATION_ACTION)
def server_migration_action(request: Request, server_id: str, mid: str, ctx: RequestContext = Ctx,
                            body: Any = JSON_BODY) -> Response:
    VERSIONS.require(request, "2.22")
    _live(request).control(ctx, server_id, _mid(mid), "force_complete", ("running",))
    return reply(request, None, 202)


@routes.delete("/v2.1/servers/{server_id}/migrations/{mid}", dependencies=[ADMIN])
def abort_server_migration(request: Request, server_id: str, mid: str,
                           ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "2.24")
    # a queued migration may be aborted from 2.65 on
    allowed = IN_PROGRESS if version(request) >= APIVersion(2, 65) else \
        ("preparing", "running")
    _live(request).control(ctx, server_id, _mid(mid), "abort", allowed)
    return reply(request, None, 202)
