"""Keystone's security compliance: lockout after failed passwords, the password
history of a self-service change, the minimum password age, the password regex,
a password to change on first use, and the user options that exempt a user."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

V3 = "/identity/v3"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """Lockout after 2 failures for 2 s, the last 2 passwords unique."""
    yield from build_cloud(tmp_path_factory.mktemp("strict"), lockout_failure_attempts=2,
                           lockout_duration=2, unique_last_password_count=2)


@pytest.fixture(scope="module")
def first_use(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """Passwords an administrator sets expire at once; a regex; a 1-day minimum age."""
    yield from build_cloud(tmp_path_factory.mktemp("firstuse"),
                           change_password_upon_first_use=True, minimum_password_age=1,
                           password_regex=r"^(?=.*\d)(?=.*[a-zA-Z]).{7,}$",
                           password_regex_description="at least 7 characters, "
                                                      "a letter and a digit")


def _auth(cloud: Cloud, user_id: str, password: str) -> Any:
    return cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": user_id,
                                                       "password": password}}}}})


def _user(cloud: Cloud, password: str, **extra: Any) -> dict[str, Any]:
    r = cloud.client.post(f"{V3}/users", headers=cloud.admin(), json={"user": {
        "name": f"sc-{uuid.uuid4().hex[:8]}", "password": password, **extra}})
    assert r.status_code == 201, r.text
    return dict(r.json()["user"])


def _change(cloud: Cloud, user_id: str, original: str, new: str) -> Any:
    return cloud.client.post(f"{V3}/users/{user_id}/password", json={"user": {
        "original_password": original, "password": new}})


def test_lockout_after_failures_then_unlocks(strict: Cloud) -> None:
    u = _user(strict, "Right-pass1")
    assert _auth(strict, u["id"], "Right-pass1").status_code == 201
    for _ in range(2):
        r = _auth(strict, u["id"], "wrong")
        assert r.status_code == 401
        assert r.json()["error"]["message"] == \
            "The request you have made requires authentication."
    r = _auth(strict, u["id"], "Right-pass1")
    assert r.status_code == 401
    assert r.json()["error"]["message"] == f"The account is locked for user: {u['id']}."
    time.sleep(2.2)
    assert _auth(strict, u["id"], "Right-pass1").status_code == 201


def test_success_resets_the_failure_count(strict: Cloud) -> None:
    u = _user(strict, "Right-pass1")
    assert _auth(strict, u["id"], "wrong").status_code == 401
    assert _auth(strict, u["id"], "Right-pass1").status_code == 201
    assert _auth(strict, u["id"], "wrong").status_code == 401
    assert _auth(strict, u["id"], "Right-pass1").status_code == 201


def test_ignore_lockout_option(strict: Cloud) -> None:
    u = _user(strict, "Right-pass1", options={"ignore_lockout_failure_attempts": True})
    assert u["options"] == {"ignore_lockout_failure_attempts": True}
    for _ in range(3):
        assert _auth(strict, u["id"], "wrong").status_code == 401
    assert _auth(strict, u["id"], "Right-pass1").status_code == 201
    # null removes an option; an unknown one is refused
    r = strict.client.patch(f"{V3}/users/{u['id']}", headers=strict.admin(), json={
        "user": {"options": {"ignore_lockout_failure_attempts": None}}})
    assert r.status_code == 200 and r.json()["user"]["options"] == {}
    r = strict.client.patch(f"{V3}/users/{u['id']}", headers=strict.admin(), json={
        "user": {"options": {"no_such_option": True}}})
    assert r.status_code == 400


def test_password_history_binds_self_service_only(strict: Cloud) -> None:
    u = _user(strict, "first-pass1")
    assert _change(strict, u["id"], "first-pass1", "second-pass2").status_code == 204
    for again in ("second-pass2", "first-pass1"):
        r = _change(strict, u["id"], "second-pass2", again)
        assert r.status_code == 400, r.text
        assert "cannot be identical to a previous password" in r.json()["error"]["message"]
        assert "must be unique is 2." in r.json()["error"]["message"]
    assert _change(strict, u["id"], "second-pass2", "third-pass3").status_code == 204
    # first-pass1 is now 3 passwords back: allowed again
    assert _change(strict, u["id"], "third-pass3", "first-pass1").status_code == 204
    # an administrator's reset may reuse anything
    r = strict.client.patch(f"{V3}/users/{u['id']}", headers=strict.admin(),
                            json={"user": {"password": "first-pass1"}})
    assert r.status_code == 200
    assert _auth(strict, u["id"], "first-pass1").status_code == 201


def test_self_service_change_counts_failures_and_revokes(strict: Cloud) -> None:
    u = _user(strict, "Right-pass1")
    tok = _auth(strict, u["id"], "Right-pass1").headers["X-Subject-Token"]
    assert _change(strict, u["id"], "wrong", "x-new-pass1").status_code == 401
    assert _change(strict, u["id"], "wrong", "x-new-pass1").status_code == 401
    r = _change(strict, u["id"], "Right-pass1", "x-new-pass1")
    assert r.status_code == 401
    assert r.json()["error"]["message"] == f"The account is locked for user: {u['id']}."
    time.sleep(2.2)
    assert _change(strict, u["id"], "Right-pass1", "x-new-pass1").status_code == 204
    r = strict.client.get(f"{V3}/auth/tokens", headers={
        **strict.admin(), "X-Subject-Token": tok})
    assert r.status_code == 404


def test_lock_password_option(strict: Cloud) -> None:
    u = _user(strict, "Right-pass1", options={"lock_password": True})
    r = _change(strict, u["id"], "Right-pass1", "other-pass2")
    assert r.status_code == 400
    assert "disallowing password changes" in r.json()["error"]["message"]
    assert _auth(strict, u["id"], "Right-pass1").status_code == 201


def test_change_upon_first_use_and_regex(first_use: Cloud) -> None:
    c = first_use
    r = c.client.post(f"{V3}/users", headers=c.admin(), json={"user": {
        "name": f"sc-{uuid.uuid4().hex[:8]}", "password": "short"}})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == ("The password does not match the requirements: "
                                            "at least 7 characters, a letter and a digit.")
    u = _user(c, "admin-set1")
    assert u["password_expires_at"] is not None
    r = _auth(c, u["id"], "admin-set1")
    assert r.status_code == 401
    assert r.json()["error"]["message"] == (
        f"The password is expired and needs to be changed for user: {u['id']}.")
    # the regex binds the user's own change too
    assert _change(c, u["id"], "admin-set1", "nodigits").status_code == 400
    assert _change(c, u["id"], "admin-set1", "mine-now1").status_code == 204
    r = _auth(c, u["id"], "mine-now1")
    assert r.status_code == 201
    assert r.json()["token"]["user"]["password_expires_at"] is None
    # a self-set password must be kept a day before the user changes it again
    r = _change(c, u["id"], "mine-now1", "again-now2")
    assert r.status_code == 400
    assert "minimum password age" in r.json()["error"]["message"]
    # ... which does not bind an administrator
    r = c.client.patch(f"{V3}/users/{u['id']}", headers=c.admin(),
                       json={"user": {"password": "reset-by1"}})
    assert r.status_code == 200


def test_ignore_change_upon_first_use(first_use: Cloud) -> None:
    u = _user(first_use, "admin-set1",
              options={"ignore_change_password_upon_first_use": True})
    assert u["password_expires_at"] is None
    assert _auth(first_use, u["id"], "admin-set1").status_code == 201


def test_history_is_dropped_with_the_user(strict: Cloud) -> None:
    u = _user(strict, "Right-pass1")
    assert _change(strict, u["id"], "Right-pass1", "other-pass2").status_code == 204
    r = strict.client.delete(f"{V3}/users/{u['id']}", headers=strict.admin())
    assert r.status_code == 204


def test_rescoping_a_revoked_token_is_not_found(strict: Cloud) -> None:
    """Tempest's test_user_update_own_password: after a password change the old
    token, used with the `token` method, is a 404 (Keystone's TokenNotFound), not
    a 401."""
    u = _user(strict, "Right-pass1")
    tok = _auth(strict, u["id"], "Right-pass1").headers["X-Subject-Token"]
    assert _change(strict, u["id"], "Right-pass1", "Newer-pass2").status_code == 204
    r = strict.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": tok}}}})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "Failed to validate token"


def test_list_users_by_password_expiry(first_use: Cloud) -> None:
    u = _user(first_use, "admin-set1")           # expired at once (first use)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")

    def ids(query: str) -> set[str]:
        r = first_use.client.get(f"{V3}/users", headers=first_use.admin(),
                                 params={"password_expires_at": query})
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["users"]}

    assert u["id"] in ids(f"lt:{later}")
    assert u["id"] not in ids(f"gt:{later}")
    r = first_use.client.get(f"{V3}/users", headers=first_use.admin(),
                             params={"password_expires_at": "lt:yesterday"})
    assert r.status_code == 400
