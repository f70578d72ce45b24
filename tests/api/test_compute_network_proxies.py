"""Nova's deprecated network proxies (up to 2.35; the floating IP actions up to 2.43):
os-security-groups, os-security-group-rules, os-floating-ips, os-floating-ip-pools,
os-networks and os-tenant-networks answer in Nova's shapes and codes, over the
network service's own rows (what the proxy makes, Neutron's API shows)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, add_agents, boot, wait_status
from tests.api.test_compute_network import N, make, network
from tests.conftest import Cloud, build_cloud
from tests.images import add_image

V236 = {"X-OpenStack-Nova-API-Version": "2.36"}
V244 = {"X-OpenStack-Nova-API-Version": "2.44"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("novaproxy"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["cn1"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


@pytest.fixture(scope="module")
def user(cloud: Cloud) -> dict[str, Any]:
    return cloud.make_project_user()


def _sg(cloud: Cloud, hd: dict[str, str], name: str) -> dict[str, Any]:
    r = cloud.client.post(f"{C}/os-security-groups", headers=hd,
                          json={"security_group": {"name": name, "description": "d"}})
    assert r.status_code == 200, r.text
    return dict(r.json()["security_group"])


def _rule(cloud: Cloud, hd: dict[str, str], **rule: Any) -> Any:
    return cloud.client.post(f"{C}/os-security-group-rules", headers=hd,
                             json={"security_group_rule": rule})


def test_security_groups_are_neutrons_in_novas_shape(cloud: Cloud,
                                                     user: dict[str, Any]) -> None:
    hd = user["headers"]
    sg = _sg(cloud, hd, "web")
    assert set(sg) == {"id", "name", "description", "tenant_id", "rules"}
    assert sg["rules"] == []  # Neutron's egress rules are not Nova's
    listed = cloud.client.get(f"{C}/os-security-groups", headers=hd).json()["security_groups"]
    assert {g["name"] for g in listed} == {"default", "web"}
    default = next(g for g in listed if g["name"] == "default")
    # the default group's ingress from its own members: a remote group, no CIDR
    assert {(r["group"]["name"], r["ip_range"] == {}) for r in default["rules"]} == \
        {("default", True)}
    r = cloud.client.put(f"{C}/os-security-groups/{sg['id']}", headers=hd,
                         json={"security_group": {"name": "web2", "description": "x"}})
    assert r.status_code == 200 and r.json()["security_group"]["name"] == "web2"
    shown = cloud.client.get(f"{N}/security-groups/{sg['id']}", headers=hd).json()
    assert shown["security_group"]["description"] == "x"
    # Neutron's conflicts are Nova's 400s: the default group, a duplicate rule
    r = cloud.client.delete(f"{C}/os-security-groups/{default['id']}", headers=hd)
    assert r.status_code == 400, r.text
    r = cloud.client.delete(f"{C}/os-security-groups/{sg['id']}", headers=hd)
    assert r.status_code == 202
    assert cloud.client.delete(f"{C}/os-security-groups/", headers=hd).status_code == 404
    r = cloud.client.get(f"{C}/os-security-groups/{sg['id']}", headers=hd)
    assert r.status_code == 404
    for bad in ("", " ", "x" * 256):
        r = cloud.client.post(f"{C}/os-security-groups", headers=hd,
                              json={"security_group": {"name": bad, "description": ""}})
        assert r.status_code == 400, bad


def test_security_group_rules_as_nova_checks_them(cloud: Cloud,
                                                  user: dict[str, Any]) -> None:
    hd = user["headers"]
    sg, peer = _sg(cloud, hd, "a"), _sg(cloud, hd, "b")
    r = _rule(cloud, hd, parent_group_id=sg["id"], ip_protocol="tcp", from_port=22,
              to_port=22)
    assert r.status_code == 200, r.text
    rule = r.json()["security_group_rule"]
    assert rule["ip_range"] == {"cidr": "0.0.0.0/0"} and rule["group"] == {}
    assert (rule["parent_group_id"], rule["from_port"], rule["to_port"]) == (sg["id"], 22, 22)
    assert _rule(cloud, hd, parent_group_id=sg["id"], ip_protocol="tcp", from_port=22,
                 to_port=22).status_code == 400  # a duplicate
    icmp = _rule(cloud, hd, parent_group_id=sg["id"], ip_protocol="icmp", from_port=-1,
                 to_port=-1).json()["security_group_rule"]
    assert (icmp["from_port"], icmp["to_port"]) == (-1, -1)
    by_group = _rule(cloud, hd, parent_group_id=sg["id"], ip_protocol="tcp", from_port=80,
                     to_port=80, group_id=peer["id"]).json()["security_group_rule"]
    assert by_group["group"] == {"name": "b", "tenant_id": user["project_id"]}
    r = _rule(cloud, hd, parent_group_id=sg["id"], ip_protocol="tcp", from_port=23,
              to_port=23, cidr="10.2.3.124/24")
    assert r.json()["security_group_rule"]["ip_range"] == {"cidr": "10.2.3.124/24"}
    cidr_rule = r.json()["security_group_rule"]["id"]
    for bad in ({"ip_protocol": "999x", "from_port": 22, "to_port": 22},
                {"ip_protocol": "tcp", "from_port": 65536, "to_port": 22},
                {"ip_protocol": "tcp", "from_port": 22, "to_port": 21}):
        assert _rule(cloud, hd, parent_group_id=sg["id"], **bad).status_code == 400, bad
    assert _rule(cloud, hd, parent_group_id="nope", ip_protocol="tcp", from_port=1,
                 to_port=2).status_code == 400
    assert _rule(cloud, hd, parent_group_id="9b4c8c5e-1f0e-4c55-9b6f-2f1f1f1f1f1f",
                 ip_protocol="tcp", from_port=1, to_port=2).status_code == 404
    shown = cloud.client.get(f"{C}/os-security-groups/{sg['id']}", headers=hd).json()
    assert {r["id"] for r in shown["security_group"]["rules"]} == \
        {rule["id"], icmp["id"], by_group["id"], cidr_rule}
    r = cloud.client.delete(f"{C}/os-security-group-rules/{icmp['id']}", headers=hd)
    assert r.status_code == 202
    r = cloud.client.delete(f"{C}/os-security-group-rules/{icmp['id']}", headers=hd)
    assert r.status_code == 404


def test_deleting_a_peer_group_deletes_the_rules_that_name_it(
        cloud: Cloud, user: dict[str, Any]) -> None:
    """A rule whose remote group was deleted stayed behind, pointing at nothing;
    Neutron deletes it with the group (its foreign key cascades)."""
    hd = user["headers"]
    sg, peer = _sg(cloud, hd, "c"), _sg(cloud, hd, "d")
    assert _rule(cloud, hd, parent_group_id=sg["id"], ip_protocol="tcp", from_port=1,
                 to_port=2, group_id=peer["id"]).status_code == 200
    assert cloud.client.delete(f"{C}/os-security-groups/{peer['id']}",
                               headers=hd).status_code == 202
    shown = cloud.client.get(f"{C}/os-security-groups/{sg['id']}", headers=hd).json()
    assert shown["security_group"]["rules"] == []


def test_proxies_are_gone_from_2_36(cloud: Cloud, user: dict[str, Any]) -> None:
    hd = user["headers"]
    for path in ("os-security-groups", "os-floating-ips", "os-floating-ip-pools",
                 "os-networks", "os-tenant-networks"):
        assert cloud.client.get(f"{C}/{path}", headers=hd).status_code == 200, path
        r = cloud.client.get(f"{C}/{path}", headers={**hd, **V236})
        assert r.status_code == 404, path


def test_floating_ips_and_the_server_actions(cloud: Cloud, user: dict[str, Any]) -> None:
    hd, admin = user["headers"], cloud.admin()
    public = make(cloud, admin, "networks", "network", name="ext", **{"router:external": True})
    make(cloud, admin, "subnets", "subnet", network_id=public["id"], ip_version=4,
         cidr="172.24.9.0/24")
    net_id, sub_id = network(cloud, hd, "mine", "10.9.0.0/24")
    router = make(cloud, hd, "routers", "router", name="r",
                  external_gateway_info={"network_id": public["id"]})
    r = cloud.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                         json={"subnet_id": sub_id})
    assert r.status_code == 200, r.text
    pools = cloud.client.get(f"{C}/os-floating-ip-pools", headers=hd).json()
    assert {"name": "ext"} in pools["floating_ip_pools"]
    r = cloud.client.post(f"{C}/os-floating-ips", headers=hd, json={"pool": "nowhere"})
    assert r.status_code == 404
    r = cloud.client.post(f"{C}/os-floating-ips", headers=hd, json={"pool": "ext"})
    assert r.status_code == 200, r.text
    fip = r.json()["floating_ip"]
    assert fip["pool"] == "ext" and fip["instance_id"] is None and fip["fixed_ip"] is None
    r = boot(cloud, hd, "vm", networks=[{"uuid": net_id}])
    sid = r.json()["server"]["id"]
    wait_status(cloud, hd, sid, "ACTIVE")
    act = f"{C}/servers/{sid}/action"
    r = cloud.client.post(act, headers=hd, json={"addFloatingIp": {"address": fip["ip"]}})
    assert r.status_code == 202, r.text
    shown = cloud.client.get(f"{C}/os-floating-ips/{fip['id']}", headers=hd).json()
    assert shown["floating_ip"]["instance_id"] == sid
    assert shown["floating_ip"]["fixed_ip"].startswith("10.9.0.")
    r = cloud.client.post(act, headers=hd, json={"addFloatingIp": {"address": "0.0.0.0"}})
    assert r.status_code == 404
    r = cloud.client.post(act, headers={**hd, **V244},
                          json={"removeFloatingIp": {"address": fip["ip"]}})
    assert r.status_code == 404
    r = cloud.client.post(act, headers=hd, json={"removeFloatingIp": {"address": fip["ip"]}})
    assert r.status_code == 202, r.text
    r = cloud.client.post(act, headers=hd, json={"removeFloatingIp": {"address": fip["ip"]}})
    assert r.status_code == 409
    r = cloud.client.get(f"{C}/servers/{sid}/os-security-groups", headers=hd)
    assert [g["name"] for g in r.json()["security_groups"]] == ["default"]
    assert cloud.client.delete(f"{C}/os-floating-ips/{fip['id']}",
                               headers=hd).status_code == 202
    assert cloud.client.get(f"{C}/os-floating-ips/{fip['id']}",
                            headers=hd).status_code == 404
    nets = cloud.client.get(f"{C}/os-tenant-networks", headers=hd).json()["networks"]
    assert {"id": net_id, "label": "mine", "cidr": "10.9.0.0/24"} in nets
    r = cloud.client.get(f"{C}/os-networks/{net_id}", headers=hd)
    assert r.json()["network"]["label"] == "mine"


def test_a_rules_prefix_keeps_its_host_bits(cloud: Cloud, user: dict[str, Any]) -> None:
    """Neutron keeps a rule's remote_ip_prefix as sent (10.2.3.124/24) and adds the
    normalized_cidr; overcast dropped the host bits, so Nova's proxy answered
    10.2.3.0/24 for the cidr Tempest sent. A prefix that differs only in host bits is
    still a duplicate."""
    hd = user["headers"]
    sg = make(cloud, hd, "security-groups", "security_group", name="bits")
    rule = make(cloud, hd, "security-group-rules", "security_group_rule",
                security_group_id=sg["id"], direction="ingress", protocol="tcp",
                port_range_min=22, port_range_max=22, remote_ip_prefix="10.2.3.124/24")
    assert (rule["remote_ip_prefix"], rule["normalized_cidr"]) == \
        ("10.2.3.124/24", "10.2.3.0/24")
    r = cloud.client.post(f"{N}/security-group-rules", headers=hd, json={
        "security_group_rule": {"security_group_id": sg["id"], "direction": "ingress",
                                "protocol": "tcp", "port_range_min": 22,
                                "port_range_max": 22, "remote_ip_prefix": "10.2.3.7/24"}})
    assert r.status_code == 409, r.text
    host = make(cloud, hd, "security-group-rules", "security_group_rule",
                security_group_id=sg["id"], direction="ingress", protocol="udp",
                remote_ip_prefix="10.9.9.9")
    assert host["remote_ip_prefix"] == "10.9.9.9/32"
