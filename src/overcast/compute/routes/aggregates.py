"""Host aggregates (`os-aggregates`): create, show, list, update, delete, and the
actions add_host, remove_host and set_metadata; from 2.81 the images to cache on its
hosts. Admin-only. The domain (zones and the Placement mirror) is
`compute.aggregates`."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.bus.messages import CacheImages
from overcast.compute import schemas
from overcast.compute.aggregates import AZ_KEY, AggregateService, AggregateView
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    reply,
    router,
    service,
    version,
)
from overcast.compute.views import usage_time
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.schema import accepts

routes = router()


def _aggregates(request: Request) -> AggregateService:
    compute = service(request)
    return AggregateService(compute.db, compute.placement)


def _view(request: Request, a: AggregateView, full: bool = True) -> dict[str, Any]:
    """Nova's aggregate: its zone, times and (but on create) hosts and metadata; the
    uuid from 2.41."""
    body: dict[str, Any] = {
        "id": a.row.id, "name": a.row.name, "availability_zone": a.metadata.get(AZ_KEY),
        "created_at": usage_time(a.row.created_at), "updated_at": usage_time(a.row.updated_at),
        "deleted": False, "deleted_at": None}
    if full:
        body.update(hosts=a.hosts, metadata=a.metadata)
    if version(request).at_least("2.41"):
        body["uuid"] = a.row.uuid
    return body


@routes.get("/v2.1/os-aggregates", dependencies=[ADMIN])
def list_aggregates(request: Request) -> Response:
    return reply(request, {"aggregates": [_view(request, a)
                                          for a in _aggregates(request).list_all()]})


@routes.post("/v2.1/os-aggregates", dependencies=[ADMIN])
@accepts(body=schemas.AGGREGATE_CREATE)
def create_aggregate(request: Request, body: Any = JSON_BODY) -> Response:
    agg = body["aggregate"]
    made = _aggregates(request).create(agg["name"], agg.get("availability_zone"))
    return reply(request, {"aggregate": _view(request, made, full=False)})


@routes.get("/v2.1/os-aggregates/{agg_id}", dependencies=[ADMIN])
def show_aggregate(agg_id: str, request: Request) -> Response:
    return reply(request, {"aggregate": _view(request, _aggregates(request).show(agg_id))})


@routes.put("/v2.1/os-aggregates/{agg_id}", dependencies=[ADMIN])
@accepts(body=schemas.AGGREGATE_UPDATE)
def update_aggregate(agg_id: str, request: Request, body: Any = JSON_BODY) -> Response:
    agg = body["aggregate"]
    made = _aggregates(request).update(agg_id, agg.get("name"), agg.get("availability_zone"),
                                       "availability_zone" in agg)
    return reply(request, {"aggregate": _view(request, made)})


@routes.delete("/v2.1/os-aggregates/{agg_id}", dependencies=[ADMIN])
def delete_aggregate(agg_id: str, request: Request) -> Response:
    _aggregates(request).delete(agg_id)
    return reply(request, None, 200)


@routes.post("/v2.1/os-aggregates/{agg_id}/action", dependencies=[ADMIN])
@accepts(body=schemas.AGGREGATE_ACTION)
def aggregate_action(agg_id: str, request: Request, body: Any = JSON_BODY) -> Response:
    (name, arg), = body.items()
    aggs = _aggregates(request)
    if name == "add_host":
        made = aggs.add_host(agg_id, arg["host"])
    elif name == "remove_host":
        made = aggs.remove_host(agg_id, arg["host"])
    else:
        made = aggs.set_metadata(agg_id, arg["metadata"])
    return reply(request, {"aggregate": _view(request, made)})


@routes.post("/v2.1/os-aggregates/{agg_id}/images", dependencies=[ADMIN])
@accepts(body=schemas.AGGREGATE_IMAGES)
def cache_images(agg_id: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    """2.81: each host of the aggregate fetches these images into its image cache
    (`CacheImages`, a cast: 202 before any host has them), checked in Nova's order."""
    VERSIONS.require(request, "2.81")
    if not agg_id.lstrip("-").isdigit():
        raise BadRequest("Invalid input received: id must be an integer")
    ids = [item["id"] for item in body["cache"]]
    if len(set(ids)) != len(ids):
        raise BadRequest("Duplicate images in request")
    hosts = _aggregates(request).show(agg_id).hosts
    svc = service(request)
    for image_id in ids:
        try:
            if svc.image is None:
                raise NotFound(image_id)
            svc.image.lookup(ctx, image_id)
        except NotFound:
            raise BadRequest(f"Image {image_id} could not be found.") from None
    for host in hosts:
        svc.cast(f"agent.{host}", CacheImages(image_ids=ids))
    return reply(request, None, 202)
