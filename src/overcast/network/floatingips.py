"""Floating IPs: an address of an external network (held by a port the network
owns), associated with a fixed IPv4 address of a port that a router joins to
that external network."""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.network import allocation, errors, policy, views
from overcast.network import models as m
from overcast.network.common import COMMON_FILTERS, Store, bump, new_id, owner_project, text
from overcast.network.networks import Networks
from overcast.network.ports import Ports, new_service_port
from overcast.network.quotas import Quotas
from overcast.network.routers import router_subnets


class FloatingIPs:
    model: ClassVar[Any] = m.FloatingIP
    filters: ClassVar[dict[str, str]] = {
        **COMMON_FILTERS, "floating_network_id": "floating_network_id",
        "floating_ip_address": "floating_ip_address", "port_id": "port_id",
        "fixed_ip_address": "fixed_ip_address", "router_id": "router_id",
        "status": "status"}

    def __init__(self, store: Store, quotas: Quotas, networks: Networks, ports: Ports
                 ) -> None:
        self.store = store
        self.quotas = quotas
        self.networks = networks
        self.ports = ports

    def query(self, ctx: RequestContext) -> Select[Any]:
        return select(m.FloatingIP).where(policy.visible_floatingips(ctx))

    def get(self, s: Session, ctx: RequestContext, fip_id: str) -> m.FloatingIP:
        f = s.scalar(select(m.FloatingIP).where(m.FloatingIP.id == fip_id,
                                                policy.visible_floatingips(ctx)))
        if f is None:
            raise errors.fip_not_found(fip_id)
        return f

    def views(self, s: Session, rows: list[m.FloatingIP]) -> list[dict[str, Any]]:
        return [views.floatingip(x) for x in rows]

    def _associate(self, s: Session, ctx: RequestContext, fip: m.FloatingIP,
                   port_id: str | None, fixed: str | None) -> None:
        """Point the floating IP at a port's fixed IPv4 address (the one asked for, or
        its first), through the router that joins the port's subnet to the floating
        IP's network; None disassociates."""
        if port_id is None:
            fip.port_id = fip.fixed_ip_address = fip.router_id = None
            fip.status = "DOWN"
            return
        port = self.ports.get(s, ctx, port_id)
        policy.check_fip_port(ctx, port, fip)
        allocs = [a for a in s.scalars(select(m.IPAllocation).where(
            m.IPAllocation.port_id == port.id)) if ipaddress.ip_address(a.ip_address).version
            == 4]
        if fixed is not None:
            allocs = [a for a in allocs if a.ip_address == fixed]
            if not allocs:
                raise errors.fip_port_lacks_ip(port_id, fixed)
        if not allocs:
            raise errors.fip_port_no_ipv4(port_id)
        alloc = allocs[0]
        router = None
        for r in s.scalars(select(m.Router).where(
                m.Router.gateway_network_id == fip.floating_network_id)):
            if any(sub.id == alloc.subnet_id for sub in router_subnets(s, r.id)):
                router = r
                break
        if router is None:
            raise errors.fip_unreachable(fip.floating_network_id, alloc.subnet_id, port_id)
        other = s.scalar(select(m.FloatingIP.id).where(
            m.FloatingIP.port_id == port.id, m.FloatingIP.fixed_ip_address ==
            alloc.ip_address, m.FloatingIP.id != fip.id))
        if other:
            raise errors.fip_fixed_ip_taken(fip.floating_ip_address, port_id,
                                            alloc.ip_address, fip.floating_network_id)
        fip.port_id, fip.fixed_ip_address, fip.router_id = port.id, alloc.ip_address, router.id
        fip.status = "ACTIVE"

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        net_id = body.get("floating_network_id")
        if not isinstance(net_id, str):
            raise errors.required_attribute("floating_network_id")
        policy.check_owner_project(ctx, body, "floatingip")
        project = owner_project(ctx, body)
        with self.store.db.transaction() as s:
            net = self.networks.get(s, ctx, net_id)
            if not net.external:
                raise errors.fip_network_not_external(net_id)
            self.quotas.check(s, project, "floatingip")
            fip_id = new_id()
            port = new_service_port(s, net.id, owner="network:floatingip", device_id=fip_id,
                                    status="N/A")
            wanted = None
            if body.get("floating_ip_address"):
                wanted = [{"ip_address": body["floating_ip_address"]}]
                if body.get("subnet_id"):
                    wanted[0]["subnet_id"] = body["subnet_id"]
            elif body.get("subnet_id"):
                wanted = [{"subnet_id": body["subnet_id"]}]
            allocation.allocate(s, port, net, wanted)
            addr = [a.ip_address for a in s.scalars(select(m.IPAllocation).where(
                m.IPAllocation.port_id == port.id))
                if ipaddress.ip_address(a.ip_address).version == 4]
            if not addr:
                raise errors.fip_network_no_ipv4(net_id)
            fip = m.FloatingIP(id=fip_id, floating_network_id=net.id, project_id=project,
                               floating_ip_address=addr[0], floating_port_id=port.id,
                               description=text(body, "description"))
            s.add(fip)
            s.flush()
            if body.get("port_id"):
                self._associate(s, ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            s.flush()
            out = views.floatingip(fip)
        self.store.changed("floatingip", fip_id)
        return out

    def update(self, ctx: RequestContext, fip_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        with self.store.db.transaction() as s:
            fip = self.get(s, ctx, fip_id)
            bump(fip, if_match)
            if "description" in body:
                fip.description = text(body, "description")
            if "port_id" in body:
                self._associate(s, ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            s.flush()
            out = views.floatingip(fip)
        self.store.changed("floatingip", fip_id)
        return out

    def delete(self, ctx: RequestContext, fip_id: str) -> None:
        with self.store.db.transaction() as s:
            fip = self.get(s, ctx, fip_id)
            port = s.get(m.Port, fip.floating_port_id)
            if port is not None:
                s.delete(port)
            s.delete(fip)
        self.store.changed("floatingip", fip_id)
