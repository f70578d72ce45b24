"""HTTP plumbing every service shares: request ids, the per-request log line,
error translation in one place, and the auth dependency (token -> context).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from overcast.kit import access_rules
from overcast.kit.context import RequestContext
from overcast.kit.errors import Forbidden, OvercastError, Unauthorized, render_error

log = logging.getLogger("overcast.http")

UNEXPECTED = "An unexpected error prevented the server from fulfilling your request."


@dataclass
class ServiceSpec:
    """How one service is mounted: its path prefix, catalog entry and error style."""

    name: str  # catalog name, e.g. "keystone"
    type: str  # catalog type, e.g. "identity"
    prefix: str  # mount point, e.g. "/identity"
    error_style: str  # keystone | nova | neutron | placement | glance | cinder | swift
    #: Endpoint path registered in the catalog; "$(project_id)s" is rendered per token.
    endpoint_path: str
    routers: list[APIRouter] = field(default_factory=list)
    #: Extra catalog types served by the same endpoint (e.g. volumev3 for block-storage).
    aliases: list[tuple[str, str, str]] = field(default_factory=list)
    #: Routes (regexes below `prefix`) whose bodies are raw data streamed to a store
    #: (image bytes, object data): exempt from the JSON body size limit and checks.
    raw_body_paths: list[str] = field(default_factory=list)
    #: Called when a process that serves requests starts (every API worker, and the
    #: engine): what request handling needs, such as the bus connection.
    on_startup: list[Callable[[FastAPI], Awaitable[None] | None]] = field(default_factory=list)
    on_shutdown: list[Callable[[FastAPI], Awaitable[None] | None]] = field(default_factory=list)
    #: Called once per cloud, in the engine only (after `on_startup`): the work that
    #: must not run once per API worker: the conductor, local agents and storage,
    #: bus subscriptions, periodic tasks, recovery of half-done work at start.
    on_engine_start: list[Callable[[FastAPI], Awaitable[None] | None]] = field(
        default_factory=list)
    on_engine_stop: list[Callable[[FastAPI], Awaitable[None] | None]] = field(
        default_factory=list)


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


class RequestIdAndLogMiddleware:
    """Gives every request an id (`X-Openstack-Request-Id`) and logs one line for it.

    The log line carries method, path, status, duration and request id; never
    headers or bodies, so tokens and passwords cannot leak into logs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        began = time.perf_counter()
        status_holder = {"status": 500}
        started = {"yes": False}
        header_name = b"x-openstack-request-id"
        extra_names: list[bytes] = []
        path = scope.get("path", "")
        if path.startswith("/compute"):
            extra_names.append(b"x-compute-request-id")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["yes"] = True
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((header_name, request_id.encode()))
                for name in extra_names:
                    headers.append((name, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:  # noqa: BLE001 - no exception ever escapes into the server
            # The request fails alone: a 500 in the service's own format, with the
            # request id, and the connection stays usable for the client's next
            # request (an exception that reached uvicorn reset the keep-alive
            # connection). If the reply had already begun, it can only be cut short.
            log.exception("unhandled error on %s %s request_id=%s", scope.get("method"),
                          path, request_id)
            if not started["yes"]:
                response = error_response(Request(scope), 500, UNEXPECTED)
                await response(scope, receive, send_wrapper)
        finally:
            elapsed = (time.perf_counter() - began) * 1000
            log.info("method=%s path=%s status=%s duration_ms=%.1f request_id=%s",
                     scope.get("method"), path, status_holder["status"], elapsed, request_id)


def style_for_path(app: FastAPI, path: str) -> str:
    for prefix, style in getattr(app.state, "error_styles", []):
        if path == prefix or path.startswith(prefix + "/"):
            return str(style)
    return "keystone"


def error_response(request: Request, status: int, message: str, *, type: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None,
                   extra: dict[str, Any] | None = None) -> Response:
    style = style_for_path(request.app, request.url.path)
    request_id = getattr(request.state, "request_id", "")
    body, content_type = render_error(style, status, message, type=type, code=code,
                                      request_id=request_id, extra=extra)
    hdrs = dict(headers or {})
    if status == 401 and style == "keystone" or status == 401:
        base = getattr(request.app.state, "identity_url", "")
        hdrs.setdefault("WWW-Authenticate", f'Keystone uri="{base}"')
    if request.method == "HEAD":
        return Response(status_code=status, headers=hdrs, media_type=content_type)
    if isinstance(body, str):
        return Response(body, status_code=status, headers=hdrs, media_type=content_type)
    return JSONResponse(body, status_code=status, headers=hdrs)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "Malformed request body: the body is not valid JSON."
        loc = ".".join(str(p) for p in err.get("loc", []) if p != "body")
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "Invalid input: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OvercastError)
    async def _overcast(request: Request, exc: OvercastError) -> Response:
        return error_response(request, exc.status, exc.message, type=exc.type, code=exc.code,
                              headers=exc.headers, extra=exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.detail else "The resource could not be found."
        if exc.status_code == 404:
            message = "The resource could not be found."
        elif exc.status_code == 405:
            message = "The method is not allowed for the requested URL."
        return error_response(request, exc.status_code, message,
                              headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, UNEXPECTED)


Authenticator = Callable[[str, str], RequestContext]


async def get_context(request: Request) -> RequestContext:
    """FastAPI dependency: the caller's context from `X-Auth-Token`, or 401.

    Async on purpose: a validated token is served from the identity cache with
    one tiny read (the generation), so hopping to a worker thread would cost
    more than the work itself.
    """
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    authenticate: Authenticator = request.app.state.authenticate
    ctx = authenticate(token, getattr(request.state, "request_id", ""))
    if ctx.access_rules is not None:
        access_rules.enforce(ctx.access_rules, getattr(request.app.state, "specs", []),
                             request.method, request.url.path)
    if ctx.project_id is None and not (ctx.system_scope or ctx.internal):
        _refuse_without_project(request)
    request.state.context = ctx
    return ctx


#: Outside identity, reads that a token without a project may still make (Glance lists
#: and shows public images to it); everything else needs a project scope.
_UNSCOPED_READS = ("/image/",)


def _refuse_without_project(request: Request) -> None:
    """Outside identity, a token scoped to no project (unscoped, or scoped to a domain)
    may not act: it would create servers, ports and images owned by nobody. Nova and
    Neutron answer 403 to it; Glance lets it read."""
    path = request.url.path
    if path.startswith("/identity/") or path == "/identity":
        return
    if request.method in ("GET", "HEAD") and path.startswith(_UNSCOPED_READS):
        return
    raise Forbidden("This request needs a token scoped to a project: authenticate with a "
                    "project scope (for example --os-project-name, or OS_PROJECT_NAME).")


class FastJSONResponse(JSONResponse):
    """JSON rendered with orjson: big listings (a thousand servers) encode several
    times faster than with the standard library."""

    def render(self, content: Any) -> bytes:
        import orjson

        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return FastJSONResponse(body, status_code=status, headers=headers)
