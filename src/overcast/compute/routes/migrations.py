"""`os-migrations` (admin): the resizes and cold migrations of servers, with Nova's
filters. The records are written by the resize paths (`compute.migrations`)."""

from __future__ import annotations

from fastapi import Request, Response

from overcast.compute.migrations import MigrationService, view
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import reply, router, service, version

routes = router()
FILTERS = ("instance_uuid", "source_compute", "host", "status", "migration_type")


@routes.get("/v2.1/os-migrations", dependencies=[ADMIN])
def list_migrations(request: Request) -> Response:
    q = request.query_params
    rows = MigrationService(service(request).db).list_all(
        {k: q[k] for k in FILTERS if q.get(k)})
    with_type = version(request).at_least("2.23")
    return reply(request, {"migrations": [view(mig, status, with_type)
                                          for mig, status in rows]})
