"""Overview: the project's quota usage as charts, and what is running.

Compute's quota details (`os-quota-sets/{project}/detail`) give instances, vCPUs and
RAM; Neutron's (`quotas/{project}/details`) floating IPs and security groups; block
storage's volumes and gigabytes when the catalog has it. The three calls run at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overcast.dashboard.charts import donut
from overcast.dashboard.client import API, COMPUTE, NETWORK, VOLUME, APIError
from overcast.dashboard.web import console, services

router = APIRouter()


async def _volume_quota(api: API, project_id: str) -> dict[str, Any]:
    try:
        body = await api.get(f"{VOLUME}/{project_id}/os-quota-sets/{project_id}", usage="true")
        return dict(body.get("quota_set", {}))
    except APIError:
        return {}


def _usage(entry: Any) -> tuple[float, float]:
    """(used, limit) from Nova's {in_use, limit} or Neutron's {used, limit}."""
    if not isinstance(entry, dict):
        return 0.0, -1.0
    used = entry.get("in_use", entry.get("used", 0)) or 0
    return float(used), float(entry.get("limit", -1))


@router.get("/")
async def overview(request: Request) -> Response:
    ctx = await console(request)
    pid = ctx.session.project_id
    has_volumes = bool({"volume", "volumev3", "block-storage"} & services(request))
    nova, neutron, servers, cinder = await asyncio.gather(
        ctx.api.get(f"{COMPUTE}/os-quota-sets/{pid}/detail"),
        ctx.api.get(f"{NETWORK}/quotas/{pid}/details"),
        ctx.api.get(f"{COMPUTE}/servers/detail", limit=10),
        _volume_quota(ctx.api, pid) if has_volumes else asyncio.sleep(0, {}))
    q, nq = nova["quota_set"], neutron["quota"]
    ram_used, ram_limit = _usage(q.get("ram"))
    charts = [donut("Instances", *_usage(q.get("instances"))),
              donut("vCPUs", *_usage(q.get("cores"))),
              donut("RAM", ram_used / 1024, ram_limit / 1024 if ram_limit > 0 else ram_limit,
                    unit=" GiB"),
              donut("Floating IPs", *_usage(nq.get("floatingip"))),
              donut("Security groups", *_usage(nq.get("security_group")))]
    if cinder:
        charts += [donut("Volumes", *_usage(cinder.get("volumes"))),
                   donut("Volume storage", *_usage(cinder.get("gigabytes")), unit=" GB")]
    return ctx.render("overview.html", charts=charts, servers=servers["servers"])
