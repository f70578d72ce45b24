"""Nova's deprecated network proxies, as Nova answers them up to 2.35: security groups
and their rules (`os-security-groups`, `os-security-group-rules`), floating IPs and
their pools (`os-floating-ips`, `os-floating-ip-pools`, and the server actions
`addFloatingIp`/`removeFloatingIp` up to 2.43), and networks (`os-networks`,
`os-tenant-networks`).

Nova keeps no network state of its own here: every call is the network service's,
made as the caller (`NetworkPort.list_resources` and its siblings), so Neutron's
visibility and quota rules hold. This module is the translation, both ways: Nova's
request bodies into Neutron's, Neutron's rows into Nova's older shapes, and
Neutron's refusals into the codes Nova gives for them (a conflict, such as a group in
use or a duplicate rule, is Nova's 400). No HTTP here; the routes are
`compute.routes.network_proxies`.
"""

from __future__ import annotations

import ipaddress
import uuid as uuidlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from overcast.compute.ports import NetworkPort
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound

#: Nova's proxies take these protocols only (nova's security group API).
RULE_PROTOCOLS = ("tcp", "udp", "icmp")


def _is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True


@contextmanager
def conflicts_are_bad_requests() -> Iterator[None]:
    """Nova answers Neutron's 409s (a group in use, the default group, a duplicate
    rule, a port that already has a floating IP) with 400."""
    try:
        yield
    except Conflict as exc:
        raise BadRequest(exc.message)


class NetworkProxies:
    """The proxies over one network service."""

    def __init__(self, network: NetworkPort) -> None:
        self.network = network

    # ------------------------------------------------------------ security groups
    def _group(self, ctx: RequestContext, sg_id: str) -> dict[str, Any]:
        if not _is_uuid(sg_id):
            raise NotFound(f"Security group {sg_id} not found.")
        try:
            return self.network.show_resource(ctx, "security_group", sg_id)
        except NotFound:
            raise NotFound(f"Security group {sg_id} not found.")

    def _group_names(self, ctx: RequestContext, rules: list[dict[str, Any]]
                     ) -> dict[str, dict[str, str]]:
        """{group id: {name, tenant_id}} of the groups the rules name as remote."""
        wanted = sorted({r["remote_group_id"] for r in rules if r.get("remote_group_id")})
        if not wanted:
            return {}
        found = self.network.list_resources(ctx, "security_group",
                                            [("id", i) for i in wanted])
        return {g["id"]: {"name": g["name"], "tenant_id": g["project_id"]} for g in found}

    def rule_view(self, rule: dict[str, Any], groups: dict[str, dict[str, str]]
                  ) -> dict[str, Any]:
        """Nova's rule: ingress only, a remote group by name and owner, else a CIDR
        (the whole address family when Neutron has none)."""
        out: dict[str, Any] = {"id": rule["id"], "parent_group_id": rule["security_group_id"],
                               "ip_protocol": rule.get("protocol"),
                               "from_port": rule.get("port_range_min"),
                               "to_port": rule.get("port_range_max"),
                               "group": {}, "ip_range": {}}
        if rule.get("protocol") == "icmp":
            out["from_port"] = -1 if out["from_port"] is None else out["from_port"]
            out["to_port"] = -1 if out["to_port"] is None else out["to_port"]
        remote = rule.get("remote_group_id")
        if remote:
            out["group"] = dict(groups.get(remote, {}))
        else:
            everything = "0.0.0.0/0" if rule.get("ethertype", "IPv4") == "IPv4" else "::/0"
            out["ip_range"] = {"cidr": rule.get("remote_ip_prefix") or everything}
        return out

    def group_views(self, ctx: RequestContext, groups: list[dict[str, Any]]
                    ) -> list[dict[str, Any]]:
        ingress = [r for g in groups for r in g.get("security_group_rules") or []
                   if r.get("direction") == "ingress"]
        names = self._group_names(ctx, ingress)
        return [{"id": g["id"], "name": g["name"], "description": g.get("description") or "",
                 "tenant_id": g["project_id"],
                 "rules": [self.rule_view(r, names) for r in g.get("security_group_rules") or []
                           if r.get("direction") == "ingress"]}
                for g in groups]

    def list_groups(self, ctx: RequestContext, all_tenants: bool = False
                    ) -> list[dict[str, Any]]:
        filters = [] if all_tenants and ctx.is_admin else [("project_id", ctx.project_id or "")]
        return self.group_views(ctx, self.network.list_resources(ctx, "security_group",
                                                                 filters))

    def show_group(self, ctx: RequestContext, sg_id: str) -> dict[str, Any]:
        return self.group_views(ctx, [self._group(ctx, sg_id)])[0]

    def create_group(self, ctx: RequestContext, name: str, description: str
                     ) -> dict[str, Any]:
        with conflicts_are_bad_requests():
            made = self.network.create_resource(ctx, "security_group", {
                "name": name, "description": description})
        return self.group_views(ctx, [made])[0]

    def update_group(self, ctx: RequestContext, sg_id: str, changes: dict[str, str]
                     ) -> dict[str, Any]:
        self._group(ctx, sg_id)
        with conflicts_are_bad_requests():
            made = self.network.update_resource(ctx, "security_group", sg_id, changes)
        return self.group_views(ctx, [made])[0]

    def delete_group(self, ctx: RequestContext, sg_id: str) -> None:
        self._group(ctx, sg_id)
        with conflicts_are_bad_requests():
            self.network.delete_resource(ctx, "security_group", sg_id)

    def server_groups(self, ctx: RequestContext, server_id: str) -> list[dict[str, Any]]:
        """The groups of a server's ports, each once, in the order first seen."""
        seen: list[str] = []
        for port in self.network.list_resources(ctx, "port", [("device_id", server_id)]):
            seen += [g for g in port.get("security_groups") or [] if g not in seen]
        if not seen:
            return []
        return self.group_views(ctx, self.network.list_resources(
            ctx, "security_group", [("id", g) for g in seen]))

    # ------------------------------------------------------------------ rules
    def create_rule(self, ctx: RequestContext, rule: dict[str, Any]) -> dict[str, Any]:
        """Nova's checks of a rule (its protocol names, port ranges, one remote), then
        Neutron's own (a duplicate is Nova's 400)."""
        parent = str(rule["parent_group_id"])
        if not _is_uuid(parent):
            raise BadRequest(f"Invalid security group id {parent}: it must be a UUID.")
        self._group(ctx, parent)
        body: dict[str, Any] = {"security_group_id": parent, "direction": "ingress"}
        body.update(_protocol_and_ports(rule))
        if rule.get("group_id"):
            self._group(ctx, str(rule["group_id"]))
            body.update(ethertype="IPv4", remote_group_id=str(rule["group_id"]))
        else:
            cidr = _cidr(rule.get("cidr") or "0.0.0.0/0")
            body.update(ethertype="IPv4" if cidr.version == 4 else "IPv6",
                        remote_ip_prefix=str(rule.get("cidr") or cidr))
        with conflicts_are_bad_requests():
            made = self.network.create_resource(ctx, "security_group_rule", body)
        return self.rule_view(made, self._group_names(ctx, [made]))

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> None:
        try:
            if not _is_uuid(rule_id):
                raise NotFound(rule_id)
            self.network.delete_resource(ctx, "security_group_rule", rule_id)
        except NotFound:
            raise NotFound(f"Security group rule {rule_id} could not be found.")

    # ------------------------------------------------------------- floating IPs
    def _pools(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return self.network.list_resources(ctx, "network", [("router:external", "true")])

    def pools(self, ctx: RequestContext) -> list[dict[str, str]]:
        return [{"name": n["name"]} for n in self._pools(ctx)]

    def fip_views(self, ctx: RequestContext, fips: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
        """Nova's floating IP: its pool by name, the instance its port belongs to."""
        pools = {n["id"]: n["name"] for n in self._pools(ctx)}
        port_ids = sorted({f["port_id"] for f in fips if f.get("port_id")})
        devices: dict[str, str | None] = {}
        if port_ids:
            devices = {p["id"]: p.get("device_id") or None for p in self.network.list_resources(
                ctx, "port", [("id", i) for i in port_ids])}
        return [{"id": f["id"], "ip": f["floating_ip_address"],
                 "pool": pools.get(f["floating_network_id"]),
                 "fixed_ip": f.get("fixed_ip_address"),
                 "instance_id": devices.get(f.get("port_id") or "")}
                for f in fips]

    def list_fips(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return self.fip_views(ctx, self.network.list_resources(
            ctx, "floatingip", [("project_id", ctx.project_id or "")]))

    def _fip(self, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
        try:
            if not _is_uuid(fip_id):
                raise NotFound(fip_id)
            return self.network.show_resource(ctx, "floatingip", fip_id)
        except NotFound:
            raise NotFound(f"Floating IP {fip_id} could not be found.")

    def show_fip(self, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
        return self.fip_views(ctx, [self._fip(ctx, fip_id)])[0]

    def allocate_fip(self, ctx: RequestContext, pool: str | None) -> dict[str, Any]:
        """A floating IP from the pool named (by name or id), or from the only one."""
        pools = self._pools(ctx)
        chosen = [n for n in pools if pool in (n["id"], n["name"])] if pool else pools[:1]
        if not chosen:
            raise NotFound(f"Floating IP pool not found: {pool}.")
        try:
            made = self.network.create_resource(ctx, "floatingip", {
                "floating_network_id": chosen[0]["id"]})
        except Conflict as exc:
            # Neutron's quota refusal, or a pool with no address left
            raise Forbidden(f"Maximum number of floating IPs exceeded: {exc.message}")
        return self.fip_views(ctx, [made])[0]

    def release_fip(self, ctx: RequestContext, fip_id: str) -> None:
        self._fip(ctx, fip_id)
        self.network.delete_resource(ctx, "floatingip", fip_id)

    def _fip_by_address(self, ctx: RequestContext, address: str) -> dict[str, Any]:
        found = self.network.list_resources(ctx, "floatingip",
                                            [("floating_ip_address", address)]) \
            if address else []
        if not found:
            raise NotFound(f"Floating IP not found for address {address}.")
        return found[0]

    def associate(self, ctx: RequestContext, server_id: str, address: str,
                  fixed_address: str | None) -> None:
        """addFloatingIp: to the server's port holding `fixed_address`, or its first
        port with an IPv4 address."""
        fip = self._fip_by_address(ctx, address)
        ports = self.network.list_resources(ctx, "port", [("device_id", server_id)])
        for port in ports:
            for ip in port.get("fixed_ips") or []:
                addr = ip["ip_address"]
                if (fixed_address and addr == fixed_address) or \
                        (not fixed_address and ipaddress.ip_address(addr).version == 4):
                    with conflicts_are_bad_requests():
                        self.network.update_resource(ctx, "floatingip", fip["id"], {
                            "port_id": port["id"], "fixed_ip_address": addr})
                    return
        if fixed_address:
            raise BadRequest(f"Specified fixed address {fixed_address} not assigned to "
                             "instance")
        raise BadRequest("No nw_info cache associated with instance")

    def disassociate(self, ctx: RequestContext, server_id: str, address: str) -> None:
        """removeFloatingIp: only from the server it is associated with (409 else)."""
        fip = self._fip_by_address(ctx, address)
        port_id = fip.get("port_id")
        ports = {p["id"] for p in self.network.list_resources(
            ctx, "port", [("device_id", server_id)])}
        if not port_id or port_id not in ports:
            raise Conflict(f"Floating IP {address} is not associated with instance "
                           f"{server_id}.")
        self.network.update_resource(ctx, "floatingip", fip["id"], {"port_id": None})

    # ---------------------------------------------------------------- networks
    @staticmethod
    def network_view(net: dict[str, Any], subnets: list[dict[str, Any]],
                     tenant: bool) -> dict[str, Any]:
        """os-tenant-networks: id, label and the first IPv4 CIDR; os-networks: Nova's
        network dict, the fields Neutron has no notion of null."""
        cidr = next((s["cidr"] for s in subnets if s.get("ip_version") == 4), None)
        if tenant:
            return {"id": net["id"], "label": net["name"], "cidr": cidr}
        v6 = next((s for s in subnets if s.get("ip_version") == 6), None)
        v4 = next((s for s in subnets if s.get("ip_version") == 4), None)
        return {"id": net["id"], "label": net["name"], "cidr": cidr,
                "netmask": str(ipaddress.ip_network(cidr).netmask) if cidr else None,
                "gateway": v4.get("gateway_ip") if v4 else None, "broadcast": None,
                "dns1": None, "dns2": None, "cidr_v6": v6["cidr"] if v6 else None,
                "gateway_v6": v6.get("gateway_ip") if v6 else None, "netmask_v6": None}

    def list_networks(self, ctx: RequestContext, tenant: bool) -> list[dict[str, Any]]:
        nets = self.network.list_resources(ctx, "network", [])
        subnets = self.network.list_resources(ctx, "subnet", [])
        return [self.network_view(n, [s for s in subnets if s["network_id"] == n["id"]],
                                  tenant) for n in nets]

    def show_network(self, ctx: RequestContext, net_id: str, tenant: bool
                     ) -> dict[str, Any]:
        try:
            net = self.network.show_resource(ctx, "network", net_id)
        except NotFound:
            raise NotFound("Network could not be found.")
        subnets = self.network.list_resources(ctx, "subnet", [("network_id", net_id)])
        return self.network_view(net, subnets, tenant)


def _port_number(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid port range: {name} must be an integer.")


def _protocol_and_ports(rule: dict[str, Any]) -> dict[str, Any]:
    """Neutron's protocol and port range for Nova's (ip_protocol, from_port, to_port)."""
    proto = rule.get("ip_protocol")
    if proto is None:
        if rule.get("group_id"):
            return {}
        raise BadRequest("Not enough parameters to build a valid rule.")
    proto = str(proto).lower()
    if proto not in RULE_PROTOCOLS:
        raise BadRequest(f"Invalid IP protocol {rule.get('ip_protocol')}.")
    low = _port_number(rule.get("from_port"), "from_port")
    high = _port_number(rule.get("to_port"), "to_port")
    if proto == "icmp":
        if not (-1 <= low <= 255 and -1 <= high <= 255):
            raise BadRequest(f"Invalid port range {low}:{high}. Type and Code must be "
                             "integers for ICMP protocol type")
        ports: dict[str, Any] = {}
        if low != -1:
            ports["port_range_min"] = low
        if high != -1:
            ports["port_range_max"] = high
        return {"protocol": proto, **ports}
    if not 1 <= low <= high <= 65535:
        raise BadRequest(f"Invalid port range {low}:{high}. Valid {proto.upper()} ports "
                         "should be between 1-65535")
    return {"protocol": proto, "port_range_min": low, "port_range_max": high}


def _cidr(raw: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(raw), strict=False)
    except ValueError:
        raise BadRequest(f"Invalid CIDR {raw}.")
