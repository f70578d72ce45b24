"""What an identity request may carry, in two steps.

First the JSON Schemas (after Keystone's `*/schema.py` and its
`parameter_types`): every body and query string of the Keystone routes is checked
by one of them (`@accepts` in api.py) before any service code runs, and a refusal is
a 400 in Keystone's words, "Invalid input for field 'user/name': reason". Types,
lengths, enums and patterns are Keystone's; where Keystone sets no bound, the one
the store has (the parser's below). Names must also be printable (no NUL or
control characters), and no other string may hold a NUL, which no store keeps.

Then one parser per request body, turning the checked JSON into the plain dict
the resource modules take (only the keys the caller sent), and the query filters
of the listings; they keep the rules a schema cannot say (an endpoint URL's
scheme, a region id matching its URL) in Keystone's words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from overcast.identity.compliance import USER_OPTIONS as USER_OPTION_NAMES
from overcast.kit import validate as val
from overcast.kit.errors import BadRequest
from overcast.kit.schema import Schema, query_int, string

#: Query parameters that carry a comma-separated list.
LIST_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")

#: Keystone's answer to a body that is JSON but not an object (its json_body hook).
NOT_AN_OBJECT = ("Expecting to find valid JSON in request body. The server could not "
                 "comply with the request since it is either malformed or otherwise "
                 "incorrect. The client is assumed to be in error.")


class KeystoneSchema(Schema):
    """A request schema worded as Keystone words a refusal.

    Keystone reads no body as `{}` and refuses JSON that is not an object before
    validating; a refusal at the top names no field; and the token body is
    validated below its `auth` key (so fields read `identity/methods`), which
    `root` says."""

    def __init__(self, schema: Mapping[str, Any], root: str | None = None) -> None:
        super().__init__(schema, "keystone")
        self.root = root
        # The validator splits a path at dots: "role.id" would come back "role/id".
        self.dotted = {k.replace(".", "/"): k for k in schema.get("properties", {})
                       if "." in k}

    def check(self, body: Any) -> Any:
        if body is None:
            body = {}
        elif not isinstance(body, dict):
            raise BadRequest(NOT_AN_OBJECT)
        try:
            return super().check(body)
        except BadRequest as err:
            raise BadRequest(self._reword(err.message)) from None

    def _reword(self, message: str) -> str:
        head = "Invalid input for field '"
        for split, key in self.dotted.items():
            if message.startswith(f"{head}{split}'"):
                message = head + key + message[len(head + split):]
        for top in ("body", self.root):
            if top and message.startswith(f"{head}{top}': "):
                return message[len(f"{head}{top}': "):]
        if self.root and message.startswith(f"{head}{self.root}/"):
            return head + message[len(f"{head}{self.root}/"):]
        return message


# --------------------------------------------------------------- parameter types
#: No NUL: PostgreSQL refuses it in text and bcrypt-based Keystone in passwords.
NO_NUL = "^[^\\x00]*$"
#: Keystone's `name`: 1 to 255 characters, not all blank; printable here.
NAME = {**string(255, min_length=1), "pattern": "[\\S]+"}
#: Keystone's project and domain names are at most 64 characters.
NAME_64 = {**string(64, min_length=1), "pattern": "[\\S]+"}
#: Keystone's `id_string` (and `domain_id`, `project_id`): letters, digits, dashes.
ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-zA-Z0-9-]+$"}
ID_OR_NULL = {**ID, "type": ["string", "null"]}
BOOL = {"type": "boolean"}


def text(max_length: int, *, nullable: bool = True, min_length: int = 0) -> dict[str, Any]:
    """Free text (descriptions, passwords, URLs): any character but NUL."""
    out = string(max_length, min_length=min_length, fmt=None, pattern=NO_NUL)
    if nullable:
        out["type"] = ["string", "null"]
    return out


def _anycase(words: tuple[str, ...]) -> str:
    alts = ["".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in w)
            for w in words]
    return "^(" + "|".join(alts) + ")$"


#: The words Keystone takes for a boolean in a query string (any case here).
TRUE_WORDS = ("true", "1", "yes", "y", "on", "")
FALSE_WORDS = ("false", "0", "no", "n", "off")
QUERY_BOOL = {"type": "string", "pattern": _anycase(TRUE_WORDS + FALSE_WORDS)}
QUERY_TEXT = {"type": "string", "maxLength": 255, "pattern": NO_NUL}
#: A tag, after the API-WG's rules that Keystone follows: no '/' or ','.
TAG = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/\\x00]*$"}
TAG_LIST = {"type": "array", "items": TAG, "maxItems": 80, "uniqueItems": True}
OPTIONS = {"type": "object"}


def wrapped(key: str, properties: dict[str, Any], *, required: tuple[str, ...] = (),
            extra: bool = True, min_properties: int = 0) -> dict[str, Any]:
    """`{"<key>": {...}}`, the shape of every Keystone resource body."""
    inner: dict[str, Any] = {"type": "object", "properties": properties,
                             "additionalProperties": extra}
    if required:
        inner["required"] = list(required)
    if min_properties:
        inner["minProperties"] = min_properties
    return {"type": "object", "properties": {key: inner}, "required": [key],
            "additionalProperties": False}


def listing(properties: dict[str, Any], *, extra: bool = True) -> dict[str, Any]:
    """A list route's query string: Keystone's filters, plus `limit` and `marker`;
    unknown parameters pass (Keystone ignores them), unless `extra` is False."""
    return {"type": "object", "additionalProperties": extra,
            "properties": {**properties, "limit": query_int(),
                           "marker": QUERY_TEXT}}


# ------------------------------------------------------------------ auth/tokens
_DOMAIN_REF = {"type": "object", "properties": {
    "id": text(64, nullable=False), "name": NAME_64}}
_USER_REF = {"type": "object", "properties": {
    "id": text(64, nullable=False), "name": NAME, "domain": _DOMAIN_REF,
    "password": text(4096, nullable=False)}}
_AUTH = {
    "type": "object",
    "properties": {
        "identity": {
            "type": "object",
            "properties": {
                "methods": {"type": "array", "items": {"type": "string",
                                                       "maxLength": 255}},
                "password": {"type": "object", "properties": {"user": _USER_REF}},
                "token": {"type": "object", "properties": {
                    "id": text(65535, nullable=False)}, "required": ["id"]},
                "application_credential": {"type": "object", "properties": {
                    "id": text(64, nullable=False), "name": NAME,
                    "secret": text(4096, nullable=False), "user": _USER_REF}},
            },
            "required": ["methods"],
        },
        # "unscoped" as a string, or an object (old keystoneauth sends {"unscoped": {}})
        "scope": {
            "type": ["object", "string"],
            "properties": {
                "project": {"type": "object", "properties": {
                    "id": text(64, nullable=False), "name": NAME_64,
                    "domain": _DOMAIN_REF}},
                "domain": _DOMAIN_REF,
                "OS-TRUST:trust": {"type": "object", "properties": {
                    "id": text(64, nullable=False)}},
                "system": {"type": "object", "properties": {"all": BOOL}},
            },
        },
    },
    "required": ["identity"],
}
TOKEN_ISSUE = KeystoneSchema({"type": "object", "properties": {"auth": _AUTH},
                              "required": ["auth"]}, root="auth")
TOKEN_ISSUE_QUERY = KeystoneSchema({"type": "object", "properties": {
    "nocatalog": QUERY_TEXT}})
TOKEN_VALIDATE_QUERY = KeystoneSchema({"type": "object", "properties": {
    "nocatalog": QUERY_TEXT, "allow_expired": QUERY_BOOL}})

# ---------------------------------------------------------------------- domains
_DOMAIN = {"name": NAME_64, "description": text(255), "enabled": BOOL,
           "explicit_domain_id": ID, "id": ID, "tags": TAG_LIST, "options": OPTIONS}
DOMAIN_CREATE = KeystoneSchema(wrapped("domain", _DOMAIN, required=("name",)))
DOMAIN_UPDATE = KeystoneSchema(wrapped("domain", _DOMAIN, min_properties=1))
DOMAIN_LIST = KeystoneSchema(listing({"name": NAME_64, "enabled": QUERY_BOOL}))

# --------------------------------------------------------------------- projects
_PROJECT = {"name": NAME_64, "description": text(65535), "enabled": BOOL,
            "is_domain": BOOL, "domain_id": ID_OR_NULL, "parent_id": ID_OR_NULL,
            "tags": TAG_LIST, "options": OPTIONS}
PROJECT_CREATE = KeystoneSchema(wrapped("project", _PROJECT, required=("name",)))
PROJECT_UPDATE = KeystoneSchema(wrapped("project", _PROJECT))
PROJECT_LIST = KeystoneSchema(listing({
    "name": NAME_64, "domain_id": ID, "enabled": QUERY_BOOL, "parent_id": ID,
    "is_domain": QUERY_BOOL, **{f: QUERY_TEXT for f in LIST_FILTERS}}))
PROJECT_TAGS = KeystoneSchema({"type": "object", "properties": {"tags": TAG_LIST},
                               "required": ["tags"], "additionalProperties": False})
#: `PUT /v3/projects/{id}/tags/{tag}`: Keystone checks the URL's tag (as {"tag": tag}).
PROJECT_TAG = KeystoneSchema({"type": "object", "properties": {"tag": TAG}})

# ------------------------------------------------------------------------ users
#: The user resource options overcast honours (compliance.USER_OPTIONS): each a
#: boolean, null to remove it; any other name is refused, as Keystone does.
USER_OPTIONS = {"type": "object", "additionalProperties": False, "properties": {
    name: {"type": ["boolean", "null"]} for name in USER_OPTION_NAMES}}
_USER = {"name": NAME, "password": text(4096), "enabled": BOOL,
         "domain_id": ID_OR_NULL, "default_project_id": text(64),
         "description": text(65535), "options": USER_OPTIONS,
         "federated": {"type": "array", "items": {"type": "object"}}}
USER_CREATE = KeystoneSchema(wrapped("user", _USER, required=("name",)))
USER_UPDATE = KeystoneSchema(wrapped("user", _USER, min_properties=1))
_SORT = {"sort_key": QUERY_TEXT, "sort_dir": {"type": "string", "enum": ["asc", "desc"]}}
USER_LIST = KeystoneSchema(listing({
    "name": NAME, "domain_id": ID, "enabled": QUERY_BOOL, "idp_id": QUERY_TEXT,
    "protocol_id": QUERY_TEXT, "unique_id": QUERY_TEXT,
    "password_expires_at": QUERY_TEXT, **_SORT}))
PASSWORD_CHANGE = KeystoneSchema(wrapped("user", {
    "original_password": text(4096, nullable=False),
    "password": text(4096, nullable=False)},
    required=("original_password", "password"), extra=False))

# ----------------------------------------------------------------------- groups
_GROUP = {"name": NAME, "description": text(65535), "domain_id": ID_OR_NULL}
GROUP_CREATE = KeystoneSchema(wrapped("group", _GROUP, required=("name",)))
GROUP_UPDATE = KeystoneSchema(wrapped("group", _GROUP, min_properties=1))
GROUP_LIST = KeystoneSchema(listing({"name": NAME, "domain_id": ID, **_SORT}))

# ------------------------------------------------------------------------ roles
_ROLE = {"name": NAME, "description": text(255), "domain_id": ID_OR_NULL,
         "options": OPTIONS}
ROLE_CREATE = KeystoneSchema(wrapped("role", _ROLE, required=("name",)))
ROLE_UPDATE = KeystoneSchema(wrapped("role", _ROLE, min_properties=1))
ROLE_LIST = KeystoneSchema(listing({"name": NAME, "domain_id": ID}))

# ---------------------------------------------------------------------- catalog
_REGION_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
              "pattern": NO_NUL}
_REGION = {"id": {**_REGION_ID, "minLength": 0}, "description": text(255),
           "parent_region_id": _REGION_ID}
REGION_CREATE = KeystoneSchema(wrapped("region", _REGION))
REGION_UPDATE = KeystoneSchema(wrapped("region", _REGION, min_properties=1))
REGION_LIST = KeystoneSchema(listing({"parent_region_id": _REGION_ID}, extra=False))

_SERVICE = {"type": {**string(255, min_length=1, fmt=None), "pattern": NO_NUL},
            "name": {**string(255, min_length=1, fmt=None), "pattern": NO_NUL},
            "description": text(65535), "enabled": BOOL}
SERVICE_CREATE = KeystoneSchema(wrapped("service", _SERVICE, required=("type",)))
SERVICE_UPDATE = KeystoneSchema(wrapped("service", _SERVICE, min_properties=1))
SERVICE_LIST = KeystoneSchema(listing({"type": QUERY_TEXT, "name": QUERY_TEXT}))

_INTERFACE = {"type": "string", "enum": ["admin", "internal", "public"]}
_ENDPOINT = {"interface": _INTERFACE, "service_id": text(64, nullable=False),
             "region_id": _REGION_ID, "region": _REGION_ID,
             "url": {"type": "string", "maxLength": 225,
                     "pattern": "^[a-zA-Z0-9+.-]+:[^\\x00]+$"},
             "enabled": BOOL, "description": text(65535)}
ENDPOINT_CREATE = KeystoneSchema(wrapped(
    "endpoint", _ENDPOINT, required=("interface", "service_id", "url")))
ENDPOINT_UPDATE = KeystoneSchema(wrapped("endpoint", _ENDPOINT, min_properties=1))
ENDPOINT_LIST = KeystoneSchema(listing({
    "interface": _INTERFACE, "service_id": QUERY_TEXT, "region_id": QUERY_TEXT}))

# ------------------------------------------- policies, endpoint groups, consumers
POLICY_CREATE = KeystoneSchema(wrapped("policy", {"type": string(255, min_length=1),
                                                  "blob": text(65535, nullable=False)},
                                       required=("type", "blob")))
POLICY_UPDATE = KeystoneSchema(wrapped("policy", {"type": string(255, min_length=1),
                                                  "blob": text(65535, nullable=False)},
                                       min_properties=1))
POLICY_LIST = KeystoneSchema(listing({"type": QUERY_TEXT}))
#: What an endpoint group may filter on (Keystone's valid filter keys).
EP_FILTER_KEYS = ("interface", "service_id", "region_id")
_EP_FILTERS = {"type": "object", "additionalProperties": False, "minProperties": 1,
               "properties": {"interface": _INTERFACE, "service_id": ID,
                              "region_id": string(255, min_length=1)}}
_EP_GROUP = {"name": NAME, "description": text(65535), "filters": _EP_FILTERS}
EP_GROUP_CREATE = KeystoneSchema(wrapped("endpoint_group", _EP_GROUP,
                                         required=("name", "filters"), extra=False))
EP_GROUP_UPDATE = KeystoneSchema(wrapped("endpoint_group", _EP_GROUP, extra=False,
                                         min_properties=1))
EP_GROUP_LIST = KeystoneSchema(listing({"name": QUERY_TEXT}))
CONSUMER_CREATE = KeystoneSchema(wrapped("consumer", {"description": text(65535)}))
CONSUMER_UPDATE = KeystoneSchema(wrapped("consumer", {"description": text(65535)}))


def policy_doc(body: Any, create: bool) -> dict[str, Any]:
    p = val.wrapped(body, "policy")
    data: dict[str, Any] = {k: p[k] for k in ("type", "blob") if k in p}
    extra = {k: x for k, x in p.items() if k not in ("type", "blob", "id", "links")}
    if extra:
        data["extra"] = extra
    return data


def endpoint_group(body: Any, create: bool) -> dict[str, Any]:
    g = val.wrapped(body, "endpoint_group")
    return {k: g[k] for k in ("name", "description", "filters") if k in g}


def consumer(body: Any) -> dict[str, Any]:
    c = val.wrapped(body, "consumer")
    data: dict[str, Any] = {k: c[k] for k in ("description",) if k in c}
    extra = {k: x for k, x in c.items() if k not in ("description", "id", "links", "secret")}
    if extra:
        data["extra"] = extra
    return data


# ------------------------------------------------------ application credentials
_ACCESS_RULE = {"type": "object", "additionalProperties": False, "properties": {
    "id": ID, "service": ID,
    "path": {"type": "string", "maxLength": 225, "pattern": "^/[^\\x00]*$"},
    "method": {"type": "string", "enum": ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]}}}
#: `GET /v3/users/{id}/access_rules` filters.
ACCESS_RULE_LIST = KeystoneSchema({"type": "object", "properties": {
    "service": QUERY_TEXT, "path": QUERY_TEXT, "method": QUERY_TEXT}})
APP_CRED_CREATE = KeystoneSchema(wrapped("application_credential", {
    "id": ID, "name": NAME, "description": text(65535), "secret": text(4096),
    "expires_at": {"type": ["string", "null"], "format": "date-time"},
    "project_id": ID, "system": text(64), "unrestricted": {"type": ["boolean", "null"]},
    "access_rules": {"type": "array", "items": _ACCESS_RULE},
    "roles": {"type": "array", "items": {
        "type": "object", "properties": {"id": ID, "name": NAME},
        "minProperties": 1, "maxProperties": 1, "additionalProperties": False}},
}, required=("name",), extra=False))
APP_CRED_LIST = KeystoneSchema({"type": "object", "properties": {"name": NAME}})

# ---------------------------------------------------------------- credentials
_CREDENTIAL = {"type": {**string(255, min_length=1, fmt=None), "pattern": NO_NUL},
               "blob": text(65535, nullable=False), "user_id": ID,
               "project_id": ID_OR_NULL, "id": text(64, nullable=False)}
CREDENTIAL_CREATE = KeystoneSchema(wrapped("credential", _CREDENTIAL,
                                           required=("blob", "type", "user_id")))
CREDENTIAL_UPDATE = KeystoneSchema(wrapped("credential", _CREDENTIAL, min_properties=1))
CREDENTIAL_LIST = KeystoneSchema(listing({"user_id": ID, "type": QUERY_TEXT}))
#: `POST /v3/users/{id}/credentials/OS-EC2`: the project the key pair is for.
EC2_CREATE = KeystoneSchema({"type": "object", "properties": {"tenant_id": ID},
                             "required": ["tenant_id"]})
_EC2_SIGNED = {"type": "object", "properties": {
    "access": text(255, nullable=False), "signature": text(1024),
    "host": text(1024), "verb": text(32), "path": text(65535),
    "params": {"type": "object"}, "headers": {"type": "object"},
    "body_hash": text(128), "token": text(65535)}}
#: `POST /v3/ec2tokens`: the signed request as the forwarding service saw it (under
#: `credentials`, or the older `credential` / `ec2Credentials` Keystone also reads).
EC2_TOKENS = KeystoneSchema({"type": "object", "properties": {
    "credentials": _EC2_SIGNED, "credential": _EC2_SIGNED, "ec2Credentials": _EC2_SIGNED}})

#: What a credential is made of; any other attribute is kept as an extra.
_CREDENTIAL_FIELDS = ("type", "blob", "user_id", "project_id")


def credential(body: Any, create: bool) -> dict[str, Any]:
    """A credential body: its fields, an EC2 credential's project required, the
    other attributes kept as extras (Keystone stores what it is given)."""
    c = val.wrapped(body, "credential")
    data: dict[str, Any] = {k: c[k] for k in _CREDENTIAL_FIELDS if k in c}
    data["extra"] = {k: v for k, v in c.items()
                     if k not in (*_CREDENTIAL_FIELDS, "id", "links")}
    if not data["extra"]:
        del data["extra"]
    if create and data.get("type") == "ec2" and not data.get("project_id"):
        raise val.invalid("credential", "'project_id' is a required property for an "
                                        "ec2 credential.")
    if not create and "id" in c:
        data["id"] = c["id"]
    return data


def ec2_signed(body: Any) -> dict[str, Any]:
    """The signed request of an ec2tokens body; 400 without a body, as Keystone."""
    if not body:
        raise BadRequest("request must include a request body")
    found = body.get("credentials") or body.get("credential") or body.get("ec2Credentials")
    return dict(found or {})


# ------------------------------------------------------------- other listings
#: The member listings (a user's projects and groups, a group's users): `limit`.
MEMBER_LIST = KeystoneSchema(listing({}))
ROLE_ASSIGNMENTS_LIST = KeystoneSchema({"type": "object", "properties": {
    "effective": QUERY_TEXT, "include_names": QUERY_BOOL, "include_subtree": QUERY_BOOL,
    "group.id": ID, "role.id": ID, "scope.domain.id": ID, "scope.project.id": ID,
    "user.id": QUERY_TEXT, "scope.system": QUERY_TEXT,
    "scope.OS-INHERIT:inherited_to": QUERY_TEXT}})


# ---------------------------------------------------------------------- parsers
def domain(body: Any, create: bool) -> dict[str, Any]:
    d = val.wrapped(body, "domain")
    data = val.present({
        "name": val.string(d, "name", "domain", required=create, min_len=1, max_len=64,
                           strip_check=True),
        "description": val.string(d, "description", "domain", nullable=True, max_len=65535),
        "enabled": val.boolean(d, "enabled", "domain"),
    })
    if create:
        explicit = d.get("explicit_domain_id", d.get("id"))
        if isinstance(explicit, str):
            data["id"] = explicit
    extra = {k: x for k, x in d.items() if k not in
             ("name", "description", "enabled", "id", "explicit_domain_id", "links", "tags",
              "options")}
    if extra:
        data["extra"] = extra
    return data


def project(body: Any, create: bool) -> dict[str, Any]:
    p = val.wrapped(body, "project")
    if "is_domain" in p and not isinstance(p["is_domain"], bool):
        raise val.invalid("project/is_domain", "it must be a boolean.")
    if p.get("is_domain") and not create:
        raise BadRequest("is_domain is immutable.")
    if p.get("is_domain") and (p.get("parent_id") or p.get("domain_id")):
        # A project acting as a domain is the top of its own tree.
        raise BadRequest("A project acting as a domain has no parent and no domain.")
    data = val.present({
        "name": val.string(p, "name", "project", required=create, min_len=1, max_len=64,
                           strip_check=True),
        "description": val.string(p, "description", "project", nullable=True,
                                  max_len=65535),
        "enabled": val.boolean(p, "enabled", "project"),
        "domain_id": val.string(p, "domain_id", "project", nullable=True, max_len=64),
        "parent_id": val.string(p, "parent_id", "project", nullable=True, max_len=64),
        "tags": val.string_list(p, "tags", "project", max_items=80, max_len=255),
    })
    for tag in data.get("tags") or []:
        if "/" in tag or "," in tag:
            raise val.invalid("project/tags", f"tag {tag!r} must not contain '/' or ','.")
    if p.get("is_domain"):
        data["is_domain"] = True
    extra = {k: x for k, x in p.items() if k not in
             ("name", "description", "enabled", "domain_id", "parent_id", "tags", "is_domain",
              "id", "links", "options")}
    if extra:
        data["extra"] = extra
    return data


def user(body: Any, create: bool) -> dict[str, Any]:
    u = val.wrapped(body, "user")
    data = val.present({
        "name": val.string(u, "name", "user", required=create, min_len=1, max_len=255,
                           strip_check=True),
        "password": val.string(u, "password", "user", nullable=True, max_len=4096),
        "enabled": val.boolean(u, "enabled", "user"),
        "domain_id": val.string(u, "domain_id", "user", nullable=True, max_len=64),
        "default_project_id": val.string(u, "default_project_id", "user", nullable=True,
                                         max_len=64),
        "description": val.string(u, "description", "user", nullable=True, max_len=65535),
    })
    if isinstance(u.get("options"), dict):
        data["options"] = u["options"]
    extra = {k: x for k, x in u.items() if k not in
             ("name", "password", "enabled", "domain_id", "default_project_id", "description",
              "id", "links", "options", "federated")}
    if extra:
        data["extra"] = extra
    return data


def group(body: Any, create: bool) -> dict[str, Any]:
    g = val.wrapped(body, "group")
    return val.present({
        "name": val.string(g, "name", "group", required=create, min_len=1, max_len=64,
                           strip_check=True),
        "description": val.string(g, "description", "group", nullable=True, max_len=65535),
        "domain_id": val.string(g, "domain_id", "group", nullable=True, max_len=64),
    })


def role(body: Any, create: bool) -> dict[str, Any]:
    r = val.wrapped(body, "role")
    data = val.present({
        "name": val.string(r, "name", "role", required=create, min_len=1, max_len=255,
                           strip_check=True),
        "description": val.string(r, "description", "role", nullable=True, max_len=255),
        "domain_id": val.string(r, "domain_id", "role", nullable=True, max_len=64),
    })
    extra = {k: x for k, x in r.items() if k not in
             ("name", "description", "domain_id", "id", "links", "options")}
    if extra:
        data["extra"] = extra
    return data


def service(body: Any, create: bool) -> dict[str, Any]:
    s = val.wrapped(body, "service")
    return val.present({
        "type": val.string(s, "type", "service", required=create, min_len=1, max_len=255),
        "name": val.string(s, "name", "service", max_len=255),
        "description": val.string(s, "description", "service", nullable=True,
                                  max_len=65535),
        "enabled": val.boolean(s, "enabled", "service"),
    })


def endpoint(body: Any, create: bool) -> dict[str, Any]:
    e = val.wrapped(body, "endpoint")
    data = val.present({
        "service_id": val.string(e, "service_id", "endpoint", required=create, min_len=1),
        "interface": val.string(e, "interface", "endpoint", required=create),
        "region_id": val.string(e, "region_id", "endpoint", nullable=True),
        "url": val.string(e, "url", "endpoint", required=create, min_len=1, max_len=2048),
        "enabled": val.boolean(e, "enabled", "endpoint"),
    })
    if data.get("region_id") is None and isinstance(e.get("region"), str):
        # The v2-style `region` names the region, which Keystone creates if missing
        # (an explicit `region_id` must name an existing one).
        data["region_id"] = e["region"]
        data["legacy_region"] = True
    if "interface" in data and data["interface"] not in ("public", "internal", "admin"):
        raise val.invalid("endpoint/interface", f"{data['interface']!r} is not one of "
                          "['public', 'internal', 'admin'].")
    if "url" in data and not data["url"].startswith(("http://", "https://")):
        raise val.invalid("endpoint/url", f"{data['url']!r} is not a valid URL.")
    return data


def _expiry(raw: Any) -> dt.datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise val.invalid("application_credential/expires_at", "it must be a string.")
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise val.invalid("application_credential/expires_at",
                          f"{raw!r} is not an ISO 8601 time.")
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


def query_bool(raw: str) -> bool:
    """A boolean query value the schema let through (Keystone's words, any case)."""
    return raw.lower() in TRUE_WORDS


def filters(query: Mapping[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in names:
        raw = query.get(n)
        if raw is None:
            continue
        if n in ("enabled", "is_domain"):
            out[n] = query_bool(raw)
        elif n in LIST_FILTERS:
            out[n] = [t for t in raw.split(",") if t]
        else:
            out[n] = raw
    return out


def region(body: Any, create: bool) -> dict[str, Any]:
    r = val.wrapped(body, "region")
    return val.present({
        **({"id": val.string(r, "id", "region", max_len=255, min_len=1)} if create else {}),
        "description": val.string(r, "description", "region", nullable=True, max_len=65535),
        "parent_region_id": val.string(r, "parent_region_id", "region", nullable=True),
    })


def region_put(body: Any, region_id: str) -> dict[str, Any]:
    """`PUT /v3/regions/{id}`: a create whose id is the URL's."""
    r = val.wrapped(body, "region")
    if "id" in r and r["id"] != region_id:
        raise BadRequest("The region id in the body does not match the URL.")
    data = region(body, False)
    data["id"] = region_id
    return data


def app_cred(body: Any) -> dict[str, Any]:
    a = val.wrapped(body, "application_credential")
    data = val.present({
        "name": val.string(a, "name", "application_credential", required=True, min_len=1,
                           max_len=255),
        "description": val.string(a, "description", "application_credential",
                                  nullable=True, max_len=65535),
        "secret": val.string(a, "secret", "application_credential", nullable=True,
                             min_len=1, max_len=4096),
        "unrestricted": val.MISSING if a.get("unrestricted") is None else
        val.boolean(a, "unrestricted", "application_credential"),
    })
    data["expires_at"] = _expiry(a.get("expires_at"))
    if a.get("access_rules"):
        # Every API checks a request against them (access_rules.py); the schema
        # checked each rule's fields.
        if not isinstance(a["access_rules"], list) or \
                not all(isinstance(r, dict) for r in a["access_rules"]):
            raise val.invalid("application_credential/access_rules",
                              "it must be a list of objects.")
        data["access_rules"] = a["access_rules"]
    if "roles" in a:
        if not isinstance(a["roles"], list) or not all(isinstance(r, dict) for r in a["roles"]):
            raise val.invalid("application_credential/roles", "it must be a list of objects.")
        data["roles"] = a["roles"]
    return data


def password_change(body: Any) -> tuple[str, str]:
    """`POST /v3/users/{id}/password`: (original password, new password)."""
    u = val.wrapped(body, "user")
    original = val.string(u, "original_password", "user", required=True, max_len=4096)
    new = val.string(u, "password", "user", required=True, min_len=1, max_len=4096)
    return original, new


def tags(body: Any) -> list[str]:
    """`PUT /v3/projects/{id}/tags`: the whole new list."""
    if not isinstance(body, dict):
        raise BadRequest("Malformed request body: expected a JSON object.")
    found = val.string_list(body, "tags", "", max_items=80)
    if found is val.MISSING:
        raise val.invalid("tags", "'tags' is a required property.")
    return list(found)
