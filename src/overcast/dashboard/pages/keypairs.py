"""Key pairs: create (the private key is shown once, never kept), import, delete.

Nova makes the key pair and returns its private key in the create reply only; the
console puts it in the reply page (with a download link built from the page itself,
no request to anywhere) and forgets it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.dashboard.client import COMPUTE
from overcast.dashboard.web import console, field_of

router = APIRouter()


@router.get("/keypairs")
async def keypairs(request: Request) -> Response:
    ctx = await console(request)
    body = await ctx.api.get(f"{COMPUTE}/os-keypairs")
    return ctx.render("keypairs.html", keypairs=[k["keypair"] for k in body["keypairs"]])


@router.post("/keypairs/new")
async def create(request: Request) -> Response:
    ctx = await console(request)
    form = await ctx.form()
    body = {"name": field_of(form, "name")}
    public = (form.get("public_key") or [""])[0].strip()
    if public:
        body["public_key"] = public
    made = (await ctx.api.post(f"{COMPUTE}/os-keypairs", {"keypair": body}))["keypair"]
    if not made.get("private_key"):
        return ctx.redirect("/keypairs", f"Key pair {made['name']} imported.")
    response = ctx.render("keypair_created.html", keypair=made)
    return response  # never cached (harden's no-store): the private key is shown once


@router.post("/keypairs/{name}/delete")
async def delete(name: str, request: Request) -> Response:
    ctx = await console(request)
    await ctx.form()
    await ctx.api.delete(f"{COMPUTE}/os-keypairs/{name}")
    return ctx.redirect("/keypairs", f"Key pair {name} deleted.")
