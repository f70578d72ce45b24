"""Domain-specific configuration (`/v3/domains/{id}/config`), as Keystone's
domain config manager: a domain may carry options of the `identity` and `ldap`
groups, only those Keystone whitelists; sensitive ones (`ldap.password`) are
stored and never answered. `/v3/domains/config/default` shows the defaults of the
whitelisted options, and `security_compliance` shows the cloud's password regex.

overcast authenticates users only against its SQL identity backend: a domain's
`identity.driver = ldap` is stored and returned as Keystone does, and not
honoured (no LDAP server is ever contacted).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from overcast.config import Settings
from overcast.db import Database
from overcast.identity import models as m
from overcast.identity.domains import DEFAULT_DOMAIN_ID
from overcast.kit.errors import Forbidden, NotFound

#: Each whitelisted option with its default (Keystone's defaults, and overcast's
#: own identity driver).
DEFAULTS: dict[str, dict[str, Any]] = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
        "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
        "debug_level": None, "chase_referrals": None, "user_tree_dn": None,
        "user_filter": None, "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn", "user_name_attribute": "sn",
        "user_mail_attribute": "mail", "user_description_attribute": "description",
        "user_pass_attribute": "userPassword", "user_enabled_attribute": "enabled",
        "user_enabled_invert": False, "user_enabled_mask": 0,
        "user_enabled_default": "True", "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None,
        "group_filter": None, "group_objectclass": "groupOfNames",
        "group_id_attribute": "cn", "group_name_attribute": "ou",
        "group_members_are_ids": False, "group_member_attribute": "member",
        "group_desc_attribute": "description", "group_attribute_ignore": [],
        "group_additional_attribute_mapping": [], "tls_cacertfile": None,
        "tls_cacertdir": None, "use_tls": False, "tls_req_cert": "demand",
        "use_pool": True, "pool_size": 10, "pool_retry_max": 3, "pool_retry_delay": 0.1,
        "pool_connection_timeout": -1, "pool_connection_lifetime": 600,
        "use_auth_pool": True, "auth_pool_size": 100, "auth_pool_connection_lifetime": 60,
    },
}
SENSITIVE: dict[str, tuple[str, ...]] = {"identity": (), "ldap": ("password",)}
COMPLIANCE_READABLE = ("password_regex", "password_regex_description")

Config = dict[str, dict[str, Any]]


def invalid(reason: str) -> Forbidden:
    return Forbidden(f"Invalid domain specific configuration: {reason}.")


def not_found(domain_id: str, group: str | None, option: str | None) -> NotFound:
    what = (f"option {option} in group {group}" if option else
            f"group {group}" if group else "any options")
    return NotFound(f"Could not find {what} in domain configuration for domain "
                    f"{domain_id}.")


def check_group_option(group: str | None, option: str | None) -> None:
    if group is None:
        return
    if group not in DEFAULTS:
        raise invalid(f"Group {group} is not supported for domain specific configurations")
    if option is not None and option not in DEFAULTS[group] \
            and option not in SENSITIVE[group]:
        raise invalid(f"Option {option} in group {group} is not supported for domain "
                      f"specific configurations")


def check_config(config: Any) -> Config:
    if not isinstance(config, dict) or not config:
        raise invalid("No options specified")
    for group, options in config.items():
        if not isinstance(options, dict) or not options:
            raise invalid(f"The value of group {group} specified in the config should be "
                          f"a dictionary of options")
        for option in options:
            check_group_option(group, option)
    return config


class DomainConfigs:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _domain(self, s: Any, domain_id: str) -> None:
        if "\x00" in domain_id or s.get(m.Domain, domain_id) is None:
            raise NotFound(f"Could not find domain: {domain_id}.")

    def _read(self, s: Any, domain_id: str, *, sensitive: bool = False) -> Config:
        q = select(m.DomainConfig).where(m.DomainConfig.domain_id == domain_id)
        if not sensitive:
            q = q.where(m.DomainConfig.sensitive.is_(False))
        out: Config = {}
        for row in s.scalars(q.order_by(m.DomainConfig.group, m.DomainConfig.option)):
            out.setdefault(row.group, {})[row.option] = row.value
        return out

    def _write(self, s: Any, domain_id: str, config: Config) -> None:
        for group, options in config.items():
            for option, value in options.items():
                row = s.get(m.DomainConfig, (domain_id, group, option))
                if row is None:
                    s.add(m.DomainConfig(domain_id=domain_id, group=group, option=option,
                                         value=value,
                                         sensitive=option in SENSITIVE[group]))
                else:
                    row.value = value

    def create(self, domain_id: str, config: Any) -> tuple[Config, bool]:
        """PUT: replace the whole configuration; (what it now is, was it new)."""
        config = check_config(config)
        with self.db.transaction() as s:
            self._domain(s, domain_id)
            existed = bool(self._read(s, domain_id, sensitive=True))
            s.execute(delete(m.DomainConfig).where(m.DomainConfig.domain_id == domain_id))
            s.flush()
            self._write(s, domain_id, config)
            s.flush()
            return self._read(s, domain_id), not existed

    def show(self, domain_id: str, group: str | None = None,
             option: str | None = None) -> Any:
        check_group_option(group, option)
        with self.db.session() as s:
            self._domain(s, domain_id)
            config = self._read(s, domain_id)
        if group is not None:
            config = {group: config[group]} if group in config else {}
        if option is not None and group is not None:
            if option in config.get(group, {}):
                return {option: config[group][option]}
            config = {}
        if not config:
            raise not_found(domain_id, group, option)
        return config

    def update(self, domain_id: str, config: Any, group: str | None = None,
               option: str | None = None) -> Config:
        """PATCH: merge options into the configuration; with a group (and option)
        in the URL, only that group (option) may be named, and it must exist."""
        if group is not None and option is not None:
            if not isinstance(config, dict) or len(config) != 1 or option not in config:
                raise invalid(f"Trying to update option {option} in group {group}, so "
                              f"that, and only that, option must be specified  in the "
                              f"config")
            config = {group: config}
        config = check_config(config)
        check_group_option(group, option)
        if group is not None and (len(config) != 1 or group not in config):
            raise invalid(f"Trying to update group {group}, so that, and only that, group "
                          f"must be specified in the config")
        with self.db.transaction() as s:
            self._domain(s, domain_id)
            current = self._read(s, domain_id, sensitive=True)
            if group is not None and (group not in current or (
                    option is not None and option not in current[group])):
                raise not_found(domain_id, group, option)
            self._write(s, domain_id, config)
            s.flush()
            return self._read(s, domain_id)

    def delete(self, domain_id: str, group: str | None = None,
               option: str | None = None) -> None:
        check_group_option(group, option)
        with self.db.transaction() as s:
            self._domain(s, domain_id)
            current = self._read(s, domain_id, sensitive=True)
            if group is not None and (group not in current or (
                    option is not None and option not in current[group])):
                raise not_found(domain_id, group, option)
            q = delete(m.DomainConfig).where(m.DomainConfig.domain_id == domain_id)
            if group is not None:
                q = q.where(m.DomainConfig.group == group)
            if option is not None:
                q = q.where(m.DomainConfig.option == option)
            s.execute(q)

    @staticmethod
    def default(group: str | None = None, option: str | None = None) -> Any:
        check_group_option(group, option)
        if group is None:
            return {g: dict(opts) for g, opts in DEFAULTS.items()}
        if option is None:
            return {group: dict(DEFAULTS[group])}
        if option not in DEFAULTS[group]:
            raise invalid(f"Reading the default for option {option} in group {group} is "
                          f"not supported")
        return {option: DEFAULTS[group][option]}

    def security_compliance(self, domain_id: str, option: str | None = None) -> Any:
        """What any user may read of the password rules: the regex and its
        description (only for the default domain, as Keystone)."""
        with self.db.session() as s:
            self._domain(s, domain_id)
        if domain_id != DEFAULT_DOMAIN_ID:
            raise invalid("Reading security compliance information for any domain other "
                          "than the default domain is not allowed or supported")
        values = {"password_regex": self.settings.password_regex or None,
                  "password_regex_description":
                      self.settings.password_regex_description or None}
        if option is None:
            return {"security_compliance": values}
        if option not in COMPLIANCE_READABLE:
            raise invalid("Reading security compliance values other than password_regex "
                          "and password_regex_description is not allowed")
        return {option: values[option]}
