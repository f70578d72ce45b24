"""QoS specs (`/v3/{project_id}/qos-specs`): an admin's, as Cinder's default policy
has them."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.schema import accepts
from overcast.volume import schemas, views
from overcast.volume.policy import ADMIN
from overcast.volume.routes.base import JSON_BODY, Ctx, base_url, reply, router, service

routes = router()
Q = "/v3/{project_id}/qos-specs"


def _links(request: Request, project_id: str, qos_id: str) -> list[dict[str, str]]:
    return views.links(base_url(request), project_id, "qos-specs", qos_id)


@routes.get(Q, dependencies=[ADMIN])
@accepts(query=schemas.LIST_QUERY)
def list_qos(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"qos_specs": service(request).qos.listing()})


@routes.post(Q, dependencies=[ADMIN])
@accepts(body=schemas.QOS_CREATE)
def create_qos(project_id: str, request: Request, body: Any = JSON_BODY,
               ctx: RequestContext = Ctx) -> Response:
    out = service(request).qos.create(body["qos_specs"])
    return reply(request, {"qos_specs": out, "links": _links(request, project_id, out["id"])})


@routes.get(Q + "/{qos_id}", dependencies=[ADMIN])
def show_qos(project_id: str, qos_id: str, request: Request, ctx: RequestContext = Ctx
             ) -> Response:
    out = service(request).qos.show(qos_id)
    return reply(request, {"qos_specs": out, "links": _links(request, project_id, qos_id)})


@routes.put(Q + "/{qos_id}", dependencies=[ADMIN])
@accepts(body=schemas.QOS_UPDATE)
def update_qos(project_id: str, qos_id: str, request: Request, body: Any = JSON_BODY,
               ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"qos_specs": service(request).qos.update(qos_id,
                                                                    body["qos_specs"])})


@routes.delete(Q + "/{qos_id}", status_code=202, dependencies=[ADMIN])
@accepts(query=schemas.QOS_QUERY)
def delete_qos(project_id: str, qos_id: str, request: Request, ctx: RequestContext = Ctx
               ) -> Response:
    service(request).qos.delete(qos_id, schemas.flag(request.query_params.get("force",
                                                                              "false")))
    return reply(request, None, 202)


@routes.put(Q + "/{qos_id}/delete_keys", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.QOS_DELETE_KEYS)
def delete_qos_keys(project_id: str, qos_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    service(request).qos.delete_keys(qos_id, body["keys"])
    return reply(request, None, 202)


@routes.get(Q + "/{qos_id}/associations", dependencies=[ADMIN])
def qos_associations(project_id: str, qos_id: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"qos_associations": service(request).qos.associations(qos_id)})


@routes.get(Q + "/{qos_id}/associate", status_code=202, dependencies=[ADMIN])
@accepts(query=schemas.QOS_QUERY)
def qos_associate(project_id: str, qos_id: str, request: Request, ctx: RequestContext = Ctx
                  ) -> Response:
    service(request).qos.associate(qos_id, request.query_params.get("vol_type_id"), True)
    return reply(request, None, 202)


@routes.get(Q + "/{qos_id}/disassociate", status_code=202, dependencies=[ADMIN])
@accepts(query=schemas.QOS_QUERY)
def qos_disassociate(project_id: str, qos_id: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    service(request).qos.associate(qos_id, request.query_params.get("vol_type_id"), False)
    return reply(request, None, 202)


@routes.get(Q + "/{qos_id}/disassociate_all", status_code=202, dependencies=[ADMIN])
def qos_disassociate_all(project_id: str, qos_id: str, request: Request,
                         ctx: RequestContext = Ctx) -> Response:
    service(request).qos.disassociate_all(qos_id)
    return reply(request, None, 202)
