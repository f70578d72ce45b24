"""Subnets: a CIDR on a network with its gateway, allocation pools, DNS servers,
host routes and (IPv6) address modes. The whole body is checked before the
transaction opens, so a bad request never touches the database."""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.network import errors, ipam, policy, views
from overcast.network import models as m
from overcast.network.common import COMMON_FILTERS, Store, bump, flag, new_id, text
from overcast.network.networks import Networks
from overcast.network.quotas import Quotas
from overcast.network.subnetpools import SubnetPools

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
#: address modes in which a port makes its own address from its MAC
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")


class Subnets:
    model: ClassVar[Any] = m.Subnet
    filters: ClassVar[dict[str, str]] = {
        **COMMON_FILTERS, "network_id": "network_id", "ip_version": "ip_version",
        "subnetpool_id": "subnetpool_id",
        "cidr": "cidr", "gateway_ip": "gateway_ip", "enable_dhcp": "enable_dhcp",
        "ipv6_ra_mode": "ipv6_ra_mode", "ipv6_address_mode": "ipv6_address_mode"}

    def __init__(self, store: Store, quotas: Quotas, networks: Networks,
                 pools: SubnetPools) -> None:
        self.store = store
        self.quotas = quotas
        self.networks = networks
        self.pools = pools

    def query(self, ctx: RequestContext) -> Select[Any]:
        return select(m.Subnet).where(policy.visible_subnets(ctx))

    def get(self, s: Session, ctx: RequestContext, subnet_id: str) -> m.Subnet:
        sub = s.scalar(select(m.Subnet).where(m.Subnet.id == subnet_id,
                                              policy.visible_subnets(ctx)))
        if sub is None:
            raise errors.not_found("Subnet", subnet_id)
        return sub

    def views(self, s: Session, rows: list[m.Subnet]) -> list[dict[str, Any]]:
        external = set(s.scalars(select(m.Network.id).where(
            m.Network.id.in_({x.network_id for x in rows}), m.Network.external.is_(True))))
        return [views.subnet(x, x.network_id in external) for x in rows]

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        """Check the whole body, then add the subnet if it overlaps no other on the
        network; the network's revision counts the change."""
        net_id = body.get("network_id")
        if not isinstance(net_id, str):
            raise errors.required_attribute("network_id")
        version = body.get("ip_version", 4)
        if version not in (4, 6):
            raise errors.ip_version_invalid(version)
        pooled = body.get("subnetpool_id") is not None or \
            flag(body, "use_default_subnetpool", False)
        if body.get("cidr") is None and not pooled:
            raise errors.cidr_required()
        asked: ipam.IPNetwork | None = None
        if body.get("cidr") is not None:
            parsed = ipam.parse_cidr(body["cidr"], version)
            _layout(body, parsed, version)  # refusals before the transaction opens
            asked = parsed
        dns = body.get("dns_nameservers") or []
        if not isinstance(dns, list):
            raise errors.invalid_field("dns_nameservers", ".")
        for d in dns:
            ipam.parse_ip(d, "dns_nameservers")
        if len(set(dns)) != len(dns):
            raise errors.duplicate_nameserver()
        routes = _host_routes(body.get("host_routes") or [])
        ra, mode = body.get("ipv6_ra_mode"), body.get("ipv6_address_mode")
        with self.store.db.transaction() as s:
            net = self.networks.get(s, ctx, net_id)
            policy.check_owner_project(ctx, body, "subnet")
            policy.check_subnet_on(ctx, net)
            pool = self.pools.pool_for(s, ctx, body, version) if pooled else None
            if pool is not None:
                asked = self.pools.allocate(s, pool, asked, body.get("prefixlen"))
            assert asked is not None
            # a block taken from a pool must still leave room for addresses
            cidr = ipam.parse_cidr(str(asked), version)
            gateway, pools = _layout(body, cidr, version)
            _check_ipv6_modes(version, ra, mode, cidr)
            self.quotas.check(s, ctx.project_id or "", "subnet")
            for other in s.scalars(select(m.Subnet).where(m.Subnet.network_id == net_id)):
                if ipaddress.ip_network(other.cidr).overlaps(cidr):
                    raise errors.subnet_overlaps(cidr, net_id)
            sub = m.Subnet(
                id=new_id(), network_id=net_id, name=text(body, "name"),
                description=text(body, "description"),
                project_id=body.get("project_id") or body.get("tenant_id") or ctx.project_id
                or net.project_id,
                ip_version=version, cidr=str(cidr), gateway_ip=gateway,
                enable_dhcp=flag(body, "enable_dhcp", True), dns_nameservers=dns,
                host_routes=routes, allocation_pools=pools, ipv6_ra_mode=ra,
                ipv6_address_mode=mode, subnetpool_id=pool.id if pool is not None else None)
            s.add(sub)
            net.revision_number += 1
            s.flush()
            out = views.subnet(sub, net.external)
        self.store.changed("subnet", out["id"])
        return out

    def update(self, ctx: RequestContext, subnet_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        for key in ("cidr", "ip_version", "network_id", "ipv6_ra_mode", "ipv6_address_mode",
                    "router:external", "subnetpool_id", "prefixlen",
                    "use_default_subnetpool"):
            if key in body:
                raise errors.read_only(key)
        with self.store.db.transaction() as s:
            sub = self.get(s, ctx, subnet_id)
            policy.must_own(ctx, sub.project_id, "subnet")
            bump(sub, if_match)
            cidr = ipaddress.ip_network(sub.cidr)
            if "name" in body:
                sub.name = text(body, "name")
            if "description" in body:
                sub.description = text(body, "description")
            if "enable_dhcp" in body:
                sub.enable_dhcp = flag(body, "enable_dhcp", True)
            if "gateway_ip" in body:
                if body["gateway_ip"] is None:
                    sub.gateway_ip = None
                else:
                    sub.gateway_ip = _gateway(body, cidr, sub.ip_version)
            if "allocation_pools" in body:
                sub.allocation_pools = ipam.validate_pools(cidr, body["allocation_pools"],
                                                           sub.gateway_ip)
            if "dns_nameservers" in body:
                dns = body["dns_nameservers"] or []
                for d in dns:
                    ipam.parse_ip(d, "dns_nameservers")
                sub.dns_nameservers = list(dns)
            if "host_routes" in body:
                routes = []
                for r in body["host_routes"] or []:
                    if not isinstance(r, dict) or set(r) != {"destination", "nexthop"}:
                        raise errors.invalid_field("host_routes", ".")
                    routes.append(_host_route(r))
                sub.host_routes = routes
            s.flush()
            out = self.views(s, [sub])[0]
        self.store.changed("subnet", subnet_id)
        return out

    def delete(self, ctx: RequestContext, subnet_id: str) -> None:
        with self.store.db.transaction() as s:
            sub = self.get(s, ctx, subnet_id)
            policy.must_own(ctx, sub.project_id, "subnet")
            holders = select(m.Port.id, m.Port.device_owner).join(
                m.IPAllocation, m.Port.id == m.IPAllocation.port_id).where(
                m.IPAllocation.subnet_id == subnet_id, m.Port.device_owner != "network:dhcp")
            held = list(s.execute(holders))
            # An address a port derived by itself (SLAAC, DHCPv6-stateless) is taken
            # back from the port, as Neutron does; only a router interface, whose
            # address was assigned, keeps such a subnet in use.
            auto = sub.ip_version == 6 and sub.ipv6_address_mode in AUTO_ADDRESS_MODES
            if any(not auto or owner.startswith("network:router_interface")
                   for _, owner in held):
                raise errors.subnet_in_use(subnet_id)
            s.execute(delete(m.IPAllocation).where(m.IPAllocation.subnet_id == subnet_id))
            for port_id, _ in held:
                port = s.get(m.Port, port_id)
                if port is not None:
                    port.revision_number += 1
            net = s.get(m.Network, sub.network_id)
            if net is not None:
                net.revision_number += 1
            s.delete(sub)
        for port_id, _ in held:
            self.store.changed("port", port_id)
        self.store.changed("subnet", subnet_id)


def _layout(body: dict[str, Any], cidr: ipam.IPNetwork, version: int
            ) -> tuple[str | None, list[dict[str, str]]]:
    """The subnet's gateway and allocation pools on `cidr`, as asked or by default."""
    gateway = _gateway(body, cidr, version)
    if "allocation_pools" in body and body["allocation_pools"] is not None:
        return gateway, ipam.validate_pools(cidr, body["allocation_pools"], gateway)
    return gateway, ipam.default_pools(cidr, gateway)


def _gateway(body: dict[str, Any], cidr: ipam.IPNetwork, version: int) -> str | None:
    """The subnet's gateway: none when asked so, the one asked for (on the subnet,
    neither its network nor its broadcast address), else the first address."""
    if "gateway_ip" in body and body["gateway_ip"] is None:
        return None
    if "gateway_ip" in body:
        gw = ipam.parse_ip(body["gateway_ip"], "gateway_ip")
        if gw.version != version or gw not in cidr or gw in (cidr.network_address,) or \
                (version == 4 and gw == cidr.broadcast_address):
            raise errors.gateway_not_valid(cidr)
        return str(gw)
    return ipam.default_gateway(cidr)


def _host_routes(routes: Any) -> list[dict[str, str]]:
    if not isinstance(routes, list):
        raise errors.invalid_field("host_routes", ".")
    clean = []
    for r in routes:
        if not isinstance(r, dict) or set(r) != {"destination", "nexthop"}:
            raise errors.host_route_shape()
        clean.append(_host_route(r))
    return clean


def _host_route(r: dict[str, Any]) -> dict[str, str]:
    """One checked host route; its destination may be a single host (/32, /128)."""
    dest = ipam.parse_cidr(r["destination"], of_subnet=False)
    hop = ipam.parse_ip(r["nexthop"], "host_routes")
    return {"destination": str(dest), "nexthop": str(hop)}


def _check_ipv6_modes(version: int, ra: Any, mode: Any, cidr: ipam.IPNetwork) -> None:
    for v in (ra, mode):
        if v is not None and (version != 4) and v not in IPV6_MODES:
            raise errors.ipv6_mode_invalid(v)
    if version == 4 and (ra or mode):
        raise errors.ipv6_mode_on_v4()
    if ra and mode and ra != mode:
        raise errors.ipv6_modes_differ(ra, mode)
    if mode in ("slaac", "dhcpv6-stateless") and cidr.prefixlen != 64:
        raise errors.slaac_needs_64()
