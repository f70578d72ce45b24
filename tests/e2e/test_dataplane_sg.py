"""Security groups for real (root): stateful iptables at the bridge open exactly what
the rules say, close again when a rule goes, and stop spoofed sources."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.net.linux import LinuxDataplane, PortSpec, SubnetSpec
from overcast.kit.runner import run
from tests.e2e.test_dataplane_dhcp import lease

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq") or not shutil.which("busybox"),
    reason="needs root, dnsmasq and busybox (scripts/install-host.sh)")


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[LinuxDataplane]:
    dp = LinuxDataplane(f"s{uuid.uuid4().hex[:4]}", tmp_path / "state")
    procs: list[subprocess.Popen[bytes]] = []
    dp.test_procs = procs  # type: ignore[attr-defined]
    try:
        yield dp
    finally:
        for p in procs:
            p.kill()
            p.wait()
        dp.cleanup()


def serve(plane: LinuxDataplane, ns: str, port: int, root: Path) -> None:
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text(f"port {port}\n")
    plane.test_procs.append(subprocess.Popen(  # type: ignore[attr-defined]
        ["ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", str(port), "-h",
         str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def can_get(ns: str, url: str) -> bool:
    r = run(["timeout", "3", "busybox", "wget", "-q", "-O", "-", url], netns=ns, check=False)
    return r.returncode == 0


def test_rule_opens_port_80_only_and_spoofing_is_dropped(plane: LinuxDataplane,
                                                         tmp_path: Path) -> None:
    net = str(uuid.uuid4())
    sub = SubnetSpec(id=str(uuid.uuid4()), cidr="10.62.0.0/24", gateway_ip="10.62.0.1")
    dhcp = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:03:00:02",
                    fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.62.0.2"}])
    vms = [PortSpec(id=str(uuid.uuid4()), mac_address=f"fa:16:3e:03:00:1{i}",
                    fixed_ips=[{"subnet_id": sub.id, "ip_address": f"10.62.0.1{i}"}])
           for i in range(2)]
    plane.ensure_dhcp(net, 1350, dhcp, [sub], vms)
    ns = []
    for i, p in enumerate(vms):
        name = f"{plane.prefix}-vm{i}"
        run(["ip", "netns", "add", name])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        plane.plug_port(net, p, 1350, netns=name)
        ns.append(name)
    egress = [{"direction": "egress", "ethertype": e, "protocol": None,
               "port_range_min": None, "port_range_max": None, "remote_ips": None}
              for e in ("IPv4", "IPv6")]
    web = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
           "port_range_min": 80, "port_range_max": 80, "remote_ips": ["0.0.0.0/0"]}

    def apply(rules0: list[dict[str, Any]]) -> None:
        plane.apply_security_groups([
            {"port_id": vms[0].id, "mac": vms[0].mac_address, "ips": ["10.62.0.10"],
             "rules": egress + rules0},
            {"port_id": vms[1].id, "mac": vms[1].mac_address, "ips": ["10.62.0.11"],
             "rules": egress}])

    apply([web])
    apply([web])  # idempotent
    # DHCP still works through the firewall
    for i, name in enumerate(ns):
        assert lease(name, tmp_path, f"vm{i}")[0] == f"10.62.0.1{i}"
    serve(plane, ns[0], 80, tmp_path / "w80")
    serve(plane, ns[0], 8080, tmp_path / "w8080")
    assert can_get(ns[1], "http://10.62.0.10/")
    assert not can_get(ns[1], "http://10.62.0.10:8080/")
    # vm1 has no ingress rule at all: vm0 cannot reach it
    serve(plane, ns[1], 80, tmp_path / "w80b")
    assert not can_get(ns[0], "http://10.62.0.11/")
    # removing the rule closes port 80 for new connections
    apply([])
    assert not can_get(ns[1], "http://10.62.0.10/")
    apply([web])
    assert can_get(ns[1], "http://10.62.0.10/")
    # vm1 takes another address: its packets are dropped as spoofed
    run(["ip", "addr", "add", "10.62.0.99/24", "dev", "eth0"], netns=ns[1])
    r = run(["timeout", "3", "busybox", "wget", "-q", "-O", "-", "http://10.62.0.10/"],
            netns=ns[1], check=False)
    assert r.returncode == 0  # its own address is still used for this route...
    run(["ip", "addr", "flush", "dev", "eth0"], netns=ns[1])
    run(["ip", "addr", "add", "10.62.0.99/24", "dev", "eth0"], netns=ns[1])
    assert not can_get(ns[1], "http://10.62.0.10/")  # ...but a foreign one is not
    # with port security off, the port is open (vm1's failed ARP attempts from the
    # foreign address may still be in flight: start its neighbour table afresh, or the
    # kernel fails the next connection when those attempts run out)
    run(["ip", "neigh", "flush", "all"], netns=ns[1])
    plane.apply_security_groups([
        {"port_id": vms[0].id, "mac": vms[0].mac_address, "ips": ["10.62.0.10"],
         "port_security": False}])
    assert can_get(ns[1], "http://10.62.0.10:8080/")


def test_arp_from_a_foreign_address_is_dropped(plane: LinuxDataplane, tmp_path: Path) -> None:
    """iptables never sees ARP: ebtables lets a port announce only its own addresses
    (and allowed pairs) with its own MAC, so it cannot poison its neighbours' caches."""
    net = str(uuid.uuid4())
    sub = SubnetSpec(id=str(uuid.uuid4()), cidr="10.66.0.0/24", gateway_ip="10.66.0.1")
    vms = [PortSpec(id=str(uuid.uuid4()), mac_address=f"fa:16:3e:06:00:1{i}",
                    fixed_ips=[{"subnet_id": sub.id, "ip_address": f"10.66.0.1{i}"}])
           for i in range(2)]
    ns = []
    for i, p in enumerate(vms):
        name = f"{plane.prefix}-arp{i}"
        run(["ip", "netns", "add", name])
        plane.plug_port(net, p, 1350, netns=name)
        run(["ip", "-n", name, "addr", "add", f"10.66.0.1{i}/24", "dev", "eth0"])
        ns.append(name)
    # vm1 may also use 10.66.0.50 (an allowed address pair, as a VIP would)
    plane.apply_security_groups([
        {"port_id": p.id, "mac": p.mac_address, "ips": [p.fixed_ips[0]["ip_address"]],
         "pairs": [{"ip_address": "10.66.0.50"}] if i == 1 else [], "rules": []}
        for i, p in enumerate(vms)])

    def arping(src: str) -> bool:
        r = run(["busybox", "arping", "-I", "eth0", "-c", "1", "-w", "1", "-s", src,
                 "10.66.0.10"], netns=ns[1], check=False)
        return "1 reply" in r.stdout or "Received 1 response" in r.stdout

    assert arping("10.66.0.11")  # its own address: vm0 answers
    run(["ip", "-n", ns[1], "addr", "add", "10.66.0.50/24", "dev", "eth0"])
    assert arping("10.66.0.50")  # an allowed pair
    run(["ip", "-n", ns[1], "addr", "add", "10.66.0.99/24", "dev", "eth0"])
    assert not arping("10.66.0.99")  # a foreign address never reaches vm0
    neigh = run(["ip", "-n", ns[0], "neigh", "show", "10.66.0.99"]).stdout
    assert "lladdr" not in neigh
    # with port security off, anything goes
    plane.apply_security_groups([
        {"port_id": vms[1].id, "mac": vms[1].mac_address, "ips": ["10.66.0.11"],
         "port_security": False}])
    assert arping("10.66.0.99")
