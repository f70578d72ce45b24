"""The request context: who is calling, in which scope, with which roles."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    request_id: str = ""
    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    user_domain_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    #: Set for domain-scoped tokens.
    domain_id: str | None = None
    domain_name: str | None = None
    #: True for system-scoped tokens (`"system": {"all": true}`).
    system_scope: bool = False
    roles: list[str] = field(default_factory=list)
    role_ids: list[str] = field(default_factory=list)
    auth_token: str | None = field(default=None, repr=False)
    audit_ids: list[str] = field(default_factory=list)
    expires_at: dt.datetime | None = None
    issued_at: dt.datetime | None = None
    methods: list[str] = field(default_factory=list)
    application_credential_id: str | None = None
    #: The access rules of the application credential the token came from
    #: ([{service, path, method}]); None: the token may call anything its roles allow.
    access_rules: list[dict[str, str]] | None = None
    #: A context for overcast's own internal calls (agents, conductor).
    internal: bool = False

    @property
    def is_admin(self) -> bool:
        return self.internal or "admin" in self.roles

    @property
    def is_reader(self) -> bool:
        return self.is_admin or "reader" in self.roles or "member" in self.roles

    def has_role(self, *names: str) -> bool:
        return self.internal or any(n in self.roles for n in names)

    @classmethod
    def internal_admin(cls, request_id: str = "") -> RequestContext:
        return cls(request_id=request_id, roles=["admin", "member", "reader"], internal=True)
