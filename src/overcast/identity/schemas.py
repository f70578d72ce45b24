"""What an identity request may carry: one parser per request body, each
turning the JSON into the plain dict the resource modules take (only the keys the
caller sent), and the query filters of the listings. A bad value is a 400 that
names the field, in Keystone's words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from overcast.kit import validate as val
from overcast.kit.errors import BadRequest

#: Query parameters that carry a comma-separated list.
LIST_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


def domain(body: Any, create: bool) -> dict[str, Any]:
    d = val.wrapped(body, "domain")
    data = val.present({
        "name": val.string(d, "name", "domain", required=create, min_len=1, max_len=64,
                           strip_check=True),
        "description": val.string(d, "description", "domain", nullable=True, max_len=65535),
        "enabled": val.boolean(d, "enabled", "domain"),
    })
    if create and isinstance(d.get("id"), str):
        data["id"] = d["id"]
    extra = {k: x for k, x in d.items() if k not in
             ("name", "description", "enabled", "id", "links", "tags", "options")}
    if extra:
        data["extra"] = extra
    return data


def project(body: Any, create: bool) -> dict[str, Any]:
    p = val.wrapped(body, "project")
    if p.get("is_domain") is True:
        raise BadRequest("Projects acting as domains are not supported: is_domain must be "
                         "false.")
    if "is_domain" in p and not isinstance(p["is_domain"], bool):
        raise val.invalid("project/is_domain", "it must be a boolean.")
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
    if "region_id" not in data and isinstance(e.get("region"), str):
        data["region_id"] = e["region"]
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


def filters(query: Mapping[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in names:
        raw = query.get(n)
        if raw is None:
            continue
        if n == "enabled":
            out[n] = val.query_bool(raw, n)
        elif n == "is_domain":
            out[n] = raw.lower() == "true"
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
        "unrestricted": val.boolean(a, "unrestricted", "application_credential"),
    })
    data["expires_at"] = _expiry(a.get("expires_at"))
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
