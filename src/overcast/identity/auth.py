"""Tokens: issuing, validating, caching and revoking them, and the catalog a
token carries. The identity resources (users, projects, roles, ...) live in their
own modules; this one only reads them.

Token validation is on every API call's path, so it never touches bcrypt and
normally never touches more than one row: validated tokens are cached with the
identity `generation` they were resolved at, and anything that can change a
token's meaning (revocation, role or membership change, disabling, deletion,
catalog change) bumps the generation in the same transaction. The resources do
that through the public revocation interface below (`bump_generation`,
`revoke_user`, `revoke_project`, ...), each called inside the caller's own
transaction, so the change and the revocation commit together.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from overcast.config import Settings
from overcast.db import Database, utcnow
from overcast.identity import effective
from overcast.identity import models as m
from overcast.identity.compliance import (
    Compliance,
    account_locked,
    ks_password_time,
    password_expired,
)
from overcast.identity.errors import AUTH_FAILED
from overcast.identity.passwords import verify_secret
from overcast.identity.tokens import (
    SCOPE_DOMAIN,
    SCOPE_NONE,
    SCOPE_PROJECT,
    SCOPE_SYSTEM,
    SCOPE_TRUST,
    KeyRepository,
    TokenFormatter,
    TokenPayload,
    new_audit_id,
)
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Forbidden, NotFound, Unauthorized

SYSTEM_TARGET = effective.SYSTEM_TARGET
#: The validation cache is dropped whole when it grows past this many tokens.
TOKEN_CACHE_MAX = 20000


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
    #: the OS-TRUST section of a trust-scoped token
    trust: dict[str, Any] | None = None
    #: an application credential's access rules (None: the token is not limited)
    access_rules: list[dict[str, str]] | None = None

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
            application_credential_id=p.app_cred_id, access_rules=self.access_rules,
        )


# ------------------------------------------------- the revocation interface
# Called by the resource modules inside their own transaction (`s`), so that a
# change and what it does to tokens commit together.


def bump_generation(s: Session) -> None:
    """Invalidate every cached token resolution and the cached catalog (in every
    API process): something a token's meaning depends on has changed."""
    row = s.get(m.IdentityState, "generation")
    if row is None:
        s.add(m.IdentityState(key="generation", value=1))
    else:
        s.execute(update(m.IdentityState).where(m.IdentityState.key == "generation")
                  .values(value=m.IdentityState.value + 1))


def _record(s: Session, **match: str | None) -> None:
    s.add(m.RevocationEvent(issued_before=utcnow(), revoked_at=utcnow(), **match))
    bump_generation(s)


def revoke_user(s: Session, user_id: str, project_id: str | None = None) -> None:
    """Revoke the user's tokens issued until now (only those scoped to
    `project_id` when one is given)."""
    _record(s, user_id=user_id, project_id=project_id)


def revoke_project(s: Session, project_id: str) -> None:
    """Revoke every token scoped to the project, issued until now."""
    _record(s, project_id=project_id)


def revoke_domain(s: Session, domain_id: str) -> None:
    """Revoke every token scoped to the domain, issued until now."""
    _record(s, domain_id=domain_id)


def revoke_app_cred(s: Session, app_cred_id: str) -> None:
    """Revoke every token issued with the application credential."""
    _record(s, app_cred_id=app_cred_id)


def revoke_audit_chain(s: Session, audit_id: str) -> None:
    """Revoke one token and every token rescoped from it (they share the audit id)."""
    _record(s, audit_id=audit_id)


class TokenAuthority:
    """Issues and validates Fernet tokens; keeps the validation, revocation and
    catalog caches of this process, all keyed by the identity generation."""

    def __init__(self, db: Database, settings: Settings, keys: KeyRepository) -> None:
        self.db = db
        self.settings = settings
        self.formatter = TokenFormatter(keys)
        self.compliance = Compliance(settings)
        self._token_cache: dict[str, tuple[int, TokenInfo]] = {}
        self._revocations: tuple[int, list[m.RevocationEvent]] = (-1, [])
        self._catalog_cache: tuple[int, list[dict[str, Any]]] = (-1, [])
        #: OS-EP-FILTER: project -> the endpoint ids its catalog is limited to
        self._filter_cache: tuple[int, dict[str, set[str] | None]] = (-1, {})
        self._local = threading.local()
        db_path = db.engine.url.database if db.is_sqlite else None
        self._sqlite_path = db_path if db_path and db_path != ":memory:" else None

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
            except NotFound:
                # Keystone's TokenNotFound: a revoked, expired or unknown token is a
                # 404 here too, not a 401.
                raise NotFound("Failed to validate token") from None
            if prior.payload.app_cred_id:
                raise Forbidden("Application credential tokens cannot be rescoped.")
            if prior.payload.scope_type == SCOPE_TRUST:
                # An impersonating trust token names the trustor: rescoping it
                # would hand the trustee all of the trustor's roles.
                raise Forbidden("Trust-scoped tokens cannot be rescoped.")
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

    def issue_ec2(self, user_id: str, project_id: str | None,
                  app_cred_id: str | None = None) -> tuple[str, TokenInfo]:
        """A project-scoped token for an EC2 credential whose signature was checked
        (`POST /v3/ec2tokens`, the S3 API): method `ec2credential`, the user's roles
        on the credential's project (narrowed to an application credential's when
        the key pair was made with one). 401 if the user or project is disabled or
        gone, or the user holds no role there any more."""
        if not project_id:
            raise Unauthorized("User not valid for project.")
        now = utcnow()
        expires_at = now + dt.timedelta(seconds=self.settings.token_expiration)
        if app_cred_id is not None:
            with self.db.session() as s:
                ac = s.get(m.ApplicationCredential, app_cred_id)
                if ac is None:
                    raise Unauthorized("The application credential the EC2 credential "
                                       "was made with no longer exists.")
                if ac.project_id != project_id:
                    raise Unauthorized("EC2 credential project does not match the "
                                       "application credential project.")
                if ac.expires_at is not None:
                    if ac.expires_at <= now:
                        raise Unauthorized("The application credential has expired.")
                    expires_at = min(expires_at, ac.expires_at)
        payload = TokenPayload(user_id=user_id, methods=["ec2credential"],
                               expires_at=expires_at, issued_at=now,
                               audit_ids=[new_audit_id()], scope_type=SCOPE_PROJECT,
                               scope_id=project_id, app_cred_id=app_cred_id)
        try:
            return self._issue(payload)
        except NotFound:
            # Disabled or deleted user/project, or no role left: the key pair is dead.
            raise Unauthorized("User not valid for project.") from None

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
        now = utcnow()
        with self.db.session() as s:
            user = self._find_user_for_auth(s, u)
            hashed = user.password_hash if user is not None else None
            domain = s.get(m.Domain, user.domain_id) if user is not None else None
        # Keystone's order: a locked account is refused before its password is
        # checked; a wrong password counts; then disabled, then expired.
        if user is not None and self.compliance.is_locked(user, now):
            raise account_locked(user.id)
        ok = verify_secret(password, hashed, self.settings.bcrypt_rounds)
        if user is None or not ok:
            if user is not None and self.compliance.lockout_attempts:
                with self.db.transaction() as s:
                    self.compliance.record_failure(s, user.id, now)
            raise Unauthorized(AUTH_FAILED)
        if not user.enabled or domain is None or not domain.enabled:
            raise Unauthorized(AUTH_FAILED)
        if self.compliance.is_expired(user, now):
            raise password_expired(user.id)
        if user.failed_auth_count:
            with self.db.transaction() as s:
                self.compliance.reset_failures(s, user.id)
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
        """The scope a new token gets: the one asked for (project, domain or system),
        which the user must hold a role on, or without one the user's default
        project when usable, else none. 401 in Keystone's words otherwise."""
        if isinstance(scope, dict) and "OS-TRUST:trust" in scope:
            # its own transaction: a use of the trust is spent
            return SCOPE_TRUST, self._use_trust(scope["OS-TRUST:trust"], user_id)
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
                            effective.project_roles(s, user_id, project):
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
                if not effective.project_roles(s, user_id, project):
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
                if not effective.domain_roles(s, user_id, domain.id):
                    raise Unauthorized(f"User {user_id} has no access to domain {domain.id}.")
                return SCOPE_DOMAIN, domain.id
            if "system" in scope:
                if not effective.system_roles(s, user_id):
                    raise Unauthorized(f"User {user_id} has no access to the system.")
                return SCOPE_SYSTEM, SYSTEM_TARGET
            raise BadRequest("Invalid input for field 'auth/scope': expected 'project', "
                             "'domain' or 'system'.")

    def _use_trust(self, ref: Any, trustee_id: str) -> str:
        """The trust a new token is scoped to, checked for its trustee, with one of
        its remaining uses spent. 401 (Keystone's answer) if it cannot be used."""
        trust_id = ref.get("id") if isinstance(ref, dict) else None
        if not isinstance(trust_id, str):
            raise BadRequest("Invalid input for field 'scope/OS-TRUST:trust': 'id' is "
                             "required.")
        with self.db.transaction() as s:
            t = s.get(m.Trust, trust_id)
            if t is None or effective.trust_expired(t):
                raise Unauthorized(f"Could not find trust: {trust_id}.")
            if t.trustee_user_id != trustee_id:
                raise Forbidden("The user is not the trustee of this trust.")
            trustor = s.get(m.User, t.trustor_user_id)
            if trustor is None or not trustor.enabled:
                raise Forbidden("The trustor is disabled or gone.")
            if not effective.delegated_roles(s, t):
                raise Forbidden("The trustor no longer holds any of the trust's roles.")
            if t.remaining_uses is not None:
                if t.remaining_uses <= 0:
                    raise Forbidden("The trust has no uses left.")
                t.remaining_uses -= 1
            return t.id

    def _domain_enabled(self, s: Session, domain_id: str) -> bool:
        d = s.get(m.Domain, domain_id)
        return d is not None and d.enabled


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
            if len(self._token_cache) > TOKEN_CACHE_MAX:
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
        """What a decoded token means now: its user, scope and effective roles
        (narrowed to an application credential's). 404 if it was revoked, or if
        its user, scope or every role there is gone or disabled."""
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
                "password_expires_at": ks_password_time(user.password_expires_at)})
            if payload.scope_type == SCOPE_PROJECT and payload.scope_id:
                project = s.get(m.Project, payload.scope_id)
                if project is None or not project.enabled:
                    raise NotFound("The token's project is disabled or gone.")
                pdom = s.get(m.Domain, project.domain_id)
                if pdom is None or not pdom.enabled:
                    raise NotFound("The token's project domain is disabled.")
                info.project = {"id": project.id, "name": project.name,
                                "domain": {"id": pdom.id, "name": pdom.name}}
                roles = effective.project_roles(s, user.id, project)
                if payload.app_cred_id:
                    ac = s.get(m.ApplicationCredential, payload.app_cred_id)
                    if ac is None:
                        raise NotFound("The application credential is gone.")
                    allowed = set(ac.role_ids)
                    roles = [r for r in effective.expand_implied(s, allowed)
                             if r.id in {x.id for x in roles}]
                    info.app_cred = {"id": ac.id, "name": ac.name,
                                     "restricted": not ac.unrestricted}
                    if ac.access_rules:
                        info.app_cred["access_rules"] = list(ac.access_rules)
                        info.access_rules = list(ac.access_rules)
                if not roles:
                    raise NotFound("The user has no role on the token's project any more.")
            elif payload.scope_type == SCOPE_DOMAIN and payload.scope_id:
                domain = s.get(m.Domain, payload.scope_id)
                if domain is None or not domain.enabled:
                    raise NotFound("The token's domain is disabled or gone.")
                info.domain = {"id": domain.id, "name": domain.name}
                roles = effective.domain_roles(s, user.id, domain.id)
                if not roles:
                    raise NotFound("The user has no role on the token's domain any more.")
            elif payload.scope_type == SCOPE_TRUST and payload.scope_id:
                roles = self._resolve_trust(s, info, payload.scope_id)
            elif payload.scope_type == SCOPE_SYSTEM:
                info.system = True
                roles = effective.system_roles(s, user.id)
                if not roles:
                    raise NotFound("The user has no role on the system any more.")
            else:
                roles = []
            info.roles = [{"id": r.id, "name": r.name} for r in roles]
        return info

    def _resolve_trust(self, s: Session, info: TokenInfo, trust_id: str) -> list[m.Role]:
        """A trust token's project, roles and OS-TRUST section; with impersonation
        its user is the trustor. 404 once the trust is gone or expired, or the
        trustor is disabled or holds none of its roles any more."""
        t = s.get(m.Trust, trust_id)
        if t is None or effective.trust_expired(t):
            raise NotFound("The token's trust is gone or expired.")
        project = s.get(m.Project, t.project_id) if t.project_id else None
        if project is None or not project.enabled:
            raise NotFound("The trust's project is disabled or gone.")
        pdom = s.get(m.Domain, project.domain_id)
        if pdom is None or not pdom.enabled:
            raise NotFound("The token's project domain is disabled.")
        trustor = s.get(m.User, t.trustor_user_id)
        tdom = s.get(m.Domain, trustor.domain_id) if trustor else None
        if trustor is None or not trustor.enabled or tdom is None:
            raise NotFound("The trustor is disabled or gone.")
        if t.impersonation:
            info.user = {"id": trustor.id, "name": trustor.name,
                         "domain": {"id": tdom.id, "name": tdom.name},
                         "password_expires_at": None}
        info.project = {"id": project.id, "name": project.name,
                        "domain": {"id": pdom.id, "name": pdom.name}}
        info.trust = {"id": t.id, "impersonation": t.impersonation,
                      "trustee_user": {"id": t.trustee_user_id},
                      "trustor_user": {"id": t.trustor_user_id}}
        roles = effective.delegated_roles(s, t)
        if not roles:
            raise NotFound("The trustor holds none of the trust's roles any more.")
        return roles

    def _events(self, gen: int) -> list[m.RevocationEvent]:
        """Revocation events young enough to matter, cached per generation."""
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

    def revoke_token(self, token: str) -> None:
        """`DELETE /v3/auth/tokens`: revoke the token and those rescoped from it."""
        info = self.validate(token)
        with self.db.transaction() as s:
            revoke_audit_chain(s, info.payload.audit_ids[0])
        self._token_cache.pop(token, None)

    def context_for(self, token: str, request_id: str = "") -> RequestContext:
        """The auth middleware's entry point: a token to a request context, or 401."""
        try:
            info = self.validate(token)
        except NotFound:
            raise Unauthorized(AUTH_FAILED)
        return info.context(token, request_id)

    # --------------------------------------------------------------- catalog
    def _endpoint_filter(self, gen: int, project_id: str) -> set[str] | None:
        if self._filter_cache[0] != gen:
            self._filter_cache = (gen, {})
        cache = self._filter_cache[1]
        if project_id not in cache:
            with self.db.session() as s:
                cache[project_id] = effective.filtered_endpoint_ids(s, project_id)
        return cache[project_id]

    def catalog(self, project_id: str | None) -> list[dict[str, Any]]:
        """The catalog a token shows: enabled services and endpoints (cached per
        generation), with `$(project_id)s` filled in; templated endpoints are
        left out of a token that has no project."""
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
        only = self._endpoint_filter(gen, project_id) if project_id else None
        out = []
        for entry in self._catalog_cache[1]:
            rendered = []
            for e in entry["endpoints"]:
                if only is not None and e["id"] not in only:
                    continue
                url = e["url"]
                if "$(project_id)s" in url or "%(project_id)s" in url \
                        or "%(tenant_id)s" in url:
                    if not project_id:
                        continue
                    url = (url.replace("$(project_id)s", project_id)
                           .replace("%(project_id)s", project_id)
                           .replace("%(tenant_id)s", project_id))
                rendered.append({**e, "url": url})
            if only is not None and not rendered:
                continue  # a filtered catalog names only services it reaches
            out.append({**entry, "endpoints": rendered})
        return out

