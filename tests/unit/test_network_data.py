"""network_data.json says how each address is configured, as Nova writes it."""

from __future__ import annotations

from typing import Any

from overcast.compute.metadata import network_data


def port(subnets: dict[str, dict[str, Any]], ips: list[tuple[str, str]]) -> dict[str, Any]:
    return {"id": "0123456789abcdef", "mac_address": "fa:16:3e:00:00:01", "network_id": "n",
            "mtu": 1450, "subnets": subnets,
            "fixed_ips": [{"subnet_id": sid, "ip_address": ip} for sid, ip in ips]}


def sub(cidr: str, **kw: Any) -> dict[str, Any]:
    return {"cidr": cidr, "ip_version": 6 if ":" in cidr else 4, "gateway_ip": None,
            "enable_dhcp": True, "ipv6_address_mode": None, "dns_nameservers": [],
            "host_routes": [], **kw}


def test_types_follow_the_subnets() -> None:
    subnets = {"d4": sub("10.0.0.0/24", gateway_ip="10.0.0.1"),
               "sl": sub("2001:db8:1::/64", ipv6_address_mode="slaac"),
               "st": sub("2001:db8:2::/64", ipv6_address_mode="dhcpv6-stateful"),
               "sf": sub("2001:db8:3::/64", ipv6_address_mode="dhcpv6-stateless")}
    doc = network_data([port(subnets, [("d4", "10.0.0.5"), ("sl", "2001:db8:1::5"),
                                       ("st", "2001:db8:2::5"), ("sf", "2001:db8:3::5")])])
    assert [n["type"] for n in doc["networks"]] == [
        "ipv4_dhcp", "ipv6_slaac", "ipv6_dhcpv6-stateful", "ipv6_dhcpv6-stateless"]
    assert doc["links"][0] == {"id": "tap0123456789a", "vif_id": "0123456789abcdef",
                               "type": "bridge", "ethernet_mac_address": "fa:16:3e:00:00:01",
                               "mtu": 1450}
    assert {n["link"] for n in doc["networks"]} == {"tap0123456789a"}
    assert doc["services"] == []


def test_static_addresses_carry_netmask_routes_and_dns() -> None:
    subnets = {"s4": sub("10.1.0.0/24", enable_dhcp=False, gateway_ip="10.1.0.1",
                         dns_nameservers=["10.1.0.53"],
                         host_routes=[{"destination": "192.168.0.0/16",
                                       "nexthop": "10.1.0.254"}]),
               "s6": sub("2001:db8:4::/64", enable_dhcp=False, gateway_ip="2001:db8:4::1")}
    doc = network_data([port(subnets, [("s4", "10.1.0.7"), ("s6", "2001:db8:4::7")])])
    v4, v6 = doc["networks"]
    assert v4["type"] == "ipv4" and v4["ip_address"] == "10.1.0.7"
    assert v4["netmask"] == "255.255.255.0"
    assert v4["routes"] == [
        {"network": "192.168.0.0", "netmask": "255.255.0.0", "gateway": "10.1.0.254"},
        {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.1.0.1"}]
    assert v4["services"] == [{"type": "dns", "address": "10.1.0.53"}]
    assert v6["type"] == "ipv6" and v6["netmask"] == "ffff:ffff:ffff:ffff::"
    assert v6["routes"] == [{"network": "::", "netmask": "::", "gateway": "2001:db8:4::1"}]
    assert doc["services"] == [{"type": "dns", "address": "10.1.0.53"}]


def test_ports_without_subnet_details_still_say_dhcp() -> None:
    doc = network_data([port({}, [("x", "10.2.0.3")])])
    assert doc["networks"][0]["type"] == "ipv4_dhcp"
