"""Nova's `/extensions` (the v2.0 extension list, frozen since v2.1 made every
extension part of the API) and `GET /v2/`, the version document of the v2.0 entry
the root document lists.

The list names the legacy extensions whose APIs this compute service answers (each by
Nova's own name, alias and wording), plus `os-consoles`, which Nova's frozen list
still carries although Nova itself answers its API with 410 Gone.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from overcast.compute.routes.base import base_url, reply, router
from overcast.kit.errors import NotFound

routes = router()
#: the v2.0 document needs a token, as Nova's (it is behind the same middleware)
v20 = router()

#: (name, alias, description), as Nova's extension_info names them
EXTENSIONS: list[tuple[str, str, str]] = [
    ("AdminActions", "os-admin-actions", "Enable admin-only server actions."),
    ("Aggregates", "os-aggregates", "Admin-only aggregate administration."),
    ("AvailabilityZone", "os-availability-zone", "1. Add availability_zone to the Create "
     "Server API. 2. Add availability zones describing."),
    ("Consoles", "os-consoles", "Interactive Console support."),
    ("ExtendedServerAttributes", "OS-EXT-SRV-ATTR", "Extended Server Attributes support."),
    ("ExtendedStatus", "OS-EXT-STS", "Extended Status support."),
    ("FlavorAccess", "os-flavor-access", "Flavor access support."),
    ("FlavorExtraSpecs", "os-flavor-extra-specs", "Flavors extra specs support."),
    ("FlavorManage", "os-flavor-manage", "Flavor create/delete API support."),
    ("Flavors", "flavors", "Flavors Extension."),
    ("FloatingIpPools", "os-floating-ip-pools", "Floating IPs support."),
    ("FloatingIps", "os-floating-ips", "Floating IPs support."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("Hypervisors", "os-hypervisors", "Admin-only hypervisor administration."),
    ("Images", "images", "Images."),
    ("ImageMetadata", "image-metadata", "Image Metadata API."),
    ("InstanceActions", "os-instance-actions", "View a log of actions and events taken on "
     "an instance."),
    ("Keypairs", "os-keypairs", "Keypair Support."),
    ("Migrations", "os-migrations", "Provide data on migrations."),
    ("Networks", "os-networks", "Admin-only Network Management Extension."),
    ("SimpleTenantUsage", "os-simple-tenant-usage", "Simple tenant usage extension."),
    ("TenantNetworks", "os-tenant-networks", "Tenant-based Network Management Extension."),
    ("Quotas", "os-quota-sets", "Quotas management support."),
    ("SecurityGroups", "os-security-groups", "Security group support."),
    ("ServerExternalEvents", "os-server-external-events", "Server External Event "
     "Triggers."),
    ("ServerGroups", "os-server-groups", "Server group support."),
    ("ServerMetadata", "server-metadata", "Server metadata Support."),
    ("Servers", "servers", "Servers."),
    ("Services", "os-services", "Services support."),
    ("Volumes", "os-volumes", "Volumes support."),
]


def _extension(name: str, alias: str, description: str) -> dict[str, Any]:
    return {"name": name, "alias": alias, "description": description,
            "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
            "updated": "2014-12-03T00:00:00Z", "links": []}


@routes.get("/v2.1/extensions")
def list_extensions(request: Request) -> Response:
    return reply(request, {"extensions": [_extension(*e) for e in EXTENSIONS]})


@routes.get("/v2.1/extensions/{alias}")
def show_extension(alias: str, request: Request) -> Response:
    for e in EXTENSIONS:
        if e[1] == alias:
            return reply(request, {"extension": _extension(*e)})
    raise NotFound("The resource could not be found.")


@v20.get("/v2")
@v20.get("/v2/")
def version_v20(request: Request) -> Response:
    """The v2.0 entry's own document: no microversions, the v2.1 code underneath."""
    return JSONResponse({"version": {
        "id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
        "updated": "2025-07-04T12:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}/v2/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2"}]}})
