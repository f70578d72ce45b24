"""Keystone's security compliance (its `[security_compliance]` section, PCI-DSS):
account lockout after failed password authentications, password expiry, the
history a self-service change may not reuse, a minimum password age, a password
regular expression, and a password that must be changed on first use; with the
per-user options that exempt a user (`ignore_lockout_failure_attempts`, ...).

Every setting comes from overcast's settings (`lockout_failure_attempts`, ...) and
every one is off by default, as in Keystone. The rules are Keystone's SQL identity
driver's: a locked account is refused before its password is even checked; the
history and the minimum age bind only the self-service change
(`POST /v3/users/{id}/password`), never an administrator's reset; the regex binds
every new password. Only hashes are kept; no password reaches a log or a message.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from overcast.config import Settings
from overcast.identity import models as m
from overcast.identity.passwords import verify_secret
from overcast.kit.errors import BadRequest, Unauthorized

#: The user resource options overcast honours (Keystone's names); each is a
#: boolean, and null removes it.
USER_OPTIONS = ("ignore_change_password_upon_first_use", "ignore_password_expiry",
                "ignore_lockout_failure_attempts", "lock_password")

SELF_SERVICE_DISABLED = ("Password validation error: You cannot change your password at "
                         "this time due to password policy disallowing password changes. "
                         "Please contact your administrator to reset your password.")


def account_locked(user_id: str) -> Unauthorized:
    return Unauthorized(f"The account is locked for user: {user_id}.")


def password_expired(user_id: str) -> Unauthorized:
    return Unauthorized(f"The password is expired and needs to be changed for user: "
                        f"{user_id}.")


def ks_password_time(t: dt.datetime | None) -> str | None:
    """A user's `password_expires_at` as Keystone writes it (microseconds, no zone)."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") if t is not None else None


_COMPARATORS = {"lt": "__lt__", "lte": "__le__", "gt": "__gt__", "gte": "__ge__",
                "eq": "__eq__", "neq": "__ne__"}


def expiry_filter(raw: str) -> Any:
    """Keystone's `password_expires_at={operator}:{timestamp}` user list filter
    (operator lt, lte, gt, gte, eq or neq; eq when omitted), as a SQL condition."""
    op, _, stamp = raw.partition(":") if raw.split(":", 1)[0] in _COMPARATORS \
        else ("eq", "", raw)
    try:
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for field 'password_expires_at': {raw!r} is "
                         f"not {{operator}}:{{timestamp}}.") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return getattr(m.User.password_expires_at, _COMPARATORS[op])(when)


def option(u: m.User, name: str) -> bool:
    return bool((u.options or {}).get(name) is True)


def merge_options(current: dict[str, Any] | None, given: dict[str, Any]) -> dict[str, Any]:
    """A user update's `options`: a value sets an option, null removes it."""
    out = dict(current or {})
    for name, value in given.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


class Compliance:
    """The security compliance rules of one cloud (built from its settings)."""

    def __init__(self, settings: Settings) -> None:
        self.lockout_attempts = settings.lockout_failure_attempts
        self.lockout_duration = settings.lockout_duration
        self.expires_days = settings.password_expires_days
        self.unique_count = settings.unique_last_password_count
        self.minimum_age = settings.minimum_password_age
        self.regex = settings.password_regex
        self.regex_description = settings.password_regex_description
        self.change_upon_first_use = settings.change_password_upon_first_use

    # ---------------------------------------------------------------- lockout
    def is_locked(self, u: m.User, now: dt.datetime) -> bool:
        """The account has failed `lockout_failure_attempts` times in a row and
        the last failure is younger than `lockout_duration` (0: locked until an
        administrator resets the password or the counter)."""
        if option(u, "ignore_lockout_failure_attempts") or not self.lockout_attempts:
            return False
        if (u.failed_auth_count or 0) < self.lockout_attempts:
            return False
        if not self.lockout_duration or u.failed_auth_at is None:
            return True
        return u.failed_auth_at + dt.timedelta(seconds=self.lockout_duration) > now

    def record_failure(self, s: Session, user_id: str, now: dt.datetime) -> None:
        """One more failed password; a lockout that has run out starts afresh
        (Keystone resets the counter once the duration has passed)."""
        u = s.get(m.User, user_id)
        if u is None:
            return
        if self.lockout_attempts and (u.failed_auth_count or 0) >= self.lockout_attempts \
                and not self.is_locked(u, now):
            u.failed_auth_count = 0
            s.flush()
        # One UPDATE: failures racing in other API processes all count.
        s.execute(update(m.User).where(m.User.id == user_id).values(
            failed_auth_count=m.User.failed_auth_count + 1, failed_auth_at=now))

    @staticmethod
    def reset_failures(s: Session, user_id: str) -> None:
        u = s.get(m.User, user_id)
        if u is not None and u.failed_auth_count:
            u.failed_auth_count = 0
            u.failed_auth_at = None

    # ------------------------------------------------------------------ expiry
    @staticmethod
    def is_expired(u: m.User, now: dt.datetime) -> bool:
        if u.password_expires_at is None or option(u, "ignore_password_expiry"):
            return False
        return now >= u.password_expires_at

    # ------------------------------------------------------- a new password
    def validate(self, password: str) -> None:
        """Every new password (create, reset, self-service) matches `password_regex`."""
        if not self.regex:
            return
        try:
            ok = re.match(self.regex, password) is not None
        except re.error:
            raise BadRequest("Password validation error: Unable to validate password "
                             "due to invalid configuration.") from None
        if not ok:
            raise BadRequest(f"The password does not match the requirements: "
                             f"{self.regex_description}.")

    def check_self_service(self, s: Session, u: m.User, new: str, rounds: int,
                           now: dt.datetime) -> None:
        """What a user's own change must pass, beyond the regex: not locked by
        `lock_password`, the current (self-set) password old enough, the new one
        none of the last `unique_last_password_count`."""
        if option(u, "lock_password"):
            raise BadRequest(SELF_SERVICE_DISABLED)
        if self.minimum_age and u.password_self_service and u.password_created_at:
            ready = u.password_created_at + dt.timedelta(days=self.minimum_age)
            if now < ready:
                raise BadRequest(
                    f"Password validation error: You cannot change your password at this "
                    f"time due to the minimum password age. Once you change your "
                    f"password, it must be used for {self.minimum_age} day(s) before it "
                    f"can be changed. Please try again in {(ready - now).days} day(s) or "
                    f"contact your administrator to reset your password.")
        if self.unique_count > 0:
            recent = s.scalars(select(m.PasswordHistory.password_hash)
                               .where(m.PasswordHistory.user_id == u.id)
                               .order_by(m.PasswordHistory.id.desc())
                               .limit(self.unique_count))
            if any(verify_secret(new, h, rounds) for h in recent):
                raise BadRequest(
                    f"Password validation error: The new password cannot be identical "
                    f"to a previous password. The total number which includes the new "
                    f"password must be unique is {self.unique_count}.")

    def store(self, s: Session, u: m.User, hashed: str, now: dt.datetime, *,
              self_service: bool) -> None:
        """Make `hashed` the user's password: its expiry (at once when an
        administrator set it and `change_password_upon_first_use` holds), the
        history, and a fresh failure counter."""
        u.password_hash = hashed
        u.password_created_at = now
        u.password_self_service = self_service
        u.failed_auth_count = 0
        u.failed_auth_at = None
        expires = None
        if self.expires_days and not option(u, "ignore_password_expiry"):
            expires = now + dt.timedelta(days=self.expires_days)
        if (not self_service and self.change_upon_first_use
                and not option(u, "ignore_change_password_upon_first_use")):
            expires = now
        u.password_expires_at = expires
        s.add(m.PasswordHistory(user_id=u.id, password_hash=hashed, created_at=now))
        s.flush()
        keep = max(self.unique_count, 1)
        old = list(s.scalars(select(m.PasswordHistory.id)
                             .where(m.PasswordHistory.user_id == u.id)
                             .order_by(m.PasswordHistory.id.desc()).offset(keep)))
        if old:
            s.execute(delete(m.PasswordHistory).where(m.PasswordHistory.id.in_(old)))
