"""Who may see and do what in the network service: every ownership and admin check.

Neutron's default policy, as this cloud applies it: an admin sees and changes
everything; a project sees its own resources, shared and external networks (and
their subnets), and the ports on networks it owns; it changes only what it owns.
Visibility rules are WHERE clauses (a row the caller may not see is "not found",
never "forbidden"); the checks raise the refusal Neutron gives. The domain modules
call these and hold no `is_admin` test of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from overcast.kit.context import RequestContext
from overcast.kit.errors import Forbidden
from overcast.network import errors
from overcast.network import models as m

#: Network attributes only an admin may set (on create) to a truthy value.
ADMIN_NETWORK_ATTRS = ("shared", "router:external", "provider:network_type",
                       "provider:physical_network", "provider:segmentation_id")
#: Network attributes only an admin may change.
ADMIN_NETWORK_UPDATES = ("shared", "router:external")


# ---------------------------------------------------------------- visibility
def visible_networks(ctx: RequestContext) -> ColumnElement[bool]:
    if ctx.is_admin:
        return m.Network.id.isnot(None)
    return or_(m.Network.project_id == ctx.project_id, m.Network.shared.is_(True),
               m.Network.external.is_(True))


def visible_subnets(ctx: RequestContext) -> ColumnElement[bool]:
    if ctx.is_admin:
        return m.Subnet.id.isnot(None)
    nets = select(m.Network.id).where(or_(m.Network.shared.is_(True),
                                          m.Network.external.is_(True)))
    return or_(m.Subnet.project_id == ctx.project_id, m.Subnet.network_id.in_(nets))


def visible_ports(ctx: RequestContext) -> ColumnElement[bool]:
    if ctx.is_admin:
        return m.Port.id.isnot(None)
    mine = select(m.Network.id).where(m.Network.project_id == ctx.project_id)
    return or_(m.Port.project_id == ctx.project_id, m.Port.network_id.in_(mine))


def visible_groups(ctx: RequestContext) -> ColumnElement[bool]:
    return m.SecurityGroup.id.isnot(None) if ctx.is_admin else \
        m.SecurityGroup.project_id == ctx.project_id


def visible_rules(ctx: RequestContext) -> ColumnElement[bool] | None:
    """None: no restriction (an admin)."""
    return None if ctx.is_admin else m.SecurityGroupRule.project_id == ctx.project_id


def visible_routers(ctx: RequestContext) -> ColumnElement[bool]:
    return m.Router.id.isnot(None) if ctx.is_admin else \
        m.Router.project_id == ctx.project_id


def visible_floatingips(ctx: RequestContext) -> ColumnElement[bool]:
    return m.FloatingIP.id.isnot(None) if ctx.is_admin else \
        m.FloatingIP.project_id == ctx.project_id


def may_see_rule(ctx: RequestContext, rule: m.SecurityGroupRule) -> bool:
    return ctx.is_admin or rule.project_id == ctx.project_id


# ---------------------------------------------------------------- ownership
def must_own(ctx: RequestContext, project_id: str, what: str) -> None:
    """Changing or deleting a visible resource needs its project (or admin)."""
    if not ctx.is_admin and project_id != ctx.project_id:
        raise errors.policy_forbids(f"Policy doesn't allow this operation on a {what} of "
                                    "another project.")


def check_create_for(ctx: RequestContext, project: str, what: str) -> None:
    """Only an admin creates a resource for another project."""
    if project != ctx.project_id and not ctx.is_admin:
        raise errors.policy_forbids(f"Cannot create a {what} for another project.")


def _disallowed(action: str, key: str) -> Forbidden:
    return errors.policy_forbids(f"(rule:{action} and rule:{action}:{key}) is disallowed "
                                 "by policy")


def check_network_create(ctx: RequestContext, body: Mapping[str, Any]) -> None:
    for key in ADMIN_NETWORK_ATTRS:
        if key in body and not ctx.is_admin and body[key] not in (False, None):
            raise _disallowed("create_network", key)


def check_network_update(ctx: RequestContext, body: Mapping[str, Any]) -> None:
    for key in ADMIN_NETWORK_UPDATES:
        if key in body and not ctx.is_admin:
            raise _disallowed("update_network", key)


def check_subnet_on(ctx: RequestContext, net: m.Network) -> None:
    """A subnet goes only on one's own network: another project's private network
    stays invisible, a shared or external one is refused."""
    if not ctx.is_admin and net.project_id != ctx.project_id:
        if not (net.shared or net.external):
            raise errors.not_found("Network", net.id)
        raise errors.policy_forbids("Policy doesn't allow create_subnet on a network of "
                                    "another project.")


#: Port attributes only an admin may set (Neutron's `create_port:binding:host_id`,
#: `create_port:binding:profile` and their updates are `rule:admin_only`).
ADMIN_PORT_ATTRS = ("binding:host_id", "binding:profile")


def check_owner_project(ctx: RequestContext, body: Mapping[str, Any], what: str) -> None:
    """Only an admin names another project as a new resource's owner."""
    for key in ("project_id", "tenant_id"):
        value = body.get(key)
        if value and value != ctx.project_id and not ctx.is_admin:
            raise errors.policy_forbids(f"(rule:create_{what} and rule:create_{what}:"
                                        f"{key}) is disallowed by policy")


def check_port_on(ctx: RequestContext, net: m.Network, owner: str) -> None:
    """A port goes on one's own or a shared network (an admin's, anywhere)."""
    if not ctx.is_admin and net.project_id != ctx.project_id and not net.shared:
        raise errors.policy_forbids(f"Policy doesn't allow create_port on network {net.id} "
                                    "of another project.")


def check_port_attrs(ctx: RequestContext, net: m.Network, body: Mapping[str, Any],
                     action: str) -> None:
    """Neutron's per-attribute port rules: binding fields are for admins; a
    `network:*` device owner, a chosen MAC and chosen fixed addresses are for the
    network's owner (so nobody takes a router's gateway address, or an address on a
    shared network, by hand)."""
    if ctx.is_admin:
        return
    for key in ADMIN_PORT_ATTRS:
        if key in body and body[key] not in (None, "", {}):
            raise _disallowed(action, key)
    if net.project_id == ctx.project_id:
        return
    owner = body.get("device_owner")
    if isinstance(owner, str) and owner.startswith("network:"):
        raise _disallowed(action, "device_owner")
    if body.get("mac_address") is not None and action == "create_port":
        raise _disallowed(action, "mac_address")
    fixed = body.get("fixed_ips")
    if isinstance(fixed, list) and any(isinstance(f, dict) and "ip_address" in f
                                       for f in fixed):
        raise _disallowed(action, "fixed_ips:ip_address")


def check_own_port(ctx: RequestContext, port: m.Port, project_id: str | None,
                   what: str) -> None:
    """Another project's port (seen through a network one owns) is not one's to use."""
    if not ctx.is_admin and port.project_id != project_id:
        raise errors.port_of_other_project(port.id, what)


def check_interface_subnet(ctx: RequestContext, net: m.Network) -> None:
    """A router's interface goes on a subnet of one's own network: never on the
    external network, nor on a network shared by another project, whose gateway
    address it would take from everyone on it (a port of one's own on that network
    joins it instead)."""
    if ctx.is_admin:
        return
    if net.external or net.project_id != ctx.project_id:
        raise errors.policy_forbids(f"Policy doesn't allow add_router_interface on a "
                                    f"subnet of network {net.id}: it is not the "
                                    "project's own.")


def may_use_group(ctx: RequestContext, sg: m.SecurityGroup | None, project_id: str) -> bool:
    """A port may carry only groups of its own project (any, for an admin)."""
    return sg is not None and (ctx.is_admin or sg.project_id == project_id)


def may_change_mac(ctx: RequestContext, port: m.Port) -> bool:
    """Only an admin changes a MAC, and only on an unbound port."""
    return ctx.is_admin and not port.binding_host_id


def check_remove_group(ctx: RequestContext, sg: m.SecurityGroup) -> None:
    if sg.is_default and not ctx.is_admin:
        raise errors.default_group_remove()


def check_fip_port(ctx: RequestContext, port: m.Port, fip: m.FloatingIP) -> None:
    """A floating IP goes only to a port of its own project (an admin may cross)."""
    if not ctx.is_admin and port.project_id != fip.project_id:
        raise errors.not_found("Port", port.id)


def may_boot_on(ctx: RequestContext, net: m.Network) -> bool:
    """Servers boot on visible networks, but on an external one only when it is the
    project's own or shared (or for an admin)."""
    return not (net.external and not ctx.is_admin and net.project_id != ctx.project_id
                and not net.shared)


def check_tag_owner(ctx: RequestContext, obj: Any) -> None:
    if not ctx.is_admin and getattr(obj, "project_id", None) not in (ctx.project_id,):
        raise errors.policy_forbids("Not allowed to change tags of another project's "
                                    "resource.")


# ---------------------------------------------------------------- quotas
def check_quota_reader(ctx: RequestContext, project_id: str) -> None:
    if not ctx.is_admin and project_id != ctx.project_id:
        raise Forbidden("Only admin is authorized to access quotas for another tenant",
                        type="AdminRequired")


def check_quota_admin(ctx: RequestContext, verb: str) -> None:
    """Setting (`update`) or resetting (`reset`) quotas is for admins."""
    if not ctx.is_admin:
        raise Forbidden(f"Only admin can {verb} quotas", type="AdminRequired")



def may_see_agents(ctx: RequestContext) -> bool:
    """Agents are the operator's: Neutron's get_agent is admin-only, and a project's
    listing is empty rather than refused."""
    return ctx.is_admin
