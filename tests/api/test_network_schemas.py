"""Neutron's request schemas at the door: wrong JSON types, enums, formats, lengths,
control characters, limits and query values are refused with 400 in Neutron's
format (NeutronError with its type and "Invalid input for <attribute>" sentence)
before any service code runs; requests Neutron accepts still work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

N = "/network/v2.0"
UUID = "c1ab6b1a-6a07-4b5b-9a0c-3c8d2a0c1f00"


@pytest.fixture(scope="module")
def neutron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("neutron-schemas"))
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


@pytest.fixture(scope="module")
def w(neutron: Cloud) -> dict[str, Any]:
    """A project with a network, a /24 subnet, a port, a group and a router."""
    u = neutron.make_project_user()
    hd = u["headers"]
    net = make(neutron, hd, "networks", "network", name="n")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
               cidr="10.50.0.0/24")
    port = make(neutron, hd, "ports", "port", network_id=net["id"])
    sg = make(neutron, hd, "security-groups", "security_group", name="g")
    router = make(neutron, hd, "routers", "router", name="r")
    return {"hd": hd, "project": u["project_id"], "net": net["id"], "sub": sub["id"],
            "port": port, "sg": sg["id"], "router": router["id"]}


def make(cloud: Cloud, hd: dict[str, str], path: str, key: str, **body: Any) -> dict[str, Any]:
    r = cloud.client.post(f"{N}/{path}", headers=hd, json={key: body})
    assert r.status_code == 201, r.text
    return dict(r.json()[key])


def refused(r: Any, status: int = 400, typ: str | None = "HTTPBadRequest") -> str:
    """The error is Neutron's: NeutronError {type, message, detail} and a request id."""
    assert r.status_code == status, r.text
    body = r.json()["NeutronError"]
    assert set(body) == {"type", "message", "detail"}
    if typ:
        assert body["type"] == typ, body
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert len(r.content) < 1024
    return str(body["message"])


# --- wrong JSON types and enums -----------------------------------------------------
@pytest.mark.parametrize("attrs,field", [
    ({"binding:vnic_type": {"a": 1}}, "binding:vnic_type"),
    ({"binding:vnic_type": "warp-drive"}, "binding:vnic_type"),
    ({"binding:profile": "not-a-dict"}, "binding:profile"),
    ({"binding:profile": [1, 2]}, "binding:profile"),
    ({"security_groups": ["not-a-uuid"]}, "security_groups"),
    ({"security_groups": [{"id": UUID}]}, "security_groups"),
    ({"security_groups": "default"}, "security_groups"),
    ({"fixed_ips": {"ip_address": "10.50.0.9"}}, "fixed_ips"),
    ({"fixed_ips": [{"subnet_id": 7}]}, "fixed_ips"),
    ({"fixed_ips": [{"ip_address": "10.50.0.300"}]}, "fixed_ips"),
    ({"admin_state_up": "maybe"}, "admin_state_up"),
    ({"admin_state_up": 2}, "admin_state_up"),
    ({"device_id": {"x": 1}}, "device_id"),
    ({"allowed_address_pairs": [{"ip_address": ["10.0.0.1"]}]}, "allowed_address_pairs"),
    ({"mac_address": "00:11:22:33:44"}, "mac_address"),
    ({"mac_address": "not-a-mac"}, "mac_address"),
    ({"mac_address": 1234}, "mac_address"),
])
def test_port_create_wrong_types_and_formats(neutron: Cloud, w: dict[str, Any],
                                             attrs: dict[str, Any], field: str) -> None:
    r = neutron.client.post(f"{N}/ports", headers=neutron.admin(),
                            json={"port": {"network_id": w["net"], **attrs}})
    assert refused(r).startswith(f"Invalid input for {field}. Reason: ")


def test_port_update_wrong_types(neutron: Cloud, w: dict[str, Any]) -> None:
    url = f"{N}/ports/{w['port']['id']}"
    for attrs, field in (({"binding:vnic_type": ["normal"]}, "binding:vnic_type"),
                         ({"security_groups": [123]}, "security_groups"),
                         ({"mac_address": "zz:zz:zz:zz:zz:zz"}, "mac_address"),
                         ({"name": {"n": 1}}, "name")):
        r = neutron.client.put(url, headers=w["hd"], json={"port": attrs})
        assert refused(r).startswith(f"Invalid input for {field}. Reason: ")


@pytest.mark.parametrize("path,key,attrs,field", [
    ("floatingips", "floatingip", {"floating_network_id": UUID, "port_id": {"a": 1}},
     "port_id"),
    ("floatingips", "floatingip", {"floating_network_id": UUID, "port_id": "nope"},
     "port_id"),
    ("floatingips", "floatingip", {"floating_network_id": UUID, "subnet_id": ["x"]},
     "subnet_id"),
    ("floatingips", "floatingip", {"floating_network_id": UUID,
                                   "floating_ip_address": "1.2.3"}, "floating_ip_address"),
    ("subnets", "subnet", {"network_id": UUID, "cidr": "10.0.0.0/24",
                           "dns_nameservers": "8.8.8.8"}, "dns_nameservers"),
    ("subnets", "subnet", {"network_id": UUID, "cidr": "10.0.0.0/24",
                           "dns_nameservers": [1, 2]}, "dns_nameservers"),
    ("subnets", "subnet", {"network_id": UUID, "cidr": "10.0.0.0/24",
                           "dns_nameservers": [f"10.0.0.{i}" for i in range(6)]},
     "dns_nameservers"),
    ("subnets", "subnet", {"network_id": UUID, "cidr": "10.0.0.0/24", "ip_version": "4x"},
     "ip_version"),
    ("subnets", "subnet", {"network_id": UUID, "cidr": "10.0.0.0/24",
                           "ipv6_ra_mode": "sometimes"}, "ipv6_ra_mode"),
    ("subnets", "subnet", {"network_id": UUID, "cidr": {"a": 1}}, "cidr"),
    ("subnets", "subnet", {"network_id": UUID, "cidr": "10.0.0.0/24",
                           "host_routes": [{"destination": "10.1.0.0/24"}]}, "host_routes"),
    ("networks", "network", {"mtu": "1400"}, "mtu"),
    ("networks", "network", {"mtu": 2**40}, "mtu"),
    ("networks", "network", {"provider:segmentation_id": "five"},
     "provider:segmentation_id"),
    ("networks", "network", {"shared": [True]}, "shared"),
    ("routers", "router", {"external_gateway_info": {"network_id": 5}},
     "external_gateway_info"),
    ("routers", "router", {"external_gateway_info": "public"}, "external_gateway_info"),
    ("security-groups", "security_group", {"stateful": "sometimes"}, "stateful"),
    ("security-group-rules", "security_group_rule",
     {"security_group_id": UUID, "direction": "ingress", "remote_group_id": {"id": UUID}},
     "remote_group_id"),
    ("security-group-rules", "security_group_rule",
     {"security_group_id": UUID, "direction": "ingress", "remote_ip_prefix": 5},
     "remote_ip_prefix"),
    ("security-group-rules", "security_group_rule",
     {"security_group_id": UUID, "direction": "ingress", "protocol": {"p": "tcp"}},
     "protocol"),
    ("security-group-rules", "security_group_rule",
     {"security_group_id": UUID, "direction": "ingress", "port_range_min": "80"},
     "port_range_min"),
])
def test_create_wrong_types(neutron: Cloud, path: str, key: str, attrs: dict[str, Any],
                            field: str) -> None:
    r = neutron.client.post(f"{N}/{path}", headers=neutron.admin(), json={key: attrs})
    assert refused(r).startswith(f"Invalid input for {field}. Reason: ")


def test_router_interface_ids_are_uuids(neutron: Cloud, w: dict[str, Any]) -> None:
    for verb in ("add_router_interface", "remove_router_interface"):
        url = f"{N}/routers/{w['router']}/{verb}"
        for body, field in (({"subnet_id": {"id": w["sub"]}}, "subnet_id"),
                            ({"subnet_id": [w["sub"]]}, "subnet_id"),
                            ({"port_id": 12}, "port_id")):
            r = neutron.client.put(url, headers=w["hd"], json=body)
            assert refused(r).startswith(f"Invalid input for {field}. Reason: ")
        refused(neutron.client.put(url, headers=w["hd"], json=["subnet_id"]))


def test_non_ascii_digit_is_no_protocol(neutron: Cloud, w: dict[str, Any]) -> None:
    for proto in ("٦", "６", "¹"):
        r = neutron.client.post(f"{N}/security-group-rules", headers=w["hd"], json={
            "security_group_rule": {"security_group_id": w["sg"], "direction": "ingress",
                                    "protocol": proto}})
        refused(r, 400, "SecurityGroupRuleInvalidProtocol")


@pytest.mark.parametrize("prefix", ["10.0.0.300/24", "not-a-cidr", "10.0.0.0/33", ""])
def test_remote_ip_prefix_must_be_a_cidr(neutron: Cloud, w: dict[str, Any],
                                         prefix: str) -> None:
    r = neutron.client.post(f"{N}/security-group-rules", headers=w["hd"], json={
        "security_group_rule": {"security_group_id": w["sg"], "direction": "ingress",
                                "remote_ip_prefix": prefix}})
    if prefix == "":  # Neutron's convert_ip_prefix_to_cidr: empty means "any"
        assert r.status_code == 201, r.text
        neutron.client.delete(f"{N}/security-group-rules/{r.json()['security_group_rule']['id']}",
                              headers=w["hd"])
        return
    assert refused(r, 400, "InvalidCIDR") == f"Invalid CIDR {prefix} given as IP prefix."


# --- NUL, control characters and lengths ------------------------------------------
@pytest.mark.parametrize("name", ["a\x00b", "tab\there", "line\nbreak", "bell\x07",
                                  "del\x7f", " leading", "trailing ", "x" * 256])
def test_names_neutron_refuses(neutron: Cloud, w: dict[str, Any], name: str) -> None:
    for path, key, extra in (("networks", "network", {}),
                             ("ports", "port", {"network_id": w["net"]}),
                             ("routers", "router", {}),
                             ("security-groups", "security_group", {})):
        r = neutron.client.post(f"{N}/{path}", headers=w["hd"],
                                json={key: {"name": name, **extra}})
        assert refused(r).startswith("Invalid input for name. Reason: ")
    r = neutron.client.put(f"{N}/networks/{w['net']}", headers=w["hd"],
                           json={"network": {"name": name}})
    refused(r)


@pytest.mark.parametrize("attrs", [{"description": "x" * 256}, {"description": "a\x00b"},
                                   {"device_owner": "o" * 256}, {"device_id": "\x00"},
                                   {"dns_name": "d" * 256}])
def test_text_attributes_have_neutrons_lengths_and_no_nul(
        neutron: Cloud, w: dict[str, Any], attrs: dict[str, Any]) -> None:
    r = neutron.client.put(f"{N}/ports/{w['port']['id']}", headers=w["hd"],
                           json={"port": attrs})
    field = next(iter(attrs))
    assert refused(r).startswith(f"Invalid input for {field}. Reason: ")


def test_a_huge_value_is_not_echoed(neutron: Cloud, w: dict[str, Any]) -> None:
    r = neutron.client.post(f"{N}/networks", headers=w["hd"],
                            json={"network": {"name": "n" * 100_000}})
    msg = refused(r)
    assert "exceeds maximum length of 255" in msg and len(msg) < 200


def test_tags_lengths_counts_and_shape(neutron: Cloud, w: dict[str, Any]) -> None:
    url = f"{N}/networks/{w['net']}/tags"
    hd = w["hd"]
    refused(neutron.client.put(url, headers=hd, json={"tags": ["t" * 256]}))
    refused(neutron.client.put(url, headers=hd, json={"tags": [f"t{i}" for i in range(51)]}))
    refused(neutron.client.put(url, headers=hd, json={"tags": ["a", "a"]}))
    refused(neutron.client.put(url, headers=hd, json={"tags": [1]}))
    assert refused(neutron.client.put(url, headers=hd, json={"tag": ["a"]})) == \
        "Invalid tags body"
    assert refused(neutron.client.put(url, headers=hd, json=["a"])) == "Invalid tags body"
    r = neutron.client.put(url, headers=hd, json={"tags": [f"t{i}" for i in range(50)]})
    assert r.status_code == 200 and len(r.json()["tags"]) == 50
    assert neutron.client.put(url, headers=hd, json={"tags": []}).status_code == 200


# --- addresses --------------------------------------------------------------------
@pytest.mark.parametrize("addr", ["10.50.0.0", "10.50.0.255"])
def test_fixed_ip_is_never_the_network_or_broadcast_address(
        neutron: Cloud, w: dict[str, Any], addr: str) -> None:
    for fixed in ([{"ip_address": addr}], [{"subnet_id": w["sub"], "ip_address": addr}]):
        r = neutron.client.post(f"{N}/ports", headers=w["hd"], json={"port": {
            "network_id": w["net"], "fixed_ips": fixed}})
        refused(r, 400, "InvalidIpForSubnet")
        r = neutron.client.put(f"{N}/ports/{w['port']['id']}", headers=w["hd"],
                               json={"port": {"fixed_ips": fixed}})
        refused(r, 400, "InvalidIpForSubnet")


def test_fixed_ip_outside_its_subnet_is_400(neutron: Cloud, w: dict[str, Any]) -> None:
    r = neutron.client.post(f"{N}/ports", headers=w["hd"], json={"port": {
        "network_id": w["net"], "fixed_ips": [{"subnet_id": w["sub"],
                                               "ip_address": "10.51.0.5"}]}})
    refused(r, 400, "InvalidIpForSubnet")


@pytest.mark.parametrize("gateway", ["10.60.0.0", "10.60.0.255", "10.61.0.1"])
def test_gateway_is_never_the_network_or_broadcast_address(
        neutron: Cloud, w: dict[str, Any], gateway: str) -> None:
    hd = w["hd"]
    net = make(neutron, hd, "networks", "network", name="gw")
    r = neutron.client.post(f"{N}/subnets", headers=hd, json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.60.0.0/24",
        "gateway_ip": gateway}})
    refused(r, 400, "InvalidInput")
    sub = make(neutron, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
               cidr="10.60.0.0/24")
    r = neutron.client.put(f"{N}/subnets/{sub['id']}", headers=hd,
                           json={"subnet": {"gateway_ip": gateway}})
    refused(r, 400, "InvalidInput")
    r = neutron.client.put(f"{N}/subnets/{sub['id']}", headers=hd,
                           json={"subnet": {"gateway_ip": "10.60.0.254"}})
    assert r.status_code == 200 and r.json()["subnet"]["gateway_ip"] == "10.60.0.254"
    neutron.client.delete(f"{N}/networks/{net['id']}", headers=hd)


def test_duplicate_mac_on_update_is_409_as_on_create(neutron: Cloud, w: dict[str, Any]
                                                     ) -> None:
    admin = neutron.admin()
    other = make(neutron, w["hd"], "ports", "port", network_id=w["net"])
    mac = w["port"]["mac_address"]
    r = neutron.client.post(f"{N}/ports", headers=admin, json={"port": {
        "network_id": w["net"], "mac_address": mac}})
    refused(r, 409, "MacAddressInUse")
    r = neutron.client.put(f"{N}/ports/{other['id']}", headers=admin,
                           json={"port": {"mac_address": mac.upper()}})
    refused(r, 409, "MacAddressInUse")
    r = neutron.client.put(f"{N}/ports/{other['id']}", headers=admin,
                           json={"port": {"mac_address": "FA:16:3E:AB:CD:EF"}})
    assert r.status_code == 200 and r.json()["port"]["mac_address"] == "fa:16:3e:ab:cd:ef"
    neutron.client.delete(f"{N}/ports/{other['id']}", headers=admin)


# --- quotas -----------------------------------------------------------------------
@pytest.mark.parametrize("value", [1.5, "ten", True, None, [1], -2, 2**31, "1e3", "٣"])
def test_quota_values_are_integers(neutron: Cloud, w: dict[str, Any], value: Any) -> None:
    r = neutron.client.put(f"{N}/quotas/{w['project']}", headers=neutron.admin(),
                           json={"quota": {"network": value}})
    assert refused(r).startswith("Invalid input for network. Reason: ")


def test_quota_unknown_resource_and_string_integers(neutron: Cloud, w: dict[str, Any]
                                                    ) -> None:
    url, admin = f"{N}/quotas/{w['project']}", neutron.admin()
    assert refused(neutron.client.put(url, headers=admin, json={
        "quota": {"colour": 1}})) == "Unrecognized attribute(s) 'colour'"
    r = neutron.client.put(url, headers=admin, json={"quota": {"network": "-1",
                                                               "port": 2**31 - 1}})
    assert r.status_code == 200, r.text
    assert r.json()["quota"]["network"] == -1 and r.json()["quota"]["port"] == 2**31 - 1
    neutron.client.delete(url, headers=admin)


# --- bodies as a whole ------------------------------------------------------------
def test_unknown_attributes_are_refused_as_neutron_does(neutron: Cloud, w: dict[str, Any]
                                                        ) -> None:
    r = neutron.client.post(f"{N}/networks", headers=w["hd"],
                            json={"network": {"name": "n", "colour": "red"}})
    assert refused(r) == "Unrecognized attribute(s) 'colour'"
    r = neutron.client.put(f"{N}/networks/{w['net']}", headers=w["hd"],
                           json={"network": {"id": UUID}})
    assert refused(r) == "Cannot update read-only attribute id"
    r = neutron.client.put(f"{N}/subnets/{w['sub']}", headers=w["hd"],
                           json={"subnet": {"cidr": "10.0.0.0/8"}})
    assert refused(r) == "Cannot update read-only attribute cidr"
    for body in ([{"network": {}}], "network", 5):
        refused(neutron.client.post(f"{N}/networks", headers=w["hd"], json=body))
    assert "Resource body required" in refused(neutron.client.put(
        f"{N}/networks/{w['net']}", headers=w["hd"], json={"net": {}}))


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/xml"])
def test_a_json_body_of_another_media_type_is_415(neutron: Cloud, w: dict[str, Any],
                                                  ctype: str) -> None:
    hd = {**w["hd"], "Content-Type": ctype}
    for method, path in (("POST", f"{N}/networks"), ("PUT", f"{N}/networks/{w['net']}"),
                         ("PUT", f"{N}/networks/{w['net']}/tags"),
                         ("PUT", f"{N}/routers/{w['router']}/add_router_interface"),
                         ("PUT", f"{N}/quotas/{w['project']}")):
        r = neutron.client.request(method, path, headers=hd,
                                   content=b'{"network": {"name": "x"}, "tags": []}')
        refused(r, 415, "HTTPUnsupportedMediaType")
    # and a body that is not even JSON, under that type, is 415 too (never a 500)
    r = neutron.client.put(f"{N}/networks/{w['net']}/tags", headers=hd, content=b"{{{")
    refused(r, 415, "HTTPUnsupportedMediaType")


# --- query strings ----------------------------------------------------------------
@pytest.mark.parametrize("path,params", [
    ("networks", {"mtu": str(2**64)}), ("networks", {"mtu": "1e3"}),
    ("networks", {"mtu": "١٤٠٠"}), ("networks", {"limit": str(2**64)}),
    ("networks", {"limit": "-1"}), ("networks", {"limit": "ten"}),
    ("networks", {"shared": "maybe"}), ("networks", {"router:external": "2"}),
    ("networks", {"name": "a\x00b"}), ("networks", {"marker": "m" * 300}),
    ("subnets", {"ip_version": "four"}), ("subnets", {"enable_dhcp": "yes please"}),
    ("ports", {"admin_state_up": "[]"}), ("ports", {"revision_number": "x"}),
    ("security-group-rules", {"port_range_min": "80.5"}),
    ("routers", {"admin_state_up": "\x00"}),
])
def test_query_values_out_of_type_or_range_are_400(neutron: Cloud, w: dict[str, Any],
                                                   path: str, params: dict[str, str]) -> None:
    r = neutron.client.get(f"{N}/{path}", headers=w["hd"], params=params)
    field = next(iter(params))
    assert refused(r).startswith(f"Invalid input for {field}. Reason: ")


def test_every_value_of_a_repeated_filter_is_checked(neutron: Cloud, w: dict[str, Any]
                                                     ) -> None:
    r = neutron.client.get(f"{N}/networks?mtu=1350&mtu={2**64}", headers=w["hd"])
    refused(r)
    r = neutron.client.get(f"{N}/networks?id=a%00b&id={w['net']}", headers=w["hd"])
    refused(r)
    r = neutron.client.get(f"{N}/networks/{w['net']}?fields=id&fields=%00", headers=w["hd"])
    refused(r)


def test_valid_queries_still_work(neutron: Cloud, w: dict[str, Any]) -> None:
    hd = w["hd"]
    r = neutron.client.get(f"{N}/networks", headers=hd, params={
        "mtu": "1350", "shared": "False", "admin_state_up": "true", "limit": "5",
        "sort_key": "name", "sort_dir": "desc", "fields": "id"})
    assert r.status_code == 200 and w["net"] in [n["id"] for n in r.json()["networks"]]
    r = neutron.client.get(f"{N}/networks?id={w['net']}&id={UUID}", headers=hd)
    assert [n["id"] for n in r.json()["networks"]] == [w["net"]]
    assert neutron.client.get(f"{N}/networks", headers=hd, params={
        "limit": str(2**40)}).status_code == 200
    error = refused(neutron.client.get(f"{N}/networks", headers=hd, params={"colour": "x"}))
    assert error == "[colour] is invalid attribute for filtering"


# --- valid edge cases -------------------------------------------------------------
def test_edge_cases_neutron_accepts(neutron: Cloud, w: dict[str, Any]) -> None:
    hd, admin = w["hd"], neutron.admin()
    net = make(neutron, hd, "networks", "network", name="ünï côdé net " + "x" * 242,
               description="line one\nline two", admin_state_up="True",
               port_security_enabled="false")
    assert len(net["name"]) == 255 and net["port_security_enabled"] is False
    made = neutron.client.post(f"{N}/networks", headers=hd, json={"networks": [
        {"name": "bulk-1"}, {"name": "bulk-2", "shared": False}]})
    assert made.status_code == 201 and len(made.json()["networks"]) == 2
    port = make(neutron, admin, "ports", "port", network_id=w["net"],
                **{"binding:vnic_type": "direct", "binding:profile": {"k": ["v"]},
                   "security_groups": [], "port_security_enabled": False,
                   "fixed_ips": [{"subnet_id": w["sub"], "ip_address": "10.50.0.254"}]})
    assert port["binding:vnic_type"] == "direct"
    assert port["fixed_ips"][0]["ip_address"] == "10.50.0.254"
    for rule in ({"protocol": 6, "port_range_min": 22, "port_range_max": 22,
                  "remote_ip_prefix": "192.0.2.7/32", "ethertype": "ipv4"},
                 {"protocol": "icmp", "remote_ip_prefix": "2001:db8::/64",
                  "ethertype": "IPv6"},
                 {"protocol": None, "remote_group_id": w["sg"]}):
        made_rule = make(neutron, hd, "security-group-rules", "security_group_rule",
                         security_group_id=w["sg"], direction="ingress", **rule)
        assert made_rule["security_group_id"] == w["sg"]
    r = neutron.client.put(f"{N}/routers/{w['router']}", headers=hd, json={"router": {
        "name": "r2", "routes": [], "external_gateway_info": None, "status": "ACTIVE"}})
    assert r.status_code == 200, r.text
    for n in [net, *made.json()["networks"]]:
        neutron.client.delete(f"{N}/networks/{n['id']}", headers=hd)
    neutron.client.delete(f"{N}/ports/{port['id']}", headers=admin)


def test_openapi_lists_the_network_schemas(neutron: Cloud) -> None:
    from overcast.kit.schema import openapi_document

    doc = openapi_document(neutron.app)["paths"]
    ports = doc["/network/v2.0/ports"]
    create = ports["post"]["requestBody"]["content"]["application/json"]["schema"]
    item = create["properties"]["port"]["properties"]
    assert item["binding:vnic_type"]["enum"][0] == "normal"
    assert {p["name"] for p in ports["get"]["parameters"]} >= {"limit", "marker",
                                                                "admin_state_up"}
    with_body = [(p, m) for p, ops in doc.items() if p.startswith("/network/")
                 for m, op in ops.items() if m in ("post", "put")]
    undeclared = [(p, m) for p, m in with_body if "requestBody" not in doc[p][m]
                  and not p.endswith("/tags/{tag}")]
    assert not undeclared
