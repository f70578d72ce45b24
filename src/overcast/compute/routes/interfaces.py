"""`/servers/{id}/os-interface`: list and show a server's ports, attach one (200, the
interfaceAttachment), detach one (202) (`compute.interfaces`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    reply,
    router,
    service,
    version,
)
from overcast.kit.context import RequestContext
from overcast.kit.schema import Schema, Versioned, accepts

routes = router()
PATH = "/v2.1/servers/{uuid}/os-interface"
def _attach(tag: bool) -> Schema:
    """Nova's interface attach: a network or a port, an address on the network at
    most; from 2.49 a device `tag`."""
    props: dict[str, Any] = {
        "net_id": schemas.UUID, "port_id": schemas.UUID,
        "fixed_ips": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "properties": {"ip_address": {
                "type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}},
            "required": ["ip_address"], "additionalProperties": False}}}
    if tag:
        props["tag"] = schemas.TAG
    return Schema({"type": "object", "properties": {"interfaceAttachment": {
        "type": "object", "properties": props, "additionalProperties": False}},
        "additionalProperties": False}, "nova")


ATTACH = Versioned(VERSIONS, {"2.1": _attach(False), "2.49": _attach(True)})


@routes.get(PATH)
def list_interfaces(uuid: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"interfaceAttachments": service(request).interfaces.listing(
        ctx, uuid, version(request).at_least("2.70"))})


@routes.get(PATH + "/{port_id}")
def show_interface(uuid: str, port_id: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"interfaceAttachment": service(request).interfaces.show(
        ctx, uuid, port_id, version(request).at_least("2.70"))})


@routes.post(PATH)
@accepts(body=ATTACH)
def attach_interface(uuid: str, request: Request, body: Any = JSON_BODY,
                     ctx: RequestContext = Ctx) -> Response:
    a = (body or {}).get("interfaceAttachment") or {}
    fixed = (a.get("fixed_ips") or [{}])[0].get("ip_address")
    att = service(request).interfaces.attach(ctx, uuid, a.get("net_id"), a.get("port_id"),
                                             fixed, a.get("tag"),
                                             version(request).at_least("2.70"))
    return reply(request, {"interfaceAttachment": att})


@routes.delete(PATH + "/{port_id}")
def detach_interface(uuid: str, port_id: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    service(request).interfaces.detach(ctx, uuid, port_id)
    return reply(request, None, 202)
