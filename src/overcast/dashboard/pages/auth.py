"""Logging in and out, and switching project: the console's use of Keystone's tokens.

Login asks Keystone for an unscoped token with the user's password, lists the
projects it may scope to (`GET /v3/auth/projects`), rescopes to the first (`admin`
first) with the token method: the session holds one project-scoped token, as a CLI
user's would. The login form has its own CSRF token (a random value
in a SameSite cookie and in the form) since no session exists yet. Logout revokes
the token (`DELETE /v3/auth/tokens`), which in Keystone revokes its whole audit chain
(the unscoped token and every rescoped one), and drops the cookie.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from overcast.dashboard.client import API, IDENTITY, APIError
from overcast.dashboard.session import COOKIE, Session
from overcast.dashboard.web import (
    FLASH,
    TEMPLATES,
    Refused,
    console,
    field_of,
    harden,
    http_client,
    read_flash,
    read_form,
    sessions_of,
    set_session_cookie,
)

router = APIRouter()
LOGIN_COOKIE = "overcast_login"


def _safe_next(value: str) -> str:
    """Only a path of this site (never //host or a scheme): no open redirect."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _login_page(request: Request, error: str = "", status: int = 200,
                values: dict[str, str] | None = None) -> HTMLResponse:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    flash = [("error", error)] if error else []
    if not error and (msg := read_flash(request)):
        flash.append(msg)
    html = TEMPLATES.get_template("login.html").render(
        s=None, csrf=nonce, flash=flash, path="/login", services=set(),
        next=_safe_next(request.query_params.get("next", "/")), values=values or {})
    response = harden(HTMLResponse(html, status_code=status))
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
    response.delete_cookie(FLASH, path="/")
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


def _password_auth(user: str, password: str, domain: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": domain}, "password": password}}}}}


async def scoped_session(api: API, token: str, project_id: str, user: dict[str, Any],
                         domain: str) -> Session:
    """A project-scoped session from any token of the user (token method)."""
    r = await api.call("POST", f"{IDENTITY}/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"id": project_id}}}})
    body = r.json()["token"]
    return Session(token=r.headers["X-Subject-Token"], user_id=user["id"],
                   user_name=user["name"], domain=domain, project_id=body["project"]["id"],
                   project_name=body["project"]["name"],
                   roles=sorted(x["name"] for x in body.get("roles", [])))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(nonce, field_of(form, "csrf")):
        raise Refused(403, "The login form was refused: its security token is missing or "
                           "wrong. Reload the page and try again.")
    user, password = field_of(form, "username"), (form.get("password") or [""])[0]
    domain = field_of(form, "domain") or "Default"
    values = {"username": user, "domain": domain}
    if not user or not password:
        return _login_page(request, "Enter your user name and password.", 400, values)
    api = API(http_client(request), app=request.app)
    try:
        r = await api.call("POST", f"{IDENTITY}/auth/tokens",
                           json=_password_auth(user, password, domain))
    except APIError as exc:
        message = "The user name, password or domain is wrong." if exc.status == 401 \
            else exc.message
        return _login_page(request, message, 401 if exc.status == 401 else 400, values)
    unscoped = r.headers["X-Subject-Token"]
    who = r.json()["token"]["user"]
    user_api = API(http_client(request), unscoped, request.app)
    projects = (await user_api.get(f"{IDENTITY}/auth/projects"))["projects"]
    enabled = [p for p in projects if p.get("enabled", True)]
    if not enabled:
        await user_api.call("DELETE", f"{IDENTITY}/auth/tokens",
                            headers={"X-Subject-Token": unscoped})
        return _login_page(request, "You have no role on any project: ask an "
                                    "administrator to give you one.", 403, values)
    enabled.sort(key=lambda p: (p["name"] != "admin", p["name"]))
    # The scoped token shares the unscoped one's audit chain (Keystone's token method):
    # revoking either would revoke both, so the unscoped one is left to expire, and
    # logout's revocation ends the whole chain.
    session = await scoped_session(api, unscoped, enabled[0]["id"], who, domain)
    response = RedirectResponse(_safe_next(field_of(form, "next", "/")), status_code=303)
    set_session_cookie(response, sessions_of(request).seal(session))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = await console(request)
    await ctx.form()
    try:
        await ctx.api.call("DELETE", f"{IDENTITY}/auth/tokens",
                           headers={"X-Subject-Token": ctx.session.token})
    except APIError:
        pass  # already revoked or expired: the session ends either way
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/projects")
async def projects(request: Request) -> Response:
    ctx = await console(request)
    listed = (await ctx.api.get(f"{IDENTITY}/auth/projects"))["projects"]
    listed.sort(key=lambda p: p["name"])
    return ctx.render("projects.html", projects=listed)


@router.post("/projects/switch")
async def switch(request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    project_id = field_of(form, "project_id")
    old = ctx.session
    try:
        ctx.session = await scoped_session(
            ctx.api, old.token, project_id, {"id": old.user_id, "name": old.user_name},
            old.domain)
    except APIError as exc:
        return ctx.redirect("/projects", exc.message, "error")
    # the old token is not revoked: it shares the new one's audit chain (see login)
    return ctx.redirect("/", f"Now working in project {ctx.session.project_name}.")
