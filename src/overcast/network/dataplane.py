"""The desired state of each host's dataplane, as the agents ask for it.

An agent sends `NetworkDesired` (its host, whether it is the network host, the
other agents' hosts it serves, its tunnel endpoint) and gets plain data for the
bus: the networks it must hold (with their MTU and type), DHCP servers and their
hosts, routers with interfaces, gateway, SNAT, floating IPs and routes, the
upstreams of external networks, every bound port's firewall, and VXLAN tunnels
to the other hosts on the same networks. Answering also records where the host's
tunnels end, so the other hosts add theirs to it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db import utcnow
from overcast.network import allocation, ipam
from overcast.network import models as m
from overcast.network.common import Store
from overcast.network.ports import new_service_port
from overcast.network.views import normalized_cidr

Allocs = dict[str, list[dict[str, str]]]


def serves_dhcp(sub: m.Subnet) -> bool:
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


def _subnet_spec(x: m.Subnet) -> dict[str, Any]:
    return {"id": x.id, "cidr": x.cidr, "gateway_ip": x.gateway_ip,
            "dns_nameservers": list(x.dns_nameservers or []),
            "host_routes": list(x.host_routes or []),
            "enable_dhcp": x.enable_dhcp, "ip_version": x.ip_version,
            "ipv6_ra_mode": x.ipv6_ra_mode,
            "ipv6_address_mode": x.ipv6_address_mode}


def _dhcp_port(s: Session, net: m.Network, subnets: list[m.Subnet]) -> m.Port:
    """The network's DHCP port (made on demand, with an address on each DHCP
    subnet), as Neutron's DHCP agent has one."""
    port = s.scalar(select(m.Port).where(m.Port.network_id == net.id,
                                         m.Port.device_owner == "network:dhcp"))
    if port is None:
        port = new_service_port(s, net.id, owner="network:dhcp", device_id=f"dhcp-{net.id}",
                                project_id=net.project_id)
    have = set(s.scalars(select(m.IPAllocation.subnet_id).where(
        m.IPAllocation.port_id == port.id)))
    for sub in subnets:
        if sub.id in have or not serves_dhcp(sub):
            continue
        if sub.ip_version == 6 and sub.ipv6_address_mode == "dhcpv6-stateless":
            addr = ipam.eui64(ipaddress.ip_network(sub.cidr), port.mac_address)
            if s.get(m.IPAllocation, (sub.id, addr)) is None:
                allocation.insert_ip(s, sub, addr, port)
        else:
            allocation.auto_ip(s, sub, port)
    return port


class Dataplane:
    def __init__(self, store: Store) -> None:
        self.store = store

    def desired(self, host: str, network_host: bool, also: list[str] | None = None,
                tunnel_ip: str = "") -> dict[str, Any]:
        """Everything `host`'s dataplane should hold, as plain data for the bus (`also`:
        more agents' hosts served by the same dataplane, e.g. the container host next
        to the QEMU host on one machine). `tunnel_ip` is where this host's VXLAN
        tunnels end; each vxlan network the host holds gets a tunnel to every other
        host holding it (head-end replication: no multicast needed)."""
        hosts = {host, *(also or [])}
        if self._record_agents(hosts, host, network_host, tunnel_ip):
            self.store.changed("agent", host)  # the other hosts add their tunnels to it
        with self.store.db.transaction() as s:
            nets = {n.id: n for n in s.scalars(select(m.Network))}
            subnets: dict[str, list[m.Subnet]] = {}
            for sub in s.scalars(select(m.Subnet).order_by(m.Subnet.created_at)):
                subnets.setdefault(sub.network_id, []).append(sub)
            allocs: Allocs = {}
            for a in s.scalars(select(m.IPAllocation)):
                allocs.setdefault(a.port_id, []).append(
                    {"subnet_id": a.subnet_id, "ip_address": a.ip_address})
            ports = list(s.scalars(select(m.Port)))
            out: dict[str, Any] = {"networks": {}, "dhcp": [], "routers": [],
                                   "upstreams": [], "ports": []}
            used_nets: set[str] = set()
            bound = [p for p in ports if p.binding_host_id in hosts and
                     p.device_owner.startswith("compute:")]
            for p in bound:
                used_nets.add(p.network_id)
            if network_host:
                self._network_host(s, out, used_nets, nets, subnets, allocs, ports)
            for nid in used_nets:
                if nid in nets:
                    out["networks"][nid] = {"mtu": nets[nid].mtu,
                                            "type": nets[nid].network_type}
            out["ports"] = self._firewall_specs(s, bound, allocs)
            out["tunnels"] = self._tunnels(s, hosts, tunnel_ip, used_nets, nets, ports)
            return out

    def _network_host(self, s: Session, out: dict[str, Any], used_nets: set[str],
                      nets: dict[str, m.Network], subnets: dict[str, list[m.Subnet]],
                      allocs: Allocs, ports: list[m.Port]) -> None:
        """What only the network host holds: DHCP servers, upstreams, routers."""
        for net in nets.values():
            subs = subnets.get(net.id, [])
            if any(serves_dhcp(x) for x in subs):
                dport = _dhcp_port(s, net, subs)
                s.flush()
                dallocs = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                           for a in s.scalars(select(m.IPAllocation).where(
                               m.IPAllocation.port_id == dport.id))]
                # extra_dhcp_opts: the port's own options, for its DHCP server to
                # hand out (as Neutron's DHCP agent tags them per port)
                members = [{"id": p.id, "mac_address": p.mac_address,
                            "fixed_ips": allocs.get(p.id, []),
                            "hostname": _hostname(p),
                            "extra_dhcp_opts": list(p.extra_dhcp_opts or [])}
                           for p in ports if p.network_id == net.id and
                           not p.device_owner.startswith("network:")]
                out["dhcp"].append({
                    "network_id": net.id, "mtu": net.mtu,
                    "port": {"id": dport.id, "mac_address": dport.mac_address,
                             "fixed_ips": dallocs},
                    "subnets": [_subnet_spec(x) for x in subs], "ports": members})
                used_nets.add(net.id)
            if net.external and subs:
                gw = next((x for x in subs if x.ip_version == 4 and x.gateway_ip), None)
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

    def agent_hosts(self) -> list[str]:
        """Hosts whose agents run a dataplane (they asked for their desired state)."""
        with self.store.db.session() as s:
            return list(s.scalars(select(m.Agent.host).order_by(m.Agent.host)))

    def _record_agents(self, hosts: set[str], host: str, network_host: bool,
                       tunnel_ip: str) -> bool:
        """Remember where each host's tunnels end; True when that changed."""
        changed = False
        now = utcnow()
        with self.store.db.transaction() as s:
            for h in sorted(hosts):
                row = s.get(m.Agent, h)
                nh = network_host and h == host
                if row is not None:
                    row.heartbeat_at = now  # the agents API's liveness
                if row is None:
                    s.add(m.Agent(host=h, tunnel_ip=tunnel_ip, network_host=nh))
                    changed = changed or bool(tunnel_ip)
                elif (row.tunnel_ip, row.network_host) != (tunnel_ip, nh):
                    row.tunnel_ip, row.network_host = tunnel_ip, nh
                    row.updated_at = utcnow()
                    changed = True
        return changed

    @staticmethod
    def _tunnels(s: Session, hosts: set[str], tunnel_ip: str, used_nets: set[str],
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

    @staticmethod
    def _router_spec(s: Session, r: m.Router, nets: dict[str, m.Network],
                     allocs: Allocs) -> dict[str, Any]:
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
                gcidrs, gw_ip = [], None
                for a in allocs.get(gp.id, []):
                    sub = s.get(m.Subnet, a["subnet_id"])
                    if sub is not None and sub.ip_version == 4:
                        gcidrs.append(f"{a['ip_address']}/"
                                      f"{ipaddress.ip_network(sub.cidr).prefixlen}")
                        gw_ip = gw_ip or sub.gateway_ip
                gateway = {"port_id": gp.id, "mac": gp.mac_address,
                           "net_id": r.gateway_network_id,
                           "mtu": nets[r.gateway_network_id].mtu, "cidrs": gcidrs,
                           "gateway_ip": gw_ip}
        fips = [{"floating_ip": f.floating_ip_address, "fixed_ip": f.fixed_ip_address}
                for f in s.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id == r.id))
                if f.fixed_ip_address]
        return {"id": r.id, "interfaces": interfaces, "gateway": gateway,
                "snat": r.enable_snat, "floating_ips": fips, "routes": list(r.routes or [])}

    @staticmethod
    def _firewall_specs(s: Session, ports: list[m.Port], allocs: Allocs
                        ) -> list[dict[str, Any]]:
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
                    remote = [normalized_cidr(r.remote_ip_prefix) or ""]
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
