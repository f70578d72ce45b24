"""The smaller resources: quota sets and limits, availability zones, services,
transfers (`/os-volume-transfer` and, from 3.55, `/volume-transfers`), attachments
(3.27+) and extensions (backups: `backups.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.schema import Schema, accepts
from overcast.volume import errors, policy, schemas, views
from overcast.volume.policy import ADMIN
from overcast.volume.routes.base import (
    JSON_BODY,
    VERSIONS,
    Ctx,
    base_url,
    next_link,
    params,
    reply,
    router,
    service,
    version,
)
from overcast.volume.services import cluster_or_host

routes = router()
V = "/v3/{project_id}"

# ----------------------------------------------------------------- quotas, limits
QUOTA_QUERY = Schema({"type": "object", "properties": {
    "usage": {"type": "string", "maxLength": 8}}, "additionalProperties": False},
    schemas.STYLE)


@routes.get(V + "/os-quota-sets/{target}")
@accepts(query=QUOTA_QUERY)
def show_quota(project_id: str, target: str, request: Request, ctx: RequestContext = Ctx
               ) -> Response:
    policy.quota_reader(ctx, target)
    usage = schemas.flag(request.query_params.get("usage", "false"))
    return reply(request, {"quota_set": service(request).quotas.show(target, usage=usage)})


@routes.get(V + "/os-quota-sets/{target}/defaults")
def quota_defaults(project_id: str, target: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    policy.quota_reader(ctx, target)
    return reply(request, {"quota_set": service(request).quotas.defaults(target)})


@routes.put(V + "/os-quota-sets/{target}", dependencies=[ADMIN])
@accepts(body=schemas.QUOTA_UPDATE)
def update_quota(project_id: str, target: str, request: Request, body: Any = JSON_BODY,
                 ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"quota_set": service(request).quotas.update(
        target, body["quota_set"])})


@routes.delete(V + "/os-quota-sets/{target}", dependencies=[ADMIN])
def reset_quota(project_id: str, target: str, request: Request, ctx: RequestContext = Ctx
                ) -> Response:
    service(request).quotas.reset(target)
    return reply(request, None, 200)


@routes.get(V + "/os-quota-class-sets/{name}")
def show_quota_class(project_id: str, name: str, request: Request,
                     ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"quota_class_set": service(request).quotas.class_show(name)})


@routes.put(V + "/os-quota-class-sets/{name}", dependencies=[ADMIN])
@accepts(body=Schema({"type": "object", "properties": {
    "quota_class_set": schemas.QUOTA_UPDATE.schema["properties"]["quota_set"]},
    "required": ["quota_class_set"], "additionalProperties": False}, schemas.STYLE))
def update_quota_class(project_id: str, name: str, request: Request,
                       body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"quota_class_set": service(request).quotas.class_update(
        name, body["quota_class_set"])})


# ----------------------------------------------------------------- clusters
# No storage host here runs in a cluster (Cinder's active-active groups of
# cinder-volume services): from 3.7 the list is empty and every cluster unknown.
CLUSTER_FILTERS = {"name", "binary", "is_up", "disabled", "num_hosts", "num_down_hosts"}
#: 3.26: the replication state of clusters is listed, and filters the list
REPLICATION_FILTERS = {"replication_status", "frozen", "active_backend_id"}


@routes.get(V + "/clusters")
@routes.get(V + "/clusters/detail")
@accepts(query=schemas.EMPTY_QUERY)
def list_clusters(project_id: str, request: Request, ctx: RequestContext = Ctx
                  ) -> Response:
    VERSIONS.require(request, "3.7")
    policy.admin(ctx, "clusters:get_all")
    allowed = CLUSTER_FILTERS | (REPLICATION_FILTERS if version(request).at_least("3.26")
                                 else set())
    unknown = set(request.query_params) - allowed
    if unknown:
        raise errors.invalid_input(f"Invalid filter keys: {', '.join(sorted(unknown))}")
    return reply(request, {"clusters": []})


@routes.get(V + "/clusters/{name}")
def show_cluster(project_id: str, name: str, request: Request, ctx: RequestContext = Ctx
                 ) -> Response:
    VERSIONS.require(request, "3.7")
    policy.admin(ctx, "clusters:get")
    raise NotFound(f"Cluster {name} could not be found.")


@routes.put(V + "/clusters/{action}")
@accepts(body=Schema({"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 255},
    "binary": {"type": "string", "maxLength": 255},
    "disabled_reason": {"type": ["string", "null"], "maxLength": 255}},
    "required": ["name"], "additionalProperties": False}, schemas.STYLE))
def update_cluster(project_id: str, action: str, request: Request, body: Any = JSON_BODY,
                   ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.7")
    policy.admin(ctx, "clusters:update")
    raise NotFound(f"Cluster {body['name']} could not be found.")


@routes.get(V + "/limits")
@accepts(query=Schema({"type": "object", "properties": {"project_id": {
    "type": "string", "maxLength": 255}}, "additionalProperties": False}, schemas.STYLE))
def limits(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    target = ctx.project_id or ""
    wanted = request.query_params.get("project_id")
    if wanted and version(request).at_least("3.39") and wanted != target:
        policy.admin(ctx, "limits_extension:used_limits")
        target = wanted
    return reply(request, {"limits": {"rate": [], "absolute": service(
        request).quotas.absolute_limits(target)}})


# ----------------------------------------------------------------- zones, services
@routes.get(V + "/os-availability-zone")
def zones(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"availabilityZoneInfo": service(request).services.zones()})


@routes.get(V + "/os-services", dependencies=[ADMIN])
@accepts(query=schemas.EMPTY_QUERY)
def list_services(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"services": service(request).services.listing(
        version(request), params(request))})


SERVICE_UPDATE = Schema({"type": "object", "properties": {
    "host": {"type": "string", "maxLength": 255}, "binary": {"type": "string",
                                                              "maxLength": 255},
    "disabled_reason": {"type": ["string", "null"], "maxLength": 255}},
    "required": ["host", "binary"], "additionalProperties": False}, schemas.STYLE)


LOG_BODY = Schema({"type": "object", "properties": {
    "level": {"type": "string", "enum": ["INFO", "WARNING", "ERROR", "DEBUG", "info",
                                         "warning", "error", "debug"]},
    "binary": {"type": "string", "maxLength": 255},
    "server": {"type": "string", "maxLength": 255},
    "prefix": {"type": "string", "maxLength": 255}},
    "additionalProperties": False}, schemas.STYLE)


@routes.put(V + "/os-services/set-log", status_code=202, dependencies=[ADMIN])
@accepts(body=LOG_BODY)
def set_log(project_id: str, request: Request, body: Any = JSON_BODY,
            ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.32")
    if "level" not in body:
        raise errors.invalid_input("'level' must be given.")
    service(request).services.set_log(body["level"], body.get("binary", ""),
                                      body.get("server", ""), body.get("prefix", ""))
    return reply(request, None, 202)


@routes.put(V + "/os-services/get-log", dependencies=[ADMIN])
@accepts(body=LOG_BODY)
def get_log(project_id: str, request: Request, body: Any = JSON_BODY,
            ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.32")
    return reply(request, {"log_levels": service(request).services.get_log(
        body.get("binary", ""), body.get("server", ""), body.get("prefix", ""))})


# replication: no backend replicates (failover is refused as Cinder refuses it for
# such a backend); freeze and thaw disable and enable with the reason `frozen`
@routes.put(V + "/os-services/freeze", dependencies=[ADMIN])
@accepts(body=schemas.FREEZE_THAW)
def freeze(project_id: str, request: Request, body: Any = JSON_BODY,
           ctx: RequestContext = Ctx) -> Response:
    cluster, host = cluster_or_host(body, version(request).at_least("3.26"))
    service(request).services.freeze(host, cluster, True)
    return reply(request, None, 200)


@routes.put(V + "/os-services/thaw", dependencies=[ADMIN])
@accepts(body=schemas.FREEZE_THAW)
def thaw(project_id: str, request: Request, body: Any = JSON_BODY,
         ctx: RequestContext = Ctx) -> Response:
    cluster, host = cluster_or_host(body, version(request).at_least("3.26"))
    service(request).services.freeze(host, cluster, False)
    return reply(request, None, 200)


@routes.put(V + "/os-services/failover_host", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.FAILOVER)
def failover_host(project_id: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    cluster, host = cluster_or_host(body, version(request).at_least("3.26"))
    service(request).services.failover(host, cluster)
    return reply(request, None, 202)


@routes.put(V + "/os-services/failover", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.FAILOVER)
def failover(project_id: str, request: Request, body: Any = JSON_BODY,
             ctx: RequestContext = Ctx) -> Response:
    """3.26: `failover_host` under the name that also takes a cluster."""
    VERSIONS.require(request, "3.26")
    cluster, host = cluster_or_host(body, True)
    service(request).services.failover(host, cluster)
    return reply(request, None, 202)


@routes.put(V + "/os-services/{action}", dependencies=[ADMIN])
@accepts(body=SERVICE_UPDATE)
def update_service(project_id: str, action: str, request: Request, body: Any = JSON_BODY,
                   ctx: RequestContext = Ctx) -> Response:
    if action not in ("enable", "disable", "disable-log-reason"):
        raise NotFound("Unknown action")
    if action == "disable-log-reason" and not (body.get("disabled_reason") or "").strip():
        # Cinder's schema: the reason is a non-empty string
        raise errors.invalid_input("disabled_reason must be a non-empty string.")
    out = service(request).services.set_enabled(body["host"], body["binary"],
                                                action == "enable",
                                                body.get("disabled_reason"))
    return reply(request, out)


# ----------------------------------------------------------------- workers (3.24)
@routes.post(V + "/workers/cleanup", status_code=202, dependencies=[ADMIN])
@accepts(body=schemas.WORKERS_CLEANUP)
def workers_cleanup(project_id: str, request: Request, body: Any = JSON_BODY,
                    ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.24")
    return reply(request, service(request).workers.cleanup(body or {}), 202)


@routes.get(V + "/scheduler-stats/get_pools", dependencies=[ADMIN])
@accepts(query=Schema({"type": "object", "properties": {"detail": {
    "type": "string", "maxLength": 8}}, "additionalProperties": {"type": "string"}},
    schemas.STYLE))
def get_pools(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    detail = schemas.flag(request.query_params.get("detail", "false"))
    return reply(request, {"pools": service(request).services.pools(detail)})


@routes.get(V + "/capabilities/{host}", dependencies=[ADMIN])
def capabilities(project_id: str, host: str, request: Request, ctx: RequestContext = Ctx
                 ) -> Response:
    return reply(request, service(request).services.capabilities(host))


@routes.get(V + "/os-hosts", dependencies=[ADMIN])
def hosts(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"hosts": service(request).services.hosts()})


@routes.get(V + "/os-hosts/{host}", dependencies=[ADMIN])
def show_host(project_id: str, host: str, request: Request, ctx: RequestContext = Ctx
              ) -> Response:
    return reply(request, {"host": service(request).services.host_usage(host)})


# ----------------------------------------------------------------- transfers
def _transfer_routes(path: str, gate: str | None) -> None:
    def gated(request: Request) -> None:
        if gate:
            VERSIONS.require(request, gate)

    @routes.get(V + path, name=f"list_transfers{path}")
    @accepts(query=schemas.LIST_QUERY)
    def list_transfers(project_id: str, request: Request, ctx: RequestContext = Ctx
                       ) -> Response:
        gated(request)
        return reply(request, {"transfers": service(request).transfers.listing(
            ctx, params(request), base_url(request), version(request), False)})

    @routes.get(V + path + "/detail", name=f"list_transfers_detail{path}")
    @accepts(query=schemas.LIST_QUERY)
    def list_transfers_detail(project_id: str, request: Request, ctx: RequestContext = Ctx
                              ) -> Response:
        gated(request)
        return reply(request, {"transfers": service(request).transfers.listing(
            ctx, params(request), base_url(request), version(request), True)})

    @routes.post(V + path, status_code=202, name=f"create_transfer{path}")
    @accepts(body=schemas.TRANSFER_CREATE)
    def create_transfer(project_id: str, request: Request, body: Any = JSON_BODY,
                        ctx: RequestContext = Ctx) -> Response:
        gated(request)
        return reply(request, {"transfer": service(request).transfers.create(
            ctx, body, base_url(request), version(request))}, 202)

    @routes.get(V + path + "/{transfer_id}", name=f"show_transfer{path}")
    def show_transfer(project_id: str, transfer_id: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
        gated(request)
        return reply(request, {"transfer": service(request).transfers.show(
            ctx, transfer_id, base_url(request), version(request))})

    @routes.delete(V + path + "/{transfer_id}", status_code=202,
                   name=f"delete_transfer{path}")
    def delete_transfer(project_id: str, transfer_id: str, request: Request,
                        ctx: RequestContext = Ctx) -> Response:
        gated(request)
        service(request).transfers.delete(ctx, transfer_id)
        return reply(request, None, 202)

    @routes.post(V + path + "/{transfer_id}/accept", status_code=202,
                 name=f"accept_transfer{path}")
    @accepts(body=schemas.TRANSFER_ACCEPT)
    def accept_transfer(project_id: str, transfer_id: str, request: Request,
                        body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
        gated(request)
        return reply(request, {"transfer": service(request).transfers.accept(
            ctx, transfer_id, body["accept"]["auth_key"], base_url(request),
            version(request))}, 202)


_transfer_routes("/os-volume-transfer", None)
_transfer_routes("/volume-transfers", "3.55")


# ----------------------------------------------------------------- attachments
@routes.get(V + "/attachments")
@accepts(query=schemas.LIST_QUERY)
def list_attachments(project_id: str, request: Request, ctx: RequestContext = Ctx
                     ) -> Response:
    VERSIONS.require(request, "3.27")
    rows = service(request).attachments.listing(ctx, params(request))
    return reply(request, {"attachments": [views.attachment(
        a, detail=False, ver=version(request)) for a in rows]})


@routes.get(V + "/attachments/detail")
@accepts(query=schemas.LIST_QUERY)
def list_attachments_detail(project_id: str, request: Request, ctx: RequestContext = Ctx
                            ) -> Response:
    VERSIONS.require(request, "3.27")
    rows = service(request).attachments.listing(ctx, params(request))
    return reply(request, {"attachments": [views.attachment(
        a, detail=True, ver=version(request)) for a in rows]})


@routes.get(V + "/attachments/{attachment_id}")
def show_attachment(project_id: str, attachment_id: str, request: Request,
                    ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.27")
    a = service(request).attachments.show(ctx, attachment_id)
    return reply(request, {"attachment": views.attachment(a, detail=True,
                                                          ver=version(request))})


@routes.post(V + "/attachments")
@accepts(body=schemas.ATTACHMENT_CREATE)
def create_attachment(project_id: str, request: Request, body: Any = JSON_BODY,
                      ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.27")
    req = body["attachment"]
    if not req.get("instance_uuid"):
        raise errors.invalid_input("Must specify 'instance_uuid' to create attachment.")
    mode = req.get("mode") if version(request).at_least("3.54") else None
    a = service(request).attachments.create(ctx, req["volume_uuid"], req["instance_uuid"],
                                            req.get("connector"), mode)
    return reply(request, {"attachment": views.attachment(a, detail=True,
                                                          ver=version(request))})


@routes.put(V + "/attachments/{attachment_id}")
@accepts(body=schemas.ATTACHMENT_UPDATE)
def update_attachment(project_id: str, attachment_id: str, request: Request,
                      body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.27")
    a = service(request).attachments.update(ctx, attachment_id,
                                            body["attachment"]["connector"])
    return reply(request, {"attachment": views.attachment(a, detail=True,
                                                          ver=version(request))})


@routes.delete(V + "/attachments/{attachment_id}")
def delete_attachment(project_id: str, attachment_id: str, request: Request,
                      ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.27")
    left = service(request).attachments.delete(ctx, attachment_id)
    return reply(request, {"attachments": [views.attachment(
        a, detail=False, ver=version(request)) for a in left]})


@routes.post(V + "/attachments/{attachment_id}/action", status_code=204)
@accepts(body=schemas.ATTACHMENT_ACTION)
def attachment_action(project_id: str, attachment_id: str, request: Request,
                      body: Any = JSON_BODY, ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.44")
    service(request).attachments.complete(ctx, attachment_id)
    return reply(request, None, 204)


# ----------------------------------------------------------------- user messages
@routes.get(V + "/messages")
@accepts(query=schemas.LIST_QUERY)
def list_messages(project_id: str, request: Request, ctx: RequestContext = Ctx
                  ) -> Response:
    VERSIONS.require(request, "3.3")
    q = params(request)
    if not version(request).at_least("3.5"):
        for key in ("limit", "marker", "sort", "sort_key", "sort_dir", "offset"):
            q.pop(key, None)
    items, more = service(request).messages.listing(ctx, q, base_url(request))
    body: dict[str, Any] = {"messages": items}
    if more:
        body["messages_links"] = next_link(request, project_id, "messages", more)
    return reply(request, body)


@routes.get(V + "/messages/{message_id}")
def show_message(project_id: str, message_id: str, request: Request,
                 ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.3")
    return reply(request, {"message": service(request).messages.show(
        ctx, message_id, base_url(request))})


@routes.delete(V + "/messages/{message_id}", status_code=204)
def delete_message(project_id: str, message_id: str, request: Request,
                   ctx: RequestContext = Ctx) -> Response:
    VERSIONS.require(request, "3.3")
    service(request).messages.delete(ctx, message_id)
    return reply(request, None, 204)


# ----------------------------------------------------------------- resource filters
#: the list filters each resource's listing honours (3.33: /resource_filters)
RESOURCE_FILTERS = {
    "volume": ["name", "status", "metadata", "bootable", "availability_zone",
               "glance_metadata", "size", "volume_type", "user_id", "group_id", "name~",
               "status~"],
    "snapshot": ["name", "status", "volume_id", "metadata"],
    "attachment": ["volume_id", "status", "instance_id", "attach_status"],
    "transfer": [],
    "backup": [],
    "pool": [],
}


@routes.get(V + "/resource_filters")
@accepts(query=Schema({"type": "object", "properties": {"resource": {
    "type": "string", "maxLength": 64}}, "additionalProperties": False}, schemas.STYLE))
def resource_filters(project_id: str, request: Request, ctx: RequestContext = Ctx
                     ) -> Response:
    VERSIONS.require(request, "3.33")
    wanted = request.query_params.get("resource")
    return reply(request, {"resource_filters": [
        {"resource": r, "filters": f} for r, f in RESOURCE_FILTERS.items()
        if wanted in (None, r)]})


# ----------------------------------------------------------------- extensions
EXTENSIONS = [
    ("os-admin-actions", "AdminActions", "Enable admin actions."),
    ("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes",
     "Extended SnapshotAttributes support."),
    ("os-quota-sets", "Quotas", "Quota management support."),
    ("os-quota-class-sets", "QuotaClasses", "Quota classes management support."),
    ("qos-specs", "Qos_specs_manage", "QoS specs support."),
    ("scheduler-stats", "Scheduler_stats", "Scheduler stats support."),
    ("capabilities", "Capabilities", "Capabilities support."),
    ("os-hosts", "Hosts", "Admin-only host administration."),
    ("os-services", "Services", "Services support."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
    ("os-types-manage", "TypesManage", "Types manage support."),
    ("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
    ("os-vol-image-meta", "VolumeImageMetadata",
     "Show image metadata associated with the volume."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute",
     "Expose the internal project_id as an attribute of a volume."),
    ("os-volume-actions", "VolumeActions", "Enable volume actions."),
    ("os-volume-transfer", "VolumeTransfer", "Volume transfer management support."),
    ("os-volume-type-access", "VolumeTypeAccess", "Volume type access support."),
    ("os-used-limits", "UsedLimits", "Provide data on limited resources that are being "
                                     "used."),
]


@routes.get(V + "/extensions")
def extensions(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return reply(request, {"extensions": [
        {"alias": a, "name": n, "description": d, "links": [],
         "updated": "2013-01-01T00:00:00+00:00"} for a, n, d in EXTENSIONS]})
