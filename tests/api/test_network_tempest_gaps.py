"""Neutron wire details that Tempest's network tests check (issue 16): host routes and
extra routes to a single host, `routes: null`, the ICMP refusals' words, a second
`default` group by renaming, remote groups that do not exist, and subnets that say
whether their network is external (subnet-external-network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

N = "/network/v2.0"


@pytest.fixture(scope="module")
def neutron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("neutron-gaps"))
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


def test_host_route_to_a_single_host(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="n")
    routes = [{"destination": "10.20.0.0/32", "nexthop": "10.100.1.1"}]
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="10.100.1.0/24",
               ip_version=4, host_routes=routes)
    assert sub["host_routes"] == routes
    new = [{"destination": "10.20.0.7/32", "nexthop": "10.100.1.2"}]
    r = neutron.client.put(f"{N}/subnets/{sub['id']}", headers=hd,
                           json={"subnet": {"host_routes": new}})
    assert r.status_code == 200, r.text
    assert r.json()["subnet"]["host_routes"] == new
    # a subnet itself still needs room for addresses
    r = neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
        "network_id": net["id"], "cidr": "10.20.0.0/32", "ip_version": 4}})
    error(r, 400)


def test_extra_routes_to_a_host_and_routes_null(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="n")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="10.100.2.0/24",
               ip_version=4)
    router = make(neutron, hd, "routers", "router", name="r")
    r = neutron.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                           json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    routes = [{"destination": "192.168.9.9/32", "nexthop": "10.100.2.5"},
              {"destination": "192.168.10.0/24", "nexthop": "10.100.2.6"}]
    r = neutron.client.put(f"{N}/routers/{router['id']}", headers=hd,
                           json={"router": {"routes": routes}})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["router"]["routes"], key=str) == sorted(routes, key=str)
    r = neutron.client.put(f"{N}/routers/{router['id']}", headers=hd,
                           json={"router": {"routes": None}})
    assert r.status_code == 200, r.text
    assert r.json()["router"]["routes"] == []
    shown = neutron.client.get(f"{N}/routers/{router['id']}", headers=hd).json()["router"]
    assert shown["routes"] == []


@pytest.mark.parametrize(("pmin", "pmax", "words"), [
    (1, 256, "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255."),
    (300, 1, "Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255."),
    (None, 6, "ICMP type (port-range-min) is missing"),
    (-1, 25, "Invalid value for port -1"),
])
def test_icmp_refusals_name_type_or_code(neutron: Cloud, pmin: Any, pmax: Any,
                                         words: str) -> None:
    hd = neutron.make_project_user()["headers"]
    sg = make(neutron, hd, "security-groups", "security_group", name="g")
    r = neutron.client.post(f"{N}/security-group-rules", headers=hd, json={
        "security_group_rule": {"security_group_id": sg["id"], "direction": "ingress",
                                "protocol": "icmp", "port_range_min": pmin,
                                "port_range_max": pmax}})
    assert words in error(r, 400)


def test_renaming_a_group_to_default_is_a_conflict(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    sg = make(neutron, hd, "security-groups", "security_group", name="mine")
    r = neutron.client.put(f"{N}/security-groups/{sg['id']}", headers=hd,
                           json={"security_group": {"name": "default"}})
    error(r, 409, "SecurityGroupDefaultAlreadyExists")
    shown = neutron.client.get(f"{N}/security-groups/{sg['id']}", headers=hd).json()
    assert shown["security_group"]["name"] == "mine"
    # other names still go through, and the default group keeps its own name
    r = neutron.client.put(f"{N}/security-groups/{sg['id']}", headers=hd,
                           json={"security_group": {"name": "renamed"}})
    assert r.status_code == 200 and r.json()["security_group"]["name"] == "renamed"


@pytest.mark.parametrize("remote", ["bad_group_id", "0b9ad1a3-3b45-4bd7-9d6c-5f2b1d0e1f11"])
def test_rule_with_a_remote_group_that_does_not_exist_is_404(neutron: Cloud,
                                                             remote: str) -> None:
    hd = neutron.make_project_user()["headers"]
    sg = make(neutron, hd, "security-groups", "security_group", name="g")
    r = neutron.client.post(f"{N}/security-group-rules", headers=hd, json={
        "security_group_rule": {"security_group_id": sg["id"], "direction": "ingress",
                                "protocol": "tcp", "remote_group_id": remote}})
    error(r, 404, "SecurityGroupNotFound")


def test_subnets_say_whether_their_network_is_external(neutron: Cloud) -> None:
    admin = neutron.admin()
    aliases = {e["alias"] for e in neutron.client.get(
        f"{N}/extensions", headers=admin).json()["extensions"]}
    assert "subnet-external-network" in aliases
    ext = make(neutron, admin, "networks", "network", name="ext", **{"router:external": True})
    ext_sub = make(neutron, admin, "subnets", "subnet", network_id=ext["id"],
                   cidr="172.31.250.0/24", ip_version=4, enable_dhcp=False)
    assert ext_sub["router:external"] is True
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="inner")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="10.100.3.0/24",
               ip_version=4)
    assert sub["router:external"] is False
    # another project sees the external network's subnet, filterable by the flag
    listed = neutron.client.get(f"{N}/subnets", headers=hd,
                                params={"router:external": "true"}).json()["subnets"]
    assert ext_sub["id"] in {s["id"] for s in listed}
    assert all(s["router:external"] for s in listed)
    listed = neutron.client.get(f"{N}/subnets", headers=hd,
                                params={"router:external": "false"}).json()["subnets"]
    assert {s["id"] for s in listed} == {sub["id"]}
    r = neutron.client.get(f"{N}/subnets/{sub['id']}", headers=hd)
    assert r.json()["subnet"]["router:external"] is False
    # it is the network's to say: a subnet cannot be made external
    r = neutron.client.put(f"{N}/subnets/{sub['id']}", headers=hd,
                           json={"subnet": {"router:external": True}})
    error(r, 400)
    r = neutron.client.get(f"{N}/subnets", headers=hd, params={"router:external": "maybe"})
    error(r, 400)


def test_deleting_an_external_network_takes_its_idle_floating_ips(neutron: Cloud) -> None:
    admin = neutron.admin()
    ext = make(neutron, admin, "networks", "network", name="ext2", **{"router:external": True})
    make(neutron, admin, "subnets", "subnet", network_id=ext["id"], cidr="172.31.251.0/24",
         ip_version=4, enable_dhcp=False)
    hd = neutron.make_project_user()["headers"]
    fip = make(neutron, hd, "floatingips", "floatingip", floating_network_id=ext["id"])
    r = neutron.client.delete(f"{N}/networks/{ext['id']}", headers=admin)
    assert r.status_code == 204, r.text
    assert neutron.client.get(f"{N}/floatingips/{fip['id']}", headers=hd).status_code == 404
    ports = neutron.client.get(f"{N}/ports", headers=admin,
                               params={"network_id": ext["id"]}).json()["ports"]
    assert ports == []


def test_an_associated_floating_ip_keeps_its_network_in_use(neutron: Cloud) -> None:
    admin = neutron.admin()
    ext = make(neutron, admin, "networks", "network", name="ext3", **{"router:external": True})
    make(neutron, admin, "subnets", "subnet", network_id=ext["id"], cidr="172.31.252.0/24",
         ip_version=4, enable_dhcp=False)
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="inner")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="10.100.4.0/24",
               ip_version=4)
    router = make(neutron, hd, "routers", "router", name="r",
                  external_gateway_info={"network_id": ext["id"]})
    r = neutron.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                           json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    port = make(neutron, hd, "ports", "port", network_id=net["id"])
    fip = make(neutron, hd, "floatingips", "floatingip", floating_network_id=ext["id"],
               port_id=port["id"])
    r = neutron.client.delete(f"{N}/networks/{ext['id']}", headers=admin)
    error(r, 409, "NetworkInUse")
    assert neutron.client.get(f"{N}/floatingips/{fip['id']}", headers=hd).status_code == 200


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless"])
def test_an_auto_address_subnet_is_deleted_from_under_its_ports(neutron: Cloud,
                                                                mode: str) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="v6")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="2001:db8:5::/64",
               ip_version=6, ipv6_ra_mode=mode, ipv6_address_mode=mode)
    port = make(neutron, hd, "ports", "port", network_id=net["id"])
    assert [ip["subnet_id"] for ip in port["fixed_ips"]] == [sub["id"]]
    r = neutron.client.delete(f"{N}/subnets/{sub['id']}", headers=hd)
    assert r.status_code == 204, r.text
    after = neutron.client.get(f"{N}/ports/{port['id']}", headers=hd).json()["port"]
    assert after["fixed_ips"] == []
    assert after["revision_number"] > port["revision_number"]
    # the port still keeps its network in use
    error(neutron.client.delete(f"{N}/networks/{net['id']}", headers=hd), 409, "NetworkInUse")


def test_an_assigned_address_keeps_its_subnet_in_use(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="v6s")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="2001:db8:6::/64",
               ip_version=6, ipv6_ra_mode="dhcpv6-stateful",
               ipv6_address_mode="dhcpv6-stateful")
    make(neutron, hd, "ports", "port", network_id=net["id"])
    error(neutron.client.delete(f"{N}/subnets/{sub['id']}", headers=hd), 409, "SubnetInUse")
    v4 = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="10.100.5.0/24",
              ip_version=4)
    make(neutron, hd, "ports", "port", network_id=net["id"],
         fixed_ips=[{"subnet_id": v4["id"]}])
    error(neutron.client.delete(f"{N}/subnets/{v4['id']}", headers=hd), 409, "SubnetInUse")


# --- extra DHCP options (extra_dhcp_opt) ----------------------------------------------
OPTS = [{"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
        {"opt_name": "tftp-server", "opt_value": "123.123.123.123"},
        {"opt_name": "server-ip-address", "opt_value": "123.123.123.45"}]


def _opts(port: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(o["opt_name"], o["opt_value"], o["ip_version"]) for o in port["extra_dhcp_opts"]}


def test_extra_dhcp_opts_are_stored_and_returned(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="pxe")
    make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="10.100.6.0/24",
         ip_version=4)
    port = make(neutron, hd, "ports", "port", network_id=net["id"], extra_dhcp_opts=OPTS)
    want = {(o["opt_name"], o["opt_value"], 4) for o in OPTS}
    assert _opts(port) == want
    listed = neutron.client.get(f"{N}/ports", headers=hd,
                                params={"network_id": net["id"]}).json()["ports"]
    assert _opts(next(p for p in listed if p["id"] == port["id"])) == want
    # an update merges by name and IP version; a null value removes the option
    r = neutron.client.put(f"{N}/ports/{port['id']}", headers=hd, json={"port": {
        "extra_dhcp_opts": [{"opt_name": "bootfile-name", "opt_value": "grub.efi"},
                            {"opt_name": "tftp-server", "opt_value": None},
                            {"opt_name": "tftp-server", "opt_value": "2015::dead",
                             "ip_version": 6}]}})
    assert r.status_code == 200, r.text
    shown = neutron.client.get(f"{N}/ports/{port['id']}", headers=hd).json()["port"]
    assert _opts(shown) == {("bootfile-name", "grub.efi", 4),
                            ("server-ip-address", "123.123.123.45", 4),
                            ("tftp-server", "2015::dead", 6)}
    plain = make(neutron, hd, "ports", "port", network_id=net["id"])
    assert plain["extra_dhcp_opts"] == []


@pytest.mark.parametrize("bad", [
    [{"opt_value": "x"}], [{"opt_name": "", "opt_value": "x"}],
    [{"opt_name": "a", "opt_value": "x", "ip_version": 5}], "bootfile-name",
    [{"opt_name": "a", "opt_value": "x", "colour": "red"}],
])
def test_extra_dhcp_opts_refusals(neutron: Cloud, bad: Any) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="pxe")
    r = neutron.client.post(f"{N}/ports", headers=hd,
                            json={"port": {"network_id": net["id"], "extra_dhcp_opts": bad}})
    error(r, 400)


# --- agents -------------------------------------------------------------------------
def test_agents_are_the_hosts_dataplanes_and_only_admins_see_them(neutron: Cloud) -> None:
    dataplane = neutron.app.state.network.dataplane
    dataplane.desired("net-host", True, tunnel_ip="192.0.2.10")
    dataplane.desired("compute-2", False, tunnel_ip="192.0.2.11")
    admin = neutron.admin()
    agents = neutron.client.get(f"{N}/agents", headers=admin).json()["agents"]
    kinds = {(a["host"], a["agent_type"]) for a in agents}
    assert {("net-host", "DHCP agent"), ("net-host", "L3 agent"),
            ("net-host", "Metadata agent"), ("net-host", "Linux bridge agent"),
            ("compute-2", "Linux bridge agent")} <= kinds
    assert ("compute-2", "DHCP agent") not in kinds
    assert all(a["alive"] and a["admin_state_up"] for a in agents)
    l2 = next(a for a in agents if a["host"] == "compute-2")
    assert l2["configurations"]["tunneling_ip"] == "192.0.2.11"
    dhcp = next(a for a in agents if a["agent_type"] == "DHCP agent")
    assert dhcp["topic"] == "dhcp_agent" and dhcp["availability_zone"] == "nova"
    # filters and fields
    only = neutron.client.get(f"{N}/agents", headers=admin,
                              params={"agent_type": "L3 agent", "fields": "host"}).json()
    assert only["agents"] == [{"host": "net-host"}]
    assert neutron.client.get(f"{N}/agents", headers=admin,
                              params={"alive": "false"}).json()["agents"] == []
    error(neutron.client.get(f"{N}/agents", headers=admin, params={"colour": "x"}), 400)
    # show, update (description), stable ids
    r = neutron.client.get(f"{N}/agents/{dhcp['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["agent"] == dhcp
    r = neutron.client.put(f"{N}/agents/{dhcp['id']}", headers=admin,
                           json={"agent": {"description": "dnsmasq"}})
    assert r.status_code == 200 and r.json()["agent"]["description"] == "dnsmasq"
    r = neutron.client.put(f"{N}/agents/{dhcp['id']}", headers=admin,
                           json={"agent": {"admin_state_up": False}})
    error(r, 400)
    r = neutron.client.put(f"{N}/agents/{dhcp['id']}", headers=admin,
                           json={"agent": {"host": "elsewhere"}})
    error(r, 400)
    # a project sees none and touches none
    hd = neutron.make_project_user()["headers"]
    r = neutron.client.get(f"{N}/agents", headers=hd)
    assert r.status_code == 200 and r.json()["agents"] == []
    error(neutron.client.get(f"{N}/agents/{dhcp['id']}", headers=hd), 404, "AgentNotFound")
    error(neutron.client.delete(f"{N}/agents/{l2['id']}", headers=hd), 404)
    # delete forgets the host until its agent asks again
    r = neutron.client.delete(f"{N}/agents/{l2['id']}", headers=admin)
    assert r.status_code == 204
    error(neutron.client.get(f"{N}/agents/{l2['id']}", headers=admin), 404)
    dataplane.desired("compute-2", False, tunnel_ip="192.0.2.11")
    assert neutron.client.get(f"{N}/agents/{l2['id']}", headers=admin).status_code == 200


def test_an_agent_that_stopped_asking_is_dead(neutron: Cloud) -> None:
    import datetime as dt

    from overcast.network import models as m

    dataplane = neutron.app.state.network.dataplane
    dataplane.desired("quiet-host", False, tunnel_ip="192.0.2.12")
    with neutron.app.state.network.db.transaction() as s:
        row = s.get(m.Agent, "quiet-host")
        row.heartbeat_at = row.heartbeat_at - dt.timedelta(minutes=10)
    admin = neutron.admin()
    quiet = neutron.client.get(f"{N}/agents", headers=admin,
                               params={"host": "quiet-host"}).json()["agents"]
    assert [a["alive"] for a in quiet] == [False]
    dataplane.desired("quiet-host", False, tunnel_ip="192.0.2.12")
    quiet = neutron.client.get(f"{N}/agents", headers=admin,
                               params={"host": "quiet-host"}).json()["agents"]
    assert [a["alive"] for a in quiet] == [True]


def test_service_providers_list_the_l3_provider(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    r = neutron.client.get(f"{N}/service-providers", headers=hd)
    assert r.status_code == 200, r.text
    assert r.json()["service_providers"] == [
        {"service_type": "L3_ROUTER_NAT", "name": "overcast", "default": True}]
    r = neutron.client.get(f"{N}/service-providers", headers=hd,
                           params={"service_type": "LOADBALANCERV2"})
    assert r.json()["service_providers"] == []
    r = neutron.client.get(f"{N}/service-providers", headers=hd, params={"fields": "name"})
    assert r.json()["service_providers"] == [{"name": "overcast"}]
    error(neutron.client.get(f"{N}/service-providers", headers=hd, params={"x": "1"}), 400)
    aliases = {e["alias"] for e in neutron.client.get(
        f"{N}/extensions", headers=hd).json()["extensions"]}
    assert {"service-type", "ip-substring-filtering"} <= aliases


def test_ip_address_substring_filter_is_a_substring_not_a_pattern(neutron: Cloud) -> None:
    hd = neutron.make_project_user()["headers"]
    net = make(neutron, hd, "networks", "network", name="sub")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], cidr="10.100.7.0/24",
               ip_version=4)
    p1 = make(neutron, hd, "ports", "port", network_id=net["id"],
              fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.100.7.19"}])
    p2 = make(neutron, hd, "ports", "port", network_id=net["id"],
              fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.100.7.20"}])

    def ids(substr: str) -> set[str]:
        r = neutron.client.get(f"{N}/ports", headers=hd,
                               params={"fixed_ips": f"ip_address_substr={substr}"})
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["ports"]}

    assert ids("10.100.7.1") == {p1["id"]}
    assert ids("7.2") == {p2["id"]}
    assert ids("10.100.7._") == set() and ids("%") == set()
