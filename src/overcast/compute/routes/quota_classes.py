"""Quota classes (`/os-quota-class-sets`, admin-only): the `default` class is what
every project gets where it has no limit of its own (`compute.quotas`). Below 2.50 a
class has the network resources and not the server groups', as in Nova; from 2.57 it
has no personality-file quotas."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from overcast.compute import schemas
from overcast.compute.policy import ADMIN
from overcast.compute.routes.base import JSON_BODY, reply, router, service, version
from overcast.kit.microversion import APIVersion
from overcast.kit.schema import accepts

routes = router()


def _class_keys(v: APIVersion) -> list[str]:
    """A quota class's fields: the network quotas until 2.50, server groups from it."""
    keys = ["instances", "cores", "ram", "metadata_items", "key_pairs", "injected_files",
            "injected_file_content_bytes", "injected_file_path_bytes"]
    if v.at_least("2.57"):  # no more personality files (nor their quotas)
        keys = [k for k in keys if k not in schemas.FILE_QUOTAS]
    if v.at_least("2.50"):
        return keys + ["server_groups", "server_group_members"]
    return keys + ["floating_ips", "fixed_ips", "security_groups", "security_group_rules"]


@routes.get("/v2.1/os-quota-class-sets/{class_name}", dependencies=[ADMIN])
def show_quota_class(class_name: str, request: Request) -> Response:
    limits = service(request).quotas.show_class(class_name)
    body: dict[str, Any] = {"id": class_name}
    body.update({k: limits[k] for k in _class_keys(version(request))})
    return reply(request, {"quota_class_set": body})


@routes.put("/v2.1/os-quota-class-sets/{class_name}", dependencies=[ADMIN])
@accepts(body=schemas.QUOTA_CLASS_UPDATE)
def update_quota_class(class_name: str, request: Request, body: Any = JSON_BODY) -> Response:
    keys = _class_keys(version(request))
    accepted = keys + (["server_groups", "server_group_members"]
                       if not version(request).at_least("2.50") else [])
    values = schemas.quota_set(body, accepted, "quota_class_set")
    limits = service(request).quotas.set_class(class_name, values)
    return reply(request, {"quota_class_set": {k: limits[k] for k in keys}})
