"""Application credential access rules: stored as the user's rules (listed, shown,
deleted once no credential carries them), and enforced by every API on the
requests of a token made from the credential."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Cloud

V3 = "/identity/v3"


def _app_cred(cloud: Cloud, user: dict[str, Any], rules: list[dict[str, str]]) -> Any:
    return cloud.client.post(f"{V3}/users/{user['user_id']}/application_credentials",
                             headers=user["headers"], json={"application_credential": {
                                 "name": f"ac-{uuid.uuid4().hex[:8]}",
                                 "access_rules": rules}})


def _token(cloud: Cloud, ac: dict[str, Any]) -> dict[str, str]:
    r = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": ac["id"], "secret": ac["secret"]}}}})
    assert r.status_code == 201, r.text
    return {"X-Auth-Token": r.headers["X-Subject-Token"]}


def test_rules_are_enforced_across_services(cloud: Cloud) -> None:
    user = cloud.make_project_user("member")
    uid = user["user_id"]
    rules = [{"service": "compute", "method": "GET", "path": "/v2.1/servers"},
             {"service": "identity", "method": "GET", "path": f"/v3/users/{uid}"},
             {"service": "image", "method": "GET", "path": "/v2/images/*"}]
    r = _app_cred(cloud, user, rules)
    assert r.status_code == 201, r.text
    ac = r.json()["application_credential"]
    assert [{k: x[k] for k in ("service", "method", "path")} for x in ac["access_rules"]] \
        == rules
    h = _token(cloud, ac)
    assert cloud.client.get("/compute/v2.1/servers", headers=h).status_code == 200
    assert cloud.client.get(f"{V3}/users/{uid}", headers=h).status_code == 200
    # not allowed: another path, another method, another service
    for method, path in (("GET", "/compute/v2.1/servers/detail"),
                         ("POST", "/compute/v2.1/servers"),
                         ("GET", "/network/v2.0/networks"),
                         ("GET", "/image/v2/images"),
                         ("GET", f"{V3}/projects")):
        r = cloud.client.request(method, path, headers=h, json={} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.status_code)
    # `*` is one path segment
    r = cloud.client.get(f"/image/v2/images/{uuid.uuid4()}", headers=h)
    assert r.status_code == 404
    # the token itself can always be read, with the rules in it
    r = cloud.client.get(f"{V3}/auth/tokens", headers={**h, "X-Subject-Token": h[
        "X-Auth-Token"], "OpenStack-Identity-Access-Rules": "1.0"})
    assert r.status_code == 200
    assert len(r.json()["token"]["application_credential"]["access_rules"]) == 3
    # a validator that does not say it enforces rules is not shown the token
    r = cloud.client.get(f"{V3}/auth/tokens", headers={
        **cloud.admin(), "X-Subject-Token": h["X-Auth-Token"]})
    assert r.status_code == 404


def test_credential_without_rules_is_unlimited(cloud: Cloud) -> None:
    user = cloud.make_project_user("member")
    r = cloud.client.post(f"{V3}/users/{user['user_id']}/application_credentials",
                          headers=user["headers"], json={"application_credential": {
                              "name": "plain"}})
    h = _token(cloud, r.json()["application_credential"])
    assert cloud.client.get("/network/v2.0/networks", headers=h).status_code == 200


def test_rule_listing_reuse_and_delete(cloud: Cloud) -> None:
    user = cloud.make_project_user("member")
    uid = user["user_id"]
    rule = {"service": "monitoring", "method": "GET", "path": "/v2.1/servers/*/ips"}
    first = _app_cred(cloud, user, [rule]).json()["application_credential"]
    second = _app_cred(cloud, user, [rule]).json()["application_credential"]
    rid = first["access_rules"][0]["id"]
    assert second["access_rules"][0]["id"] == rid          # the same rule, once
    base = f"{V3}/users/{uid}/access_rules"
    listed = cloud.client.get(base, headers=user["headers"]).json()["access_rules"]
    assert [x["id"] for x in listed] == [rid]
    r = cloud.client.get(f"{base}/{rid}", headers=user["headers"])
    assert r.status_code == 200 and r.json()["access_rule"]["path"] == rule["path"]
    # a rule can be named by id
    third = _app_cred(cloud, user, [{"id": rid}])
    assert third.status_code == 201 and \
        third.json()["application_credential"]["access_rules"][0]["id"] == rid
    # in use: 403; another user sees nothing
    assert cloud.client.delete(f"{base}/{rid}", headers=user["headers"]).status_code == 403
    other = cloud.make_project_user("member")
    r = cloud.client.get(f"{V3}/users/{other['user_id']}/access_rules/{rid}",
                         headers=other["headers"])
    assert r.status_code == 404
    assert cloud.client.get(f"{base}/{rid}", headers=other["headers"]).status_code == 403
    for ac in (first, second, third.json()["application_credential"]):
        assert cloud.client.delete(f"{V3}/users/{uid}/application_credentials/{ac['id']}",
                                   headers=user["headers"]).status_code == 204
    assert cloud.client.delete(f"{base}/{rid}", headers=user["headers"]).status_code == 204
    assert cloud.client.get(f"{base}/{rid}", headers=user["headers"]).status_code == 404


def test_bad_rules_are_refused(cloud: Cloud) -> None:
    user = cloud.make_project_user("member")
    for bad in ({"service": "compute", "method": "FETCH", "path": "/x"},
                {"service": "compute", "method": "GET", "path": "no-slash"},
                {"service": "compute", "method": "GET"},
                {"service": "compute", "method": "GET", "path": "/x", "extra": 1}):
        assert _app_cred(cloud, user, [bad]).status_code == 400, bad
    assert _app_cred(cloud, user, [{"id": "nope"}]).status_code == 404


def test_s3_refuses_a_key_pair_of_a_limited_credential(cloud: Cloud) -> None:
    """An EC2 key pair made with a rule-limited application credential: the rules
    name services' paths, not S3 requests, so S3 refuses it rather than serve it
    unlimited."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    user = cloud.make_project_user("member")
    uid = user["user_id"]
    r = cloud.client.post(f"{V3}/users/{uid}/application_credentials",
                          headers=user["headers"], json={"application_credential": {
                              "name": "s3-limited", "unrestricted": True, "access_rules": [
                                  {"service": "identity", "method": "POST",
                                   "path": f"/v3/users/{uid}/credentials/OS-EC2"}]}})
    assert r.status_code == 201, r.text
    h = _token(cloud, r.json()["application_credential"])
    r = cloud.client.post(f"{V3}/users/{uid}/credentials/OS-EC2", headers=h,
                          json={"tenant_id": user["project_id"]})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]

    def s3_get(access: str, secret: str) -> Any:
        req = AWSRequest(method="GET", url="http://testserver/object/s3/")
        S3SigV4Auth(Credentials(access, secret), "s3", "us-east-1").add_auth(req)
        p = req.prepare()
        return cloud.client.get(p.url, headers=dict(p.headers))

    r = s3_get(cred["access"], cred["secret"])
    assert r.status_code == 403 and b"AccessDenied" in r.content
    # the same user's own key pair is served
    r = cloud.client.post(f"{V3}/users/{uid}/credentials/OS-EC2", headers=user["headers"],
                          json={"tenant_id": user["project_id"]})
    own = r.json()["credential"]
    assert s3_get(own["access"], own["secret"]).status_code == 200
