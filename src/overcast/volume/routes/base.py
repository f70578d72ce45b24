"""What every block storage route module shares: the router that authenticates,
negotiates the microversion and checks the URL's project, the body parameter, the
service lookup, and the links base."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.web import get_context
from overcast.volume import policy
from overcast.volume.service import VolumeService
from overcast.volume.versions import VERSIONS

if TYPE_CHECKING:
    from overcast.volume.volumes import Page

__all__ = ["VERSIONS", "JSON_BODY", "Ctx", "reply", "version", "router", "service",
           "base_url", "params", "next_link", "page_reply"]
JSON_BODY: Any = Body(None)
reply = VERSIONS.reply
version = VERSIONS.of


async def _project_context(request: Request, project_id: str,
                           ctx: RequestContext = Depends(get_context)) -> RequestContext:
    policy.url_project(ctx, project_id)
    return ctx


#: the caller's context, after the URL's project was checked against the token's
Ctx: Any = Depends(_project_context)


def router() -> APIRouter:
    """Authentication first (401), then the version (406), then the URL's project."""
    return APIRouter(dependencies=[Depends(get_context), Depends(VERSIONS.dependency)])


def service(request: Request) -> VolumeService:
    return request.app.state.volume  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    """The versioned root links are built on: .../volume/v3."""
    return f"{request.app.state.settings.base_url}/volume/v3"


def params(request: Request) -> dict[str, str]:
    return {k: request.query_params[k] for k in request.query_params}


def page_reply(request: Request, project_id: str, collection: str, page: Page
               ) -> Response:
    """A page of a listing as Cinder answers it: the items under `collection`, a
    `<collection>_links` to the next page when there is one, and `count` when it was
    asked for (`with_count`)."""
    body: dict[str, Any] = {collection: page.items}
    if page.next_marker:
        body[f"{collection}_links"] = next_link(request, project_id, collection,
                                                page.next_marker)
    if page.count is not None:
        body["count"] = page.count
    return reply(request, body)


def next_link(request: Request, project_id: str, collection: str, marker: str
              ) -> list[dict[str, str]]:
    q = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    q.append(("marker", marker))
    path = request.url.path.split(f"/v3/{project_id}/", 1)[-1]
    return [{"rel": "next",
             "href": f"{base_url(request)}/{project_id}/{path}?{urlencode(q)}"}]
