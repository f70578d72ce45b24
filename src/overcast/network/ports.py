"""Ports: a MAC and fixed IPs on a network, a binding to a host, security groups
and allowed address pairs. Ports owned by the network itself (a router's
interface or gateway, a floating IP's, DHCP's) are made by those resources and
cannot be deleted through the port API."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.network import allocation, errors, policy, views
from overcast.network import models as m
from overcast.network.common import (
    COMMON_FILTERS,
    Store,
    address_pairs,
    bump,
    flag,
    new_id,
    owner_project,
    text,
)
from overcast.network.networks import Networks
from overcast.network.quotas import Quotas
from overcast.network.security_groups import SecurityGroups

#: owners whose ports only their resource deletes
SERVICE_OWNERS = ("network:router_interface", "network:router_gateway", "network:floatingip")
HEX = "0123456789abcdefABCDEF"


def _mac(raw: Any) -> str | None:
    """A requested MAC, checked (unicast, six hex pairs) and lower-cased."""
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw.split(":")) != 6 or not all(
            len(x) == 2 and all(c in HEX for c in x) for x in raw.split(":")):
        raise errors.mac_invalid(raw)
    if int(raw.split(":")[0], 16) & 1:
        raise errors.mac_multicast(raw)
    return raw.lower()


def new_service_port(s: Session, network_id: str, *, owner: str, device_id: str,
                     project_id: str = "", status: str = "ACTIVE") -> m.Port:
    """A port the network makes for itself (router interface or gateway, floating
    IP, DHCP): no port security, a fresh MAC, no addresses yet."""
    port = m.Port(id=new_id(), network_id=network_id, project_id=project_id,
                  mac_address=allocation.free_mac(s), device_owner=owner,
                  device_id=device_id, status=status, port_security_enabled=False)
    s.add(port)
    s.flush()
    return port


class Ports:
    model: ClassVar[Any] = m.Port
    filters: ClassVar[dict[str, str]] = {
        **COMMON_FILTERS, "network_id": "network_id", "mac_address": "mac_address",
        "admin_state_up": "admin_state_up", "status": "status",
        "device_owner": "device_owner", "device_id": "device_id",
        "binding:host_id": "binding_host_id",
        "port_security_enabled": "port_security_enabled"}

    def __init__(self, store: Store, quotas: Quotas, networks: Networks,
                 groups: SecurityGroups) -> None:
        self.store = store
        self.quotas = quotas
        self.networks = networks
        self.groups = groups

    def query(self, ctx: RequestContext) -> Select[Any]:
        return select(m.Port).where(policy.visible_ports(ctx))

    def get(self, s: Session, ctx: RequestContext, port_id: str) -> m.Port:
        port = s.scalar(select(m.Port).where(m.Port.id == port_id, policy.visible_ports(ctx)))
        if port is None:
            raise errors.not_found("Port", port_id)
        return port

    def views(self, s: Session, ports: list[m.Port],
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
        return [views.port(p, ips[p.id], sgs[p.id]) for p in ports]

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        """A port with its MAC, fixed IPs (asked for, or one per IP version) and
        security groups (the project's default unless security is off or the network
        owns the port), all in one transaction."""
        net_id = body.get("network_id")
        if not isinstance(net_id, str):
            raise errors.required_attribute("network_id")
        fixed = body.get("fixed_ips")
        if fixed is not None and not isinstance(fixed, list):
            raise errors.invalid_field("fixed_ips", ". Reason: it must be a list.")
        mac = _mac(body.get("mac_address"))
        pairs = address_pairs(body.get("allowed_address_pairs"))
        with self.store.db.transaction() as s:
            net = self.networks.get(s, ctx, net_id)
            policy.check_owner_project(ctx, body, "port")
            project = owner_project(ctx, body)
            owner = text(body, "device_owner")
            policy.check_port_on(ctx, net, owner)
            policy.check_port_attrs(ctx, net, body, "create_port")
            self.quotas.check(s, project, "port")
            if mac is not None and s.scalar(select(m.Port.id).where(
                    m.Port.mac_address == mac)):
                raise errors.mac_in_use(net_id, mac)
            security = flag(body, "port_security_enabled", net.port_security_enabled)
            port = m.Port(
                id=new_id(), network_id=net_id, name=text(body, "name"),
                description=text(body, "description"), project_id=project,
                mac_address=mac or allocation.free_mac(s),
                admin_state_up=flag(body, "admin_state_up", True), device_owner=owner,
                device_id=text(body, "device_id"),
                binding_host_id=text(body, "binding:host_id"),
                binding_vnic_type=body.get("binding:vnic_type") or "normal",
                binding_profile=body.get("binding:profile") or {},
                port_security_enabled=security, allowed_address_pairs=pairs,
                dns_name=text(body, "dns_name"),
                extra_dhcp_opts=dhcp_options([], body.get("extra_dhcp_opts")) or None)
            if port.binding_host_id:
                port.binding_vif_type = "tap"
            s.add(port)
            s.flush()
            port._written_ips = []  # type: ignore[attr-defined]  # filled by allocation
            allocation.allocate(s, port, net, fixed)
            groups = body.get("security_groups")
            if groups is None:
                groups = [] if (not security or owner.startswith("network:")) else \
                    [self.groups.ensure_default(s, project).id]
            found = self.set_groups(s, ctx, port, groups, security, new=True)
            s.flush()
            written = list(getattr(port, "_written_ips", []))
            out = self.views(s, [port], ({port.id: written}, {port.id: found}))[0]
        self.store.changed("port", out["id"])
        return out

    def set_groups(self, s: Session, ctx: RequestContext, port: m.Port, groups: Any,
                   security: bool, *, new: bool = False) -> list[str]:
        """Give the port exactly these security groups (each its project's)."""
        if not isinstance(groups, list):
            raise errors.invalid_field("security_groups", ": it must be a list.")
        if groups and not security:
            raise errors.groups_need_port_security(
                "PortSecurityAndIPRequiredForSecurityGroups")
        found = []
        for gid in dict.fromkeys(groups):
            if not policy.may_use_group(ctx, s.get(m.SecurityGroup, gid), port.project_id):
                raise errors.group_not_found(gid)
            found.append(gid)
        if not new:
            s.execute(delete(m.PortSecurityGroup).where(
                m.PortSecurityGroup.port_id == port.id))
        for gid in found:
            s.add(m.PortSecurityGroup(port_id=port.id, security_group_id=gid))
        return found

    def update(self, ctx: RequestContext, port_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        for key in ("network_id", "id"):
            if key in body:
                raise errors.read_only(key)
        with self.store.db.transaction() as s:
            port = self.get(s, ctx, port_id)
            policy.must_own(ctx, port.project_id, "port")
            net = s.get(m.Network, port.network_id)
            assert net is not None
            policy.check_port_attrs(ctx, net, body, "update_port")
            bump(port, if_match)
            for key in ("name", "description", "device_owner", "device_id", "dns_name"):
                if key in body:
                    setattr(port, key, text(body, key))
            if "admin_state_up" in body:
                port.admin_state_up = flag(body, "admin_state_up", True)
            if "binding:host_id" in body:
                port.binding_host_id = text(body, "binding:host_id")
                port.binding_vif_type = "tap" if port.binding_host_id else "unbound"
            if "binding:profile" in body:
                port.binding_profile = body["binding:profile"] or {}
            if "allowed_address_pairs" in body:
                port.allowed_address_pairs = address_pairs(body["allowed_address_pairs"])
            if "extra_dhcp_opts" in body:
                port.extra_dhcp_opts = dhcp_options(port.extra_dhcp_opts or [],
                                                    body["extra_dhcp_opts"]) or None
            if "mac_address" in body and body["mac_address"] != port.mac_address:
                mac = _mac(body["mac_address"])
                if not policy.may_change_mac(ctx, port):
                    raise errors.port_bound(port_id, port.mac_address, body["mac_address"])
                if mac is None:
                    raise errors.mac_invalid(None)
                if mac != port.mac_address and s.scalar(select(m.Port.id).where(
                        m.Port.mac_address == mac, m.Port.id != port.id)):
                    raise errors.mac_in_use(port.network_id, mac)
                port.mac_address = mac
            if "fixed_ips" in body:
                net = s.get(m.Network, port.network_id)
                assert net is not None
                s.execute(delete(m.IPAllocation).where(m.IPAllocation.port_id == port.id))
                s.flush()
                allocation.allocate(s, port, net, body["fixed_ips"] or [])
            self._update_security(s, ctx, port, body)
            s.flush()
            out = self.views(s, [port])[0]
        self.store.changed("port", port_id)
        return out

    def _update_security(self, s: Session, ctx: RequestContext, port: m.Port,
                         body: dict[str, Any]) -> None:
        """port_security_enabled and security_groups together: security goes off only
        with no groups and no address pairs left on the port."""
        security = port.port_security_enabled
        if "port_security_enabled" in body:
            security = flag(body, "port_security_enabled", True)
        groups = body.get("security_groups")
        if groups is None and "port_security_enabled" in body and not security:
            has = s.scalar(select(func.count()).select_from(m.PortSecurityGroup).where(
                m.PortSecurityGroup.port_id == port.id)) or 0
            if has and "security_groups" not in body:
                raise errors.groups_need_port_security("PortSecurityPortHasSecurityGroup")
        if security != port.port_security_enabled and not security and \
                port.allowed_address_pairs and "allowed_address_pairs" not in body:
            raise errors.pairs_need_port_security()
        port.port_security_enabled = security
        if "security_groups" in body:
            self.set_groups(s, ctx, port, body["security_groups"] or [], security)

    def delete(self, ctx: RequestContext, port_id: str, *, internal: bool = False) -> None:
        """`internal`: the network's own resources (routers, floating IPs, compute's
        ports) may delete the ports they own."""
        with self.store.db.transaction() as s:
            port = self.get(s, ctx, port_id)
            policy.must_own(ctx, port.project_id, "port")
            if not internal and port.device_owner in SERVICE_OWNERS:
                raise errors.service_port(port_id, port.device_owner)
            for fip in s.scalars(select(m.FloatingIP).where(m.FloatingIP.port_id == port_id)):
                fip.port_id, fip.fixed_ip_address, fip.router_id = None, None, None
                fip.status = "DOWN"
            s.delete(port)
        self.store.changed("port", port_id)


def dhcp_options(current: list[dict[str, Any]], requested: Any) -> list[dict[str, Any]]:
    """A port's extra DHCP options after a create or update asking for `requested`.

    As Neutron's extra_dhcp_opt: an option is keyed by its name and IP version (4
    unless given); one asked for again replaces the value, one asked for with no
    value (null or "") is removed, the others are kept."""
    if requested is None:
        return list(current)
    if not isinstance(requested, list):
        raise errors.invalid_field("extra_dhcp_opts", ".")
    opts = {(o["opt_name"], o["ip_version"]): o for o in current}
    for raw in requested:
        name = raw.get("opt_name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise errors.invalid_field("extra_dhcp_opts",
                                       ". Reason: an option needs a non-empty opt_name.")
        version = raw.get("ip_version") or 4
        value = raw.get("opt_value")
        if value is None or value == "":
            opts.pop((name, version), None)
            continue
        opts[(name, version)] = {"opt_name": name, "opt_value": value, "ip_version": version}
    return list(opts.values())
