"""Neutron's wire shapes: one function per resource, from rows already loaded.

The resource modules read what a body needs (a network's subnet ids, a port's
addresses and groups, a group's rules) and hand it here; nothing in this module
touches the database. Neutron v2.0 has no microversions: extensions add fields,
and every extension this cloud advertises is always on, so each resource has one
shape.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from overcast.network import models as m


def nt(t: dt.datetime | None) -> str | None:
    """Neutron's timestamps: UTC to the second, with a Z."""
    return None if t is None else t.replace(microsecond=0).isoformat() + "Z"


def common(obj: Any) -> dict[str, Any]:
    """The standard attributes every resource carries."""
    return {"id": obj.id, "name": obj.name, "description": obj.description,
            "project_id": obj.project_id, "tenant_id": obj.project_id,
            "revision_number": obj.revision_number, "tags": list(obj.tags or []),
            "created_at": nt(obj.created_at), "updated_at": nt(obj.updated_at)}


def network(net: m.Network, subnets: list[str]) -> dict[str, Any]:
    body = common(net)
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


def subnet(sub: m.Subnet, external: bool) -> dict[str, Any]:
    """`external`: whether the subnet's network is external (subnet-external-network)."""
    body = common(sub)
    body.update({
        "network_id": sub.network_id, "ip_version": sub.ip_version, "cidr": sub.cidr,
        "gateway_ip": sub.gateway_ip, "enable_dhcp": sub.enable_dhcp,
        "dns_nameservers": list(sub.dns_nameservers or []),
        "host_routes": list(sub.host_routes or []),
        "allocation_pools": list(sub.allocation_pools or []),
        "ipv6_ra_mode": sub.ipv6_ra_mode, "ipv6_address_mode": sub.ipv6_address_mode,
        "subnetpool_id": sub.subnetpool_id, "service_types": [], "segment_id": None,
        "dns_publish_fixed_ip": False, "router:external": external})
    return body


def subnetpool(pool: m.SubnetPool) -> dict[str, Any]:
    body = common(pool)
    body.update({
        "ip_version": pool.ip_version, "prefixes": list(pool.prefixes or []),
        "default_prefixlen": pool.default_prefixlen, "min_prefixlen": pool.min_prefixlen,
        "max_prefixlen": pool.max_prefixlen, "shared": pool.shared,
        "is_default": pool.is_default, "default_quota": None, "address_scope_id": None})
    return body


def port(p: m.Port, ips: list[dict[str, str]], groups: list[str]) -> dict[str, Any]:
    body = common(p)
    body.update({
        "network_id": p.network_id, "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up, "status": p.status,
        "device_owner": p.device_owner, "device_id": p.device_id,
        "fixed_ips": sorted(ips, key=lambda x: (
            ipaddress.ip_address(x["ip_address"]).version, x["subnet_id"])),
        "security_groups": sorted(groups),
        "allowed_address_pairs": list(p.allowed_address_pairs or []),
        "port_security_enabled": p.port_security_enabled,
        "binding:host_id": p.binding_host_id, "binding:vif_type": p.binding_vif_type,
        "binding:vnic_type": p.binding_vnic_type,
        "binding:vif_details": dict(p.binding_vif_details or {}),
        "binding:profile": dict(p.binding_profile or {}),
        "dns_name": p.dns_name, "dns_assignment": [],
        "extra_dhcp_opts": [dict(o) for o in p.extra_dhcp_opts or []],
        "qos_policy_id": None, "qos_network_policy_id": None,
        "propagate_uplink_status": False, "ip_allocation": "immediate"})
    return body


def normalized_cidr(prefix: str | None) -> str | None:
    """A rule's remote prefix without its host bits (Neutron's normalized_cidr)."""
    return str(ipaddress.ip_network(prefix, strict=False)) if prefix else None


def rule(r: m.SecurityGroupRule, in_default_group: bool = False) -> dict[str, Any]:
    return {"id": r.id, "security_group_id": r.security_group_id,
            "project_id": r.project_id, "tenant_id": r.project_id,
            "direction": r.direction, "ethertype": r.ethertype, "protocol": r.protocol,
            "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
            "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id,
            "remote_address_group_id": None, "normalized_cidr": normalized_cidr(r.remote_ip_prefix),
            "description": r.description, "revision_number": r.revision_number,
            "tags": [], "created_at": nt(r.created_at), "updated_at": nt(r.updated_at),
            "belongs_to_default_sg": in_default_group}


def security_group(g: m.SecurityGroup, rules: list[m.SecurityGroupRule]) -> dict[str, Any]:
    body = common(g)
    body.update({"security_group_rules": [rule(r, g.is_default) for r in rules],
                 "stateful": g.stateful, "shared": False, "is_default": g.is_default})
    return body


def router(r: m.Router, gateway_ips: list[dict[str, str]]) -> dict[str, Any]:
    body = common(r)
    gateway = None
    if r.gateway_network_id:
        gateway = {"network_id": r.gateway_network_id, "enable_snat": r.enable_snat,
                   "external_fixed_ips": gateway_ips}
    body.update({"admin_state_up": r.admin_state_up, "status": r.status,
                 "external_gateway_info": gateway, "routes": list(r.routes or []),
                 "distributed": False, "ha": False, "availability_zone_hints": [],
                 "availability_zones": ["nova"], "flavor_id": None,
                 "enable_ndp_proxy": False})
    return body


def router_interface(r: m.Router, p: m.Port, subnet_ids: list[str]) -> dict[str, Any]:
    """The reply to add_router_interface/remove_router_interface."""
    return {"id": r.id, "tenant_id": r.project_id, "project_id": r.project_id,
            "port_id": p.id, "network_id": p.network_id,
            "subnet_id": subnet_ids[0] if subnet_ids else None, "subnet_ids": subnet_ids}


def floatingip(f: m.FloatingIP) -> dict[str, Any]:
    body = common(f)
    body.update({"floating_network_id": f.floating_network_id,
                 "floating_ip_address": f.floating_ip_address, "port_id": f.port_id,
                 "fixed_ip_address": f.fixed_ip_address, "router_id": f.router_id,
                 "status": f.status, "port_details": None, "port_forwardings": [],
                 "dns_domain": "", "dns_name": "", "qos_policy_id": None})
    return body


def quota_detail(limit: int, used: int) -> dict[str, int]:
    return {"limit": limit, "used": used, "reserved": 0}


def extension(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description,
            "updated": "2013-01-01T10:00:00-00:00", "links": []}
