"""Neutron v2.0 on the wire: /network/v2.0/{networks,subnets,ports,security-groups,
security-group-rules,routers,floatingips,subnetpools,quotas,extensions,agents,
service-providers}.

Routes only: each parses the request, delegates to the network service and shapes
the reply. The seven resources share one set of generated routes (list, create
with bulk, show, update, delete and tags), from the `RESOURCES` table; the domain
behind them is in the resource modules, policy in `policy.py`, refusals in
`errors.py`.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from overcast.kit.body import is_json_type
from overcast.kit.context import RequestContext
from overcast.kit.errors import UnsupportedMediaType
from overcast.kit.schema import accepts
from overcast.kit.web import ServiceSpec, get_context, json_response
from overcast.network import errors, extensions, policy, schemas
from overcast.network.schemas import NeutronSchema
from overcast.network.service import NetworkService

router = APIRouter()
Ctx = Depends(get_context)


def _svc(request: Request) -> NetworkService:
    svc: NetworkService = request.app.state.network
    return svc


def _base(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/network"


async def _json(request: Request) -> Any:
    """The request's JSON body (None when empty); a body of another media type gets
    Neutron's 415, as its WSGI layer accepts only application/json."""
    raw = await request.body()
    if not raw:
        return None
    ctype = request.headers.get("content-type", "")
    if not is_json_type(ctype):
        raise UnsupportedMediaType(f"Unsupported Content-Type {ctype[:64]}",
                                   type="HTTPUnsupportedMediaType")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.malformed_body()


#: a route's JSON body, read before its declared schema checks it
JSON = Depends(_json)


def _wrapped(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise errors.resource_body_required(key)
    return dict(body[key])


def _check_each(request: Request, schema: NeutronSchema) -> list[tuple[str, str]]:
    """Every value of a query string checked (a filter may repeat: ?id=a&id=b)."""
    params = list(request.query_params.multi_items())
    for k, v in params:
        schema.check({k: v})
    return params


def _fields(request: Request) -> list[str]:
    return [f for v in request.query_params.getlist("fields") for f in v.split(",") if f]


@dataclass(frozen=True)
class Resource:
    """A resource's names on the wire and its request schemas (create, update, list
    query); the service finds its module by `singular`."""

    singular: str
    collection: str
    path: str
    create: NeutronSchema
    update: NeutronSchema
    query: NeutronSchema


RESOURCES = [
    Resource("network", "networks", "networks", schemas.NETWORK_CREATE,
             schemas.NETWORK_UPDATE, schemas.NETWORK_QUERY),
    Resource("subnet", "subnets", "subnets", schemas.SUBNET_CREATE, schemas.SUBNET_UPDATE,
             schemas.SUBNET_QUERY),
    Resource("port", "ports", "ports", schemas.PORT_CREATE, schemas.PORT_UPDATE,
             schemas.PORT_QUERY),
    Resource("security_group", "security_groups", "security-groups", schemas.GROUP_CREATE,
             schemas.GROUP_UPDATE, schemas.GROUP_QUERY),
    Resource("security_group_rule", "security_group_rules", "security-group-rules",
             schemas.RULE_CREATE, schemas.RULE_UPDATE, schemas.RULE_QUERY),
    Resource("router", "routers", "routers", schemas.ROUTER_CREATE, schemas.ROUTER_UPDATE,
             schemas.ROUTER_QUERY),
    Resource("floatingip", "floatingips", "floatingips", schemas.FIP_CREATE,
             schemas.FIP_UPDATE, schemas.FIP_QUERY),
    Resource("subnetpool", "subnetpools", "subnetpools", schemas.POOL_CREATE,
             schemas.POOL_UPDATE, schemas.POOL_QUERY),
]
#: fields a client may never write (status is silently dropped, as Neutron does)
READ_ONLY = ("id", "project_id", "tenant_id", "created_at", "updated_at", "revision_number")


def _list(request: Request, ctx: RequestContext, res: Resource) -> Response:
    params = _check_each(request, res.query)
    page = _svc(request).page(res.singular, ctx, params)
    fields = _fields(request)
    items = page.items
    if fields:
        items = [{k: v for k, v in x.items() if k in fields} for x in items]
    body: dict[str, Any] = {res.collection: items}
    if page.next_marker is not None:
        query = [(k, v) for k, v in params if k != "marker"] + [("marker", page.next_marker)]
        body[f"{res.collection}_links"] = [{
            "rel": "next", "href": f"{_base(request)}/v2.0/{res.path}?{urlencode(query)}"}]
    return json_response(body)


def _show(request: Request, ctx: RequestContext, res: Resource, ident: str) -> Response:
    item = _svc(request).show(res.singular, ctx, ident)
    fields = _fields(request)
    if fields:
        item = {k: v for k, v in item.items() if k in fields}
    return json_response({res.singular: item})


def _register(res: Resource) -> None:
    base = f"/v2.0/{res.path}"

    @router.get(base, name=f"list_{res.collection}")
    @accepts(query=res.query)
    def list_(request: Request, ctx: RequestContext = Ctx) -> Response:
        return _list(request, ctx, res)

    @router.post(base, name=f"create_{res.singular}", status_code=201)
    @accepts(body=res.create)
    async def create(request: Request, body: Any = JSON, ctx: RequestContext = Ctx
                     ) -> Response:
        doc = body
        coll = _svc(request).collection(res.singular)
        if isinstance(doc, dict) and isinstance(doc.get(res.collection), list):
            # bulk create: all or nothing
            made = []
            try:
                for item in doc[res.collection]:
                    if not isinstance(item, dict):
                        raise errors.bulk_item_invalid()
                    made.append(await asyncio.to_thread(coll.create, ctx, item))
            except Exception:
                for x in reversed(made):
                    await asyncio.to_thread(coll.delete, ctx, x["id"])
                raise
            return json_response({res.collection: made}, 201)
        if not isinstance(doc, dict) or not isinstance(doc.get(res.singular), dict):
            raise errors.resource_body_required(res.singular)
        out = await asyncio.to_thread(coll.create, ctx, dict(doc[res.singular]))
        return json_response({res.singular: out}, 201)

    @router.get(base + "/{ident}", name=f"show_{res.singular}")
    @accepts(query=schemas.SHOW_QUERY)
    def show(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        _check_each(request, schemas.SHOW_QUERY)
        return _show(request, ctx, res, ident)

    @router.put(base + "/{ident}", name=f"update_{res.singular}")
    @accepts(body=res.update)
    async def update(ident: str, request: Request, body: Any = JSON,
                     ctx: RequestContext = Ctx) -> Response:
        changes = _wrapped(body, res.singular)
        for key in READ_ONLY:
            if key in changes:
                raise errors.read_only(key)
        changes.pop("status", None)
        out = await asyncio.to_thread(_svc(request).collection(res.singular).update, ctx,
                                      ident, changes, request.headers.get("if-match"))
        return json_response({res.singular: out})

    @router.delete(base + "/{ident}", name=f"delete_{res.singular}", status_code=204)
    def delete_(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        _svc(request).collection(res.singular).delete(ctx, ident)
        return Response(status_code=204)

    if res.singular != "security_group_rule":
        _register_tags(res, base)


def _register_tags(res: Resource, base: str) -> None:
    kind = res.singular

    @router.get(base + "/{ident}/tags", name=f"tags_{kind}")
    def get_tags(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        return json_response({"tags": _svc(request).tags.get(kind, ctx, ident)})

    @router.put(base + "/{ident}/tags", name=f"replace_tags_{kind}")
    @accepts(body=schemas.TAGS)
    async def replace_tags(ident: str, request: Request, body: Any = JSON,
                           ctx: RequestContext = Ctx) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
            raise errors.invalid_tags_body()
        tags = await asyncio.to_thread(_svc(request).tags.replace, kind, ctx, ident,
                                       body["tags"])
        return json_response({"tags": tags})

    @router.put(base + "/{ident}/tags/{tag}", name=f"add_tag_{kind}", status_code=201)
    def add_tag(ident: str, tag: str, request: Request, ctx: RequestContext = Ctx
                ) -> Response:
        _svc(request).tags.add(kind, ctx, ident, tag)
        return Response(status_code=201)

    @router.get(base + "/{ident}/tags/{tag}", name=f"check_tag_{kind}", status_code=204)
    def check_tag(ident: str, tag: str, request: Request, ctx: RequestContext = Ctx
                  ) -> Response:
        _svc(request).tags.check(kind, ctx, ident, tag)
        return Response(status_code=204)

    @router.delete(base + "/{ident}/tags/{tag}", name=f"remove_tag_{kind}",
                   status_code=204)
    def remove_tag(ident: str, tag: str, request: Request, ctx: RequestContext = Ctx
                   ) -> Response:
        _svc(request).tags.remove(kind, ctx, ident, tag)
        return Response(status_code=204)

    @router.delete(base + "/{ident}/tags", name=f"clear_tags_{kind}", status_code=204)
    def clear_tags(ident: str, request: Request, ctx: RequestContext = Ctx) -> Response:
        _svc(request).tags.clear(kind, ctx, ident)
        return Response(status_code=204)


for _res in RESOURCES:
    _register(_res)


@router.get("")
@router.get("/")
def versions(request: Request) -> Response:
    return json_response({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"rel": "self", "href": f"{_base(request)}/v2.0/"}]}]})


@router.get("/v2.0")
@router.get("/v2.0/")
def resources(request: Request) -> Response:
    return json_response({"resources": [
        {"name": r.singular, "collection": r.path,
         "links": [{"rel": "self", "href": f"{_base(request)}/v2.0/{r.path}"}]}
        for r in RESOURCES]})


@router.get("/v2.0/extensions", name="extensions")
def list_extensions(request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"extensions": extensions.listing()})


@router.get("/v2.0/extensions/{alias}")
def extension(alias: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return json_response({"extension": extensions.find(alias)})


@router.put("/v2.0/routers/{router_id}/add_router_interface")
@accepts(body=schemas.ROUTER_INTERFACE)
async def add_router_interface(router_id: str, request: Request, body: Any = JSON,
                               ctx: RequestContext = Ctx) -> Response:
    out = await asyncio.to_thread(_svc(request).routers.add_interface, ctx, router_id, body)
    return json_response(out)


@router.put("/v2.0/routers/{router_id}/remove_router_interface")
@accepts(body=schemas.ROUTER_INTERFACE)
async def remove_router_interface(router_id: str, request: Request, body: Any = JSON,
                                  ctx: RequestContext = Ctx) -> Response:
    out = await asyncio.to_thread(_svc(request).routers.remove_interface, ctx, router_id,
                                  body)
    return json_response(out)


@router.get("/v2.0/service-providers", name="list_service_providers")
@accepts(query=schemas.PROVIDER_QUERY)
def list_service_providers(request: Request, ctx: RequestContext = Ctx) -> Response:
    params = _check_each(request, schemas.PROVIDER_QUERY)
    items = extensions.service_providers()
    for k, v in params:
        if k == "fields":
            continue
        items = [x for x in items if str(x[k]).lower() == v.lower()]
    fields = _fields(request)
    if fields:
        items = [{k: v for k, v in x.items() if k in fields} for x in items]
    return json_response({"service_providers": items})


@router.get("/v2.0/agents", name="list_agents")
@accepts(query=schemas.AGENT_QUERY)
def list_agents(request: Request, ctx: RequestContext = Ctx) -> Response:
    params = _check_each(request, schemas.AGENT_QUERY)
    items = _svc(request).agents.list_agents(ctx, params)
    fields = _fields(request)
    if fields:
        items = [{k: v for k, v in x.items() if k in fields} for x in items]
    return json_response({"agents": items})


@router.get("/v2.0/agents/{agent_id}", name="show_agent")
@accepts(query=schemas.SHOW_QUERY)
def show_agent(agent_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    item = _svc(request).agents.show(ctx, agent_id)
    fields = _fields(request)
    if fields:
        item = {k: v for k, v in item.items() if k in fields}
    return json_response({"agent": item})


@router.put("/v2.0/agents/{agent_id}", name="update_agent")
@accepts(body=schemas.AGENT_UPDATE)
async def update_agent(agent_id: str, request: Request, body: Any = JSON,
                       ctx: RequestContext = Ctx) -> Response:
    item = await asyncio.to_thread(_svc(request).agents.update, ctx, agent_id, body["agent"])
    return json_response({"agent": item})


@router.delete("/v2.0/agents/{agent_id}", name="delete_agent", status_code=204)
def delete_agent(agent_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    _svc(request).agents.delete(ctx, agent_id)
    return Response(status_code=204)


@router.get("/v2.0/quotas/{project_id}")
def show_quota(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    policy.check_quota_reader(ctx, project_id)
    return json_response({"quota": _svc(request).quotas.limits(project_id)})


@router.get("/v2.0/quotas/{project_id}/details")
def quota_details(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    policy.check_quota_reader(ctx, project_id)
    return json_response({"quota": _svc(request).quotas.details(project_id)})


@router.put("/v2.0/quotas/{project_id}")
@accepts(body=schemas.QUOTA_UPDATE)
async def update_quota(project_id: str, request: Request, body: Any = JSON,
                       ctx: RequestContext = Ctx) -> Response:
    policy.check_quota_admin(ctx, "update")
    out = await asyncio.to_thread(_svc(request).quotas.set, project_id,
                                  _wrapped(body, "quota"))
    return json_response({"quota": out})


@router.delete("/v2.0/quotas/{project_id}", status_code=204)
def delete_quota(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    policy.check_quota_admin(ctx, "reset")
    _svc(request).quotas.reset(project_id)
    return Response(status_code=204)


def setup(app: FastAPI) -> None:
    from overcast.bus.messages import (
        Message,
        MetadataReply,
        MetadataRequest,
        NetworkDesired,
        NetworkDesiredReply,
        Resync,
    )

    settings = app.state.settings
    svc = NetworkService(app.state.db, uplink_mtu=getattr(settings, "uplink_mtu", 1400))
    app.state.network = svc

    async def start_engine(app: FastAPI) -> None:
        """Answer the agents: what each host's networks should be, and metadata."""
        bus = getattr(app.state, "bus", None)
        compute = getattr(app.state, "compute", None)
        if bus is None or compute is None:
            return

        from overcast.compute.metadata import MetadataService

        meta = MetadataService(app.state.db, svc.address_owner, svc.ports_for_instance,
                               svc.floating_of)

        async def handle(msg: Message) -> Any:
            if isinstance(msg, NetworkDesired):
                return NetworkDesiredReply.from_body(await asyncio.to_thread(
                    svc.desired, msg.host, msg.network_host, msg.also, msg.tunnel_ip))
            if isinstance(msg, MetadataRequest):
                status, ctype, body = await asyncio.to_thread(
                    meta.answer, msg.network_id, msg.address, msg.path)
                return MetadataReply.of(status, ctype, body)
            return None

        await bus.subscribe("network", handle)

    async def start(app: FastAPI) -> None:
        """Tell the agents of changes made in this process (any API worker)."""
        bus = getattr(app.state, "bus", None)
        if bus is None or getattr(app.state, "compute", None) is None:
            return
        # Every host converges on a change (each one asks for only what it holds).
        # Changes are coalesced: the API thread only flags one, and one broadcast
        # on the event loop covers every change made before it runs, so a burst of
        # port creates neither waits on the loop nor floods the agents.
        loop = asyncio.get_running_loop()
        flag = threading.Lock()
        pending = [False]

        async def broadcast() -> None:
            with flag:
                pending[0] = False
            for host in await asyncio.to_thread(svc.agent_hosts):
                await bus.cast(f"agent.{host}", Resync(scope="network"))

        def changed(kind: str, ident: str) -> None:
            with flag:
                if pending[0]:
                    return
                pending[0] = True
            loop.call_soon_threadsafe(start_broadcast)

        tasks: set[asyncio.Task[None]] = set()

        def start_broadcast() -> None:
            task = loop.create_task(broadcast())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        svc.on_change = changed

    app.state.specs.append(ServiceSpec(
        name="neutron", type="network", prefix="/network", error_style="neutron",
        endpoint_path="/network", routers=[router], on_startup=[start],
        on_engine_start=[start_engine]))
