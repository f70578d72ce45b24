"""Keystone v3 over HTTP: discovery, tokens, CRUD, assignments, policy and errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Cloud

V3 = "/identity/v3"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def password_auth(name: str, password: str, scope: Any = None,
                  domain: dict[str, str] | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": domain or {"id": "default"}, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def error_of(r: Any) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == r.status_code
    return dict(body["error"])


# ---------------------------------------------------------------- discovery
def test_root_lists_v3_with_300(cloud: Cloud) -> None:
    r = cloud.client.get("/identity")
    assert r.status_code == 300
    values = r.json()["versions"]["values"]
    assert values[0]["id"].startswith("v3.") and values[0]["status"] == "stable"
    assert values[0]["links"][0]["rel"] == "self"
    assert values[0]["media-types"][0]["base"] == "application/json"


def test_v3_version_document(cloud: Cloud) -> None:
    r = cloud.client.get(V3)
    assert r.status_code == 200
    v = r.json()["version"]
    assert v["status"] == "stable" and v["links"][0]["href"].endswith("/identity/v3/")


# ------------------------------------------------------------------- tokens
def test_password_token_by_name_and_domain_name(cloud: Cloud) -> None:
    r = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", cloud.admin_password, {"project": {"name": "admin",
                                                    "domain": {"name": "Default"}}},
        domain={"name": "Default"}))
    assert r.status_code == 201
    tok = r.json()["token"]
    assert r.headers["X-Subject-Token"]
    assert tok["methods"] == ["password"]
    assert tok["user"]["name"] == "admin" and tok["user"]["domain"]["id"] == "default"
    assert tok["project"]["name"] == "admin" and tok["is_domain"] is False
    assert tok["expires_at"].endswith("Z") and tok["issued_at"].endswith("Z")
    assert len(tok["audit_ids"]) == 1
    identity = [s for s in tok["catalog"] if s["type"] == "identity"][0]
    assert {e["interface"] for e in identity["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["region_id"] == "RegionOne" for e in identity["endpoints"])


def test_password_token_by_user_id(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": u["user_id"],
                                                       "password": u["password"]}}},
        "scope": {"project": {"id": u["project_id"]}}}})
    assert r.status_code == 201
    assert r.json()["token"]["roles"][0]["name"] in ("member", "reader")


def test_unscoped_token_has_no_catalog_or_roles(cloud: Cloud) -> None:
    h = cloud.admin()
    name = uniq("loner")
    cloud.client.post(f"{V3}/users", headers=h, json={"user": {"name": name, "password": "x"}})
    r = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(name, "x"))
    assert r.status_code == 201
    tok = r.json()["token"]
    assert "project" not in tok and "catalog" not in tok and "roles" not in tok


def test_default_project_is_used_without_scope(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(u["username"], u["password"]))
    assert r.json()["token"]["project"]["id"] == u["project_id"]


def test_domain_and_system_scoped_tokens(cloud: Cloud) -> None:
    r = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", cloud.admin_password, {"system": {"all": True}}))
    assert r.status_code == 201
    assert r.json()["token"]["system"] == {"all": True}
    h = cloud.admin()
    admin_id = r.json()["token"]["user"]["id"]
    role = cloud.role_id("admin")
    assert cloud.client.put(f"{V3}/domains/default/users/{admin_id}/roles/{role}",
                            headers=h).status_code == 204
    r = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", cloud.admin_password, {"domain": {"id": "default"}}))
    assert r.status_code == 201
    tok = r.json()["token"]
    assert tok["domain"] == {"id": "default", "name": "Default"}
    assert "admin" in {x["name"] for x in tok["roles"]}


def test_rescope_with_token_method_keeps_audit_chain(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": u["token"]}},
        "scope": {"project": {"id": u["project_id"]}}}})
    assert r.status_code == 201
    tok = r.json()["token"]
    assert "token" in tok["methods"]
    orig = cloud.client.get(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": u["token"], "X-Subject-Token": u["token"]}).json()["token"]
    assert tok["audit_ids"][1] == orig["audit_ids"][0]


def test_wrong_password_and_unknown_user_look_the_same(cloud: Cloud) -> None:
    a = cloud.client.post(f"{V3}/auth/tokens", json=password_auth("admin", "wrong"))
    b = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(uniq("nobody"), "wrong"))
    assert a.status_code == b.status_code == 401
    assert error_of(a)["message"] == error_of(b)["message"]
    assert "WWW-Authenticate" in a.headers


@pytest.mark.parametrize("body", [
    None, {}, {"auth": {}}, {"auth": {"identity": {"methods": "password"}}},
    {"auth": {"identity": {"methods": ["password"], "password": {}}}},
    {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "x"}}}}},
    {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "password": 5, "domain": {"id": "default"}}}}}},
    {"auth": {"identity": {"methods": ["token"], "token": {}}}},
])
def test_malformed_auth_bodies_are_400(cloud: Cloud, body: Any) -> None:
    r = cloud.client.post(f"{V3}/auth/tokens", json=body)
    assert r.status_code == 400, r.text
    assert error_of(r)["title"] == "Bad Request"


def test_not_json_is_400(cloud: Cloud) -> None:
    r = cloud.client.post(f"{V3}/auth/tokens", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "JSON" in error_of(r)["message"]


def test_scope_to_project_without_role_is_401(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        u["username"], u["password"], {"project": {"name": "admin",
                                                   "domain": {"id": "default"}}}))
    assert r.status_code == 401


def test_validate_head_nocatalog_and_revoke(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    h = {"X-Auth-Token": u["token"], "X-Subject-Token": u["token"]}
    assert cloud.client.head(f"{V3}/auth/tokens", headers=h).status_code == 200
    r = cloud.client.get(f"{V3}/auth/tokens?nocatalog", headers=h)
    assert r.status_code == 200 and "catalog" not in r.json()["token"]
    assert cloud.client.delete(f"{V3}/auth/tokens", headers=h).status_code == 204
    # refused everywhere at once: as a subject and as a caller
    r = cloud.client.get(f"{V3}/auth/tokens", headers={**cloud.admin(),
                                                       "X-Subject-Token": u["token"]})
    assert r.status_code == 404
    assert cloud.client.get(f"{V3}/users/{u['user_id']}",
                            headers={"X-Auth-Token": u["token"]}).status_code == 401


def test_validation_route_answers_as_every_other_route(cloud: Cloud) -> None:
    """GET /v3/auth/tokens is a plain Starlette route (the hot path): its errors still
    come in Keystone's shape with the request id, HEAD is still `check_token`'s
    (which hides a token from a caller who may not see it), and /openapi.json still
    lists its query schema."""
    r = cloud.client.get(f"{V3}/auth/tokens", headers={"X-Subject-Token": "x"})
    assert r.status_code == 401 and r.json()["error"]["code"] == 401
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert "WWW-Authenticate" in r.headers
    r = cloud.client.get(f"{V3}/auth/tokens", headers=cloud.admin())
    assert r.status_code == 404 and error_of(r)["code"] == 404
    me, other = cloud.make_project_user(), cloud.make_project_user()
    h = {"X-Auth-Token": me["token"], "X-Subject-Token": other["token"]}
    r = cloud.client.head(f"{V3}/auth/tokens", headers=h)
    assert r.status_code == 403 and r.content == b""
    assert cloud.client.get(f"{V3}/auth/tokens", headers=h).status_code == 403
    doc = cloud.client.get("/openapi.json").json()
    op = doc["paths"]["/identity/v3/auth/tokens"]["get"]
    assert {p["name"] for p in op.get("parameters", [])} >= {"nocatalog", "allow_expired"}


def test_garbage_token_is_401_and_unknown_subject_404(cloud: Cloud) -> None:
    assert cloud.client.get(f"{V3}/users", headers={"X-Auth-Token": "garbage"}
                            ).status_code == 401
    r = cloud.client.get(f"{V3}/auth/tokens", headers={**cloud.admin(),
                                                       "X-Subject-Token": "nope"})
    assert r.status_code == 404


def test_missing_token_is_401(cloud: Cloud) -> None:
    r = cloud.client.get(f"{V3}/projects")
    assert r.status_code == 401
    assert error_of(r)["title"] == "Unauthorized"


@pytest.mark.parametrize("change", ["disable", "delete", "password", "unassign"])
def test_user_changes_revoke_tokens(fresh_cloud: Cloud, change: str) -> None:
    c = fresh_cloud
    u = c.make_project_user()
    uh = {"X-Auth-Token": u["token"]}
    assert c.client.get(f"{V3}/users/{u['user_id']}", headers=uh).status_code == 200
    h = c.admin()
    if change == "disable":
        c.client.patch(f"{V3}/users/{u['user_id']}", headers=h,
                       json={"user": {"enabled": False}})
    elif change == "delete":
        c.client.delete(f"{V3}/users/{u['user_id']}", headers=h)
    elif change == "password":
        c.client.patch(f"{V3}/users/{u['user_id']}", headers=h,
                       json={"user": {"password": "new-secret"}})
    else:
        c.client.delete(f"{V3}/projects/{u['project_id']}/users/{u['user_id']}/roles/"
                        f"{c.role_id('member')}", headers=h)
    assert c.client.get(f"{V3}/users/{u['user_id']}", headers=uh).status_code == 401
    if change == "password":
        # a new token with the new password works at once
        t = c.token(u["username"], "new-secret", project_id=u["project_id"])
        assert c.client.get(f"{V3}/users/{u['user_id']}",
                            headers={"X-Auth-Token": t}).status_code == 200


def test_disabled_user_cannot_authenticate(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    cloud.client.patch(f"{V3}/users/{u['user_id']}", headers=cloud.admin(),
                       json={"user": {"enabled": False}})
    r = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(u["username"],
                                                                  u["password"]))
    assert r.status_code == 401


def test_change_own_password(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/password", json={"user": {
        "original_password": "wrong", "password": "n1"}})
    assert r.status_code == 401
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/password", json={"user": {
        "original_password": u["password"], "password": "n1"}})
    assert r.status_code == 204
    cloud.token(u["username"], "n1", project_id=u["project_id"])


# ----------------------------------------------------------------- resources
def test_project_crud_tags_and_filters(cloud: Cloud) -> None:
    h = cloud.admin()
    name = uniq("proj")
    r = cloud.client.post(f"{V3}/projects", headers=h, json={"project": {
        "name": name, "description": "d", "tags": ["a", "b"]}})
    assert r.status_code == 201
    p = r.json()["project"]
    assert p["domain_id"] == "default" and p["parent_id"] == "default"
    assert p["is_domain"] is False and p["enabled"] is True and p["tags"] == ["a", "b"]
    r = cloud.client.post(f"{V3}/projects", headers=h, json={"project": {"name": name}})
    assert r.status_code == 409
    child = cloud.client.post(f"{V3}/projects", headers=h, json={"project": {
        "name": uniq("child"), "parent_id": p["id"]}}).json()["project"]
    assert child["parent_id"] == p["id"]
    listing = cloud.client.get(f"{V3}/projects", headers=h, params={"name": name}).json()
    assert [x["id"] for x in listing["projects"]] == [p["id"]]
    assert p["id"] in [x["id"] for x in cloud.client.get(
        f"{V3}/projects", headers=h, params={"tags": "a,b"}).json()["projects"]]
    assert p["id"] not in [x["id"] for x in cloud.client.get(
        f"{V3}/projects", headers=h, params={"not-tags-any": "a"}).json()["projects"]]
    assert cloud.client.put(f"{V3}/projects/{p['id']}/tags/c", headers=h).status_code == 201
    assert cloud.client.get(f"{V3}/projects/{p['id']}/tags", headers=h).json()["tags"] == \
        ["a", "b", "c"]
    r = cloud.client.patch(f"{V3}/projects/{p['id']}", headers=h,
                           json={"project": {"enabled": False, "description": "x"}})
    assert r.status_code == 200 and r.json()["project"]["enabled"] is False
    assert cloud.client.delete(f"{V3}/projects/{p['id']}", headers=h).status_code == 403
    assert cloud.client.delete(f"{V3}/projects/{child['id']}", headers=h).status_code == 204
    assert cloud.client.delete(f"{V3}/projects/{p['id']}", headers=h).status_code == 204
    r = cloud.client.get(f"{V3}/projects/{p['id']}", headers=h)
    assert r.status_code == 404 and "Could not find project" in error_of(r)["message"]


@pytest.mark.parametrize("body", [
    {"project": {}}, {"project": {"name": ""}}, {"project": {"name": 7}},
    {"project": {"name": "x", "enabled": "yes"}},
    {"project": {"name": "x", "is_domain": True, "parent_id": "p"}},
    {"project": {"name": "x", "tags": "a"}}, {"proj": {"name": "x"}}, [],
])
def test_bad_project_bodies_are_400(cloud: Cloud, body: Any) -> None:
    r = cloud.client.post(f"{V3}/projects", headers=cloud.admin(), json=body)
    assert r.status_code == 400, r.text
    error_of(r)


def test_project_under_missing_parent_is_404_and_not_created(cloud: Cloud) -> None:
    h = cloud.admin()
    name = uniq("orphan")
    r = cloud.client.post(f"{V3}/projects", headers=h,
                          json={"project": {"name": name, "parent_id": uuid.uuid4().hex}})
    assert r.status_code == 404
    assert cloud.client.get(f"{V3}/projects", headers=h,
                            params={"name": name}).json()["projects"] == []


def test_domain_crud(cloud: Cloud) -> None:
    h = cloud.admin()
    name = uniq("dom")
    d = cloud.client.post(f"{V3}/domains", headers=h, json={"domain": {"name": name}})
    assert d.status_code == 201
    did = d.json()["domain"]["id"]
    assert cloud.client.post(f"{V3}/domains", headers=h,
                             json={"domain": {"name": name}}).status_code == 409
    assert cloud.client.get(f"{V3}/domains", headers=h, params={"name": name}
                            ).json()["domains"][0]["id"] == did
    assert cloud.client.delete(f"{V3}/domains/{did}", headers=h).status_code == 403
    cloud.client.patch(f"{V3}/domains/{did}", headers=h, json={"domain": {"enabled": False}})
    assert cloud.client.delete(f"{V3}/domains/{did}", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/domains/{did}", headers=h).status_code == 404


def test_user_crud_and_password_is_never_returned(cloud: Cloud) -> None:
    h = cloud.admin()
    name = uniq("user")
    r = cloud.client.post(f"{V3}/users", headers=h, json={"user": {
        "name": name, "password": "secret", "email": "a@b.c", "description": "dd"}})
    assert r.status_code == 201
    u = r.json()["user"]
    assert "password" not in u and u["email"] == "a@b.c" and u["domain_id"] == "default"
    assert cloud.client.post(f"{V3}/users", headers=h,
                             json={"user": {"name": name}}).status_code == 409
    assert [x["id"] for x in cloud.client.get(f"{V3}/users", headers=h, params={
        "name": name}).json()["users"]] == [u["id"]]
    assert all(x["enabled"] is False for x in cloud.client.get(
        f"{V3}/users", headers=h, params={"enabled": "false"}).json()["users"])
    r = cloud.client.patch(f"{V3}/users/{u['id']}", headers=h,
                           json={"user": {"name": name + "x"}})
    assert r.json()["user"]["name"] == name + "x"
    assert cloud.client.delete(f"{V3}/users/{u['id']}", headers=h).status_code == 204
    assert cloud.client.delete(f"{V3}/users/{u['id']}", headers=h).status_code == 404


def test_stored_password_is_bcrypt(cloud: Cloud) -> None:
    from sqlalchemy import select

    from overcast.identity import models as m

    with cloud.app.state.db.session() as s:
        hashes = list(s.scalars(select(m.User.password_hash)))
    assert hashes and all(h is None or h.startswith("$2") for h in hashes)


def test_groups_membership_and_group_roles(cloud: Cloud) -> None:
    h = cloud.admin()
    u = cloud.make_project_user()
    other = cloud.client.post(f"{V3}/projects", headers=h,
                              json={"project": {"name": uniq("gp")}}).json()["project"]
    g = cloud.client.post(f"{V3}/groups", headers=h,
                          json={"group": {"name": uniq("grp")}}).json()["group"]
    assert cloud.client.put(f"{V3}/groups/{g['id']}/users/{u['user_id']}",
                            headers=h).status_code == 204
    assert cloud.client.head(f"{V3}/groups/{g['id']}/users/{u['user_id']}",
                             headers=h).status_code == 204
    assert [x["id"] for x in cloud.client.get(f"{V3}/groups/{g['id']}/users",
                                              headers=h).json()["users"]] == [u["user_id"]]
    assert cloud.client.put(f"{V3}/projects/{other['id']}/groups/{g['id']}/roles/"
                            f"{cloud.role_id('reader')}", headers=h).status_code == 204
    t = cloud.token(u["username"], u["password"], project_id=other["id"])
    body = cloud.client.get(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": t, "X-Subject-Token": t}).json()["token"]
    assert [r["name"] for r in body["roles"]] == ["reader"]
    assert cloud.client.delete(f"{V3}/groups/{g['id']}/users/{u['user_id']}",
                               headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/auth/tokens", headers={
        **cloud.admin(), "X-Subject-Token": t}).status_code == 404


def test_roles_implied_and_inferences(cloud: Cloud) -> None:
    h = cloud.admin()
    a = cloud.client.post(f"{V3}/roles", headers=h,
                          json={"role": {"name": uniq("ra")}}).json()["role"]
    b = cloud.client.post(f"{V3}/roles", headers=h,
                          json={"role": {"name": uniq("rb")}}).json()["role"]
    assert cloud.client.post(f"{V3}/roles", headers=h,
                             json={"role": {"name": a["name"]}}).status_code == 409
    r = cloud.client.put(f"{V3}/roles/{a['id']}/implies/{b['id']}", headers=h)
    assert r.status_code == 201
    assert r.json()["role_inference"]["implies"]["id"] == b["id"]
    assert cloud.client.put(f"{V3}/roles/{b['id']}/implies/{a['id']}",
                            headers=h).status_code == 403
    inf = cloud.client.get(f"{V3}/roles/{a['id']}/implies", headers=h).json()
    assert [x["id"] for x in inf["role_inference"]["implies"]] == [b["id"]]
    u = cloud.make_project_user(role="reader")
    cloud.client.put(f"{V3}/projects/{u['project_id']}/users/{u['user_id']}/roles/{a['id']}",
                     headers=h)
    t = cloud.token(u["username"], u["password"], project_id=u["project_id"])
    names = {r["name"] for r in cloud.client.get(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": t, "X-Subject-Token": t}).json()["token"]["roles"]}
    assert {a["name"], b["name"], "reader"} <= names
    assert cloud.client.delete(f"{V3}/roles/{a['id']}/implies/{b['id']}",
                               headers=h).status_code == 204


def test_builtin_roles_imply_each_other(cloud: Cloud) -> None:
    u = cloud.make_project_user(role="admin")
    t = cloud.token(u["username"], u["password"], project_id=u["project_id"])
    names = {r["name"] for r in cloud.client.get(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": t, "X-Subject-Token": t}).json()["token"]["roles"]}
    assert {"admin", "member", "reader"} <= names


def test_role_assignments_filters_names_and_effective(cloud: Cloud) -> None:
    h = cloud.admin()
    u = cloud.make_project_user()
    r = cloud.client.get(f"{V3}/role_assignments", headers=h, params={
        "user.id": u["user_id"], "scope.project.id": u["project_id"], "include_names": "1"})
    items = r.json()["role_assignments"]
    assert len(items) == 1
    a = items[0]
    assert a["role"]["name"] == "member" and a["user"]["name"] == u["username"]
    assert a["scope"]["project"]["id"] == u["project_id"]
    assert a["links"]["assignment"].endswith(
        f"/projects/{u['project_id']}/users/{u['user_id']}/roles/{a['role']['id']}")
    eff = cloud.client.get(f"{V3}/role_assignments", headers=h, params={
        "user.id": u["user_id"], "effective": ""}).json()["role_assignments"]
    assert {x["role"]["id"] for x in eff} == {cloud.role_id("member"), cloud.role_id("reader")}


def test_inherited_domain_grant_reaches_projects(cloud: Cloud) -> None:
    h = cloud.admin()
    u = cloud.make_project_user()
    p = cloud.client.post(f"{V3}/projects", headers=h,
                          json={"project": {"name": uniq("inh")}}).json()["project"]
    r = cloud.client.put(f"{V3}/OS-INHERIT/domains/default/users/{u['user_id']}/roles/"
                         f"{cloud.role_id('reader')}/inherited_to_projects", headers=h)
    assert r.status_code == 204
    cloud.token(u["username"], u["password"], project_id=p["id"])


def test_catalog_crud(cloud: Cloud) -> None:
    h = cloud.admin()
    reg = cloud.client.post(f"{V3}/regions", headers=h, json={"region": {
        "id": uniq("Region"), "description": "r"}}).json()["region"]
    svc = cloud.client.post(f"{V3}/services", headers=h, json={"service": {
        "type": "widget", "name": uniq("widgets")}})
    assert svc.status_code == 201
    sid = svc.json()["service"]["id"]
    ep = cloud.client.post(f"{V3}/endpoints", headers=h, json={"endpoint": {
        "service_id": sid, "interface": "public", "url": "http://w.example/v1",
        "region_id": reg["id"]}})
    assert ep.status_code == 201
    eid = ep.json()["endpoint"]["id"]
    assert cloud.client.post(f"{V3}/endpoints", headers=h, json={"endpoint": {
        "service_id": sid, "interface": "sideways", "url": "http://x"}}).status_code == 400
    assert cloud.client.post(f"{V3}/endpoints", headers=h, json={"endpoint": {
        "service_id": "missing", "interface": "public", "url": "http://x"}}).status_code == 400
    t = cloud.token("admin", cloud.admin_password, project_name="admin")
    cat = cloud.client.get(f"{V3}/auth/catalog", headers={"X-Auth-Token": t}).json()["catalog"]
    assert any(s["id"] == sid for s in cat)
    assert [e["id"] for e in cloud.client.get(f"{V3}/endpoints", headers=h, params={
        "service_id": sid}).json()["endpoints"]] == [eid]
    r = cloud.client.patch(f"{V3}/endpoints/{eid}", headers=h,
                           json={"endpoint": {"url": "http://w.example/v2"}})
    assert r.json()["endpoint"]["url"] == "http://w.example/v2"
    assert cloud.client.delete(f"{V3}/services/{sid}", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/endpoints/{eid}", headers=h).status_code == 404
    assert cloud.client.delete(f"{V3}/regions/{reg['id']}", headers=h).status_code == 204


def test_catalog_is_rendered_for_the_token_project(cloud: Cloud) -> None:
    h = cloud.admin()
    svc = cloud.client.post(f"{V3}/services", headers=h, json={"service": {
        "type": uniq("tmpl"), "name": "tmpl"}}).json()["service"]
    cloud.client.post(f"{V3}/endpoints", headers=h, json={"endpoint": {
        "service_id": svc["id"], "interface": "public", "region_id": "RegionOne",
        "url": "http://x/v3/$(project_id)s"}})
    u = cloud.make_project_user()
    cat = cloud.client.get(f"{V3}/auth/catalog", headers=u["headers"]).json()["catalog"]
    entry = [s for s in cat if s["id"] == svc["id"]][0]
    assert entry["endpoints"][0]["url"] == f"http://x/v3/{u['project_id']}"


def test_application_credentials(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    path = f"{V3}/users/{u['user_id']}/application_credentials"
    r = cloud.client.post(path, headers=u["headers"], json={"application_credential": {
        "name": "ci"}})
    assert r.status_code == 201
    ac = r.json()["application_credential"]
    assert ac["secret"] and ac["project_id"] == u["project_id"]
    assert {x["name"] for x in ac["roles"]} >= {"member"}
    listed = cloud.client.get(path, headers=u["headers"]).json()["application_credentials"]
    assert [x["id"] for x in listed] == [ac["id"]] and "secret" not in listed[0]
    assert cloud.client.post(path, headers=u["headers"], json={"application_credential": {
        "name": "ci"}}).status_code == 409
    r = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": ac["id"], "secret": ac["secret"]}}}})
    assert r.status_code == 201
    tok = r.json()["token"]
    assert tok["project"]["id"] == u["project_id"]
    assert tok["application_credential"]["id"] == ac["id"]
    act = r.headers["X-Subject-Token"]
    bad = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": ac["id"], "secret": "nope"}}}})
    assert bad.status_code == 401
    # a restricted application credential cannot make another one
    r = cloud.client.post(path, headers={"X-Auth-Token": act},
                          json={"application_credential": {"name": "again"}})
    assert r.status_code == 403
    assert cloud.client.delete(f"{path}/{ac['id']}", headers=u["headers"]).status_code == 204
    assert cloud.client.get(f"{V3}/users/{u['user_id']}", headers={"X-Auth-Token": act}
                            ).status_code == 401


def test_list_limit_truncates(cloud: Cloud) -> None:
    r = cloud.client.get(f"{V3}/roles", headers=cloud.admin(), params={"limit": 2})
    body = r.json()
    assert len(body["roles"]) == 2 and body["truncated"] is True


def test_auth_projects_and_domains(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    projects = cloud.client.get(f"{V3}/auth/projects", headers=u["headers"]).json()["projects"]
    assert [p["id"] for p in projects] == [u["project_id"]]
    assert cloud.client.get(f"{V3}/users/{u['user_id']}/projects",
                            headers=u["headers"]).json()["projects"][0]["id"] == u["project_id"]
    assert cloud.client.get(f"{V3}/auth/domains", headers=u["headers"]).json()["domains"] == []


# ---------------------------------------------------------- tenant isolation
ADMIN_ONLY = [
    ("get", "/projects"), ("post", "/projects"), ("get", "/users"), ("post", "/users"),
    ("get", "/groups"), ("post", "/roles"), ("get", "/roles"), ("post", "/domains"),
    ("get", "/services"), ("get", "/endpoints"), ("post", "/regions"),
    ("get", "/role_assignments"),
]


@pytest.mark.parametrize("method,path", ADMIN_ONLY)
def test_member_is_forbidden_on_admin_apis(cloud: Cloud, method: str, path: str) -> None:
    u = cloud.make_project_user()
    kwargs: dict[str, Any] = {"headers": u["headers"]}
    if method == "post":
        kwargs["json"] = {path.strip("/")[:-1]: {"name": uniq("x")}}
    r = getattr(cloud.client, method)(V3 + path, **kwargs)
    assert r.status_code == 403, (path, r.text)
    assert error_of(r)["title"] == "Forbidden"


def test_isolation_matrix_between_projects(cloud: Cloud) -> None:
    a = cloud.make_project_user(prefix="a")
    b = cloud.make_project_user(prefix="b")
    ah = a["headers"]
    # A sees itself, its project and its own assignments...
    assert cloud.client.get(f"{V3}/users/{a['user_id']}", headers=ah).status_code == 200
    assert cloud.client.get(f"{V3}/projects/{a['project_id']}", headers=ah).status_code == 200
    assert cloud.client.get(f"{V3}/role_assignments", headers=ah, params={
        "user.id": a["user_id"]}).status_code == 200
    # ...but nothing of B's
    assert cloud.client.get(f"{V3}/users/{b['user_id']}", headers=ah).status_code == 403
    assert cloud.client.get(f"{V3}/projects/{b['project_id']}", headers=ah).status_code == 403
    assert cloud.client.get(f"{V3}/role_assignments", headers=ah, params={
        "user.id": b["user_id"]}).status_code == 403
    assert cloud.client.get(f"{V3}/users/{b['user_id']}/projects",
                            headers=ah).status_code == 403
    assert cloud.client.patch(f"{V3}/projects/{b['project_id']}", headers=ah, json={
        "project": {"name": "pwned"}}).status_code == 403
    assert cloud.client.delete(f"{V3}/users/{b['user_id']}", headers=ah).status_code == 403
    assert cloud.client.get(f"{V3}/users/{b['user_id']}/application_credentials",
                            headers=ah).status_code == 403
    assert cloud.client.post(f"{V3}/users/{b['user_id']}/application_credentials",
                             headers=ah, json={"application_credential": {"name": "x"}}
                             ).status_code == 403
    b_token_check = cloud.client.get(f"{V3}/auth/tokens", headers={
        **ah, "X-Subject-Token": b["token"]})
    assert b_token_check.status_code == 403
    assert cloud.client.delete(f"{V3}/auth/tokens", headers={
        **ah, "X-Subject-Token": b["token"]}).status_code == 403
    assert cloud.client.put(f"{V3}/projects/{a['project_id']}/users/{a['user_id']}/roles/"
                            f"{cloud.role_id('admin')}", headers=ah).status_code == 403


def test_unknown_route_is_keystone_404(cloud: Cloud) -> None:
    r = cloud.client.get(f"{V3}/no-such-thing", headers=cloud.admin())
    assert r.status_code == 404
    error_of(r)


def test_request_id_header(cloud: Cloud) -> None:
    r = cloud.client.get(V3)
    assert r.headers["X-Openstack-Request-Id"].startswith("req-")


def test_expired_token_is_refused_unless_allow_expired(tmp_path: Any) -> None:
    import time

    from tests.conftest import build_cloud

    gen = build_cloud(tmp_path, token_expiration=1)
    c = next(gen)
    try:
        admin = c.admin_token
        u = c.make_project_user()
        time.sleep(1.2)
        fresh = c.token("admin", c.admin_password, project_name="admin")
        assert admin != fresh
        h = {"X-Auth-Token": fresh, "X-Subject-Token": u["token"]}
        assert c.client.get(f"{V3}/auth/tokens", headers=h).status_code == 404
        r = c.client.get(f"{V3}/auth/tokens?allow_expired=1", headers=h)
        assert r.status_code == 200 and r.json()["token"]["user"]["id"] == u["user_id"]
        assert c.client.get(f"{V3}/users/{u['user_id']}",
                            headers={"X-Auth-Token": u["token"]}).status_code == 401
    finally:
        gen.close()


# ------------------------------------------------- tokens that are not tokens
def test_a_malformed_subject_token_is_not_found(cloud: Cloud) -> None:
    """Keystone's answer to a subject token it cannot read (its Fernet provider turns
    the formatter's ValidationError into TokenNotFound): 404 "Could not recognize
    Fernet token", for validate, check and revoke alike; as the caller's own token the
    same bytes are a 401. A token made with the cloud's key around a garbled payload
    was a 500."""
    admin = cloud.admin()
    fernet = cloud.app.state.identity.auth.formatter.keys.fernet()
    forged = fernet.encrypt(b"\x01\x00\x05ab").decode().rstrip("=")  # cut short
    for subject in ("garbage", "gAAAAABnot-a-token", "x" * 2000, admin["X-Auth-Token"][:-6],
                    forged):
        for method in ("GET", "HEAD", "DELETE"):
            r = cloud.client.request(method, f"{V3}/auth/tokens",
                                     headers={**admin, "X-Subject-Token": subject})
            assert r.status_code == 404, (method, subject, r.text)
            if method != "HEAD":
                assert error_of(r)["message"] == "Could not recognize Fernet token"
        r = cloud.client.get(f"{V3}/auth/tokens", headers={"X-Auth-Token": subject,
                                                            "X-Subject-Token": subject})
        assert r.status_code == 401, (subject, r.text)
    # a user asking about a token that is not one: the same 404, not a 403
    u = cloud.make_project_user()
    r = cloud.client.get(f"{V3}/auth/tokens", headers={**u["headers"],
                                                        "X-Subject-Token": forged})
    assert (r.status_code, error_of(r)["message"]) == (404, "Could not recognize Fernet token")
    # the caller's token still works: nothing was revoked on the way
    assert cloud.client.get(f"{V3}/auth/tokens", headers={
        **admin, "X-Subject-Token": admin["X-Auth-Token"]}).status_code == 200
