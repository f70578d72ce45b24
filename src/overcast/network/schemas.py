"""Neutron's request schemas: every body and query string of the network API, checked
at the door before any service code runs.

Written from neutron-lib's attribute maps (`neutron_lib/api/definitions/*.py`: each
attribute's `allow_post`/`allow_put`, its validator and its converter) and Neutron's
own extensions (security groups, quotas, tags). What they give:
- names are `name_string` (255 printable characters, no leading or trailing blank),
  descriptions, device ids and owners and project ids `string` of 255 (here also
  without NUL, which no database column holds);
- ids are `uuid` (`security_group_id` of a rule is a 36-character string, as in
  Neutron), addresses IPs, `mac_address` a MAC, enums from `type:values`
  (`binding:vnic_type`, `direction`, IPv6 modes, `ip_version`), booleans what
  `convert_to_boolean` accepts, dicts and lists where Neutron wants them
  (`binding:profile`, `dns_nameservers`, `security_groups`, `fixed_ips`);
- the limits Neutron's defaults set: 5 DNS servers and 20 host routes per subnet,
  50 tags of 255 characters per resource, quotas from -1 to 2**31-1.
An attribute Neutron does not know (or may not write) is refused as Neutron refuses
it: "Unrecognized attribute(s) 'x'"; read-only ones are listed on each update schema
so the route answers "Cannot update read-only attribute x" as before.

Refusals read as Neutron's ("Invalid input for mac_address. Reason: 'x' is not a valid
MAC address."), naming the attribute rather than its path in the body, and never
quote more than a few dozen characters of what was sent.
"""

from __future__ import annotations

import re
from typing import Any

import fastjsonschema

from overcast.kit.errors import BadRequest
from overcast.kit.schema import Schema

#: Neutron's DB_INTEGER_MAX_VALUE: integers its columns hold.
DB_INT_MAX = 2**31 - 1
VNIC_TYPES = ["normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "vdpa", "accelerator-direct",
              "accelerator-direct-physical", "remote-managed"]
IPV6_MODES = ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"]
#: what oslo's bool_from_string(strict=True) takes, as Neutron's convert_to_boolean
BOOL_STRINGS = r"^(?i:1|0|t|f|true|false|on|off|y|n|yes|no)$"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _short(value: Any, limit: int = 48) -> str:
    """The value as a refusal quotes it: cut short, control characters escaped."""
    text = str(value)
    text = text if len(text) <= limit else text[:limit] + "..."
    return _CONTROL.sub(lambda c: f"\\x{ord(c.group()):02x}", text)


class NeutronSchema(Schema):
    """A schema whose refusals are Neutron's: "Invalid input for <attribute>. Reason:
    <validator's sentence>." A sub-schema's `x-reason` ("{}" for the value) words the
    validator's sentence for that attribute."""

    #: body keys that wrap the attributes ({"port": {...}}, {"ports": [...]})
    wrappers: tuple[str, ...]

    def __init__(self, schema: dict[str, Any], wrappers: tuple[str, ...] = (),
                 body_error: str | None = None) -> None:
        super().__init__(schema, "neutron")
        self.wrappers = wrappers
        #: what a body that is wrong as a whole gets (Neutron's own sentence)
        self.body_error = body_error

    def check(self, body: Any) -> Any:
        try:
            return self._check(body)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise self._refusal(exc) from None

    def _refusal(self, exc: fastjsonschema.JsonSchemaValueException) -> BadRequest:
        path = list(exc.path)[1:]
        while path and (path[0] in self.wrappers or isinstance(path[0], int)):
            path = path[1:]
        rule, definition, value = exc.rule, exc.definition or {}, exc.value
        if self.body_error and not path:
            return BadRequest(self.body_error, type="HTTPBadRequest")
        if rule == "additionalProperties" and isinstance(value, dict):
            known = set(definition.get("properties", {}))
            extra = ", ".join(sorted(str(k) for k in value if k not in known))
            if path:  # inside an attribute: Neutron's dict validator
                return BadRequest(f"Invalid input for {path[0]}. Reason: Unexpected keys "
                                  f"supplied: {_short(extra, 200)}.", type="HTTPBadRequest")
            return BadRequest(f"Unrecognized attribute(s) '{_short(extra, 200)}'",
                              type="HTTPBadRequest")
        if rule == "required":
            missing = [k for k in definition.get("required", [])
                       if not isinstance(value, dict) or k not in value]
            name = missing[0] if missing else "?"
            if path:  # inside an attribute: Neutron's dict validator
                given = sorted(value) if isinstance(value, dict) else []
                return BadRequest(
                    f"Invalid input for {path[0]}. Reason: Validation of dictionary's keys "
                    f"failed. Expected keys: {sorted(definition.get('required', []))} "
                    f"Provided keys: {_short(given, 200)}.", type="HTTPBadRequest")
            if name not in self.wrappers:
                return BadRequest(f"Failed to parse request. Required attribute '{name}' "
                                  "not specified", type="HTTPBadRequest")
            return BadRequest(f"Resource body required: a '{name}' object.",
                              type="HTTPBadRequest")
        field = str(path[0]) if path else "body"
        return BadRequest(f"Invalid input for {field}. Reason: {_reason(exc)}.",
                          type="HTTPBadRequest")


_TYPE_REASONS = {"string": "'{}' is not a valid string", "integer": "'{}' is not an integer",
                 "boolean": "'{}' is not a valid boolean value",
                 "object": "'{}' is not a dictionary", "array": "'{}' is not a list",
                 "null": "'{}' is not None"}
_FORMAT_REASONS = {"uuid": "'{}' is not a valid UUID", "mac_address":
                   "'{}' is not a valid MAC address", "ipv4": "'{}' is not a valid IP address",
                   "ipv6": "'{}' is not a valid IP address",
                   "cidr": "'{}' is not a valid IP subnet", "name": "'{}' is not a valid string"}


def _reason(exc: fastjsonschema.JsonSchemaValueException) -> str:
    rule, definition, value = exc.rule, exc.definition or {}, exc.value
    shown = _short(value)
    custom = definition.get("x-reason")
    if custom and rule not in ("maxLength", "maxItems", "uniqueItems", "minimum",
                               "maximum"):
        return str(custom).format(shown)
    if rule == "type":
        kinds = definition.get("type")
        first = kinds[0] if isinstance(kinds, list) else kinds
        return _TYPE_REASONS.get(str(first), "'{}' is of the wrong type").format(shown)
    if rule == "maxLength":
        return f"'{shown}' exceeds maximum length of {definition['maxLength']}"
    if rule == "enum":
        return f"{shown} is not in {definition['enum']}"
    if rule == "minimum":
        return f"'{shown}' is too small - must be at least '{definition['minimum']}'"
    if rule == "maximum":
        return f"'{shown}' is too large - must be no larger than '{definition['maximum']}'"
    if rule == "format":
        return _FORMAT_REASONS.get(str(definition.get("format")),
                                   "'{}' is not a valid input").format(shown)
    if rule == "maxItems":
        return f"at most {definition['maxItems']} items are allowed"
    if rule == "uniqueItems":
        return f"Duplicate items in the list: '{shown}'"
    return f"'{shown}' is not a valid input"


# --- attribute shapes (neutron-lib's validators) ----------------------------------
#: type:name_string: printable, no blank at either end
NAME: dict[str, Any] = {"type": "string", "maxLength": 255, "format": "name",
                        "pattern": r"^(?!\s)[\s\S]*(?<!\s)$",
                        "x-reason": "'{}' is not a valid string"}
#: type:string (without NUL, which no database column stores)


def text(max_length: int = 255, *, null: bool = False) -> dict[str, Any]:
    return {"type": ["string", "null"] if null else "string", "maxLength": max_length,
            "pattern": r"^[^\x00]*$", "x-reason": "'{}' is not a valid string"}


DESCRIPTION = text(255)
PROJECT = text(255)
BOOL: dict[str, Any] = {"type": ["boolean", "string", "null"], "pattern": BOOL_STRINGS,
                        "x-reason": "'{}' is not a valid boolean value"}
UUID: dict[str, Any] = {"type": "string", "format": "uuid",
                        "x-reason": "'{}' is not a valid UUID"}
UUID_OR_NONE: dict[str, Any] = {"type": ["string", "null"], "format": "uuid",
                                "x-reason": "'{}' is not a valid UUID"}
IP: dict[str, Any] = {"type": "string", "maxLength": 64,
                      "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
                      "x-reason": "'{}' is not a valid IP address"}
IP_OR_NONE: dict[str, Any] = {**IP, "type": ["string", "null"],
                              "anyOf": [{"type": "null"}, {"format": "ipv4"},
                                        {"format": "ipv6"}]}
#: an address or a CIDR checked (and canonicalised) by the service
ADDRESS_TEXT = text(64)
MAC: dict[str, Any] = {"type": "string", "format": "mac_address",
                       "x-reason": "'{}' is not a valid MAC address"}
FIXED_IPS: dict[str, Any] = {
    "type": ["array", "null"],
    "x-reason": "Invalid data format for fixed IP: '{}'",
    "items": {"type": "object", "x-reason": "Invalid data format for fixed IP: '{}'",
              "properties": {"subnet_id": UUID, "ip_address": IP}}}
ROUTES: dict[str, Any] = {  # type:hostroutes
    "type": ["array", "null"], "x-reason": "Invalid data format for hostroute: '{}'",
    "items": {"type": "object", "x-reason": "Invalid data format for hostroute: '{}'",
              "properties": {"destination": ADDRESS_TEXT, "nexthop": ADDRESS_TEXT},
              "required": ["destination", "nexthop"], "additionalProperties": False}}
STRINGS: dict[str, Any] = {"type": "array", "items": text(255)}
#: written by older clients, accepted and not acted on (as an empty AZ list is)
AZ_HINTS: dict[str, Any] = {"type": "array", "maxItems": 16, "items": text(255)}


def _resource(singular: str, collection: str, create: dict[str, Any],
              update: dict[str, Any], read_only: tuple[str, ...],
              required: tuple[str, ...] = ()) -> tuple[NeutronSchema, NeutronSchema]:
    """The create schema (one resource or a bulk list of them) and the update schema
    (writable attributes; read-only ones pass through to the route's refusal)."""
    item = {"type": "object", "x-reason": "Body contains invalid data",
            "properties": {**create, "tenant_id": PROJECT, "project_id": PROJECT},
            "additionalProperties": False}
    if required:
        item["required"] = list(required)
    new = NeutronSchema({
        "type": ["object", "null"], "x-reason": "Body contains invalid data",
        "properties": {singular: item, collection: {"type": "array", "items": item}}},
        (singular, collection))
    changes = NeutronSchema({
        "type": ["object", "null"], "x-reason": "Body contains invalid data",
        "properties": {singular: {
            "type": "object", "x-reason": "Body contains invalid data",
            "properties": {**update, **{k: {} for k in read_only}},
            "additionalProperties": False}},
        "required": [singular]}, (singular,))
    return new, changes


#: attributes every resource shows and nobody writes
STANDARD_READ_ONLY = ("id", "project_id", "tenant_id", "created_at", "updated_at",
                      "revision_number", "status")

# --- networks (network, provider_net, external_net, port_security, network_mtu_writable)
_NETWORK = {"name": NAME, "description": DESCRIPTION, "admin_state_up": BOOL,
            "shared": BOOL, "router:external": BOOL, "port_security_enabled": BOOL,
            "mtu": {"type": "integer", "minimum": 0, "maximum": DB_INT_MAX},
            "availability_zone_hints": AZ_HINTS}
_PROVIDER = {"provider:network_type": text(32, null=True),
             "provider:physical_network": text(64, null=True),
             "provider:segmentation_id": {"type": ["integer", "null"], "minimum": 0,
                                          "maximum": DB_INT_MAX}}
NETWORK_READ_ONLY = (*STANDARD_READ_ONLY, "subnets")
NETWORK_CREATE, NETWORK_UPDATE = _resource(
    "network", "networks", {**_NETWORK, **_PROVIDER}, {**_NETWORK, **_PROVIDER},
    NETWORK_READ_ONLY)

# --- subnets -----------------------------------------------------------------------
_SUBNET_COMMON = {
    "name": NAME, "description": DESCRIPTION, "enable_dhcp": BOOL,
    "gateway_ip": {"type": ["string", "null"], "maxLength": 64, "pattern": r"^[^\x00]*$",
                   "x-reason": "'{}' is not a valid IP address"},
    "allocation_pools": {
        "type": ["array", "null"], "x-reason": "Invalid data format for IP pool: '{}'",
        "items": {"type": "object", "x-reason": "Invalid data format for IP pool: '{}'",
                  "properties": {"start": ADDRESS_TEXT, "end": ADDRESS_TEXT},
                  "required": ["start", "end"], "additionalProperties": False}},
    "dns_nameservers": {"type": ["array", "null"], "maxItems": 5,
                        "x-reason": "Invalid data format for nameserver: '{}'",
                        "items": ADDRESS_TEXT},
    "host_routes": {**ROUTES, "maxItems": 20},
    "service_types": STRINGS,
}
SUBNET_READ_ONLY = (*STANDARD_READ_ONLY, "network_id", "ip_version", "cidr",
                    "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "router:external")
SUBNET_CREATE, SUBNET_UPDATE = _resource("subnet", "subnets", {
    **_SUBNET_COMMON, "network_id": UUID,
    "ip_version": {"type": "integer", "enum": [4, 6]},
    "cidr": text(64, null=True),
    "ipv6_ra_mode": {"enum": [*IPV6_MODES, None]},
    "ipv6_address_mode": {"enum": [*IPV6_MODES, None]},
    "subnetpool_id": UUID_OR_NONE,
    "prefixlen": {"type": "integer", "minimum": 0, "maximum": 128},
    "use_default_subnetpool": BOOL,
}, _SUBNET_COMMON, SUBNET_READ_ONLY, ("network_id",))

# --- subnet pools (neutron-lib api/definitions/subnetpool.py) ----------------------
_PREFIXLEN: dict[str, Any] = {"type": ["integer", "string", "null"], "pattern": r"^[0-9]{1,3}$",
                              "minimum": 0, "maximum": 128,
                              "x-reason": "'{}' is not an integer"}
_POOL = {"name": NAME, "description": DESCRIPTION,
         "prefixes": {"type": "array", "maxItems": 1000, "items": ADDRESS_TEXT,
                      "x-reason": "Invalid data format for prefixes: '{}'"},
         "default_prefixlen": _PREFIXLEN, "min_prefixlen": _PREFIXLEN,
         "max_prefixlen": _PREFIXLEN, "is_default": BOOL,
         # accepted as Neutron accepts them when not used (no address scopes or
         # per-pool quotas here): only null
         "address_scope_id": {"type": "null"}, "default_quota": {"type": "null"}}
POOL_CREATE, POOL_UPDATE = _resource(
    "subnetpool", "subnetpools", {**_POOL, "shared": BOOL}, _POOL,
    (*STANDARD_READ_ONLY, "ip_version", "shared"), ("prefixes",))

# --- ports (port, portbindings, port_security, allowedaddresspairs, dns, extra_dhcp_opt)
_PORT = {
    "name": NAME, "description": DESCRIPTION, "admin_state_up": BOOL,
    "mac_address": MAC, "fixed_ips": FIXED_IPS,
    "device_id": text(255), "device_owner": text(255),
    "binding:host_id": text(255, null=True),
    "binding:vnic_type": {"type": "string", "enum": VNIC_TYPES},
    "binding:profile": {"type": ["object", "null"], "x-reason": "'{}' is not a dictionary"},
    "port_security_enabled": BOOL,
    "security_groups": {"type": ["array", "null"], "x-reason": "'{}' is not a list",
                        "items": UUID},
    "allowed_address_pairs": {
        "type": ["array", "null"], "x-reason": "'{}' is not a list",
        "items": {"type": "object", "x-reason": "'{}' is not a dictionary",
                  "properties": {"ip_address": ADDRESS_TEXT, "mac_address": MAC},
                  "additionalProperties": False}},
    "dns_name": text(255),
    "extra_dhcp_opts": {
        "type": ["array", "null"],
        "items": {"type": "object",
                  "properties": {"opt_name": text(255), "opt_value": text(255, null=True),
                                 "ip_version": {"type": ["integer", "null"],
                                                "enum": [4, 6, None]}},
                  "additionalProperties": False}},
}
PORT_READ_ONLY = (*STANDARD_READ_ONLY, "network_id", "binding:vif_type",
                  "binding:vif_details")
PORT_CREATE, PORT_UPDATE = _resource("port", "ports", {**_PORT, "network_id": UUID},
                                     _PORT, PORT_READ_ONLY, ("network_id",))

# --- security groups and rules (neutron/extensions/securitygroup.py) ---------------
_GROUP = {"name": NAME, "description": DESCRIPTION, "stateful": BOOL}
GROUP_CREATE, GROUP_UPDATE = _resource("security_group", "security_groups", _GROUP,
                                       _GROUP, (*STANDARD_READ_ONLY,
                                                "security_group_rules"))
_RULE = {
    "security_group_id": text(36),
    # Neutron does not check its form: an id that names no group is a 404
    "remote_group_id": text(255, null=True),
    "direction": {"enum": ["ingress", "egress"]},
    # names and numbers are checked by the service, in Neutron's words
    "protocol": {"type": ["string", "integer", "null"], "maxLength": 40,
                 "pattern": r"^[^\x00]*$"},
    "port_range_min": {"type": ["integer", "null"]},
    "port_range_max": {"type": ["integer", "null"]},
    "ethertype": text(40, null=True),
    "remote_ip_prefix": {"type": ["string", "null"], "maxLength": 64,
                         "pattern": r"^[^\x00]*$",
                         "x-reason": "'{}' is not a valid IP prefix"},
    "description": DESCRIPTION,
}
RULE_CREATE, RULE_UPDATE = _resource(
    "security_group_rule", "security_group_rules", _RULE, {"description": DESCRIPTION},
    (*STANDARD_READ_ONLY, *(k for k in _RULE if k != "description")),
    ("security_group_id", "direction"))

# --- routers and floating IPs (l3, extraroute, ext-gw-mode) -------------------------
_GATEWAY = {"type": ["object", "null"], "x-reason": "'{}' is not a dictionary",
            "properties": {"network_id": UUID, "enable_snat": BOOL,
                           "external_fixed_ips": FIXED_IPS},
            "additionalProperties": False}
_ROUTER = {"name": NAME, "description": DESCRIPTION, "admin_state_up": BOOL,
           "external_gateway_info": _GATEWAY, "availability_zone_hints": AZ_HINTS}
ROUTER_CREATE, ROUTER_UPDATE = _resource(
    "router", "routers", _ROUTER, {**_ROUTER, "routes": {**ROUTES, "maxItems": 30}},
    STANDARD_READ_ONLY)
_FIP = {"description": DESCRIPTION, "port_id": UUID_OR_NONE,
        "fixed_ip_address": IP_OR_NONE}
FIP_READ_ONLY = (*STANDARD_READ_ONLY, "floating_network_id", "floating_ip_address",
                 "subnet_id", "router_id", "floating_port_id")
FIP_CREATE, FIP_UPDATE = _resource(
    "floatingip", "floatingips",
    {**_FIP, "floating_network_id": UUID, "floating_ip_address": IP_OR_NONE,
     "subnet_id": UUID_OR_NONE}, _FIP, FIP_READ_ONLY, ("floating_network_id",))

# --- router interfaces (l3's add/remove_router_interface) ------------------------
ROUTER_INTERFACE = NeutronSchema({
    "type": ["object", "null"], "x-reason": "Body contains invalid data",
    "properties": {"subnet_id": UUID, "port_id": UUID}})

# --- quotas (quotasv2: convert_to_int, type:range [-1, DB_INTEGER_MAX_VALUE]) -------
QUOTA_RESOURCES = ("network", "subnet", "port", "router", "floatingip", "security_group",
                   "security_group_rule")
_QUOTA_VALUE = {"type": ["integer", "string"], "pattern": r"^-?[0-9]{1,10}$",
                "minimum": -1, "maximum": DB_INT_MAX, "x-reason": "'{}' is not an integer"}
QUOTA_UPDATE = NeutronSchema({
    "type": ["object", "null"], "x-reason": "Body contains invalid data",
    "properties": {"quota": {
        "type": "object", "x-reason": "'{}' is not a dictionary",
        "properties": {k: _QUOTA_VALUE for k in QUOTA_RESOURCES},
        "additionalProperties": False}},
    "required": ["quota"]}, ("quota",))

# --- tags (neutron/extensions/tagging.py: MAX_TAG_LEN, MAX_TAGS_COUNT) ---------------
MAX_TAG_LEN = 255
MAX_TAGS = 50
TAGS = NeutronSchema({
    "type": "object",
    "properties": {"tags": {"type": "array", "x-reason": "Invalid tags body",
                            "maxItems": MAX_TAGS, "uniqueItems": True,
                            "items": text(MAX_TAG_LEN)}},
    "required": ["tags"]}, body_error="Invalid tags body")

# --- agents (neutron/extensions/agent.py: only these two are writable) ------------
AGENT_UPDATE = NeutronSchema({
    "type": "object", "x-reason": "Body contains invalid data",
    "properties": {"agent": {
        "type": "object", "x-reason": "Body contains invalid data",
        "properties": {"admin_state_up": BOOL, "description": text(255, null=True)},
        "additionalProperties": False}},
    "required": ["agent"]}, ("agent",))

# --- query strings ---------------------------------------------------------------
#: a filter on an integer attribute: a decimal of at most 64 bits, checked again
#: against the column by the listing
QUERY_INT: dict[str, Any] = {"type": "string", "pattern": r"^-?[0-9]{1,19}$",
                             "x-reason": "'{}' is not an integer"}
QUERY_BOOL: dict[str, Any] = {"type": "string", "pattern": BOOL_STRINGS,
                              "x-reason": "'{}' is not a valid boolean value"}
QUERY_TEXT = text(255)
_PAGING = {
    "limit": {"type": "string", "pattern": r"^[0-9]{1,19}$",
              "x-reason": "Limit must be an integer 0 or greater and not '{}'"},
    "marker": QUERY_TEXT, "sort_key": QUERY_TEXT,
    "sort_dir": QUERY_TEXT, "fields": QUERY_TEXT, "page_reverse": QUERY_BOOL,
    "tags": QUERY_TEXT, "tags-any": QUERY_TEXT, "not-tags": QUERY_TEXT,
    "not-tags-any": QUERY_TEXT,
}


def list_query(ints: tuple[str, ...] = (), bools: tuple[str, ...] = ()) -> NeutronSchema:
    """A collection's query string: paging, sorting, fields, and filters (integer and
    boolean attributes typed; the others plain text, unknown ones refused by the
    listing as Neutron's filter-validation refuses them)."""
    props: dict[str, Any] = {**_PAGING, **{k: QUERY_INT for k in ints},
                             **{k: QUERY_BOOL for k in bools}}
    return NeutronSchema({"type": "object", "properties": props,
                          "additionalProperties": QUERY_TEXT})


NETWORK_QUERY = list_query(("mtu", "revision_number", "provider:segmentation_id"),
                           ("admin_state_up", "shared", "router:external",
                            "port_security_enabled"))
SUBNET_QUERY = list_query(("ip_version", "revision_number"), ("enable_dhcp",
                                                              "router:external"))
PORT_QUERY = list_query(("revision_number",), ("admin_state_up", "port_security_enabled"))
GROUP_QUERY = list_query(("revision_number",), ("stateful",))
RULE_QUERY = list_query(("port_range_min", "port_range_max"))
ROUTER_QUERY = list_query(("revision_number",), ("admin_state_up",))
FIP_QUERY = list_query(("revision_number",))
AGENT_QUERY = list_query((), ("alive", "admin_state_up"))
POOL_QUERY = list_query(("ip_version", "revision_number", "default_prefixlen",
                         "min_prefixlen", "max_prefixlen"), ("shared", "is_default"))
#: service providers filter on their three attributes only
PROVIDER_QUERY = NeutronSchema({"type": "object", "properties": {
    "fields": QUERY_TEXT, "service_type": QUERY_TEXT, "name": QUERY_TEXT,
    "default": QUERY_BOOL}, "additionalProperties": False})
#: showing one resource takes `fields` (others are ignored, as Neutron ignores them)
SHOW_QUERY = NeutronSchema({"type": "object", "properties": {"fields": QUERY_TEXT},
                            "additionalProperties": QUERY_TEXT})
