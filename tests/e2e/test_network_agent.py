"""The network API drives a real dataplane (root): the agent's network component asks
the network service what its host should hold and converges to it, on changes and
after things were broken behind its back."""

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
HOST = "nethost"


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[Cloud, NetworkAgent]]:
    from overcast.agent.host import Agent
    from overcast.agent.virt.fake import FakeDriver

    gen = build_cloud(tmp_path)
    cloud = next(gen)
    plane = LinuxDataplane(f"n{uuid.uuid4().hex[:4]}", tmp_path / "net")
    component = NetworkAgent(plane)
    procs: list[subprocess.Popen[bytes]] = []
    component.test_procs = procs  # type: ignore[attr-defined]

    async def start() -> None:
        agent = Agent(HOST, FakeDriver(HOST), cloud.app.state.bus, components=[component],
                      heartbeat_interval=3600, resync_interval=3600)
        await agent.start()
        cloud.app.state.local_agents = [agent]

    cloud.client.portal.call(start)  # type: ignore[union-attr]
    try:
        yield cloud, component
    finally:
        for p in procs:
            p.kill()
            p.wait()
        plane.cleanup()
        gen.close()


def settle(component: NetworkAgent, before: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while component.applied <= before:
        assert time.monotonic() < deadline, "the dataplane did not converge"
        time.sleep(0.05)
    # and whatever pass a burst of changes queued after that
    time.sleep(0.3)
    while component._lock.locked():  # noqa: SLF001
        time.sleep(0.05)


def make(cloud: Cloud, hd: dict[str, str], path: str, key: str, **body: Any) -> dict[str, Any]:
    if path == "ports":
        hd = cloud.port_maker(hd, body)
    r = cloud.client.post(f"{N}/{path}", headers=hd, json={key: body})
    assert r.status_code == 201, r.text
    return dict(r.json()[key])


def test_api_to_dataplane(wired: tuple[Cloud, NetworkAgent], tmp_path: Path) -> None:
    cloud, comp = wired
    dp = comp.dp
    admin = cloud.admin()
    before = comp.applied
    public = make(cloud, admin, "networks", "network", name="public",
                  **{"router:external": True, "provider:network_type": "flat",
                     "provider:physical_network": "public"})
    make(cloud, admin, "subnets", "subnet", network_id=public["id"], ip_version=4,
         cidr="172.32.0.0/24", enable_dhcp=False)
    u = cloud.make_project_user()
    hd = u["headers"]
    net = make(cloud, hd, "networks", "network", name="private")
    sub = make(cloud, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
               cidr="10.63.0.0/24")
    router = make(cloud, hd, "routers", "router", name="r1",
                  external_gateway_info={"network_id": public["id"]})
    r = cloud.client.put(f"{N}/routers/{router['id']}/add_router_interface", headers=hd,
                         json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    web = make(cloud, hd, "security-groups", "security_group", name="web")
    make(cloud, hd, "security-group-rules", "security_group_rule",
         security_group_id=web["id"], direction="ingress", protocol="tcp",
         port_range_min=80, port_range_max=80, remote_ip_prefix="0.0.0.0/0")
    ports = []
    for i, groups in enumerate(([web["id"]], None)):
        body: dict[str, Any] = {"network_id": net["id"], "device_owner": "compute:nova",
                                "device_id": f"vm{i}", "binding:host_id": HOST,
                                "binding:profile": {"overcast_kind": "veth"}}
        if groups is not None:
            body["security_groups"] = groups
        ports.append(make(cloud, hd, "ports", "port", **body))
    settle(comp, before)
    assert dp.dhcp_ns(net["id"]) in dp.list_devices()["namespaces"]
    assert dp.router_ns(router["id"]) in dp.list_devices()["namespaces"]
    # the test plays the compute driver: plug stand-in instances
    ns = []
    for i, p in enumerate(ports):
        name = f"{dp.prefix}-vm{i}"
        run(["ip", "netns", "add", name])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        dp.plug_port(net["id"], PortSpec(id=p["id"], mac_address=p["mac_address"],
                                         fixed_ips=p["fixed_ips"]), net["mtu"], netns=name)
        got = lease(name, tmp_path, f"vm{i}")
        assert got[0] == p["fixed_ips"][0]["ip_address"] and got[1] == str(net["mtu"])
        ns.append(name)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("vm0 says hi\n")
    for port in (80, 8080):
        comp.test_procs.append(subprocess.Popen(  # type: ignore[attr-defined]
            ["ip", "netns", "exec", ns[0], "busybox", "httpd", "-f", "-p", str(port), "-h",
             str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    vm0 = ports[0]["fixed_ips"][0]["ip_address"]
    assert can_get(ns[1], f"http://{vm0}/")
    assert not can_get(ns[1], f"http://{vm0}:8080/")
    # a floating IP through the API: reachable from the upstream
    before = comp.applied
    fip = make(cloud, hd, "floatingips", "floatingip", floating_network_id=public["id"],
               port_id=ports[0]["id"])
    settle(comp, before)
    up = dp.upstream_ns
    assert can_get(up, f"http://{fip['floating_ip_address']}/")
    # broken behind its back: the router namespace is deleted (the metadata proxy's
    # socket keeps it alive unnamed until the next pass, as haproxy does Neutron's);
    # the next pass lets the old one go and rebuilds it, legs and all
    legs = sorted(x for x in dp.list_devices()["links"] if x.startswith(f"{dp.prefix}q"))
    run(["ip", "netns", "del", dp.router_ns(router["id"])])
    assert dp.router_ns(router["id"]) not in dp.list_devices()["namespaces"]
    before = comp.applied
    cloud.client.portal.call(comp.reconcile)  # type: ignore[union-attr]
    settle(comp, before)
    assert can_get(up, f"http://{fip['floating_ip_address']}/")
    assert sorted(x for x in dp.list_devices()["links"]
                  if x.startswith(f"{dp.prefix}q")) == legs
    inner = run(["ip", "-n", dp.router_ns(router["id"]), "-o", "link", "show"]).stdout
    assert inner.count(" qr-") == 1 and inner.count(" qg-") == 1
    # and the metadata proxy listens in the new namespace, not the old one
    assert comp.metadata is not None
    ino = os.stat(f"/run/netns/{dp.router_ns(router['id'])}").st_ino
    assert comp.metadata.inodes[dp.router_ns(router["id"])] == ino
    # deleting the rule through the API closes port 80
    before = comp.applied
    rule = [r for r in cloud.client.get(f"{N}/security-groups/{web['id']}", headers=hd)
            .json()["security_group"]["security_group_rules"] if r["port_range_min"] == 80][0]
    assert cloud.client.delete(f"{N}/security-group-rules/{rule['id']}",
                               headers=hd).status_code == 204
    settle(comp, before)
    assert not can_get(ns[1], f"http://{vm0}/")
    # the router goes through the API: its namespace goes too
    before = comp.applied
    cloud.client.delete(f"{N}/floatingips/{fip['id']}", headers=hd)
    cloud.client.put(f"{N}/routers/{router['id']}/remove_router_interface", headers=hd,
                     json={"subnet_id": sub["id"]})
    cloud.client.delete(f"{N}/routers/{router['id']}", headers=hd)
    settle(comp, before)
    assert dp.router_ns(router["id"]) not in dp.list_devices()["namespaces"]


def test_metadata_service_through_the_dhcp_namespace(wired: tuple[Cloud, NetworkAgent],
                                                     tmp_path: Path) -> None:
    """Servers booted through the compute API on a network read their own metadata
    (OpenStack and EC2 formats) at 169.254.169.254, served in the network's DHCP
    namespace and answered by the control plane; the route to it comes by DHCP."""
    import base64
    import json

    from tests.images import IMAGE, add_image

    cloud, comp = wired
    dp = comp.dp
    add_image(cloud.client, cloud.admin())
    u = cloud.make_project_user()
    hd = u["headers"]
    r = cloud.client.post("/compute/v2.1/os-keypairs", headers=hd,
                          json={"keypair": {"name": "k"}})
    assert r.status_code == 200, r.text
    public_key = r.json()["keypair"]["public_key"]
    before = comp.applied
    net = make(cloud, hd, "networks", "network", name="meta")
    sub = make(cloud, hd, "subnets", "subnet", network_id=net["id"], ip_version=4,
               cidr="10.64.0.0/24")
    servers = []
    for i in range(2):
        port = make(cloud, hd, "ports", "port", network_id=net["id"],
                    **{"binding:profile": {"overcast_kind": "veth"}})
        body = {"server": {"name": f"meta{i}", "flavorRef": "1", "imageRef": IMAGE,
                           "networks": [{"port": port["id"]}], "key_name": "k",
                           "metadata": {"role": f"r{i}"},
                           "user_data": base64.b64encode(f"#!/bin/sh\necho {i}\n".encode())
                           .decode()}}
        r = cloud.client.post("/compute/v2.1/servers", headers=hd, json=body)
        assert r.status_code == 202, r.text
        servers.append((r.json()["server"]["id"], port))
    for sid, _ in servers:
        deadline = time.monotonic() + 20
        while cloud.client.get(f"/compute/v2.1/servers/{sid}", headers=hd).json()[
                "server"]["status"] != "ACTIVE":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    settle(comp, before)
    opts = (dp.state_dir / "dhcp" / net["id"] / "opts").read_text()
    dhcp_ip = [p for p in cloud.client.get(f"{N}/ports?device_owner=network:dhcp",
                                           headers=cloud.admin()).json()["ports"]
               if p["network_id"] == net["id"]][0]["fixed_ips"][0]["ip_address"]
    assert f"classless-static-route,169.254.169.254/32,{dhcp_ip},0.0.0.0/0,10.64.0.1" in opts
    for i, (sid, port) in enumerate(servers):
        name = f"{dp.prefix}-md{i}"
        run(["ip", "netns", "add", name])
        try:
            run(["ip", "-n", name, "link", "set", "lo", "up"])
            dp.plug_port(net["id"], PortSpec(id=port["id"], mac_address=port["mac_address"],
                                             fixed_ips=port["fixed_ips"]), net["mtu"],
                         netns=name)
            got = lease(name, tmp_path, f"md{i}")
            assert got[0] == port["fixed_ips"][0]["ip_address"]
            run(["ip", "-n", name, "route", "replace", "169.254.169.254/32", "via", dhcp_ip])

            def get(path: str, ns: str = name) -> str:
                return run(["timeout", "5", "busybox", "wget", "-q", "-O", "-",
                            f"http://169.254.169.254{path}"], netns=ns, timeout=20).stdout

            meta = json.loads(get("/openstack/latest/meta_data.json"))
            assert meta["uuid"] == sid and meta["name"] == f"meta{i}"
            assert meta["meta"] == {"role": f"r{i}"} and meta["project_id"] == u["project_id"]
            assert meta["public_keys"]["k"] == public_key
            assert get("/openstack/latest/user_data") == f"#!/bin/sh\necho {i}\n"
            netdata = json.loads(get("/openstack/latest/network_data.json"))
            assert netdata["links"][0]["ethernet_mac_address"] == port["mac_address"]
            assert "meta_data.json" in get("/openstack/latest/")
            assert get("/latest/meta-data/local-ipv4") == got[0]
            assert get("/latest/meta-data/hostname") == f"meta{i}"
            assert get("/latest/meta-data/public-keys/").startswith("0=k")
            assert get("/latest/meta-data/public-keys/0/openssh-key") == public_key
            assert get("/latest/user-data") == f"#!/bin/sh\necho {i}\n"
        finally:
            dp.unplug_port(port["id"])
            run(["ip", "netns", "del", name])
    assert comp.metadata is not None and comp.metadata.requests >= 18
    del sub
