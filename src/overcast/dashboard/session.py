"""The console's session: who is logged in, kept in one encrypted cookie.

The user's Keystone token never reaches the browser's scripts: the session (token,
user, project, roles) is sealed with Fernet (AES-CBC + HMAC-SHA256, from
`cryptography`) under a key kept in the data dir, and sent as an HttpOnly,
SameSite=Strict cookie. Nothing is stored on the server, so every API process
serves every session and a restart logs nobody out.

The idle timeout is Fernet's own timestamp check: the cookie is re-sealed on every
request the user makes (not on the instance table's background polls), and one older
than `Settings.dashboard_idle_timeout` no longer opens. Logging out revokes the token
in Keystone, so a copied cookie is worth nothing afterwards either.

CSRF: every form carries `csrf`, an HMAC of the session's random id under the same
key (htmx requests send it as the `X-CSRF-Token` header); a state-changing request
without the right value is refused before anything is called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

COOKIE = "overcast_session"


@dataclass
class Session:
    """One logged-in user, scoped to one project."""

    token: str
    user_id: str
    user_name: str
    domain: str
    project_id: str
    project_name: str
    roles: list[str] = field(default_factory=list)
    #: Random, per login: what the CSRF token is bound to.
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def _load_key(path: Path) -> bytes:
    """The console's key, made once per cloud (0600) and shared by every process."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    try:
        os.link(tmp, path)  # the first process to get here wins; the others read its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


def _padded(cookie: str) -> bytes:
    return (cookie + "=" * (-len(cookie) % 4)).encode()


class Sessions:
    """Seals and opens session cookies; makes and checks CSRF tokens."""

    def __init__(self, key_path: Path, idle_timeout: int) -> None:
        key = _load_key(key_path)
        self.fernet = Fernet(key)
        # A separate key for CSRF MACs, derived so one leak does not give the other.
        self.mac_key = hashlib.sha256(b"overcast-dashboard-csrf:" + base64.urlsafe_b64decode(key)
                                      ).digest()
        self.idle_timeout = idle_timeout

    def seal(self, session: Session) -> str:
        # without base64's '=' padding, which cookies would have to quote
        return self.fernet.encrypt(orjson.dumps(asdict(session))).decode().rstrip("=")

    def open(self, cookie: str | None) -> Session | None:
        """The session in `cookie`, or None when absent, forged or idle too long."""
        if not cookie:
            return None
        try:
            data: dict[str, Any] = orjson.loads(self.fernet.decrypt(
                _padded(cookie), ttl=self.idle_timeout))
            return Session(**data)
        except (InvalidToken, TypeError, ValueError, orjson.JSONDecodeError):
            return None

    def age(self, cookie: str) -> float:
        """Seconds since `cookie` was sealed (for tests and the idle check's message)."""
        return time.time() - self.fernet.extract_timestamp(_padded(cookie))

    def csrf(self, session: Session) -> str:
        return hmac.new(self.mac_key, session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(self.csrf(session), value or "")
