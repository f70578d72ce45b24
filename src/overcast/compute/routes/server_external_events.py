"""`POST /os-server-external-events` (admin): what other services tell compute about
servers (`compute.events`). The answer is Nova's: every event with its own `code`,
and 200 when all were accepted, 207 when some were, 404 when none was."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import JSON_BODY, reply, router, service
from overcast.kit.schema import accepts

routes = router()


@routes.post("/v2.1/os-server-external-events", dependencies=[ADMIN])
@accepts(body=schemas.SERVER_EXTERNAL_EVENTS)
def create(request: Request, body: Any = JSON_BODY) -> Response:
    events = service(request).events.external_events(body["events"])
    accepted = sum(1 for e in events if e["code"] == 200)
    status = 200 if accepted == len(events) else 207 if accepted else 404
    return reply(request, {"events": events}, status)
