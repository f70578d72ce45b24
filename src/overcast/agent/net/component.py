"""The agent's network component: converges the host's dataplane to what the network
service wants (asked over the bus), at start, periodically and on every Resync."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from overcast.agent.net.linux import LinuxDataplane, PortSpec, SubnetSpec
from overcast.agent.net.metadata import MetadataProxy
from overcast.bus import BusTimeout
from overcast.bus.messages import NetworkDesired, NetworkDesiredReply
from overcast.kit.runner import run

if TYPE_CHECKING:
    from overcast.agent.host import Agent

log = logging.getLogger("overcast.agent.net")


class NetworkAgent:
    def __init__(self, dataplane: LinuxDataplane, *, network_host: bool = True,
                 also: list[str] | None = None, tunnel_ip: str = "") -> None:
        self.dp = dataplane
        self.network_host = network_host
        #: other agents' hosts on this machine whose ports this dataplane serves
        self.also = list(also or [])
        #: this host's VXLAN endpoint on the hosts' network ("" on a single host)
        self.tunnel_ip = tunnel_ip
        self.agent: Agent | None = None
        self._lock = asyncio.Lock()
        self._again = False
        self.applied = 0  # completed reconciles (tests wait on it)
        self.metadata: MetadataProxy | None = None

    async def start(self, agent: Agent) -> None:
        self.agent = agent
        self.metadata = MetadataProxy(agent.bus)
        asyncio.create_task(self.reconcile())

    async def stop(self) -> None:
        if self.metadata is not None:
            await self.metadata.stop()

    async def reconcile(self) -> None:
        if self.agent is None:
            # not started yet (e.g. fencing unplugs ports before the agent takes its
            # components on): start() reconciles once it has an agent
            return
        if self._lock.locked():
            self._again = True  # coalesce: one more pass after the current one
            return
        async with self._lock:
            while True:
                self._again = False
                await self._once()
                if not self._again:
                    break

    async def _once(self) -> None:
        assert self.agent is not None
        try:
            desired: NetworkDesiredReply = await self.agent.bus.call(
                "network", NetworkDesired(host=self.agent.host,
                                          network_host=self.network_host,
                                          also=self.also, tunnel_ip=self.tunnel_ip), timeout=30)
        except BusTimeout:
            log.warning("network service did not answer; dataplane sync skipped")
            return
        try:
            assert self.metadata is not None
            await self.metadata.prune()
            await asyncio.to_thread(self.apply, desired)
            await self.metadata.ensure(self.metadata_listeners(desired))
        except Exception:  # noqa: BLE001 - the next pass retries
            log.exception("dataplane sync failed on %s", self.agent.host)
            return
        self.applied += 1

    def metadata_listeners(self, desired: NetworkDesiredReply
                           ) -> dict[str, tuple[str, list[tuple[str, str]]]]:
        """Where the metadata proxy listens: in the DHCP namespace of each network
        with DHCPv4 (its guests get a host route there), and in every router, for
        the IPv4 subnets of its legs (guests without DHCP reach it through their
        default route)."""
        out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        for d in desired.dhcp:
            if any(x["enable_dhcp"] and x["ip_version"] == 4 for x in d["subnets"]):
                out[self.dp.dhcp_ns(d["network_id"])] = (
                    f"network {d['network_id']}", [("0.0.0.0/0", d["network_id"])])
        for r in desired.routers:
            nets = [(x["cidr"], itf["net_id"]) for itf in r["interfaces"]
                    for x in itf.get("subnets", []) if x.get("ip_version") == 4]
            if nets:
                out[self.dp.router_ns(r["id"])] = (f"router {r['id']}", nets)
        return out

    def apply(self, desired: NetworkDesiredReply) -> None:
        dp = self.dp
        dp.ensure_host()
        for nid, net in desired.networks.items():
            dp.ensure_network(nid, int(net["mtu"]))
        tunnels = set()
        for t in desired.tunnels:
            tunnels.add(dp.ensure_tunnel(t["network_id"], int(t["vni"]), int(t["mtu"]),
                                         self.tunnel_ip, list(t["remotes"])))
        for d in desired.dhcp:
            dp.ensure_dhcp(
                d["network_id"], int(d["mtu"]), _port(d["port"]),
                [SubnetSpec(**x) for x in d["subnets"]], [_port(p) for p in d["ports"]])
        for u in desired.upstreams:
            dp.ensure_upstream(u["network_id"], int(u["mtu"]), u["cidr"])
        for r in desired.routers:
            dp.ensure_router(r["id"], r["interfaces"], r["gateway"], snat=r["snat"],
                             floating_ips=r["floating_ips"], routes=r["routes"])
        dp.apply_security_groups(desired.ports)
        # what this host holds but nobody wants any more
        have = dp.list_devices()
        dhcp = {d["network_id"] for d in desired.dhcp}
        routers = {r["id"] for r in desired.routers}
        for ns in have["namespaces"]:
            if ns.startswith(f"{dp.prefix}-dhcp-"):
                nid = ns.removeprefix(f"{dp.prefix}-dhcp-")
                if nid not in dhcp:
                    dp.stop_dhcp(nid)
            elif ns.startswith(f"{dp.prefix}-r-"):
                rid = ns.removeprefix(f"{dp.prefix}-r-")
                if rid not in routers:
                    dp.delete_router(rid)
        bridges = {dp.bridge(nid) for nid in desired.networks}
        for link in have["links"]:
            if link.startswith(f"{dp.prefix}b") and link not in bridges:
                dp.remove_bridge(link)
            elif link.startswith(f"{dp.prefix}x") and link not in tunnels:
                run(["ip", "-n", dp.host_ns, "link", "del", link], check=False)


def _port(p: dict[str, Any]) -> PortSpec:
    return PortSpec(id=p["id"], mac_address=p["mac_address"], fixed_ips=p["fixed_ips"],
                    hostname=p.get("hostname") or "")
