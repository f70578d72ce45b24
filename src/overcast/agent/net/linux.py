"""The Linux dataplane of one host: bridges, veths and taps, dnsmasq for DHCP.

Everything lives in namespaces that carry the cloud's prefix, never in the host's
own network namespace: a `<prefix>-host` namespace holds one bridge per network
(and the instance-side devices); each network with DHCP gets a
`<prefix>-dhcp-<net>` namespace with a veth leg into the bridge and a dnsmasq that
hands out the ports' fixed addresses (static entries, as Neutron does, so a lease
never waits for an ICMP probe), the gateway, DNS, routes and the MTU.

The dataplane is built in layers, one module each: fabric (the specs, names,
bridges, VXLAN tunnels and ports), dhcp, routers (with radvd and the upstream) and
firewall (security groups); `LinuxDataplane` here is all of them together, with
the inventory and cleanup.

Every method is idempotent: calling it again with the same arguments changes
nothing. `cleanup()` removes every namespace and process of this prefix.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from typing import Any

from overcast.agent.net.dhcp import Dhcp
from overcast.agent.net.fabric import METADATA_CIDR, Fabric, PortSpec, SubnetSpec
from overcast.agent.net.firewall import Firewall
from overcast.agent.net.routers import Routers
from overcast.kit.runner import run, which

log = logging.getLogger("overcast.agent.net")

__all__ = ["METADATA_CIDR", "Fabric", "LinuxDataplane", "PortSpec", "SubnetSpec", "which"]


class LinuxDataplane(Dhcp, Routers, Firewall):
    def delete_network(self, net_id: str) -> None:
        self.stop_dhcp(net_id)
        br = self.bridge(net_id)
        if self.host_ns in self._namespaces() and self._link_exists(br, self.host_ns):
            run(["ip", "-n", self.host_ns, "link", "del", br])

    # ---------------------------------------------------------------- inventory
    def list_devices(self) -> dict[str, Any]:
        """What this prefix has on the host (for the reconciler's cleanup)."""
        namespaces = sorted(n for n in self._namespaces() if n.startswith(f"{self.prefix}-"))
        links: list[str] = []
        if self.host_ns in namespaces:
            out = run(["ip", "-n", self.host_ns, "-o", "link", "show"]).stdout
            links = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return {"namespaces": namespaces,
                "links": [name for name in links if name.startswith(self.prefix)]}

    def cleanup(self) -> None:
        """Remove every namespace, device and dnsmasq of this prefix."""
        dhcp = self.state_dir / "dhcp"
        if dhcp.exists():
            for d in dhcp.iterdir():
                pid = self._dnsmasq_pid(d.name)
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            shutil.rmtree(dhcp, ignore_errors=True)
        radvd = self.state_dir / "radvd"
        if radvd.exists():
            for d in radvd.iterdir():
                self._stop_radvd(d.name)
            shutil.rmtree(radvd, ignore_errors=True)
        for ns in self._namespaces():
            if ns.startswith(f"{self.prefix}-"):
                run(["ip", "netns", "del", ns], check=False)


