"""Routes of the identity resources of documents.py that api.py's generated CRUD
does not cover: OS-OAUTH1 consumers (their secret is answered once, at creation),
the HEAD check of an OS-EP-FILTER endpoint group, and OS-EP-FILTER's associations
of endpoints and endpoint groups with projects (which narrow their catalogs).
Same four steps as api.py: check (schemas), authorise (policy: admin only, as
Keystone's defaults), delegate (`identity.consumers`, `identity.endpoint_groups`,
`identity.endpoint_filter`), shape (views). No SQL here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from overcast.identity import policy
from overcast.identity import schemas as sc
from overcast.identity import views as v
from overcast.identity.service import IdentityService
from overcast.kit.schema import accepts

router = APIRouter()
JSON_BODY = Body(None)
ADMIN = [policy.ADMIN]
CONSUMERS = "/v3/OS-OAUTH1/consumers"


def _svc(request: Request) -> IdentityService:
    return request.app.state.identity  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/identity"


@router.head("/v3/OS-EP-FILTER/endpoint_groups/{group_id}", dependencies=ADMIN)
def check_endpoint_group(group_id: str, request: Request) -> Response:
    _svc(request).endpoint_groups.show(group_id)
    return Response(status_code=200)


@router.post(CONSUMERS, dependencies=ADMIN)
@accepts(body=sc.CONSUMER_CREATE)
def create_consumer(request: Request, body: Any = JSON_BODY) -> Any:
    c, secret = _svc(request).consumers.create(sc.consumer(body))
    return JSONResponse({"consumer": v.consumer(_base(request), c, secret)}, status_code=201)


@router.get(CONSUMERS, dependencies=ADMIN)
def list_consumers(request: Request) -> Any:
    b = _base(request)
    return {"consumers": [v.consumer(b, c) for c in _svc(request).consumers.find()],
            "links": v.collection_links(b, "OS-OAUTH1/consumers")}


@router.get(CONSUMERS + "/{consumer_id}", dependencies=ADMIN)
def show_consumer(consumer_id: str, request: Request) -> Any:
    return {"consumer": v.consumer(_base(request), _svc(request).consumers.show(consumer_id))}


@router.patch(CONSUMERS + "/{consumer_id}", dependencies=ADMIN)
@accepts(body=sc.CONSUMER_UPDATE)
def update_consumer(consumer_id: str, request: Request, body: Any = JSON_BODY) -> Any:
    c = _svc(request).consumers.update(consumer_id, sc.consumer(body))
    return {"consumer": v.consumer(_base(request), c)}


@router.delete(CONSUMERS + "/{consumer_id}", dependencies=ADMIN)
def delete_consumer(consumer_id: str, request: Request) -> Response:
    _svc(request).consumers.delete(consumer_id)
    return Response(status_code=204)


# ------------------------------------------------- OS-EP-FILTER associations
EPF = "/v3/OS-EP-FILTER"


def _filter(request: Request) -> Any:
    return _svc(request).endpoint_filter


@router.put(EPF + "/projects/{project_id}/endpoints/{endpoint_id}", dependencies=ADMIN)
def associate_endpoint(project_id: str, endpoint_id: str, request: Request) -> Response:
    _filter(request).associate_endpoint(project_id, endpoint_id)
    return Response(status_code=204)


@router.api_route(EPF + "/projects/{project_id}/endpoints/{endpoint_id}",
                  methods=["GET", "HEAD"], dependencies=ADMIN)
def check_endpoint(project_id: str, endpoint_id: str, request: Request) -> Response:
    _filter(request).check_endpoint(project_id, endpoint_id)
    return Response(status_code=204)


@router.delete(EPF + "/projects/{project_id}/endpoints/{endpoint_id}", dependencies=ADMIN)
def dissociate_endpoint(project_id: str, endpoint_id: str, request: Request) -> Response:
    _filter(request).dissociate_endpoint(project_id, endpoint_id)
    return Response(status_code=204)


@router.get(EPF + "/projects/{project_id}/endpoints", dependencies=ADMIN)
def project_endpoints(project_id: str, request: Request) -> Any:
    b = _base(request)
    return {"endpoints": [v.endpoint(b, x)
                          for x in _filter(request).project_endpoints(project_id)],
            "links": v.collection_links(b, f"OS-EP-FILTER/projects/{project_id}/endpoints")}


@router.get(EPF + "/endpoints/{endpoint_id}/projects", dependencies=ADMIN)
def endpoint_projects(endpoint_id: str, request: Request) -> Any:
    b = _base(request)
    return {"projects": [v.project(b, p, [])
                         for p in _filter(request).endpoint_projects(endpoint_id)],
            "links": v.collection_links(b, f"OS-EP-FILTER/endpoints/{endpoint_id}/projects")}


@router.put(EPF + "/endpoint_groups/{group_id}/projects/{project_id}", dependencies=ADMIN)
def associate_group(group_id: str, project_id: str, request: Request) -> Response:
    _filter(request).associate_group(group_id, project_id)
    return Response(status_code=204)


@router.api_route(EPF + "/endpoint_groups/{group_id}/projects/{project_id}",
                  methods=["GET", "HEAD"], dependencies=ADMIN)
def check_group(group_id: str, project_id: str, request: Request) -> Any:
    _filter(request).check_group(group_id, project_id)
    if request.method == "HEAD":
        return Response(status_code=200)
    return {"project": v.project(_base(request), _svc(request).projects.show(project_id)[0],
                                 [])}


@router.delete(EPF + "/endpoint_groups/{group_id}/projects/{project_id}",
               dependencies=ADMIN)
def dissociate_group(group_id: str, project_id: str, request: Request) -> Response:
    _filter(request).dissociate_group(group_id, project_id)
    return Response(status_code=204)


@router.get(EPF + "/endpoint_groups/{group_id}/projects", dependencies=ADMIN)
def group_projects(group_id: str, request: Request) -> Any:
    b = _base(request)
    return {"projects": [v.project(b, p, []) for p in _filter(request).group_projects(group_id)],
            "links": v.collection_links(b, f"OS-EP-FILTER/endpoint_groups/{group_id}/projects")}


@router.get(EPF + "/endpoint_groups/{group_id}/endpoints", dependencies=ADMIN)
def group_endpoints(group_id: str, request: Request) -> Any:
    b = _base(request)
    return {"endpoints": [v.endpoint(b, x) for x in _filter(request).group_endpoints(group_id)],
            "links": v.collection_links(b,
                                        f"OS-EP-FILTER/endpoint_groups/{group_id}/endpoints")}


@router.get(EPF + "/projects/{project_id}/endpoint_groups", dependencies=ADMIN)
def project_groups(project_id: str, request: Request) -> Any:
    b = _base(request)
    return {"endpoint_groups": [v.endpoint_group(b, g)
                                for g in _filter(request).project_groups(project_id)],
            "links": v.collection_links(b,
                                        f"OS-EP-FILTER/projects/{project_id}/endpoint_groups")}
