"""Routes of the stored-only identity resources that api.py's generated CRUD does
not cover: OS-OAUTH1 consumers (their secret is answered once, at creation) and
the HEAD check of an OS-EP-FILTER endpoint group. Same four steps as api.py:
check (schemas), authorise (policy: admin only, as Keystone's defaults), delegate
(`identity.consumers`, `identity.endpoint_groups`), shape (views). No SQL here.
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
