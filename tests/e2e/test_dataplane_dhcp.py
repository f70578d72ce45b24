"""The Linux dataplane for real (root): a bridge in the cloud's namespace, dnsmasq in
a DHCP namespace, two stand-in instances (namespaces on veths) that get their fixed
addresses and the network's MTU by DHCP and reach each other; cleanup leaves nothing."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.agent.net.linux import LinuxDataplane, PortSpec, SubnetSpec
from overcast.kit.runner import CommandError, run

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq") or not shutil.which("busybox"),
    reason="needs root, dnsmasq and busybox (scripts/install-host.sh)")

UDHCPC = """#!/bin/sh
# test hook: apply the lease inside the namespace, record it; touch nothing shared
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "$ip $mtu $router $dns" > "$OUT"
    ;;
esac
exit 0
"""


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[LinuxDataplane]:
    dp = LinuxDataplane(f"t{uuid.uuid4().hex[:4]}", tmp_path / "state")
    try:
        yield dp
    finally:
        dp.cleanup()


def lease(ns: str, tmp: Path, name: str) -> list[str]:
    script = tmp / "udhcpc.sh"
    script.write_text(UDHCPC)
    script.chmod(0o755)
    out = tmp / f"{name}.lease"
    run(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1", "-f", "-O",
         "mtu", "-s", str(script)], netns=ns, env={**os.environ, "OUT": str(out)},
        timeout=30)
    return out.read_text().split()


def test_dhcp_and_l2_between_two_instances(plane: LinuxDataplane, tmp_path: Path) -> None:
    net = str(uuid.uuid4())
    sub = SubnetSpec(id=str(uuid.uuid4()), cidr="10.60.0.0/24", gateway_ip="10.60.0.1",
                     dns_nameservers=["10.60.0.53"])
    dhcp_port = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:00:00:02",
                         fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.60.0.2"}])
    vms = [PortSpec(id=str(uuid.uuid4()), mac_address=f"fa:16:3e:00:00:1{i}",
                    fixed_ips=[{"subnet_id": sub.id, "ip_address": f"10.60.0.1{i}"}],
                    hostname=f"vm{i}") for i in range(2)]
    plane.ensure_dhcp(net, 1350, dhcp_port, [sub], vms)
    plane.ensure_dhcp(net, 1350, dhcp_port, [sub], vms)  # idempotent
    namespaces = []
    for i, p in enumerate(vms):
        ns = f"{plane.prefix}-vm{i}"
        run(["ip", "netns", "add", ns])
        namespaces.append(ns)
        plane.plug_port(net, p, 1350, netns=ns)
        plane.plug_port(net, p, 1350, netns=ns)  # idempotent
    got = [lease(ns, tmp_path, f"vm{i}") for i, ns in enumerate(namespaces)]
    assert got[0][:3] == ["10.60.0.10", "1350", "10.60.0.1"]
    assert got[1][0] == "10.60.0.11" and got[0][3] == "10.60.0.53"
    mtu = run(["cat", "/sys/class/net/eth0/mtu"], netns=namespaces[0]).stdout.strip()
    assert mtu == "1350"
    run(["busybox", "ping", "-c", "1", "-W", "3", "10.60.0.11"], netns=namespaces[0])
    # a port the network does not know gets no lease (static entries only)
    stranger = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:00:00:99", fixed_ips=[])
    ns = f"{plane.prefix}-vmx"
    run(["ip", "netns", "add", ns])
    plane.plug_port(net, stranger, 1350, netns=ns)
    with pytest.raises(CommandError):
        lease(ns, tmp_path, "stranger")
    # a new port appears: dnsmasq reloads its hosts and hands it out
    vms.append(PortSpec(id=stranger.id, mac_address=stranger.mac_address, fixed_ips=[
        {"subnet_id": sub.id, "ip_address": "10.60.0.99"}]))
    plane.ensure_dhcp(net, 1350, dhcp_port, [sub], vms)
    assert lease(ns, tmp_path, "stranger")[0] == "10.60.0.99"
    # vm1's port is deleted and its address goes to a new port (another MAC): the old
    # lease is given back, so the new port gets the address at once
    reuse = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:00:00:77", fixed_ips=[
        {"subnet_id": sub.id, "ip_address": "10.60.0.11"}])
    plane.unplug_port(vms[1].id)
    vms[1] = reuse
    plane.ensure_dhcp(net, 1350, dhcp_port, [sub], vms)
    ns = f"{plane.prefix}-vmr"
    run(["ip", "netns", "add", ns])
    plane.plug_port(net, reuse, 1350, netns=ns)
    assert lease(ns, tmp_path, "reuse")[0] == "10.60.0.11"
    devices = plane.list_devices()
    assert plane.bridge(net) in devices["links"] and plane.dhcp_ns(net) in \
        devices["namespaces"]
    plane.cleanup()
    assert plane.list_devices()["namespaces"] == []
