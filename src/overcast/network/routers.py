"""Routers: interfaces on tenant subnets (the subnet's gateway address, or a port
the user made), an external gateway with SNAT, and extra routes whose next hop
must sit on one of the router's subnets."""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.kit.schema import is_uuid
from overcast.network import allocation, errors, ipam, policy, views
from overcast.network import models as m
from overcast.network.common import COMMON_FILTERS, Store, bump, flag, new_id, owner_project, text
from overcast.network.networks import Networks
from overcast.network.ports import Ports, new_service_port
from overcast.network.quotas import Quotas
from overcast.network.subnets import Subnets


def router_subnets(s: Session, router_id: str) -> list[m.Subnet]:
    """The subnets the router has an interface on."""
    ports = select(m.Port.id).where(m.Port.device_id == router_id,
                                    m.Port.device_owner == "network:router_interface")
    subs = select(m.IPAllocation.subnet_id).where(m.IPAllocation.port_id.in_(ports))
    return list(s.scalars(select(m.Subnet).where(m.Subnet.id.in_(subs))))


def _check_overlap(s: Session, router_id: str, sub: m.Subnet) -> None:
    new = ipaddress.ip_network(sub.cidr)
    for other in router_subnets(s, router_id):
        if ipaddress.ip_network(other.cidr).overlaps(new):
            raise errors.interface_overlaps(sub.cidr, sub.id, other.cidr, other.id)


class Routers:
    model: ClassVar[Any] = m.Router
    filters: ClassVar[dict[str, str]] = {**COMMON_FILTERS, "admin_state_up": "admin_state_up",
                                         "status": "status"}

    def __init__(self, store: Store, quotas: Quotas, networks: Networks, subnets: Subnets,
                 ports: Ports) -> None:
        self.store = store
        self.quotas = quotas
        self.networks = networks
        self.subnets = subnets
        self.ports = ports

    def query(self, ctx: RequestContext) -> Select[Any]:
        return select(m.Router).where(policy.visible_routers(ctx))

    def get(self, s: Session, ctx: RequestContext, router_id: str) -> m.Router:
        r = s.scalar(select(m.Router).where(m.Router.id == router_id,
                                            policy.visible_routers(ctx)))
        if r is None:
            raise errors.not_found("Router", router_id)
        return r

    def view(self, s: Session, r: m.Router) -> dict[str, Any]:
        ips: list[dict[str, str]] = []
        if r.gateway_network_id:
            ips = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in s.scalars(
                select(m.IPAllocation).where(m.IPAllocation.port_id == r.gateway_port_id))]
        return views.router(r, ips)

    def views(self, s: Session, rows: list[m.Router]) -> list[dict[str, Any]]:
        return [self.view(s, x) for x in rows]

    def _set_gateway(self, s: Session, ctx: RequestContext, router: m.Router,
                     info: Any) -> None:
        """Set, change or clear (None or {}) the external gateway; clearing refuses
        while floating IPs need it."""
        if info is None or info == {}:
            if router.gateway_port_id:
                if s.scalar(select(m.FloatingIP.id).where(
                        m.FloatingIP.router_id == router.id).limit(1)):
                    raise errors.gateway_in_use_by_fips(router.id)
                port = s.get(m.Port, router.gateway_port_id)
                if port is not None:
                    s.delete(port)
            router.gateway_network_id = router.gateway_port_id = None
            return
        if not isinstance(info, dict) or not isinstance(info.get("network_id"), str):
            raise errors.gateway_info_invalid()
        net = self.networks.get(s, ctx, info["network_id"])
        if not net.external:
            raise errors.not_external(net.id)
        if "enable_snat" in info:
            router.enable_snat = flag(info, "enable_snat", True)
        if router.gateway_network_id == net.id:
            return
        if router.gateway_port_id:
            old = s.get(m.Port, router.gateway_port_id)
            if old is not None:
                s.delete(old)
                s.flush()
        port = new_service_port(s, net.id, owner="network:router_gateway",
                                device_id=router.id)
        fixed = info.get("external_fixed_ips")
        allocation.allocate(s, port, net, fixed if fixed else None)
        router.gateway_network_id, router.gateway_port_id = net.id, port.id

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        project = owner_project(ctx, body)
        policy.check_create_for(ctx, project, "router")
        with self.store.db.transaction() as s:
            self.quotas.check(s, project, "router")
            r = m.Router(id=new_id(), name=text(body, "name"),
                         description=text(body, "description"), project_id=project,
                         admin_state_up=flag(body, "admin_state_up", True))
            s.add(r)
            s.flush()
            if body.get("external_gateway_info"):
                self._set_gateway(s, ctx, r, body["external_gateway_info"])
            s.flush()
            out = self.view(s, r)
        self.store.changed("router", out["id"])
        return out

    def update(self, ctx: RequestContext, router_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        with self.store.db.transaction() as s:
            r = self.get(s, ctx, router_id)
            bump(r, if_match)
            if "name" in body:
                r.name = text(body, "name")
            if "description" in body:
                r.description = text(body, "description")
            if "admin_state_up" in body:
                r.admin_state_up = flag(body, "admin_state_up", True)
            if "external_gateway_info" in body:
                self._set_gateway(s, ctx, r, body["external_gateway_info"])
            if "routes" in body:
                r.routes = self._check_routes(s, r, body["routes"])
            s.flush()
            out = self.view(s, r)
        self.store.changed("router", router_id)
        return out

    @staticmethod
    def _check_routes(s: Session, r: m.Router, routes: Any) -> list[dict[str, str]]:
        if routes is None:  # Neutron converts `routes: null` to no routes
            return []
        if not isinstance(routes, list):
            raise errors.invalid_field("routes", ".")
        nets = [ipaddress.ip_network(sub.cidr) for sub in router_subnets(s, r.id)]
        out = []
        for rt in routes:
            if not isinstance(rt, dict) or set(rt) != {"destination", "nexthop"}:
                raise errors.routes_shape()
            dest = ipam.parse_cidr(rt["destination"], of_subnet=False)
            hop = ipam.parse_ip(rt["nexthop"], "nexthop")
            if not any(hop in n for n in nets):
                raise errors.nexthop_not_connected(hop)
            out.append({"destination": str(dest), "nexthop": str(hop)})
        return out

    def delete(self, ctx: RequestContext, router_id: str) -> None:
        with self.store.db.transaction() as s:
            r = self.get(s, ctx, router_id)
            if s.scalar(select(m.Port.id).where(
                    m.Port.device_id == router_id,
                    m.Port.device_owner == "network:router_interface").limit(1)):
                raise errors.router_has_ports(router_id)
            if s.scalar(select(m.FloatingIP.id).where(m.FloatingIP.router_id == router_id)
                        .limit(1)):
                raise errors.router_has_fips(router_id)
            if r.gateway_port_id:
                port = s.get(m.Port, r.gateway_port_id)
                if port is not None:
                    s.delete(port)
            s.delete(r)
        self.store.changed("router", router_id)

    def add_interface(self, ctx: RequestContext, router_id: str, body: Any) -> dict[str, Any]:
        """Join a subnet (a new port on its gateway address) or a user's port."""
        if not isinstance(body, dict) or ("subnet_id" in body) == ("port_id" in body):
            raise errors.interface_needs_one_of()
        for key in ("subnet_id", "port_id"):
            if key in body and not is_uuid(body[key]):
                raise errors.invalid_field(key, f". Reason: '{str(body[key])[:64]}' is not "
                                                "a valid UUID.")
        with self.store.db.transaction() as s:
            r = self.get(s, ctx, router_id)
            if "subnet_id" in body:
                port, subnet_ids = self._interface_on_subnet(s, ctx, r, body["subnet_id"])
            else:
                port, subnet_ids = self._interface_on_port(s, ctx, r, body["port_id"])
            r.revision_number += 1
            out = views.router_interface(r, port, subnet_ids)
        self.store.changed("router", router_id)
        return out

    def _interface_on_subnet(self, s: Session, ctx: RequestContext, r: m.Router,
                             subnet_id: str) -> tuple[m.Port, list[str]]:
        sub = self.subnets.get(s, ctx, subnet_id)
        if not sub.gateway_ip:
            raise errors.subnet_has_no_gateway(sub.id)
        _check_overlap(s, r.id, sub)
        if s.get(m.IPAllocation, (sub.id, sub.gateway_ip)) is not None:
            raise errors.ip_in_use(sub.gateway_ip, sub.id)
        net = s.get(m.Network, sub.network_id)
        assert net is not None
        policy.check_interface_subnet(ctx, net)
        port = new_service_port(s, net.id, owner="network:router_interface",
                                device_id=r.id, project_id=r.project_id)
        allocation.insert_ip(s, sub, sub.gateway_ip, port)
        return port, [sub.id]

    def _interface_on_port(self, s: Session, ctx: RequestContext, r: m.Router,
                           port_id: str) -> tuple[m.Port, list[str]]:
        port = self.ports.get(s, ctx, port_id)
        policy.check_own_port(ctx, port, r.project_id, "a router interface")
        if port.device_id and port.device_id != r.id:
            raise errors.port_used_by_other_device(port.id)
        allocs = list(s.scalars(select(m.IPAllocation).where(
            m.IPAllocation.port_id == port.id)))
        if not allocs:
            raise errors.router_port_needs_ip()
        for a in allocs:
            asub = s.get(m.Subnet, a.subnet_id)
            assert asub is not None
            _check_overlap(s, r.id, asub)
        port.device_id, port.device_owner = r.id, "network:router_interface"
        port.port_security_enabled = False
        s.execute(delete(m.PortSecurityGroup).where(m.PortSecurityGroup.port_id == port.id))
        return port, [a.subnet_id for a in allocs]

    def remove_interface(self, ctx: RequestContext, router_id: str, body: Any
                         ) -> dict[str, Any]:
        """Leave a subnet (by subnet or port id); refused while a floating IP
        reaches a port through it."""
        if not isinstance(body, dict) or not ({"subnet_id", "port_id"} & set(body)):
            raise errors.interface_needs_one_of()
        with self.store.db.transaction() as s:
            r = self.get(s, ctx, router_id)
            ports = list(s.scalars(select(m.Port).where(
                m.Port.device_id == r.id, m.Port.device_owner == "network:router_interface")))
            target = None
            for p in ports:
                subs = list(s.scalars(select(m.IPAllocation.subnet_id).where(
                    m.IPAllocation.port_id == p.id)))
                if body.get("port_id") == p.id or body.get("subnet_id") in subs:
                    target = (p, subs)
                    break
            if target is None:
                what = body.get("port_id") or body.get("subnet_id")
                raise errors.interface_not_found(router_id, what, "subnet_id" in body)
            port, subs = target
            if s.scalar(select(m.FloatingIP.id).where(m.FloatingIP.router_id == r.id,
                                                      m.FloatingIP.port_id.in_(
                select(m.IPAllocation.port_id).where(
                    m.IPAllocation.subnet_id.in_(subs)))).limit(1)):
                raise errors.interface_in_use_by_fips(subs[0], r.id)
            out = views.router_interface(r, port, subs)
            s.delete(port)
            r.revision_number += 1
        self.store.changed("router", router_id)
        return out
