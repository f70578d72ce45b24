"""Domain-specific configuration as Keystone: the whitelisted `identity` and
`ldap` options of a domain (the sensitive `ldap.password` stored, never shown),
its defaults, and the security compliance rules any user may read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

V3 = "/identity/v3"
CONF = {"identity": {"driver": "ldap"},
        "ldap": {"url": "ldap://myldap.test:389/", "user_tree_dn": "ou=Users,dc=my_new_root",
                 "password": "s3cret"}}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from build_cloud(tmp_path_factory.mktemp("domconf"),
                           password_regex=r"^.{8,}$",
                           password_regex_description="at least 8 characters")


def _domain(cloud: Cloud) -> str:
    r = cloud.client.post(f"{V3}/domains", headers=cloud.admin(), json={"domain": {
        "name": f"dc-{uuid.uuid4().hex[:8]}"}})
    assert r.status_code == 201, r.text
    return str(r.json()["domain"]["id"])


def _cfg(cloud: Cloud, method: str, path: str, body: Any = None) -> Any:
    return cloud.client.request(method, f"{V3}/domains/{path}", headers=cloud.admin(),
                                json=body)


def test_create_show_update_delete(cloud: Cloud) -> None:
    d = _domain(cloud)
    assert _cfg(cloud, "GET", f"{d}/config").status_code == 404
    r = _cfg(cloud, "PUT", f"{d}/config", {"config": CONF})
    assert r.status_code == 201, r.text
    shown = {"identity": {"driver": "ldap"},
             "ldap": {"url": "ldap://myldap.test:389/",
                      "user_tree_dn": "ou=Users,dc=my_new_root"}}
    assert r.json()["config"] == shown          # the password is never answered
    assert _cfg(cloud, "PUT", f"{d}/config", {"config": CONF}).status_code == 200
    assert _cfg(cloud, "GET", f"{d}/config").json()["config"] == shown
    assert _cfg(cloud, "GET", f"{d}/config/ldap").json()["config"] == {"ldap": shown["ldap"]}
    assert _cfg(cloud, "GET", f"{d}/config/ldap/url").json()["config"] == {
        "url": "ldap://myldap.test:389/"}
    r = _cfg(cloud, "GET", f"{d}/config/ldap/password")
    assert r.status_code == 404
    # PATCH the whole, a group, an option
    r = _cfg(cloud, "PATCH", f"{d}/config", {"config": {"ldap": {"url": "ldap://b/"}}})
    assert r.status_code == 200 and r.json()["config"]["ldap"]["url"] == "ldap://b/"
    r = _cfg(cloud, "PATCH", f"{d}/config/ldap/url", {"config": {"url": "ldap://c/"}})
    assert r.status_code == 200 and r.json()["config"]["ldap"]["url"] == "ldap://c/"
    r = _cfg(cloud, "PATCH", f"{d}/config/identity",
             {"config": {"ldap": {"url": "ldap://d/"}}})
    assert r.status_code == 403
    r = _cfg(cloud, "PATCH", f"{d}/config/ldap/user_filter",
             {"config": {"user_filter": "(x=y)"}})
    assert r.status_code == 404
    assert _cfg(cloud, "DELETE", f"{d}/config/ldap/url").status_code == 204
    assert _cfg(cloud, "GET", f"{d}/config/ldap/url").status_code == 404
    assert _cfg(cloud, "DELETE", f"{d}/config/identity").status_code == 204
    assert "identity" not in _cfg(cloud, "GET", f"{d}/config").json()["config"]
    assert _cfg(cloud, "DELETE", f"{d}/config").status_code == 204
    assert _cfg(cloud, "GET", f"{d}/config").status_code == 404


def test_refused_groups_options_and_domains(cloud: Cloud) -> None:
    d = _domain(cloud)
    r = _cfg(cloud, "PUT", f"{d}/config", {"config": {"nova": {"x": 1}}})
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        "Invalid domain specific configuration: Group nova is not supported for domain "
        "specific configurations.")
    assert _cfg(cloud, "PUT", f"{d}/config",
                {"config": {"ldap": {"no_such": 1}}}).status_code == 403
    assert _cfg(cloud, "PUT", f"{d}/config", {"config": {}}).status_code == 403
    assert _cfg(cloud, "PUT", "nope/config", {"config": CONF}).status_code == 404
    assert _cfg(cloud, "PUT", f"{d}/config", {"cfg": CONF}).status_code == 400
    user = cloud.make_project_user("member")
    r = cloud.client.get(f"{V3}/domains/{d}/config", headers=user["headers"])
    assert r.status_code == 403


def test_defaults(cloud: Cloud) -> None:
    r = _cfg(cloud, "GET", "config/default")
    assert r.status_code == 200
    conf = r.json()["config"]
    assert conf["identity"] == {"driver": "sql", "list_limit": None}
    assert "password" not in conf["ldap"] and conf["ldap"]["url"] == "ldap://localhost"
    assert _cfg(cloud, "GET", "config/ldap/default").json()["config"].keys() == {"ldap"}
    assert _cfg(cloud, "GET", "config/identity/driver/default").json()["config"] == {
        "driver": "sql"}
    assert _cfg(cloud, "GET", "config/ldap/password/default").status_code == 403


def test_security_compliance_readable_by_any_user(cloud: Cloud) -> None:
    user = cloud.make_project_user("member")
    r = cloud.client.get(f"{V3}/domains/default/config/security_compliance",
                         headers=user["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["config"] == {"security_compliance": {
        "password_regex": "^.{8,}$", "password_regex_description": "at least 8 characters"}}
    r = cloud.client.get(f"{V3}/domains/default/config/security_compliance/password_regex",
                         headers=user["headers"])
    assert r.json()["config"] == {"password_regex": "^.{8,}$"}
    r = cloud.client.get(f"{V3}/domains/default/config/security_compliance/lockout_duration",
                         headers=user["headers"])
    assert r.status_code == 403
    r = cloud.client.get(f"{V3}/domains/{_domain(cloud)}/config/security_compliance",
                         headers=user["headers"])
    assert r.status_code == 403
    r = cloud.client.get(f"{V3}/domains/default/config/security_compliance")
    assert r.status_code == 401
