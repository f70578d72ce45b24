"""Servers on networks: Nova's `networks` (uuid, port, fixed_ip, auto, none) go through
the network service: ports made and bound to the host, `addresses` in the server
views, ports deleted (or, for ports the user passed in, unbound) with the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, add_agents, boot, nova_error, server, wait, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import add_image

N = "/network/v2.0"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("novanet"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["cn1"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def make(cloud: Cloud, hd: dict[str, str], path: str, key: str, **body: Any) -> dict[str, Any]:
    r = cloud.client.post(f"{N}/{path}", headers=hd, json={key: body})
    assert r.status_code == 201, r.text
    return dict(r.json()[key])


def network(cloud: Cloud, hd: dict[str, str], name: str, cidr: str) -> tuple[str, str]:
    net = make(cloud, hd, "networks", "network", name=name)
    sub = make(cloud, hd, "subnets", "subnet", network_id=net["id"], ip_version=4, cidr=cidr)
    return net["id"], sub["id"]


def ports_of(cloud: Cloud, hd: dict[str, str], device_id: str) -> list[dict[str, Any]]:
    r = cloud.client.get(f"{N}/ports?device_id={device_id}", headers=hd)
    assert r.status_code == 200, r.text
    return list(r.json()["ports"])


def gone(cloud: Cloud, hd: dict[str, str], sid: str) -> bool:
    return cloud.client.get(f"{C}/servers/{sid}", headers=hd).status_code == 404


def test_boot_on_a_network_by_uuid_and_fixed_ip(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    net_id, sub_id = network(cloud, hd, "private", "10.1.0.0/24")
    r = boot(cloud, hd, "vm1", networks=[{"uuid": net_id}])
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    body = wait_status(cloud, hd, sid, "ACTIVE")
    assert list(body["addresses"]) == ["private"]
    (addr,) = body["addresses"]["private"]
    assert addr["version"] == 4 and addr["OS-EXT-IPS:type"] == "fixed"
    (port,) = ports_of(cloud, hd, sid)
    assert port["device_owner"] == "compute:nova" and port["status"] == "ACTIVE"
    assert port["binding:host_id"] == "cn1"
    assert port["fixed_ips"] == [{"subnet_id": sub_id, "ip_address": addr["addr"]}]
    assert addr["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]
    # the listing and /ips say the same
    listed = cloud.client.get(f"{C}/servers/detail", headers=hd).json()["servers"]
    assert listed[0]["addresses"] == body["addresses"]
    # /ips shows the basic addresses (no type, no MAC), as Nova's ips controller
    ips = cloud.client.get(f"{C}/servers/{sid}/ips", headers=hd).json()["addresses"]
    assert ips == {"private": [{"version": 4, "addr": addr["addr"]}]}

    r = boot(cloud, hd, "vm2", networks=[{"uuid": net_id, "fixed_ip": "10.1.0.50"}])
    assert r.status_code == 202, r.text
    sid2 = r.json()["server"]["id"]
    body2 = wait_status(cloud, hd, sid2, "ACTIVE")
    assert body2["addresses"]["private"][0]["addr"] == "10.1.0.50"

    # a floating IP shows up as a second address of the port
    ext = make(cloud, cloud.admin(), "networks", "network", name="public-a",
               **{"router:external": True})
    make(cloud, cloud.admin(), "subnets", "subnet", network_id=ext["id"], ip_version=4,
         cidr="172.24.10.0/24")
    router = make(cloud, hd, "routers", "router", name="r1",
                  external_gateway_info={"network_id": ext["id"]})
    r = cloud.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                         json={"subnet_id": sub_id})
    assert r.status_code == 200, r.text
    fip = make(cloud, hd, "floatingips", "floatingip", floating_network_id=ext["id"],
               port_id=port["id"])
    body = server(cloud, hd, sid)
    kinds = {(a["OS-EXT-IPS:type"], a["addr"]) for a in body["addresses"]["private"]}
    assert ("floating", fip["floating_ip_address"]) in kinds

    # deleting the servers deletes the ports compute made (and frees the address)
    for s in (sid, sid2):
        assert cloud.client.delete(f"{C}/servers/{s}", headers=hd).status_code == 204
    wait(lambda: gone(cloud, hd, sid) and gone(cloud, hd, sid2))
    wait(lambda: not ports_of(cloud, hd, sid) and not ports_of(cloud, hd, sid2))
    got = cloud.client.get(f"{N}/floatingips/{fip['id']}", headers=hd).json()["floatingip"]
    assert got["port_id"] is None and got["fixed_ip_address"] is None
    make(cloud, hd, "ports", "port", network_id=net_id,
         fixed_ips=[{"ip_address": "10.1.0.50"}])


def test_boot_with_a_port_leaves_the_port_behind_unbound(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    net_id, _ = network(cloud, hd, "net", "10.2.0.0/24")
    port = make(cloud, hd, "ports", "port", network_id=net_id, name="mine")
    r = boot(cloud, hd, "vm", networks=[{"port": port["id"]}])
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_status(cloud, hd, sid, "ACTIVE")
    got = cloud.client.get(f"{N}/ports/{port['id']}", headers=hd).json()["port"]
    assert got["device_id"] == sid and got["binding:host_id"] == "cn1"
    # the port is taken: a second server cannot use it
    r = boot(cloud, hd, "vm-b", networks=[{"port": port["id"]}])
    assert r.status_code == 409, r.text
    assert "in use" in nova_error(r, "conflictingRequest")
    assert cloud.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204
    wait(lambda: gone(cloud, hd, sid))

    def unbound() -> bool:
        p = cloud.client.get(f"{N}/ports/{port['id']}", headers=hd).json()["port"]
        return bool(p["device_id"] == "" and p["binding:host_id"] == "")

    wait(unbound)
    got = cloud.client.get(f"{N}/ports/{port['id']}", headers=hd).json()["port"]
    assert got["fixed_ips"] == port["fixed_ips"] and got["status"] == "DOWN"


def test_auto_none_and_errors(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    # nothing to attach to: "auto" boots without networks
    r = boot(cloud, hd, "lonely", networks="auto")
    assert r.status_code == 202, r.text
    body = wait_status(cloud, hd, r.json()["server"]["id"], "ACTIVE")
    assert body["addresses"] == {}
    net_id, _ = network(cloud, hd, "auto-net", "10.3.0.0/24")
    r = boot(cloud, hd, "auto", networks="auto")
    sid = r.json()["server"]["id"]
    body = wait_status(cloud, hd, sid, "ACTIVE")
    assert list(body["addresses"]) == ["auto-net"]
    r = boot(cloud, hd, "none", networks="none")
    body = wait_status(cloud, hd, r.json()["server"]["id"], "ACTIVE")
    assert body["addresses"] == {}

    other = cloud.make_project_user()
    foreign, _ = network(cloud, other["headers"], "theirs", "10.4.0.0/24")
    bare = make(cloud, hd, "networks", "network", name="no-subnet")
    count = len(cloud.client.get(f"{C}/servers", headers=hd).json()["servers"])
    cases = [
        ([{"uuid": foreign}], 400, "could not be found"),
        ([{"uuid": bare["id"]}], 400, "requires a subnet"),
        ([{"uuid": "not-a-uuid"}], 400, "is not a 'uuid'"),
        ([{"uuid": net_id, "bogus": 1}], 400, "Additional properties"),
        ([{"uuid": net_id, "fixed_ip": "10.3.0.999"}], 400, ""),
        ([{"port": "4f1b3d2e-0000-4000-8000-000000000000"}], 400, "could not be found"),
    ]
    for networks, status, text in cases:
        r = boot(cloud, hd, "bad", networks=networks)
        assert r.status_code == status, (networks, r.text)
        assert text in r.text, r.text
    # a fixed IP already taken fails the build (Nova checks it on the host), nothing leaks
    make(cloud, hd, "ports", "port", network_id=net_id, fixed_ips=[{"ip_address": "10.3.0.9"}])
    r = boot(cloud, hd, "clash", networks=[{"uuid": net_id, "fixed_ip": "10.3.0.9"}])
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    body = wait_status(cloud, hd, sid, "ERROR")
    assert "10.3.0.9" in body["fault"]["message"]
    assert ports_of(cloud, hd, sid) == []
    servers = cloud.client.get(f"{C}/servers", headers=hd).json()["servers"]
    assert len(servers) == count + 1


def test_security_groups_on_server_create(cloud: Cloud) -> None:
    """`security_groups` by name (or id) go to the ports compute makes; the server
    views show the ports' groups; an unknown or malformed group is a 400."""
    u = cloud.make_project_user()
    hd = u["headers"]
    net_id, _ = network(cloud, hd, "sgnet", "10.3.0.0/24")
    web = make(cloud, hd, "security-groups", "security_group", name="web")
    r = boot(cloud, hd, "sg1", networks=[{"uuid": net_id}],
             security_groups=[{"name": "web"}, {"name": "default"}])
    assert r.status_code == 202, r.text
    assert r.json()["server"]["security_groups"] == [{"name": "web"}, {"name": "default"}]
    sid = r.json()["server"]["id"]
    body = wait_status(cloud, hd, sid, "ACTIVE")
    assert sorted(g["name"] for g in body["security_groups"]) == ["default", "web"]
    (port,) = ports_of(cloud, hd, sid)
    assert web["id"] in port["security_groups"] and len(port["security_groups"]) == 2
    listed = cloud.client.get(f"{C}/servers/detail", headers=hd).json()["servers"]
    assert listed[0]["security_groups"] == body["security_groups"]
    # by id, alone
    r = boot(cloud, hd, "sg2", networks=[{"uuid": net_id}],
             security_groups=[{"name": web["id"]}])
    sid2 = r.json()["server"]["id"]
    wait_status(cloud, hd, sid2, "ACTIVE")
    assert ports_of(cloud, hd, sid2)[0]["security_groups"] == [web["id"]]
    # another project's group is not found; bad shapes are refused
    other = cloud.make_project_user()["headers"]
    theirs = make(cloud, other, "security-groups", "security_group", name="theirs")
    for groups in ([{"name": "nope"}], [{"name": theirs["id"]}], [{"id": "x"}], "web",
                   [{"name": ""}]):
        r = boot(cloud, hd, "bad", networks=[{"uuid": net_id}], security_groups=groups)
        assert r.status_code == 400, (groups, r.text)
        assert "security" in nova_error(r, "badRequest").lower(), r.text
    for s in (sid, sid2):
        assert cloud.client.delete(f"{C}/servers/{s}", headers=hd).status_code == 204


def test_add_and_remove_security_group(cloud: Cloud) -> None:
    """addSecurityGroup/removeSecurityGroup act on every port of the server."""
    u = cloud.make_project_user()
    hd = u["headers"]
    net_id, _ = network(cloud, hd, "sgnet2", "10.4.0.0/24")
    db = make(cloud, hd, "security-groups", "security_group", name="db")
    r = boot(cloud, hd, "sga", networks=[{"uuid": net_id}])
    sid = r.json()["server"]["id"]
    wait_status(cloud, hd, sid, "ACTIVE")

    def act(body: dict[str, Any]) -> Any:
        return cloud.client.post(f"{C}/servers/{sid}/action", headers=hd, json=body)

    assert act({"addSecurityGroup": {"name": "db"}}).status_code == 202
    (port,) = ports_of(cloud, hd, sid)
    assert db["id"] in port["security_groups"] and len(port["security_groups"]) == 2
    assert {"name": "db"} in server(cloud, hd, sid)["security_groups"]
    assert act({"addSecurityGroup": {"name": "db"}}).status_code == 202  # no change
    assert len(ports_of(cloud, hd, sid)[0]["security_groups"]) == 2
    assert act({"removeSecurityGroup": {"name": db["id"]}}).status_code == 202
    assert db["id"] not in ports_of(cloud, hd, sid)[0]["security_groups"]
    r = act({"removeSecurityGroup": {"name": "db"}})
    assert r.status_code == 400, r.text  # not on the server
    r = act({"addSecurityGroup": {"name": "nope"}})
    assert r.status_code == 404, r.text
    assert act({"addSecurityGroup": {}}).status_code == 400
    other = cloud.make_project_user()["headers"]
    r = cloud.client.post(f"{C}/servers/{sid}/action", headers=other,
                          json={"addSecurityGroup": {"name": "default"}})
    assert r.status_code == 404, r.text
    assert cloud.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204


def test_ips_of_one_network_and_the_ip_filter(cloud: Cloud) -> None:
    """`GET /servers/{id}/ips/{network}` answers that network's addresses (404 for a
    network the server is not on), and `?ip=` is a regular expression matched from
    the start of a fixed address, as Nova matches it (issue 16, Tempest's
    test_list_server_addresses_by_network and test_list_servers_filtered_by_ip)."""
    u = cloud.make_project_user()
    hd = u["headers"]
    net_id, _ = network(cloud, hd, "ipnet", "10.7.3.0/24")
    r = boot(cloud, hd, "ipvm", networks=[{"uuid": net_id, "fixed_ip": "10.7.3.21"}])
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    r = boot(cloud, hd, "other", networks=[{"uuid": net_id, "fixed_ip": "10.7.3.122"}])
    other = r.json()["server"]["id"]
    wait_status(cloud, hd, sid, "ACTIVE")
    wait_status(cloud, hd, other, "ACTIVE")
    r = cloud.client.get(f"{C}/servers/{sid}/ips/ipnet", headers=hd)
    assert r.status_code == 200, r.text
    assert r.json() == {"ipnet": [{"version": 4, "addr": "10.7.3.21"}]}
    r = cloud.client.get(f"{C}/servers/{sid}/ips/elsewhere", headers=hd)
    assert r.status_code == 404
    assert nova_error(r, "itemNotFound") == "Instance is not a member of specified network"

    def names(query: str) -> set[str]:
        r = cloud.client.get(f"{C}/servers?{query}", headers=hd)
        assert r.status_code == 200, r.text
        return {s["name"] for s in r.json()["servers"]}

    assert names("ip=10.7.3.21") == {"ipvm"}
    assert names("ip=10.7.3.1") == {"other"}  # a prefix: 10.7.3.122, not 10.7.3.21
    assert names("ip=10%5C.7%5C.3%5C..*") == {"ipvm", "other"}
    assert names("ip=7.3") == set()  # matched from the start
    assert names("ip6=10.7") == set()  # no IPv6 address


def test_interface_attach_list_show_detach(cloud: Cloud) -> None:
    """os-interface: a server's ports listed and shown; attach by network (with a fixed
    address) and by the user's port, which the host's driver plugs; detach deletes
    the port compute made and unbinds the user's; a port not attached is 404; a server
    not active/paused/stopped is 409 (issue 16: Tempest's AttachInterfacesTestJSON)."""
    u = cloud.make_project_user()
    hd = u["headers"]
    net_id, sub_id = network(cloud, hd, "ifnet", "10.9.0.0/24")
    r = boot(cloud, hd, "ifvm", networks=[{"uuid": net_id}])
    sid = r.json()["server"]["id"]
    wait_status(cloud, hd, sid, "ACTIVE")
    url = f"{C}/servers/{sid}/os-interface"
    (first,) = cloud.client.get(url, headers=hd).json()["interfaceAttachments"]
    assert first["net_id"] == net_id and first["port_state"] == "ACTIVE"
    assert set(first) == {"net_id", "port_id", "mac_addr", "port_state", "fixed_ips"}

    r = cloud.client.post(url, headers=hd, json={"interfaceAttachment": {
        "net_id": net_id, "fixed_ips": [{"ip_address": "10.9.0.77"}]}})
    assert r.status_code == 200, r.text
    by_net = r.json()["interfaceAttachment"]
    assert by_net["fixed_ips"] == [{"subnet_id": sub_id, "ip_address": "10.9.0.77"}]
    own = make(cloud, hd, "ports", "port", network_id=net_id)
    r = cloud.client.post(url, headers=hd, json={"interfaceAttachment": {"port_id": own["id"]}})
    assert r.status_code == 200, r.text
    listed = cloud.client.get(url, headers=hd).json()["interfaceAttachments"]
    assert [i["port_id"] for i in listed] == [first["port_id"], by_net["port_id"], own["id"]]
    r = cloud.client.get(f"{url}/{own['id']}", headers=hd)
    assert r.json()["interfaceAttachment"]["mac_addr"] == own["mac_address"]
    plugged = next(a.driver.instances[sid] for a in cloud.app.state.local_agents
                   if sid in a.driver.instances).spec.ports
    assert [p["id"] for p in plugged][-2:] == [by_net["port_id"], own["id"]]
    assert "10.9.0.77" in str(server(cloud, hd, sid)["addresses"])

    for pid in (by_net["port_id"], own["id"]):
        assert cloud.client.delete(f"{url}/{pid}", headers=hd).status_code == 202
    assert [i["port_id"] for i in cloud.client.get(url, headers=hd).json()[
        "interfaceAttachments"]] == [first["port_id"]]
    assert cloud.client.get(f"{N}/ports/{by_net['port_id']}", headers=hd).status_code == 404
    left = cloud.client.get(f"{N}/ports/{own['id']}", headers=hd).json()["port"]
    assert left["device_id"] == "" and left["status"] == "DOWN"
    r = cloud.client.delete(f"{url}/{own['id']}", headers=hd)
    assert r.status_code == 404
    r = cloud.client.post(url, headers=hd, json={"interfaceAttachment": {"bogus": 1}})
    assert r.status_code == 400

    assert cloud.client.post(f"{C}/servers/{sid}/action", headers=hd,
                             json={"suspend": None}).status_code == 202
    wait_status(cloud, hd, sid, "SUSPENDED")
    r = cloud.client.post(url, headers=hd, json={"interfaceAttachment": {"net_id": net_id}})
    assert r.status_code == 409
