"""The network service: Neutron semantics over the network tables.

Visibility (Neutron's default policy): an admin sees everything; a project sees its
own resources, shared networks (and their subnets), external networks, and the
ports on networks it owns. Writes that change several rows happen in one
transaction, so a refused request leaves nothing half-created.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import random
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.db import Database, utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from overcast.network import ipam
from overcast.network import models as m

DEFAULT_QUOTAS = {"network": 100, "subnet": 100, "port": 500, "router": 10,
                  "floatingip": 50, "security_group": 10, "security_group_rule": 100}
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132,
             "udplite": 136, "gre": 47, "esp": 50, "ah": 51, "igmp": 2, "dccp": 33,
             "ipip": 4, "ospf": 89, "pgm": 113, "vrrp": 112, "rsvp": 46, "egp": 8,
             "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-nonxt": 59, "ipv6-opts": 60,
             "ipv6-route": 43, "any": 0}
PORT_PROTOCOLS = {"tcp", "udp", "sctp", "udplite", "dccp", "6", "17", "132", "136", "33"}
VXLAN_RANGE = (1, 1 << 24)
NETWORK_OWNED = ("network:dhcp", "network:router_interface", "network:router_gateway",
                 "network:floatingip", "network:ha_router_replicated_interface",
                 "network:distributed")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def nt(t: dt.datetime | None) -> str | None:
    return None if t is None else t.replace(microsecond=0).isoformat() + "Z"


def _not_found(kind: str, ident: str) -> NotFound:
    label = {"Network": "Network", "Subnet": "Subnet", "Port": "Port",
             "SecurityGroup": "Security group", "SecurityGroupRule": "Security group rule",
             "Router": "Router", "FloatingIP": "Floating IP"}[kind]
    return NotFound(f"{label} {ident} could not be found.", type=f"{kind}NotFound")


class NetworkService:
    def __init__(self, db: Database, *, uplink_mtu: int = 1400,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.db = db
        self.uplink_mtu = uplink_mtu
        #: Told (kind, id) after each committed change: the dataplane's trigger.
        self.on_change = on_change

    def _changed(self, kind: str, ident: str) -> None:
        if self.on_change is not None:
            self.on_change(kind, ident)

    # ---------------------------------------------------------------- common
    @staticmethod
    def _common(obj: Any) -> dict[str, Any]:
        return {"id": obj.id, "name": obj.name, "description": obj.description,
                "project_id": obj.project_id, "tenant_id": obj.project_id,
                "revision_number": obj.revision_number, "tags": list(obj.tags or []),
                "created_at": nt(obj.created_at), "updated_at": nt(obj.updated_at)}

    @staticmethod
    def _bump(obj: Any, if_match: str | None = None) -> None:
        if if_match is not None:
            want = if_match.strip().removeprefix("revision_number=")
            if not want.isdigit() or int(want) != obj.revision_number:
                raise PreconditionFailed(
                    f"Constraint revision_number={want} not met: the resource is at "
                    f"revision {obj.revision_number}.", type="RevisionNumberConstraintFailed")
        obj.revision_number += 1

    def _quota(self, s: Session, project_id: str, resource: str, model: Any) -> None:
        row = s.get(m.Quota, (project_id, resource))
        limit = row.hard_limit if row is not None else DEFAULT_QUOTAS[resource]
        if limit < 0:
            return
        q = select(func.count()).select_from(model).where(model.project_id == project_id)
        if resource == "security_group_rule":
            q = select(func.count()).select_from(m.SecurityGroupRule).where(
                m.SecurityGroupRule.project_id == project_id)
        used = s.scalar(q) or 0
        if used + 1 > limit:
            raise Conflict(f"Quota exceeded for resources: ['{resource}'].", type="OverQuota")

    def quotas(self, project_id: str) -> dict[str, int]:
        with self.db.session() as s:
            out = dict(DEFAULT_QUOTAS)
            for row in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
                out[row.resource] = row.hard_limit
            return out

    def set_quotas(self, project_id: str, values: dict[str, Any]) -> dict[str, int]:
        with self.db.transaction() as s:
            for k, v in values.items():
                if k not in DEFAULT_QUOTAS:
                    raise BadRequest(f"Unrecognized attribute(s) '{k}'")
                if isinstance(v, bool) or not isinstance(v, int) or v < -1:
                    raise BadRequest(f"Invalid input for {k}. Reason: '{v}' is not a valid "
                                     "integer (>= -1).")
                row = s.get(m.Quota, (project_id, k))
                if row is None:
                    s.add(m.Quota(project_id=project_id, resource=k, hard_limit=v))
                else:
                    row.hard_limit = v
        return self.quotas(project_id)

    def reset_quotas(self, project_id: str) -> None:
        with self.db.transaction() as s:
            s.execute(delete(m.Quota).where(m.Quota.project_id == project_id))

    # ---------------------------------------------------------------- networks
    def _net_visible(self, ctx: RequestContext) -> Any:
        if ctx.is_admin:
            return m.Network.id.isnot(None)
        return or_(m.Network.project_id == ctx.project_id, m.Network.shared.is_(True),
                   m.Network.external.is_(True))

    def get_network(self, s: Session, ctx: RequestContext, net_id: str) -> m.Network:
        net = s.scalar(select(m.Network).where(m.Network.id == net_id,
                                               self._net_visible(ctx)))
        if net is None:
            raise _not_found("Network", net_id)
        return net

    def network_view(self, s: Session, net: m.Network) -> dict[str, Any]:
        subnets = list(s.scalars(select(m.Subnet.id).where(m.Subnet.network_id == net.id)
                                 .order_by(m.Subnet.created_at)))
        body = self._common(net)
        body.update({
            "admin_state_up": net.admin_state_up, "shared": net.shared,
            "router:external": net.external, "status": net.status, "subnets": subnets,
            "mtu": net.mtu, "port_security_enabled": net.port_security_enabled,
            "provider:network_type": net.network_type,
            "provider:physical_network": net.physical_network,
            "provider:segmentation_id": net.segmentation_id,
            "availability_zone_hints": [], "availability_zones": ["nova"],
            "ipv4_address_scope": None, "ipv6_address_scope": None, "is_default": False,
            "l2_adjacency": True, "qos_policy_id": None, "dns_domain": ""})
        return body

    def list_networks(self, ctx: RequestContext) -> Any:
        return select(m.Network).where(self._net_visible(ctx))

    def create_network(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        admin_only = ("shared", "router:external", "provider:network_type",
                      "provider:physical_network", "provider:segmentation_id")
        for key in admin_only:
            if key in body and not ctx.is_admin and body[key] not in (False, None):
                raise Forbidden(f"(rule:create_network and rule:create_network:{key}) is "
                                "disallowed by policy", type="PolicyNotAuthorized")
        project = body.get("project_id") or body.get("tenant_id") or ctx.project_id or ""
        if project != ctx.project_id and not ctx.is_admin:
            raise Forbidden("Cannot create a network for another project.",
                            type="PolicyNotAuthorized")
        ntype = body.get("provider:network_type") or "vxlan"
        if ntype not in ("vxlan", "flat", "local"):
            raise BadRequest(f"Invalid input for operation: network_type value '{ntype}' not "
                             "supported.", type="InvalidInput")
        physnet = body.get("provider:physical_network")
        seg = body.get("provider:segmentation_id")
        with self.db.transaction() as s:
            self._quota(s, project, "network", m.Network)
            if ntype == "flat":
                if not physnet:
                    raise BadRequest("Invalid input for operation: physical_network required "
                                     "for flat provider network.", type="InvalidInput")
                if physnet not in ("public",):
                    raise BadRequest(f"Invalid input for operation: physical_network "
                                     f"'{physnet}' unknown for flat provider network.",
                                     type="InvalidInput")
                if s.scalar(select(m.Network.id).where(m.Network.network_type == "flat",
                                                       m.Network.physical_network == physnet)):
                    raise Conflict(f"Unable to create the flat network. Physical network "
                                   f"{physnet} is in use.", type="FlatNetworkInUse")
                seg = None
                mtu_max = self.uplink_mtu
            elif ntype == "vxlan":
                if physnet:
                    raise BadRequest("Invalid input for operation: provider:physical_network "
                                     "specified for vxlan network.", type="InvalidInput")
                used = set(s.scalars(select(m.Network.segmentation_id).where(
                    m.Network.network_type == "vxlan")))
                if seg is not None:
                    if isinstance(seg, bool) or not isinstance(seg, int) or \
                            not VXLAN_RANGE[0] <= seg < VXLAN_RANGE[1]:
                        raise BadRequest(f"Invalid input for operation: segmentation_id {seg} "
                                         "out of range.", type="InvalidInput")
                    if seg in used:
                        raise Conflict(f"Unable to create the network. The tunnel ID {seg} "
                                       "is in use.", type="TunnelIdInUse")
                else:
                    seg = next(i for i in range(VXLAN_RANGE[0], VXLAN_RANGE[1])
                               if i not in used)
                mtu_max = self.uplink_mtu - 50
            else:
                seg, mtu_max = None, self.uplink_mtu
            mtu = body.get("mtu", mtu_max)
            if isinstance(mtu, bool) or not isinstance(mtu, int) or not 68 <= mtu <= mtu_max:
                raise BadRequest(f"Invalid input for operation: Requested MTU is too big, "
                                 f"maximum is {mtu_max}.", type="InvalidInput")
            net = m.Network(
                id=str(uuidlib.uuid4()), name=_str(body, "name"),
                description=_str(body, "description"), project_id=project,
                admin_state_up=_bool(body, "admin_state_up", True),
                shared=_bool(body, "shared", False),
                external=_bool(body, "router:external", False), network_type=ntype,
                physical_network=physnet if ntype == "flat" else None, segmentation_id=seg,
                mtu=mtu, port_security_enabled=_bool(body, "port_security_enabled", True))
            s.add(net)
            s.flush()
            out = self.network_view(s, net)
        self._changed("network", out["id"])
        return out

    def update_network(self, ctx: RequestContext, net_id: str, body: dict[str, Any],
                       if_match: str | None = None) -> dict[str, Any]:
        with self.db.transaction() as s:
            net = self.get_network(s, ctx, net_id)
            self._must_own(ctx, net.project_id, "network")
            for key in ("shared", "router:external"):
                if key in body and not ctx.is_admin:
                    raise Forbidden(f"(rule:update_network and rule:update_network:{key}) is "
                                    "disallowed by policy", type="PolicyNotAuthorized")
            for key in ("provider:network_type", "provider:physical_network",
                        "provider:segmentation_id"):
                if key in body:
                    raise BadRequest("Plugin does not support updating provider attributes",
                                     type="InvalidInput")
            self._bump(net, if_match)
            if "name" in body:
                net.name = _str(body, "name")
            if "description" in body:
                net.description = _str(body, "description")
            if "admin_state_up" in body:
                net.admin_state_up = _bool(body, "admin_state_up", True)
            if "shared" in body:
                net.shared = _bool(body, "shared", False)
            if "router:external" in body:
                net.external = _bool(body, "router:external", False)
            if "port_security_enabled" in body:
                net.port_security_enabled = _bool(body, "port_security_enabled", True)
            if "mtu" in body:
                mtu = body["mtu"]
                top = self.uplink_mtu - (50 if net.network_type == "vxlan" else 0)
                if isinstance(mtu, bool) or not isinstance(mtu, int) or not 68 <= mtu <= top:
                    raise BadRequest(f"Invalid input for operation: Requested MTU is too big, "
                                     f"maximum is {top}.", type="InvalidInput")
                net.mtu = mtu
            s.flush()
            out = self.network_view(s, net)
        self._changed("network", net_id)
        return out

    def delete_network(self, ctx: RequestContext, net_id: str) -> None:
        with self.db.transaction() as s:
            net = self.get_network(s, ctx, net_id)
            self._must_own(ctx, net.project_id, "network")
            busy = s.scalar(select(func.count()).select_from(m.Port).where(
                m.Port.network_id == net_id, m.Port.device_owner != "network:dhcp")) or 0
            if busy:
                raise Conflict(f"Unable to complete operation on network {net_id}. There are "
                               "one or more ports still in use on the network.",
                               type="NetworkInUse")
            s.execute(delete(m.Port).where(m.Port.network_id == net_id))
            s.execute(delete(m.Subnet).where(m.Subnet.network_id == net_id))
            s.delete(net)
        self._changed("network", net_id)

    def _must_own(self, ctx: RequestContext, project_id: str, what: str) -> None:
        if not ctx.is_admin and project_id != ctx.project_id:
            raise Forbidden(f"Policy doesn't allow this operation on a {what} of another "
                            "project.", type="PolicyNotAuthorized")

    # ---------------------------------------------------------------- subnets
    def _subnet_visible(self, ctx: RequestContext) -> Any:
        if ctx.is_admin:
            return m.Subnet.id.isnot(None)
        nets = select(m.Network.id).where(or_(m.Network.shared.is_(True),
                                              m.Network.external.is_(True)))
        return or_(m.Subnet.project_id == ctx.project_id, m.Subnet.network_id.in_(nets))

    def get_subnet(self, s: Session, ctx: RequestContext, subnet_id: str) -> m.Subnet:
        sub = s.scalar(select(m.Subnet).where(m.Subnet.id == subnet_id,
                                              self._subnet_visible(ctx)))
        if sub is None:
            raise _not_found("Subnet", subnet_id)
        return sub

    def subnet_view(self, sub: m.Subnet) -> dict[str, Any]:
        body = self._common(sub)
        body.update({
            "network_id": sub.network_id, "ip_version": sub.ip_version, "cidr": sub.cidr,
            "gateway_ip": sub.gateway_ip, "enable_dhcp": sub.enable_dhcp,
            "dns_nameservers": list(sub.dns_nameservers or []),
            "host_routes": list(sub.host_routes or []),
            "allocation_pools": list(sub.allocation_pools or []),
            "ipv6_ra_mode": sub.ipv6_ra_mode, "ipv6_address_mode": sub.ipv6_address_mode,
            "subnetpool_id": None, "service_types": [], "segment_id": None,
            "dns_publish_fixed_ip": False})
        return body

    def list_subnets(self, ctx: RequestContext) -> Any:
        return select(m.Subnet).where(self._subnet_visible(ctx))

    def create_subnet(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        net_id = body.get("network_id")
        if not isinstance(net_id, str):
            raise BadRequest("Failed to parse request. Required attribute 'network_id' not "
                             "specified", type="HTTPBadRequest")
        version = body.get("ip_version", 4)
        if version not in (4, 6):
            raise BadRequest(f"Invalid input for ip_version. Reason: {version} is not in "
                             "[4, 6].", type="HTTPBadRequest")
        if "cidr" not in body:
            raise BadRequest("Bad subnets request: a cidr must be specified in the absence "
                             "of a subnet pool.", type="BadRequest")
        cidr = ipam.parse_cidr(body["cidr"], version)
        gateway: str | None
        if "gateway_ip" in body and body["gateway_ip"] is None:
            gateway = None
        elif "gateway_ip" in body:
            gw = ipam.parse_ip(body["gateway_ip"], "gateway_ip")
            if gw.version != version or gw not in cidr or gw in (cidr.network_address,) or \
                    (version == 4 and gw == cidr.broadcast_address):
                raise BadRequest(f"Invalid input for operation: Gateway is not valid on "
                                 f"subnet {cidr}.", type="InvalidInput")
            gateway = str(gw)
        else:
            gateway = ipam.default_gateway(cidr)
        if "allocation_pools" in body and body["allocation_pools"] is not None:
            pools = ipam.validate_pools(cidr, body["allocation_pools"], gateway)
        else:
            pools = ipam.default_pools(cidr, gateway)
        dns = body.get("dns_nameservers") or []
        if not isinstance(dns, list):
            raise BadRequest("Invalid input for dns_nameservers.", type="HTTPBadRequest")
        for d in dns:
            ipam.parse_ip(d, "dns_nameservers")
        if len(set(dns)) != len(dns):
            raise BadRequest("Invalid input for dns_nameservers. Reason: Duplicate "
                             "nameserver.", type="HTTPBadRequest")
        routes = body.get("host_routes") or []
        if not isinstance(routes, list):
            raise BadRequest("Invalid input for host_routes.", type="HTTPBadRequest")
        clean_routes = []
        for r in routes:
            if not isinstance(r, dict) or set(r) != {"destination", "nexthop"}:
                raise BadRequest("Invalid input for host_routes: each route is "
                                 "{destination, nexthop}.", type="HTTPBadRequest")
            dest = ipam.parse_cidr(r["destination"])
            hop = ipam.parse_ip(r["nexthop"], "host_routes")
            clean_routes.append({"destination": str(dest), "nexthop": str(hop)})
        ra, mode = body.get("ipv6_ra_mode"), body.get("ipv6_address_mode")
        for v in (ra, mode):
            if v is not None and (version != 4) and v not in ("slaac", "dhcpv6-stateful",
                                                              "dhcpv6-stateless"):
                raise BadRequest(f"Invalid input for ipv6 mode: '{v}'.", type="HTTPBadRequest")
        if version == 4 and (ra or mode):
            raise BadRequest("Invalid input for operation: ipv6_ra_mode or "
                             "ipv6_address_mode cannot be set when enable_dhcp is set to "
                             "False or ip_version is 4.", type="InvalidInput")
        if ra and mode and ra != mode:
            raise BadRequest("Invalid input for operation: ipv6_ra_mode set to "
                             f"'{ra}' with ipv6_address_mode set to '{mode}' is not "
                             "valid.", type="InvalidInput")
        if mode in ("slaac", "dhcpv6-stateless") and cidr.prefixlen != 64:
            raise BadRequest("Invalid input for operation: Invalid CIDR for IPv6 address "
                             "mode: SLAAC needs a /64 prefix.", type="InvalidInput")
        with self.db.transaction() as s:
            net = self.get_network(s, ctx, net_id)
            if not ctx.is_admin and net.project_id != ctx.project_id:
                raise NotFound(f"Network {net_id} could not be found.",
                               type="NetworkNotFound") if not (net.shared or net.external) \
                    else Forbidden("Policy doesn't allow create_subnet on a network of "
                                   "another project.", type="PolicyNotAuthorized")
            self._quota(s, ctx.project_id or "", "subnet", m.Subnet)
            for other in s.scalars(select(m.Subnet).where(m.Subnet.network_id == net_id)):
                if ipaddress.ip_network(other.cidr).overlaps(cidr):
                    raise BadRequest(f"Invalid input for operation: Requested subnet with "
                                     f"cidr: {cidr} for network: {net_id} overlaps with "
                                     "another subnet.", type="InvalidInput")
            sub = m.Subnet(
                id=str(uuidlib.uuid4()), network_id=net_id, name=_str(body, "name"),
                description=_str(body, "description"),
                project_id=body.get("project_id") or ctx.project_id or net.project_id,
                ip_version=version, cidr=str(cidr), gateway_ip=gateway,
                enable_dhcp=_bool(body, "enable_dhcp", True), dns_nameservers=dns,
                host_routes=clean_routes, allocation_pools=pools, ipv6_ra_mode=ra,
                ipv6_address_mode=mode)
            s.add(sub)
            net.revision_number += 1
            s.flush()
            out = self.subnet_view(sub)
        self._changed("subnet", out["id"])
        return out

    def update_subnet(self, ctx: RequestContext, subnet_id: str, body: dict[str, Any],
                      if_match: str | None = None) -> dict[str, Any]:
        for key in ("cidr", "ip_version", "network_id", "ipv6_ra_mode", "ipv6_address_mode"):
            if key in body:
                raise BadRequest(f"Cannot update read-only attribute {key}",
                                 type="HTTPBadRequest")
        with self.db.transaction() as s:
            sub = self.get_subnet(s, ctx, subnet_id)
            self._must_own(ctx, sub.project_id, "subnet")
            self._bump(sub, if_match)
            cidr = ipaddress.ip_network(sub.cidr)
            if "name" in body:
                sub.name = _str(body, "name")
            if "description" in body:
                sub.description = _str(body, "description")
            if "enable_dhcp" in body:
                sub.enable_dhcp = _bool(body, "enable_dhcp", True)
            if "gateway_ip" in body:
                if body["gateway_ip"] is None:
                    sub.gateway_ip = None
                else:
                    gw = ipam.parse_ip(body["gateway_ip"], "gateway_ip")
                    if gw not in cidr:
                        raise BadRequest(f"Invalid input for operation: Gateway is not valid "
                                         f"on subnet {cidr}.", type="InvalidInput")
                    sub.gateway_ip = str(gw)
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
                        raise BadRequest("Invalid input for host_routes.",
                                         type="HTTPBadRequest")
                    routes.append({"destination": str(ipam.parse_cidr(r["destination"])),
                                   "nexthop": str(ipam.parse_ip(r["nexthop"]))})
                sub.host_routes = routes
            s.flush()
            out = self.subnet_view(sub)
        self._changed("subnet", subnet_id)
        return out

    def delete_subnet(self, ctx: RequestContext, subnet_id: str) -> None:
        with self.db.transaction() as s:
            sub = self.get_subnet(s, ctx, subnet_id)
            self._must_own(ctx, sub.project_id, "subnet")
            users = s.scalar(select(func.count()).select_from(m.IPAllocation).join(
                m.Port, m.Port.id == m.IPAllocation.port_id).where(
                m.IPAllocation.subnet_id == subnet_id,
                m.Port.device_owner != "network:dhcp")) or 0
            if users:
                raise Conflict(f"Unable to complete operation on subnet {subnet_id}: One or "
                               "more ports have an IP allocation from this subnet.",
                               type="SubnetInUse")
            s.execute(delete(m.IPAllocation).where(m.IPAllocation.subnet_id == subnet_id))
            net = s.get(m.Network, sub.network_id)
            if net is not None:
                net.revision_number += 1
            s.delete(sub)
        self._changed("subnet", subnet_id)

    # ---------------------------------------------------------------- ports
    def _port_visible(self, ctx: RequestContext) -> Any:
        if ctx.is_admin:
            return m.Port.id.isnot(None)
        mine = select(m.Network.id).where(m.Network.project_id == ctx.project_id)
        return or_(m.Port.project_id == ctx.project_id, m.Port.network_id.in_(mine))

    def get_port(self, s: Session, ctx: RequestContext, port_id: str) -> m.Port:
        port = s.scalar(select(m.Port).where(m.Port.id == port_id, self._port_visible(ctx)))
        if port is None:
            raise _not_found("Port", port_id)
        return port

    def port_views(self, s: Session, ports: list[m.Port],
                   known: tuple[dict[str, list[dict[str, str]]], dict[str, list[str]]]
                   | None = None) -> list[dict[str, Any]]:
        """Neutron's port bodies; `known` gives the addresses and groups when the
        caller just wrote them (a create needs no read-back)."""
        ids = [p.id for p in ports]
        ips: dict[str, list[dict[str, str]]] = {i: [] for i in ids}
        sgs: dict[str, list[str]] = {i: [] for i in ids}
        if known is not None:
            ips, sgs = known
            ids = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for a in s.scalars(select(m.IPAllocation).where(
                    m.IPAllocation.port_id.in_(chunk))):
                ips[a.port_id].append({"subnet_id": a.subnet_id, "ip_address": a.ip_address})
            for ps in s.scalars(select(m.PortSecurityGroup).where(
                    m.PortSecurityGroup.port_id.in_(chunk))):
                sgs[ps.port_id].append(ps.security_group_id)
        out = []
        for p in ports:
            body = self._common(p)
            body.update({
                "network_id": p.network_id, "mac_address": p.mac_address,
                "admin_state_up": p.admin_state_up, "status": p.status,
                "device_owner": p.device_owner, "device_id": p.device_id,
                "fixed_ips": sorted(ips[p.id], key=lambda x: (
                    ipaddress.ip_address(x["ip_address"]).version, x["subnet_id"])),
                "security_groups": sorted(sgs[p.id]),
                "allowed_address_pairs": list(p.allowed_address_pairs or []),
                "port_security_enabled": p.port_security_enabled,
                "binding:host_id": p.binding_host_id, "binding:vif_type": p.binding_vif_type,
                "binding:vnic_type": p.binding_vnic_type,
                "binding:vif_details": dict(p.binding_vif_details or {}),
                "binding:profile": dict(p.binding_profile or {}),
                "dns_name": p.dns_name, "dns_assignment": [], "extra_dhcp_opts": [],
                "qos_policy_id": None, "qos_network_policy_id": None,
                "propagate_uplink_status": False, "ip_allocation": "immediate"})
            out.append(body)
        return out

    def list_ports(self, ctx: RequestContext) -> Any:
        return select(m.Port).where(self._port_visible(ctx))

    def _allocate(self, s: Session, port: m.Port, net: m.Network,
                  requested: list[dict[str, Any]] | None) -> None:
        subnets = list(s.scalars(select(m.Subnet).where(m.Subnet.network_id == net.id)
                                 .order_by(m.Subnet.created_at)))
        by_id = {x.id: x for x in subnets}
        wanted: list[tuple[m.Subnet, str | None]] = []
        if requested is None:
            v4 = [x for x in subnets if x.ip_version == 4]
            v6 = [x for x in subnets if x.ip_version == 6]
            if v4:
                wanted.append((v4[0], None))  # retried on the next v4 subnet when full
            wanted += [(x, None) for x in v6]
        else:
            for fip in requested:
                if not isinstance(fip, dict):
                    raise BadRequest("Invalid input for fixed_ips.", type="HTTPBadRequest")
                sid, addr = fip.get("subnet_id"), fip.get("ip_address")
                if addr is not None:
                    addr = str(ipam.parse_ip(addr, "fixed_ips"))
                if sid is not None:
                    sub = by_id.get(sid)
                    if sub is None:
                        raise BadRequest(f"Invalid input for operation: Failed to create port "
                                         f"on network {net.id}, because fixed_ips included "
                                         f"invalid subnet {sid}.", type="InvalidInput")
                elif addr is not None:
                    sub = next((x for x in subnets if ipaddress.ip_address(addr) in
                                ipaddress.ip_network(x.cidr)), None)
                    if sub is None:
                        raise BadRequest(f"Invalid input for operation: IP address {addr} is "
                                         f"not a valid IP for any of the subnets on the "
                                         "specified network.", type="InvalidIpForNetwork")
                else:
                    raise BadRequest("Invalid input for fixed_ips: each needs subnet_id "
                                     "and/or ip_address.", type="HTTPBadRequest")
                if addr is not None and ipaddress.ip_address(addr) not in \
                        ipaddress.ip_network(sub.cidr):
                    raise BadRequest(f"Invalid input for operation: IP address {addr} is not "
                                     f"a valid IP for the specified subnet.",
                                     type="InvalidIpForSubnet")
                wanted.append((sub, addr))
        for sub, addr in wanted:
            if addr is None and sub.ip_version == 6 and sub.ipv6_address_mode in (
                    "slaac", "dhcpv6-stateless"):
                addr = ipam.eui64(ipaddress.ip_network(sub.cidr), port.mac_address)
            if addr is not None:
                if s.get(m.IPAllocation, (sub.id, addr)) is not None:
                    raise Conflict(f"IP address {addr} already allocated in subnet {sub.id}",
                                   type="IpAddressAlreadyAllocated")
                self._insert_ip(s, sub, addr, port)
                continue
            candidates_subnets = [sub]
            if requested is None and sub.ip_version == 4:
                candidates_subnets = [x for x in subnets if x.ip_version == 4]
            for cand in candidates_subnets:
                if self._auto_ip(s, cand, port):
                    break
            else:
                raise Conflict(f"No more IP addresses available on network {net.id}.",
                               type="IpAddressGenerationFailure")

    def _auto_ip(self, s: Session, sub: m.Subnet, port: m.Port) -> bool:
        """Give the port a free address of the subnet; False when there is none.

        The lowest free address first; when the database says another allocator took
        it meanwhile (concurrent requests read the same free list), random picks
        among the next free ones, then the rest in order. The unique key decides,
        never a read. In a big pool (a /16) random addresses are tried first, without
        reading the used ones: one insert almost always wins."""
        pools = list(sub.allocation_pools or [])
        if ipam.pool_size(pools) > 4096:
            for addr in ipam.random_addresses(pools, 8):
                if addr != sub.gateway_ip and self._try_ip(s, sub, addr, port):
                    return True
        used = set(s.scalars(select(m.IPAllocation.ip_address).where(
            m.IPAllocation.subnet_id == sub.id)))
        if sub.gateway_ip:
            used.add(sub.gateway_ip)
        free = ipam.candidates(list(sub.allocation_pools or []), used)
        first = next(free, None)
        if first is None:
            return False
        if self._try_ip(s, sub, first, port):
            return True
        window = [a for _, a in zip(range(32), free, strict=False)]
        random.shuffle(window)
        return any(self._try_ip(s, sub, addr, port)
                   for addr in itertools.chain(window, free))

    @staticmethod
    def _note_ip(port: m.Port, sub: m.Subnet, addr: str) -> None:
        """Remember an address given to a port being created (its view needs no
        read-back)."""
        written = getattr(port, "_written_ips", None)
        if written is not None:
            written.append({"subnet_id": sub.id, "ip_address": addr})

    def _try_ip(self, s: Session, sub: m.Subnet, addr: str, port: m.Port) -> bool:
        try:
            with s.begin_nested():
                s.add(m.IPAllocation(subnet_id=sub.id, ip_address=addr, port_id=port.id,
                                     network_id=sub.network_id))
                s.flush()
        except IntegrityError:
            return False
        self._note_ip(port, sub, addr)
        return True

    def _insert_ip(self, s: Session, sub: m.Subnet, addr: str, port: m.Port) -> None:
        try:
            with s.begin_nested():
                s.add(m.IPAllocation(subnet_id=sub.id, ip_address=addr, port_id=port.id,
                                     network_id=sub.network_id))
                s.flush()
        except IntegrityError:
            raise Conflict(f"IP address {addr} already allocated in subnet {sub.id}",
                           type="IpAddressAlreadyAllocated")
        self._note_ip(port, sub, addr)

    def ensure_default_sg(self, s: Session, project_id: str) -> m.SecurityGroup:
        sg = s.scalar(select(m.SecurityGroup).where(m.SecurityGroup.project_id == project_id,
                                                    m.SecurityGroup.is_default.is_(True)))
        if sg is not None:
            return sg
        sg = m.SecurityGroup(id=str(uuidlib.uuid4()), name="default",
                             description="Default security group", project_id=project_id,
                             is_default=True)
        s.add(sg)
        s.flush()
        for direction, ethertype, remote in (("egress", "IPv4", None),
                                             ("egress", "IPv6", None),
                                             ("ingress", "IPv4", sg.id),
                                             ("ingress", "IPv6", sg.id)):
            s.add(m.SecurityGroupRule(id=str(uuidlib.uuid4()), security_group_id=sg.id,
                                      project_id=project_id, direction=direction,
                                      ethertype=ethertype, remote_group_id=remote))
        s.flush()
        return sg

    def create_port(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        net_id = body.get("network_id")
        if not isinstance(net_id, str):
            raise BadRequest("Failed to parse request. Required attribute 'network_id' not "
                             "specified", type="HTTPBadRequest")
        fixed = body.get("fixed_ips")
        if fixed is not None and not isinstance(fixed, list):
            raise BadRequest("Invalid input for fixed_ips. Reason: it must be a list.",
                             type="HTTPBadRequest")
        mac = body.get("mac_address")
        if mac is not None:
            if not isinstance(mac, str) or len(mac.split(":")) != 6 or not all(
                    len(x) == 2 and all(c in "0123456789abcdefABCDEF" for c in x)
                    for x in mac.split(":")):
                raise BadRequest(f"Invalid input for mac_address. Reason: '{mac}' is not a "
                                 "valid MAC address.", type="HTTPBadRequest")
            if int(mac.split(":")[0], 16) & 1:
                raise BadRequest(f"Invalid input for mac_address: '{mac}' is multicast.",
                                 type="HTTPBadRequest")
            mac = mac.lower()
        pairs = _pairs(body.get("allowed_address_pairs"))
        with self.db.transaction() as s:
            net = self.get_network(s, ctx, net_id)
            project = body.get("project_id") or body.get("tenant_id") or ctx.project_id or ""
            owner = _str(body, "device_owner")
            if not ctx.is_admin and net.project_id != ctx.project_id and not net.shared \
                    and not (net.external and owner == "network:router_gateway"):
                raise Forbidden(f"Policy doesn't allow create_port on network {net_id} of "
                                "another project.", type="PolicyNotAuthorized")
            self._quota(s, project, "port", m.Port)
            if mac is not None and s.scalar(select(m.Port.id).where(
                    m.Port.mac_address == mac)):
                raise Conflict(f"Unable to complete operation for network {net_id}. The mac "
                               f"address {mac} is in use.", type="MacAddressInUse")
            security = _bool(body, "port_security_enabled", net.port_security_enabled)
            port = m.Port(
                id=str(uuidlib.uuid4()), network_id=net_id, name=_str(body, "name"),
                description=_str(body, "description"), project_id=project,
                mac_address=mac or self._free_mac(s),
                admin_state_up=_bool(body, "admin_state_up", True), device_owner=owner,
                device_id=_str(body, "device_id"),
                binding_host_id=_str(body, "binding:host_id"),
                binding_vnic_type=body.get("binding:vnic_type") or "normal",
                binding_profile=body.get("binding:profile") or {},
                port_security_enabled=security, allowed_address_pairs=pairs,
                dns_name=_str(body, "dns_name"))
            if port.binding_host_id:
                port.binding_vif_type = "tap"
            s.add(port)
            s.flush()
            port._written_ips = []  # type: ignore[attr-defined]  # filled by _note_ip
            self._allocate(s, port, net, fixed)
            groups = body.get("security_groups")
            if groups is None:
                groups = [] if (not security or owner.startswith("network:")) else \
                    [self.ensure_default_sg(s, project).id]
            found = self._set_groups(s, ctx, port, groups, security, new=True)
            s.flush()
            written = list(getattr(port, "_written_ips", []))
            out = self.port_views(s, [port], ({port.id: written}, {port.id: found}))[0]
        self._changed("port", out["id"])
        return out

    def _free_mac(self, s: Session) -> str:
        for _ in range(16):
            mac = ipam.random_mac()
            if not s.scalar(select(m.Port.id).where(m.Port.mac_address == mac)):
                return mac
        raise Conflict("Unable to generate a unique mac address.",
                       type="MacAddressGenerationFailure")

    def _set_groups(self, s: Session, ctx: RequestContext, port: m.Port, groups: Any,
                    security: bool, *, new: bool = False) -> list[str]:
        if not isinstance(groups, list):
            raise BadRequest("Invalid input for security_groups: it must be a list.",
                             type="HTTPBadRequest")
        if groups and not security:
            raise Conflict("Port has security group associated. Cannot disable port security "
                           "or ip address until security group is removed",
                           type="PortSecurityAndIPRequiredForSecurityGroups")
        found = []
        for gid in dict.fromkeys(groups):
            sg = s.get(m.SecurityGroup, gid)
            if sg is None or (not ctx.is_admin and sg.project_id != port.project_id):
                raise NotFound(f"Security group {gid} does not exist",
                               type="SecurityGroupNotFound")
            found.append(gid)
        if not new:
            s.execute(delete(m.PortSecurityGroup).where(
                m.PortSecurityGroup.port_id == port.id))
        for gid in found:
            s.add(m.PortSecurityGroup(port_id=port.id, security_group_id=gid))
        return found

    def update_port(self, ctx: RequestContext, port_id: str, body: dict[str, Any],
                    if_match: str | None = None) -> dict[str, Any]:
        for key in ("network_id", "id"):
            if key in body:
                raise BadRequest(f"Cannot update read-only attribute {key}",
                                 type="HTTPBadRequest")
        with self.db.transaction() as s:
            port = self.get_port(s, ctx, port_id)
            self._must_own(ctx, port.project_id, "port")
            self._bump(port, if_match)
            for key in ("name", "description", "device_owner", "device_id", "dns_name"):
                if key in body:
                    setattr(port, key, _str(body, key))
            if "admin_state_up" in body:
                port.admin_state_up = _bool(body, "admin_state_up", True)
            if "binding:host_id" in body:
                port.binding_host_id = _str(body, "binding:host_id")
                port.binding_vif_type = "tap" if port.binding_host_id else "unbound"
            if "binding:profile" in body:
                port.binding_profile = body["binding:profile"] or {}
            if "allowed_address_pairs" in body:
                port.allowed_address_pairs = _pairs(body["allowed_address_pairs"])
            if "mac_address" in body and body["mac_address"] != port.mac_address:
                if not ctx.is_admin or port.binding_host_id:
                    raise Conflict(f"Unable to complete operation on port {port_id}, port is "
                                   "already bound, port type: tap, old_mac "
                                   f"{port.mac_address}, new_mac {body['mac_address']}.",
                                   type="PortBound")
                port.mac_address = str(body["mac_address"]).lower()
            if "fixed_ips" in body:
                net = s.get(m.Network, port.network_id)
                assert net is not None
                s.execute(delete(m.IPAllocation).where(m.IPAllocation.port_id == port.id))
                s.flush()
                self._allocate(s, port, net, body["fixed_ips"] or [])
            security = port.port_security_enabled
            if "port_security_enabled" in body:
                security = _bool(body, "port_security_enabled", True)
            groups = body.get("security_groups")
            if groups is None and "port_security_enabled" in body and not security:
                has = s.scalar(select(func.count()).select_from(m.PortSecurityGroup).where(
                    m.PortSecurityGroup.port_id == port.id)) or 0
                if has and "security_groups" not in body:
                    raise Conflict("Port has security group associated. Cannot disable port "
                                   "security or ip address until security group is removed",
                                   type="PortSecurityPortHasSecurityGroup")
            if security != port.port_security_enabled and not security and \
                    port.allowed_address_pairs and "allowed_address_pairs" not in body:
                raise Conflict("Port Security must be enabled in order to have allowed "
                               "address pairs on a port.",
                               type="AddressPairAndPortSecurityRequired")
            port.port_security_enabled = security
            if "security_groups" in body:
                self._set_groups(s, ctx, port, body["security_groups"] or [], security)
            s.flush()
            out = self.port_views(s, [port])[0]
        self._changed("port", port_id)
        return out

    def delete_port(self, ctx: RequestContext, port_id: str, *, internal: bool = False) -> None:
        with self.db.transaction() as s:
            port = self.get_port(s, ctx, port_id)
            self._must_own(ctx, port.project_id, "port")
            if not internal and port.device_owner in ("network:router_interface",
                                                      "network:router_gateway",
                                                      "network:floatingip"):
                raise Conflict(f"Port {port_id} cannot be deleted directly via the port API: "
                               f"has device owner {port.device_owner}.",
                               type="ServicePortInUse")
            for fip in s.scalars(select(m.FloatingIP).where(m.FloatingIP.port_id == port_id)):
                fip.port_id, fip.fixed_ip_address, fip.router_id = None, None, None
                fip.status = "DOWN"
            s.delete(port)
        self._changed("port", port_id)

    # ---------------------------------------------------------------- security groups
    def _sg_visible(self, ctx: RequestContext) -> Any:
        return m.SecurityGroup.id.isnot(None) if ctx.is_admin else \
            m.SecurityGroup.project_id == ctx.project_id

    def get_sg(self, s: Session, ctx: RequestContext, sg_id: str) -> m.SecurityGroup:
        sg = s.scalar(select(m.SecurityGroup).where(m.SecurityGroup.id == sg_id,
                                                    self._sg_visible(ctx)))
        if sg is None:
            raise NotFound(f"Security group {sg_id} does not exist",
                           type="SecurityGroupNotFound")
        return sg

    def rule_view(self, r: m.SecurityGroupRule) -> dict[str, Any]:
        return {"id": r.id, "security_group_id": r.security_group_id,
                "project_id": r.project_id, "tenant_id": r.project_id,
                "direction": r.direction, "ethertype": r.ethertype, "protocol": r.protocol,
                "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
                "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id,
                "remote_address_group_id": None, "normalized_cidr": r.remote_ip_prefix,
                "description": r.description, "revision_number": r.revision_number,
                "tags": [], "created_at": nt(r.created_at), "updated_at": nt(r.updated_at),
                "belongs_to_default_sg": False}

    def sg_views(self, s: Session, groups: list[m.SecurityGroup]) -> list[dict[str, Any]]:
        ids = [g.id for g in groups]
        rules: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for i in range(0, len(ids), 500):
            for r in s.scalars(select(m.SecurityGroupRule).where(
                    m.SecurityGroupRule.security_group_id.in_(ids[i:i + 500]))
                    .order_by(m.SecurityGroupRule.created_at)):
                view = self.rule_view(r)
                rules[r.security_group_id].append(view)
        out = []
        for g in groups:
            body = self._common(g)
            for v in rules[g.id]:
                v["belongs_to_default_sg"] = g.is_default
            body.update({"security_group_rules": rules[g.id], "stateful": g.stateful,
                         "shared": False, "is_default": g.is_default})
            out.append(body)
        return out

    def list_sgs(self, ctx: RequestContext) -> Any:
        if ctx.project_id:
            with self.db.transaction() as s:
                self.ensure_default_sg(s, ctx.project_id)
        return select(m.SecurityGroup).where(self._sg_visible(ctx))

    def create_sg(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        name = _str(body, "name")
        if name == "default":
            raise Conflict("Default security group already exists.",
                           type="SecurityGroupDefaultAlreadyExists")
        project = body.get("project_id") or body.get("tenant_id") or ctx.project_id or ""
        if project != ctx.project_id and not ctx.is_admin:
            raise Forbidden("Cannot create a security group for another project.",
                            type="PolicyNotAuthorized")
        with self.db.transaction() as s:
            self.ensure_default_sg(s, project)
            self._quota(s, project, "security_group", m.SecurityGroup)
            sg = m.SecurityGroup(id=str(uuidlib.uuid4()), name=name,
                                 description=_str(body, "description"), project_id=project,
                                 stateful=_bool(body, "stateful", True))
            s.add(sg)
            s.flush()
            for ethertype in ("IPv4", "IPv6"):
                s.add(m.SecurityGroupRule(id=str(uuidlib.uuid4()), security_group_id=sg.id,
                                          project_id=project, direction="egress",
                                          ethertype=ethertype))
            s.flush()
            return self.sg_views(s, [sg])[0]

    def update_sg(self, ctx: RequestContext, sg_id: str, body: dict[str, Any],
                  if_match: str | None = None) -> dict[str, Any]:
        with self.db.transaction() as s:
            sg = self.get_sg(s, ctx, sg_id)
            if "name" in body:
                if sg.is_default and body["name"] != "default":
                    raise Conflict("Updating default security group not allowed.",
                                   type="SecurityGroupCannotUpdateDefault")
                sg.name = _str(body, "name")
            if "description" in body:
                sg.description = _str(body, "description")
            self._bump(sg, if_match)
            s.flush()
            return self.sg_views(s, [sg])[0]

    def delete_sg(self, ctx: RequestContext, sg_id: str) -> None:
        with self.db.transaction() as s:
            sg = self.get_sg(s, ctx, sg_id)
            if sg.is_default and not ctx.is_admin:
                raise Conflict("Insufficient rights for removing default security group.",
                               type="SecurityGroupCannotRemoveDefault")
            if s.scalar(select(m.PortSecurityGroup.port_id).where(
                    m.PortSecurityGroup.security_group_id == sg_id).limit(1)):
                raise Conflict(f"Security Group {sg_id} in use.", type="SecurityGroupInUse")
            s.delete(sg)
        self._changed("security_group", sg_id)

    def get_rule(self, s: Session, ctx: RequestContext, rule_id: str) -> m.SecurityGroupRule:
        r = s.get(m.SecurityGroupRule, rule_id)
        if r is None or (not ctx.is_admin and r.project_id != ctx.project_id):
            raise NotFound(f"Security group rule {rule_id} does not exist",
                           type="SecurityGroupRuleNotFound")
        return r

    def list_rules(self, ctx: RequestContext) -> Any:
        q = select(m.SecurityGroupRule)
        if not ctx.is_admin:
            q = q.where(m.SecurityGroupRule.project_id == ctx.project_id)
        return q

    def create_rule(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        direction = body.get("direction")
        if direction not in ("ingress", "egress"):
            raise BadRequest(f"Invalid input for direction. Reason: {direction} is not in "
                             "['ingress', 'egress'].", type="HTTPBadRequest")
        ethertype = body.get("ethertype") or "IPv4"
        if ethertype not in ("IPv4", "IPv6"):
            raise BadRequest(f"Invalid input for ethertype. Reason: {ethertype} is not in "
                             "['IPv4', 'IPv6'].", type="HTTPBadRequest")
        proto = body.get("protocol")
        if proto is not None:
            proto = str(proto).lower()
            if proto.isdigit():
                if not 0 <= int(proto) <= 255:
                    raise BadRequest(f"Security group rule protocol {proto} not supported.",
                                     type="SecurityGroupRuleInvalidProtocol")
            elif proto not in PROTOCOLS:
                raise BadRequest(f"Security group rule protocol {proto} not supported. Only "
                                 "protocol values [None, tcp, udp, icmp, icmpv6, ...] and "
                                 "integer representations [0 to 255] are supported.",
                                 type="SecurityGroupRuleInvalidProtocol")
            if proto == "icmp" and ethertype == "IPv6":
                proto = "ipv6-icmp"
            if proto in ("icmpv6", "ipv6-icmp") and ethertype == "IPv4":
                raise BadRequest("Protocol ipv6-icmp is not supported with ethertype IPv4.",
                                 type="SecurityGroupEthertypeConflictWithProtocol")
        pmin, pmax = body.get("port_range_min"), body.get("port_range_max")
        for v in (pmin, pmax):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or
                                  not 0 <= v <= 65535):
                raise BadRequest(f"Invalid value for port {v}.", type="InvalidInput")
        if (pmin is not None or pmax is not None):
            if proto is None:
                raise BadRequest("Must also specify protocol if port range is given.",
                                 type="SecurityGroupProtocolRequiredWithPorts")
            if proto in PORT_PROTOCOLS:
                if pmin is None or pmax is None or pmin > pmax or pmin == 0:
                    raise BadRequest("For TCP/UDP protocols, port_range_min must be <= "
                                     "port_range_max", type="SecurityGroupInvalidPortRange")
            elif proto in ("icmp", "ipv6-icmp", "icmpv6", "1", "58"):
                if pmin is None and pmax is not None:
                    raise BadRequest(f"ICMP code (port-range-max) {pmax} is provided but "
                                     "ICMP type (port-range-min) is missing.",
                                     type="SecurityGroupMissingIcmpType")
                if (pmin or 0) > 255 or (pmax or 0) > 255:
                    raise BadRequest("Invalid value for ICMP type or code.",
                                     type="SecurityGroupInvalidIcmpValue")
            else:
                raise BadRequest(f"Invalid protocol {proto} for port range, only supported "
                                 "for TCP, UDP, UDPLITE, SCTP and DCCP.",
                                 type="SecurityGroupInvalidProtocolForPort")
        prefix = body.get("remote_ip_prefix")
        remote_group = body.get("remote_group_id")
        if prefix is not None and remote_group is not None:
            raise BadRequest("Only one of remote_ip_prefix, remote_group_id and "
                             "remote_address_group_id may be provided.",
                             type="SecurityGroupRemoteGroupAndRemoteIpPrefix")
        if prefix is not None:
            net = ipam.parse_cidr(prefix) if "/" in str(prefix) else \
                ipaddress.ip_network(str(ipam.parse_ip(prefix, "remote_ip_prefix")))
            if (net.version == 4) != (ethertype == "IPv4"):
                raise BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                                 type="SecurityGroupRuleParameterConflict")
            prefix = str(net)
        sg_id = body.get("security_group_id")
        if not isinstance(sg_id, str):
            raise BadRequest("Failed to parse request. Required attribute "
                             "'security_group_id' not specified", type="HTTPBadRequest")
        with self.db.transaction() as s:
            sg = self.get_sg(s, ctx, sg_id)
            if remote_group is not None:
                self.get_sg(s, ctx, remote_group)
            self._quota(s, sg.project_id, "security_group_rule", m.SecurityGroupRule)
            for r in s.scalars(select(m.SecurityGroupRule).where(
                    m.SecurityGroupRule.security_group_id == sg_id)):
                if (r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max,
                        r.remote_ip_prefix, r.remote_group_id) == (
                        direction, ethertype, proto, pmin, pmax, prefix, remote_group):
                    raise Conflict(f"Security group rule already exists. Rule id is {r.id}.",
                                   type="SecurityGroupRuleExists")
            rule = m.SecurityGroupRule(
                id=str(uuidlib.uuid4()), security_group_id=sg_id, project_id=sg.project_id,
                direction=direction, ethertype=ethertype, protocol=proto, port_range_min=pmin,
                port_range_max=pmax, remote_ip_prefix=prefix, remote_group_id=remote_group,
                description=_str(body, "description"))
            s.add(rule)
            sg.revision_number += 1
            s.flush()
            out = self.rule_view(rule)
            out["belongs_to_default_sg"] = sg.is_default
        self._changed("security_group", sg_id)
        return out

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> None:
        with self.db.transaction() as s:
            r = self.get_rule(s, ctx, rule_id)
            sg_id = r.security_group_id
            s.delete(r)
        self._changed("security_group", sg_id)

    # ---------------------------------------------------------------- routers
    def _router_visible(self, ctx: RequestContext) -> Any:
        return m.Router.id.isnot(None) if ctx.is_admin else \
            m.Router.project_id == ctx.project_id

    def get_router(self, s: Session, ctx: RequestContext, router_id: str) -> m.Router:
        r = s.scalar(select(m.Router).where(m.Router.id == router_id,
                                            self._router_visible(ctx)))
        if r is None:
            raise _not_found("Router", router_id)
        return r

    def router_view(self, s: Session, r: m.Router) -> dict[str, Any]:
        body = self._common(r)
        gateway = None
        if r.gateway_network_id:
            ips = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in s.scalars(
                select(m.IPAllocation).where(m.IPAllocation.port_id == r.gateway_port_id))]
            gateway = {"network_id": r.gateway_network_id, "enable_snat": r.enable_snat,
                       "external_fixed_ips": ips}
        body.update({"admin_state_up": r.admin_state_up, "status": r.status,
                     "external_gateway_info": gateway, "routes": list(r.routes or []),
                     "distributed": False, "ha": False, "availability_zone_hints": [],
                     "availability_zones": ["nova"], "flavor_id": None,
                     "enable_ndp_proxy": False})
        return body

    def list_routers(self, ctx: RequestContext) -> Any:
        return select(m.Router).where(self._router_visible(ctx))

    def _set_gateway(self, s: Session, ctx: RequestContext, router: m.Router,
                     info: Any) -> None:
        if info is None or info == {}:
            if router.gateway_port_id:
                if s.scalar(select(m.FloatingIP.id).where(
                        m.FloatingIP.router_id == router.id).limit(1)):
                    raise Conflict(f"Gateway cannot be updated for router {router.id}, since "
                                   "a gateway to external network is required by one or more "
                                   "floating IPs.", type="RouterExternalGatewayInUseByFloatingIp")
                port = s.get(m.Port, router.gateway_port_id)
                if port is not None:
                    s.delete(port)
            router.gateway_network_id = router.gateway_port_id = None
            return
        if not isinstance(info, dict) or not isinstance(info.get("network_id"), str):
            raise BadRequest("Invalid input for external_gateway_info: network_id is "
                             "required.", type="HTTPBadRequest")
        net = self.get_network(s, ctx, info["network_id"])
        if not net.external:
            raise BadRequest(f"Bad router request: Network {net.id} is not an external "
                             "network.", type="BadRequest")
        if "enable_snat" in info:
            router.enable_snat = bool(info["enable_snat"])
        if router.gateway_network_id == net.id:
            return
        if router.gateway_port_id:
            old = s.get(m.Port, router.gateway_port_id)
            if old is not None:
                s.delete(old)
                s.flush()
        port = m.Port(id=str(uuidlib.uuid4()), network_id=net.id, project_id="",
                      mac_address=self._free_mac(s), device_owner="network:router_gateway",
                      device_id=router.id, status="ACTIVE", port_security_enabled=False)
        s.add(port)
        s.flush()
        fixed = info.get("external_fixed_ips")
        self._allocate(s, port, net, fixed if fixed else None)
        router.gateway_network_id, router.gateway_port_id = net.id, port.id

    def create_router(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        project = body.get("project_id") or body.get("tenant_id") or ctx.project_id or ""
        if project != ctx.project_id and not ctx.is_admin:
            raise Forbidden("Cannot create a router for another project.",
                            type="PolicyNotAuthorized")
        with self.db.transaction() as s:
            self._quota(s, project, "router", m.Router)
            r = m.Router(id=str(uuidlib.uuid4()), name=_str(body, "name"),
                         description=_str(body, "description"), project_id=project,
                         admin_state_up=_bool(body, "admin_state_up", True))
            s.add(r)
            s.flush()
            if body.get("external_gateway_info"):
                self._set_gateway(s, ctx, r, body["external_gateway_info"])
            s.flush()
            out = self.router_view(s, r)
        self._changed("router", out["id"])
        return out

    def update_router(self, ctx: RequestContext, router_id: str, body: dict[str, Any],
                      if_match: str | None = None) -> dict[str, Any]:
        with self.db.transaction() as s:
            r = self.get_router(s, ctx, router_id)
            self._bump(r, if_match)
            if "name" in body:
                r.name = _str(body, "name")
            if "description" in body:
                r.description = _str(body, "description")
            if "admin_state_up" in body:
                r.admin_state_up = _bool(body, "admin_state_up", True)
            if "external_gateway_info" in body:
                self._set_gateway(s, ctx, r, body["external_gateway_info"])
            if "routes" in body:
                r.routes = self._check_routes(s, r, body["routes"])
            s.flush()
            out = self.router_view(s, r)
        self._changed("router", router_id)
        return out

    def _check_routes(self, s: Session, r: m.Router, routes: Any) -> list[dict[str, str]]:
        if not isinstance(routes, list):
            raise BadRequest("Invalid input for routes.", type="HTTPBadRequest")
        nets = [ipaddress.ip_network(sub.cidr) for sub in self._router_subnets(s, r.id)]
        out = []
        for rt in routes:
            if not isinstance(rt, dict) or set(rt) != {"destination", "nexthop"}:
                raise BadRequest("Invalid input for routes: each is {destination, nexthop}.",
                                 type="HTTPBadRequest")
            dest = ipam.parse_cidr(rt["destination"])
            hop = ipam.parse_ip(rt["nexthop"], "nexthop")
            if not any(hop in n for n in nets):
                raise BadRequest(f"Invalid format for routes: the nexthop {hop} is not "
                                 "connected with router", type="InvalidRoutes")
            out.append({"destination": str(dest), "nexthop": str(hop)})
        return out

    def _router_subnets(self, s: Session, router_id: str) -> list[m.Subnet]:
        ports = select(m.Port.id).where(m.Port.device_id == router_id,
                                        m.Port.device_owner == "network:router_interface")
        subs = select(m.IPAllocation.subnet_id).where(m.IPAllocation.port_id.in_(ports))
        return list(s.scalars(select(m.Subnet).where(m.Subnet.id.in_(subs))))

    def delete_router(self, ctx: RequestContext, router_id: str) -> None:
        with self.db.transaction() as s:
            r = self.get_router(s, ctx, router_id)
            if s.scalar(select(m.Port.id).where(
                    m.Port.device_id == router_id,
                    m.Port.device_owner == "network:router_interface").limit(1)):
                raise Conflict(f"Router {router_id} still has ports", type="RouterInUse")
            if s.scalar(select(m.FloatingIP.id).where(m.FloatingIP.router_id == router_id)
                        .limit(1)):
                raise Conflict(f"Router {router_id} still has floating IPs associated.",
                               type="RouterInUse")
            if r.gateway_port_id:
                port = s.get(m.Port, r.gateway_port_id)
                if port is not None:
                    s.delete(port)
            s.delete(r)
        self._changed("router", router_id)

    def add_interface(self, ctx: RequestContext, router_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or ("subnet_id" in body) == ("port_id" in body):
            raise BadRequest("Bad router request: Either subnet_id or port_id must be "
                             "specified.", type="BadRequest")
        with self.db.transaction() as s:
            r = self.get_router(s, ctx, router_id)
            if "subnet_id" in body:
                sub = self.get_subnet(s, ctx, body["subnet_id"])
                if not sub.gateway_ip:
                    raise BadRequest(f"Bad router request: Subnet {sub.id} does not have a "
                                     "gateway IP.", type="BadRequest")
                self._check_overlap(s, r.id, sub)
                if s.get(m.IPAllocation, (sub.id, sub.gateway_ip)) is not None:
                    raise Conflict(f"IP address {sub.gateway_ip} already allocated in subnet "
                                   f"{sub.id}", type="IpAddressAlreadyAllocated")
                net = s.get(m.Network, sub.network_id)
                assert net is not None
                port = m.Port(id=str(uuidlib.uuid4()), network_id=net.id,
                              project_id=r.project_id, mac_address=self._free_mac(s),
                              device_owner="network:router_interface", device_id=r.id,
                              status="ACTIVE", port_security_enabled=False)
                s.add(port)
                s.flush()
                self._insert_ip(s, sub, sub.gateway_ip, port)
                subnet_ids = [sub.id]
            else:
                port = self.get_port(s, ctx, body["port_id"])
                if port.device_id and port.device_id != r.id:
                    raise Conflict(f"Port {port.id} is in use by another device.",
                                   type="PortInUse")
                allocs = list(s.scalars(select(m.IPAllocation).where(
                    m.IPAllocation.port_id == port.id)))
                if not allocs:
                    raise BadRequest("Bad router request: Router port must have at least "
                                     "one fixed IP.", type="BadRequest")
                for a in allocs:
                    asub = s.get(m.Subnet, a.subnet_id)
                    assert asub is not None
                    self._check_overlap(s, r.id, asub)
                port.device_id, port.device_owner = r.id, "network:router_interface"
                port.port_security_enabled = False
                s.execute(delete(m.PortSecurityGroup).where(
                    m.PortSecurityGroup.port_id == port.id))
                subnet_ids = [a.subnet_id for a in allocs]
            r.revision_number += 1
            out = {"id": r.id, "tenant_id": r.project_id, "project_id": r.project_id,
                   "port_id": port.id, "network_id": port.network_id,
                   "subnet_id": subnet_ids[0], "subnet_ids": subnet_ids}
        self._changed("router", router_id)
        return out

    def _check_overlap(self, s: Session, router_id: str, sub: m.Subnet) -> None:
        new = ipaddress.ip_network(sub.cidr)
        for other in self._router_subnets(s, router_id):
            if ipaddress.ip_network(other.cidr).overlaps(new):
                raise BadRequest(f"Bad router request: Cidr {sub.cidr} of subnet {sub.id} "
                                 f"overlaps with cidr {other.cidr} of subnet {other.id}.",
                                 type="BadRequest")

    def remove_interface(self, ctx: RequestContext, router_id: str, body: Any
                         ) -> dict[str, Any]:
        if not isinstance(body, dict) or not ({"subnet_id", "port_id"} & set(body)):
            raise BadRequest("Bad router request: Either subnet_id or port_id must be "
                             "specified.", type="BadRequest")
        with self.db.transaction() as s:
            r = self.get_router(s, ctx, router_id)
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
                raise NotFound(f"Router {router_id} does not have an interface with id {what}",
                               type="RouterInterfaceNotFoundForSubnet"
                               if "subnet_id" in body else "RouterInterfaceNotFound")
            port, subs = target
            if s.scalar(select(m.FloatingIP.id).where(m.FloatingIP.router_id == r.id,
                                                      m.FloatingIP.port_id.in_(
                select(m.IPAllocation.port_id).where(
                    m.IPAllocation.subnet_id.in_(subs)))).limit(1)):
                raise Conflict(f"Router interface for subnet {subs[0]} on router {r.id} "
                               "cannot be deleted, as it is required by one or more "
                               "floating IPs.", type="RouterInterfaceInUseByFloatingIP")
            out = {"id": r.id, "tenant_id": r.project_id, "project_id": r.project_id,
                   "port_id": port.id, "network_id": port.network_id,
                   "subnet_id": subs[0] if subs else None, "subnet_ids": subs}
            s.delete(port)
            r.revision_number += 1
        self._changed("router", router_id)
        return out

    # ---------------------------------------------------------------- floating IPs
    def _fip_visible(self, ctx: RequestContext) -> Any:
        return m.FloatingIP.id.isnot(None) if ctx.is_admin else \
            m.FloatingIP.project_id == ctx.project_id

    def get_fip(self, s: Session, ctx: RequestContext, fip_id: str) -> m.FloatingIP:
        f = s.scalar(select(m.FloatingIP).where(m.FloatingIP.id == fip_id,
                                                self._fip_visible(ctx)))
        if f is None:
            raise NotFound(f"Floating IP {fip_id} could not be found",
                           type="FloatingIPNotFound")
        return f

    def fip_view(self, f: m.FloatingIP) -> dict[str, Any]:
        body = self._common(f)
        body.update({"floating_network_id": f.floating_network_id,
                     "floating_ip_address": f.floating_ip_address, "port_id": f.port_id,
                     "fixed_ip_address": f.fixed_ip_address, "router_id": f.router_id,
                     "status": f.status, "port_details": None, "port_forwardings": [],
                     "dns_domain": "", "dns_name": "", "qos_policy_id": None})
        return body

    def list_fips(self, ctx: RequestContext) -> Any:
        return select(m.FloatingIP).where(self._fip_visible(ctx))

    def _associate(self, s: Session, ctx: RequestContext, fip: m.FloatingIP,
                   port_id: str | None, fixed: str | None) -> None:
        if port_id is None:
            fip.port_id = fip.fixed_ip_address = fip.router_id = None
            fip.status = "DOWN"
            return
        port = self.get_port(s, ctx, port_id)
        if not ctx.is_admin and port.project_id != fip.project_id:
            raise NotFound(f"Port {port_id} could not be found.", type="PortNotFound")
        allocs = [a for a in s.scalars(select(m.IPAllocation).where(
            m.IPAllocation.port_id == port.id)) if ipaddress.ip_address(a.ip_address).version
            == 4]
        if fixed is not None:
            allocs = [a for a in allocs if a.ip_address == fixed]
            if not allocs:
                raise BadRequest(f"Bad floatingip request: Port {port_id} does not have fixed "
                                 f"ip {fixed}.", type="BadRequest")
        if not allocs:
            raise BadRequest(f"Bad floatingip request: Port {port_id} does not have any "
                             "IPv4 address.", type="BadRequest")
        alloc = allocs[0]
        router = None
        for r in s.scalars(select(m.Router).where(
                m.Router.gateway_network_id == fip.floating_network_id)):
            if any(sub.id == alloc.subnet_id for sub in self._router_subnets(s, r.id)):
                router = r
                break
        if router is None:
            raise NotFound(f"External network {fip.floating_network_id} is not reachable "
                           f"from subnet {alloc.subnet_id}.  Therefore, cannot associate "
                           f"Port {port_id} with a Floating IP.",
                           type="ExternalGatewayForFloatingIPNotFound")
        other = s.scalar(select(m.FloatingIP.id).where(
            m.FloatingIP.port_id == port.id, m.FloatingIP.fixed_ip_address ==
            alloc.ip_address, m.FloatingIP.id != fip.id))
        if other:
            raise Conflict(f"Cannot associate floating IP {fip.floating_ip_address} with "
                           f"port {port_id} using fixed IP {alloc.ip_address}, as that fixed "
                           f"IP already has a floating IP on external network "
                           f"{fip.floating_network_id}.", type="FloatingIPPortAlreadyAssociated")
        fip.port_id, fip.fixed_ip_address, fip.router_id = port.id, alloc.ip_address, router.id
        fip.status = "ACTIVE"

    def create_fip(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        net_id = body.get("floating_network_id")
        if not isinstance(net_id, str):
            raise BadRequest("Failed to parse request. Required attribute "
                             "'floating_network_id' not specified", type="HTTPBadRequest")
        project = body.get("project_id") or body.get("tenant_id") or ctx.project_id or ""
        with self.db.transaction() as s:
            net = self.get_network(s, ctx, net_id)
            if not net.external:
                raise BadRequest(f"Bad floatingip request: Network {net_id} is not a valid "
                                 "external network.", type="BadRequest")
            self._quota(s, project, "floatingip", m.FloatingIP)
            fip_id = str(uuidlib.uuid4())
            port = m.Port(id=str(uuidlib.uuid4()), network_id=net.id, project_id="",
                          mac_address=self._free_mac(s), device_owner="network:floatingip",
                          device_id=fip_id, status="N/A", port_security_enabled=False)
            s.add(port)
            s.flush()
            wanted = None
            if body.get("floating_ip_address"):
                wanted = [{"ip_address": body["floating_ip_address"]}]
                if body.get("subnet_id"):
                    wanted[0]["subnet_id"] = body["subnet_id"]
            elif body.get("subnet_id"):
                wanted = [{"subnet_id": body["subnet_id"]}]
            self._allocate(s, port, net, wanted)
            addr = [a.ip_address for a in s.scalars(select(m.IPAllocation).where(
                m.IPAllocation.port_id == port.id))
                if ipaddress.ip_address(a.ip_address).version == 4]
            if not addr:
                raise BadRequest(f"Bad floatingip request: Network {net_id} has no IPv4 "
                                 "subnet.", type="BadRequest")
            fip = m.FloatingIP(id=fip_id, floating_network_id=net.id, project_id=project,
                               floating_ip_address=addr[0], floating_port_id=port.id,
                               description=_str(body, "description"))
            s.add(fip)
            s.flush()
            if body.get("port_id"):
                self._associate(s, ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            s.flush()
            out = self.fip_view(fip)
        self._changed("floatingip", fip_id)
        return out

    def update_fip(self, ctx: RequestContext, fip_id: str, body: dict[str, Any],
                   if_match: str | None = None) -> dict[str, Any]:
        with self.db.transaction() as s:
            fip = self.get_fip(s, ctx, fip_id)
            self._bump(fip, if_match)
            if "description" in body:
                fip.description = _str(body, "description")
            if "port_id" in body:
                self._associate(s, ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            s.flush()
            out = self.fip_view(fip)
        self._changed("floatingip", fip_id)
        return out

    def delete_fip(self, ctx: RequestContext, fip_id: str) -> None:
        with self.db.transaction() as s:
            fip = self.get_fip(s, ctx, fip_id)
            port = s.get(m.Port, fip.floating_port_id)
            if port is not None:
                s.delete(port)
            s.delete(fip)
        self._changed("floatingip", fip_id)


    # ---------------------------------------------------------------- start-up
    def ensure_default_topology(self, admin_project_id: str, public_cidr: str
                                ) -> dict[str, str]:
        """What a fresh all-in-one cloud offers at once (DevStack's shape): the external
        flat network `public` (its gateway address is the simulated upstream), and for
        the admin project a `private` network with a subnet and `router1` joining it to
        `public`. Each piece is made only if missing, so restarts change nothing and a
        piece the admin deleted on purpose is not forced back while the rest exists."""
        ctx = RequestContext(project_id=admin_project_id, internal=True, roles=["admin"])
        with self.db.session() as s:
            public = s.scalar(select(m.Network).where(m.Network.external.is_(True),
                                                      m.Network.name == "public"))
            public_id = public.id if public is not None else None
            any_private = s.scalar(select(m.Network.id).where(
                m.Network.project_id == admin_project_id,
                m.Network.external.is_(False)).limit(1))
        out: dict[str, str] = {}
        if public_id is None:
            net = self.create_network(ctx, {
                "name": "public", "router:external": True, "shared": False,
                "provider:network_type": "flat", "provider:physical_network": "public",
                "description": "The outside world (simulated upstream)"})
            public_id = net["id"]
            cidr = ipaddress.ip_network(public_cidr)
            self.create_subnet(ctx, {
                "network_id": public_id, "name": "public-subnet", "ip_version": 4,
                "cidr": str(cidr), "gateway_ip": str(cidr.network_address + 1),
                "enable_dhcp": False})
        out["public"] = public_id
        if any_private is None:
            net = self.create_network(ctx, {"name": "private"})
            sub = self.create_subnet(ctx, {
                "network_id": net["id"], "name": "private-subnet", "ip_version": 4,
                "cidr": "10.0.0.0/24", "dns_nameservers": []})
            router = self.create_router(ctx, {
                "name": "router1", "external_gateway_info": {"network_id": public_id}})
            self.add_interface(ctx, router["id"], {"subnet_id": sub["id"]})
            out.update(private=net["id"], router=router["id"])
        return out

    # ---------------------------------------------------------------- compute
    def resolve_requested(self, ctx: RequestContext, networks: Any, count: int,
                          security_groups: list[str] | None = None
                          ) -> list[dict[str, Any]]:
        """Check a server create's `networks` as Nova does (400/409 before anything
        is made); "auto" means the project's one usable network, if it has one.
        `security_groups` (names or ids of the project's groups) go with each port
        compute will make; ports the user passed keep their own groups, as in Nova."""
        groups = self._resolve_groups(ctx, security_groups) if security_groups else None
        out = self._resolve_networks(ctx, networks, count)
        if groups is not None:
            for item in out:
                if "port" not in item:
                    item["security_groups"] = groups
        return out

    def server_group_action(self, ctx: RequestContext, instance_uuid: str, name: str,
                            add: bool) -> None:
        """Nova's addSecurityGroup/removeSecurityGroup: the group joins (or leaves)
        every port of the server that has port security."""
        (group,) = self._resolve_groups(ctx, [name], not_found=NotFound, ambiguous=Conflict)
        internal = RequestContext(project_id=ctx.project_id, internal=True, roles=["admin"])
        with self.db.session() as s:
            ports = list(s.scalars(select(m.Port).where(m.Port.device_id == instance_uuid)
                                   .order_by(m.Port.created_at)))
            ports = [p for p in ports if p.port_security_enabled]
            if not ports:
                raise BadRequest("Security groups cannot be applied to this server: it has "
                                 "no port with port security enabled.")
            current = {p.id: [g for (g,) in s.execute(
                select(m.PortSecurityGroup.security_group_id)
                .where(m.PortSecurityGroup.port_id == p.id))] for p in ports}
        if not add and not any(group in gs for gs in current.values()):
            raise BadRequest(f"Security group {name} not associated with the instance "
                             f"{instance_uuid}")
        for pid, groups in current.items():
            if add and group not in groups:
                self.update_port(internal, pid, {"security_groups": [*groups, group]})
            elif not add and group in groups:
                self.update_port(internal, pid, {"security_groups":
                                                 [g for g in groups if g != group]})

    def _resolve_groups(self, ctx: RequestContext, names: list[str], *,
                        not_found: type[Exception] = BadRequest,
                        ambiguous: type[Exception] = BadRequest) -> list[str]:
        with self.db.transaction() as s:
            if "default" in names:
                self.ensure_default_sg(s, ctx.project_id or "")
            ids = []
            for name in names:
                found = list(s.scalars(select(m.SecurityGroup).where(
                    m.SecurityGroup.project_id == ctx.project_id,
                    (m.SecurityGroup.id == name) | (m.SecurityGroup.name == name))))
                by_id = [g for g in found if g.id == name]
                if by_id:
                    found = by_id
                if not found:
                    raise not_found(f"Security group {name} not found for project "
                                    f"{ctx.project_id}.")
                if len(found) > 1:
                    raise ambiguous(f"Multiple security groups found matching '{name}'. "
                                     "Use an ID to be more specific.")
                if found[0].id not in ids:
                    ids.append(found[0].id)
            return ids

    def _resolve_networks(self, ctx: RequestContext, networks: Any, count: int
                          ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            if networks == "auto":
                nets = list(s.scalars(select(m.Network).where(
                    self._net_visible(ctx), m.Network.external.is_(False))
                    .order_by(m.Network.created_at)))
                own = [n for n in nets if n.project_id == ctx.project_id] or \
                    [n for n in nets if n.shared]
                return [{"uuid": own[0].id}] if own else []
            out = []
            for item in networks:
                if not isinstance(item, dict):
                    raise BadRequest("Bad networks format")
                port_id, net_id = item.get("port"), item.get("uuid")
                fixed = item.get("fixed_ip")
                if port_id:
                    port = s.scalar(select(m.Port).where(m.Port.id == port_id,
                                                         self._port_visible(ctx)))
                    if port is None:
                        raise BadRequest(f"Port id {port_id} could not be found.")
                    if port.device_id:
                        raise Conflict(f"Port {port_id} is still in use.", type="PortInUse")
                    if count > 1:
                        raise BadRequest("Multiple instances with the same port can not be "
                                         "created.")
                    out.append({"port": port_id})
                    continue
                if not isinstance(net_id, str):
                    raise BadRequest("Bad networks format: network uuid is not in proper "
                                     f"format ({net_id})")
                net = s.scalar(select(m.Network).where(m.Network.id == net_id,
                                                       self._net_visible(ctx)))
                if net is None or (net.external and not ctx.is_admin and
                                   net.project_id != ctx.project_id and not net.shared):
                    raise BadRequest(f"Network {net_id} could not be found.")
                if not s.scalar(select(m.Subnet.id).where(m.Subnet.network_id == net_id)
                                .limit(1)):
                    raise BadRequest(f"Network {net_id} requires a subnet in order to boot "
                                     "instances on.")
                if fixed is not None:
                    ipam.parse_ip(fixed, "fixed_ip")
                    if count > 1:
                        raise BadRequest("Multiple instances with the same fixed IP can not "
                                         "be created.")
                entry = {"uuid": net_id}
                if fixed is not None:
                    entry["fixed_ip"] = str(fixed)
                out.append(entry)
            return out

    def allocate_for_instance(self, instance_uuid: str, project_id: str,
                              requested: list[dict[str, Any]], host: str,
                              vif_kind: str = "tap") -> list[dict[str, Any]]:
        """The instance's ports, made (or taken over) and bound to `host`; idempotent
        for a retried build. Returns what the driver plugs."""
        ctx = RequestContext(project_id=project_id, internal=True, roles=["admin"])
        made: list[str] = []
        with self.db.session() as s:
            existing = list(s.scalars(select(m.Port).where(m.Port.device_id == instance_uuid)
                                      .order_by(m.Port.created_at)))
        if existing:
            ids = [p.id for p in existing]
        else:
            ids = []
            try:
                for item in requested:
                    if "port" in item:
                        self.update_port(ctx, item["port"], {"device_id": instance_uuid,
                                                             "device_owner": "compute:nova"})
                        ids.append(item["port"])
                        continue
                    body: dict[str, Any] = {
                        "network_id": item["uuid"], "project_id": project_id,
                        "device_id": instance_uuid, "device_owner": "compute:nova",
                        "binding:profile": {"overcast_created": True}}
                    if item.get("fixed_ip"):
                        body["fixed_ips"] = [{"ip_address": item["fixed_ip"]}]
                    if item.get("security_groups"):
                        body["security_groups"] = list(item["security_groups"])
                    port = self.create_port(ctx, body)
                    made.append(port["id"])
                    ids.append(port["id"])
            except Exception:
                for pid in made:
                    self.delete_port(ctx, pid, internal=True)
                raise
        with self.db.transaction() as s:
            for pid in ids:
                row = s.get(m.Port, pid)
                if row is None:
                    continue
                profile = dict(row.binding_profile or {})
                if (row.binding_host_id, row.status, profile.get("overcast_kind")) != \
                        (host, "ACTIVE", vif_kind):
                    row.binding_host_id = host
                    row.binding_vif_type = "tap" if vif_kind == "tap" else "bridge"
                    row.binding_profile = {**profile, "overcast_kind": vif_kind}
                    row.status = "ACTIVE"
                    row.revision_number += 1
        for pid in ids:
            self._changed("port", pid)
        return self.ports_for_instance(instance_uuid)

    def ports_for_instance(self, instance_uuid: str) -> list[dict[str, Any]]:
        """What a driver plugs for an instance: its ports, in creation order."""
        with self.db.session() as s:
            ports = list(s.scalars(select(m.Port).where(m.Port.device_id == instance_uuid)
                                   .order_by(m.Port.created_at, m.Port.id)))
            if not ports:
                return []
            mtus = {n.id: n.mtu for n in s.scalars(select(m.Network).where(
                m.Network.id.in_({p.network_id for p in ports})))}
            allocs: dict[str, list[dict[str, str]]] = {}
            for a in s.scalars(select(m.IPAllocation).where(
                    m.IPAllocation.port_id.in_([p.id for p in ports]))):
                allocs.setdefault(a.port_id, []).append(
                    {"subnet_id": a.subnet_id, "ip_address": a.ip_address})
            subnets = {x.id: {"cidr": x.cidr, "ip_version": x.ip_version,
                              "gateway_ip": x.gateway_ip, "enable_dhcp": x.enable_dhcp,
                              "ipv6_address_mode": x.ipv6_address_mode,
                              "dns_nameservers": list(x.dns_nameservers or []),
                              "host_routes": list(x.host_routes or [])}
                       for x in s.scalars(select(m.Subnet).where(m.Subnet.id.in_(
                           {a["subnet_id"] for v in allocs.values() for a in v})))}
            # `subnets`: how each address is configured (network_data.json says it)
            return [{"id": p.id, "mac_address": p.mac_address, "network_id": p.network_id,
                     "mtu": mtus.get(p.network_id) or 1500,
                     "fixed_ips": allocs.get(p.id, []),
                     "subnets": {a["subnet_id"]: subnets[a["subnet_id"]]
                                 for a in allocs.get(p.id, []) if a["subnet_id"] in subnets}}
                    for p in ports]

    def release_for_instance(self, instance_uuid: str) -> None:
        """Ports compute made go away; ports the user passed in are unbound, as Nova
        leaves them."""
        ctx = RequestContext(internal=True, roles=["admin"])
        with self.db.transaction() as s:
            ports = list(s.scalars(select(m.Port).where(m.Port.device_id == instance_uuid)))
            gone = []
            for p in ports:
                if (p.binding_profile or {}).get("overcast_created"):
                    gone.append(p.id)
                else:
                    p.device_id, p.device_owner = "", ""
                    p.binding_host_id, p.binding_vif_type, p.status = "", "unbound", "DOWN"
                    p.revision_number += 1
        for pid in gone:
            self.delete_port(ctx, pid, internal=True)
        for p in ports:
            self._changed("port", p.id)

    def address_owner(self, network_id: str, address: str) -> str | None:
        """The instance (device_id of a compute port) holding `address` on the network:
        who a metadata request came from."""
        with self.db.session() as s:
            return s.scalar(select(m.Port.device_id).join(
                m.IPAllocation, m.IPAllocation.port_id == m.Port.id).where(
                m.Port.network_id == network_id, m.IPAllocation.ip_address == address,
                m.Port.device_owner.like("compute:%")).limit(1))

    def floating_of(self, fixed_address: str) -> str | None:
        with self.db.session() as s:
            return s.scalar(select(m.FloatingIP.floating_ip_address).where(
                m.FloatingIP.fixed_ip_address == fixed_address).limit(1))

    def instance_security_groups(self, instance_uuids: list[str]
                                 ) -> dict[str, list[dict[str, str]]]:
        """Nova's `security_groups` of each server: the names of its ports' groups."""
        out: dict[str, list[dict[str, str]]] = {}
        if not instance_uuids:
            return out
        with self.db.session() as s:
            rows = s.execute(
                select(m.Port.device_id, m.SecurityGroup.name)
                .join(m.PortSecurityGroup, m.PortSecurityGroup.port_id == m.Port.id)
                .join(m.SecurityGroup,
                      m.SecurityGroup.id == m.PortSecurityGroup.security_group_id)
                .where(m.Port.device_id.in_(instance_uuids))
                .order_by(m.Port.created_at, m.SecurityGroup.name))
            for device, name in rows:
                names = out.setdefault(device, [])
                if {"name": name} not in names:
                    names.append({"name": name})
        return out

    def addresses(self, instance_uuids: list[str]) -> dict[str, dict[str, Any]]:
        """Nova's `addresses` for each instance: fixed and floating, by network name."""
        out: dict[str, dict[str, Any]] = {u: {} for u in instance_uuids}
        if not instance_uuids:
            return out
        with self.db.session() as s:
            ports = list(s.scalars(select(m.Port).where(m.Port.device_id.in_(instance_uuids))
                                   .order_by(m.Port.created_at)))
            if not ports:
                return out
            ids = [p.id for p in ports]
            names = {n.id: n.name or n.id for n in s.scalars(select(m.Network).where(
                m.Network.id.in_({p.network_id for p in ports})))}
            allocs: dict[str, list[str]] = {}
            for a in s.scalars(select(m.IPAllocation).where(m.IPAllocation.port_id.in_(ids))):
                allocs.setdefault(a.port_id, []).append(a.ip_address)
            fips: dict[tuple[str, str], str] = {}
            for f in s.scalars(select(m.FloatingIP).where(m.FloatingIP.port_id.in_(ids))):
                if f.fixed_ip_address:
                    fips[(f.port_id or "", f.fixed_ip_address)] = f.floating_ip_address
            for p in ports:
                entries = out[p.device_id].setdefault(names.get(p.network_id, p.network_id), [])
                for ip in allocs.get(p.id, []):
                    version = ipaddress.ip_address(ip).version
                    entries.append({"version": version, "addr": ip,
                                    "OS-EXT-IPS:type": "fixed",
                                    "OS-EXT-IPS-MAC:mac_addr": p.mac_address})
                    if (p.id, ip) in fips:
                        entries.append({"version": 4, "addr": fips[(p.id, ip)],
                                        "OS-EXT-IPS:type": "floating",
                                        "OS-EXT-IPS-MAC:mac_addr": p.mac_address})
        return out

    # ---------------------------------------------------------------- dataplane
    def _dhcp_port(self, s: Session, net: m.Network, subnets: list[m.Subnet]) -> m.Port:
        """The network's DHCP port (made on demand, with an address on each DHCP
        subnet), as Neutron's DHCP agent has one."""
        port = s.scalar(select(m.Port).where(m.Port.network_id == net.id,
                                             m.Port.device_owner == "network:dhcp"))
        if port is None:
            port = m.Port(id=str(uuidlib.uuid4()), network_id=net.id,
                          project_id=net.project_id, mac_address=self._free_mac(s),
                          device_owner="network:dhcp", device_id=f"dhcp-{net.id}",
                          status="ACTIVE", port_security_enabled=False)
            s.add(port)
            s.flush()
        have = set(s.scalars(select(m.IPAllocation.subnet_id).where(
            m.IPAllocation.port_id == port.id)))
        for sub in subnets:
            if sub.id in have or not _serves_dhcp(sub):
                continue
            if sub.ip_version == 6 and sub.ipv6_address_mode == "dhcpv6-stateless":
                addr = ipam.eui64(ipaddress.ip_network(sub.cidr), port.mac_address)
                if s.get(m.IPAllocation, (sub.id, addr)) is None:
                    self._insert_ip(s, sub, addr, port)
            else:
                self._auto_ip(s, sub, port)
        return port

    def desired(self, host: str, network_host: bool, also: list[str] | None = None,
                tunnel_ip: str = "") -> dict[str, Any]:
        """Everything `host`'s dataplane should hold, as plain data for the bus (`also`:
        more agents' hosts served by the same dataplane, e.g. the container host next
        to the QEMU host on one machine). `tunnel_ip` is where this host's VXLAN
        tunnels end; each vxlan network the host holds gets a tunnel to every other
        host holding it (head-end replication: no multicast needed)."""
        hosts = {host, *(also or [])}
        if self._record_agents(hosts, host, network_host, tunnel_ip):
            self._changed("agent", host)  # the other hosts add their tunnels to it
        with self.db.transaction() as s:
            nets = {n.id: n for n in s.scalars(select(m.Network))}
            subnets: dict[str, list[m.Subnet]] = {}
            for sub in s.scalars(select(m.Subnet).order_by(m.Subnet.created_at)):
                subnets.setdefault(sub.network_id, []).append(sub)
            allocs: dict[str, list[dict[str, str]]] = {}
            for a in s.scalars(select(m.IPAllocation)):
                allocs.setdefault(a.port_id, []).append(
                    {"subnet_id": a.subnet_id, "ip_address": a.ip_address})
            ports = list(s.scalars(select(m.Port)))

            def sub_spec(x: m.Subnet) -> dict[str, Any]:
                return {"id": x.id, "cidr": x.cidr, "gateway_ip": x.gateway_ip,
                        "dns_nameservers": list(x.dns_nameservers or []),
                        "host_routes": list(x.host_routes or []),
                        "enable_dhcp": x.enable_dhcp, "ip_version": x.ip_version,
                        "ipv6_ra_mode": x.ipv6_ra_mode,
                        "ipv6_address_mode": x.ipv6_address_mode}

            out: dict[str, Any] = {"networks": {}, "dhcp": [], "routers": [],
                                   "upstreams": [], "ports": []}
            used_nets: set[str] = set()
            bound = [p for p in ports if p.binding_host_id in hosts and
                     p.device_owner.startswith("compute:")]
            for p in bound:
                used_nets.add(p.network_id)
            if network_host:
                for net in nets.values():
                    subs = subnets.get(net.id, [])
                    if any(_serves_dhcp(x) for x in subs):
                        dport = self._dhcp_port(s, net, subs)
                        s.flush()
                        dallocs = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                                   for a in s.scalars(select(m.IPAllocation).where(
                                       m.IPAllocation.port_id == dport.id))]
                        members = [{"id": p.id, "mac_address": p.mac_address,
                                    "fixed_ips": allocs.get(p.id, []),
                                    "hostname": _hostname(p)}
                                   for p in ports if p.network_id == net.id and
                                   not p.device_owner.startswith("network:")]
                        out["dhcp"].append({
                            "network_id": net.id, "mtu": net.mtu,
                            "port": {"id": dport.id, "mac_address": dport.mac_address,
                                     "fixed_ips": dallocs},
                            "subnets": [sub_spec(x) for x in subs], "ports": members})
                        used_nets.add(net.id)
                    if net.external and subs:
                        gw = next((x for x in subs if x.ip_version == 4 and x.gateway_ip),
                                  None)
                        if gw is not None:
                            plen = ipaddress.ip_network(gw.cidr).prefixlen
                            out["upstreams"].append({"network_id": net.id, "mtu": net.mtu,
                                                     "cidr": f"{gw.gateway_ip}/{plen}"})
                            used_nets.add(net.id)
                for r in s.scalars(select(m.Router)):
                    out["routers"].append(self._router_spec(s, r, nets, allocs))
                    for itf in out["routers"][-1]["interfaces"]:
                        used_nets.add(itf["net_id"])
                    if out["routers"][-1]["gateway"]:
                        used_nets.add(out["routers"][-1]["gateway"]["net_id"])
            for nid in used_nets:
                if nid in nets:
                    out["networks"][nid] = {"mtu": nets[nid].mtu,
                                            "type": nets[nid].network_type}
            out["ports"] = self._firewall_specs(s, bound, allocs)
            out["tunnels"] = self._tunnels(s, hosts, tunnel_ip, used_nets, nets, ports)
            return out

    def agent_hosts(self) -> list[str]:
        """Hosts whose agents run a dataplane (they asked for their desired state)."""
        with self.db.session() as s:
            return list(s.scalars(select(m.Agent.host).order_by(m.Agent.host)))

    def _record_agents(self, hosts: set[str], host: str, network_host: bool,
                       tunnel_ip: str) -> bool:
        """Remember where each host's tunnels end; True when that changed."""
        changed = False
        with self.db.transaction() as s:
            for h in sorted(hosts):
                row = s.get(m.Agent, h)
                nh = network_host and h == host
                if row is None:
                    s.add(m.Agent(host=h, tunnel_ip=tunnel_ip, network_host=nh))
                    changed = changed or bool(tunnel_ip)
                elif (row.tunnel_ip, row.network_host) != (tunnel_ip, nh):
                    row.tunnel_ip, row.network_host = tunnel_ip, nh
                    row.updated_at = utcnow()
                    changed = True
        return changed

    def _tunnels(self, s: Session, hosts: set[str], tunnel_ip: str, used_nets: set[str],
                 nets: dict[str, m.Network], ports: list[m.Port]) -> list[dict[str, Any]]:
        if not tunnel_ip:
            return []
        agents = {a.host: a for a in s.scalars(select(m.Agent))}
        network_hosts = {a.host for a in agents.values() if a.network_host}
        on_net: dict[str, set[str]] = {}
        for p in ports:
            if p.binding_host_id and p.device_owner.startswith("compute:"):
                on_net.setdefault(p.network_id, set()).add(p.binding_host_id)
        out = []
        for nid in sorted(used_nets):
            net = nets.get(nid)
            if net is None or net.network_type != "vxlan" or net.segmentation_id is None:
                continue
            peers = (on_net.get(nid, set()) | network_hosts) - hosts
            remotes = sorted({agents[h].tunnel_ip for h in peers if h in agents and
                              agents[h].tunnel_ip} - {tunnel_ip})
            out.append({"network_id": nid, "vni": net.segmentation_id, "mtu": net.mtu,
                        "remotes": remotes})
        return out

    def _router_spec(self, s: Session, r: m.Router, nets: dict[str, m.Network],
                     allocs: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
        interfaces = []
        for p in s.scalars(select(m.Port).where(
                m.Port.device_id == r.id, m.Port.device_owner == "network:router_interface")):
            cidrs, subs = [], []
            for a in allocs.get(p.id, []):
                sub = s.get(m.Subnet, a["subnet_id"])
                if sub is not None:
                    cidrs.append(f"{a['ip_address']}/{ipaddress.ip_network(sub.cidr).prefixlen}")
                    subs.append({"cidr": sub.cidr, "ip_version": sub.ip_version,
                                 "ipv6_ra_mode": sub.ipv6_ra_mode,
                                 "dns_nameservers": list(sub.dns_nameservers or [])})
            interfaces.append({"port_id": p.id, "mac": p.mac_address, "net_id": p.network_id,
                               "mtu": nets[p.network_id].mtu, "cidrs": cidrs,
                               "subnets": subs})
        gateway = None
        if r.gateway_port_id and r.gateway_network_id in nets:
            gp = s.get(m.Port, r.gateway_port_id)
            if gp is not None:
                cidrs, gw_ip = [], None
                for a in allocs.get(gp.id, []):
                    sub = s.get(m.Subnet, a["subnet_id"])
                    if sub is not None and sub.ip_version == 4:
                        cidrs.append(f"{a['ip_address']}/"
                                     f"{ipaddress.ip_network(sub.cidr).prefixlen}")
                        gw_ip = gw_ip or sub.gateway_ip
                gateway = {"port_id": gp.id, "mac": gp.mac_address,
                           "net_id": r.gateway_network_id,
                           "mtu": nets[r.gateway_network_id].mtu, "cidrs": cidrs,
                           "gateway_ip": gw_ip}
        fips = [{"floating_ip": f.floating_ip_address, "fixed_ip": f.fixed_ip_address}
                for f in s.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id == r.id))
                if f.fixed_ip_address]
        return {"id": r.id, "interfaces": interfaces, "gateway": gateway,
                "snat": r.enable_snat, "floating_ips": fips, "routes": list(r.routes or [])}

    def _firewall_specs(self, s: Session, ports: list[m.Port],
                        allocs: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
        out = []
        members: dict[str, list[str]] = {}
        for ps in s.scalars(select(m.PortSecurityGroup)):
            for a in allocs.get(ps.port_id, []):
                members.setdefault(ps.security_group_id, []).append(a["ip_address"])
        for p in ports:
            groups = list(s.scalars(select(m.PortSecurityGroup.security_group_id).where(
                m.PortSecurityGroup.port_id == p.id)))
            rules = []
            for r in s.scalars(select(m.SecurityGroupRule).where(
                    m.SecurityGroupRule.security_group_id.in_(groups))):
                remote: list[str] | None = None
                if r.remote_group_id:
                    remote = [f"{ip}/{32 if ':' not in ip else 128}"
                              for ip in members.get(r.remote_group_id, [])]
                elif r.remote_ip_prefix:
                    remote = [r.remote_ip_prefix]
                rules.append({"direction": r.direction, "ethertype": r.ethertype,
                              "protocol": r.protocol, "port_range_min": r.port_range_min,
                              "port_range_max": r.port_range_max, "remote_ips": remote})
            out.append({"port_id": p.id, "network_id": p.network_id, "mac": p.mac_address,
                        "ips": [a["ip_address"] for a in allocs.get(p.id, [])],
                        "pairs": list(p.allowed_address_pairs or []),
                        "port_security": p.port_security_enabled, "rules": rules,
                        # tap for QEMU guests, veth for containers: the driver that
                        # binds the port says which (binding:profile overcast_kind)
                        "kind": (p.binding_profile or {}).get("overcast_kind") or
                        (p.binding_vif_details or {}).get("kind", "tap")})
        return out


# ---------------------------------------------------------------- helpers
def _str(body: dict[str, Any], key: str) -> str:
    v = body.get(key)
    if v is None:
        return ""
    if not isinstance(v, str) or len(v) > 255:
        raise BadRequest(f"Invalid input for {key}. Reason: '{v}' is not a valid string "
                         "(at most 255 characters).", type="HTTPBadRequest")
    return v


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    v = body.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
        return v.lower() in ("true", "1")
    raise BadRequest(f"Invalid input for {key}. Reason: '{v}' is not a valid boolean value.",
                     type="HTTPBadRequest")


def _pairs(raw: Any) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("Invalid input for allowed_address_pairs: it must be a list.",
                         type="HTTPBadRequest")
    out = []
    for p in raw:
        if not isinstance(p, dict) or "ip_address" not in p:
            raise BadRequest("Invalid input for allowed_address_pairs: each pair needs an "
                             "ip_address.", type="AllowedAddressPairsMissingIP")
        ip = p["ip_address"]
        net = ipam.parse_cidr(ip) if "/" in str(ip) else ipam.parse_ip(ip, "ip_address")
        pair = {"ip_address": str(net)}
        if p.get("mac_address"):
            pair["mac_address"] = str(p["mac_address"]).lower()
        out.append(pair)
    return out


def _serves_dhcp(sub: m.Subnet) -> bool:
    """The network's DHCP server (dnsmasq) serves this subnet: DHCPv4, or DHCPv6
    for its addresses (stateful) or options (stateless). SLAAC subnets get their
    addresses from the router's advertisements."""
    if not sub.enable_dhcp:
        return False
    return sub.ip_version == 4 or sub.ipv6_address_mode in ("dhcpv6-stateful",
                                                             "dhcpv6-stateless")


def _hostname(port: m.Port) -> str:
    if port.dns_name:
        return port.dns_name
    return ""
