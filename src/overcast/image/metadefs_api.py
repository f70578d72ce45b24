"""Glance's metadata definitions catalog on the wire: /image/v2/metadefs/... and the
JSON-schema documents of its resources at /image/v2/schemas/metadefs/{name}.

Routes only (the domain is `metadefs.py`): each body is checked against its request
schema below, which is also what the schema documents publish, so what clients
download is what the API accepts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from overcast.image.metadefs import Metadefs
from overcast.image.requests import GlanceSchema
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.schema import accepts
from overcast.kit.web import get_context, json_response

router = APIRouter()
Ctx = Depends(get_context)
BASE = "/v2/metadefs"

_NAME = {"type": "string", "minLength": 1, "maxLength": 80}
_TEXT = {"type": "string", "maxLength": 500}
#: fields the replies carry and a client may send back unchanged; they are ignored
_READ_ONLY: dict[str, Any] = {k: {} for k in ("schema", "self", "created_at", "updated_at")}
ASSOCIATION: dict[str, Any] = {
    "type": "object",
    "properties": {"name": _NAME, "prefix": {"type": "string", "maxLength": 80},
                   "properties_target": {"type": "string", "maxLength": 80}, **_READ_ONLY},
    "required": ["name"], "additionalProperties": False}
PROPERTY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "title": {"type": "string", "maxLength": 255}, "description": {"type": "string"},
        "type": {"type": "string", "enum": ["array", "boolean", "integer", "number",
                                            "object", "string"]},
        "enum": {"type": "array"}, "default": {}, "readonly": {"type": "boolean"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "minimum": {"type": "number"}, "maximum": {"type": "number"},
        "minLength": {"type": "integer", "minimum": 0},
        "maxLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string"}, "items": {"type": "object"},
        "uniqueItems": {"type": "boolean"}, "minItems": {"type": "integer", "minimum": 0},
        "maxItems": {"type": "integer", "minimum": 0},
        "additionalItems": {"type": "boolean"}},
    "required": ["name", "title", "type"], "additionalProperties": False}
_PROPERTIES = {"type": "object", "additionalProperties": {
    **PROPERTY, "required": ["title", "type"]}}
OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255},
                   "description": {"type": "string"},
                   "required": {"type": "array", "items": {"type": "string"}},
                   "properties": _PROPERTIES, **_READ_ONLY},
    "required": ["name"], "additionalProperties": False}
TAG: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255},
                   **_READ_ONLY},
    "required": ["name"], "additionalProperties": False}
NAMESPACE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "namespace": _NAME, "display_name": {"type": "string", "maxLength": 80},
        "description": _TEXT, "visibility": {"type": "string", "enum": ["public", "private"]},
        "protected": {"type": "boolean"}, "owner": {"type": "string", "maxLength": 255},
        "resource_type_associations": {"type": "array", "items": ASSOCIATION},
        "properties": _PROPERTIES, "objects": {"type": "array", "items": OBJECT},
        "tags": {"type": "array", "items": TAG}, **_READ_ONLY},
    "required": ["namespace"], "additionalProperties": False}
TAGS: dict[str, Any] = {
    "type": "object", "properties": {"tags": {"type": "array", "items": TAG}},
    "required": ["tags"], "additionalProperties": False}
NAMESPACE_QUERY = GlanceSchema({"type": "object", "properties": {
    k: {"type": "string", "maxLength": 255} for k in (
        "limit", "marker", "sort_key", "sort_dir", "visibility", "resource_types")},
    "additionalProperties": False})

#: the documents at /v2/schemas/metadefs/{name}: name -> (Glance's name, schema)
_DOCS: dict[str, tuple[str, dict[str, Any]]] = {
    "namespace": ("namespace", NAMESPACE), "object": ("object", OBJECT),
    "property": ("property", PROPERTY), "tag": ("tag", TAG),
    "resource_type": ("resource_type_association", ASSOCIATION)}
_PLURAL = {"namespaces": "namespace", "objects": "object", "properties": "property",
           "tags": "tag", "resource_types": "resource_type"}


def schema_document(name: str) -> dict[str, Any]:
    if name in _DOCS:
        title, schema = _DOCS[name]
        return {"name": title, **{k: v for k, v in schema.items() if k != "type"}}
    if name in _PLURAL:
        title, schema = _DOCS[_PLURAL[name]]
        key = "resource_type_associations" if name == "resource_types" else name
        return {"name": key if name != "resource_types" else "resource_type_associations",
                "properties": {key: {"type": "array", "items": schema},
                               "first": {"type": "string"}, "next": {"type": "string"},
                               "schema": {"type": "string"}},
                "links": [{"rel": "first", "href": "{first}"},
                          {"rel": "next", "href": "{next}"},
                          {"rel": "describedby", "href": "{schema}"}]}
    raise NotFound(f"No schema {name!r} in the metadata definitions catalog.")


def _svc(request: Request) -> Metadefs:
    svc: Metadefs = request.app.state.metadefs
    return svc


async def _body(request: Request) -> Any:
    import orjson

    raw = await request.body()
    if not raw.strip():
        raise BadRequest("Body expected in request.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed JSON in request body.") from None


Body = Depends(_body)
_CHECK = {k: GlanceSchema(v) for k, v in (
    ("namespace", NAMESPACE), ("object", OBJECT), ("property", PROPERTY), ("tag", TAG),
    ("tags", TAGS), ("association", ASSOCIATION))}


def _kind(path: str) -> str:
    return {"objects": "object", "properties": "property", "tags": "tag"}[path]


# ----- schemas and resource types --------------------------------------------------
@router.get("/v2/schemas/metadefs/{name}")
def metadef_schema(name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response(schema_document(name))


@router.get(f"{BASE}/resource_types")
def resource_types(request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"resource_types": _svc(request).resource_types()})


# ----- namespaces ------------------------------------------------------------------
@router.get(f"{BASE}/namespaces")
@accepts(query=NAMESPACE_QUERY)
def list_namespaces(request: Request, ctx: RequestContext = Ctx) -> Response:
    q = dict(request.query_params)
    items = _svc(request).list_namespaces(ctx, q)
    if q.get("limit", "").isdigit():
        items = items[:int(q["limit"])]
    return json_response({"namespaces": items, "first": f"{BASE}/namespaces",
                          "schema": "/v2/schemas/metadefs/namespaces"})


@router.post(f"{BASE}/namespaces", status_code=201)
@accepts(body=_CHECK["namespace"])
async def create_namespace(request: Request, ctx: RequestContext = Ctx,
                           body: Any = Body) -> Response:
    out = await asyncio.to_thread(_svc(request).create_namespace, ctx, body)
    return json_response(out, 201)


@router.get(f"{BASE}/namespaces/{{ns}}")
def show_namespace(ns: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response(_svc(request).show_namespace(ctx, ns))


@router.put(f"{BASE}/namespaces/{{ns}}")
@accepts(body=_CHECK["namespace"])
async def update_namespace(ns: str, request: Request, ctx: RequestContext = Ctx,
                           body: Any = Body) -> Response:
    return json_response(await asyncio.to_thread(_svc(request).update_namespace, ctx, ns,
                                                 body))


@router.delete(f"{BASE}/namespaces/{{ns}}", status_code=204)
def delete_namespace(ns: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).delete_namespace(ctx, ns)
    return Response(status_code=204)


# ----- resource type associations --------------------------------------------------
@router.get(f"{BASE}/namespaces/{{ns}}/resource_types")
def list_associations(ns: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"resource_type_associations": _svc(request).associations(ctx, ns)})


@router.post(f"{BASE}/namespaces/{{ns}}/resource_types", status_code=201)
@accepts(body=_CHECK["association"])
async def associate(ns: str, request: Request, ctx: RequestContext = Ctx,
                    body: Any = Body) -> Response:
    return json_response(await asyncio.to_thread(_svc(request).associate, ctx, ns, body), 201)


@router.delete(f"{BASE}/namespaces/{{ns}}/resource_types/{{name}}", status_code=204)
def dissociate(ns: str, name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).dissociate(ctx, ns, name)
    return Response(status_code=204)


# ----- objects and properties ------------------------------------------------------
@router.get(f"{BASE}/namespaces/{{ns}}/{{what}}")
def list_items(ns: str, what: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    if what not in ("objects", "properties", "tags"):
        raise NotFound("The resource could not be found.")
    items = _svc(request).list_items(ctx, ns, _kind(what))
    if what == "properties":  # Glance's properties are a dict by name
        return json_response({"properties": {p.pop("name"): p for p in items}})
    body: dict[str, Any] = {what: items}
    if what == "objects":
        body["schema"] = "v2/schemas/metadefs/objects"
    return json_response(body)


@router.post(f"{BASE}/namespaces/{{ns}}/objects", status_code=201)
@accepts(body=_CHECK["object"])
async def create_object(ns: str, request: Request, ctx: RequestContext = Ctx,
                        body: Any = Body) -> Response:
    return json_response(await asyncio.to_thread(
        _svc(request).create_item, ctx, ns, "object", body), 201)


@router.post(f"{BASE}/namespaces/{{ns}}/properties", status_code=201)
@accepts(body=_CHECK["property"])
async def create_property(ns: str, request: Request, ctx: RequestContext = Ctx,
                          body: Any = Body) -> Response:
    return json_response(await asyncio.to_thread(
        _svc(request).create_item, ctx, ns, "property", body), 201)


@router.post(f"{BASE}/namespaces/{{ns}}/tags", status_code=201)
@accepts(body=_CHECK["tags"])
async def create_tags(ns: str, request: Request, ctx: RequestContext = Ctx,
                      body: Any = Body) -> Response:
    append = request.headers.get("x-openstack-append", "").lower() == "true"
    tags = await asyncio.to_thread(_svc(request).replace_tags, ctx, ns,
                                   [t["name"] for t in body["tags"]], append)
    return json_response({"tags": tags}, 201)


@router.delete(f"{BASE}/namespaces/{{ns}}/{{what}}", status_code=204)
def delete_items(ns: str, what: str, request: Request, ctx: RequestContext = Ctx
                 ) -> Response:
    if what not in ("objects", "properties", "tags"):
        raise NotFound("The resource could not be found.")
    _svc(request).delete_items(ctx, ns, _kind(what))
    return Response(status_code=204)


@router.get(f"{BASE}/namespaces/{{ns}}/{{what}}/{{name}}")
def show_item(ns: str, what: str, name: str, request: Request, ctx: RequestContext = Ctx
              ) -> Response:
    if what not in ("objects", "properties", "tags"):
        raise NotFound("The resource could not be found.")
    return json_response(_svc(request).show_item(ctx, ns, _kind(what), name))


@router.post(f"{BASE}/namespaces/{{ns}}/tags/{{name}}", status_code=201)
def create_tag(ns: str, name: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _CHECK["tag"].check({"name": name})
    return json_response(_svc(request).create_item(ctx, ns, "tag", {"name": name}), 201)


@router.put(f"{BASE}/namespaces/{{ns}}/{{what}}/{{name}}")
async def update_item(ns: str, what: str, name: str, request: Request,
                      ctx: RequestContext = Ctx, body: Any = Body) -> Response:
    checks = {"objects": "object", "properties": "property", "tags": "tag"}
    if what not in checks:
        raise NotFound("The resource could not be found.")
    body = _CHECK[checks[what]].check(body)
    return json_response(await asyncio.to_thread(
        _svc(request).update_item, ctx, ns, _kind(what), name, body))


@router.delete(f"{BASE}/namespaces/{{ns}}/{{what}}/{{name}}", status_code=204)
def delete_item(ns: str, what: str, name: str, request: Request, ctx: RequestContext = Ctx
                ) -> Response:
    if what not in ("objects", "properties", "tags"):
        raise NotFound("The resource could not be found.")
    _svc(request).delete_item(ctx, ns, _kind(what), name)
    return Response(status_code=204)
