"""Security groups and their rules.

Every project has a `default` group (made on first need: listing groups, creating
one, or a port that names none): egress open, ingress only from members of the
group itself. A new group opens egress. Rules are checked as Neutron checks them
(protocol names and numbers, port ranges per protocol, ICMP type/code, one remote)
and a duplicate is refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import astuple, dataclass
from typing import Any, ClassVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.network import errors, policy, views
from overcast.network import models as m
from overcast.network.common import (
    COMMON_FILTERS,
    Store,
    bump,
    flag,
    new_id,
    owner_project,
    text,
)
from overcast.network.quotas import Quotas
from overcast.network.views import normalized_cidr

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132,
             "udplite": 136, "gre": 47, "esp": 50, "ah": 51, "igmp": 2, "dccp": 33,
             "ipip": 4, "ospf": 89, "pgm": 113, "vrrp": 112, "rsvp": 46, "egp": 8,
             "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-nonxt": 59, "ipv6-opts": 60,
             "ipv6-route": 43, "any": 0}
#: protocols whose rules may carry a port range
PORT_PROTOCOLS = {"tcp", "udp", "sctp", "udplite", "dccp", "6", "17", "132", "136", "33"}
ICMP_PROTOCOLS = ("icmp", "ipv6-icmp", "icmpv6", "1", "58")


class SecurityGroups:
    model: ClassVar[Any] = m.SecurityGroup
    filters: ClassVar[dict[str, str]] = {**COMMON_FILTERS, "stateful": "stateful"}

    def __init__(self, store: Store, quotas: Quotas) -> None:
        self.store = store
        self.quotas = quotas

    def ensure_default(self, s: Session, project_id: str) -> m.SecurityGroup:
        """The project's `default` group, made with its four rules if missing."""
        sg = s.scalar(select(m.SecurityGroup).where(m.SecurityGroup.project_id == project_id,
                                                    m.SecurityGroup.is_default.is_(True)))
        if sg is not None:
            return sg
        sg = m.SecurityGroup(id=new_id(), name="default",
                             description="Default security group", project_id=project_id,
                             is_default=True)
        s.add(sg)
        s.flush()
        for direction, ethertype, remote in (("egress", "IPv4", None),
                                             ("egress", "IPv6", None),
                                             ("ingress", "IPv4", sg.id),
                                             ("ingress", "IPv6", sg.id)):
            s.add(m.SecurityGroupRule(id=new_id(), security_group_id=sg.id,
                                      project_id=project_id, direction=direction,
                                      ethertype=ethertype, remote_group_id=remote))
        s.flush()
        return sg

    def query(self, ctx: RequestContext) -> Select[Any]:
        if ctx.project_id:
            with self.store.db.transaction() as s:
                self.ensure_default(s, ctx.project_id)
        return select(m.SecurityGroup).where(policy.visible_groups(ctx))

    def get(self, s: Session, ctx: RequestContext, sg_id: str) -> m.SecurityGroup:
        sg = s.scalar(select(m.SecurityGroup).where(m.SecurityGroup.id == sg_id,
                                                    policy.visible_groups(ctx)))
        if sg is None:
            raise errors.group_not_found(sg_id)
        return sg

    def views(self, s: Session, groups: list[m.SecurityGroup]) -> list[dict[str, Any]]:
        ids = [g.id for g in groups]
        rules: dict[str, list[m.SecurityGroupRule]] = {i: [] for i in ids}
        for i in range(0, len(ids), 500):
            for r in s.scalars(select(m.SecurityGroupRule).where(
                    m.SecurityGroupRule.security_group_id.in_(ids[i:i + 500]))
                    .order_by(m.SecurityGroupRule.created_at)):
                rules[r.security_group_id].append(r)
        return [views.security_group(g, rules[g.id]) for g in groups]

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        name = text(body, "name")
        if name == "default":
            raise errors.default_group_exists()
        project = owner_project(ctx, body)
        policy.check_create_for(ctx, project, "security group")
        with self.store.db.transaction() as s:
            self.ensure_default(s, project)
            self.quotas.check(s, project, "security_group")
            sg = m.SecurityGroup(id=new_id(), name=name,
                                 description=text(body, "description"), project_id=project,
                                 stateful=flag(body, "stateful", True))
            s.add(sg)
            s.flush()
            for ethertype in ("IPv4", "IPv6"):
                s.add(m.SecurityGroupRule(id=new_id(), security_group_id=sg.id,
                                          project_id=project, direction="egress",
                                          ethertype=ethertype))
            s.flush()
            return self.views(s, [sg])[0]

    def update(self, ctx: RequestContext, sg_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        with self.store.db.transaction() as s:
            sg = self.get(s, ctx, sg_id)
            if "name" in body:
                if sg.is_default and body["name"] != "default":
                    raise errors.default_group_rename()
                if not sg.is_default and body["name"] == "default":
                    # one `default` per project, whether created or renamed so
                    raise errors.default_group_exists()
                sg.name = text(body, "name")
            if "description" in body:
                sg.description = text(body, "description")
            bump(sg, if_match)
            s.flush()
            return self.views(s, [sg])[0]

    def delete(self, ctx: RequestContext, sg_id: str) -> None:
        with self.store.db.transaction() as s:
            sg = self.get(s, ctx, sg_id)
            policy.check_remove_group(ctx, sg)
            if s.scalar(select(m.PortSecurityGroup.port_id).where(
                    m.PortSecurityGroup.security_group_id == sg_id).limit(1)):
                raise errors.group_in_use(sg_id)
            # rules of other groups that name this one as their remote go with it,
            # as Neutron's foreign key cascades them
            for rule in s.scalars(select(m.SecurityGroupRule).where(
                    m.SecurityGroupRule.remote_group_id == sg_id)):
                s.delete(rule)
            s.delete(sg)
        self.store.changed("security_group", sg_id)


@dataclass(frozen=True)
class RuleSpec:
    """A rule as checked and normalised, in the order that makes it unique."""

    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None


def parse_rule(body: dict[str, Any]) -> RuleSpec:
    """Check a rule's body as Neutron does (each refusal with Neutron's type)."""
    direction = body.get("direction")
    if direction not in ("ingress", "egress"):
        raise errors.rule_direction_invalid(direction)
    ethertype = body.get("ethertype") or "IPv4"
    # Neutron's convert_ethertype_to_case_insensitive
    ethertype = {"ipv4": "IPv4", "ipv6": "IPv6"}.get(str(ethertype).lower(), ethertype)
    if ethertype not in ("IPv4", "IPv6"):
        raise errors.rule_ethertype_invalid(ethertype)
    proto = _protocol(body.get("protocol"), ethertype)
    pmin, pmax = body.get("port_range_min"), body.get("port_range_max")
    _check_ports(proto, pmin, pmax)
    prefix = body.get("remote_ip_prefix") or None  # "" means any, as in Neutron
    remote_group = body.get("remote_group_id")
    if prefix is not None and remote_group is not None:
        raise errors.rule_two_remotes()
    if prefix is not None:
        net = _prefix(prefix)
        if (net.version == 4) != (ethertype == "IPv4"):
            raise errors.rule_ethertype_conflict(ethertype, prefix)
        # kept as given (host bits and all, an address as a /32 or /128), as Neutron
        # keeps it; views add the `normalized_cidr` and the dataplane uses that
        prefix = str(ipaddress.ip_interface(prefix)) if "/" in prefix else \
            f"{net.network_address}/{net.max_prefixlen}"
    return RuleSpec(direction, ethertype, proto, pmin, pmax, prefix, remote_group)


def _prefix(raw: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A remote prefix: a CIDR (host bits dropped, a /32 or /128 allowed) or an
    address; nothing else (a number is not an address here)."""
    if not isinstance(raw, str):
        raise errors.rule_prefix_invalid(raw)
    try:
        return ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise errors.rule_prefix_invalid(raw)


def _protocol(proto: Any, ethertype: str) -> str | None:
    if proto is None:
        return None
    proto = str(proto).lower()
    if proto.isascii() and proto.isdigit():  # "٦" is a digit to Python, not to iptables
        if not 0 <= int(proto) <= 255:
            raise errors.rule_protocol_number_invalid(proto)
    elif proto not in PROTOCOLS:
        raise errors.rule_protocol_invalid(proto)
    if proto == "icmp" and ethertype == "IPv6":
        proto = "ipv6-icmp"
    if proto in ("icmpv6", "ipv6-icmp") and ethertype == "IPv4":
        raise errors.icmpv6_with_ipv4()
    return str(proto)


def _check_ports(proto: str | None, pmin: Any, pmax: Any) -> None:
    for v in (pmin, pmax):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or
                              not 0 <= v <= 65535):
            raise errors.rule_port_invalid(v)
    if pmin is None and pmax is None:
        return
    if proto is None:
        raise errors.rule_ports_need_protocol()
    if proto in PORT_PROTOCOLS:
        if pmin is None or pmax is None or pmin > pmax or pmin == 0:
            raise errors.rule_port_range_invalid()
    elif proto in ICMP_PROTOCOLS:
        for value, field, attr in ((pmin, "type", "port_range_min"),
                                   (pmax, "code", "port_range_max")):
            if value is not None and value > 255:
                raise errors.rule_icmp_value_invalid(field, attr, value)
        if pmin is None and pmax is not None:
            raise errors.rule_icmp_type_missing(pmax)
    else:
        raise errors.rule_protocol_has_no_ports(proto)


class Rules:
    model: ClassVar[Any] = m.SecurityGroupRule
    filters: ClassVar[dict[str, str]] = {
        "id": "id", "project_id": "project_id", "tenant_id": "project_id",
        "security_group_id": "security_group_id", "direction": "direction",
        "ethertype": "ethertype", "protocol": "protocol",
        "port_range_min": "port_range_min", "port_range_max": "port_range_max",
        "remote_ip_prefix": "remote_ip_prefix", "remote_group_id": "remote_group_id",
        "description": "description"}

    def __init__(self, store: Store, quotas: Quotas, groups: SecurityGroups) -> None:
        self.store = store
        self.quotas = quotas
        self.groups = groups

    def query(self, ctx: RequestContext) -> Select[Any]:
        q = select(m.SecurityGroupRule)
        visible = policy.visible_rules(ctx)
        return q if visible is None else q.where(visible)

    def get(self, s: Session, ctx: RequestContext, rule_id: str) -> m.SecurityGroupRule:
        r = s.get(m.SecurityGroupRule, rule_id)
        if r is None or not policy.may_see_rule(ctx, r):
            raise errors.rule_not_found(rule_id)
        return r

    def views(self, s: Session, rows: list[m.SecurityGroupRule]) -> list[dict[str, Any]]:
        return [views.rule(x) for x in rows]

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        """A rule in a group the caller sees (and a remote group it sees), unless the
        group already has the same rule."""
        spec = parse_rule(body)
        sg_id = body.get("security_group_id")
        if not isinstance(sg_id, str):
            raise errors.required_attribute("security_group_id")
        with self.store.db.transaction() as s:
            sg = self.groups.get(s, ctx, sg_id)
            if spec.remote_group_id is not None:
                self.groups.get(s, ctx, spec.remote_group_id)
            self.quotas.check(s, sg.project_id, "security_group_rule")
            # a duplicate is the same rule up to the prefix's host bits, as in Neutron
            wanted = astuple(spec)[:5] + (normalized_cidr(spec.remote_ip_prefix),
                                          spec.remote_group_id)
            for r in s.scalars(select(m.SecurityGroupRule).where(
                    m.SecurityGroupRule.security_group_id == sg_id)):
                if (r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max,
                        normalized_cidr(r.remote_ip_prefix), r.remote_group_id) == wanted:
                    raise errors.rule_exists(r.id)
            rule = m.SecurityGroupRule(
                id=new_id(), security_group_id=sg_id, project_id=sg.project_id,
                direction=spec.direction, ethertype=spec.ethertype, protocol=spec.protocol,
                port_range_min=spec.port_range_min, port_range_max=spec.port_range_max,
                remote_ip_prefix=spec.remote_ip_prefix, remote_group_id=spec.remote_group_id,
                description=text(body, "description"))
            s.add(rule)
            sg.revision_number += 1
            s.flush()
            out = views.rule(rule, sg.is_default)
        self.store.changed("security_group", sg_id)
        return out

    def update(self, ctx: RequestContext, rule_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        raise errors.update_not_supported("security_group_rule")

    def delete(self, ctx: RequestContext, rule_id: str) -> None:
        with self.store.db.transaction() as s:
            r = self.get(s, ctx, rule_id)
            sg_id = r.security_group_id
            s.delete(r)
        self.store.changed("security_group", sg_id)
