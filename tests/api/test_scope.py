"""A token scoped to no project may not act outside identity.

A truly unscoped token (a user with no default project) could create servers,
ports, floating IPs, images and keypairs owned by nobody. Nova and Neutron answer
403 to a token without a project; Glance still lets it read public images; identity
serves it (listing its projects to rescope is what such a token is for).
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Cloud
from tests.images import IMAGE, add_image


@pytest.fixture(scope="module")
def unscoped(cloud: Cloud) -> dict[str, str]:
    add_image(cloud.client, cloud.admin())
    name = f"loner-{uuid.uuid4().hex[:6]}"
    r = cloud.client.post("/identity/v3/users", headers=cloud.admin(),
                          json={"user": {"name": name, "password": "pw"}})
    assert r.status_code == 201
    token = cloud.token(name, "pw")
    return {"X-Auth-Token": token}


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/compute/v2.1/servers", {"server": {"name": "x", "flavorRef": "1",
                                                  "imageRef": IMAGE, "networks": "none"}}),
    ("GET", "/compute/v2.1/servers", None),
    ("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "k"}}),
    ("POST", "/network/v2.0/networks", {"network": {"name": "n"}}),
    ("POST", "/network/v2.0/floatingips", {"floatingip": {
        "floating_network_id": str(uuid.uuid4())}}),
    ("GET", "/network/v2.0/ports", None),
    ("POST", "/image/v2/images", {"name": "i", "disk_format": "raw",
                                  "container_format": "bare"}),
    ("GET", "/placement/resource_providers", None),
])
def test_refused_outside_identity(cloud: Cloud, unscoped: dict[str, str], method: str,
                                  path: str, body: object) -> None:
    r = cloud.client.request(method, path, headers=unscoped, json=body)
    assert r.status_code == 403, r.text
    assert "scoped to a project" in r.text


def test_identity_and_public_image_reads_still_served(cloud: Cloud,
                                                       unscoped: dict[str, str]) -> None:
    assert cloud.client.get("/identity/v3/auth/projects", headers=unscoped).status_code == 200
    r = cloud.client.get("/image/v2/images", headers=unscoped)
    assert r.status_code == 200
    assert IMAGE in [i["id"] for i in r.json()["images"]]


def test_compute_answers_401_then_406_then_403(cloud: Cloud) -> None:
    """keystonemiddleware runs before Nova's router: a missing token is 401 whatever
    version is asked; a bad version is 406 before a route's policy says 403."""
    bad = {"OpenStack-API-Version": "compute 9.99"}
    r = cloud.client.get("/compute/v2.1/os-services", headers=bad)
    assert r.status_code == 401
    member = cloud.make_project_user("member")["headers"]
    r = cloud.client.get("/compute/v2.1/os-services", headers={**member, **bad})
    assert r.status_code == 406
    r = cloud.client.get("/compute/v2.1/os-services", headers=member)
    assert r.status_code == 403
    assert cloud.client.get("/compute/v2.1", headers=bad).status_code == 406
    assert cloud.client.get("/compute/v2.1").status_code == 200
