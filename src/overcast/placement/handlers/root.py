"""The version document at the service root: the one route anyone may read."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from overcast.placement import views
from overcast.placement.versions import VERSION, VERSIONS

router = APIRouter(dependencies=[VERSION])


@router.get("")
@router.get("/")
def root(request: Request) -> Response:
    return VERSIONS.reply(request, views.root())
