"""Subnet pools (subnet_allocation): CRUD, tags, and subnets carved from a pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

N = "/network/v2.0"


@pytest.fixture(scope="module")
def neutron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("neutron-pools"))
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


def make(cloud: Cloud, hd: dict[str, str], path: str, key: str, **body: Any) -> dict[str, Any]:
    r = cloud.client.post(f"{N}/{path}", headers=hd, json={key: body})
    assert r.status_code == 201, r.text
    return dict(r.json()[key])


def error(r: Any, status: int, typ: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()["NeutronError"]
    if typ:
        assert body["type"] == typ, body
    return str(body["message"])


def test_pool_crud_and_tags(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    pool = make(neutron, hd, "subnetpools", "subnetpool", name="p",
                prefixes=["10.50.0.0/16", "10.50.1.0/24", "10.52.0.0/16"])
    assert pool["prefixes"] == ["10.50.0.0/16", "10.52.0.0/16"]  # merged
    assert pool["ip_version"] == 4 and pool["shared"] is False
    assert pool["min_prefixlen"] == 16 and pool["default_prefixlen"] == 16
    assert pool["max_prefixlen"] == 32
    r = neutron.client.put(f"{N}/subnetpools/{pool['id']}", headers=hd,
                           json={"subnetpool": {"name": "q", "default_prefixlen": 24}})
    assert r.status_code == 200, r.text
    assert r.json()["subnetpool"]["name"] == "q"
    assert r.json()["subnetpool"]["default_prefixlen"] == 24
    listed = neutron.client.get(f"{N}/subnetpools", headers=hd).json()["subnetpools"]
    assert [p["id"] for p in listed] == [pool["id"]]
    r = neutron.client.put(f"{N}/subnetpools/{pool['id']}/tags/blue", headers=hd)
    assert r.status_code == 201, r.text
    assert neutron.client.get(f"{N}/subnetpools", headers=hd,
                              params={"tags": "blue"}).json()["subnetpools"][0]["id"] == \
        pool["id"]
    other = neutron.make_project_user()["headers"]
    assert neutron.client.get(f"{N}/subnetpools", headers=other).json()["subnetpools"] == []
    error(neutron.client.get(f"{N}/subnetpools/{pool['id']}", headers=other), 404,
          "SubnetPoolNotFound")
    r = neutron.client.delete(f"{N}/subnetpools/{pool['id']}", headers=hd)
    assert r.status_code == 204
    error(neutron.client.get(f"{N}/subnetpools/{pool['id']}", headers=hd), 404)


@pytest.mark.parametrize(("body", "typ"), [
    ({"name": "x", "prefixes": ["10.0.0.0/16", "2001:db8::/48"]}, "PrefixVersionMismatch"),
    ({"name": "x", "prefixes": []}, None),
    ({"prefixes": ["10.0.0.0/16"]}, None),
    ({"name": "x", "prefixes": ["10.0.0.0/16"], "min_prefixlen": 28, "max_prefixlen": 24},
     "IllegalSubnetPoolPrefixBounds"),
    ({"name": "x", "prefixes": ["10.0.0.0/16"], "default_prefixlen": 33}, None),
    ({"name": "x", "prefixes": ["10.0.0.0/16"], "shared": True}, "PolicyNotAuthorized"),
])
def test_pool_refusals(neutron: Cloud, body: dict[str, Any], typ: str | None) -> None:
    hd = neutron.make_project_user()["headers"]
    r = neutron.client.post(f"{N}/subnetpools", headers=hd, json={"subnetpool": body})
    assert r.status_code in (400, 403), r.text
    if typ:
        assert r.json()["NeutronError"]["type"] == typ


def test_subnets_are_carved_from_the_pool(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    pool = make(neutron, hd, "subnetpools", "subnetpool", name="p",
                prefixes=["10.60.0.0/22"], default_prefixlen=24)
    net = make(neutron, hd, "networks", "network", name="n")

    def carve(**body: Any) -> Any:
        return neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
            "network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"], **body}})

    first = carve().json()["subnet"]
    assert first["cidr"] == "10.60.0.0/24" and first["subnetpool_id"] == pool["id"]
    assert first["gateway_ip"] == "10.60.0.1"
    second = carve(prefixlen=23).json()["subnet"]
    assert second["cidr"] == "10.60.2.0/23"  # aligned past the first
    named = carve(cidr="10.60.1.0/25")
    assert named.status_code == 201, named.text
    error(carve(cidr="10.60.1.0/25"), 400, "SubnetAllocationError")   # taken
    error(carve(cidr="10.99.0.0/24"), 400, "SubnetAllocationError")   # outside
    error(carve(), 400, "SubnetAllocationError")                      # pool full at /24
    assert carve(prefixlen=26).json()["subnet"]["cidr"] == "10.60.1.128/26"
    error(carve(prefixlen=8), 400, "SubnetAllocationError")            # above the pool
    error(neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
        "network_id": net["id"], "ip_version": 6, "subnetpool_id": pool["id"]}}), 400)
    listed = neutron.client.get(f"{N}/subnets", headers=hd,
                                params={"subnetpool_id": pool["id"]}).json()["subnets"]
    assert len(listed) == 4
    # a pool with subnets stays; prefixes only grow
    error(neutron.client.delete(f"{N}/subnetpools/{pool['id']}", headers=hd), 409,
          "SubnetPoolInUse")
    r = neutron.client.put(f"{N}/subnetpools/{pool['id']}", headers=hd,
                           json={"subnetpool": {"prefixes": ["10.60.0.0/23"]}})
    error(r, 400, "IllegalSubnetPoolPrefixUpdate")
    r = neutron.client.put(f"{N}/subnetpools/{pool['id']}", headers=hd,
                           json={"subnetpool": {"prefixes": ["10.60.0.0/21"]}})
    assert r.status_code == 200, r.text
    assert carve().json()["subnet"]["cidr"] == "10.60.4.0/24"
    r = neutron.client.put(f"{N}/subnets/{first['id']}", headers=hd,
                           json={"subnet": {"subnetpool_id": None}})
    error(r, 400)


def test_default_pool_per_ip_version(neutron: Cloud) -> None:
    admin = neutron.admin()
    pool = make(neutron, admin, "subnetpools", "subnetpool", name="default-v6",
                prefixes=["2001:db8:100::/48"], default_prefixlen=64, is_default=True,
                shared=True)
    r = neutron.client.post(f"{N}/subnetpools", headers=admin, json={"subnetpool": {
        "name": "second", "prefixes": ["2001:db8:200::/48"], "is_default": True}})
    error(r, 400)
    hd = neutron.make_project_user()["headers"]
    assert [p["id"] for p in neutron.client.get(
        f"{N}/subnetpools", headers=hd).json()["subnetpools"]] == [pool["id"]]
    net = make(neutron, hd, "networks", "network", name="v6")
    r = neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
        "network_id": net["id"], "ip_version": 6, "use_default_subnetpool": True}})
    assert r.status_code == 201, r.text
    assert r.json()["subnet"]["cidr"] == "2001:db8:100::/64"
    r = neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "use_default_subnetpool": True}})
    error(r, 400)
    aliases = {e["alias"] for e in neutron.client.get(
        f"{N}/extensions", headers=hd).json()["extensions"]}
    assert {"subnet_allocation", "default-subnetpools"} <= aliases


def test_a_block_too_small_for_addresses_is_refused(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    pool = make(neutron, hd, "subnetpools", "subnetpool", name="tiny",
                prefixes=["10.70.0.0/24"], default_prefixlen=32)
    net = make(neutron, hd, "networks", "network", name="n")
    r = neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"]}})
    error(r, 400)
    assert neutron.client.get(f"{N}/subnets", headers=hd,
                              params={"subnetpool_id": pool["id"]}).json()["subnets"] == []
