"""Two hosts, one tenant network (root): each host's agent runs its own dataplane and
the network service tells each where the other's VXLAN tunnel ends. The hosts stand
side by side on one machine, each with its own underlay namespace (its "physical
network card"), joined by a veth: a guest on the compute host gets its DHCP lease from
the network host's dnsmasq and talks to a guest there, all through the tunnel."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.agent.net.component import NetworkAgent
from overcast.agent.net.linux import LinuxDataplane, PortSpec
from overcast.kit.runner import run
from tests.conftest import Cloud, build_cloud
from tests.e2e.test_dataplane_dhcp import lease
from tests.e2e.test_dataplane_sg import can_get

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq") or not shutil.which("busybox"),
    reason="needs root, dnsmasq and busybox (scripts/install-host.sh)")

N = "/network/v2.0"


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[tuple[Cloud, dict[str, NetworkAgent]]]:
    from overcast.agent.host import Agent
    from overcast.agent.virt.fake import FakeDriver

    gen = build_cloud(tmp_path)
    cloud = next(gen)
    tag = uuid.uuid4().hex[:3]
    under = {"a": f"u{tag}a", "b": f"u{tag}b"}
    ips = {"a": "192.0.2.1", "b": "192.0.2.2"}
    for ns in under.values():
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "link", "add", f"u{tag}va", "type", "veth", "peer", "name", f"u{tag}vb"])
    for h, ns in under.items():
        dev = f"u{tag}v{h}"
        run(["ip", "link", "set", dev, "netns", ns])
        run(["ip", "-n", ns, "addr", "add", f"{ips[h]}/24", "dev", dev])
        run(["ip", "-n", ns, "link", "set", dev, "mtu", "1400", "up"])
    comps = {h: NetworkAgent(LinuxDataplane(f"v{tag}{h}", tmp_path / f"net-{h}",
                                            underlay_ns=under[h]),
                             network_host=(h == "a"), tunnel_ip=ips[h]) for h in under}
    procs: list[subprocess.Popen[bytes]] = []

    async def start() -> None:
        agents = []
        for h, comp in comps.items():
            agent = Agent(f"host-{h}", FakeDriver(f"host-{h}"), cloud.app.state.bus,
                          components=[comp], heartbeat_interval=3600,
                          resync_interval=3600)
            await agent.start()
            agents.append(agent)
        cloud.app.state.local_agents = agents

    cloud.client.portal.call(start)  # type: ignore[union-attr]
    try:
        yield cloud, comps
    finally:
        for p in procs:
            p.kill()
        for comp in comps.values():
            comp.dp.cleanup()
        for ns in under.values():
            run(["ip", "netns", "del", ns], check=False)
        gen.close()


def make(cloud: Cloud, hd: dict[str, str], path: str, key: str, **body: Any) -> dict[str, Any]:
    if path == "ports":
        hd = cloud.port_maker(hd, body)
    r = cloud.client.post(f"{N}/{path}", headers=hd, json={key: body})
    assert r.status_code == 201, r.text
    return dict(r.json()[key])


def converged(comps: dict[str, NetworkAgent], cond: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "the hosts did not converge"
        time.sleep(0.1)


def fdb(dp: LinuxDataplane, vni: int) -> str:
    return run(["bridge", "-n", dp.host_ns, "fdb", "show", "dev", dp.tunnel(vni)],
               check=False).stdout


def test_guests_on_two_hosts_share_a_vxlan_network(
        two_hosts: tuple[Cloud, dict[str, NetworkAgent]], tmp_path: Path) -> None:
    cloud, comps = two_hosts
    u = cloud.make_project_user()
    hd = u["headers"]
    net = make(cloud, hd, "networks", "network", name="overlay")
    assert net["provider:network_type"] == "vxlan" and net["mtu"] == 1350
    vni = cloud.client.get(f"{N}/networks/{net['id']}", headers=cloud.admin()).json()[
        "network"]["provider:segmentation_id"]
    make(cloud, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
         cidr="10.70.0.0/24")
    ports = {h: make(cloud, hd, "ports", "port", network_id=net["id"],
                     device_owner="compute:nova", device_id=f"vm-{h}",
                     **{"binding:host_id": f"host-{h}",
                        "binding:profile": {"overcast_kind": "veth"}})
             for h in ("a", "b")}
    a, b = comps["a"].dp, comps["b"].dp
    # each host tunnels to the other: b holds a guest, a holds DHCP and a guest
    converged(comps, lambda: "00:00:00:00:00:00 dst 192.0.2.1" in fdb(b, vni) and
              "00:00:00:00:00:00 dst 192.0.2.2" in fdb(a, vni))
    # the tunnel's device is in the cloud's namespace, never in the host's own
    assert b.tunnel(vni) not in run(["ip", "-o", "link", "show"]).stdout
    guests = {}
    for h, dp in (("a", a), ("b", b)):
        ns = f"{dp.prefix}-g"
        run(["ip", "netns", "add", ns])
        guests[h] = ns
        p = ports[h]
        dp.plug_port(net["id"], PortSpec(id=p["id"], mac_address=p["mac_address"],
                                         fixed_ips=p["fixed_ips"]), net["mtu"], netns=ns)
    # b's guest gets its lease from dnsmasq on a, through the tunnel
    got = lease(guests["b"], tmp_path, "vm-b")
    assert got[0] == ports["b"]["fixed_ips"][0]["ip_address"] and got[1] == "1350"
    lease(guests["a"], tmp_path, "vm-a")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hello from host a\n")
    web = subprocess.Popen(["ip", "netns", "exec", guests["a"], "busybox", "httpd", "-f",
                            "-p", "80", "-h", str(site)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        # the default group lets members of the group talk to each other
        addr_a = ports["a"]["fixed_ips"][0]["ip_address"]
        deadline = time.monotonic() + 10
        while not can_get(guests["b"], f"http://{addr_a}/"):
            assert time.monotonic() < deadline, "no HTTP across the tunnel"
            time.sleep(0.3)
        # a full-size packet (the network's MTU) crosses the 1400-byte underlay
        r = run(["busybox", "ping", "-c", "1", "-W", "2", "-s", "1322", addr_a],
                netns=guests["b"], check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        web.kill()
        web.wait()
    # b's guest goes away: b no longer holds the network, its tunnel and bridge go
    assert cloud.client.delete(f"{N}/ports/{ports['b']['id']}", headers=hd).status_code == 204
    # (the flooding entry goes; what a's tunnel learned about b's MACs ages out)
    converged(comps, lambda: b.tunnel(vni) not in b.list_devices()["links"] and
              "00:00:00:00:00:00 dst 192.0.2.2" not in fdb(a, vni))
