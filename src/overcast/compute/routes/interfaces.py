"""`/servers/{id}/os-interface`: list and show a server's ports, attach one (200, the
interfaceAttachment), detach one (202) (`compute.interfaces`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service
from overcast.kit.context import RequestContext
from overcast.kit.schema import Schema, accepts

routes = router()
PATH = "/v2.1/servers/{uuid}/os-interface"
#: Nova's interface attach: a network or a port, an address on the network at most
ATTACH = Schema({"type": "object", "properties": {"interfaceAttachment": {
    "type": "object", "properties": {
        "net_id": schemas.UUID, "port_id": schemas.UUID,
        "fixed_ips": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "properties": {"ip_address": {
                "type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}},
            "required": ["ip_address"], "additionalProperties": False}}},
    "additionalProperties": False}}, "additionalProperties": False}, "nova")


@routes.get(PATH)
def list_interfaces(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"interfaceAttachments":
                           service(request).interfaces.listing(ctx, uuid)})


@routes.get(PATH + "/{port_id}")
def show_interface(uuid: str, port_id: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"interfaceAttachment":
                           service(request).interfaces.show(ctx, uuid, port_id)})


@routes.post(PATH)
@accepts(body=ATTACH)
def attach_interface(uuid: str, request: Request, body: Any = JSON_BODY,
                     ctx: RequestContext = Ctx) -> Response:
    a = (body or {}).get("interfaceAttachment") or {}
    fixed = (a.get("fixed_ips") or [{}])[0].get("ip_address")
    att = service(request).interfaces.attach(ctx, uuid, a.get("net_id"), a.get("port_id"),
                                             fixed)
    return reply(request, {"interfaceAttachment": att})


@routes.delete(PATH + "/{port_id}")
def detach_interface(uuid: str, port_id: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    service(request).interfaces.detach(ctx, uuid, port_id)
    return reply(request, None, 202)
