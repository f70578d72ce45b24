"""Neutron v2.0: networks, subnets, ports and IPAM, security groups, routers, floating
IPs, quotas, tags, filters and paging, errors and tenant isolation."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

N = "/network/v2.0"


@pytest.fixture(scope="module")
def neutron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("neutron"))
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


def test_discovery_and_extensions(neutron: Cloud) -> None:
    r = neutron.client.get("/network/")
    assert r.json()["versions"][0]["id"] == "v2.0"
    ext = neutron.client.get(f"{N}/extensions", headers=neutron.admin()).json()["extensions"]
    aliases = {e["alias"] for e in ext}
    assert {"router", "security-group", "external-net", "provider", "quotas",
            "standard-attr-tag", "revision-if-match"} <= aliases
    assert "external-gateway-multihoming" not in aliases
    r = neutron.client.get(f"{N}/extensions/external-gateway-multihoming",
                           headers=neutron.admin())
    error(r, 404)


def test_network_subnet_port_basics(neutron: Cloud) -> None:
    u = neutron.make_project_user()
    hd = u["headers"]
    net = make(neutron, hd, "networks", "network", name="private")
    assert net["status"] == "ACTIVE" and net["mtu"] == 1350 and net["shared"] is False
    assert net["provider:network_type"] == "vxlan" and net["router:external"] is False
    assert net["project_id"] == u["project_id"] and net["revision_number"] == 0
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
               cidr="10.0.0.0/24", name="private-subnet", dns_nameservers=["10.0.0.53"])
    assert sub["gateway_ip"] == "10.0.0.1" and sub["enable_dhcp"] is True
    assert sub["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    got = neutron.client.get(f"{N}/networks/{net['id']}", headers=hd).json()["network"]
    assert got["subnets"] == [sub["id"]]
    port = make(neutron, hd, "ports", "port", network_id=net["id"], name="p1")
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}]
    assert port["mac_address"].startswith("fa:16:3e:") and port["status"] == "DOWN"
    assert len(port["security_groups"]) == 1  # the project's default group
    fixed = make(neutron, hd, "ports", "port", network_id=net["id"],
                 fixed_ips=[{"ip_address": "10.0.0.77"}])
    assert fixed["fixed_ips"][0]["ip_address"] == "10.0.0.77"
    r = neutron.client.post(f"{N}/ports", headers=hd, json={"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.77"}]}})
    error(r, 409, "IpAddressAlreadyAllocated")
    r = neutron.client.post(f"{N}/ports", headers=hd, json={"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.9.9.9"}]}})
    error(r, 400, "InvalidIpForNetwork")
    listed = neutron.client.get(f"{N}/ports", headers=hd,
                                params={"device_id": "", "network_id": net["id"]}).json()
    assert len(listed["ports"]) == 2
    r = neutron.client.get(f"{N}/ports", headers=hd,
                           params={"fixed_ips": "ip_address=10.0.0.77"})
    assert [p["id"] for p in r.json()["ports"]] == [fixed["id"]]
    # a network with ports cannot go; after deleting them it can, with its subnets
    error(neutron.client.delete(f"{N}/networks/{net['id']}", headers=hd), 409, "NetworkInUse")
    error(neutron.client.delete(f"{N}/subnets/{sub['id']}", headers=hd), 409, "SubnetInUse")
    for p in (port, fixed):
        assert neutron.client.delete(f"{N}/ports/{p['id']}", headers=hd).status_code == 204
    assert neutron.client.delete(f"{N}/networks/{net['id']}", headers=hd).status_code == 204
    error(neutron.client.get(f"{N}/subnets/{sub['id']}", headers=hd), 404, "SubnetNotFound")


@pytest.mark.parametrize("body,status", [
    ({"cidr": "10.0.0.0/33"}, 400), ({"cidr": "not-a-cidr"}, 400),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, 400),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, 400),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.50", "end": "10.0.0.10"}]},
     400),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.100"},
                                                  {"start": "10.0.0.50", "end": "10.0.0.60"}]},
     400),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]},
     400),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": ["x"]}, 400),
    ({"cidr": "10.0.0.0/24", "ipv6_address_mode": "slaac"}, 400),
])
def test_bad_subnets_create_nothing(neutron: Cloud, body: dict[str, Any], status: int) -> None:
    u = neutron.make_project_user()
    hd = u["headers"]
    net = make(neutron, hd, "networks", "network", name="n")
    r = neutron.client.post(f"{N}/subnets", headers=hd,
                            json={"subnet": {"network_id": net["id"], "ip_version": 4, **body}})
    error(r, status)
    assert neutron.client.get(f"{N}/subnets", headers=hd).json()["subnets"] == []


def test_overlap_pools_exhaustion_and_ipv6(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="n")
    make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
         cidr="10.1.0.0/29", allocation_pools=[{"start": "10.1.0.2", "end": "10.1.0.4"}])
    r = neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.1.0.0/28"}})
    assert "overlaps with another subnet" in error(r, 400, "InvalidInput")
    ips = [make(neutron, hd, "ports", "port", network_id=net["id"])["fixed_ips"][0]
           ["ip_address"] for _ in range(3)]
    assert ips == ["10.1.0.2", "10.1.0.3", "10.1.0.4"]
    r = neutron.client.post(f"{N}/ports", headers=hd, json={"port": {"network_id": net["id"]}})
    error(r, 409, "IpAddressGenerationFailure")
    v6 = make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=6,
              cidr="fd00:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    assert v6["gateway_ip"] == "fd00:1::1"
    net2 = make(neutron, hd, "networks", "network", name="v6only")
    make(neutron, hd, "subnets", "subnet", network_id=net2["id"], ip_version=6,
         cidr="fd00:2::/64", ipv6_address_mode="slaac", ipv6_ra_mode="slaac")
    port = make(neutron, hd, "ports", "port", network_id=net2["id"],
                mac_address="fa:16:3e:11:22:33")
    assert port["fixed_ips"][0]["ip_address"] == "fd00:2::f816:3eff:fe11:2233"


def test_200_concurrent_ports_on_a_24(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    project = neutron.client.get("/identity/v3/auth/tokens", headers={
        **hd, "X-Subject-Token": hd["X-Auth-Token"]}).json()["token"]["project"]["id"]
    neutron.client.put(f"{N}/quotas/{project}", headers=neutron.admin(),
                       json={"quota": {"port": -1}})
    net = make(neutron, hd, "networks", "network", name="busy")
    make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
         cidr="10.2.0.0/24")
    results: list[Any] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for _ in range(n):
            r = neutron.client.post(f"{N}/ports", headers=hd,
                                    json={"port": {"network_id": net["id"]}})
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker, args=(32,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in results
          if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(ok) == 253 and len(set(ok)) == 253  # .2–.254 (.1 is the gateway)
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.2.0.0/24") for a in ok)
    assert len(refused) == 3 and all(
        r.status_code == 409 and r.json()["NeutronError"]["type"] ==
        "IpAddressGenerationFailure" for r in refused)


def test_tenant_isolation_and_shared_networks(neutron: Cloud) -> None:
    a, b = neutron.make_project_user(), neutron.make_project_user()
    net = make(neutron, a["headers"], "networks", "network", name="a-net")
    make(neutron, a["headers"], "subnets", "subnet", network_id=net["id"], ip_version=4,
         cidr="10.3.0.0/24")
    port = make(neutron, a["headers"], "ports", "port", network_id=net["id"])
    hb = b["headers"]
    error(neutron.client.get(f"{N}/networks/{net['id']}", headers=hb), 404, "NetworkNotFound")
    error(neutron.client.get(f"{N}/ports/{port['id']}", headers=hb), 404, "PortNotFound")
    assert neutron.client.get(f"{N}/ports", headers=hb).json()["ports"] == []
    r = neutron.client.post(f"{N}/ports", headers=hb, json={"port": {"network_id": net["id"]}})
    error(r, 404, "NetworkNotFound")
    r = neutron.client.put(f"{N}/networks/{net['id']}", headers=a["headers"],
                           json={"network": {"shared": True}})
    error(r, 403)
    r = neutron.client.post(f"{N}/networks", headers=a["headers"],
                            json={"network": {"name": "x", "router:external": True}})
    error(r, 403)
    shared = make(neutron, neutron.admin(), "networks", "network", name="shared", shared=True)
    make(neutron, neutron.admin(), "subnets", "subnet", network_id=shared["id"],
         ip_version=4, cidr="10.4.0.0/24")
    bp = make(neutron, hb, "ports", "port", network_id=shared["id"])
    assert bp["project_id"] == b["project_id"]
    assert [p["id"] for p in neutron.client.get(f"{N}/ports", headers=hb).json()["ports"]] \
        == [bp["id"]]
    assert [p["id"] for p in neutron.client.get(f"{N}/ports", headers=a["headers"]).json()[
        "ports"]] == [port["id"]]


def test_security_groups(neutron: Cloud) -> None:
    u = neutron.make_project_user()
    hd = u["headers"]
    groups = neutron.client.get(f"{N}/security-groups", headers=hd).json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    rules = default["security_group_rules"]
    assert sorted((r["direction"], r["ethertype"], r["remote_group_id"] is not None)
                  for r in rules) == [("egress", "IPv4", False), ("egress", "IPv6", False),
                                      ("ingress", "IPv4", True), ("ingress", "IPv6", True)]
    web = make(neutron, hd, "security-groups", "security_group", name="web")
    assert len(web["security_group_rules"]) == 2  # egress v4 + v6
    rule = make(neutron, hd, "security-group-rules", "security_group_rule",
                security_group_id=web["id"], direction="ingress", protocol="tcp",
                port_range_min=80, port_range_max=80, remote_ip_prefix="0.0.0.0/0")
    assert rule["protocol"] == "tcp" and rule["ethertype"] == "IPv4"
    r = neutron.client.post(f"{N}/security-group-rules", headers=hd, json={
        "security_group_rule": {"security_group_id": web["id"], "direction": "ingress",
                                "protocol": "tcp", "port_range_min": 80,
                                "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0"}})
    error(r, 409, "SecurityGroupRuleExists")
    for bad, typ in (({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
                     ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
                      "SecurityGroupInvalidPortRange"),
                     ({"port_range_min": 80, "port_range_max": 80},
                      "SecurityGroupProtocolRequiredWithPorts"),
                     ({"remote_ip_prefix": "::/0"}, "SecurityGroupRuleParameterConflict"),
                     ({"direction": "sideways"}, None)):
        body = {"security_group_id": web["id"], "direction": "ingress", **bad}
        r = neutron.client.post(f"{N}/security-group-rules", headers=hd,
                                json={"security_group_rule": body})
        error(r, 400, typ)
    icmp = make(neutron, hd, "security-group-rules", "security_group_rule",
                security_group_id=web["id"], direction="ingress", protocol="1",
                ethertype="IPv4")
    assert icmp["protocol"] == "1"
    error(neutron.client.delete(f"{N}/security-groups/{default['id']}", headers=hd), 409,
          "SecurityGroupCannotRemoveDefault")
    other = neutron.make_project_user()
    error(neutron.client.get(f"{N}/security-groups/{web['id']}", headers=other["headers"]),
          404, "SecurityGroupNotFound")
    net = make(neutron, hd, "networks", "network", name="sgnet")
    make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
         cidr="10.5.0.0/24")
    port = make(neutron, hd, "ports", "port", network_id=net["id"],
                security_groups=[web["id"]])
    assert port["security_groups"] == [web["id"]]
    error(neutron.client.delete(f"{N}/security-groups/{web['id']}", headers=hd), 409,
          "SecurityGroupInUse")
    r = neutron.client.put(f"{N}/ports/{port['id']}", headers=hd,
                           json={"port": {"port_security_enabled": False}})
    error(r, 409)
    r = neutron.client.put(f"{N}/ports/{port['id']}", headers=hd, json={"port": {
        "port_security_enabled": False, "security_groups": []}})
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == []


def test_routers_and_floating_ips(neutron: Cloud) -> None:
    admin = neutron.admin()
    public = make(neutron, admin, "networks", "network", name="public-test",
                  **{"router:external": True, "provider:network_type": "flat",
                     "provider:physical_network": "public"})
    assert public["mtu"] == 1400 and public["provider:segmentation_id"] is None
    make(neutron, admin, "subnets", "subnet", network_id=public["id"], ip_version=4,
         cidr="172.24.4.0/24", enable_dhcp=False)
    u = neutron.make_project_user()
    hd = u["headers"]
    # any project sees the external network
    assert public["id"] in [n["id"] for n in neutron.client.get(
        f"{N}/networks", headers=hd).json()["networks"]]
    net = make(neutron, hd, "networks", "network", name="private")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
               cidr="10.6.0.0/24")
    router = make(neutron, hd, "routers", "router", name="r1")
    r = neutron.client.put(f"{N}/routers/{router['id']}", headers=hd, json={"router": {
        "external_gateway_info": {"network_id": public["id"]}}})
    assert r.status_code == 200, r.text
    gw = r.json()["router"]["external_gateway_info"]
    assert gw["network_id"] == public["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    r = neutron.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                           json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    iface = r.json()
    assert set(iface) == {"id", "tenant_id", "project_id", "port_id", "network_id",
                          "subnet_id", "subnet_ids"}
    r = neutron.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                           json={"subnet_id": sub["id"]})
    assert r.status_code in (400, 409)
    gw_port = neutron.client.get(f"{N}/ports/{iface['port_id']}", headers=hd).json()["port"]
    assert gw_port["fixed_ips"][0]["ip_address"] == "10.6.0.1"
    assert gw_port["device_owner"] == "network:router_interface"
    error(neutron.client.delete(f"{N}/ports/{iface['port_id']}", headers=hd), 409)
    vm = make(neutron, hd, "ports", "port", network_id=net["id"], device_id="vm-1",
              device_owner="compute:nova")
    fip = make(neutron, hd, "floatingips", "floatingip", floating_network_id=public["id"])
    assert fip["status"] == "DOWN" and fip["port_id"] is None
    r = neutron.client.put(f"{N}/floatingips/{fip['id']}", headers=hd,
                           json={"floatingip": {"port_id": vm["id"]}})
    assert r.status_code == 200, r.text
    assoc = r.json()["floatingip"]
    assert assoc["fixed_ip_address"] == vm["fixed_ips"][0]["ip_address"]
    assert assoc["router_id"] == router["id"] and assoc["status"] == "ACTIVE"
    error(neutron.client.put(f"{N}/routers/{router['id']}/remove_router_interface",
                             headers=hd, json={"subnet_id": sub["id"]}), 409)
    error(neutron.client.delete(f"{N}/routers/{router['id']}", headers=hd), 409, "RouterInUse")
    # a port on a network with no router to the external network cannot get one
    lone = make(neutron, hd, "networks", "network", name="lonely")
    make(neutron, hd, "subnets", "subnet", network_id=lone["id"], ip_version=4,
         cidr="10.7.0.0/24")
    lp = make(neutron, hd, "ports", "port", network_id=lone["id"])
    fip2 = make(neutron, hd, "floatingips", "floatingip", floating_network_id=public["id"])
    r = neutron.client.put(f"{N}/floatingips/{fip2['id']}", headers=hd,
                           json={"floatingip": {"port_id": lp["id"]}})
    error(r, 404, "ExternalGatewayForFloatingIPNotFound")
    # teardown in order
    neutron.client.put(f"{N}/floatingips/{fip['id']}", headers=hd,
                       json={"floatingip": {"port_id": None}})
    for f in (fip, fip2):
        assert neutron.client.delete(f"{N}/floatingips/{f['id']}", headers=hd).status_code \
            == 204
    r = neutron.client.put(f"{N}/routers/{router['id']}/remove_router_interface", headers=hd,
                           json={"subnet_id": sub["id"]})
    assert r.status_code == 200 and r.json()["port_id"] == iface["port_id"]
    assert neutron.client.delete(f"{N}/routers/{router['id']}", headers=hd).status_code == 204
    error(neutron.client.post(f"{N}/floatingips", headers=hd, json={"floatingip": {
        "floating_network_id": net["id"]}}), 400)


def test_revision_if_match_tags_filters_and_paging(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    nets = [make(neutron, hd, "networks", "network", name=f"pg-{i}") for i in range(5)]
    url = f"{N}/networks/{nets[0]['id']}"
    r = neutron.client.put(url, headers={**hd, "If-Match": "revision_number=7"},
                           json={"network": {"name": "x"}})
    error(r, 412)
    r = neutron.client.put(url, headers={**hd, "If-Match": "revision_number=0"},
                           json={"network": {"name": "pg-0b"}})
    assert r.status_code == 200 and r.json()["network"]["revision_number"] == 1
    assert neutron.client.put(f"{url}/tags/blue", headers=hd).status_code == 201
    r = neutron.client.put(f"{url}/tags", headers=hd, json={"tags": ["red", "blue"]})
    assert sorted(r.json()["tags"]) == ["blue", "red"]
    names = [n["name"] for n in neutron.client.get(f"{N}/networks", headers=hd, params={
        "tags": "red"}).json()["networks"]]
    assert names == ["pg-0b"]
    assert neutron.client.get(f"{url}/tags/red", headers=hd).status_code == 204
    assert neutron.client.delete(f"{url}/tags/red", headers=hd).status_code == 204
    error(neutron.client.delete(f"{url}/tags/red", headers=hd), 404)
    seen: list[str] = []
    next_url: str | None = f"{N}/networks?limit=2&sort_key=name&sort_dir=asc"
    while next_url:
        body = neutron.client.get(next_url, headers=hd).json()
        seen += [n["name"] for n in body["networks"]]
        links = body.get("networks_links") or []
        next_url = links[0]["href"].split("//", 1)[1].split("/", 1)[1] if links else None
        next_url = "/" + next_url if next_url else None
    # external networks of other tests are visible to everyone: keep ours
    assert [n for n in seen if n.startswith("pg-")] == ["pg-0b", "pg-1", "pg-2", "pg-3", "pg-4"]
    assert len(seen) == len(set(seen))
    r = neutron.client.get(f"{N}/networks", headers=hd, params={"fields": "id"})
    assert all(set(n) == {"id"} for n in r.json()["networks"])
    error(neutron.client.get(f"{N}/networks", headers=hd, params={"colour": "red"}), 400)
    error(neutron.client.get(f"{N}/networks", headers=hd, params={"sort_key": "colour"}), 400)


def test_quotas(neutron: Cloud) -> None:
    u = neutron.make_project_user()
    hd = u["headers"]
    pid = u["project_id"]
    assert neutron.client.get(f"{N}/quotas/{pid}", headers=hd).json()["quota"]["network"] \
        == 100
    error(neutron.client.put(f"{N}/quotas/{pid}", headers=hd,
                             json={"quota": {"network": 1}}), 403)
    r = neutron.client.put(f"{N}/quotas/{pid}", headers=neutron.admin(),
                           json={"quota": {"network": 1}})
    assert r.json()["quota"]["network"] == 1
    make(neutron, hd, "networks", "network", name="only")
    error(neutron.client.post(f"{N}/networks", headers=hd, json={"network": {"name": "two"}}),
          409, "OverQuota")
    details = neutron.client.get(f"{N}/quotas/{pid}/details", headers=hd).json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    other = neutron.make_project_user()
    error(neutron.client.get(f"{N}/quotas/{pid}", headers=other["headers"]), 403)
