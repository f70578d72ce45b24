"""The Neutron extensions this cloud advertises (GET /v2.0/extensions): what the
clients probe before they use a feature, so one goes on this list only when the
resources answer with its attributes and behaviour."""

from __future__ import annotations

from typing import Any

from overcast.network import errors, views

#: (alias, name, description), as Neutron describes each
EXTENSIONS: list[tuple[str, str, str]] = [
    ("agent", "agent", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
                                "application"),
    ("external-net", "Neutron external network", "Adds external network attribute to "
                                                 "network resource."),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP."),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute "
                                                               "to Floating IP resource"),
    ("ip-substring-filtering", "IP address substring filtering", "Provides IP address "
                                                                 "substring filtering when "
                                                                 "listing ports"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("network-ip-availability", "Network IP Availability", "Provides IP availability data "
                                                           "for each network and subnet."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
                                               "field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical "
                                     "networks"),
    ("quotas", "Quota management support", "Expose functions for quotas management per "
                                           "tenant"),
    ("quota_details", "Quota details management support", "Expose functions for quotas "
                                                          "usage statistics per project"),
    ("revision-if-match", "If-Match constraints based on revision_number", "Extension "
     "indicating that If-Match based on revision_number is supported."),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
                                    "Neutron networks and access to external networks via "
                                    "a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the "
     "router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("security-group", "security-group", "The security groups extension."),
    ("service-type", "Neutron Service Type Management", "API for retrieving service "
                                                        "providers for Neutron advanced "
                                                        "services"),
    ("standard-attr-description", "standard-attr-description", "Extension to add "
     "descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display "
     "the revision number of neutron resources."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at "
                                                       "fields to all Neutron resources "
                                                       "that have Neutron standard "
                                                       "attributes."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, "
     "trunk, network_segment_range, router, network, policy, subnetpool, port, "
     "security_group, floatingip", "Enables to set tag on resources with standard "
                                   "attribute."),
    ("stateful-security-group", "Stateful security group", "Extension adding possibility "
     "to define a security group as stateful or stateless."),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a "
                                               "subnet pool"),
    ("default-subnetpools", "Default Subnetpools", "Provides ability to mark and use a "
                                                   "subnetpool as the default."),
    ("subnet-external-network", "Subnet External Network", "Informs if the subnet is "
                                                           "external or not"),
    ("subnet-service-types", "Subnet service types", "Provides ability to set the subnet "
                                                     "service_types field"),
    ("sorting", "Sorting support", "Enables sort feature in resource collections."),
    ("pagination", "Pagination support", "Enables pagination feature in resource "
                                         "collections."),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter "
                                                           "parameters."),
    ("fields-filter", "Fields filter", "Allows filtering of fields"),
]


#: (service_type, name, default): the providers of the services beyond L2 that this
#: cloud has, as Neutron lists its configured service_provider drivers. overcast's
#: routers (the L3 service) are its own, in the agents' router namespaces.
SERVICE_PROVIDERS: list[tuple[str, str, bool]] = [("L3_ROUTER_NAT", "overcast", True)]


def service_providers() -> list[dict[str, Any]]:
    return [{"service_type": t, "name": n, "default": d} for t, n, d in SERVICE_PROVIDERS]


def listing() -> list[dict[str, Any]]:
    return [views.extension(a, n, d) for a, n, d in EXTENSIONS]


def find(alias: str) -> dict[str, Any]:
    for a, n, d in EXTENSIONS:
        if a == alias:
            return views.extension(a, n, d)
    raise errors.extension_not_found(alias)
