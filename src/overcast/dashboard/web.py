"""The console's plumbing: the per-request `Console`, templates, forms, error pages.

Each page handler starts with `console(request)`: the logged-in session (else a
redirect to /login), an `API` client carrying the user's token, and the CSRF token
forms must send back (`await ctx.form()` checks it). Pages are Jinja2 templates
rendered on the server; htmx (vendored in static/, no build step) only refreshes
fragments in place.

Static files are served from memory under /static/<hash>/<name>, the hash of their
contents, so browsers may cache them for a year and a new release is fetched at once.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from overcast.dashboard.client import API, APIError
from overcast.dashboard.session import COOKIE, Session, Sessions

HERE = Path(__file__).resolve().parent
#: A form body the console accepts (user data is at most 64 KiB in Nova).
MAX_FORM_BYTES = 256 * 1024
#: Routes taking raw bytes (image and object uploads): the body guard must let them
#: stream past.
RAW_BODY_PATHS = [r"/images/[^/]+/upload", r"/containers/[^/]+/upload"]
#: Header htmx's background polls carry: they do not extend the idle session.
POLL_HEADER = "x-overcast-poll"
FLASH = "overcast_flash"

_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain",
          ".svg": "image/svg+xml", ".ico": "image/x-icon"}


class LoginRequired(Exception):
    """No valid session: the browser is sent to /login (and back afterwards)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class Refused(Exception):
    """A request the console itself refuses (bad CSRF token, bad form): 4xx page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _static_files() -> tuple[str, dict[str, tuple[bytes, str]]]:
    files: dict[str, tuple[bytes, str]] = {}
    digest = hashlib.sha256()
    for path in sorted((HERE / "static").iterdir()):
        data = path.read_bytes()
        digest.update(path.name.encode() + data)
        files[path.name] = (data, _TYPES.get(path.suffix, "application/octet-stream"))
    return digest.hexdigest()[:12], files


STATIC_VERSION, STATIC_FILES = _static_files()

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=jinja2.select_autoescape(["html", "svg"]), trim_blocks=True,
    lstrip_blocks=True, auto_reload=False)
TEMPLATES.globals["static"] = lambda name: f"/static/{STATIC_VERSION}/{name}"


def _filesize(n: Any) -> str:
    size = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


TEMPLATES.filters["filesize"] = _filesize
#: Nova's power_state numbers, as the table shows them.
TEMPLATES.globals["power_states"] = {0: "NOSTATE", 1: "RUNNING", 3: "PAUSED", 4: "SHUTDOWN",
                                     6: "CRASHED", 7: "SUSPENDED"}
#: The actions an instance in each status offers (besides Delete, always there).
TEMPLATES.globals["row_actions"] = {
    "ACTIVE": (("stop", "Stop"), ("reboot", "Reboot"), ("pause", "Pause"),
               ("suspend", "Suspend")),
    "SHUTOFF": (("start", "Start"),), "PAUSED": (("unpause", "Unpause"),),
    "SUSPENDED": (("resume", "Resume"),),
    "VERIFY_RESIZE": (("confirm-resize", "Confirm resize"), ("revert-resize", "Revert resize")),
    "ERROR": (("hard-reboot", "Hard reboot"),)}


@dataclass
class Console:
    """One request of a logged-in user."""

    request: Request
    session: Session
    api: API
    sessions: Sessions
    flash: list[tuple[str, str]] = field(default_factory=list)
    _form: dict[str, list[str]] | None = None

    @property
    def csrf(self) -> str:
        return self.sessions.csrf(self.session)

    async def form(self) -> dict[str, list[str]]:
        """The posted form (urlencoded), refused unless it carries the CSRF token."""
        if self._form is None:
            self._form = await read_form(self.request)
            sent = (self._form.get("csrf") or [""])[0] or \
                self.request.headers.get("x-csrf-token", "")
            if not self.sessions.csrf_ok(self.session, sent):
                raise Refused(403, "The form was refused: its security token is missing or "
                                   "wrong. Reload the page and try again.")
        return self._form

    def check_csrf_header(self) -> None:
        """For raw-body requests (uploads): the token travels as a header."""
        if not self.sessions.csrf_ok(self.session, self.request.headers.get("x-csrf-token")):
            raise Refused(403, "The request was refused: its security token is missing or "
                               "wrong. Reload the page and try again.")

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = TEMPLATES.get_template(template).render(
            s=self.session, csrf=self.csrf, flash=self.flash, path=self.request.url.path,
            services=services(self.request), **values)
        response = harden(HTMLResponse(html, status_code=status))
        self._keep(response)
        if FLASH in self.request.cookies and not self.request.headers.get("hx-request"):
            response.delete_cookie(FLASH, path="/")  # shown once
        return response

    def redirect(self, url: str, message: str = "", kind: str = "ok") -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        self._keep(response, (kind, message) if message else None)
        return response

    def _keep(self, response: Response, flash: tuple[str, str] | None = None) -> None:
        """Re-seal the session (sliding idle timeout), carrying a message to the next
        page; a background poll leaves the cookie as it was."""
        if flash is None and self.request.headers.get(POLL_HEADER):
            return
        cookie = self.sessions.seal(self.session)
        if flash:
            set_flash(response, *flash)
        set_session_cookie(response, cookie)


#: Scripts and styles from this site only; no framing (clickjacking); forms post here.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
       "form-action 'self'; base-uri 'none'")


R = TypeVar("R", bound=Response)


def harden(response: R) -> R:
    """Headers every console page carries."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def set_session_cookie(response: Response, cookie: str) -> None:
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/")


def set_flash(response: Response, kind: str, message: str) -> None:
    """A message for the next page the browser shows (after a redirect)."""
    value = base64.urlsafe_b64encode(f"{kind}:{message[:400]}".encode()).decode()
    response.set_cookie(FLASH, value, httponly=True, samesite="strict", path="/")


def read_flash(request: Request) -> tuple[str, str] | None:
    try:
        text = base64.urlsafe_b64decode(request.cookies.get(FLASH, "")).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, sep, message = text.partition(":")
    return (kind, message) if sep and kind in ("ok", "error") else None


async def read_form(request: Request) -> dict[str, list[str]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise Refused(415, "Forms are sent as application/x-www-form-urlencoded.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise Refused(413, "The form is too large.")
    out: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "The form could not be read.")
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def field_of(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return (form.get(name) or [default])[0].strip()


def services(request: Request) -> set[str]:
    """Catalog types this cloud serves (pages for volumes and objects need them)."""
    return {spec.type for spec in request.app.state.specs}


def http_client(request: Request) -> httpx.AsyncClient:
    return request.app.state.dashboard_http  # type: ignore[no-any-return]


def sessions_of(request: Request) -> Sessions:
    return request.app.state.dashboard_sessions  # type: ignore[no-any-return]


async def console(request: Request) -> Console:
    """The logged-in user's console for this request, or LoginRequired."""
    sessions = sessions_of(request)
    cookie = request.cookies.get(COOKIE)
    session = sessions.open(cookie)
    if session is None:
        raise LoginRequired("Your session has ended: please log in again." if cookie else "")
    api = API(http_client(request), session.token, request.app)
    ctx = Console(request, session, api, sessions)
    flash = read_flash(request)
    if flash and not request.headers.get("hx-request"):
        ctx.flash.append(flash)
    request.state.console = ctx
    return ctx


def _back(request: Request) -> str:
    """Where an action came from (same-origin Referer path), for its error message."""
    ref = urlsplit(request.headers.get("referer", ""))
    if ref.netloc and ref.netloc != request.url.netloc:
        return "/"
    return (ref.path or "/") + (f"?{ref.query}" if ref.query else "")


def _bare_page(status: int, title: str, message: str) -> HTMLResponse:
    html = TEMPLATES.get_template("error.html").render(
        s=None, csrf="", flash=[], path="", services=set(), title=title, message=message)
    return harden(HTMLResponse(html, status_code=status))


async def on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.headers.get("hx-request"):
        # a fragment request: make htmx load the login page as a whole page
        response: Response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    else:
        nxt = request.url.path if request.method == "GET" else "/"
        response = RedirectResponse(f"/login?next={nxt}", status_code=303)
        if exc.message:
            set_flash(response, "error", exc.message)
    response.delete_cookie(COOKIE, path="/")
    return response


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    ctx: Console | None = getattr(request.state, "console", None)
    if exc.status == 401 or ctx is None:
        return await on_login_required(request, LoginRequired(
            "Your session has ended: please log in again."))
    if request.method == "GET":
        return ctx.render("error.html", status=exc.status if exc.status < 500 else 502,
                          title="The cloud refused this page", message=exc.message)
    return ctx.redirect(_back(request), exc.message, "error")


async def on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return _bare_page(exc.status, "Refused", exc.message)


def static_route(router: APIRouter) -> None:
    @router.get("/static/{version}/{name}", include_in_schema=False)
    async def static(version: str, name: str) -> Response:
        found = STATIC_FILES.get(name)
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        cache = "public, max-age=31536000, immutable" if version == STATIC_VERSION \
            else "no-cache"
        return Response(found[0], media_type=found[1], headers={"Cache-Control": cache})

    @router.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        # browsers ask for it on pages without a <link rel=icon> (the APIs' JSON errors)
        data, media = STATIC_FILES["favicon.svg"]
        return Response(data, media_type=media, headers={"Cache-Control": "max-age=86400"})
