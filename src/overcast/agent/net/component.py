"""The agent's network component: converges the host's dataplane to what the network
service wants (asked over the bus), at start, periodically and on every Resync."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from overcast.agent.net.linux import LinuxDataplane, PortSpec, SubnetSpec
from overcast.bus import BusTimeout
from overcast.bus.messages import NetworkDesired

if TYPE_CHECKING:
    from overcast.agent.host import Agent

log = logging.getLogger("overcast.agent.net")


class NetworkAgent:
    def __init__(self, dataplane: LinuxDataplane, *, network_host: bool = True) -> None:
        self.dp = dataplane
        self.network_host = network_host
        self.agent: Agent | None = None
        self._lock = asyncio.Lock()
        self._again = False
        self.applied = 0  # completed reconciles (tests wait on it)

    async def start(self, agent: Agent) -> None:
        self.agent = agent
        asyncio.create_task(self.reconcile())

    async def stop(self) -> None:
        return None

    async def reconcile(self) -> None:
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
            desired: dict[str, Any] = await self.agent.bus.call(
                "network", NetworkDesired(host=self.agent.host,
                                          network_host=self.network_host), timeout=30)
        except BusTimeout:
            log.warning("network service did not answer; dataplane sync skipped")
            return
        try:
            await asyncio.to_thread(self.apply, desired)
        except Exception:  # noqa: BLE001 - the next pass retries
            log.exception("dataplane sync failed on %s", self.agent.host)
            return
        self.applied += 1

    def apply(self, desired: dict[str, Any]) -> None:
        dp = self.dp
        dp.ensure_host()
        for nid, net in desired["networks"].items():
            dp.ensure_network(nid, int(net["mtu"]))
        for d in desired["dhcp"]:
            dp.ensure_dhcp(
                d["network_id"], int(d["mtu"]), _port(d["port"]),
                [SubnetSpec(**x) for x in d["subnets"]], [_port(p) for p in d["ports"]])
        for u in desired["upstreams"]:
            dp.ensure_upstream(u["network_id"], int(u["mtu"]), u["cidr"])
        for r in desired["routers"]:
            dp.ensure_router(r["id"], r["interfaces"], r["gateway"], snat=r["snat"],
                             floating_ips=r["floating_ips"], routes=r["routes"])
        dp.apply_security_groups(desired["ports"])
        # what this host holds but nobody wants any more
        have = dp.list_devices()
        dhcp = {d["network_id"] for d in desired["dhcp"]}
        routers = {r["id"] for r in desired["routers"]}
        for ns in have["namespaces"]:
            if ns.startswith(f"{dp.prefix}-dhcp-"):
                nid = ns.removeprefix(f"{dp.prefix}-dhcp-")
                if nid not in dhcp:
                    dp.stop_dhcp(nid)
            elif ns.startswith(f"{dp.prefix}-r-"):
                rid = ns.removeprefix(f"{dp.prefix}-r-")
                if rid not in routers:
                    dp.delete_router(rid)
        bridges = {dp.bridge(nid) for nid in desired["networks"]}
        for link in have["links"]:
            if link.startswith(f"{dp.prefix}b") and link not in bridges:
                dp.remove_bridge(link)


def _port(p: dict[str, Any]) -> PortSpec:
    return PortSpec(id=p["id"], mac_address=p["mac_address"], fixed_ips=p["fixed_ips"],
                    hostname=p.get("hostname") or "")
