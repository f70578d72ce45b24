"""Keystone's domain logic: bootstrap, authentication, token validation and
revocation, and the identity resources. No HTTP here: api.py parses and shapes,
this module decides and writes (one transaction per call).

Token validation is on every API call's path, so it never touches bcrypt and
normally never touches more than one row: validated tokens are cached with the
identity `generation` they were resolved at, and anything that can change a
token's meaning (revocation, role or membership change, disabling, deletion,
catalog change) bumps the generation in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.config import Settings
from overcast.db import Database, utcnow
from overcast.identity import models as m
from overcast.identity.passwords import hash_secret, verify_secret
from overcast.identity.tokens import (
    SCOPE_DOMAIN,
    SCOPE_NONE,
    SCOPE_PROJECT,
    SCOPE_SYSTEM,
    KeyRepository,
    TokenFormatter,
    TokenPayload,
    new_audit_id,
)
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized

DEFAULT_DOMAIN_ID = "default"
AUTH_FAILED = "The request you have made requires authentication."
SYSTEM_TARGET = "system"


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class CatalogService:
    """What a service asks to be registered in the catalog."""

    type: str
    name: str
    path: str  # endpoint path, may contain $(project_id)s
    description: str = ""


@dataclass
class TokenInfo:
    """A validated token, resolved: everything the token body and contexts need."""

    payload: TokenPayload
    user: dict[str, Any]
    project: dict[str, Any] | None = None
    domain: dict[str, Any] | None = None
    system: bool = False
    roles: list[dict[str, str]] = field(default_factory=list)
    app_cred: dict[str, Any] | None = None

    @property
    def expired(self) -> bool:
        return self.payload.expires_at <= utcnow()

    def context(self, token: str, request_id: str = "") -> RequestContext:
        p = self.payload
        return RequestContext(
            request_id=request_id,
            user_id=self.user["id"], user_name=self.user["name"],
            user_domain_id=self.user["domain"]["id"],
            user_domain_name=self.user["domain"]["name"],
            project_id=self.project["id"] if self.project else None,
            project_name=self.project["name"] if self.project else None,
            project_domain_id=self.project["domain"]["id"] if self.project else None,
            project_domain_name=self.project["domain"]["name"] if self.project else None,
            domain_id=self.domain["id"] if self.domain else None,
            domain_name=self.domain["name"] if self.domain else None,
            system_scope=self.system,
            roles=[r["name"] for r in self.roles], role_ids=[r["id"] for r in self.roles],
            auth_token=token, audit_ids=list(p.audit_ids), expires_at=p.expires_at,
            issued_at=p.issued_at, methods=list(p.methods),
            application_credential_id=p.app_cred_id,
        )


class IdentityService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.keys = KeyRepository(settings.keys_dir, settings.max_active_keys)
        self.formatter = TokenFormatter(self.keys)
        self._lock = threading.Lock()
        self._token_cache: dict[str, tuple[int, TokenInfo]] = {}
        self._revocations: tuple[int, list[m.RevocationEvent]] = (-1, [])
        self._catalog_cache: tuple[int, list[dict[str, Any]]] = (-1, [])
        self._local = threading.local()
        db_path = db.engine.url.database if db.is_sqlite else None
        self._sqlite_path = db_path if db_path and db_path != ":memory:" else None

    # ------------------------------------------------------------------ setup
    def bootstrap(self, admin_password: str, services: Sequence[CatalogService]) -> None:
        """Create (or keep) the default domain, roles, admin user/project and catalog."""
        self.keys.setup()
        with self.db.transaction() as s:
            if s.get(m.Domain, DEFAULT_DOMAIN_ID) is None:
                s.add(m.Domain(id=DEFAULT_DOMAIN_ID, name="Default",
                               description="The default domain", enabled=True, extra={}))
                s.flush()
            roles = {}
            for name in ("reader", "member", "admin", "service", "manager"):
                role = s.scalar(select(m.Role).where(m.Role.name == name,
                                                     m.Role.domain_key == ""))
                if role is None:
                    role = m.Role(id=new_id(), name=name, domain_id=None, domain_key="",
                                  extra={})
                    s.add(role)
                    s.flush()
                roles[name] = role
            for prior, implied in (("admin", "member"), ("member", "reader"),
                                   ("manager", "member")):
                if s.get(m.ImpliedRole, (roles[prior].id, roles[implied].id)) is None:
                    s.add(m.ImpliedRole(prior_role_id=roles[prior].id,
                                        implied_role_id=roles[implied].id))
            project = s.scalar(select(m.Project).where(
                m.Project.name == self.settings.admin_project,
                m.Project.domain_id == DEFAULT_DOMAIN_ID))
            if project is None:
                project = m.Project(id=new_id(), name=self.settings.admin_project,
                                    domain_id=DEFAULT_DOMAIN_ID, parent_id=DEFAULT_DOMAIN_ID,
                                    description="Bootstrap project for initializing the cloud.",
                                    enabled=True, extra={})
                s.add(project)
                s.flush()
            user = s.scalar(select(m.User).where(
                m.User.name == self.settings.admin_username,
                m.User.domain_id == DEFAULT_DOMAIN_ID))
            if user is None:
                user = m.User(id=new_id(), name=self.settings.admin_username,
                              domain_id=DEFAULT_DOMAIN_ID, enabled=True,
                              default_project_id=project.id,
                              password_hash=hash_secret(admin_password,
                                                        self.settings.bcrypt_rounds),
                              password_created_at=utcnow(), extra={})
                s.add(user)
                s.flush()
            for typ, target in (("UserProject", project.id), ("UserSystem", SYSTEM_TARGET)):
                key = (typ, user.id, target, roles["admin"].id, False)
                if s.get(m.Assignment, key) is None:
                    s.add(m.Assignment(type=typ, actor_id=user.id, target_id=target,
                                       role_id=roles["admin"].id, inherited=False))
            if s.get(m.Region, self.settings.region) is None:
                s.add(m.Region(id=self.settings.region, description="", extra={}))
            self._register_catalog(s, services)
            self._bump(s)

    def _register_catalog(self, s: Session, services: Sequence[CatalogService]) -> None:
        base = self.settings.base_url
        for svc in services:
            row = s.scalar(select(m.Service).where(m.Service.type == svc.type,
                                                   m.Service.name == svc.name))
            if row is None:
                row = m.Service(id=new_id(), type=svc.type, name=svc.name,
                                description=svc.description, enabled=True,
                                extra={"overcast_managed": True})
                s.add(row)
                s.flush()
            url = base + svc.path
            existing = {e.interface: e for e in s.scalars(
                select(m.Endpoint).where(m.Endpoint.service_id == row.id))}
            for interface in ("public", "internal", "admin"):
                ep = existing.get(interface)
                if ep is None:
                    s.add(m.Endpoint(id=new_id(), service_id=row.id, interface=interface,
                                     region_id=self.settings.region, url=url, enabled=True,
                                     extra={"overcast_managed": True}))
                elif (ep.extra or {}).get("overcast_managed") and ep.url != url:
                    ep.url = url

    def admin_project_id(self) -> str:
        with self.db.session() as s:
            pid = s.scalar(select(m.Project.id).where(
                m.Project.name == self.settings.admin_project,
                m.Project.domain_id == DEFAULT_DOMAIN_ID))
            if pid is None:
                raise NotFound("admin project missing")
            return pid

    # ------------------------------------------------------------ generation
    def _bump(self, s: Session) -> None:
        row = s.get(m.IdentityState, "generation")
        if row is None:
            s.add(m.IdentityState(key="generation", value=1))
        else:
            s.execute(update(m.IdentityState).where(m.IdentityState.key == "generation")
                      .values(value=m.IdentityState.value + 1))

    def generation(self) -> int:
        """The current identity generation, read from the database on every call.

        This is what makes a revocation in one API process visible in every
        other at once. On SQLite each thread keeps its own autocommit sqlite3
        connection, so the read is a few microseconds instead of a pool round trip.
        """
        if self.db.is_sqlite and self._sqlite_path:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = sqlite3.connect(self._sqlite_path, isolation_level=None,
                                       check_same_thread=False, timeout=30)
                self._local.conn = conn
            row = conn.execute("SELECT value FROM identity_state WHERE key = 'generation'"
                               ).fetchone()
            return int(row[0]) if row else 0
        with self.db.engine.connect() as c:
            value = c.execute(select(m.IdentityState.value).where(
                m.IdentityState.key == "generation")).scalar()
            c.rollback()
        return int(value or 0)

    # ---------------------------------------------------------- authentication
    def authenticate(self, auth: dict[str, Any]) -> tuple[str, TokenInfo]:
        """Handle a `POST /v3/auth/tokens` body; return (token, resolved info)."""
        identity = auth.get("identity")
        if not isinstance(identity, dict):
            raise BadRequest("Invalid input for field 'auth/identity': 'identity' is a "
                             "required property.")
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods or \
                not all(isinstance(x, str) for x in methods):
            raise BadRequest("Invalid input for field 'identity/methods': a non-empty list "
                             "of method names is required.")
        scope = auth.get("scope")
        if scope is not None and not isinstance(scope, (dict, str)):
            raise BadRequest("Invalid input for field 'auth/scope': it must be an object.")
        now = utcnow()
        audit_ids = [new_audit_id()]
        app_cred_id = None
        expires_at = now + dt.timedelta(seconds=self.settings.token_expiration)
        if "application_credential" in methods:
            user_id, project_id, app_cred_id, ac_expires = self._auth_app_cred(
                identity.get("application_credential"))
            if scope:
                raise Unauthorized("Application credentials cannot request a scope.")
            if ac_expires is not None and ac_expires < expires_at:
                expires_at = ac_expires
            payload = TokenPayload(user_id=user_id, methods=["application_credential"],
                                   expires_at=expires_at, issued_at=now, audit_ids=audit_ids,
                                   scope_type=SCOPE_PROJECT, scope_id=project_id,
                                   app_cred_id=app_cred_id)
            return self._issue(payload)
        if "password" in methods:
            user_id = self._auth_password(identity.get("password"))
        elif "token" in methods:
            tok = identity.get("token")
            if not isinstance(tok, dict) or not isinstance(tok.get("id"), str):
                raise BadRequest("Invalid input for field 'identity/token/id': a token id "
                                 "is required.")
            try:
                prior = self.validate(tok["id"])
            except (NotFound, Unauthorized):
                raise Unauthorized(AUTH_FAILED)
            if prior.payload.app_cred_id:
                raise Forbidden("Application credential tokens cannot be rescoped.")
            user_id = prior.user["id"]
            expires_at = prior.payload.expires_at
            # Keep the chain: the original audit id follows the new one.
            audit_ids = [new_audit_id(), prior.payload.audit_ids[-1]]
            methods = sorted(set(prior.payload.methods) | {"token"})
        else:
            raise Unauthorized(f"Unsupported authentication method: {methods[0]}.")
        scope_type, scope_id = self._resolve_scope(user_id, scope)
        payload = TokenPayload(user_id=user_id, methods=[x for x in methods
                                                         if x in ("password", "token")],
                               expires_at=expires_at, issued_at=now, audit_ids=audit_ids,
                               scope_type=scope_type, scope_id=scope_id)
        return self._issue(payload)

    def _issue(self, payload: TokenPayload) -> tuple[str, TokenInfo]:
        token = self.formatter.encode(payload)
        info = self._resolve(payload, self.generation())
        return token, info

    def _auth_password(self, body: Any) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("user"), dict):
            raise BadRequest("Invalid input for field 'identity/password/user': 'user' is a "
                             "required property.")
        u = body["user"]
        password = u.get("password")
        if not isinstance(password, str):
            raise BadRequest("Invalid input for field 'identity/password/user/password': "
                             "a string is required.")
        with self.db.session() as s:
            user = self._find_user_for_auth(s, u)
            hashed = user.password_hash if user is not None else None
            domain = s.get(m.Domain, user.domain_id) if user is not None else None
        ok = verify_secret(password, hashed, self.settings.bcrypt_rounds)
        if user is None or not ok:
            raise Unauthorized(AUTH_FAILED)
        if not user.enabled or domain is None or not domain.enabled:
            raise Unauthorized(AUTH_FAILED)
        return user.id

    def _find_user_for_auth(self, s: Session, u: dict[str, Any]) -> m.User | None:
        if isinstance(u.get("id"), str):
            return s.get(m.User, u["id"])
        name = u.get("name")
        if not isinstance(name, str):
            raise BadRequest("Invalid input for field 'identity/password/user': either "
                             "'id' or 'name' with 'domain' is required.")
        domain_id = self._domain_ref(s, u.get("domain"), "identity/password/user/domain")
        if domain_id is None:
            return None
        return s.scalar(select(m.User).where(m.User.name == name,
                                             m.User.domain_id == domain_id))

    def _domain_ref(self, s: Session, ref: Any, where: str) -> str | None:
        if not isinstance(ref, dict):
            raise BadRequest(f"Invalid input for field '{where}': a domain with 'id' or "
                             f"'name' is required.")
        if isinstance(ref.get("id"), str):
            return str(ref["id"])
        if isinstance(ref.get("name"), str):
            return s.scalar(select(m.Domain.id).where(m.Domain.name == ref["name"]))
        raise BadRequest(f"Invalid input for field '{where}': 'id' or 'name' is required.")

    def _auth_app_cred(self, body: Any) -> tuple[str, str, str, dt.datetime | None]:
        if not isinstance(body, dict) or not isinstance(body.get("secret"), str):
            raise BadRequest("Invalid input for field 'identity/application_credential': "
                             "'secret' and 'id' (or 'name' with 'user') are required.")
        with self.db.session() as s:
            ac = None
            if isinstance(body.get("id"), str):
                ac = s.get(m.ApplicationCredential, body["id"])
            elif isinstance(body.get("name"), str) and isinstance(body.get("user"), dict):
                u = body["user"]
                uid = u.get("id")
                if not isinstance(uid, str):
                    user = self._find_user_for_auth(s, u)
                    uid = user.id if user else None
                if uid:
                    ac = s.scalar(select(m.ApplicationCredential).where(
                        m.ApplicationCredential.user_id == uid,
                        m.ApplicationCredential.name == body["name"]))
            else:
                raise BadRequest("Invalid input for field 'identity/application_credential':"
                                 " 'id' or 'name' with 'user' is required.")
            hashed = ac.secret_hash if ac else None
            user = s.get(m.User, ac.user_id) if ac else None
        ok = verify_secret(body["secret"], hashed, self.settings.bcrypt_rounds)
        if ac is None or not ok or user is None or not user.enabled:
            raise Unauthorized(AUTH_FAILED)
        if ac.expires_at is not None and ac.expires_at <= utcnow():
            raise Unauthorized("The application credential has expired.")
        return ac.user_id, ac.project_id, ac.id, ac.expires_at

    def _resolve_scope(self, user_id: str, scope: Any) -> tuple[int, str | None]:
        with self.db.session() as s:
            user = s.get(m.User, user_id)
            if user is None:
                raise Unauthorized(AUTH_FAILED)
            if scope is None or scope == {}:
                # Keystone scopes to the default project when the user may use it.
                pid = user.default_project_id
                if pid:
                    project = s.get(m.Project, pid)
                    if project is not None and project.enabled and \
                            self._project_roles(s, user_id, project):
                        return SCOPE_PROJECT, pid
                return SCOPE_NONE, None
            if scope == "unscoped":
                return SCOPE_NONE, None
            if not isinstance(scope, dict):
                raise BadRequest("Invalid input for field 'auth/scope'.")
            if "project" in scope:
                ref = scope["project"]
                if not isinstance(ref, dict):
                    raise BadRequest("Invalid input for field 'scope/project'.")
                project = None
                if isinstance(ref.get("id"), str):
                    project = s.get(m.Project, ref["id"])
                elif isinstance(ref.get("name"), str):
                    did = self._domain_ref(s, ref.get("domain"), "scope/project/domain")
                    project = s.scalar(select(m.Project).where(
                        m.Project.name == ref["name"], m.Project.domain_id == did))
                else:
                    raise BadRequest("Invalid input for field 'scope/project': 'id' or "
                                     "'name' with 'domain' is required.")
                if project is None:
                    raise Unauthorized(f"Could not find project: "
                                       f"{ref.get('id') or ref.get('name')}.")
                if not project.enabled or not self._domain_enabled(s, project.domain_id):
                    raise Unauthorized(f"Project {project.id} is disabled.")
                if not self._project_roles(s, user_id, project):
                    raise Unauthorized(f"User {user_id} has no access to project "
                                       f"{project.id}.")
                return SCOPE_PROJECT, project.id
            if "domain" in scope:
                did = self._domain_ref(s, scope["domain"], "scope/domain")
                domain = s.get(m.Domain, did) if did else None
                if domain is None:
                    raise Unauthorized("Could not find domain.")
                if not domain.enabled:
                    raise Unauthorized(f"Domain {domain.id} is disabled.")
                if not self._domain_roles(s, user_id, domain.id):
                    raise Unauthorized(f"User {user_id} has no access to domain {domain.id}.")
                return SCOPE_DOMAIN, domain.id
            if "system" in scope:
                if not self._system_roles(s, user_id):
                    raise Unauthorized(f"User {user_id} has no access to the system.")
                return SCOPE_SYSTEM, SYSTEM_TARGET
            raise BadRequest("Invalid input for field 'auth/scope': expected 'project', "
                             "'domain' or 'system'.")

    def _domain_enabled(self, s: Session, domain_id: str) -> bool:
        d = s.get(m.Domain, domain_id)
        return d is not None and d.enabled

    # ------------------------------------------------------------- role math
    def _group_ids(self, s: Session, user_id: str) -> list[str]:
        return list(s.scalars(select(m.Membership.group_id).where(
            m.Membership.user_id == user_id)))

    def _expand_implied(self, s: Session, role_ids: Iterable[str]) -> list[m.Role]:
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

    def _project_role_ids(self, s: Session, user_id: str, project: m.Project) -> set[str]:
        actors = [user_id, *self._group_ids(s, user_id)]
        ids = set(s.scalars(select(m.Assignment.role_id).where(
            m.Assignment.type.in_(("UserProject", "GroupProject")),
            m.Assignment.actor_id.in_(actors), m.Assignment.target_id == project.id,
            m.Assignment.inherited.is_(False))))
        # Inherited grants flow down from the domain and every ancestor project.
        ancestors = [project.domain_id]
        parent = project.parent_id
        hops = 0
        while parent and parent != project.domain_id and hops < 64:
            ancestors.append(parent)
            p = s.get(m.Project, parent)
            parent = p.parent_id if p else None
            hops += 1
        ids |= set(s.scalars(select(m.Assignment.role_id).where(
            m.Assignment.actor_id.in_(actors), m.Assignment.target_id.in_(ancestors),
            m.Assignment.inherited.is_(True))))
        return ids

    def _project_roles(self, s: Session, user_id: str, project: m.Project) -> list[m.Role]:
        return self._expand_implied(s, self._project_role_ids(s, user_id, project))

    def _domain_roles(self, s: Session, user_id: str, domain_id: str) -> list[m.Role]:
        actors = [user_id, *self._group_ids(s, user_id)]
        ids = s.scalars(select(m.Assignment.role_id).where(
            m.Assignment.type.in_(("UserDomain", "GroupDomain")),
            m.Assignment.actor_id.in_(actors), m.Assignment.target_id == domain_id,
            m.Assignment.inherited.is_(False)))
        return self._expand_implied(s, ids)

    def _system_roles(self, s: Session, user_id: str) -> list[m.Role]:
        actors = [user_id, *self._group_ids(s, user_id)]
        ids = s.scalars(select(m.Assignment.role_id).where(
            m.Assignment.type.in_(("UserSystem", "GroupSystem")),
            m.Assignment.actor_id.in_(actors), m.Assignment.target_id == SYSTEM_TARGET))
        return self._expand_implied(s, ids)

    # ------------------------------------------------------------ validation
    def validate(self, token: str, *, allow_expired: bool = False) -> TokenInfo:
        """Resolve a token; 404 if it is invalid, expired or revoked (Keystone's answer)."""
        gen = self.generation()
        cached = self._token_cache.get(token)
        if cached is not None and cached[0] == gen:
            info = cached[1]
        else:
            try:
                payload = self.formatter.decode(token)
            except ValueError:
                raise NotFound("Could not recognize Fernet token")
            info = self._resolve(payload, gen)
            if len(self._token_cache) > 20000:
                self._token_cache.clear()
            self._token_cache[token] = (gen, info)
        now = utcnow()
        exp = info.payload.expires_at
        if exp <= now:
            window = dt.timedelta(seconds=self.settings.allow_expired_window)
            if not allow_expired or exp + window <= now:
                raise NotFound("The token has expired.")
        return info

    def _resolve(self, payload: TokenPayload, gen: int) -> TokenInfo:
        if self._is_revoked(payload, gen):
            raise NotFound("The token has been revoked.")
        with self.db.session() as s:
            user = s.get(m.User, payload.user_id)
            if user is None or not user.enabled:
                raise NotFound("The token's user is disabled or gone.")
            udom = s.get(m.Domain, user.domain_id)
            if udom is None or not udom.enabled:
                raise NotFound("The token's user domain is disabled.")
            info = TokenInfo(payload=payload, user={
                "id": user.id, "name": user.name,
                "domain": {"id": udom.id, "name": udom.name},
                "password_expires_at": None})
            if payload.scope_type == SCOPE_PROJECT and payload.scope_id:
                project = s.get(m.Project, payload.scope_id)
                if project is None or not project.enabled:
                    raise NotFound("The token's project is disabled or gone.")
                pdom = s.get(m.Domain, project.domain_id)
                if pdom is None or not pdom.enabled:
                    raise NotFound("The token's project domain is disabled.")
                info.project = {"id": project.id, "name": project.name,
                                "domain": {"id": pdom.id, "name": pdom.name}}
                roles = self._project_roles(s, user.id, project)
                if payload.app_cred_id:
                    ac = s.get(m.ApplicationCredential, payload.app_cred_id)
                    if ac is None:
                        raise NotFound("The application credential is gone.")
                    allowed = set(ac.role_ids)
                    roles = [r for r in self._expand_implied(s, allowed)
                             if r.id in {x.id for x in roles}]
                    info.app_cred = {"id": ac.id, "name": ac.name,
                                     "restricted": not ac.unrestricted}
                if not roles:
                    raise NotFound("The user has no role on the token's project any more.")
            elif payload.scope_type == SCOPE_DOMAIN and payload.scope_id:
                domain = s.get(m.Domain, payload.scope_id)
                if domain is None or not domain.enabled:
                    raise NotFound("The token's domain is disabled or gone.")
                info.domain = {"id": domain.id, "name": domain.name}
                roles = self._domain_roles(s, user.id, domain.id)
                if not roles:
                    raise NotFound("The user has no role on the token's domain any more.")
            elif payload.scope_type == SCOPE_SYSTEM:
                info.system = True
                roles = self._system_roles(s, user.id)
                if not roles:
                    raise NotFound("The user has no role on the system any more.")
            else:
                roles = []
            info.roles = [{"id": r.id, "name": r.name} for r in roles]
        return info

    def _events(self, gen: int) -> list[m.RevocationEvent]:
        cached_gen, events = self._revocations
        if cached_gen == gen:
            return events
        horizon = utcnow() - dt.timedelta(
            seconds=self.settings.token_expiration + self.settings.allow_expired_window)
        with self.db.session() as s:
            events = list(s.scalars(select(m.RevocationEvent).where(
                m.RevocationEvent.revoked_at >= horizon)))
        self._revocations = (gen, events)
        return events

    def _is_revoked(self, p: TokenPayload, gen: int) -> bool:
        project_id = p.scope_id if p.scope_type == SCOPE_PROJECT else None
        domain_id = p.scope_id if p.scope_type == SCOPE_DOMAIN else None
        for ev in self._events(gen):
            if p.issued_at > ev.issued_before:
                continue
            if ev.user_id is not None and ev.user_id != p.user_id:
                continue
            if ev.project_id is not None and ev.project_id != project_id:
                continue
            if ev.domain_id is not None and ev.domain_id != domain_id:
                continue
            if ev.audit_id is not None and ev.audit_id not in p.audit_ids:
                continue
            if ev.app_cred_id is not None and ev.app_cred_id != p.app_cred_id:
                continue
            return True
        return False

    def _revoke(self, s: Session, **match: str | None) -> None:
        s.add(m.RevocationEvent(issued_before=utcnow(), revoked_at=utcnow(), **match))
        self._bump(s)

    def revoke_token(self, token: str) -> None:
        info = self.validate(token)
        with self.db.transaction() as s:
            self._revoke(s, audit_id=info.payload.audit_ids[0])
        self._token_cache.pop(token, None)

    def context_for(self, token: str, request_id: str = "") -> RequestContext:
        """The auth middleware's entry point: a token to a request context, or 401."""
        try:
            info = self.validate(token)
        except NotFound:
            raise Unauthorized(AUTH_FAILED)
        return info.context(token, request_id)

    # --------------------------------------------------------------- catalog
    def catalog(self, project_id: str | None) -> list[dict[str, Any]]:
        gen = self.generation()
        if self._catalog_cache[0] != gen:
            with self.db.session() as s:
                raw: list[dict[str, Any]] = []
                for svc in s.scalars(select(m.Service).where(m.Service.enabled.is_(True))
                                     .order_by(m.Service.type)):
                    eps = [{"id": e.id, "interface": e.interface, "region": e.region_id,
                            "region_id": e.region_id, "url": e.url}
                           for e in s.scalars(select(m.Endpoint).where(
                               m.Endpoint.service_id == svc.id, m.Endpoint.enabled.is_(True))
                               .order_by(m.Endpoint.interface))]
                    raw.append({"id": svc.id, "type": svc.type, "name": svc.name,
                                "endpoints": eps})
            self._catalog_cache = (gen, raw)
        out = []
        for entry in self._catalog_cache[1]:
            rendered = []
            for e in entry["endpoints"]:
                url = e["url"]
                if "$(project_id)s" in url or "%(project_id)s" in url \
                        or "%(tenant_id)s" in url:
                    if not project_id:
                        continue
                    url = (url.replace("$(project_id)s", project_id)
                           .replace("%(project_id)s", project_id)
                           .replace("%(tenant_id)s", project_id))
                rendered.append({**e, "url": url})
            out.append({**entry, "endpoints": rendered})
        return out


# ======================================================================
# Resources: domains, projects, users, groups, roles, assignments, catalog
# ======================================================================


def _conflict(kind: str, detail: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store {kind} - {detail}.")


class IdentityResources:
    """CRUD on identity resources. Every write that can change what a token
    means bumps the generation (and revokes what Keystone revokes)."""

    def __init__(self, svc: IdentityService) -> None:
        self.svc = svc
        self.db = svc.db

    # ---------------------------------------------------------------- domains
    def get_domain(self, s: Session, domain_id: str) -> m.Domain:
        d = s.get(m.Domain, domain_id)
        if d is None:
            raise NotFound(f"Could not find domain: {domain_id}.")
        return d

    def create_domain(self, data: dict[str, Any]) -> m.Domain:
        with self.db.transaction() as s:
            if s.scalar(select(m.Domain).where(m.Domain.name == data["name"])):
                raise _conflict("domain", f"Duplicate entry found with name {data['name']}")
            d = m.Domain(id=data.get("id") or new_id(), name=data["name"],
                         description=data.get("description") or "",
                         enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(d)
            return d

    def list_domains(self, filters: dict[str, Any]) -> list[m.Domain]:
        with self.db.session() as s:
            q = select(m.Domain).order_by(m.Domain.name)
            if "name" in filters:
                q = q.where(m.Domain.name == filters["name"])
            if "enabled" in filters:
                q = q.where(m.Domain.enabled.is_(filters["enabled"]))
            if "ids" in filters:
                q = q.where(m.Domain.id.in_(filters["ids"]))
            return list(s.scalars(q))

    def update_domain(self, domain_id: str, data: dict[str, Any]) -> m.Domain:
        with self.db.transaction() as s:
            d = self.get_domain(s, domain_id)
            if "name" in data and data["name"] != d.name:
                if s.scalar(select(m.Domain).where(m.Domain.name == data["name"])):
                    raise _conflict("domain", f"Duplicate entry found with name {data['name']}")
                d.name = data["name"]
            if "description" in data:
                d.description = data["description"] or ""
            if "enabled" in data:
                if domain_id == DEFAULT_DOMAIN_ID and not data["enabled"]:
                    raise Forbidden("The default domain cannot be disabled.")
                if d.enabled and not data["enabled"]:
                    self.svc._revoke(s, domain_id=domain_id)
                d.enabled = data["enabled"]
            if "extra" in data:
                d.extra = {**(d.extra or {}), **data["extra"]}
            self.svc._bump(s)
            return d

    def delete_domain(self, domain_id: str) -> None:
        with self.db.transaction() as s:
            d = self.get_domain(s, domain_id)
            if d.enabled:
                raise Forbidden("Cannot delete a domain that is enabled, please disable it "
                                "first.")
            pids = list(s.scalars(select(m.Project.id).where(m.Project.domain_id == domain_id)))
            uids = list(s.scalars(select(m.User.id).where(m.User.domain_id == domain_id)))
            gids = list(s.scalars(select(m.Group.id).where(m.Group.domain_id == domain_id)))
            s.execute(delete(m.Assignment).where(or_(
                m.Assignment.target_id.in_([domain_id, *pids]),
                m.Assignment.actor_id.in_([*uids, *gids]))))
            s.execute(delete(m.Role).where(m.Role.domain_id == domain_id))
            s.execute(delete(m.Membership).where(or_(m.Membership.user_id.in_(uids),
                                                     m.Membership.group_id.in_(gids))))
            s.execute(delete(m.ApplicationCredential).where(
                m.ApplicationCredential.user_id.in_(uids)))
            s.execute(delete(m.ProjectTag).where(m.ProjectTag.project_id.in_(pids)))
            s.execute(delete(m.Project).where(m.Project.domain_id == domain_id))
            s.execute(delete(m.User).where(m.User.domain_id == domain_id))
            s.execute(delete(m.Group).where(m.Group.domain_id == domain_id))
            s.delete(d)
            self.svc._bump(s)

    # --------------------------------------------------------------- projects
    def get_project(self, s: Session, project_id: str) -> m.Project:
        p = s.get(m.Project, project_id)
        if p is None:
            raise NotFound(f"Could not find project: {project_id}.")
        return p

    def project_tags(self, s: Session, project_id: str) -> list[str]:
        return list(s.scalars(select(m.ProjectTag.name).where(
            m.ProjectTag.project_id == project_id).order_by(m.ProjectTag.name)))

    def create_project(self, data: dict[str, Any]) -> m.Project:
        with self.db.transaction() as s:
            domain_id = data.get("domain_id") or DEFAULT_DOMAIN_ID
            parent_id = data.get("parent_id")
            if parent_id:
                parent = s.get(m.Project, parent_id)
                if parent is None:
                    raise NotFound(f"Could not find project: {parent_id}.")
                if data.get("domain_id") and parent.domain_id != data["domain_id"]:
                    raise BadRequest("Cannot create project with parent in a different "
                                     "domain.")
                domain_id = parent.domain_id
            domain = s.get(m.Domain, domain_id)
            if domain is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if s.scalar(select(m.Project).where(m.Project.name == data["name"],
                                                m.Project.domain_id == domain_id)):
                raise _conflict("project", f"it is not permitted to have two projects with "
                                f"the same name in the same domain : {data['name']}")
            p = m.Project(id=new_id(), name=data["name"], domain_id=domain_id,
                          parent_id=parent_id or domain_id,
                          description=data.get("description") or "",
                          enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(p)
            s.flush()
            for tag in sorted(set(data.get("tags") or [])):
                s.add(m.ProjectTag(project_id=p.id, name=tag))
            return p

    def list_projects(self, filters: dict[str, Any]) -> list[tuple[m.Project, list[str]]]:
        with self.db.session() as s:
            q = select(m.Project).order_by(m.Project.name)
            for key in ("name", "domain_id", "parent_id"):
                if key in filters:
                    q = q.where(getattr(m.Project, key) == filters[key])
            if "enabled" in filters:
                q = q.where(m.Project.enabled.is_(filters["enabled"]))
            if "ids" in filters:
                q = q.where(m.Project.id.in_(filters["ids"]))
            projects = list(s.scalars(q))
            tags = {p.id: self.project_tags(s, p.id) for p in projects}
        out = []
        for p in projects:
            t = set(tags[p.id])
            if "tags" in filters and not set(filters["tags"]) <= t:
                continue
            if "tags-any" in filters and not set(filters["tags-any"]) & t:
                continue
            if "not-tags" in filters and set(filters["not-tags"]) <= t:
                continue
            if "not-tags-any" in filters and set(filters["not-tags-any"]) & t:
                continue
            out.append((p, tags[p.id]))
        return out

    def update_project(self, project_id: str, data: dict[str, Any]) -> m.Project:
        with self.db.transaction() as s:
            p = self.get_project(s, project_id)
            if "domain_id" in data and data["domain_id"] != p.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "parent_id" in data and data["parent_id"] != p.parent_id:
                raise BadRequest("Update of `parent_id` is not allowed.")
            if "name" in data and data["name"] != p.name:
                if s.scalar(select(m.Project).where(m.Project.name == data["name"],
                                                    m.Project.domain_id == p.domain_id)):
                    raise _conflict("project", f"it is not permitted to have two projects "
                                    f"with the same name in the same domain : {data['name']}")
                p.name = data["name"]
            if "description" in data:
                p.description = data["description"] or ""
            if "enabled" in data:
                if p.enabled and not data["enabled"]:
                    self.svc._revoke(s, project_id=project_id)
                p.enabled = data["enabled"]
            if "extra" in data:
                p.extra = {**(p.extra or {}), **data["extra"]}
            if "tags" in data:
                self._set_tags(s, p.id, data["tags"])
            self.svc._bump(s)
            return p

    def _set_tags(self, s: Session, project_id: str, tags: list[str]) -> None:
        s.execute(delete(m.ProjectTag).where(m.ProjectTag.project_id == project_id))
        for tag in sorted(set(tags)):
            s.add(m.ProjectTag(project_id=project_id, name=tag))

    def set_project_tags(self, project_id: str, tags: list[str]) -> list[str]:
        with self.db.transaction() as s:
            self.get_project(s, project_id)
            self._set_tags(s, project_id, tags)
            return sorted(set(tags))

    def add_project_tag(self, project_id: str, tag: str) -> None:
        with self.db.transaction() as s:
            self.get_project(s, project_id)
            if s.get(m.ProjectTag, (project_id, tag)) is None:
                if len(self.project_tags(s, project_id)) >= 80:
                    raise BadRequest("A project can have at most 80 tags.")
                s.add(m.ProjectTag(project_id=project_id, name=tag))

    def remove_project_tag(self, project_id: str, tag: str) -> None:
        with self.db.transaction() as s:
            self.get_project(s, project_id)
            row = s.get(m.ProjectTag, (project_id, tag))
            if row is None:
                raise NotFound(f"Tag {tag} was not found on project {project_id}.")
            s.delete(row)

    def delete_project(self, project_id: str) -> None:
        with self.db.transaction() as s:
            p = self.get_project(s, project_id)
            if s.scalar(select(func.count()).select_from(m.Project).where(
                    m.Project.parent_id == project_id)):
                raise Forbidden(f"Cannot delete the project {project_id} since it is not a "
                                f"leaf in the hierarchy. Use the cascade option if you want "
                                f"to delete a whole subtree.")
            s.execute(delete(m.Assignment).where(m.Assignment.target_id == project_id))
            s.execute(delete(m.ProjectTag).where(m.ProjectTag.project_id == project_id))
            s.execute(delete(m.ApplicationCredential).where(
                m.ApplicationCredential.project_id == project_id))
            s.delete(p)
            self.svc._revoke(s, project_id=project_id)

    # ------------------------------------------------------------------ users
    def get_user(self, s: Session, user_id: str) -> m.User:
        u = s.get(m.User, user_id)
        if u is None:
            raise NotFound(f"Could not find user: {user_id}.")
        return u

    def create_user(self, data: dict[str, Any]) -> m.User:
        rounds = self.svc.settings.bcrypt_rounds
        hashed = hash_secret(data["password"], rounds) if data.get("password") else None
        with self.db.transaction() as s:
            domain_id = data.get("domain_id") or DEFAULT_DOMAIN_ID
            if s.get(m.Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if data.get("default_project_id"):
                self.get_project(s, data["default_project_id"])
            if s.scalar(select(m.User).where(m.User.name == data["name"],
                                             m.User.domain_id == domain_id)):
                raise _conflict("user", f"Duplicate entry found with name {data['name']} at "
                                f"domain ID {domain_id}")
            u = m.User(id=new_id(), name=data["name"], domain_id=domain_id,
                       enabled=data.get("enabled", True),
                       default_project_id=data.get("default_project_id"),
                       password_hash=hashed, password_created_at=utcnow() if hashed else None,
                       description=data.get("description"), extra=data.get("extra", {}))
            s.add(u)
            return u

    def list_users(self, filters: dict[str, Any]) -> list[m.User]:
        with self.db.session() as s:
            q = select(m.User).order_by(m.User.name)
            for key in ("name", "domain_id"):
                if key in filters:
                    q = q.where(getattr(m.User, key) == filters[key])
            if "enabled" in filters:
                q = q.where(m.User.enabled.is_(filters["enabled"]))
            if "group_id" in filters:
                q = q.join(m.Membership, m.Membership.user_id == m.User.id).where(
                    m.Membership.group_id == filters["group_id"])
            return list(s.scalars(q))

    def update_user(self, user_id: str, data: dict[str, Any]) -> m.User:
        rounds = self.svc.settings.bcrypt_rounds
        hashed = hash_secret(data["password"], rounds) if data.get("password") else None
        with self.db.transaction() as s:
            u = self.get_user(s, user_id)
            if "domain_id" in data and data["domain_id"] != u.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in data and data["name"] != u.name:
                if s.scalar(select(m.User).where(m.User.name == data["name"],
                                                 m.User.domain_id == u.domain_id)):
                    raise _conflict("user", f"Duplicate entry found with name {data['name']} "
                                    f"at domain ID {u.domain_id}")
                u.name = data["name"]
            if "default_project_id" in data:
                if data["default_project_id"]:
                    self.get_project(s, data["default_project_id"])
                u.default_project_id = data["default_project_id"]
            if "description" in data:
                u.description = data["description"]
            if "extra" in data:
                u.extra = {**(u.extra or {}), **data["extra"]}
            if "enabled" in data:
                if u.enabled and not data["enabled"]:
                    self.svc._revoke(s, user_id=user_id)
                u.enabled = data["enabled"]
            if hashed:
                u.password_hash = hashed
                u.password_created_at = utcnow()
                self.svc._revoke(s, user_id=user_id)
            self.svc._bump(s)
            return u

    def change_password(self, user_id: str, original: str, new: str) -> None:
        with self.db.session() as s:
            u = s.get(m.User, user_id)
            hashed = u.password_hash if u else None
        if not verify_secret(original, hashed, self.svc.settings.bcrypt_rounds) or u is None:
            raise Unauthorized("Error when changing user password: the original password is "
                               "wrong.")
        if not u.enabled:
            raise Unauthorized(AUTH_FAILED)
        self.update_user(user_id, {"password": new})

    def delete_user(self, user_id: str) -> None:
        with self.db.transaction() as s:
            u = self.get_user(s, user_id)
            s.execute(delete(m.Assignment).where(m.Assignment.actor_id == user_id))
            s.execute(delete(m.Membership).where(m.Membership.user_id == user_id))
            s.execute(delete(m.ApplicationCredential).where(
                m.ApplicationCredential.user_id == user_id))
            s.delete(u)
            self.svc._revoke(s, user_id=user_id)

    # ----------------------------------------------------------------- groups
    def get_group(self, s: Session, group_id: str) -> m.Group:
        g = s.get(m.Group, group_id)
        if g is None:
            raise NotFound(f"Could not find group: {group_id}.")
        return g

    def create_group(self, data: dict[str, Any]) -> m.Group:
        with self.db.transaction() as s:
            domain_id = data.get("domain_id") or DEFAULT_DOMAIN_ID
            if s.get(m.Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if s.scalar(select(m.Group).where(m.Group.name == data["name"],
                                              m.Group.domain_id == domain_id)):
                raise _conflict("group", f"Duplicate entry found with name {data['name']} at "
                                f"domain ID {domain_id}")
            g = m.Group(id=new_id(), name=data["name"], domain_id=domain_id,
                        description=data.get("description") or "")
            s.add(g)
            return g

    def list_groups(self, filters: dict[str, Any]) -> list[m.Group]:
        with self.db.session() as s:
            q = select(m.Group).order_by(m.Group.name)
            for key in ("name", "domain_id"):
                if key in filters:
                    q = q.where(getattr(m.Group, key) == filters[key])
            if "user_id" in filters:
                q = q.join(m.Membership, m.Membership.group_id == m.Group.id).where(
                    m.Membership.user_id == filters["user_id"])
            return list(s.scalars(q))

    def update_group(self, group_id: str, data: dict[str, Any]) -> m.Group:
        with self.db.transaction() as s:
            g = self.get_group(s, group_id)
            if "domain_id" in data and data["domain_id"] != g.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in data and data["name"] != g.name:
                if s.scalar(select(m.Group).where(m.Group.name == data["name"],
                                                  m.Group.domain_id == g.domain_id)):
                    raise _conflict("group", f"Duplicate entry found with name {data['name']}")
                g.name = data["name"]
            if "description" in data:
                g.description = data["description"] or ""
            return g

    def delete_group(self, group_id: str) -> None:
        with self.db.transaction() as s:
            g = self.get_group(s, group_id)
            s.execute(delete(m.Assignment).where(m.Assignment.actor_id == group_id))
            s.execute(delete(m.Membership).where(m.Membership.group_id == group_id))
            s.delete(g)
            self.svc._bump(s)

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.db.transaction() as s:
            self.get_group(s, group_id)
            self.get_user(s, user_id)
            if s.get(m.Membership, (user_id, group_id)) is None:
                s.add(m.Membership(user_id=user_id, group_id=group_id))
            self.svc._bump(s)

    def check_member(self, group_id: str, user_id: str) -> None:
        with self.db.session() as s:
            self.get_group(s, group_id)
            self.get_user(s, user_id)
            if s.get(m.Membership, (user_id, group_id)) is None:
                raise NotFound(f"User {user_id} is not a member of group {group_id}.")

    def remove_member(self, group_id: str, user_id: str) -> None:
        with self.db.transaction() as s:
            self.get_group(s, group_id)
            self.get_user(s, user_id)
            row = s.get(m.Membership, (user_id, group_id))
            if row is None:
                raise NotFound(f"User {user_id} is not a member of group {group_id}.")
            s.delete(row)
            self.svc._revoke(s, user_id=user_id)

    # ------------------------------------------------------------------ roles
    def get_role(self, s: Session, role_id: str) -> m.Role:
        r = s.get(m.Role, role_id)
        if r is None:
            raise NotFound(f"Could not find role: {role_id}.")
        return r

    def create_role(self, data: dict[str, Any]) -> m.Role:
        with self.db.transaction() as s:
            domain_id = data.get("domain_id")
            if domain_id and s.get(m.Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if s.scalar(select(m.Role).where(m.Role.name == data["name"],
                                             m.Role.domain_key == (domain_id or ""))):
                raise _conflict("role", f"Duplicate entry found with name {data['name']}")
            r = m.Role(id=new_id(), name=data["name"], domain_id=domain_id,
                       domain_key=domain_id or "", description=data.get("description"),
                       extra=data.get("extra", {}))
            s.add(r)
            return r

    def list_roles(self, filters: dict[str, Any]) -> list[m.Role]:
        with self.db.session() as s:
            q = select(m.Role).order_by(m.Role.name)
            if "name" in filters:
                q = q.where(m.Role.name == filters["name"])
            q = q.where(m.Role.domain_key == (filters.get("domain_id") or ""))
            return list(s.scalars(q))

    def update_role(self, role_id: str, data: dict[str, Any]) -> m.Role:
        with self.db.transaction() as s:
            r = self.get_role(s, role_id)
            if "domain_id" in data and data["domain_id"] != r.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in data and data["name"] != r.name:
                if s.scalar(select(m.Role).where(m.Role.name == data["name"],
                                                 m.Role.domain_key == r.domain_key)):
                    raise _conflict("role", f"Duplicate entry found with name {data['name']}")
                r.name = data["name"]
            if "description" in data:
                r.description = data["description"]
            self.svc._bump(s)
            return r

    def delete_role(self, role_id: str) -> None:
        with self.db.transaction() as s:
            r = self.get_role(s, role_id)
            s.execute(delete(m.Assignment).where(m.Assignment.role_id == role_id))
            s.execute(delete(m.ImpliedRole).where(or_(m.ImpliedRole.prior_role_id == role_id,
                                                      m.ImpliedRole.implied_role_id == role_id)))
            s.delete(r)
            self.svc._bump(s)

    def add_implied(self, prior_id: str, implied_id: str) -> tuple[m.Role, m.Role]:
        with self.db.transaction() as s:
            prior = self.get_role(s, prior_id)
            implied = self.get_role(s, implied_id)
            if prior_id == implied_id or prior_id in {r.id for r in
                                                       self.svc._expand_implied(s, [implied_id])}:
                raise Forbidden("Implied roles cannot form a loop.")
            if implied.domain_id and not prior.domain_id:
                raise Forbidden("A global role cannot imply a domain-specific role.")
            if s.get(m.ImpliedRole, (prior_id, implied_id)) is None:
                s.add(m.ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))
            self.svc._bump(s)
            return prior, implied

    def get_implied(self, prior_id: str, implied_id: str) -> tuple[m.Role, m.Role]:
        with self.db.session() as s:
            prior = self.get_role(s, prior_id)
            implied = self.get_role(s, implied_id)
            if s.get(m.ImpliedRole, (prior_id, implied_id)) is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
            return prior, implied

    def list_implied(self, prior_id: str | None = None) -> list[tuple[m.Role, list[m.Role]]]:
        with self.db.session() as s:
            q = select(m.ImpliedRole)
            if prior_id:
                self.get_role(s, prior_id)
                q = q.where(m.ImpliedRole.prior_role_id == prior_id)
            groups: dict[str, list[m.Role]] = {}
            for row in s.scalars(q):
                groups.setdefault(row.prior_role_id, []).append(
                    self.get_role(s, row.implied_role_id))
            if prior_id and prior_id not in groups:
                groups[prior_id] = []
            return [(self.get_role(s, pid), roles) for pid, roles in groups.items()]

    def delete_implied(self, prior_id: str, implied_id: str) -> None:
        with self.db.transaction() as s:
            self.get_role(s, prior_id)
            self.get_role(s, implied_id)
            row = s.get(m.ImpliedRole, (prior_id, implied_id))
            if row is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
            s.delete(row)
            self.svc._bump(s)

    # ------------------------------------------------------------ assignments
    def _check_assignment_parts(self, s: Session, typ: str, actor_id: str, target_id: str,
                                role_id: str) -> None:
        if typ.startswith("User"):
            self.get_user(s, actor_id)
        else:
            self.get_group(s, actor_id)
        if typ.endswith("Project"):
            self.get_project(s, target_id)
        elif typ.endswith("Domain"):
            self.get_domain(s, target_id)
        self.get_role(s, role_id)

    def grant(self, typ: str, actor_id: str, target_id: str, role_id: str,
              inherited: bool = False) -> None:
        with self.db.transaction() as s:
            self._check_assignment_parts(s, typ, actor_id, target_id, role_id)
            key = (typ, actor_id, target_id, role_id, inherited)
            if s.get(m.Assignment, key) is None:
                s.add(m.Assignment(type=typ, actor_id=actor_id, target_id=target_id,
                                   role_id=role_id, inherited=inherited))
            self.svc._bump(s)

    def check_grant(self, typ: str, actor_id: str, target_id: str, role_id: str,
                    inherited: bool = False) -> None:
        with self.db.session() as s:
            self._check_assignment_parts(s, typ, actor_id, target_id, role_id)
            if s.get(m.Assignment, (typ, actor_id, target_id, role_id, inherited)) is None:
                raise NotFound(f"Could not find role assignment with role: {role_id}, "
                               f"actor: {actor_id}, target: {target_id}.")

    def revoke_grant(self, typ: str, actor_id: str, target_id: str, role_id: str,
                     inherited: bool = False) -> None:
        with self.db.transaction() as s:
            self._check_assignment_parts(s, typ, actor_id, target_id, role_id)
            row = s.get(m.Assignment, (typ, actor_id, target_id, role_id, inherited))
            if row is None:
                raise NotFound(f"Could not find role assignment with role: {role_id}, "
                               f"actor: {actor_id}, target: {target_id}.")
            s.delete(row)
            if typ.startswith("User"):
                target = target_id if typ.endswith("Project") else None
                self.svc._revoke(s, user_id=actor_id, project_id=target)
            else:
                for uid in s.scalars(select(m.Membership.user_id).where(
                        m.Membership.group_id == actor_id)):
                    self.svc._revoke(s, user_id=uid)
            self.svc._bump(s)

    def list_grants(self, typ: str, actor_id: str, target_id: str,
                    inherited: bool = False) -> list[m.Role]:
        with self.db.session() as s:
            self._check_assignment_parts_no_role(s, typ, actor_id, target_id)
            ids = s.scalars(select(m.Assignment.role_id).where(
                m.Assignment.type == typ, m.Assignment.actor_id == actor_id,
                m.Assignment.target_id == target_id, m.Assignment.inherited.is_(inherited)))
            return list(s.scalars(select(m.Role).where(m.Role.id.in_(list(ids)))
                                  .order_by(m.Role.name)))

    def _check_assignment_parts_no_role(self, s: Session, typ: str, actor_id: str,
                                        target_id: str) -> None:
        if typ.startswith("User"):
            self.get_user(s, actor_id)
        else:
            self.get_group(s, actor_id)
        if typ.endswith("Project"):
            self.get_project(s, target_id)
        elif typ.endswith("Domain"):
            self.get_domain(s, target_id)

    def role_assignments(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        """`GET /v3/role_assignments`: direct rows, or with `effective` expanded
        through group membership, inheritance and implied roles."""
        with self.db.session() as s:
            rows = list(s.scalars(select(m.Assignment)))
            effective = f.get("effective", False)
            out: list[dict[str, Any]] = []
            if not effective:
                for a in rows:
                    out.append(self._assignment_entry(a.type, a.actor_id, a.target_id,
                                                      a.role_id, a.inherited))
            else:
                members: dict[str, list[str]] = {}
                for mem in s.scalars(select(m.Membership)):
                    members.setdefault(mem.group_id, []).append(mem.user_id)
                projects = list(s.scalars(select(m.Project)))
                children: dict[str, list[m.Project]] = {}
                for p in projects:
                    children.setdefault(p.parent_id or "", []).append(p)
                implied: dict[str, list[str]] = {}
                for ir in s.scalars(select(m.ImpliedRole)):
                    implied.setdefault(ir.prior_role_id, []).append(ir.implied_role_id)

                def expand_roles(rid: str) -> list[str]:
                    seen, todo = [], [rid]
                    while todo:
                        x = todo.pop()
                        if x not in seen:
                            seen.append(x)
                            todo.extend(implied.get(x, []))
                    return seen

                def subtree(root: str, domain: bool) -> list[str]:
                    res, todo = [], [root]
                    while todo:
                        x = todo.pop()
                        for c in children.get(x, []):
                            if domain and c.domain_id != root and x == root:
                                continue
                            res.append(c.id)
                            todo.append(c.id)
                    return res

                for a in rows:
                    users = [a.actor_id] if a.type.startswith("User") else \
                        members.get(a.actor_id, [])
                    kind = "Project" if a.type.endswith("Project") else \
                        "Domain" if a.type.endswith("Domain") else "System"
                    if a.inherited:
                        targets = [("Project", pid) for pid in
                                   subtree(a.target_id, kind == "Domain")]
                    else:
                        targets = [(kind, a.target_id)]
                    for uid in users:
                        for tkind, tid in targets:
                            for rid in expand_roles(a.role_id):
                                entry = self._assignment_entry(
                                    f"User{tkind}", uid, tid, rid, False)
                                if a.type.startswith("Group") or a.inherited:
                                    entry["links"]["membership"] = True
                                out.append(entry)
            out = [e for e in out if self._matches(e, f)]
            # de-duplicate (effective view can reach one grant by several paths)
            seen_keys: set[tuple[Any, ...]] = set()
            uniq = []
            for e in out:
                key = (e["role"]["id"], tuple(sorted((k, v["id"]) for k, v in e.items()
                                                    if k in ("user", "group"))),
                       str(e["scope"]))
                if key not in seen_keys:
                    seen_keys.add(key)
                    uniq.append(e)
            if f.get("include_names"):
                self._add_names(s, uniq)
            return uniq

    @staticmethod
    def _assignment_entry(typ: str, actor: str, target: str, role: str,
                          inherited: bool) -> dict[str, Any]:
        e: dict[str, Any] = {"role": {"id": role}, "links": {}}
        e["user" if typ.startswith("User") else "group"] = {"id": actor}
        if typ.endswith("Project"):
            e["scope"] = {"project": {"id": target}}
        elif typ.endswith("Domain"):
            e["scope"] = {"domain": {"id": target}}
        else:
            e["scope"] = {"system": {"all": True}}
        if inherited:
            e["scope"]["OS-INHERIT:inherited_to"] = "projects"
        return e

    @staticmethod
    def _matches(e: dict[str, Any], f: dict[str, Any]) -> bool:
        if "user.id" in f and e.get("user", {}).get("id") != f["user.id"]:
            return False
        if "group.id" in f and e.get("group", {}).get("id") != f["group.id"]:
            return False
        if "role.id" in f and e["role"]["id"] != f["role.id"]:
            return False
        scope = e["scope"]
        if "scope.project.id" in f and scope.get("project", {}).get("id") not in \
                f["scope.project.id"]:
            return False
        if "scope.domain.id" in f and scope.get("domain", {}).get("id") != \
                f["scope.domain.id"]:
            return False
        if "scope.system" in f and "system" not in scope:
            return False
        return not (f.get("inherited_to") and "OS-INHERIT:inherited_to" not in scope)

    def _add_names(self, s: Session, entries: list[dict[str, Any]]) -> None:
        def dom(did: str | None) -> dict[str, Any]:
            d = s.get(m.Domain, did) if did else None
            return {"id": did, "name": d.name if d else None}

        for e in entries:
            r = s.get(m.Role, e["role"]["id"])
            if r:
                e["role"]["name"] = r.name
                if r.domain_id:
                    e["role"]["domain"] = dom(r.domain_id)
            if "user" in e:
                u = s.get(m.User, e["user"]["id"])
                if u:
                    e["user"].update(name=u.name, domain=dom(u.domain_id))
            if "group" in e:
                g = s.get(m.Group, e["group"]["id"])
                if g:
                    e["group"].update(name=g.name, domain=dom(g.domain_id))
            scope = e["scope"]
            if "project" in scope:
                p = s.get(m.Project, scope["project"]["id"])
                if p:
                    scope["project"].update(name=p.name, domain=dom(p.domain_id))
            if "domain" in scope:
                d = s.get(m.Domain, scope["domain"]["id"])
                if d:
                    scope["domain"]["name"] = d.name

    def user_projects(self, user_id: str) -> list[m.Project]:
        """Projects where the user has any effective role (for /users/{id}/projects)."""
        with self.db.session() as s:
            self.get_user(s, user_id)
            out = []
            for p in s.scalars(select(m.Project).order_by(m.Project.name)):
                if self.svc._project_role_ids(s, user_id, p):
                    out.append(p)
            return out

    def user_domains(self, user_id: str) -> list[m.Domain]:
        with self.db.session() as s:
            out = []
            for d in s.scalars(select(m.Domain).order_by(m.Domain.name)):
                if d.enabled and self.svc._domain_roles(s, user_id, d.id):
                    out.append(d)
            return out

    def user_has_system(self, user_id: str) -> list[m.Role]:
        with self.db.session() as s:
            return self.svc._system_roles(s, user_id)

    # ---------------------------------------------------------------- catalog
    def create_region(self, data: dict[str, Any]) -> m.Region:
        with self.db.transaction() as s:
            rid = data.get("id") or new_id()
            if s.get(m.Region, rid) is not None:
                raise _conflict("region", f"Duplicate ID, {rid}")
            parent = data.get("parent_region_id")
            if parent and s.get(m.Region, parent) is None:
                raise BadRequest(f"The parent region {parent} does not exist.")
            r = m.Region(id=rid, description=data.get("description") or "",
                         parent_region_id=parent, extra=data.get("extra", {}))
            s.add(r)
            return r

    def get_region(self, s: Session, region_id: str) -> m.Region:
        r = s.get(m.Region, region_id)
        if r is None:
            raise NotFound(f"Could not find region: {region_id}.")
        return r

    def list_regions(self, filters: dict[str, Any]) -> list[m.Region]:
        with self.db.session() as s:
            q = select(m.Region).order_by(m.Region.id)
            if "parent_region_id" in filters:
                q = q.where(m.Region.parent_region_id == filters["parent_region_id"])
            return list(s.scalars(q))

    def update_region(self, region_id: str, data: dict[str, Any]) -> m.Region:
        with self.db.transaction() as s:
            r = self.get_region(s, region_id)
            if "description" in data:
                r.description = data["description"] or ""
            if "parent_region_id" in data:
                parent = data["parent_region_id"]
                if parent == region_id:
                    raise BadRequest("A region cannot be its own parent.")
                if parent and s.get(m.Region, parent) is None:
                    raise BadRequest(f"The parent region {parent} does not exist.")
                r.parent_region_id = parent
            return r

    def delete_region(self, region_id: str) -> None:
        with self.db.transaction() as s:
            r = self.get_region(s, region_id)
            if s.scalar(select(func.count()).select_from(m.Region).where(
                    m.Region.parent_region_id == region_id)):
                raise Forbidden(f"Unable to delete region {region_id} because it or its child "
                                f"regions have associated endpoints.")
            s.delete(r)

    def create_service(self, data: dict[str, Any]) -> m.Service:
        with self.db.transaction() as s:
            svc = m.Service(id=new_id(), type=data["type"], name=data.get("name") or "",
                            description=data.get("description") or "",
                            enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(svc)
            self.svc._bump(s)
            return svc

    def get_service(self, s: Session, service_id: str) -> m.Service:
        svc = s.get(m.Service, service_id)
        if svc is None:
            raise NotFound(f"Could not find service: {service_id}.")
        return svc

    def list_services(self, filters: dict[str, Any]) -> list[m.Service]:
        with self.db.session() as s:
            q = select(m.Service).order_by(m.Service.type)
            for key in ("type", "name"):
                if key in filters:
                    q = q.where(getattr(m.Service, key) == filters[key])
            return list(s.scalars(q))

    def update_service(self, service_id: str, data: dict[str, Any]) -> m.Service:
        with self.db.transaction() as s:
            svc = self.get_service(s, service_id)
            for key in ("type", "name", "description", "enabled"):
                if key in data:
                    setattr(svc, key, data[key])
            self.svc._bump(s)
            return svc

    def delete_service(self, service_id: str) -> None:
        with self.db.transaction() as s:
            svc = self.get_service(s, service_id)
            s.execute(delete(m.Endpoint).where(m.Endpoint.service_id == service_id))
            s.delete(svc)
            self.svc._bump(s)

    def create_endpoint(self, data: dict[str, Any]) -> m.Endpoint:
        with self.db.transaction() as s:
            self._endpoint_refs(s, data)
            ep = m.Endpoint(id=new_id(), service_id=data["service_id"],
                            interface=data["interface"], region_id=data.get("region_id"),
                            url=data["url"], enabled=data.get("enabled", True),
                            extra=data.get("extra", {}))
            s.add(ep)
            self.svc._bump(s)
            return ep

    def _endpoint_refs(self, s: Session, data: dict[str, Any]) -> None:
        if "service_id" in data and s.get(m.Service, data["service_id"]) is None:
            raise BadRequest(f"Could not find service: {data['service_id']}.")
        if data.get("region_id") and s.get(m.Region, data["region_id"]) is None:
            raise BadRequest(f"Could not find region: {data['region_id']}.")

    def get_endpoint(self, s: Session, endpoint_id: str) -> m.Endpoint:
        ep = s.get(m.Endpoint, endpoint_id)
        if ep is None:
            raise NotFound(f"Could not find endpoint: {endpoint_id}.")
        return ep

    def list_endpoints(self, filters: dict[str, Any]) -> list[m.Endpoint]:
        with self.db.session() as s:
            q = select(m.Endpoint).order_by(m.Endpoint.service_id, m.Endpoint.interface)
            for key in ("service_id", "interface", "region_id"):
                if key in filters:
                    q = q.where(getattr(m.Endpoint, key) == filters[key])
            return list(s.scalars(q))

    def update_endpoint(self, endpoint_id: str, data: dict[str, Any]) -> m.Endpoint:
        with self.db.transaction() as s:
            ep = self.get_endpoint(s, endpoint_id)
            self._endpoint_refs(s, data)
            for key in ("service_id", "interface", "region_id", "url", "enabled"):
                if key in data:
                    setattr(ep, key, data[key])
            if "url" in data:
                ep.extra = {k: v for k, v in (ep.extra or {}).items()
                            if k != "overcast_managed"}
            self.svc._bump(s)
            return ep

    def delete_endpoint(self, endpoint_id: str) -> None:
        with self.db.transaction() as s:
            s.delete(self.get_endpoint(s, endpoint_id))
            self.svc._bump(s)

    # -------------------------------------------------- application credentials
    def create_app_cred(self, user_id: str, project_id: str, token_role_ids: list[str],
                        data: dict[str, Any], restricted_token: bool) -> tuple[
                            m.ApplicationCredential, str]:
        if restricted_token:
            raise Forbidden("Using a restricted application credential to create another "
                            "application credential is not allowed.")
        secret = data.get("secret") or secrets.token_urlsafe(64)
        hashed = hash_secret(secret, self.svc.settings.bcrypt_rounds)
        with self.db.transaction() as s:
            self.get_user(s, user_id)
            if s.scalar(select(m.ApplicationCredential).where(
                    m.ApplicationCredential.user_id == user_id,
                    m.ApplicationCredential.name == data["name"])):
                raise Conflict(f"Conflict occurred attempting to store application_credential"
                               f" - Duplicate entry found with name {data['name']}.")
            role_ids = list(token_role_ids)
            if data.get("roles"):
                wanted = []
                for ref in data["roles"]:
                    if ref.get("id"):
                        role = s.get(m.Role, ref["id"])
                    else:
                        role = s.scalar(select(m.Role).where(m.Role.name == ref.get("name"),
                                                             m.Role.domain_key == ""))
                    if role is None:
                        raise NotFound(f"Could not find role: {ref.get('id') or ref.get('name')}.")
                    if role.id not in token_role_ids:
                        raise Forbidden(f"Cannot create an application credential with a "
                                        f"role that you do not have: {role.name}.")
                    wanted.append(role.id)
                role_ids = wanted
            ac = m.ApplicationCredential(
                id=new_id(), name=data["name"], user_id=user_id, project_id=project_id,
                secret_hash=hashed, description=data.get("description"),
                expires_at=data.get("expires_at"),
                unrestricted=bool(data.get("unrestricted", False)), role_ids=role_ids)
            s.add(ac)
            return ac, secret

    def get_app_cred(self, s: Session, user_id: str, ac_id: str) -> m.ApplicationCredential:
        ac = s.get(m.ApplicationCredential, ac_id)
        if ac is None or ac.user_id != user_id:
            raise NotFound(f"Could not find Application Credential: {ac_id}.")
        return ac

    def list_app_creds(self, user_id: str, name: str | None) -> list[m.ApplicationCredential]:
        with self.db.session() as s:
            self.get_user(s, user_id)
            q = select(m.ApplicationCredential).where(
                m.ApplicationCredential.user_id == user_id).order_by(
                m.ApplicationCredential.name)
            if name:
                q = q.where(m.ApplicationCredential.name == name)
            return list(s.scalars(q))

    def delete_app_cred(self, user_id: str, ac_id: str) -> None:
        with self.db.transaction() as s:
            ac = self.get_app_cred(s, user_id, ac_id)
            s.delete(ac)
            self.svc._revoke(s, app_cred_id=ac_id)

    def role_refs(self, role_ids: Iterable[str]) -> list[dict[str, Any]]:
        with self.db.session() as s:
            out = []
            for rid in role_ids:
                r = s.get(m.Role, rid)
                if r:
                    out.append({"id": r.id, "name": r.name, "domain_id": r.domain_id})
            return out

    def lookup(self, model: Any, ident: str) -> Any:
        with self.db.session() as s:
            return s.get(model, ident)


def is_integrity_error(exc: Exception) -> bool:
    return isinstance(exc, IntegrityError)
