"""Fernet tokens: the key repository on disk and the token payload format.

Keys live in `DATA_DIR/fernet-keys/` as Keystone lays them out: file `0` is the
staged key, the highest number is the primary (used to encrypt), the others are
secondaries (still accepted to decrypt). `rotate()` promotes the staged key and
keeps at most `max_active_keys` files, so tokens survive restarts and rotations.

A token carries only identifiers and times (user, methods, scope, expiry, issue
time in microseconds, audit ids); names, roles and the catalog are looked up
when it is validated, so nothing secret rides in it and changes apply at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_HEX32 = re.compile(r"^[0-9a-f]{32}$")

#: The methods a token may carry, one bit each in its payload; new ones go at the
#: end so tokens issued before keep their meaning.
METHODS = ["password", "token", "application_credential", "totp", "external", "mapped",
           "ec2credential"]

SCOPE_NONE, SCOPE_PROJECT, SCOPE_DOMAIN, SCOPE_SYSTEM = 0, 1, 2, 3
#: scoped to an OS-TRUST trust (the scope id is the trust's id)
SCOPE_TRUST = 4


class KeyRepository:
    def __init__(self, path: Path, max_active_keys: int = 3) -> None:
        self.path = path
        self.max_active_keys = max(2, max_active_keys)
        self._fernet: MultiFernet | None = None
        self._loaded_mtime: float | None = None

    def _key_files(self) -> dict[int, Path]:
        keys = {}
        if self.path.exists():
            for p in self.path.iterdir():
                if p.name.isdigit():
                    keys[int(p.name)] = p
        return keys

    @staticmethod
    def _write_key(path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def setup(self) -> None:
        """Create the repository with a staged and a primary key if it is empty."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path, 0o700)
        keys = self._key_files()
        if 0 not in keys:
            self._write_key(self.path / "0")
        if len([k for k in keys if k > 0]) == 0:
            self._write_key(self.path / "1")
        self._fernet = None

    def rotate(self) -> int:
        """Promote the staged key to primary, stage a new one, drop the oldest. Returns primary."""
        self.setup()
        keys = self._key_files()
        new_primary = max(keys) + 1
        os.replace(keys[0], self.path / str(new_primary))
        self._write_key(self.path / "0")
        keys = self._key_files()
        secondaries = sorted(k for k in keys if k not in (0, new_primary))
        while len(secondaries) + 2 > self.max_active_keys:
            os.remove(keys[secondaries.pop(0)])
        self._fernet = None
        return new_primary

    def primary_key(self) -> bytes:
        """The key new data is encrypted with (the highest-numbered file)."""
        keys = self._key_files()
        if not keys:
            raise RuntimeError(f"no Fernet keys in {self.path}; run `overcast init`")
        return keys[max(keys)].read_bytes().strip()

    def fernet(self) -> MultiFernet:
        mtime = self.path.stat().st_mtime if self.path.exists() else None
        if self._fernet is None or mtime != self._loaded_mtime:
            keys = self._key_files()
            if not keys:
                raise RuntimeError(f"no Fernet keys in {self.path}; run `overcast init`")
            # Primary (highest) first: MultiFernet encrypts with the first key.
            ordered = [Fernet(keys[k].read_bytes().strip()) for k in sorted(keys, reverse=True)]
            self._fernet = MultiFernet(ordered)
            self._loaded_mtime = mtime
        return self._fernet


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _pack_str(value: str | None) -> bytes:
    if value is None:
        return b"\x00"
    if _HEX32.match(value):
        return b"\x01" + bytes.fromhex(value)
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError("identifier too long for a token")
    return b"\x02" + bytes([len(raw)]) + raw


def _unpack_str(data: bytes, pos: int) -> tuple[str | None, int]:
    kind = data[pos]
    if kind == 0:
        return None, pos + 1
    if kind == 1:
        return data[pos + 1:pos + 17].hex(), pos + 17
    if kind != 2:
        raise ValueError("unknown identifier kind in a token")
    length = data[pos + 1]
    return data[pos + 2:pos + 2 + length].decode(), pos + 2 + length


def _pack_audit(audit_id: str) -> bytes:
    return base64.urlsafe_b64decode(audit_id + "==")


def _unpack_audit(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class TokenPayload:
    user_id: str
    methods: list[str]
    expires_at: dt.datetime
    issued_at: dt.datetime
    audit_ids: list[str] = field(default_factory=list)
    scope_type: int = SCOPE_NONE
    scope_id: str | None = None
    app_cred_id: str | None = None

    def pack(self) -> bytes:
        mask = 0
        for m in self.methods:
            if m in METHODS:
                mask |= 1 << METHODS.index(m)
        out = bytearray(b"\x01")  # payload version
        out += _pack_str(self.user_id)
        out += struct.pack(">HB", mask, self.scope_type)
        out += _pack_str(self.scope_id)
        out += _pack_str(self.app_cred_id)
        out += struct.pack(">qq", _to_us(self.expires_at), _to_us(self.issued_at))
        out += bytes([len(self.audit_ids)])
        for a in self.audit_ids:
            out += _pack_audit(a)
        return bytes(out)

    @classmethod
    def unpack(cls, data: bytes) -> TokenPayload:
        """The payload `pack` made; ValueError for any other bytes (a short, long or
        garbled payload is a token not recognized, never a server error)."""
        try:
            return cls._unpack(data)
        except (IndexError, struct.error, OverflowError, OSError) as exc:
            raise ValueError("malformed token payload") from exc

    @classmethod
    def _unpack(cls, data: bytes) -> TokenPayload:
        if not data or data[0] != 1:
            raise ValueError("unknown token payload version")
        pos = 1
        user_id, pos = _unpack_str(data, pos)
        mask, scope_type = struct.unpack_from(">HB", data, pos)
        pos += 3
        scope_id, pos = _unpack_str(data, pos)
        app_cred_id, pos = _unpack_str(data, pos)
        exp_us, iat_us = struct.unpack_from(">qq", data, pos)
        pos += 16
        count = data[pos]
        pos += 1
        audits = []
        for _ in range(count):
            audits.append(_unpack_audit(data[pos:pos + 16]))
            pos += 16
        if pos != len(data):
            raise ValueError("token payload of the wrong length")
        methods = [m for i, m in enumerate(METHODS) if mask & (1 << i)]
        if user_id is None:
            raise ValueError("token without user")
        return cls(user_id=user_id, methods=methods, expires_at=_from_us(exp_us),
                   issued_at=_from_us(iat_us), audit_ids=audits, scope_type=scope_type,
                   scope_id=scope_id, app_cred_id=app_cred_id)


def _to_us(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)


def _from_us(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC).replace(tzinfo=None)


class TokenFormatter:
    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys

    def encode(self, payload: TokenPayload) -> str:
        token = self.keys.fernet().encrypt(payload.pack()).decode()
        return token.rstrip("=")

    def decode(self, token: str) -> TokenPayload:
        """Decrypt a token; raise ValueError if it is not one of ours."""
        if not token or len(token) > 1024:
            raise ValueError("bad token")
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = self.keys.fernet().decrypt(padded.encode())
        except (InvalidToken, ValueError, TypeError) as exc:
            raise ValueError("invalid token") from exc
        return TokenPayload.unpack(raw)
