"""IPv6 on the real dataplane (root), driven through the network API: the router
advertises its IPv6 subnets (radvd), SLAAC guests configure themselves from that,
DHCPv6-stateful guests get their port's address from dnsmasq, traffic is routed
between the subnets, and the port firewall keeps IPv6 spoofing and rogue router
advertisements out. Also the metadata service through a router, for a network that
has no DHCP."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.net.component import NetworkAgent
from overcast.agent.net.linux import PortSpec
from overcast.kit.runner import CommandError, run
from tests.conftest import Cloud
from tests.e2e.test_network_agent import HOST, N, make, settle, wired  # noqa: F401

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq") or not shutil.which("busybox")
    or not shutil.which("radvd") or not shutil.which("dhclient"),
    reason="needs root, dnsmasq, busybox, radvd and dhclient (scripts/install-host.sh)")

DHCLIENT = """#!/bin/sh
# dhclient -6 hook: configure the address it got and note it (never touch the host's
# /etc/resolv.conf: the namespace shares the host's /etc); dhclient gives its scripts
# an environment of its own, so the output path is written in
case "$reason" in
  BOUND6|REBOOT6|RENEW6|REBIND6)
    ip -6 addr replace "$new_ip6_address/64" dev "$interface" nodad
    echo "$new_ip6_address $new_dhcp6_name_servers" > "@OUT@"
    ;;
  INFORM6)
    echo "$new_dhcp6_name_servers" > "@OUT@"
    ;;
esac
exit 0
"""


def wait_for(what: str, check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def addrs6(ns: str, scope: str = "global") -> list[str]:
    out = run(["ip", "-n", ns, "-o", "-6", "addr", "show", "dev", "eth0", "scope", scope])
    return [line.split()[3].split("/")[0] for line in out.stdout.splitlines()
            if "tentative" not in line]


def ping6(ns: str, dst: str, src: str | None = None) -> bool:
    argv = ["busybox", "ping", "-c", "1", "-W", "2", *(["-I", src] if src else []), dst]
    try:
        run(argv, netns=ns, timeout=10)
        return True
    except CommandError:
        return False


def plug(cloud: Cloud, comp: NetworkAgent, net: dict[str, Any], port: dict[str, Any],
         name: str, created: list[str]) -> str:
    dp = comp.dp
    ns = f"{dp.prefix}-{name}"
    run(["ip", "netns", "add", ns])
    created.append(ns)
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    dp.plug_port(net["id"], PortSpec(id=port["id"], mac_address=port["mac_address"],
                                     fixed_ips=port["fixed_ips"]), net["mtu"], netns=ns)
    return ns


def test_slaac_and_dhcpv6_stateful_routed_by_the_router(
        wired: tuple[Cloud, NetworkAgent], tmp_path: Path) -> None:  # noqa: F811
    cloud, comp = wired
    dp = comp.dp
    hd = cloud.make_project_user()["headers"]
    before = comp.applied
    net_a = make(cloud, hd, "networks", "network", name="v6-slaac")
    sub_a = make(cloud, hd, "subnets", "subnet", network_id=net_a["id"], ip_version=6,
                 cidr="2001:db8:a::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    net_b = make(cloud, hd, "networks", "network", name="v6-stateful")
    sub_b = make(cloud, hd, "subnets", "subnet", network_id=net_b["id"], ip_version=6,
                 cidr="2001:db8:b::/64", ipv6_ra_mode="dhcpv6-stateful",
                 ipv6_address_mode="dhcpv6-stateful", dns_nameservers=["2001:db8:b::53"])
    net_c = make(cloud, hd, "networks", "network", name="v6-stateless")
    sub_c = make(cloud, hd, "subnets", "subnet", network_id=net_c["id"], ip_version=6,
                 cidr="2001:db8:c::/64", ipv6_ra_mode="dhcpv6-stateless",
                 ipv6_address_mode="dhcpv6-stateless", dns_nameservers=["2001:db8:c::53"])
    router = make(cloud, hd, "routers", "router", name="r6")
    for sub in (sub_a, sub_b, sub_c):
        r = cloud.client.put(f"{N}/routers/{router['id']}/add_router_interface",
                             headers=hd, json={"subnet_id": sub["id"]})
        assert r.status_code == 200, r.text
    ports = {}
    for key, net in (("a", net_a), ("b", net_b), ("c", net_c)):
        ports[key] = make(cloud, hd, "ports", "port", network_id=net["id"],
                          device_owner="compute:nova", device_id=f"vm-{key}",
                          **{"binding:host_id": HOST,
                             "binding:profile": {"overcast_kind": "veth"}})
    settle(comp, before)
    a_ip = ports["a"]["fixed_ips"][0]["ip_address"]
    b_ip = ports["b"]["fixed_ips"][0]["ip_address"]
    assert ipaddress.ip_address(a_ip) in ipaddress.ip_network("2001:db8:a::/64")
    assert ipaddress.ip_address(b_ip) in ipaddress.ip_network("2001:db8:b::/64")
    # the router advertises both legs: an autonomous prefix on the SLAAC one, the M
    # flag on the stateful one; only the stateful network needs a DHCP server
    conf = (dp.state_dir / "radvd" / router["id"] / "radvd.conf").read_text()
    assert "prefix 2001:db8:a::/64" in conf and "AdvManagedFlag on;" in conf
    assert "AdvOtherConfigFlag on;" in conf
    assert conf.count("AdvAutonomous on;") == 2 and conf.count("AdvAutonomous off;") == 1
    namespaces = dp.list_devices()["namespaces"]
    assert dp.dhcp_ns(net_b["id"]) in namespaces and dp.dhcp_ns(net_c["id"]) in namespaces
    assert dp.dhcp_ns(net_a["id"]) not in namespaces
    created: list[str] = []
    try:
        ns_a = plug(cloud, comp, net_a, ports["a"], "v6a", created)
        ns_b = plug(cloud, comp, net_b, ports["b"], "v6b", created)
        # SLAAC: the guest's kernel takes the advertised prefix and makes exactly the
        # address the port was given (EUI-64 of its MAC), and a default route
        assert wait_for("a SLAAC address", lambda: addrs6(ns_a)) == [a_ip]
        routes = run(["ip", "-n", ns_a, "-6", "route", "show", "default"]).stdout
        assert "via fe80::" in routes, routes
        # DHCPv6: dnsmasq hands out the port's own address and the DNS server
        wait_for("a link-local address", lambda: addrs6(ns_b, "link"))
        out = tmp_path / "b.lease"
        script = tmp_path / "dhclient.sh"
        script.write_text(DHCLIENT.replace("@OUT@", str(out)))
        script.chmod(0o755)
        run(["dhclient", "-6", "-1", "-v", "-sf", str(script), "-lf", str(tmp_path / "lf"),
             "-pf", str(tmp_path / "pf"), "eth0"], netns=ns_b, timeout=60)
        got = out.read_text().split()
        assert got == [b_ip, "2001:db8:b::53"], got
        wait_for("a default route from the router", lambda: "via fe80::" in run(
            ["ip", "-n", ns_b, "-6", "route", "show", "default"]).stdout)
        # DHCPv6-stateless: the address by SLAAC, the DNS server from dnsmasq
        c_ip = ports["c"]["fixed_ips"][0]["ip_address"]
        ns_c = plug(cloud, comp, net_c, ports["c"], "v6c", created)
        assert wait_for("a SLAAC address", lambda: addrs6(ns_c)) == [c_ip]
        wait_for("a link-local address", lambda: addrs6(ns_c, "link"))
        out_c = tmp_path / "c.info"
        script_c = tmp_path / "dhclient-c.sh"
        script_c.write_text(DHCLIENT.replace("@OUT@", str(out_c)))
        script_c.chmod(0o755)
        run(["dhclient", "-6", "-S", "-1", "-v", "-sf", str(script_c), "-lf",
             str(tmp_path / "lfc"), "-pf", str(tmp_path / "pfc"), "eth0"], netns=ns_c,
            timeout=60)
        assert out_c.read_text().split() == ["2001:db8:c::53"]
        # routed between the subnets (both ports are in the project's default group,
        # which lets its members in over IPv6)
        assert wait_for("ping from a to b", lambda: ping6(ns_a, b_ip))
        assert ping6(ns_b, a_ip)
        # anti-spoofing: an address the port was not given never leaves it
        run(["ip", "-n", ns_a, "-6", "addr", "add", "2001:db8:a::99/64", "dev", "eth0",
             "nodad"])
        assert not ping6(ns_a, b_ip, src="2001:db8:a::99")
        assert ping6(ns_a, b_ip, src=a_ip)
        # a rogue router: a guest's advertisements never reach the other guests
        rogue = tmp_path / "rogue.conf"
        rogue.write_text("interface eth0 {\n AdvSendAdvert on;\n MinRtrAdvInterval 3;\n"
                         " MaxRtrAdvInterval 4;\n prefix 2001:db8:bad::/64 {\n"
                         "  AdvAutonomous on;\n };\n};\n")
        peer = make(cloud, hd, "ports", "port", network_id=net_a["id"],
                    device_owner="compute:nova", device_id="vm-peer",
                    **{"binding:host_id": HOST,
                       "binding:profile": {"overcast_kind": "veth"}})
        before = comp.applied
        cloud.client.portal.call(comp.reconcile)  # type: ignore[union-attr]
        settle(comp, before)
        ns_p = plug(cloud, comp, net_a, peer, "v6p", created)
        run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], netns=ns_a)
        run(["radvd", "-C", str(rogue), "-p", str(tmp_path / "rogue.pid"), "-m", "logfile",
             "-l", str(tmp_path / "rogue.log")], netns=ns_a)
        try:
            assert wait_for("the peer's SLAAC address", lambda: addrs6(ns_p)) == [
                peer["fixed_ips"][0]["ip_address"]]
            time.sleep(5)  # more than one of the rogue's advertisement intervals
            assert not [x for x in addrs6(ns_p) if x.startswith("2001:db8:bad:")]
        finally:
            pid = int((tmp_path / "rogue.pid").read_text())
            os.kill(pid, 15)
    finally:
        for pidfile in tmp_path.glob("pf*"):  # dhclient stays behind to renew
            with contextlib.suppress(ValueError, OSError):
                os.kill(int(pidfile.read_text()), 15)
        for p in ports.values():
            dp.unplug_port(p["id"])
        for ns in created:
            run(["ip", "netns", "del", ns], check=False)
    # the router's last IPv6 leg goes: radvd stops
    before = comp.applied
    for sub in (sub_a, sub_b, sub_c):
        r = cloud.client.put(f"{N}/routers/{router['id']}/remove_router_interface",
                             headers=hd, json={"subnet_id": sub["id"]})
        assert r.status_code == 200, r.text
    settle(comp, before)
    assert not (dp.state_dir / "radvd" / router["id"]).exists()
    assert "radvd" not in run(["ip", "netns", "pids", dp.router_ns(router["id"])],
                              check=False).stdout


def test_metadata_through_a_router_on_a_network_without_dhcp(
        wired: tuple[Cloud, NetworkAgent]) -> None:  # noqa: F811
    from tests.images import IMAGE, add_image

    cloud, comp = wired
    dp = comp.dp
    add_image(cloud.client, cloud.admin())
    hd = cloud.make_project_user()["headers"]
    before = comp.applied
    net = make(cloud, hd, "networks", "network", name="static")
    sub = make(cloud, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
               cidr="10.65.0.0/24", enable_dhcp=False)
    router = make(cloud, hd, "routers", "router", name="rm")
    r = cloud.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                         json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    port = make(cloud, hd, "ports", "port", network_id=net["id"],
                **{"binding:profile": {"overcast_kind": "veth"}})
    r = cloud.client.post("/compute/v2.1/servers", headers=hd, json={"server": {
        "name": "static0", "flavorRef": "1", "imageRef": IMAGE,
        "networks": [{"port": port["id"]}]}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_for("the server", lambda: cloud.client.get(
        f"/compute/v2.1/servers/{sid}", headers=hd).json()["server"]["status"] == "ACTIVE")
    settle(comp, before)
    assert dp.dhcp_ns(net["id"]) not in dp.list_devices()["namespaces"]
    created: list[str] = []
    try:
        ns = plug(cloud, comp, net, port, "st0", created)
        ip = port["fixed_ips"][0]["ip_address"]
        run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
        run(["ip", "-n", ns, "route", "add", "default", "via", "10.65.0.1"])

        def get(path: str) -> str:
            return run(["timeout", "5", "busybox", "wget", "-q", "-O", "-",
                        f"http://169.254.169.254{path}"], netns=ns, timeout=20).stdout

        meta = json.loads(get("/openstack/latest/meta_data.json"))
        assert meta["uuid"] == sid and meta["name"] == "static0"
        assert get("/latest/meta-data/local-ipv4") == ip
        # no DHCP: network_data.json tells the guest its address and routes
        netdata = json.loads(get("/openstack/latest/network_data.json"))
        assert netdata["networks"][0] | {"id": "", "link": ""} == {
            "id": "", "link": "", "network_id": net["id"], "type": "ipv4",
            "ip_address": ip, "netmask": "255.255.255.0", "services": [],
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                        "gateway": "10.65.0.1"}]}
        # an address that is no port's gets nothing
        run(["ip", "-n", ns, "addr", "flush", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "address", "fa:16:3e:00:00:01"])
        run(["ip", "-n", ns, "addr", "add", "10.65.0.200/24", "dev", "eth0"])
        run(["ip", "-n", ns, "route", "replace", "default", "via", "10.65.0.1"])
        with pytest.raises(CommandError):
            get("/openstack/latest/meta_data.json")
    finally:
        dp.unplug_port(port["id"])
        for n in created:
            run(["ip", "netns", "del", n], check=False)


def test_router_without_radvd_still_converges(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A host missing radvd loses only the advertisements: the router is built with
    its addresses and the pass goes on (no exception for the caller); once radvd is
    there, the next pass starts it."""
    import uuid as uuidlib

    from overcast.agent.net import linux, routers

    # radvd is looked up where routers are built
    monkeypatch.setattr(routers, "which", lambda name: None)
    dp = linux.LinuxDataplane(f"t{uuidlib.uuid4().hex[:4]}", tmp_path / "state")
    rid = str(uuidlib.uuid4())
    legs = [{"port_id": str(uuidlib.uuid4()), "mac": "fa:16:3e:00:00:11",
             "net_id": str(uuidlib.uuid4()), "mtu": 1450,
             "cidrs": ["10.66.0.1/24", "2001:db8:66::1/64"],
             "subnets": [{"cidr": "10.66.0.0/24", "ip_version": 4},
                         {"cidr": "2001:db8:66::/64", "ip_version": 6,
                          "ipv6_ra_mode": "slaac", "dns_nameservers": []}]}]
    try:
        ns = dp.ensure_router(rid, legs, None)
        addrs = run(["ip", "-n", ns, "-o", "addr", "show"]).stdout
        assert "10.66.0.1/24" in addrs and "2001:db8:66::1/64" in addrs
        assert dp._radvd_pid(rid) is None  # noqa: SLF001
        monkeypatch.setattr(routers, "which", shutil.which)
        dp.ensure_router(rid, legs, None)
        assert dp._radvd_pid(rid) is not None  # noqa: SLF001
    finally:
        dp.cleanup()
