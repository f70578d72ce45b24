"""Neutron's tables: networks, subnets, ports and their addresses, security groups,
routers and floating IPs.

IP addresses are rows keyed by (subnet, address): the database itself refuses a
second allocation of an address, whatever the concurrency.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.base import Base, utcnow


class _Common:
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Network(_Common, Base):
    __tablename__ = "net_networks"
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    network_type: Mapped[str] = mapped_column(String(32), default="vxlan")
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mtu: Mapped[int] = mapped_column(Integer, default=1350)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    __table_args__ = (UniqueConstraint("network_type", "segmentation_id"),)


class Subnet(_Common, Base):
    __tablename__ = "net_subnets"
    network_id: Mapped[str] = mapped_column(
        ForeignKey("net_networks.id", ondelete="CASCADE"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSON, default=list)
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: the subnet pool its CIDR was taken from (subnet_allocation), if any
    subnetpool_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class SubnetPool(_Common, Base):
    """Prefixes that subnets are carved from (subnet_allocation)."""

    __tablename__ = "net_subnetpools"
    ip_version: Mapped[int] = mapped_column(Integer)
    prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Port(_Common, Base):
    __tablename__ = "net_ports"
    __table_args__ = (Index("ix_net_ports_device", "device_id"),)
    network_id: Mapped[str] = mapped_column(
        ForeignKey("net_networks.id", ondelete="CASCADE"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32), unique=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    device_id: Mapped[str] = mapped_column(String(255), default="")
    binding_host_id: Mapped[str] = mapped_column(String(255), default="")
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    binding_vif_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    binding_profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    dns_name: Mapped[str] = mapped_column(String(255), default="")
    #: [{"opt_name", "opt_value", "ip_version"}] (extra_dhcp_opt); None: none set
    extra_dhcp_opts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class IPAllocation(Base):
    __tablename__ = "net_ip_allocations"
    subnet_id: Mapped[str] = mapped_column(
        ForeignKey("net_subnets.id", ondelete="CASCADE"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(
        ForeignKey("net_ports.id", ondelete="CASCADE"), index=True)
    network_id: Mapped[str] = mapped_column(String(36), index=True)


class SecurityGroup(_Common, Base):
    __tablename__ = "net_security_groups"
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The project's `default` group (one per project, made on first use).
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class SecurityGroupRule(Base):
    __tablename__ = "net_security_group_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("net_security_groups.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class PortSecurityGroup(Base):
    __tablename__ = "net_port_security_groups"
    port_id: Mapped[str] = mapped_column(
        ForeignKey("net_ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("net_security_groups.id", ondelete="CASCADE"), primary_key=True,
        index=True)


class Router(_Common, Base):
    __tablename__ = "net_routers"
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gateway_network_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    gateway_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class FloatingIP(_Common, Base):
    __tablename__ = "net_floating_ips"
    floating_network_id: Mapped[str] = mapped_column(String(36), index=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    floating_port_id: Mapped[str] = mapped_column(String(36))
    port_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


class Quota(Base):
    __tablename__ = "net_quotas"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class Agent(Base):
    """A host's dataplane as its agent last described it: where its VXLAN tunnels end
    (`tunnel_ip`) and whether it hosts DHCP, routers and the upstream."""

    __tablename__ = "net_agents"
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    tunnel_ip: Mapped[str] = mapped_column(String(64), default="")
    network_host: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: when the host's agent first and last asked for its dataplane's state: the
    #: agents API's created_at and heartbeat (it asks at every resync)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True,
                                                           default=utcnow)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True,
                                                             default=utcnow)
    description: Mapped[str] = mapped_column(String(255), default="", server_default="")
