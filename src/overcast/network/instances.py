"""What compute (and its metadata service) asks of the network: the hooks.

Checking a server create's `networks` and security groups before anything is made
(`resolve_requested`), making and binding an instance's ports on its host and
releasing them (`allocate_for_instance`, `release_for_instance`), what a driver
plugs (`ports_for_instance`), Nova's `addresses` and `security_groups` of servers,
add/removeSecurityGroup, and who holds an address (for metadata requests). Each
runs as the network service itself (an internal admin context) once compute has
checked the caller.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select

from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound
from overcast.network import errors, ipam, policy
from overcast.network import models as m
from overcast.network.common import Store
from overcast.network.ports import Ports
from overcast.network.security_groups import SecurityGroups


def _internal(project_id: str | None = None) -> RequestContext:
    return RequestContext(project_id=project_id, internal=True, roles=["admin"])


class Instances:
    def __init__(self, store: Store, ports: Ports, groups: SecurityGroups) -> None:
        self.store = store
        self.ports = ports
        self.groups = groups

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
        internal = _internal(ctx.project_id)
        with self.store.db.session() as s:
            ports = list(s.scalars(select(m.Port).where(m.Port.device_id == instance_uuid)
                                   .order_by(m.Port.created_at)))
            ports = [p for p in ports if p.port_security_enabled]
            if not ports:
                raise errors.no_port_security_for_groups()
            current = {p.id: [g for (g,) in s.execute(
                select(m.PortSecurityGroup.security_group_id)
                .where(m.PortSecurityGroup.port_id == p.id))] for p in ports}
        if not add and not any(group in gs for gs in current.values()):
            raise errors.group_not_on_server(name, instance_uuid)
        for pid, groups in current.items():
            if add and group not in groups:
                self.ports.update(internal, pid, {"security_groups": [*groups, group]})
            elif not add and group in groups:
                self.ports.update(internal, pid, {"security_groups":
                                                  [g for g in groups if g != group]})

    def _resolve_groups(self, ctx: RequestContext, names: list[str], *,
                        not_found: type[Exception] = BadRequest,
                        ambiguous: type[Exception] = BadRequest) -> list[str]:
        """The ids of the project's groups named (by name or id): a 400 for a server
        create, a 404/409 for a server action, as Nova answers each."""
        with self.store.db.transaction() as s:
            if "default" in names:
                self.groups.ensure_default(s, ctx.project_id or "")
            ids = []
            for name in names:
                found = list(s.scalars(select(m.SecurityGroup).where(
                    m.SecurityGroup.project_id == ctx.project_id,
                    (m.SecurityGroup.id == name) | (m.SecurityGroup.name == name))))
                by_id = [g for g in found if g.id == name]
                if by_id:
                    found = by_id
                if not found:
                    raise not_found(errors.group_name_not_found(name, ctx.project_id))
                if len(found) > 1:
                    raise ambiguous(errors.group_name_ambiguous(name))
                if found[0].id not in ids:
                    ids.append(found[0].id)
            return ids

    def _resolve_networks(self, ctx: RequestContext, networks: Any, count: int
                          ) -> list[dict[str, Any]]:
        with self.store.db.session() as s:
            if networks == "auto":
                nets = list(s.scalars(select(m.Network).where(
                    policy.visible_networks(ctx), m.Network.external.is_(False))
                    .order_by(m.Network.created_at)))
                own = [n for n in nets if n.project_id == ctx.project_id] or \
                    [n for n in nets if n.shared]
                return [{"uuid": own[0].id}] if own else []
            out = []
            for item in networks:
                if not isinstance(item, dict):
                    raise errors.bad_networks_format()
                port_id, net_id = item.get("port"), item.get("uuid")
                fixed = item.get("fixed_ip")
                if port_id:
                    port = s.scalar(select(m.Port).where(m.Port.id == port_id,
                                                         policy.visible_ports(ctx)))
                    if port is None:
                        raise errors.requested_port_not_found(port_id)
                    if not ctx.is_admin and port.project_id != ctx.project_id:
                        raise errors.port_not_usable(port_id)
                    if port.device_id:
                        raise errors.port_in_use(port_id)
                    if count > 1:
                        raise errors.port_for_many_instances()
                    out.append({"port": port_id})
                    continue
                if not isinstance(net_id, str):
                    raise errors.bad_networks_format(
                        f": network uuid is not in proper format ({net_id})")
                net = s.scalar(select(m.Network).where(m.Network.id == net_id,
                                                       policy.visible_networks(ctx)))
                if net is None or not policy.may_boot_on(ctx, net):
                    raise errors.requested_network_not_found(net_id)
                if not s.scalar(select(m.Subnet.id).where(m.Subnet.network_id == net_id)
                                .limit(1)):
                    raise errors.network_needs_subnet(net_id)
                if fixed is not None:
                    ipam.parse_ip(fixed, "fixed_ip")
                    if count > 1:
                        raise errors.fixed_ip_for_many_instances()
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
        ctx = _internal(project_id)
        made: list[str] = []
        with self.store.db.session() as s:
            existing = list(s.scalars(select(m.Port).where(m.Port.device_id == instance_uuid)
                                      .order_by(m.Port.created_at)))
        if existing:
            ids = [p.id for p in existing]
        else:
            ids = []
            try:
                for item in requested:
                    if "port" in item:
                        self.ports.update(ctx, item["port"], {"device_id": instance_uuid,
                                                              "device_owner": "compute:nova"})
                        ids.append(item["port"])
                        continue
                    port = self.ports.create(ctx, _new_port(item, project_id,
                                                            instance_uuid))
                    made.append(port["id"])
                    ids.append(port["id"])
            except Exception:
                for pid in made:
                    self.ports.delete(ctx, pid, internal=True)
                raise
        self._bind(ids, host, vif_kind)
        for pid in ids:
            self.store.changed("port", pid)
        return self.ports_for_instance(instance_uuid)

    def attach_port(self, instance_uuid: str, project_id: str, item: dict[str, Any],
                    host: str, vif_kind: str = "tap") -> dict[str, Any]:
        """One more port for a running instance (Nova's interface attach): the user's
        port (`{"port"}`) taken over, or one made on a network (`{"uuid"}`, with a
        `fixed_ip` when asked), bound to `host`. Returns what the driver plugs."""
        ctx = _internal(project_id)
        if "port" in item:
            self.ports.update(ctx, item["port"], {"device_id": instance_uuid,
                                                  "device_owner": "compute:nova"})
            pid = str(item["port"])
        else:
            pid = str(self.ports.create(ctx, _new_port(item, project_id,
                                                       instance_uuid))["id"])
        self._bind([pid], host, vif_kind)
        self.store.changed("port", pid)
        return next(p for p in self.ports_for_instance(instance_uuid) if p["id"] == pid)

    def detach_port(self, instance_uuid: str, port_id: str) -> None:
        """Give back one port of the instance (interface detach): deleted when compute
        made it, unbound when it was the user's, as release_for_instance does."""
        with self.store.db.transaction() as s:
            port = s.scalar(select(m.Port).where(m.Port.id == port_id,
                                                 m.Port.device_id == instance_uuid))
            if port is None:
                return
            made = bool((port.binding_profile or {}).get("overcast_created"))
            if not made:
                port.device_id, port.device_owner = "", ""
                port.binding_host_id, port.binding_vif_type = "", "unbound"
                port.status = "DOWN"
                port.revision_number += 1
        if made:
            self.ports.delete(_internal(), port_id, internal=True)
        self.store.changed("port", port_id)

    def bind_for_instance(self, instance_uuid: str, host: str) -> None:
        """The instance moved (a live or cold migration): its ports are bound to
        `host` now, with the same kind of device, and every dataplane hears it (the
        tunnels and firewalls follow the binding)."""
        with self.store.db.session() as s:
            ports = list(s.scalars(select(m.Port).where(m.Port.device_id == instance_uuid)))
            kinds = {p.id: str((p.binding_profile or {}).get("overcast_kind") or "tap")
                     for p in ports}
        for kind in set(kinds.values()):
            self._bind([pid for pid, k in kinds.items() if k == kind], host, kind)
        for pid in kinds:
            self.store.changed("port", pid)

    def _bind(self, port_ids: list[str], host: str, vif_kind: str) -> None:
        """Bind the ports to the host with the driver's kind of device (tap for QEMU,
        veth for containers); a port already so bound is left alone."""
        with self.store.db.transaction() as s:
            for pid in port_ids:
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

    def ports_for_instance(self, instance_uuid: str) -> list[dict[str, Any]]:
        """What a driver plugs for an instance: its ports, in creation order."""
        with self.store.db.session() as s:
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
                     "mtu": mtus.get(p.network_id) or 1500, "status": p.status,
                     "fixed_ips": allocs.get(p.id, []),
                     "subnets": {a["subnet_id"]: subnets[a["subnet_id"]]
                                 for a in allocs.get(p.id, []) if a["subnet_id"] in subnets}}
                    for p in ports]

    def release_for_instance(self, instance_uuid: str) -> None:
        """Ports compute made go away; ports the user passed in are unbound, as Nova
        leaves them."""
        ctx = _internal()
        with self.store.db.transaction() as s:
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
            self.ports.delete(ctx, pid, internal=True)
        for p in ports:
            self.store.changed("port", p.id)

    def compute_devices(self) -> set[str]:
        """The instances that compute ports are bound to (device_owner `compute:*`):
        what an audit checks against the servers that still exist."""
        with self.store.db.session() as s:
            return set(s.scalars(select(m.Port.device_id).where(
                m.Port.device_owner.like("compute:%"), m.Port.device_id != "")))

    def address_owner(self, network_id: str, address: str) -> str | None:
        """The instance (device_id of a compute port) holding `address` on the network:
        who a metadata request came from."""
        with self.store.db.session() as s:
            return s.scalar(select(m.Port.device_id).join(
                m.IPAllocation, m.IPAllocation.port_id == m.Port.id).where(
                m.Port.network_id == network_id, m.IPAllocation.ip_address == address,
                m.Port.device_owner.like("compute:%")).limit(1))

    def floating_of(self, fixed_address: str) -> str | None:
        """The floating IP that maps to a fixed address (metadata's public-ipv4)."""
        with self.store.db.session() as s:
            return s.scalar(select(m.FloatingIP.floating_ip_address).where(
                m.FloatingIP.fixed_ip_address == fixed_address).limit(1))

    def instance_security_groups(self, instance_uuids: list[str]
                                 ) -> dict[str, list[dict[str, str]]]:
        """Nova's `security_groups` of each server: the names of its ports' groups."""
        out: dict[str, list[dict[str, str]]] = {}
        if not instance_uuids:
            return out
        with self.store.db.session() as s:
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
        with self.store.db.session() as s:
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


def _new_port(item: dict[str, Any], project_id: str, instance_uuid: str) -> dict[str, Any]:
    """The port compute asks for on a network (`{"uuid"}`, with a `fixed_ip` and
    security groups when given), marked as made by overcast so it goes with the
    instance: at boot and at interface attach alike."""
    body: dict[str, Any] = {
        "network_id": item["uuid"], "project_id": project_id,
        "device_id": instance_uuid, "device_owner": "compute:nova",
        "binding:profile": {"overcast_created": True}}
    if item.get("fixed_ip"):
        body["fixed_ips"] = [{"ip_address": item["fixed_ip"]}]
    if item.get("security_groups"):
        body["security_groups"] = list(item["security_groups"])
    return body
