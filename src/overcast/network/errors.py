"""The network service's errors, each written once with Neutron's wording and type.

Neutron's clients read `NeutronError.type` (the exception class name Neutron would
raise) and tests assert the messages, so every refusal the service makes is built
here by a small factory named after what went wrong; the domain modules raise
these and never spell a message inline. `kit.errors` turns them into the wire body.
"""

from __future__ import annotations

from typing import Any

from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed

_LABELS = {"Network": "Network", "Subnet": "Subnet", "Port": "Port",
           "SecurityGroup": "Security group", "SecurityGroupRule": "Security group rule",
           "Router": "Router", "FloatingIP": "Floating IP", "Agent": "Agent",
           "SubnetPool": "Subnet pool"}


# ---------------------------------------------------------------- generic shapes
def http_bad_request(message: str) -> BadRequest:
    """A malformed attribute or body (Neutron's HTTPBadRequest)."""
    return BadRequest(message, type="HTTPBadRequest")


def invalid_input(detail: str) -> BadRequest:
    """A well-formed but unacceptable value (Neutron's InvalidInput)."""
    return BadRequest(f"Invalid input for operation: {detail}", type="InvalidInput")


def bad_request(what: str, detail: str) -> BadRequest:
    """Neutron's BadRequest for a resource: 'Bad router request: ...'."""
    return BadRequest(f"Bad {what} request: {detail}", type="BadRequest")


def not_found(kind: str, ident: str) -> NotFound:
    """A resource that does not exist or that the caller may not see."""
    return NotFound(f"{_LABELS[kind]} {ident} could not be found.", type=f"{kind}NotFound")


def policy_forbids(message: str) -> Forbidden:
    return Forbidden(message, type="PolicyNotAuthorized")


# ---------------------------------------------------------------- request bodies
def malformed_body() -> BadRequest:
    return http_bad_request("Malformed request body")


def resource_body_required(key: str) -> BadRequest:
    return http_bad_request(f"Resource body required: a '{key}' object.")


def required_attribute(name: str) -> BadRequest:
    return http_bad_request(f"Failed to parse request. Required attribute '{name}' not "
                            "specified")


def read_only(key: str) -> BadRequest:
    return http_bad_request(f"Cannot update read-only attribute {key}")


def invalid_string(key: str, value: Any) -> BadRequest:
    return http_bad_request(f"Invalid input for {key}. Reason: '{value}' is not a valid "
                            "string (at most 255 characters).")


def invalid_boolean(key: str, value: Any) -> BadRequest:
    return http_bad_request(f"Invalid input for {key}. Reason: '{value}' is not a valid "
                            "boolean value.")


def invalid_field(key: str, reason: str = "") -> BadRequest:
    """'Invalid input for <key>.' with an optional reason after it."""
    return http_bad_request(f"Invalid input for {key}{reason}")


def bulk_item_invalid() -> BadRequest:
    return http_bad_request("Invalid bulk item")


def update_not_supported(kind: str) -> BadRequest:
    return http_bad_request(f"Updating a {kind} is not supported.")


def revision_mismatch(want: str, have: int) -> PreconditionFailed:
    return PreconditionFailed(f"Constraint revision_number={want} not met: the resource is "
                              f"at revision {have}.", type="RevisionNumberConstraintFailed")


# ---------------------------------------------------------------- listing and tags
def invalid_filter(key: str) -> BadRequest:
    return http_bad_request(f"[{key}] is invalid attribute for filtering")


def invalid_filter_value(raw: str, kind: str) -> BadRequest:
    return http_bad_request(f"Invalid input for filter: '{raw}' is not {kind}.")


def invalid_fixed_ips_filter(raw: str) -> BadRequest:
    return http_bad_request(f"Invalid fixed_ips filter {raw}")


def invalid_sort_key(key: str) -> BadRequest:
    return http_bad_request(f"{key} is invalid attribute for sort_keys")


def invalid_sort_dir(value: str) -> BadRequest:
    return http_bad_request(f"{value} is invalid value for sort_dirs, valid value is 'asc' "
                            "and 'desc'")


def marker_not_found(marker: str) -> NotFound:
    return NotFound(f"Marker {marker} could not be found.")


def tagged_not_found(kind: str, ident: str) -> NotFound:
    return NotFound(f"{kind} {ident} could not be found.")


def tag_not_found(tag: str) -> NotFound:
    return NotFound(f"Tag {tag} could not be found.", type="TagNotFound")


def invalid_tag(tag: Any) -> BadRequest:
    return http_bad_request(f"Invalid tag {tag!r}")


def invalid_tags_body() -> BadRequest:
    return http_bad_request("Invalid tags body")


def extension_not_found(alias: str) -> NotFound:
    return NotFound(f"Extension with alias {alias} does not exist", type="HTTPNotFound")


# ---------------------------------------------------------------- quotas
def over_quota(resource: str) -> Conflict:
    return Conflict(f"Quota exceeded for resources: ['{resource}'].", type="OverQuota")


def unrecognized_attribute(key: str) -> BadRequest:
    return BadRequest(f"Unrecognized attribute(s) '{key}'")


def invalid_quota(key: str, value: Any) -> BadRequest:
    return BadRequest(f"Invalid input for {key}. Reason: '{value}' is not a valid integer "
                      "(>= -1).")


# ---------------------------------------------------------------- networks
def network_type_unsupported(ntype: str) -> BadRequest:
    return invalid_input(f"network_type value '{ntype}' not supported.")


def flat_needs_physnet() -> BadRequest:
    return invalid_input("physical_network required for flat provider network.")


def unknown_physnet(physnet: str) -> BadRequest:
    return invalid_input(f"physical_network '{physnet}' unknown for flat provider network.")


def flat_network_in_use(physnet: str) -> Conflict:
    return Conflict(f"Unable to create the flat network. Physical network {physnet} is in "
                    "use.", type="FlatNetworkInUse")


def vxlan_with_physnet() -> BadRequest:
    return invalid_input("provider:physical_network specified for vxlan network.")


def segmentation_id_out_of_range(seg: Any) -> BadRequest:
    return invalid_input(f"segmentation_id {seg} out of range.")


def tunnel_id_in_use(seg: int) -> Conflict:
    return Conflict(f"Unable to create the network. The tunnel ID {seg} is in use.",
                    type="TunnelIdInUse")


def mtu_too_big(maximum: int) -> BadRequest:
    return invalid_input(f"Requested MTU is too big, maximum is {maximum}.")


def provider_update_unsupported() -> BadRequest:
    return BadRequest("Plugin does not support updating provider attributes",
                      type="InvalidInput")


def network_in_use(net_id: str) -> Conflict:
    return Conflict(f"Unable to complete operation on network {net_id}. There are one or "
                    "more ports still in use on the network.", type="NetworkInUse")


# ---------------------------------------------------------------- subnets
def ip_version_invalid(version: Any) -> BadRequest:
    return http_bad_request(f"Invalid input for ip_version. Reason: {version} is not in "
                            "[4, 6].")


def cidr_required() -> BadRequest:
    return BadRequest("Bad subnets request: a cidr must be specified in the absence of a "
                      "subnet pool.", type="BadRequest")


def gateway_not_valid(cidr: Any) -> BadRequest:
    return invalid_input(f"Gateway is not valid on subnet {cidr}.")


def duplicate_nameserver() -> BadRequest:
    return http_bad_request("Invalid input for dns_nameservers. Reason: Duplicate "
                            "nameserver.")


def host_route_shape() -> BadRequest:
    return http_bad_request("Invalid input for host_routes: each route is "
                            "{destination, nexthop}.")


def ipv6_mode_invalid(value: Any) -> BadRequest:
    return http_bad_request(f"Invalid input for ipv6 mode: '{value}'.")


def ipv6_mode_on_v4() -> BadRequest:
    return invalid_input("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp "
                         "is set to False or ip_version is 4.")


def ipv6_modes_differ(ra: str, mode: str) -> BadRequest:
    return invalid_input(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
                         f"'{mode}' is not valid.")


def slaac_needs_64() -> BadRequest:
    return invalid_input("Invalid CIDR for IPv6 address mode: SLAAC needs a /64 prefix.")


def subnet_overlaps(cidr: Any, net_id: str) -> BadRequest:
    return invalid_input(f"Requested subnet with cidr: {cidr} for network: {net_id} "
                         "overlaps with another subnet.")


def subnet_in_use(subnet_id: str) -> Conflict:
    return Conflict(f"Unable to complete operation on subnet {subnet_id}: One or more ports "
                    "have an IP allocation from this subnet.", type="SubnetInUse")


# ---------------------------------------------------------------- ports and addresses
def mac_invalid(mac: Any) -> BadRequest:
    return http_bad_request(f"Invalid input for mac_address. Reason: '{mac}' is not a valid "
                            "MAC address.")


def mac_multicast(mac: str) -> BadRequest:
    return http_bad_request(f"Invalid input for mac_address: '{mac}' is multicast.")


def mac_in_use(net_id: str, mac: str) -> Conflict:
    return Conflict(f"Unable to complete operation for network {net_id}. The mac address "
                    f"{mac} is in use.", type="MacAddressInUse")


def mac_generation_failed() -> Conflict:
    return Conflict("Unable to generate a unique mac address.",
                    type="MacAddressGenerationFailure")


def address_pairs_not_list() -> BadRequest:
    return http_bad_request("Invalid input for allowed_address_pairs: it must be a list.")


def address_pair_missing_ip() -> BadRequest:
    return BadRequest("Invalid input for allowed_address_pairs: each pair needs an "
                      "ip_address.", type="AllowedAddressPairsMissingIP")


def fixed_ips_invalid_subnet(net_id: str, subnet_id: str) -> BadRequest:
    return invalid_input(f"Failed to create port on network {net_id}, because fixed_ips "
                         f"included invalid subnet {subnet_id}.")


def ip_not_on_network(addr: str) -> BadRequest:
    return BadRequest(f"Invalid input for operation: IP address {addr} is not a valid IP "
                      "for any of the subnets on the specified network.",
                      type="InvalidIpForNetwork")


def ip_not_on_subnet(addr: str) -> BadRequest:
    return BadRequest(f"Invalid input for operation: IP address {addr} is not a valid IP "
                      "for the specified subnet.", type="InvalidIpForSubnet")


def fixed_ip_shape() -> BadRequest:
    return http_bad_request("Invalid input for fixed_ips: each needs subnet_id and/or "
                            "ip_address.")


def ip_in_use(addr: str, subnet_id: str) -> Conflict:
    return Conflict(f"IP address {addr} already allocated in subnet {subnet_id}",
                    type="IpAddressAlreadyAllocated")


def no_more_addresses(net_id: str) -> Conflict:
    return Conflict(f"No more IP addresses available on network {net_id}.",
                    type="IpAddressGenerationFailure")


def groups_need_port_security(type_: str) -> Conflict:
    """PortSecurityAndIPRequiredForSecurityGroups on a write, and
    PortSecurityPortHasSecurityGroup when security is turned off under groups."""
    return Conflict("Port has security group associated. Cannot disable port security or "
                    "ip address until security group is removed", type=type_)


def pairs_need_port_security() -> Conflict:
    return Conflict("Port Security must be enabled in order to have allowed address pairs "
                    "on a port.", type="AddressPairAndPortSecurityRequired")


def port_bound(port_id: str, old_mac: str, new_mac: Any) -> Conflict:
    return Conflict(f"Unable to complete operation on port {port_id}, port is already "
                    f"bound, port type: tap, old_mac {old_mac}, new_mac {new_mac}.",
                    type="PortBound")


def service_port(port_id: str, owner: str) -> Conflict:
    return Conflict(f"Port {port_id} cannot be deleted directly via the port API: has "
                    f"device owner {owner}.", type="ServicePortInUse")


def port_in_use(port_id: str) -> Conflict:
    return Conflict(f"Port {port_id} is still in use.", type="PortInUse")


def port_not_usable(port_id: str) -> Conflict:
    """Nova's PortNotUsable: a server boots only on its own project's ports."""
    return Conflict(f"Port {port_id} not usable for instance: it belongs to another "
                    "project.", type="PortNotUsable")


def port_of_other_project(port_id: str, what: str) -> Forbidden:
    return policy_forbids(f"Port {port_id} belongs to another project: it cannot be "
                          f"used for {what}.")


def port_used_by_other_device(port_id: str) -> Conflict:
    return Conflict(f"Port {port_id} is in use by another device.", type="PortInUse")


# ---------------------------------------------------------------- security groups
def group_not_found(sg_id: str) -> NotFound:
    return NotFound(f"Security group {sg_id} does not exist", type="SecurityGroupNotFound")


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound(f"Security group rule {rule_id} does not exist",
                    type="SecurityGroupRuleNotFound")


def default_group_exists() -> Conflict:
    return Conflict("Default security group already exists.",
                    type="SecurityGroupDefaultAlreadyExists")


def default_group_rename() -> Conflict:
    return Conflict("Updating default security group not allowed.",
                    type="SecurityGroupCannotUpdateDefault")


def default_group_remove() -> Conflict:
    return Conflict("Insufficient rights for removing default security group.",
                    type="SecurityGroupCannotRemoveDefault")


def group_in_use(sg_id: str) -> Conflict:
    return Conflict(f"Security Group {sg_id} in use.", type="SecurityGroupInUse")


def rule_direction_invalid(direction: Any) -> BadRequest:
    return http_bad_request(f"Invalid input for direction. Reason: {direction} is not in "
                            "['ingress', 'egress'].")


def rule_ethertype_invalid(ethertype: Any) -> BadRequest:
    return http_bad_request(f"Invalid input for ethertype. Reason: {ethertype} is not in "
                            "['IPv4', 'IPv6'].")


def rule_protocol_number_invalid(proto: str) -> BadRequest:
    return BadRequest(f"Security group rule protocol {proto} not supported.",
                      type="SecurityGroupRuleInvalidProtocol")


def rule_protocol_invalid(proto: str) -> BadRequest:
    return BadRequest(f"Security group rule protocol {proto} not supported. Only protocol "
                      "values [None, tcp, udp, icmp, icmpv6, ...] and integer "
                      "representations [0 to 255] are supported.",
                      type="SecurityGroupRuleInvalidProtocol")


def icmpv6_with_ipv4() -> BadRequest:
    return BadRequest("Protocol ipv6-icmp is not supported with ethertype IPv4.",
                      type="SecurityGroupEthertypeConflictWithProtocol")


def rule_port_invalid(value: Any) -> BadRequest:
    return BadRequest(f"Invalid value for port {value}.", type="InvalidInput")


def rule_ports_need_protocol() -> BadRequest:
    return BadRequest("Must also specify protocol if port range is given.",
                      type="SecurityGroupProtocolRequiredWithPorts")


def rule_port_range_invalid() -> BadRequest:
    return BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                      type="SecurityGroupInvalidPortRange")


def rule_icmp_type_missing(code: Any) -> BadRequest:
    return BadRequest(f"ICMP code (port-range-max) {code} is provided but ICMP type "
                      "(port-range-min) is missing.", type="SecurityGroupMissingIcmpType")


def rule_icmp_value_invalid(field: str, attr: str, value: Any) -> BadRequest:
    return BadRequest(f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to "
                      "255.", type="SecurityGroupInvalidIcmpValue")


def rule_protocol_has_no_ports(proto: str) -> BadRequest:
    return BadRequest(f"Invalid protocol {proto} for port range, only supported for TCP, "
                      "UDP, UDPLITE, SCTP and DCCP.",
                      type="SecurityGroupInvalidProtocolForPort")


def rule_two_remotes() -> BadRequest:
    return BadRequest("Only one of remote_ip_prefix, remote_group_id and "
                      "remote_address_group_id may be provided.",
                      type="SecurityGroupRemoteGroupAndRemoteIpPrefix")


def rule_ethertype_conflict(ethertype: str, prefix: Any) -> BadRequest:
    return BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                      type="SecurityGroupRuleParameterConflict")


def rule_prefix_invalid(prefix: Any) -> BadRequest:
    return BadRequest(f"Invalid CIDR {str(prefix)[:64]} given as IP prefix.",
                      type="InvalidCIDR")


def rule_exists(rule_id: str) -> Conflict:
    return Conflict(f"Security group rule already exists. Rule id is {rule_id}.",
                    type="SecurityGroupRuleExists")


# ---------------------------------------------------------------- routers
def gateway_in_use_by_fips(router_id: str) -> Conflict:
    return Conflict(f"Gateway cannot be updated for router {router_id}, since a gateway to "
                    "external network is required by one or more floating IPs.",
                    type="RouterExternalGatewayInUseByFloatingIp")


def gateway_info_invalid() -> BadRequest:
    return http_bad_request("Invalid input for external_gateway_info: network_id is "
                            "required.")


def not_external(net_id: str) -> BadRequest:
    return bad_request("router", f"Network {net_id} is not an external network.")


def routes_shape() -> BadRequest:
    return http_bad_request("Invalid input for routes: each is {destination, nexthop}.")


def nexthop_not_connected(hop: Any) -> BadRequest:
    return BadRequest(f"Invalid format for routes: the nexthop {hop} is not connected with "
                      "router", type="InvalidRoutes")


def router_has_ports(router_id: str) -> Conflict:
    return Conflict(f"Router {router_id} still has ports", type="RouterInUse")


def router_has_fips(router_id: str) -> Conflict:
    return Conflict(f"Router {router_id} still has floating IPs associated.",
                    type="RouterInUse")


def interface_needs_one_of() -> BadRequest:
    return bad_request("router", "Either subnet_id or port_id must be specified.")


def subnet_has_no_gateway(subnet_id: str) -> BadRequest:
    return bad_request("router", f"Subnet {subnet_id} does not have a gateway IP.")


def router_port_needs_ip() -> BadRequest:
    return bad_request("router", "Router port must have at least one fixed IP.")


def interface_overlaps(cidr: str, subnet_id: str, other_cidr: str, other_id: str
                       ) -> BadRequest:
    return bad_request("router", f"Cidr {cidr} of subnet {subnet_id} overlaps with cidr "
                                 f"{other_cidr} of subnet {other_id}.")


def interface_not_found(router_id: str, what: Any, by_subnet: bool) -> NotFound:
    return NotFound(f"Router {router_id} does not have an interface with id {what}",
                    type="RouterInterfaceNotFoundForSubnet" if by_subnet
                    else "RouterInterfaceNotFound")


def interface_in_use_by_fips(subnet_id: str, router_id: str) -> Conflict:
    return Conflict(f"Router interface for subnet {subnet_id} on router {router_id} cannot "
                    "be deleted, as it is required by one or more floating IPs.",
                    type="RouterInterfaceInUseByFloatingIP")


# ---------------------------------------------------------------- floating IPs
def fip_not_found(fip_id: str) -> NotFound:
    return NotFound(f"Floating IP {fip_id} could not be found", type="FloatingIPNotFound")


def fip_port_lacks_ip(port_id: str, fixed: str) -> BadRequest:
    return bad_request("floatingip", f"Port {port_id} does not have fixed ip {fixed}.")


def fip_port_no_ipv4(port_id: str) -> BadRequest:
    return bad_request("floatingip", f"Port {port_id} does not have any IPv4 address.")


def fip_unreachable(net_id: str, subnet_id: str, port_id: str) -> NotFound:
    return NotFound(f"External network {net_id} is not reachable from subnet {subnet_id}.  "
                    f"Therefore, cannot associate Port {port_id} with a Floating IP.",
                    type="ExternalGatewayForFloatingIPNotFound")


def fip_fixed_ip_taken(fip: str, port_id: str, fixed: str, net_id: str) -> Conflict:
    return Conflict(f"Cannot associate floating IP {fip} with port {port_id} using fixed "
                    f"IP {fixed}, as that fixed IP already has a floating IP on external "
                    f"network {net_id}.", type="FloatingIPPortAlreadyAssociated")


def fip_network_not_external(net_id: str) -> BadRequest:
    return bad_request("floatingip", f"Network {net_id} is not a valid external network.")


def fip_network_no_ipv4(net_id: str) -> BadRequest:
    return bad_request("floatingip", f"Network {net_id} has no IPv4 subnet.")


# ---------------------------------------------------------------- compute's requests
# These reach the user through Nova's API, so they carry no Neutron type.
def no_port_security_for_groups() -> BadRequest:
    return BadRequest("Security groups cannot be applied to this server: it has no port "
                      "with port security enabled.")


def group_not_on_server(name: str, instance_uuid: str) -> BadRequest:
    return BadRequest(f"Security group {name} not associated with the instance "
                      f"{instance_uuid}")


def group_name_not_found(name: str, project_id: str | None) -> str:
    return f"Security group {name} not found for project {project_id}."


def group_name_ambiguous(name: str) -> str:
    return f"Multiple security groups found matching '{name}'. Use an ID to be more specific."


def bad_networks_format(detail: str = "") -> BadRequest:
    return BadRequest(f"Bad networks format{detail}")


def requested_port_not_found(port_id: str) -> BadRequest:
    return BadRequest(f"Port id {port_id} could not be found.")


def port_for_many_instances() -> BadRequest:
    return BadRequest("Multiple instances with the same port can not be created.")


def requested_network_not_found(net_id: str) -> BadRequest:
    return BadRequest(f"Network {net_id} could not be found.")


def network_needs_subnet(net_id: str) -> BadRequest:
    return BadRequest(f"Network {net_id} requires a subnet in order to boot instances on.")


def fixed_ip_for_many_instances() -> BadRequest:
    return BadRequest("Multiple instances with the same fixed IP can not be created.")


# ---------------------------------------------------------------- addresses (ipam)
# Neutron words these without an exception type of their own.
def cidr_invalid(raw: Any) -> BadRequest:
    return BadRequest(f"Invalid input for cidr. Reason: '{raw}' is not a valid IP subnet.")


def cidr_not_recommended(raw: str, net: Any) -> BadRequest:
    return BadRequest(f"Invalid input for cidr. Reason: '{raw}' isn't a recommended CIDR, "
                      f"use '{net}' instead.")


def cidr_version_mismatch() -> BadRequest:
    return BadRequest("Invalid input for operation: cidr and ip_version are inconsistent.")


def cidr_too_small(net: Any) -> BadRequest:
    return BadRequest(f"Invalid input for operation: the subnet {net} is too small for any "
                      "address to be allocated.")


def ip_invalid(what: str, raw: Any) -> BadRequest:
    return BadRequest(f"Invalid input for {what}. Reason: '{raw}' is not a valid IP address.")


def pools_not_list() -> BadRequest:
    return BadRequest("Invalid input for allocation_pools: it must be a list of "
                      "{start, end} objects.")


def pool_shape() -> BadRequest:
    return BadRequest("Invalid input for allocation_pools: each pool is "
                      "{\"start\": ..., \"end\": ...}.")


def pool_outside_cidr(start: Any, end: Any, net: Any) -> BadRequest:
    return BadRequest(f"The allocation pool {start}-{end} spans beyond the subnet cidr {net}.")


def pool_reversed(start: Any, end: Any) -> BadRequest:
    return BadRequest(f"The allocation pool {start}-{end} is not valid: its start is after "
                      "its end.")


def pools_overlap(start: Any, end: Any) -> BadRequest:
    return BadRequest(f"Found overlapping allocation pools: {start}-{end} overlaps another "
                      "pool.")


def gateway_in_pool(gateway: str, first: Any, last: Any) -> BadRequest:
    return BadRequest(f"Gateway ip {gateway} conflicts with allocation pool {first}-{last}")


def agent_admin_state_fixed() -> BadRequest:
    """overcast's agents take no per-agent scheduling: one cannot be taken out of it."""
    return invalid_input("overcast schedules no network or router per agent, so an "
                         "agent cannot be set admin_state_up false.")


# ---------------------------------------------------------------- subnet pools
def subnetpool_in_use(pool_id: str) -> Conflict:
    return Conflict(f"Unable to complete operation on subnet pool {pool_id}. Subnet pool "
                    "has existing allocations.", type="SubnetPoolInUse")


def subnetpool_prefix_versions() -> BadRequest:
    return BadRequest("Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
                      type="PrefixVersionMismatch")


def subnetpool_prefix_bounds(kind: str, length: int, base_kind: str, base: int
                             ) -> BadRequest:
    return BadRequest(f"Illegal prefix bounds: {kind}={length}, {base_kind}={base}.",
                      type="IllegalSubnetPoolPrefixBounds")


def subnetpool_prefixes_shrunk() -> BadRequest:
    return BadRequest("Illegal update to prefixes: Existing prefixes must be a subset of "
                      "the new prefixes", type="IllegalSubnetPoolPrefixUpdate")


def subnet_allocation(reason: str) -> BadRequest:
    return BadRequest(f"Failed to allocate subnet: {reason}.", type="SubnetAllocationError")


def subnetpool_version_mismatch(version: int, pool_version: int) -> BadRequest:
    return invalid_input(f"Cannot allocate IPv{version} subnet from IPv{pool_version} "
                         "subnet pool")

