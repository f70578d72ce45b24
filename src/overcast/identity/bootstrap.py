"""The identity a new cloud starts with: the default domain, the standard roles
and their inference, the admin project and user (admin on the project and the
system), the region, and the catalog entries of overcast's own services.

Idempotent: run at every start, it creates what is missing and keeps what is
there (an existing admin's password is not reset).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.config import Settings
from overcast.db import Database, utcnow
from overcast.identity import auth, catalog
from overcast.identity import models as m
from overcast.identity.domains import DEFAULT_DOMAIN_ID, new_id
from overcast.identity.effective import SYSTEM_TARGET
from overcast.identity.passwords import hash_secret
from overcast.kit.errors import NotFound

STANDARD_ROLES = ("reader", "member", "admin", "service", "manager")
#: (prior, implied): Keystone's default inference rules.
STANDARD_INFERENCES = (("admin", "member"), ("member", "reader"), ("manager", "member"))


def _ensure_roles(s: Session) -> dict[str, m.Role]:
    roles = {}
    for name in STANDARD_ROLES:
        role = s.scalar(select(m.Role).where(m.Role.name == name, m.Role.domain_key == ""))
        if role is None:
            role = m.Role(id=new_id(), name=name, domain_id=None, domain_key="", extra={})
            s.add(role)
            s.flush()
        roles[name] = role
    for prior, implied in STANDARD_INFERENCES:
        if s.get(m.ImpliedRole, (roles[prior].id, roles[implied].id)) is None:
            s.add(m.ImpliedRole(prior_role_id=roles[prior].id,
                                implied_role_id=roles[implied].id))
    return roles


def _ensure_admin(s: Session, settings: Settings, password: str, admin_role: m.Role) -> None:
    project = s.scalar(select(m.Project).where(
        m.Project.name == settings.admin_project, m.Project.domain_id == DEFAULT_DOMAIN_ID))
    if project is None:
        project = m.Project(id=new_id(), name=settings.admin_project,
                            domain_id=DEFAULT_DOMAIN_ID, parent_id=DEFAULT_DOMAIN_ID,
                            description="Bootstrap project for initializing the cloud.",
                            enabled=True, extra={})
        s.add(project)
        s.flush()
    user = s.scalar(select(m.User).where(
        m.User.name == settings.admin_username, m.User.domain_id == DEFAULT_DOMAIN_ID))
    if user is None:
        user = m.User(id=new_id(), name=settings.admin_username,
                      domain_id=DEFAULT_DOMAIN_ID, enabled=True,
                      default_project_id=project.id,
                      password_hash=hash_secret(password, settings.bcrypt_rounds),
                      password_created_at=utcnow(), extra={})
        s.add(user)
        s.flush()
    for typ, target in (("UserProject", project.id), ("UserSystem", SYSTEM_TARGET)):
        key = (typ, user.id, target, admin_role.id, False)
        if s.get(m.Assignment, key) is None:
            s.add(m.Assignment(type=typ, actor_id=user.id, target_id=target,
                               role_id=admin_role.id, inherited=False))


def bootstrap(db: Database, settings: Settings, admin_password: str,
              services: Sequence[catalog.CatalogService]) -> None:
    """Create (or keep) the default domain, roles, admin user/project and catalog."""
    with db.transaction() as s:
        if s.get(m.Domain, DEFAULT_DOMAIN_ID) is None:
            s.add(m.Domain(id=DEFAULT_DOMAIN_ID, name="Default",
                           description="The default domain", enabled=True, extra={}))
            s.flush()
        roles = _ensure_roles(s)
        _ensure_admin(s, settings, admin_password, roles["admin"])
        if s.get(m.Region, settings.region) is None:
            s.add(m.Region(id=settings.region, description="", extra={}))
        catalog.register(s, services, settings.base_url, settings.region)
        auth.bump_generation(s)


#: the project of the service users, as a Keystone deployed by devstack or kolla has it
SERVICE_PROJECT = "service"


def ensure_service_user(db: Database, settings: Settings, name: str, password: str) -> None:
    """The user a compute host's agent authenticates as (Nova's `nova` user): in the
    `service` project with the `service` and `admin` roles there, as devstack makes
    it, so it reads any project's image data and uploads snapshots into the images
    compute made for them. The password is set when the user is made."""
    with db.transaction() as s:
        roles = _ensure_roles(s)
        project = s.scalar(select(m.Project).where(
            m.Project.name == SERVICE_PROJECT, m.Project.domain_id == DEFAULT_DOMAIN_ID))
        if project is None:
            project = m.Project(id=new_id(), name=SERVICE_PROJECT,
                                domain_id=DEFAULT_DOMAIN_ID, parent_id=DEFAULT_DOMAIN_ID,
                                description="The service users' project.", enabled=True,
                                extra={})
            s.add(project)
            s.flush()
        user = s.scalar(select(m.User).where(
            m.User.name == name, m.User.domain_id == DEFAULT_DOMAIN_ID))
        if user is None:
            user = m.User(id=new_id(), name=name, domain_id=DEFAULT_DOMAIN_ID,
                          enabled=True, default_project_id=project.id,
                          password_hash=hash_secret(password, settings.bcrypt_rounds),
                          password_created_at=utcnow(), extra={})
            s.add(user)
            s.flush()
        for role in ("service", "admin"):
            key = ("UserProject", user.id, project.id, roles[role].id, False)
            if s.get(m.Assignment, key) is None:
                s.add(m.Assignment(type="UserProject", actor_id=user.id,
                                   target_id=project.id, role_id=roles[role].id,
                                   inherited=False))
        auth.bump_generation(s)


def admin_project_id(db: Database, settings: Settings) -> str:
    with db.session() as s:
        pid = s.scalar(select(m.Project.id).where(
            m.Project.name == settings.admin_project,
            m.Project.domain_id == DEFAULT_DOMAIN_ID))
        if pid is None:
            raise NotFound("admin project missing")
        return pid
