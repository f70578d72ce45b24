"""Routes of domain-specific configuration (domain_configs.py):
`/v3/domains/{id}/config[/{group}[/{option}]]` (PUT the whole, GET/PATCH/DELETE the
whole, a group or an option), `/v3/domains/config[/{group}[/{option}]]/default`,
and `/v3/domains/{id}/config/security_compliance[/{option}]`. Admin only, as
Keystone's defaults, except the security compliance part, which every
authenticated user may read (a client shows the password rules before a change).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from overcast.identity import policy
from overcast.identity.service import IdentityService
from overcast.kit.errors import BadRequest
from overcast.kit.web import get_context

router = APIRouter()
JSON_BODY = Body(None)
ADMIN = [policy.ADMIN]
ANYONE = [Depends(get_context)]
CONFIG = "/v3/domains/{domain_id}/config"


def _configs(request: Request) -> Any:
    svc: IdentityService = request.app.state.identity
    return svc.domain_configs


def _body(body: Any) -> Any:
    if not isinstance(body, dict) or "config" not in body:
        raise BadRequest("Invalid input for field 'config': 'config' is a required "
                         "property.")
    return body["config"]


@router.get("/v3/domains/config/default", dependencies=ADMIN)
def default_config(request: Request) -> Any:
    return {"config": _configs(request).default()}


@router.get("/v3/domains/config/{group}/default", dependencies=ADMIN)
def default_group(group: str, request: Request) -> Any:
    return {"config": _configs(request).default(group)}


@router.get("/v3/domains/config/{group}/{option}/default", dependencies=ADMIN)
def default_option(group: str, option: str, request: Request) -> Any:
    return {"config": _configs(request).default(group, option)}


@router.get(CONFIG + "/security_compliance", dependencies=ANYONE)
def security_compliance(domain_id: str, request: Request) -> Any:
    return {"config": _configs(request).security_compliance(domain_id)}


@router.get(CONFIG + "/security_compliance/{option}", dependencies=ANYONE)
def security_compliance_option(domain_id: str, option: str, request: Request) -> Any:
    return {"config": _configs(request).security_compliance(domain_id, option)}


@router.put(CONFIG, dependencies=ADMIN)
def create_config(domain_id: str, request: Request, body: Any = JSON_BODY) -> Any:
    config, created = _configs(request).create(domain_id, _body(body))
    return JSONResponse({"config": config}, status_code=201 if created else 200)


@router.get(CONFIG, dependencies=ADMIN)
@router.get(CONFIG + "/{group}", dependencies=ADMIN)
@router.get(CONFIG + "/{group}/{option}", dependencies=ADMIN)
def show_config(domain_id: str, request: Request, group: str | None = None,
                option: str | None = None) -> Any:
    return {"config": _configs(request).show(domain_id, group, option)}


@router.patch(CONFIG, dependencies=ADMIN)
@router.patch(CONFIG + "/{group}", dependencies=ADMIN)
@router.patch(CONFIG + "/{group}/{option}", dependencies=ADMIN)
def update_config(domain_id: str, request: Request, group: str | None = None,
                  option: str | None = None, body: Any = JSON_BODY) -> Any:
    return {"config": _configs(request).update(domain_id, _body(body), group, option)}


@router.delete(CONFIG, dependencies=ADMIN)
@router.delete(CONFIG + "/{group}", dependencies=ADMIN)
@router.delete(CONFIG + "/{group}/{option}", dependencies=ADMIN)
def delete_config(domain_id: str, request: Request, group: str | None = None,
                  option: str | None = None) -> Response:
    _configs(request).delete(domain_id, group, option)
    return Response(status_code=204)
