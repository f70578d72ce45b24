"""Admin (the admin role): projects, users, roles and assignments, flavors, hypervisors
with their usage, compute services, and every project's instances.

The pages are only linked for a token with the admin role, and each refuses others
at once (403) rather than showing empty tables; the APIs enforce the same rule
again, so nothing here widens what a member may do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.dashboard.client import COMPUTE, IDENTITY
from overcast.dashboard.web import Console, Refused, console, field_of

router = APIRouter()
#: Every project's instances, a page at a time.
ADMIN_PAGE = 100


async def admin(request: Request) -> Console:
    ctx = await console(request)
    if not ctx.session.is_admin:
        raise Refused(403, "Only administrators may see the admin pages.")
    return ctx


@router.get("/admin")
async def overview(request: Request) -> Response:
    ctx = await admin(request)
    projects, users, roles, assignments = await asyncio.gather(
        ctx.api.get(f"{IDENTITY}/projects"), ctx.api.get(f"{IDENTITY}/users"),
        ctx.api.get(f"{IDENTITY}/roles"), ctx.api.get(f"{IDENTITY}/role_assignments"))
    names = {"project": {p["id"]: p["name"] for p in projects["projects"]},
             "user": {u["id"]: u["name"] for u in users["users"]},
             "role": {r["id"]: r["name"] for r in roles["roles"]}}
    rows = []
    for a in assignments["role_assignments"]:
        project = (a.get("scope") or {}).get("project", {}).get("id")
        user = (a.get("user") or {}).get("id")
        rows.append({"project": names["project"].get(project, project or "(system/domain)"),
                     "user": names["user"].get(user, user or "(group)"),
                     "role": names["role"].get(a["role"]["id"], a["role"]["id"])})
    return ctx.render("admin.html", projects=projects["projects"], users=users["users"],
                      roles=roles["roles"], assignments=rows)


@router.get("/admin/compute")
async def compute(request: Request) -> Response:
    """Services, flavors and a page of every project's instances; the hypervisors'
    usage (the slowest list: one Placement usage read per host) comes after, as a
    fragment the page loads (`hypervisors`)."""
    ctx = await admin(request)
    services, flavors, servers = await asyncio.gather(
        ctx.api.get(f"{COMPUTE}/os-services"),
        ctx.api.get(f"{COMPUTE}/flavors/detail", is_public="None"),
        ctx.api.get(f"{COMPUTE}/servers/detail", all_tenants=1, limit=ADMIN_PAGE,
                    marker=request.query_params.get("marker") or None))
    listed = servers["servers"]
    return ctx.render("admin_compute.html", compute_services=services["services"],
                      flavors=flavors["flavors"], servers=listed,
                      next_marker=listed[-1]["id"] if len(listed) == ADMIN_PAGE else None)


@router.get("/admin/compute/hypervisors")
async def hypervisors(request: Request) -> Response:
    """The hypervisors table: a fragment for htmx, a whole page without JavaScript."""
    ctx = await admin(request)
    found = (await ctx.api.get(f"{COMPUTE}/os-hypervisors/detail"))["hypervisors"]
    template = "admin_hypervisors.html" if request.headers.get("hx-request") \
        else "admin_hypervisors_page.html"
    return ctx.render(template, hypervisors=found)


@router.post("/admin/projects/new")
async def create_project(request: Request) -> Response:
    ctx = await admin(request)
    form = await ctx.form()
    await ctx.api.post(f"{IDENTITY}/projects", {"project": {
        "name": field_of(form, "name"), "description": field_of(form, "description")}})
    return ctx.redirect("/admin", f"Project {field_of(form, 'name')} created.")


@router.post("/admin/users/new")
async def create_user(request: Request) -> Response:
    """A user, and when a project is chosen, a role for it there (one form)."""
    ctx = await admin(request)
    form = await ctx.form()
    body: dict[str, Any] = {"name": field_of(form, "name"),
                            "password": (form.get("password") or [""])[0]}
    project = field_of(form, "project_id")
    if project:
        body["default_project_id"] = project
    user = (await ctx.api.post(f"{IDENTITY}/users", {"user": body}))["user"]
    if project and (role := field_of(form, "role_id")):
        await ctx.api.put(f"{IDENTITY}/projects/{project}/users/{user['id']}/roles/{role}")
    return ctx.redirect("/admin", f"User {user['name']} created.")


@router.post("/admin/assignments/new")
async def grant(request: Request) -> Response:
    ctx = await admin(request)
    form = await ctx.form()
    project, user, role = (field_of(form, k) for k in ("project_id", "user_id", "role_id"))
    await ctx.api.put(f"{IDENTITY}/projects/{project}/users/{user}/roles/{role}")
    return ctx.redirect("/admin", "Role granted.")


@router.post("/admin/{kind}/{ident}/delete")
async def delete(kind: str, ident: str, request: Request) -> Response:
    ctx = await admin(request)
    await ctx.form()
    paths = {"projects": (f"{IDENTITY}/projects", "/admin"),
             "users": (f"{IDENTITY}/users", "/admin"),
             "flavors": (f"{COMPUTE}/flavors", "/admin/compute")}
    if kind not in paths:
        raise Refused(404, "There is nothing of that kind to delete.")
    base, back = paths[kind]
    await ctx.api.delete(f"{base}/{ident}")
    return ctx.redirect(back, "Deleted.")


@router.post("/admin/flavors/new")
async def create_flavor(request: Request) -> Response:
    ctx = await admin(request)
    form = await ctx.form()
    try:
        sizes = {k: int(field_of(form, k, "0") or "0") for k in ("vcpus", "ram", "disk")}
    except ValueError:
        return ctx.redirect("/admin/compute", "vCPUs, RAM and disk are whole numbers.",
                            "error")
    await ctx.api.post(f"{COMPUTE}/flavors", {"flavor": {"name": field_of(form, "name"),
                                                         **sizes}})
    return ctx.redirect("/admin/compute", f"Flavor {field_of(form, 'name')} created.")
