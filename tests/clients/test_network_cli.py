"""The networking user story (API side) with the real openstackclient and openstacksdk."""

from __future__ import annotations

import uuid

import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


def test_network_story_cli(live: Live) -> None:
    sfx = uuid.uuid4().hex[:6]
    public = f"public-{sfx}"
    ext = live.osc("network", "create", "--external", "--provider-network-type", "flat",
                   "--provider-physical-network", "public", public, check=False)
    if ext.returncode != 0 and "in use" in ext.stderr:
        # `overcast up` or an earlier test already made the flat network on `public`
        ext_net = next(n for n in live.osc("network", "list", "--external"))
        public = ext_net["Name"]
    else:
        assert ext.returncode == 0, ext.stderr
        live.osc("subnet", "create", "--network", public, "--subnet-range",
                 f"172.30.{int(sfx[:2], 16) % 250}.0/24", "--no-dhcp", f"{public}-subnet")
    net = live.osc("network", "create", f"private-{sfx}")
    assert net["mtu"] == 1350 and net["status"] == "ACTIVE"
    sub = live.osc("subnet", "create", "--network", f"private-{sfx}", "--subnet-range",
                   "10.0.0.0/24", "--dns-nameserver", "10.0.0.53", "--allocation-pool",
                   "start=10.0.0.10,end=10.0.0.200", f"private-subnet-{sfx}")
    assert sub["gateway_ip"] == "10.0.0.1" and sub["dns_nameservers"] == ["10.0.0.53"]
    v6 = live.osc("subnet", "create", "--network", f"private-{sfx}", "--ip-version", "6",
                  "--subnet-range", "fd00:10::/64", "--ipv6-address-mode", "slaac",
                  "--ipv6-ra-mode", "slaac", f"v6-{sfx}")
    assert v6["ipv6_address_mode"] == "slaac"
    live.osc("router", "create", f"r1-{sfx}")
    live.osc("router", "set", "--external-gateway", public, f"r1-{sfx}", fmt=False)
    live.osc("router", "add", "subnet", f"r1-{sfx}", f"private-subnet-{sfx}", fmt=False)
    router = live.osc("router", "show", f"r1-{sfx}")
    info = router["external_gateway_info"]
    assert info["network_id"] == live.osc("network", "show", public)["id"]
    assert router["interfaces_info"][0]["ip_address"] == "10.0.0.1"
    port = live.osc("port", "create", "--network", f"private-{sfx}", "--fixed-ip",
                    f"subnet=private-subnet-{sfx},ip-address=10.0.0.50", "--device",
                    f"dev-{sfx}", f"port-{sfx}")
    assert any(f["ip_address"] == "10.0.0.50" for f in port["fixed_ips"])
    rows = live.osc("port", "list", "--device-id", f"dev-{sfx}")
    assert [r["Name"] for r in rows] == [f"port-{sfx}"]
    live.osc("security", "group", "create", f"web-{sfx}")
    rule = live.osc("security", "group", "rule", "create", "--protocol", "tcp",
                    "--dst-port", "80", "--remote-ip", "0.0.0.0/0", f"web-{sfx}")
    assert rule["port_range_min"] == 80 and rule["protocol"] == "tcp"
    live.osc("port", "set", "--security-group", f"web-{sfx}", f"port-{sfx}", fmt=False)
    fip = live.osc("floating", "ip", "create", public)
    live.osc("floating", "ip", "set", "--port", f"port-{sfx}", fip["floating_ip_address"],
             fmt=False)
    shown = live.osc("floating", "ip", "show", fip["floating_ip_address"])
    assert shown["fixed_ip_address"] == "10.0.0.50" and shown["status"] == "ACTIVE"
    assert f"private-{sfx}" in [n["Name"] for n in live.osc("network", "list")]
    # teardown through the CLI too
    live.osc("floating", "ip", "delete", fip["floating_ip_address"], fmt=False)
    live.osc("port", "delete", f"port-{sfx}", fmt=False)
    live.osc("router", "remove", "subnet", f"r1-{sfx}", f"private-subnet-{sfx}", fmt=False)
    live.osc("router", "delete", f"r1-{sfx}", fmt=False)
    live.osc("network", "delete", f"private-{sfx}", fmt=False)


def test_network_sdk(live: Live) -> None:
    conn = live.sdk()
    net = conn.network.create_network(name=f"sdk-{uuid.uuid4().hex[:6]}")
    sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.9.0.0/24")
    port = conn.network.create_port(network_id=net.id)
    assert port.fixed_ips[0]["subnet_id"] == sub.id
    assert [p.id for p in conn.network.ports(network_id=net.id)] == [port.id]
    conn.network.delete_port(port)
    conn.network.delete_network(net)
    assert conn.network.find_network(net.name) is None


def test_server_on_a_network_cli(live: Live) -> None:
    """`server create --network NAME --wait` and `--port`: the addresses shown are the
    ports' addresses, and deleting the server deletes the port compute made."""
    import httpx

    from tests.images import IMAGE, add_image

    conn = live.sdk()
    with httpx.Client(base_url=f"http://127.0.0.1:{live.port}") as c:
        add_image(c, {"X-Auth-Token": conn.auth_token})
    sfx = uuid.uuid4().hex[:6]
    live.osc("network", "create", f"srv-{sfx}")
    live.osc("subnet", "create", "--network", f"srv-{sfx}", "--subnet-range",
             "10.77.0.0/24", f"srv-subnet-{sfx}")
    live.osc("port", "create", "--network", f"srv-{sfx}", "--fixed-ip",
             "ip-address=10.77.0.99", f"srv-port-{sfx}")
    vm = live.osc("server", "create", "--image", IMAGE, "--flavor", "m1.tiny",
                  "--network", f"srv-{sfx}", "--port", f"srv-port-{sfx}", "--wait",
                  f"vm-{sfx}")
    assert vm["status"] == "ACTIVE"
    shown = live.osc("server", "show", f"vm-{sfx}")
    addrs = shown["addresses"]
    assert set(addrs) == {f"srv-{sfx}"}, addrs
    ips = addrs[f"srv-{sfx}"]
    assert "10.77.0.99" in ips and len(ips) == 2, ips
    ports = live.osc("port", "list", "--device-id", vm["id"])
    assert len(ports) == 2
    # security groups on a running server: every port of it
    sg = live.osc("security", "group", "create", f"srv-sg-{sfx}")
    live.osc("server", "add", "security", "group", f"vm-{sfx}", f"srv-sg-{sfx}", fmt=False)
    for p in ports:
        assert sg["id"] in live.osc("port", "show", p["ID"])["security_group_ids"]
    groups = str(live.osc("server", "show", f"vm-{sfx}")["security_groups"])
    assert f"srv-sg-{sfx}" in groups, groups
    live.osc("server", "remove", "security", "group", f"vm-{sfx}", f"srv-sg-{sfx}",
             fmt=False)
    assert sg["id"] not in live.osc("port", "show", ports[0]["ID"])["security_group_ids"]
    live.osc("server", "delete", "--wait", f"vm-{sfx}", fmt=False)
    left = live.osc("port", "list", "--network", f"srv-{sfx}", "--device-owner",
                    "compute:nova")
    assert left == []
    port = live.osc("port", "show", f"srv-port-{sfx}")
    assert port["device_id"] == "" and port["fixed_ips"][0]["ip_address"] == "10.77.0.99"
    live.osc("port", "delete", f"srv-port-{sfx}", fmt=False)
    live.osc("network", "delete", f"srv-{sfx}", fmt=False)
