"""Effective roles: which roles a user really holds on a project, a domain or the
system, counting its groups, grants inherited down the project tree and implied
roles (admin implies member implies reader).

Read-only functions of an open session. Token scoping and validation (auth.py)
ask them on every cache miss; the resources ask them for `/users/{id}/projects`,
`/auth/domains` and the implied-role loop check. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db import utcnow
from overcast.identity import models as m

#: The assignment target of a system-scoped grant.
SYSTEM_TARGET = "system"
#: How deep a project tree is walked for inherited grants (a guard against cycles).
MAX_DEPTH = 64


def group_ids(s: Session, user_id: str) -> list[str]:
    return list(s.scalars(select(m.Membership.group_id).where(
        m.Membership.user_id == user_id)))


def expand_implied(s: Session, role_ids: Iterable[str]) -> list[m.Role]:
    """The roles given plus every role they imply, transitively, ordered by name."""
    seen: set[str] = set()
    todo = list(role_ids)
    while todo:
        rid = todo.pop()
        if rid in seen:
            continue
        seen.add(rid)
        todo.extend(s.scalars(select(m.ImpliedRole.implied_role_id).where(
            m.ImpliedRole.prior_role_id == rid)))
    if not seen:
        return []
    return list(s.scalars(select(m.Role).where(m.Role.id.in_(seen)).order_by(m.Role.name)))


def project_role_ids(s: Session, user_id: str, project: m.Project) -> set[str]:
    """Roles granted on the project (to the user or its groups), before implication."""
    actors = [user_id, *group_ids(s, user_id)]
    ids = set(s.scalars(select(m.Assignment.role_id).where(
        m.Assignment.type.in_(("UserProject", "GroupProject")),
        m.Assignment.actor_id.in_(actors), m.Assignment.target_id == project.id,
        m.Assignment.inherited.is_(False))))
    # Inherited grants flow down from the domain and every ancestor project.
    ancestors = [project.domain_id]
    parent = project.parent_id
    hops = 0
    while parent and parent != project.domain_id and hops < MAX_DEPTH:
        ancestors.append(parent)
        p = s.get(m.Project, parent)
        parent = p.parent_id if p else None
        hops += 1
    ids |= set(s.scalars(select(m.Assignment.role_id).where(
        m.Assignment.actor_id.in_(actors), m.Assignment.target_id.in_(ancestors),
        m.Assignment.inherited.is_(True))))
    return ids


def held(roles: list[m.Role]) -> list[m.Role]:
    """The roles a user holds: a domain-specific role only stands for the roles it
    implies, so Keystone leaves it out of tokens and effective assignments."""
    return [r for r in roles if r.domain_id is None]


def project_roles(s: Session, user_id: str, project: m.Project) -> list[m.Role]:
    return held(expand_implied(s, project_role_ids(s, user_id, project)))


def domain_roles(s: Session, user_id: str, domain_id: str) -> list[m.Role]:
    actors = [user_id, *group_ids(s, user_id)]
    ids = s.scalars(select(m.Assignment.role_id).where(
        m.Assignment.type.in_(("UserDomain", "GroupDomain")),
        m.Assignment.actor_id.in_(actors), m.Assignment.target_id == domain_id,
        m.Assignment.inherited.is_(False)))
    return held(expand_implied(s, ids))


def system_roles(s: Session, user_id: str) -> list[m.Role]:
    actors = [user_id, *group_ids(s, user_id)]
    ids = s.scalars(select(m.Assignment.role_id).where(
        m.Assignment.type.in_(("UserSystem", "GroupSystem")),
        m.Assignment.actor_id.in_(actors), m.Assignment.target_id == SYSTEM_TARGET))
    return held(expand_implied(s, ids))


def trust_expired(t: m.Trust) -> bool:
    return t.expires_at is not None and t.expires_at <= utcnow()


def delegated_roles(s: Session, t: m.Trust) -> list[m.Role]:
    """What a token scoped to trust `t` holds now: the trust's roles (and those
    they imply) that the trustor still holds on the project."""
    project = s.get(m.Project, t.project_id) if t.project_id else None
    if project is None:
        return []
    still = {r.id for r in project_roles(s, t.trustor_user_id, project)}
    return [r for r in held(expand_implied(s, t.role_ids)) if r.id in still]


def group_endpoint_ids(s: Session, g: m.EndpointGroup) -> set[str]:
    """The endpoints an endpoint group's filters select."""
    q = select(m.Endpoint.id)
    for key in ("service_id", "interface", "region_id"):
        if key in (g.filters or {}):
            q = q.where(getattr(m.Endpoint, key) == g.filters[key])
    return set(s.scalars(q))


def filtered_endpoint_ids(s: Session, project_id: str) -> set[str] | None:
    """OS-EP-FILTER: the endpoints a project's catalog is limited to, or None when
    the project has no association (then it sees every endpoint, as Keystone's
    default `return_all_endpoints_if_no_filter`)."""
    direct = set(s.scalars(select(m.ProjectEndpoint.endpoint_id).where(
        m.ProjectEndpoint.project_id == project_id)))
    group_ids = list(s.scalars(select(m.ProjectEndpointGroup.endpoint_group_id).where(
        m.ProjectEndpointGroup.project_id == project_id)))
    if not direct and not group_ids:
        return None
    for g in s.scalars(select(m.EndpointGroup).where(m.EndpointGroup.id.in_(group_ids))):
        direct |= group_endpoint_ids(s, g)
    return direct
