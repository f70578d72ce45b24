"""Password and secret hashing with bcrypt.

bcrypt only looks at the first 72 bytes of its input, so secrets are first
reduced with SHA-256 (base64, 44 bytes): long passwords keep all their entropy
and never fail. Verification of an unknown user still spends one bcrypt check,
so a wrong user name and a wrong password take the same time.
"""

from __future__ import annotations

import base64
import hashlib

import bcrypt

_DUMMY: dict[int, bytes] = {}


def _prehash(secret: str) -> bytes:
    return base64.b64encode(hashlib.sha256(secret.encode("utf-8")).digest())


def hash_secret(secret: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_prehash(secret), bcrypt.gensalt(rounds)).decode()


def verify_secret(secret: str, hashed: str | None, rounds: int = 12) -> bool:
    if not hashed:
        if rounds not in _DUMMY:
            _DUMMY[rounds] = bcrypt.hashpw(b"overcast-dummy", bcrypt.gensalt(rounds))
        bcrypt.checkpw(_prehash(secret), _DUMMY[rounds])
        return False
    try:
        return bcrypt.checkpw(_prehash(secret), hashed.encode())
    except ValueError:
        return False
