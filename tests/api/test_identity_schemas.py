"""Keystone's request schemas at the door (identity/schemas.py): every category of
bad input issue 13 names for identity is a 400 in Keystone's `{"error": ...}` body,
worded "Invalid input for field '<path>': <reason>", before any service code runs;
and the valid edge cases around each limit still pass.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from overcast.kit.schema import openapi_document
from tests.conftest import Cloud

V3 = "/identity/v3"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def refused(r: Any, field: str | None = None) -> str:
    """Assert a Keystone 400 (naming `field` when given); return its message."""
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == 400 and body["error"]["title"] == "Bad Request"
    message = str(body["error"]["message"])
    if field is not None:
        assert message.startswith(f"Invalid input for field '{field}': "), message
    assert len(r.content) < 4096
    return message


def auth(identity: dict[str, Any], scope: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"auth": {"identity": identity}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def password(user: dict[str, Any]) -> dict[str, Any]:
    return {"methods": ["password"], "password": {"user": user}}


ADMIN = {"name": "admin", "domain": {"id": "default"}}


# ------------------------------------------------------------------- tokens
@pytest.mark.parametrize("body,field", [
    (auth({"methods": "password"}), "identity/methods"),
    (auth({"methods": [1]}), "identity/methods/0"),
    (auth(password({**ADMIN, "password": ["x"]})), "identity/password/user/password"),
    (auth(password({**ADMIN, "password": "a\x00b"})), "identity/password/user/password"),
    (auth(password({"name": {"a": 1}, "domain": {"id": "default"}, "password": "x"})),
     "identity/password/user/name"),
    (auth(password({"name": "ad\x00min", "domain": {"id": "default"}, "password": "x"})),
     "identity/password/user/name"),
    (auth(password({"name": "admin", "domain": {"name": 5}, "password": "x"})),
     "identity/password/user/domain/name"),
    (auth(password({"name": "admin", "domain": "default", "password": "x"})),
     "identity/password/user/domain"),
    (auth({"methods": ["token"], "token": {"id": 7}}), "identity/token/id"),
    (auth({"methods": ["application_credential"],
           "application_credential": {"id": "x", "secret": 1}}),
     "identity/application_credential/secret"),
    (auth(password({**ADMIN, "password": "x"}), {"project": {"id": ["p"]}}), "scope/project/id"),
    (auth(password({**ADMIN, "password": "x"}), {"project": {"name": "p" * 65,
                                                             "domain": {"id": "default"}}}),
     "scope/project/name"),
    (auth(password({**ADMIN, "password": "x"}), {"system": {"all": "yes"}}), "scope/system/all"),
    (auth(password({**ADMIN, "password": "x"}), 5), "scope"),
])
def test_token_bodies_of_the_wrong_shape_are_refused(cloud: Cloud, body: Any,
                                                     field: str) -> None:
    refused(cloud.client.post(f"{V3}/auth/tokens", json=body), field)


def test_token_body_without_identity_names_no_field(cloud: Cloud) -> None:
    message = refused(cloud.client.post(f"{V3}/auth/tokens", json={"auth": {}}))
    assert message == "'identity' is a required property"


@pytest.mark.parametrize("body", [[], "auth", 5, [{"auth": {}}]])
def test_a_body_that_is_not_an_object_gets_keystones_answer(cloud: Cloud, body: Any) -> None:
    for method, path in (("POST", "/auth/tokens"), ("POST", "/users"),
                         ("PATCH", "/projects/x"), ("PUT", "/projects/x/tags")):
        r = cloud.client.request(method, f"{V3}{path}", json=body, headers=cloud.admin())
        assert refused(r).startswith("Expecting to find valid JSON in request body.")


def test_password_token_still_issued_with_unscoped_string_scope(cloud: Cloud) -> None:
    r = cloud.client.post(f"{V3}/auth/tokens", json=auth(
        password({**ADMIN, "password": cloud.admin_password}), "unscoped"))
    assert r.status_code == 201, r.text
    assert "project" not in r.json()["token"]


def test_validate_token_refuses_a_non_boolean_allow_expired(cloud: Cloud) -> None:
    h = {**cloud.admin(), "X-Subject-Token": cloud.admin_token}
    refused(cloud.client.get(f"{V3}/auth/tokens", headers=h,
                             params={"allow_expired": "maybe"}), "allow_expired")
    for ok in ("true", "False", "1", "no", "Y"):
        assert cloud.client.get(f"{V3}/auth/tokens", headers=h,
                                params={"allow_expired": ok}).status_code == 200


# ---------------------------------------------------------------- resources
NAME_CASES = [
    ("a\x00b", "NUL"), ("a\x01b", "control"), ("tab\there", "tab"), ("new\nline", "newline"),
    ("a\x7fb", "DEL"), ("   ", "blank"), ("", "empty"), (7, "number"), (["x"], "list"),
    ({"x": 1}, "object"), (None, "null"), (True, "boolean"),
]


@pytest.mark.parametrize("kind", ["user", "project", "domain", "group", "role"])
@pytest.mark.parametrize("name,why", NAME_CASES, ids=[w for _, w in NAME_CASES])
def test_bad_names_are_refused_on_create(cloud: Cloud, kind: str, name: Any, why: str) -> None:
    r = cloud.client.post(f"{V3}/{kind}s", headers=cloud.admin(), json={kind: {"name": name}})
    refused(r, f"{kind}/name")


@pytest.mark.parametrize("kind,limit", [("user", 255), ("project", 64), ("domain", 64),
                                        ("group", 255), ("role", 255)])
def test_names_beyond_keystones_lengths_are_refused(cloud: Cloud, kind: str,
                                                    limit: int) -> None:
    r = cloud.client.post(f"{V3}/{kind}s", headers=cloud.admin(),
                          json={kind: {"name": "n" * (limit + 1)}})
    message = refused(r, f"{kind}/name")
    assert f"at most {limit} characters" in message and len(message) < 300


@pytest.mark.parametrize("kind,limit", [("user", 255), ("project", 64), ("domain", 64),
                                        ("role", 255)])
def test_names_at_keystones_lengths_and_in_any_script_pass(cloud: Cloud, kind: str,
                                                           limit: int) -> None:
    h = cloud.admin()
    for name in (uniq("ü") + "x" * (limit - 10), uniq("名前 with spaces")):
        r = cloud.client.post(f"{V3}/{kind}s", headers=h, json={kind: {"name": name}})
        assert r.status_code == 201, r.text
        assert r.json()[kind]["name"] == name


@pytest.mark.parametrize("kind", ["user", "project", "domain", "service", "endpoint"])
@pytest.mark.parametrize("enabled", ["true", 1, 0, None, [], {}])
def test_enabled_that_is_not_a_boolean_is_refused(cloud: Cloud, kind: str,
                                                  enabled: Any) -> None:
    r = cloud.client.patch(f"{V3}/{kind}s/whatever", headers=cloud.admin(),
                           json={kind: {"enabled": enabled}})
    refused(r, f"{kind}/enabled")


@pytest.mark.parametrize("body,field", [
    ({"user": {"name": "u", "password": "p\x00w"}}, "user/password"),
    ({"user": {"name": "u", "password": 12345}}, "user/password"),
    ({"user": {"name": "u", "password": "p" * 4097}}, "user/password"),
    ({"user": {"name": "u", "domain_id": {"id": "default"}}}, "user/domain_id"),
    ({"user": {"name": "u", "domain_id": "de fault"}}, "user/domain_id"),
    ({"user": {"name": "u", "default_project_id": 5}}, "user/default_project_id"),
    ({"user": {"name": "u", "description": ["d"]}}, "user/description"),
    ({"user": {"name": "u", "description": "d\x00"}}, "user/description"),
    ({"user": {"name": "u", "options": "x"}}, "user/options"),
    ({"user": {"name": "u"}, "extra": 1}, None),
    ({"usr": {"name": "u"}}, None),
])
def test_bad_user_bodies_are_refused(cloud: Cloud, body: Any, field: str | None) -> None:
    refused(cloud.client.post(f"{V3}/users", headers=cloud.admin(), json=body), field)


def test_user_update_needs_a_property_and_keeps_keystones_types(cloud: Cloud) -> None:
    h = cloud.admin()
    u = cloud.make_project_user()
    refused(cloud.client.patch(f"{V3}/users/{u['user_id']}", headers=h, json={"user": {}}),
            "user")
    refused(cloud.client.patch(f"{V3}/users/{u['user_id']}", headers=h,
                               json={"user": {"name": "x\x00"}}), "user/name")
    r = cloud.client.patch(f"{V3}/users/{u['user_id']}", headers=h, json={"user": {
        "description": "multi\nline\tdescription", "email": "x@example.com"}})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["description"] == "multi\nline\tdescription"


def test_password_change_is_checked_before_the_password(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    path = f"{V3}/users/{u['user_id']}/password"
    refused(cloud.client.post(path, json={"user": {"password": "new"}}), "user")
    refused(cloud.client.post(path, json={"user": {"original_password": u["password"],
                                                   "password": "n\x00ew"}}), "user/password")
    refused(cloud.client.post(path, json={"user": {"original_password": 1,
                                                   "password": "new"}}),
            "user/original_password")
    refused(cloud.client.post(path, json={"user": {
        "original_password": u["password"], "password": "new", "extra": 1}}), "user")
    r = cloud.client.post(path, json={"user": {"original_password": u["password"],
                                               "password": "new pass\twith tab"}})
    assert r.status_code == 204, r.text
    cloud.token(u["username"], "new pass\twith tab")


@pytest.mark.parametrize("project,field", [
    ({"name": "p", "tags": ["a/b"]}, "project/tags/0"),
    ({"name": "p", "tags": ["a,b"]}, "project/tags/0"),
    ({"name": "p", "tags": [""]}, "project/tags/0"),
    ({"name": "p", "tags": ["t" * 256]}, "project/tags/0"),
    ({"name": "p", "tags": ["a", "a"]}, "project/tags"),
    ({"name": "p", "tags": [f"t{i}" for i in range(81)]}, "project/tags"),
    ({"name": "p", "tags": [1]}, "project/tags/0"),
    ({"name": "p", "is_domain": "false"}, "project/is_domain"),
    ({"name": "p", "parent_id": 5}, "project/parent_id"),
    ({"name": "p", "domain_id": "no/such"}, "project/domain_id"),
    ({"name": "p", "description": {"d": 1}}, "project/description"),
])
def test_bad_project_fields_are_refused(cloud: Cloud, project: dict[str, Any],
                                        field: str) -> None:
    refused(cloud.client.post(f"{V3}/projects", headers=cloud.admin(),
                              json={"project": project}), field)


def test_project_tags_follow_keystones_rules(cloud: Cloud) -> None:
    h = cloud.admin()
    tags = [f"t{i}" for i in range(79)] + ["ünï code with spaces"]
    r = cloud.client.post(f"{V3}/projects", headers=h,
                          json={"project": {"name": uniq("tagged"), "tags": tags}})
    assert r.status_code == 201, r.text
    pid = r.json()["project"]["id"]
    refused(cloud.client.put(f"{V3}/projects/{pid}/tags", headers=h,
                             json={"tags": ["x", "x"]}), "tags")
    refused(cloud.client.put(f"{V3}/projects/{pid}/tags", headers=h,
                             json={"tags": ["x"], "more": 1}))
    refused(cloud.client.put(f"{V3}/projects/{pid}/tags", headers=h, json={"tags": "x"}),
            "tags")
    refused(cloud.client.put(f"{V3}/projects/{pid}/tags/a,b", headers=h), "tag")
    refused(cloud.client.put(f"{V3}/projects/{pid}/tags/{'t' * 256}", headers=h), "tag")
    assert cloud.client.put(f"{V3}/projects/{pid}/tags", headers=h,
                            json={"tags": []}).json() == {"tags": []}


@pytest.mark.parametrize("path,body,field", [
    ("/domains", {"domain": {"name": "d", "description": "d" * 256}}, "domain/description"),
    ("/domains", {"domain": {"name": "d", "explicit_domain_id": "not valid!"}},
     "domain/explicit_domain_id"),
    ("/groups", {"group": {"name": "g", "domain_id": 1}}, "group/domain_id"),
    ("/roles", {"role": {"name": "r", "description": "d" * 256}}, "role/description"),
    ("/regions", {"region": {"id": ["r"]}}, "region/id"),
    ("/regions", {"region": {"id": "r", "description": "d" * 256}}, "region/description"),
    ("/regions", {"region": {"id": "r", "parent_region_id": ""}}, "region/parent_region_id"),
    ("/services", {"service": {"name": "n"}}, "service"),
    ("/services", {"service": {"type": ""}}, "service/type"),
    ("/services", {"service": {"type": "t", "name": {"n": 1}}}, "service/name"),
    ("/endpoints", {"endpoint": {"service_id": "s", "interface": "sideways",
                                 "url": "http://x"}}, "endpoint/interface"),
    ("/endpoints", {"endpoint": {"service_id": "s", "interface": "public",
                                 "url": "http://" + "x" * 220}}, "endpoint/url"),
    ("/endpoints", {"endpoint": {"service_id": "s", "interface": "public",
                                 "url": "no scheme"}}, "endpoint/url"),
    ("/endpoints", {"endpoint": {"service_id": ["s"], "interface": "public",
                                 "url": "http://x"}}, "endpoint/service_id"),
    ("/endpoints", {"endpoint": {"service_id": "s", "interface": "public",
                                 "url": "http://x", "region_id": 1}}, "endpoint/region_id"),
])
def test_bad_catalog_and_other_bodies_are_refused(cloud: Cloud, path: str, body: Any,
                                                  field: str) -> None:
    refused(cloud.client.post(f"{V3}{path}", headers=cloud.admin(), json=body), field)


def test_region_put_and_explicit_domain_id(cloud: Cloud) -> None:
    h = cloud.admin()
    refused(cloud.client.put(f"{V3}/regions/r-put", headers=h,
                             json={"region": {"description": 5}}), "region/description")
    r = cloud.client.put(f"{V3}/regions/{uniq('r')}", headers=h, json={"region": {}})
    assert r.status_code == 201, r.text
    did = uuid.uuid4().hex
    r = cloud.client.post(f"{V3}/domains", headers=h, json={"domain": {
        "name": uniq("d"), "explicit_domain_id": did}})
    assert r.status_code == 201 and r.json()["domain"]["id"] == did


# ------------------------------------------------------ application credentials
@pytest.mark.parametrize("ac,field", [
    ({}, "application_credential"),
    ({"name": "a\x00"}, "application_credential/name"),
    ({"name": "a", "expires_at": "next tuesday"}, "application_credential/expires_at"),
    ({"name": "a", "expires_at": 1700000000}, "application_credential/expires_at"),
    ({"name": "a", "roles": "member"}, "application_credential/roles"),
    ({"name": "a", "roles": [{}]}, "application_credential/roles/0"),
    ({"name": "a", "roles": [{"id": "x", "name": "member"}]}, "application_credential/roles/0"),
    ({"name": "a", "roles": [{"name": 5}]}, "application_credential/roles/0/name"),
    ({"name": "a", "unrestricted": "yes"}, "application_credential/unrestricted"),
    ({"name": "a", "secret": ""}, None),
    ({"name": "a", "surprise": 1}, "application_credential"),
])
def test_bad_application_credentials_are_refused(cloud: Cloud, ac: dict[str, Any],
                                                 field: str | None) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/application_credentials",
                          headers=u["headers"], json={"application_credential": ac})
    refused(r, field)


def test_application_credential_with_roles_and_expiry_still_created(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/application_credentials",
                          headers=u["headers"], json={"application_credential": {
                              "name": uniq("ac"), "expires_at": "2099-01-01T00:00:00Z",
                              "roles": [{"name": "member"}], "unrestricted": None,
                              "secret": None, "description": None}})
    assert r.status_code == 201, r.text
    assert r.json()["application_credential"]["expires_at"].startswith("2099-01-01")
    refused(cloud.client.get(f"{V3}/users/{u['user_id']}/application_credentials",
                             headers=u["headers"], params={"name": ""}), "name")


# ------------------------------------------------------------- query strings
@pytest.mark.parametrize("path,params,field", [
    ("/projects", {"limit": "9" * 30}, "limit"),
    ("/projects", {"limit": "-1"}, "limit"),
    ("/projects", {"limit": "1e3"}, "limit"),
    ("/projects", {"enabled": "maybe"}, "enabled"),
    ("/projects", {"is_domain": "sure"}, "is_domain"),
    ("/projects", {"name": "p" * 65}, "name"),
    ("/projects", {"name": "a\x00b"}, "name"),
    ("/projects", {"domain_id": "a/b"}, "domain_id"),
    ("/projects", {"parent_id": "x" * 65}, "parent_id"),
    ("/users", {"name": "u" * 256}, "name"),
    ("/users", {"enabled": "2"}, "enabled"),
    ("/users", {"sort_dir": "up"}, "sort_dir"),
    ("/domains", {"enabled": "nope"}, "enabled"),
    ("/groups", {"domain_id": ""}, "domain_id"),
    ("/roles", {"name": ""}, "name"),
    ("/regions", {"unknown": "x"}, None),
    ("/endpoints", {"interface": "sideways"}, "interface"),
    ("/role_assignments", {"user.id": "u", "group.id": "g"}, None),
    ("/role_assignments", {"scope.project.id": "p", "scope.domain.id": "d"}, None),
    ("/role_assignments", {"scope.system": "all", "scope.domain.id": "d"}, None),
    ("/role_assignments", {"role.id": "a b"}, "role.id"),
    ("/role_assignments", {"include_names": "perhaps"}, "include_names"),
])
def test_bad_list_queries_are_refused(cloud: Cloud, path: str, params: dict[str, str],
                                      field: str | None) -> None:
    refused(cloud.client.get(f"{V3}{path}", headers=cloud.admin(), params=params), field)


def test_role_assignments_keep_keystones_words_for_filters_that_cannot_combine(
        cloud: Cloud) -> None:
    r = cloud.client.get(f"{V3}/role_assignments", headers=cloud.admin(),
                         params={"user.id": "u", "group.id": "g"})
    assert refused(r) == "Specify a user or group, not both"


@pytest.mark.parametrize("path,params", [
    ("/projects", {"limit": "0", "enabled": "TRUE", "name": "admin"}),
    ("/projects", {"is_domain": "false", "tags": "a,b", "marker": "x", "name__icontains": "a"}),
    ("/users", {"enabled": "Yes", "domain_id": "default", "sort_dir": "asc"}),
    ("/domains", {"enabled": "", "name": "Default"}),
    ("/groups/any/users", {"limit": "5"}),
    ("/regions", {"parent_region_id": "RegionOne", "limit": "1"}),
    ("/role_assignments", {"scope.system": "all", "effective": "", "include_names": "0"}),
])
def test_valid_list_queries_pass(cloud: Cloud, path: str, params: dict[str, str]) -> None:
    r = cloud.client.get(f"{V3}{path}", headers=cloud.admin(), params=params)
    assert r.status_code in (200, 404), r.text


def test_limit_beyond_64_bits_is_refused_but_big_limits_list_all(cloud: Cloud) -> None:
    h = cloud.admin()
    refused(cloud.client.get(f"{V3}/roles", headers=h, params={"limit": str(2**64)}),
            "limit")
    assert cloud.client.get(f"{V3}/roles", headers=h,
                            params={"limit": str(2**63 - 1)}).status_code == 200
    assert cloud.client.get(f"{V3}/roles", headers=h,
                            params={"limit": "1000000"}).status_code == 200


# ------------------------------------------------------------------ openapi
def test_every_identity_route_with_a_body_or_query_declares_its_schemas(cloud: Cloud) -> None:
    paths = openapi_document(cloud.app)["paths"]
    v3 = {p: ops for p, ops in paths.items() if p.startswith("/identity/v3")}
    for path, method in [
        ("/auth/tokens", "post"), ("/users", "post"), ("/users/{ident}", "patch"),
        ("/projects", "post"), ("/projects/{ident}", "patch"),
        ("/projects/{project_id}/tags", "put"), ("/users/{user_id}/password", "post"),
        ("/domains", "post"), ("/groups", "post"), ("/roles", "post"), ("/regions", "post"),
        ("/regions/{region_id}", "put"), ("/services", "post"), ("/endpoints", "post"),
        ("/endpoints/{ident}", "patch"),
        ("/users/{user_id}/application_credentials", "post"),
    ]:
        assert "requestBody" in v3[f"/identity/v3{path}"][method], (path, method)
    for path in ["/users", "/projects", "/domains", "/groups", "/roles", "/regions",
                 "/services", "/endpoints", "/role_assignments", "/auth/tokens",
                 "/users/{user_id}/projects", "/users/{user_id}/groups",
                 "/groups/{group_id}/users", "/users/{user_id}/application_credentials"]:
        assert "parameters" in v3[f"/identity/v3{path}"]["get"], path
