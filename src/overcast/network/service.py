"""The network service: Neutron semantics over the network tables.

`NetworkService` is the one object the rest of the cloud holds
(`app.state.network`): it builds the resource modules over one shared `Store` and
offers what others call — the routes reach each resource by its kind
(`collection`, `page`, `show`), compute and metadata call the hooks of
`instances.py`, the agents' bus handler asks `dataplane.py`, and `overcast up`
lays the default topology. The package's parts, by resource:

  networks, subnets, subnetpools, ports, security_groups, routers, floatingips,
  quotas, tags
              domain logic and transactions (no HTTP)
  allocation  MACs and fixed IPs in the database (ipam.py: the pure address maths)
  policy      who may see and do what;  errors  every refusal, worded once
  views       the wire shapes;  listing  filters, sorting, paging;  extensions
  instances   the hooks compute calls;  dataplane  what each host should hold
  agents      the agents extension: the hosts' dataplanes as Neutron's agents
  api         the routes only (no SQL)

Visibility (Neutron's default policy): an admin sees everything; a project sees its
own resources, shared networks (and their subnets), external networks, and the
ports on networks it owns. Writes that change several rows happen in one
transaction, so a refused request leaves nothing half-created.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from overcast.db import Database
from overcast.kit.context import RequestContext
from overcast.network import listing
from overcast.network import models as m
from overcast.network.agents import Agents
from overcast.network.common import Collection, Store
from overcast.network.dataplane import Dataplane
from overcast.network.floatingips import FloatingIPs
from overcast.network.instances import Instances
from overcast.network.networks import Networks
from overcast.network.ports import Ports
from overcast.network.quotas import Quotas
from overcast.network.routers import Routers
from overcast.network.security_groups import Rules, SecurityGroups
from overcast.network.subnetpools import SubnetPools
from overcast.network.subnets import Subnets
from overcast.network.tags import Tags


class NetworkService:
    def __init__(self, db: Database, *, uplink_mtu: int = 1400,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.store = Store(db, uplink_mtu=uplink_mtu, on_change=on_change)
        self.quotas = Quotas(self.store)
        self.networks = Networks(self.store, self.quotas)
        self.subnetpools = SubnetPools(self.store, self.quotas)
        self.subnets = Subnets(self.store, self.quotas, self.networks, self.subnetpools)
        self.security_groups = SecurityGroups(self.store, self.quotas)
        self.rules = Rules(self.store, self.quotas, self.security_groups)
        self.ports = Ports(self.store, self.quotas, self.networks, self.security_groups)
        self.routers = Routers(self.store, self.quotas, self.networks, self.subnets,
                               self.ports)
        self.floatingips = FloatingIPs(self.store, self.quotas, self.networks, self.ports)
        #: every resource the generic routes serve, by its singular name
        self.resources: dict[str, Collection] = {
            "network": self.networks, "subnet": self.subnets, "port": self.ports,
            "security_group": self.security_groups, "security_group_rule": self.rules,
            "router": self.routers, "floatingip": self.floatingips,
            "subnetpool": self.subnetpools}
        self.tags = Tags(self.store, self.resources)
        self.instances = Instances(self.store, self.ports, self.security_groups)
        self.dataplane = Dataplane(self.store)
        self.agents = Agents(self.store)

    @property
    def db(self) -> Database:
        return self.store.db

    @property
    def uplink_mtu(self) -> int:
        return self.store.uplink_mtu

    @property
    def on_change(self) -> Callable[[str, str], None] | None:
        """Told (kind, id) after each committed change: the dataplane's trigger."""
        return self.store.on_change

    @on_change.setter
    def on_change(self, hook: Callable[[str, str], None] | None) -> None:
        self.store.on_change = hook

    # ---------------------------------------------------------------- the routes
    def collection(self, kind: str) -> Collection:
        return self.resources[kind]

    def page(self, kind: str, ctx: RequestContext, params: list[tuple[str, str]]
             ) -> listing.Page:
        return listing.page(self.store, self.resources[kind], kind, ctx, params)

    def show(self, kind: str, ctx: RequestContext, ident: str) -> dict[str, Any]:
        res = self.resources[kind]
        with self.store.db.session() as s:
            return res.views(s, [res.get(s, ctx, ident)])[0]

    # ---------------------------------------------------------------- compute's hooks
    def resolve_requested(self, ctx: RequestContext, networks: Any, count: int,
                          security_groups: list[str] | None = None
                          ) -> list[dict[str, Any]]:
        return self.instances.resolve_requested(ctx, networks, count, security_groups)

    def server_group_action(self, ctx: RequestContext, instance_uuid: str, name: str,
                            add: bool) -> None:
        self.instances.server_group_action(ctx, instance_uuid, name, add)

    def allocate_for_instance(self, instance_uuid: str, project_id: str,
                              requested: list[dict[str, Any]], host: str,
                              vif_kind: str = "tap") -> list[dict[str, Any]]:
        return self.instances.allocate_for_instance(instance_uuid, project_id, requested,
                                                    host, vif_kind)

    def ports_for_instance(self, instance_uuid: str) -> list[dict[str, Any]]:
        return self.instances.ports_for_instance(instance_uuid)

    def bind_for_instance(self, instance_uuid: str, host: str) -> None:
        self.instances.bind_for_instance(instance_uuid, host)

    def release_for_instance(self, instance_uuid: str) -> None:
        self.instances.release_for_instance(instance_uuid)

    def attach_port(self, instance_uuid: str, project_id: str, item: dict[str, Any],
                    host: str, vif_kind: str = "tap") -> dict[str, Any]:
        return self.instances.attach_port(instance_uuid, project_id, item, host, vif_kind)

    def detach_port(self, instance_uuid: str, port_id: str) -> None:
        self.instances.detach_port(instance_uuid, port_id)

    def compute_devices(self) -> set[str]:
        return self.instances.compute_devices()

    def addresses(self, instance_uuids: list[str]) -> dict[str, dict[str, Any]]:
        return self.instances.addresses(instance_uuids)

    def instance_security_groups(self, instance_uuids: list[str]
                                 ) -> dict[str, list[dict[str, str]]]:
        return self.instances.instance_security_groups(instance_uuids)

    # ---------------------------------------------------------------- Nova's proxies
    # Compute's deprecated proxy APIs (os-security-groups, os-floating-ips,
    # os-networks...) call Neutron's own collections as the caller, so Neutron's rules
    # hold; these five are the whole surface they need (compute.ports.NeutronPort).
    def list_resources(self, ctx: RequestContext, kind: str,
                       filters: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Every row of `kind` the caller sees that matches `filters` (all pages)."""
        out: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            params = list(filters) + ([("marker", marker)] if marker else [])
            page = self.page(kind, ctx, params)
            out += page.items
            if not page.next_marker or not page.items:
                return out
            marker = page.next_marker

    def show_resource(self, ctx: RequestContext, kind: str, ident: str) -> dict[str, Any]:
        return self.show(kind, ctx, ident)

    def create_resource(self, ctx: RequestContext, kind: str, body: dict[str, Any]
                        ) -> dict[str, Any]:
        return self.resources[kind].create(ctx, body)

    def update_resource(self, ctx: RequestContext, kind: str, ident: str,
                        body: dict[str, Any]) -> dict[str, Any]:
        return self.resources[kind].update(ctx, ident, body)

    def delete_resource(self, ctx: RequestContext, kind: str, ident: str) -> None:
        self.resources[kind].delete(ctx, ident)

    # ---------------------------------------------------------------- metadata's hooks
    def address_owner(self, network_id: str, address: str) -> str | None:
        return self.instances.address_owner(network_id, address)

    def floating_of(self, fixed_address: str) -> str | None:
        return self.instances.floating_of(fixed_address)

    # ---------------------------------------------------------------- the agents
    def desired(self, host: str, network_host: bool, also: list[str] | None = None,
                tunnel_ip: str = "") -> dict[str, Any]:
        return self.dataplane.desired(host, network_host, also, tunnel_ip)

    def agent_hosts(self) -> list[str]:
        return self.dataplane.agent_hosts()

    # ---------------------------------------------------------------- start-up
    def ensure_default_topology(self, admin_project_id: str, public_cidr: str
                                ) -> dict[str, str]:
        """What a fresh all-in-one cloud offers at once (DevStack's shape): the external
        flat network `public` (its gateway address is the simulated upstream), and for
        the admin project a `private` network with a subnet and `router1` joining it to
        `public`. Each piece is made only if missing, so restarts change nothing and a
        piece the admin deleted on purpose is not forced back while the rest exists."""
        ctx = RequestContext(project_id=admin_project_id, internal=True, roles=["admin"])
        with self.store.db.session() as s:
            public = s.scalar(select(m.Network).where(m.Network.external.is_(True),
                                                      m.Network.name == "public"))
            public_id = public.id if public is not None else None
            any_private = s.scalar(select(m.Network.id).where(
                m.Network.project_id == admin_project_id,
                m.Network.external.is_(False)).limit(1))
        out: dict[str, str] = {}
        if public_id is None:
            net = self.networks.create(ctx, {
                "name": "public", "router:external": True, "shared": False,
                "provider:network_type": "flat", "provider:physical_network": "public",
                "description": "The outside world (simulated upstream)"})
            public_id = net["id"]
            cidr = ipaddress.ip_network(public_cidr)
            self.subnets.create(ctx, {
                "network_id": public_id, "name": "public-subnet", "ip_version": 4,
                "cidr": str(cidr), "gateway_ip": str(cidr.network_address + 1),
                "enable_dhcp": False})
        out["public"] = public_id
        if any_private is None:
            net = self.networks.create(ctx, {"name": "private"})
            sub = self.subnets.create(ctx, {
                "network_id": net["id"], "name": "private-subnet", "ip_version": 4,
                "cidr": "10.0.0.0/24", "dns_nameservers": []})
            router = self.routers.create(ctx, {
                "name": "router1", "external_gateway_info": {"network_id": public_id}})
            self.routers.add_interface(ctx, router["id"], {"subnet_id": sub["id"]})
            out.update(private=net["id"], router=router["id"])
        return out
