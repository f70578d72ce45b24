"""Routers for real (root): a tenant network behind a router namespace with SNAT and a
floating IP, reached from the simulated upstream namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.agent.net.linux import LinuxDataplane, PortSpec, SubnetSpec
from overcast.kit.runner import run
from tests.e2e.test_dataplane_dhcp import lease

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq") or not shutil.which("busybox"),
    reason="needs root, dnsmasq and busybox (scripts/install-host.sh)")

CGI = ("#!/bin/sh\necho 'Content-Type: text/plain'\necho\n"
       "echo \"$REMOTE_ADDR\" | sed -e 's/^\\[::ffff://' -e 's/\\]$//'\n")


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[LinuxDataplane]:
    dp = LinuxDataplane(f"r{uuid.uuid4().hex[:4]}", tmp_path / "state")
    procs: list[subprocess.Popen[bytes]] = []
    dp.test_procs = procs  # type: ignore[attr-defined]
    try:
        yield dp
    finally:
        for p in procs:
            p.kill()
            p.wait()
        dp.cleanup()


def httpd(plane: LinuxDataplane, ns: str, root: Path) -> None:
    p = subprocess.Popen(["ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "80",
                          "-h", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plane.test_procs.append(p)  # type: ignore[attr-defined]


def fetch(ns: str, url: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        r = run(["timeout", "5", "busybox", "wget", "-q", "-O", "-", url], netns=ns,
                check=False)
        if r.returncode == 0 or time.monotonic() > deadline:
            return r.stdout.strip() if r.returncode == 0 else f"failed: {r.stderr}"
        time.sleep(0.2)


def test_snat_and_floating_ip_through_the_upstream(plane: LinuxDataplane,
                                                   tmp_path: Path) -> None:
    ext, net = str(uuid.uuid4()), str(uuid.uuid4())
    up = plane.ensure_upstream(ext, 1400, "172.31.0.1/24")
    www = tmp_path / "up-www"
    (www / "cgi-bin").mkdir(parents=True)
    (www / "cgi-bin" / "ip").write_text(CGI)
    (www / "cgi-bin" / "ip").chmod(0o755)
    httpd(plane, up, www)
    sub = SubnetSpec(id=str(uuid.uuid4()), cidr="10.61.0.0/24", gateway_ip="10.61.0.1")
    dhcp = PortSpec(id=str(uuid.uuid4()), mac_address="fa:16:3e:01:00:02",
                    fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.61.0.2"}])
    vms = [PortSpec(id=str(uuid.uuid4()), mac_address=f"fa:16:3e:01:00:1{i}",
                    fixed_ips=[{"subnet_id": sub.id, "ip_address": f"10.61.0.1{i}"}])
           for i in range(2)]
    plane.ensure_dhcp(net, 1350, dhcp, [sub], vms)
    router = str(uuid.uuid4())
    itf = {"port_id": str(uuid.uuid4()), "mac": "fa:16:3e:01:00:01", "net_id": net,
           "mtu": 1350, "cidrs": ["10.61.0.1/24"]}
    gw = {"port_id": str(uuid.uuid4()), "mac": "fa:16:3e:02:00:05", "net_id": ext,
          "mtu": 1400, "cidrs": ["172.31.0.5/24"], "gateway_ip": "172.31.0.1"}
    fips = [{"floating_ip": "172.31.0.50", "fixed_ip": "10.61.0.10"}]
    plane.ensure_router(router, [itf], gw, floating_ips=fips)
    plane.ensure_router(router, [itf], gw, floating_ips=fips)  # idempotent
    ns = []
    for i, p in enumerate(vms):
        name = f"{plane.prefix}-vm{i}"
        run(["ip", "netns", "add", name])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        plane.plug_port(net, p, 1350, netns=name)
        assert lease(name, tmp_path, f"vm{i}")[0] == f"10.61.0.1{i}"
        ns.append(name)
    site = tmp_path / "vm0-www"
    site.mkdir()
    (site / "index.html").write_text("hello from vm0\n")
    httpd(plane, ns[0], site)
    # in through the floating IP, out with the floating IP, out via SNAT without one
    assert fetch(up, "http://172.31.0.50/") == "hello from vm0"
    assert fetch(ns[0], "http://172.31.0.1/cgi-bin/ip") == "172.31.0.50"
    assert fetch(ns[1], "http://172.31.0.1/cgi-bin/ip") == "172.31.0.5"
    # the upstream cannot reach the tenant network directly
    r = run(["timeout", "3", "busybox", "wget", "-q", "-O", "-", "http://10.61.0.10/"],
            netns=up, check=False)
    assert r.returncode != 0
    # disassociate: the floating IP stops answering, vm0 leaves via SNAT
    plane.ensure_router(router, [itf], gw, floating_ips=[])
    r = run(["timeout", "3", "busybox", "wget", "-q", "-O", "-", "http://172.31.0.50/"],
            netns=up, check=False)
    assert r.returncode != 0
    assert fetch(ns[0], "http://172.31.0.1/cgi-bin/ip") == "172.31.0.5"
    plane.delete_router(router)
    assert plane.router_ns(router) not in plane.list_devices()["namespaces"]
