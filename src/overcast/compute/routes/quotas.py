"""Quotas and limits (`/os-quota-sets`, `/limits`): a project's own, or any for an
admin; setting and resetting them is admin-only. Quota classes are
`routes/quota_classes.py`."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import policy, schemas
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import JSON_BODY, Ctx, reply, router, service, version
from overcast.kit.context import RequestContext
from overcast.kit.microversion import APIVersion
from overcast.kit.schema import accepts

routes = router()


def _keys(v: APIVersion) -> list[str]:
    keys = ["instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
            "server_group_members", "injected_files", "injected_file_content_bytes",
            "injected_file_path_bytes"]
    if not v.at_least("2.36"):
        keys += ["floating_ips", "fixed_ips", "security_groups", "security_group_rules"]
    if v.at_least("2.57"):  # personality files are gone, and their quotas with them
        keys = [k for k in keys if k not in schemas.FILE_QUOTAS]
    return keys


def _show(request: Request, ctx: RequestContext, project_id: str, detail: bool) -> Response:
    policy.quota_reader(ctx, project_id)
    limits, used = service(request).quotas.show(project_id)
    body: dict[str, Any] = {"id": project_id}
    for k in _keys(version(request)):
        body[k] = {"limit": limits[k], "in_use": used.get(k, 0), "reserved": 0} if detail \
            else limits[k]
    return reply(request, {"quota_set": body})


@routes.get("/v2.1/os-quota-sets/{project_id}")
@accepts(query=schemas.USER_QUERY)
def show_quotas(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    return _show(request, ctx, project_id, False)


@routes.get("/v2.1/os-quota-sets/{project_id}/detail")
@accepts(query=schemas.USER_QUERY)
def show_quotas_detail(project_id: str, request: Request,
                       ctx: RequestContext = Ctx) -> Response:
    return _show(request, ctx, project_id, True)


@routes.get("/v2.1/os-quota-sets/{project_id}/defaults")
def default_quotas(project_id: str, request: Request, ctx: RequestContext = Ctx) -> Response:
    body: dict[str, Any] = {"id": project_id}
    defaults = service(request).quotas.show_class("default")
    body.update({k: defaults[k] for k in _keys(version(request))})
    return reply(request, {"quota_set": body})


@routes.put("/v2.1/os-quota-sets/{project_id}", dependencies=[ADMIN])
@accepts(body=schemas.QUOTA_UPDATE, query=schemas.USER_QUERY)
def update_quotas(project_id: str, request: Request, body: Any = JSON_BODY) -> Response:
    keys = _keys(version(request))
    limits = service(request).quotas.set(project_id, schemas.quota_set(body, keys))
    return reply(request, {"quota_set": {k: limits[k] for k in keys}})


@routes.delete("/v2.1/os-quota-sets/{project_id}", dependencies=[ADMIN])
@accepts(query=schemas.USER_QUERY)
def delete_quotas(project_id: str, request: Request) -> Response:
    service(request).quotas.delete(project_id)
    return reply(request, None, 202)


@routes.get("/v2.1/limits")
@accepts(query=schemas.LIMITS_QUERY)
def limits(request: Request, ctx: RequestContext = Ctx) -> Response:
    v = version(request)
    project = policy.limits_project(ctx, request.query_params.get("tenant_id"))
    lim, used = service(request).quotas.show(project)
    absolute: dict[str, Any] = {
        "maxTotalInstances": lim["instances"], "maxTotalCores": lim["cores"],
        "maxTotalRAMSize": lim["ram"], "maxServerMeta": lim["metadata_items"],
        "maxPersonality": lim["injected_files"],
        "maxPersonalitySize": lim["injected_file_content_bytes"],
        "maxTotalKeypairs": lim["key_pairs"], "maxServerGroups": lim["server_groups"],
        "maxServerGroupMembers": lim["server_group_members"],
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": used["server_groups"]}
    if not v.at_least("2.36"):
        absolute.update({"maxSecurityGroups": -1, "maxSecurityGroupRules": -1,
                         "maxTotalFloatingIps": -1, "totalFloatingIpsUsed": 0,
                         "totalSecurityGroupsUsed": 0})
    if not v.at_least("2.39"):
        absolute["maxImageMeta"] = 128
    if v.at_least("2.57"):
        del absolute["maxPersonality"], absolute["maxPersonalitySize"]
    return reply(request, {"limits": {"rate": [], "absolute": absolute}})
