"""The real python-openstackclient and openstacksdk against a live `overcast up`."""

from __future__ import annotations

import uuid

import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_token_issue_and_revoke(live: Live) -> None:
    tok = live.osc("token", "issue")
    assert tok["id"] and tok["project_id"] and tok["user_id"]
    live.osc("token", "revoke", tok["id"], fmt=False)
    r = live.osc("token", "issue")
    assert r["id"] != tok["id"]


def test_project_lifecycle(live: Live) -> None:
    name = uniq("proj")
    p = live.osc("project", "create", "--description", "first", name)
    assert p["name"] == name and p["domain_id"] == "default" and p["enabled"] is True
    assert name in [x["Name"] for x in live.osc("project", "list")]
    live.osc("project", "set", "--description", "second", "--disable", name, fmt=False)
    shown = live.osc("project", "show", name)
    assert shown["description"] == "second" and shown["enabled"] is False
    live.osc("project", "delete", name, fmt=False)
    r = live.osc("project", "show", name, check=False)
    assert r.returncode != 0 and "No Project found" in r.stderr


def test_users_groups_roles_and_assignments(live: Live) -> None:
    project = live.osc("project", "create", uniq("p"))["id"]
    user = uniq("u")
    u = live.osc("user", "create", "--password", "pw-1", "--project", project, user)
    assert u["name"] == user
    group = uniq("g")
    live.osc("group", "create", group)
    live.osc("group", "add", "user", group, user, fmt=False)
    assert live.osc("group", "contains", "user", group, user, fmt=False)
    role = uniq("r")
    live.osc("role", "create", role)
    live.osc("role", "add", "--project", project, "--user", user, "member", fmt=False)
    live.osc("role", "add", "--project", project, "--user", user, role, fmt=False)
    rows = live.osc("role", "assignment", "list", "--user", user, "--project", project,
                    "--names")
    assert {r["Role"] for r in rows} == {"member", role}
    assert all(r["User"].startswith(user) for r in rows)
    live.osc("role", "remove", "--project", project, "--user", user, role, fmt=False)
    rows = live.osc("role", "assignment", "list", "--user", user, "--project", project,
                    "--names")
    assert {r["Role"] for r in rows} == {"member"}

    # the new user works with its own password, and after a password change only the new one
    live.add_cloud(user, {"username": user, "password": "pw-1", "project_id": project,
                          "user_domain_name": "Default"})
    assert live.osc("token", "issue", cloud=user)["user_id"] == u["id"]
    live.osc("user", "set", "--password", "pw-2", user, fmt=False)
    assert live.osc("token", "issue", cloud=user, check=False).returncode != 0
    live.add_cloud(user, {"username": user, "password": "pw-2", "project_id": project,
                          "user_domain_name": "Default"})
    assert live.osc("token", "issue", cloud=user)["user_id"] == u["id"]
    live.osc("user", "delete", user, fmt=False)
    assert live.osc("token", "issue", cloud=user, check=False).returncode != 0


def test_disabled_user_token_stops_working(live: Live) -> None:
    project = live.osc("project", "create", uniq("p"))["id"]
    user = uniq("d")
    live.osc("user", "create", "--password", "pw", user)
    live.osc("role", "add", "--project", project, "--user", user, "member", fmt=False)
    conn = live.sdk()
    sdk_user = conn.identity.find_user(user)
    import openstack

    own = openstack.connect(auth_url=f"{live.base}/identity/v3", username=user, password="pw",
                            project_id=project, user_domain_name="Default",
                            region_name="RegionOne")
    token = own.auth_token
    assert conn.identity.get("/auth/tokens", headers={"X-Subject-Token": token}
                             ).status_code == 200
    conn.identity.update_user(sdk_user, enabled=False)
    r = conn.identity.get("/auth/tokens", headers={"X-Subject-Token": token})
    assert r.status_code == 404


def test_catalog_and_endpoints(live: Live) -> None:
    catalog = live.osc("catalog", "list")
    types = {c["Type"] for c in catalog}
    assert "identity" in types
    endpoints = live.osc("endpoint", "list")
    ident = [e for e in endpoints if e["Service Type"] == "identity"]
    assert {e["Interface"] for e in ident} == {"public", "internal", "admin"}
    assert all(e["URL"] == f"{live.base}/identity/v3" for e in ident)


def test_domain_create(live: Live) -> None:
    name = uniq("dom")
    d = live.osc("domain", "create", "--description", "x", name)
    assert d["name"] == name and d["enabled"] is True
    assert name in [x["Name"] for x in live.osc("domain", "list")]


def test_application_credential_authenticates(live: Live) -> None:
    ac = live.osc("application", "credential", "create", uniq("ac"))
    assert ac["Secret"]
    live.add_cloud("appcred", {"application_credential_id": ac["ID"],
                               "application_credential_secret": ac["Secret"]})
    data = live.data_dir / "clouds.yaml"
    import yaml

    cfg = yaml.safe_load(data.read_text())
    cfg["clouds"]["appcred"]["auth_type"] = "v3applicationcredential"
    data.write_text(yaml.safe_dump(cfg))
    tok = live.osc("token", "issue", cloud="appcred")
    admin = live.osc("token", "issue")
    assert tok["user_id"] == admin["user_id"] and tok["project_id"] == admin["project_id"]
    live.osc("application", "credential", "delete", ac["ID"], fmt=False)
    assert live.osc("token", "issue", cloud="appcred", check=False).returncode != 0


def test_sdk_identity_listing(live: Live) -> None:
    conn = live.sdk()
    names = {p.name for p in conn.identity.projects()}
    assert "admin" in names
    roles = {r.name for r in conn.identity.roles()}
    assert {"admin", "member", "reader"} <= roles


def test_restart_keeps_data_and_tokens(live: Live) -> None:
    name = uniq("persist")
    live.osc("project", "create", name)
    tok = live.osc("token", "issue")["id"]
    live.restart()
    assert live.osc("project", "show", name)["name"] == name
    conn = live.sdk()
    r = conn.identity.get("/auth/tokens", headers={"X-Subject-Token": tok})
    assert r.status_code == 200


def test_application_credential_with_access_rules(live: Live) -> None:
    """A credential limited to listing servers: `openstack server list` works with
    it, `openstack network list` and `image list` are refused; the rule is listed by
    `openstack access rule list` and deleted once no credential carries it."""
    rules = '[{"method": "GET", "path": "/v2.1/servers/detail", "service": "compute"}]'
    ac = live.osc("application", "credential", "create", "--access-rules", rules,
                  uniq("acr"))
    live.add_cloud("limited", {"application_credential_id": ac["ID"],
                               "application_credential_secret": ac["Secret"]})
    data = live.data_dir / "clouds.yaml"
    import yaml

    cfg = yaml.safe_load(data.read_text())
    cfg["clouds"]["limited"]["auth_type"] = "v3applicationcredential"
    data.write_text(yaml.safe_dump(cfg))
    assert isinstance(live.osc("server", "list", cloud="limited"), list)
    for refused in (("network", "list"), ("image", "list")):
        r = live.osc(*refused, cloud="limited", check=False)
        assert r.returncode != 0, refused
    listed = live.osc("access", "rule", "list")
    rule = next(x for x in listed if x["Path"] == "/v2.1/servers/detail")
    assert rule["Service"] == "compute" and rule["Method"] == "GET"
    assert live.osc("access", "rule", "delete", rule["ID"], fmt=False,
                    check=False).returncode != 0            # still in use
    live.osc("application", "credential", "delete", ac["ID"], fmt=False)
    live.osc("access", "rule", "delete", rule["ID"], fmt=False)
    assert rule["ID"] not in [x["ID"] for x in live.osc("access", "rule", "list")]
