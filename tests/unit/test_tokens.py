"""Fernet key repository and token payloads."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from overcast.identity.tokens import (
    SCOPE_PROJECT,
    KeyRepository,
    TokenFormatter,
    TokenPayload,
    new_audit_id,
)


def payload(**kw: object) -> TokenPayload:
    now = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
    base = dict(user_id="ab" * 16, methods=["password"], expires_at=now + dt.timedelta(hours=1),
                issued_at=now, audit_ids=[new_audit_id()], scope_type=SCOPE_PROJECT,
                scope_id="cd" * 16)
    base.update(kw)
    return TokenPayload(**base)  # type: ignore[arg-type]


def test_payload_round_trip_keeps_microseconds_and_ids() -> None:
    p = payload(user_id="not-hex-user", scope_id="default", app_cred_id="ef" * 16,
                methods=["token", "password"], audit_ids=[new_audit_id(), new_audit_id()])
    q = TokenPayload.unpack(p.pack())
    assert q == TokenPayload(**{**p.__dict__, "methods": ["password", "token"]})


def test_keys_are_private_and_tokens_short(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    for f in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    token = TokenFormatter(repo).encode(payload())
    assert len(token) < 255 and "=" not in token


def test_rotation_keeps_old_tokens_until_their_key_is_dropped(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys", max_active_keys=3)
    repo.setup()
    fmt = TokenFormatter(repo)
    old = fmt.encode(payload())
    repo.rotate()
    assert fmt.decode(old).user_id == "ab" * 16  # still a secondary key
    # a fresh repository object (a restart) reads the same keys
    assert TokenFormatter(KeyRepository(tmp_path / "keys")).decode(old).user_id == "ab" * 16
    repo.rotate()
    repo.rotate()
    with pytest.raises(ValueError):
        fmt.decode(old)
    assert len(list((tmp_path / "keys").iterdir())) == 3


def test_tampered_token_is_rejected(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "k")
    repo.setup()
    fmt = TokenFormatter(repo)
    tok = fmt.encode(payload())
    bad = tok[:20] + ("A" if tok[20] != "A" else "B") + tok[21:]
    with pytest.raises(ValueError):
        fmt.decode(bad)
    with pytest.raises(ValueError):
        fmt.decode("")


def test_any_payload_but_ours_is_a_token_not_recognized(tmp_path: Path) -> None:
    """A token that decrypts (made with the cloud's key) but whose payload is cut
    short, too long or garbled is not recognized (ValueError: 404 on validation, 401
    as a caller's token), as Keystone's formatter answers; truncated payloads raised
    IndexError and struct.error, which the API turned into 500s."""
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    fmt = TokenFormatter(repo)
    good = payload(user_id="not-hex-user", app_cred_id="ef" * 16).pack()
    assert TokenPayload.unpack(good).user_id == "not-hex-user"
    bad = [good[:n] for n in range(len(good))] + [good + b"\x00", b"\x01\x03" + good[2:],
                                                  b"\x02" + good[1:]]
    for raw in bad:
        token = repo.fernet().encrypt(raw).decode().rstrip("=")
        with pytest.raises(ValueError):
            fmt.decode(token)
