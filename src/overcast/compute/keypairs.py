"""Key pairs: per user, imported (ssh-rsa, ssh-ed25519, ecdsa) or generated.

The fingerprint is what Nova computes: MD5 of the decoded key blob as
colon-separated hex (`ssh-keygen -l -E md5`).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from overcast.compute import models as m
from overcast.db import Database
from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound


def fingerprint(public_key: str) -> str:
    parts = public_key.strip().split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, ValueError):
        raise BadRequest("Keypair data is invalid: failed to decode the public key.")
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - Nova's fingerprint format
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def validate_public_key(public_key: str) -> str:
    key = public_key.strip()
    try:
        serialization.load_ssh_public_key(key.encode())
    except (ValueError, TypeError, IndexError, Exception):  # noqa: BLE001
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint")
    return key


def generate() -> tuple[str, str]:
    """A new RSA key pair: (public key in OpenSSH format, private key PEM)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                            serialization.PublicFormat.OpenSSH).decode()
    pem = private.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return pub + " Generated-by-Nova", pem


class KeyPairService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, user_id: str, name: str, public_key: str | None, key_type: str,
               quota: int) -> tuple[m.KeyPair, str | None]:
        private = None
        if public_key is None:
            public_key, private = generate()
        else:
            public_key = validate_public_key(public_key)
        fp = fingerprint(public_key)
        with self.db.transaction() as s:
            if s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == user_id,
                                                m.KeyPair.name == name)):
                raise Conflict(f"Key pair '{name}' already exists.")
            count = s.scalar(select(func.count()).select_from(m.KeyPair).where(
                m.KeyPair.user_id == user_id)) or 0
            if quota >= 0 and count >= quota:
                raise Forbidden("Quota exceeded, too many key pairs.")
            kp = m.KeyPair(user_id=user_id, name=name, type=key_type, public_key=public_key,
                           fingerprint=fp)
            s.add(kp)
            s.flush()
            return kp, private

    def get(self, user_id: str, name: str) -> m.KeyPair:
        with self.db.session() as s:
            kp = s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == user_id,
                                                  m.KeyPair.name == name))
            if kp is None:
                raise NotFound(f"Keypair {name} not found for user {user_id}")
            return kp

    def list(self, user_id: str, limit: int | None = None,
             marker: str | None = None) -> builtins.list[m.KeyPair]:
        with self.db.session() as s:
            rows = list(s.scalars(select(m.KeyPair).where(m.KeyPair.user_id == user_id)
                                  .order_by(m.KeyPair.name)))
            if marker is not None:
                names = [k.name for k in rows]
                if marker not in names:
                    raise BadRequest(f"marker [{marker}] not found")
                rows = rows[names.index(marker) + 1:]
            return rows[:limit] if limit is not None else rows

    def delete(self, user_id: str, name: str) -> None:
        with self.db.transaction() as s:
            kp = s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == user_id,
                                                  m.KeyPair.name == name))
            if kp is None:
                raise NotFound(f"Keypair {name} not found for user {user_id}")
            s.delete(kp)


def view(kp: m.KeyPair, *, full: bool, v22: bool, private: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": kp.name, "public_key": kp.public_key,
                            "fingerprint": kp.fingerprint}
    if v22:
        body["type"] = kp.type
    if full:
        body.update(user_id=kp.user_id)
    if private is not None:
        body["private_key"] = private
    return body
