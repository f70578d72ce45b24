"""Keystone v3 wire shapes: one function per resource, from its row (and what
else the reply shows) to the JSON body part. No database access here."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from overcast.identity import models as m
from overcast.identity.auth import TokenInfo
from overcast.identity.compliance import ks_password_time
from overcast.identity.credentials import CredentialRecord

if TYPE_CHECKING:
    from overcast.identity.projects import ProjectRow


def ks_time(t: dt.datetime | None) -> str | None:
    """Keystone's token time format: 2015-11-05T22:00:11.000000Z."""
    if t is None:
        return None
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link(base: str, path: str) -> dict[str, Any]:
    return {"self": f"{base}/v3/{path}"}


def collection_links(base: str, path: str) -> dict[str, Any]:
    return {"self": f"{base}/v3/{path}", "previous": None, "next": None}


def domain(base: str, d: m.Domain) -> dict[str, Any]:
    return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
            "tags": [], "options": {}, "links": link(base, f"domains/{d.id}"),
            **(d.extra or {})}


def project(base: str, p: m.Project | m.Domain | ProjectRow, tags: list[str]
            ) -> dict[str, Any]:
    """A project (`tags` are the project's; some listings show none). A domain read
    through the projects API is Keystone's project acting as a domain."""
    if isinstance(p, m.Domain):
        return {"id": p.id, "name": p.name, "domain_id": None, "parent_id": None,
                "description": p.description, "enabled": p.enabled, "is_domain": True,
                "tags": tags, "options": {}, "links": link(base, f"projects/{p.id}"),
                **(p.extra or {})}
    return {"id": p.id, "name": p.name, "domain_id": p.domain_id, "parent_id": p.parent_id,
            "description": p.description, "enabled": p.enabled, "is_domain": False,
            "tags": tags, "options": {}, "links": link(base, f"projects/{p.id}"),
            **(p.extra or {})}


def user(base: str, u: m.User) -> dict[str, Any]:
    body = {"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
            "password_expires_at": ks_password_time(u.password_expires_at),
            "options": dict(u.options or {}),
            "links": link(base, f"users/{u.id}"), **(u.extra or {})}
    if u.default_project_id:
        body["default_project_id"] = u.default_project_id
    if u.description is not None:
        body["description"] = u.description
    return body


def group(base: str, g: m.Group) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "domain_id": g.domain_id,
            "description": g.description, "links": link(base, f"groups/{g.id}")}


def role(base: str, r: m.Role) -> dict[str, Any]:
    body = {"id": r.id, "name": r.name, "domain_id": r.domain_id, "options": {},
            "links": link(base, f"roles/{r.id}"), **(r.extra or {})}
    body["description"] = r.description
    return body


def role_ref(base: str, r: m.Role) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "links": link(base, f"roles/{r.id}")}


def inference(base: str, prior: m.Role, implied: list[m.Role]) -> dict[str, Any]:
    """A prior role and everything it implies directly."""
    return {"prior_role": role_ref(base, prior), "implies": [role_ref(base, r) for r in implied]}


def single_inference(base: str, prior: m.Role, implied: m.Role) -> dict[str, Any]:
    return {"prior_role": role_ref(base, prior), "implies": role_ref(base, implied)}


def role_assignments(base: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each assignment entry its links: `assignment` (the grant URL) and, for
    one reached through a group or inheritance, `membership`."""
    for e in entries:
        scope = e["scope"]
        actor = "users" if "user" in e else "groups"
        actor_id = (e.get("user") or e.get("group") or {})["id"]
        if "project" in scope:
            path = f"projects/{scope['project']['id']}/{actor}/{actor_id}/roles/{e['role']['id']}"
        elif "domain" in scope:
            path = f"domains/{scope['domain']['id']}/{actor}/{actor_id}/roles/{e['role']['id']}"
        else:
            path = f"system/{actor}/{actor_id}/roles/{e['role']['id']}"
        membership = e["links"].pop("membership", None)
        e["links"]["assignment"] = f"{base}/v3/{path}"
        if membership:
            e["links"]["membership"] = f"{base}/v3/{path}"
    return entries


def region(base: str, r: m.Region) -> dict[str, Any]:
    return {"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
            "links": link(base, f"regions/{r.id}"), **(r.extra or {})}


def service(base: str, s: m.Service) -> dict[str, Any]:
    return {"id": s.id, "type": s.type, "name": s.name, "description": s.description,
            "enabled": s.enabled, "links": link(base, f"services/{s.id}")}


def endpoint(base: str, e: m.Endpoint) -> dict[str, Any]:
    extra = {k: v for k, v in (e.extra or {}).items() if k != "overcast_managed"}
    return {"id": e.id, "service_id": e.service_id, "interface": e.interface,
            "region_id": e.region_id, "region": e.region_id, "url": e.url,
            "enabled": e.enabled, "links": link(base, f"endpoints/{e.id}"), **extra}


def app_cred(base: str, ac: m.ApplicationCredential, roles: list[dict[str, Any]],
             secret: str | None = None) -> dict[str, Any]:
    body = {"id": ac.id, "name": ac.name, "user_id": ac.user_id, "project_id": ac.project_id,
            "description": ac.description,
            # Keystone answers an application credential's expiry as Python's
            # isoformat() of the naive UTC time: no "Z", microseconds kept.
            "expires_at": ac.expires_at.isoformat() if ac.expires_at else None,
            "unrestricted": ac.unrestricted, "roles": roles,
            "access_rules": list(ac.access_rules or []),
            "links": link(base, f"users/{ac.user_id}/application_credentials/{ac.id}")}
    if secret is not None:
        body["secret"] = secret
    return body


def credential(base: str, c: CredentialRecord) -> dict[str, Any]:
    """`/v3/credentials`: the blob as the JSON string it was given (its owner's to see)."""
    return {**c.extra, "id": c.id, "user_id": c.user_id, "project_id": c.project_id,
            "type": c.type, "blob": c.blob, "links": link(base, f"credentials/{c.id}")}


def ec2_credential(base: str, c: CredentialRecord) -> dict[str, Any]:
    """OS-EC2's shape: the key pair, its owner and project (`tenant_id`), linked by
    access key."""
    blob = c.blob_dict()
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "links": link(base, f"users/{c.user_id}/credentials/OS-EC2/"
                                f"{blob.get('access')}")}


def token(info: TokenInfo, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    p = info.payload
    body: dict[str, Any] = {
        "methods": p.methods, "user": info.user, "audit_ids": p.audit_ids,
        "expires_at": ks_time(p.expires_at), "issued_at": ks_time(p.issued_at),
    }
    if info.project:
        body["project"] = info.project
        body["is_domain"] = False
    if info.domain:
        body["domain"] = info.domain
    if info.system:
        body["system"] = {"all": True}
    if info.project or info.domain or info.system:
        body["roles"] = info.roles
    if info.app_cred:
        body["application_credential"] = info.app_cred
    if info.trust:
        body["OS-TRUST:trust"] = info.trust
    if catalog is not None and (info.project or info.domain or info.system):
        body["catalog"] = catalog
    return {"token": body}


def policy_doc(base: str, p: m.Policy) -> dict[str, Any]:
    return {"id": p.id, "type": p.type, "blob": p.blob,
            "links": link(base, f"policies/{p.id}"), **(p.extra or {})}


def endpoint_group(base: str, g: m.EndpointGroup) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "description": g.description, "filters": g.filters,
            "links": link(base, f"OS-EP-FILTER/endpoint_groups/{g.id}")}


def consumer(base: str, c: m.OAuthConsumer, secret: str | None = None) -> dict[str, Any]:
    body = {"id": c.id, "description": c.description,
            "links": link(base, f"OS-OAUTH1/consumers/{c.id}"), **(c.extra or {})}
    if secret is not None:
        body["secret"] = secret
    return body


def trust(base: str, t: m.Trust, roles: list[m.Role]) -> dict[str, Any]:
    return {"id": t.id, "trustor_user_id": t.trustor_user_id,
            "trustee_user_id": t.trustee_user_id, "project_id": t.project_id,
            "impersonation": t.impersonation, "expires_at": ks_time(t.expires_at),
            "remaining_uses": t.remaining_uses, "redelegation_count": 0,
            "roles": [role(base, r) for r in roles],
            "roles_links": {"self": f"{base}/v3/OS-TRUST/trusts/{t.id}/roles",
                            "previous": None, "next": None},
            "links": link(base, f"OS-TRUST/trusts/{t.id}")}
