"""`POST /os-server-external-events` (admin): what other services tell compute about
servers (`compute.events`). The answer is Nova's: every event with its own `code`,
and 200 when all were accepted, else 207 (even when none was, as Nova since its
bug 1855752: the codes say why each was dropped). A
`power-update` (2.76) starts or stops the server (`ComputeService.power_update`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service
from overcast.kit.context import RequestContext
from overcast.kit.schema import accepts

routes = router()


@routes.post("/v2.1/os-server-external-events", dependencies=[ADMIN])
@accepts(body=schemas.SERVER_EXTERNAL_EVENTS)
def create(request: Request, body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    svc = service(request)
    events = svc.events.external_events(body["events"])
    for e in events:  # 2.76 (an unknown tag: skipped, as Nova's API skips it)
        if e["name"] == "power-update" and e["code"] == 200 and \
                e.get("tag") in ("POWER_ON", "POWER_OFF"):
            svc.power_update(ctx, str(e["server_uuid"]), str(e["tag"]))
    accepted = sum(1 for e in events if e["code"] == 200)
    status = 200 if accepted == len(events) else 207  # never 404 (Nova bug 1855752)
    return reply(request, {"events": events}, status)
