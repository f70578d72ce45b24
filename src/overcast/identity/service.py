"""Keystone's domain logic in one object: the token authority (auth.py) and one
part per resource group, composed. `app.state.identity` is an `IdentityService`;
the routes reach a resource through its attribute (`identity.users.create(...)`),
other packages through the few methods below (bootstrap, admin_project_id and the
token entry points). No HTTP here, and no SQL: that lives in the parts.

The package layout is described in `overcast.identity`'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.config import Settings
from overcast.db import Database, utcnow
from overcast.identity import bootstrap as boot
from overcast.identity import ec2
from overcast.identity.application_credentials import ApplicationCredentials
from overcast.identity.assignments import Assignments
from overcast.identity.auth import TokenAuthority, TokenInfo
from overcast.identity.catalog import CatalogService, Endpoints, Regions, Services
from overcast.identity.credentials import CredentialCrypto, Credentials, Ec2Secret
from overcast.identity.documents import Consumers, EndpointFilter, EndpointGroups, Policies
from overcast.identity.domains import Domains
from overcast.identity.errors import EC2_KEY_NOT_FOUND
from overcast.identity.groups import Groups
from overcast.identity.projects import Projects
from overcast.identity.roles import Roles
from overcast.identity.tokens import KeyRepository
from overcast.identity.trusts import Trusts
from overcast.identity.users import Users
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound, Unauthorized

__all__ = ["CatalogService", "Ec2Secret", "IdentityService", "TokenInfo"]


class IdentityService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.keys = KeyRepository(settings.keys_dir, settings.max_active_keys)
        self.auth = TokenAuthority(db, settings, self.keys)
        rounds = settings.bcrypt_rounds
        self.domains = Domains(db)
        self.projects = Projects(db)
        self.users = Users(db, rounds)
        self.groups = Groups(db)
        self.roles = Roles(db)
        self.assignments = Assignments(db)
        self.regions = Regions(db)
        self.services = Services(db)
        self.endpoints = Endpoints(db)
        self.policies = Policies(db)
        self.endpoint_groups = EndpointGroups(db)
        self.endpoint_filter = EndpointFilter(db)
        self.consumers = Consumers(db)
        self.trusts = Trusts(db)
        self.app_creds = ApplicationCredentials(db, rounds)
        self.credential_keys = KeyRepository(settings.credential_keys_dir,
                                             settings.max_active_keys)
        self.credentials = Credentials(db, CredentialCrypto(self.credential_keys))

    # -------------------------------------------------- for the rest of overcast
    def bootstrap(self, admin_password: str, services: Sequence[CatalogService]) -> None:
        """Create (or keep) the default domain, roles, admin user/project and catalog."""
        self.keys.setup()
        self.credential_keys.setup()
        boot.bootstrap(self.db, self.settings, admin_password, services)

    def ensure_service_user(self, name: str, password: str) -> None:
        """The service user compute hosts' agents authenticate as (bootstrap.py)."""
        boot.ensure_service_user(self.db, self.settings, name, password)

    def admin_project_id(self) -> str:
        return boot.admin_project_id(self.db, self.settings)

    # ------------------------------------------------------------------ tokens
    def generation(self) -> int:
        return self.auth.generation()

    def authenticate(self, auth: dict[str, Any]) -> tuple[str, TokenInfo]:
        """Handle a `POST /v3/auth/tokens` body; return (token, resolved info)."""
        return self.auth.authenticate(auth)

    def validate(self, token: str, *, allow_expired: bool = False) -> TokenInfo:
        """Resolve a token; 404 if it is invalid, expired or revoked (Keystone's answer)."""
        return self.auth.validate(token, allow_expired=allow_expired)

    def revoke_token(self, token: str) -> None:
        self.auth.revoke_token(token)

    def context_for(self, token: str, request_id: str = "") -> RequestContext:
        """The auth middleware's entry point: a token to a request context, or 401."""
        return self.auth.context_for(token, request_id)

    def catalog(self, project_id: str | None) -> list[dict[str, Any]]:
        return self.auth.catalog(project_id)

    # ------------------------------------------- EC2 credentials (S3, ec2tokens)
    def ec2_secret(self, access: str) -> Ec2Secret | None:
        """The EC2 credential with this access key (its secret, user and project),
        or None: what a service needs to check an AWS signature itself."""
        return self.credentials.ec2_secret(access)

    def ec2_token(self, cred: Ec2Secret) -> tuple[str, TokenInfo]:
        """A token for an EC2 credential whose signature the caller has checked:
        scoped to the credential's project, 401 if its user may not use it."""
        return self.auth.issue_ec2(cred.user_id, cred.project_id, cred.app_cred_id)

    def ec2tokens(self, signed: dict[str, Any], *, s3: bool = False
                  ) -> tuple[str, TokenInfo]:
        """`POST /v3/ec2tokens` (or `/v3/s3tokens` with `s3`): check the forwarded
        request's signature with the access key's secret and its age, then issue
        the credential's token. 404 for an unknown key (Keystone's answer), 401
        for a bad signature."""
        if not isinstance(signed.get("access"), str):
            raise Unauthorized("EC2 Signature not supplied")
        cred = self.credentials.ec2_secret(signed["access"])
        if cred is None:
            raise NotFound(EC2_KEY_NOT_FOUND)
        if s3:
            ec2.check_s3_signature(cred.secret, signed)
        else:
            ec2.check_signature(cred.secret, signed)
        ec2.check_timestamp(signed, utcnow(), self.settings.credential_auth_ttl)
        return self.ec2_token(cred)
