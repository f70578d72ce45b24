"""Networks: provider types (vxlan tenant networks, the flat external `public`,
local), MTUs bounded by the uplink, and deletion that takes the network's
subnets and DHCP port with it."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.network import errors, policy, views
from overcast.network import models as m
from overcast.network.common import COMMON_FILTERS, Store, bump, flag, new_id, owner_project, text
from overcast.network.quotas import Quotas

VXLAN_RANGE = (1, 1 << 24)
#: the physical networks a flat network may sit on
PHYSICAL_NETWORKS = ("public",)
#: what a VXLAN header costs out of the uplink's MTU
VXLAN_OVERHEAD = 50


def _valid_mtu(mtu: Any, top: int) -> bool:
    return not (isinstance(mtu, bool) or not isinstance(mtu, int) or not 68 <= mtu <= top)


class Networks:
    model: ClassVar[Any] = m.Network
    filters: ClassVar[dict[str, str]] = {
        **COMMON_FILTERS, "admin_state_up": "admin_state_up", "shared": "shared",
        "router:external": "external", "status": "status", "mtu": "mtu",
        "provider:network_type": "network_type",
        "provider:physical_network": "physical_network",
        "provider:segmentation_id": "segmentation_id",
        "port_security_enabled": "port_security_enabled"}

    def __init__(self, store: Store, quotas: Quotas) -> None:
        self.store = store
        self.quotas = quotas

    def query(self, ctx: RequestContext) -> Select[Any]:
        return select(m.Network).where(policy.visible_networks(ctx))

    def get(self, s: Session, ctx: RequestContext, net_id: str) -> m.Network:
        net = s.scalar(select(m.Network).where(m.Network.id == net_id,
                                               policy.visible_networks(ctx)))
        if net is None:
            raise errors.not_found("Network", net_id)
        return net

    def view(self, s: Session, net: m.Network) -> dict[str, Any]:
        subnets = list(s.scalars(select(m.Subnet.id).where(m.Subnet.network_id == net.id)
                                 .order_by(m.Subnet.created_at)))
        return views.network(net, subnets)

    def views(self, s: Session, rows: list[m.Network]) -> list[dict[str, Any]]:
        return [self.view(s, x) for x in rows]

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        """A network of the provider type asked for (vxlan by default, with the
        lowest free VNI) and an MTU within what the uplink carries."""
        policy.check_network_create(ctx, body)
        project = owner_project(ctx, body)
        policy.check_create_for(ctx, project, "network")
        ntype = body.get("provider:network_type") or "vxlan"
        if ntype not in ("vxlan", "flat", "local"):
            raise errors.network_type_unsupported(ntype)
        physnet = body.get("provider:physical_network")
        seg = body.get("provider:segmentation_id")
        with self.store.db.transaction() as s:
            self.quotas.check(s, project, "network")
            if ntype == "flat":
                self._flat(s, physnet)
                seg, mtu_max = None, self.store.uplink_mtu
            elif ntype == "vxlan":
                seg = self._vxlan_id(s, physnet, seg)
                mtu_max = self.store.uplink_mtu - VXLAN_OVERHEAD
            else:
                seg, mtu_max = None, self.store.uplink_mtu
            mtu = body.get("mtu", mtu_max)
            if not _valid_mtu(mtu, mtu_max):
                raise errors.mtu_too_big(mtu_max)
            net = m.Network(
                id=new_id(), name=text(body, "name"),
                description=text(body, "description"), project_id=project,
                admin_state_up=flag(body, "admin_state_up", True),
                shared=flag(body, "shared", False),
                external=flag(body, "router:external", False), network_type=ntype,
                physical_network=physnet if ntype == "flat" else None, segmentation_id=seg,
                mtu=mtu, port_security_enabled=flag(body, "port_security_enabled", True))
            s.add(net)
            s.flush()
            out = self.view(s, net)
        self.store.changed("network", out["id"])
        return out

    @staticmethod
    def _flat(s: Session, physnet: Any) -> None:
        """Check a flat network's physical network (one network each); flat
        networks have no segmentation id."""
        if not physnet:
            raise errors.flat_needs_physnet()
        if physnet not in PHYSICAL_NETWORKS:
            raise errors.unknown_physnet(physnet)
        if s.scalar(select(m.Network.id).where(m.Network.network_type == "flat",
                                               m.Network.physical_network == physnet)):
            raise errors.flat_network_in_use(physnet)

    @staticmethod
    def _vxlan_id(s: Session, physnet: Any, seg: Any) -> int:
        """The VNI asked for (checked free), or the lowest free one."""
        if physnet:
            raise errors.vxlan_with_physnet()
        used = set(s.scalars(select(m.Network.segmentation_id).where(
            m.Network.network_type == "vxlan")))
        if seg is not None:
            if isinstance(seg, bool) or not isinstance(seg, int) or \
                    not VXLAN_RANGE[0] <= seg < VXLAN_RANGE[1]:
                raise errors.segmentation_id_out_of_range(seg)
            if seg in used:
                raise errors.tunnel_id_in_use(seg)
            return seg
        return next(i for i in range(VXLAN_RANGE[0], VXLAN_RANGE[1]) if i not in used)

    def update(self, ctx: RequestContext, net_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        with self.store.db.transaction() as s:
            net = self.get(s, ctx, net_id)
            policy.must_own(ctx, net.project_id, "network")
            policy.check_network_update(ctx, body)
            for key in ("provider:network_type", "provider:physical_network",
                        "provider:segmentation_id"):
                if key in body:
                    raise errors.provider_update_unsupported()
            bump(net, if_match)
            if "name" in body:
                net.name = text(body, "name")
            if "description" in body:
                net.description = text(body, "description")
            if "admin_state_up" in body:
                net.admin_state_up = flag(body, "admin_state_up", True)
            if "shared" in body:
                net.shared = flag(body, "shared", False)
            if "router:external" in body:
                net.external = flag(body, "router:external", False)
            if "port_security_enabled" in body:
                net.port_security_enabled = flag(body, "port_security_enabled", True)
            if "mtu" in body:
                mtu = body["mtu"]
                top = self.store.uplink_mtu - (
                    VXLAN_OVERHEAD if net.network_type == "vxlan" else 0)
                if not _valid_mtu(mtu, top):
                    raise errors.mtu_too_big(top)
                net.mtu = mtu
            s.flush()
            out = self.view(s, net)
        self.store.changed("network", net_id)
        return out

    def delete(self, ctx: RequestContext, net_id: str) -> None:
        with self.store.db.transaction() as s:
            net = self.get(s, ctx, net_id)
            policy.must_own(ctx, net.project_id, "network")
            # Floating IPs held on an external network but bound to no port go with
            # it, as Neutron deletes the disassociated ones first; associated ones
            # keep the network in use.
            idle = list(s.scalars(select(m.FloatingIP).where(
                m.FloatingIP.floating_network_id == net_id, m.FloatingIP.port_id.is_(None))))
            busy = s.scalar(select(func.count()).select_from(m.Port).where(
                m.Port.network_id == net_id, m.Port.device_owner != "network:dhcp",
                m.Port.id.not_in([f.floating_port_id for f in idle]))) or 0
            if busy:
                raise errors.network_in_use(net_id)
            for fip in idle:
                s.delete(fip)
            s.execute(delete(m.Port).where(m.Port.network_id == net_id))
            s.execute(delete(m.Subnet).where(m.Subnet.network_id == net_id))
            s.delete(net)
        for fip in idle:
            self.store.changed("floatingip", fip.id)
        self.store.changed("network", net_id)
