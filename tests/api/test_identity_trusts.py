"""OS-TRUST: a trustor delegates roles on a project to a trustee, who gets tokens
scoped to the trust; impersonation, expiry, remaining uses, and a deleted trust or
a revoked grant ending its tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.conftest import Cloud

V3 = "/identity/v3"
TRUSTS = f"{V3}/OS-TRUST/trusts"


def _setup(cloud: Cloud) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """A trustor holding member and a domain-free extra role on its project, a
    trustee, and the extra role's id."""
    h = cloud.admin()
    trustor = cloud.make_project_user("member")
    trustee = cloud.make_project_user("member")
    extra = cloud.client.post(f"{V3}/roles", headers=h, json={"role": {
        "name": f"deleg-{uuid.uuid4().hex[:8]}"}}).json()["role"]["id"]
    assert cloud.client.put(f"{V3}/projects/{trustor['project_id']}/users/"
                            f"{trustor['user_id']}/roles/{extra}",
                            headers=h).status_code == 204
    trustor["token"] = cloud.token(trustor["username"], trustor["password"],
                                   project_id=trustor["project_id"])
    trustor["headers"] = {"X-Auth-Token": trustor["token"]}
    return trustor, trustee, extra, cloud.role_id("member")


def _create(cloud: Cloud, trustor: dict[str, Any], trustee: dict[str, Any], role: str,
            **kw: Any) -> Any:
    return cloud.client.post(TRUSTS, headers=trustor["headers"], json={"trust": {
        "trustor_user_id": trustor["user_id"], "trustee_user_id": trustee["user_id"],
        "project_id": trustor["project_id"], "roles": [{"id": role}],
        "impersonation": kw.pop("impersonation", True), **kw}})


def _trust_token(cloud: Cloud, trustee: dict[str, Any], trust_id: str) -> Any:
    return cloud.client.post(f"{V3}/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": trustee["user_id"], "password": trustee["password"]}}},
        "scope": {"OS-TRUST:trust": {"id": trust_id}}}})


def test_trust_lifecycle_and_roles(cloud: Cloud) -> None:
    trustor, trustee, extra, member = _setup(cloud)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0)
    r = _create(cloud, trustor, trustee, extra,
                expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert r.status_code == 201, r.text
    t = r.json()["trust"]
    assert t["trustor_user_id"] == trustor["user_id"]
    assert t["trustee_user_id"] == trustee["user_id"]
    assert t["impersonation"] is True and t["project_id"] == trustor["project_id"]
    assert [x["id"] for x in t["roles"]] == [extra]
    assert t["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert "v3/OS-TRUST/trusts" in t["links"]["self"]
    for who in (trustor, trustee):
        assert cloud.client.get(f"{TRUSTS}/{t['id']}",
                                headers=who["headers"]).status_code == 200
    roles = cloud.client.get(f"{TRUSTS}/{t['id']}/roles", headers=trustor["headers"])
    assert [x["id"] for x in roles.json()["roles"]] == [extra]
    assert cloud.client.head(f"{TRUSTS}/{t['id']}/roles/{extra}",
                             headers=trustor["headers"]).status_code == 200
    assert cloud.client.get(f"{TRUSTS}/{t['id']}/roles/{member}",
                            headers=trustor["headers"]).status_code == 404
    mine = cloud.client.get(f"{TRUSTS}?trustor_user_id={trustor['user_id']}",
                            headers=trustor["headers"]).json()["trusts"]
    assert [x["id"] for x in mine] == [t["id"]]
    assert cloud.client.get(TRUSTS, headers=trustor["headers"]).status_code == 403
    assert t["id"] in {x["id"] for x in cloud.client.get(
        TRUSTS, headers=cloud.admin()).json()["trusts"]}
    other = cloud.make_project_user()
    assert cloud.client.get(f"{TRUSTS}/{t['id']}",
                            headers=other["headers"]).status_code == 403
    assert cloud.client.delete(f"{TRUSTS}/{t['id']}",
                               headers=trustee["headers"]).status_code == 403
    assert cloud.client.delete(f"{TRUSTS}/{t['id']}",
                               headers=trustor["headers"]).status_code == 204
    assert cloud.client.get(f"{TRUSTS}/{t['id']}",
                            headers=trustor["headers"]).status_code == 404


def test_trust_refusals(cloud: Cloud) -> None:
    trustor, trustee, extra, _ = _setup(cloud)
    # only the trustor itself may create it
    r = cloud.client.post(TRUSTS, headers=trustee["headers"], json={"trust": {
        "trustor_user_id": trustor["user_id"], "trustee_user_id": trustee["user_id"],
        "project_id": trustor["project_id"], "roles": [{"id": extra}],
        "impersonation": False}})
    assert r.status_code == 403, r.text
    # a role the trustor does not hold
    admin_role = cloud.role_id("admin")
    assert _create(cloud, trustor, trustee, admin_role).status_code == 403
    assert _create(cloud, trustor, trustee, extra,
                   expires_at="bad.123Z").status_code == 400
    r = cloud.client.post(TRUSTS, headers=trustor["headers"], json={"trust": {
        "trustor_user_id": trustor["user_id"], "trustee_user_id": trustee["user_id"]}})
    assert r.status_code == 400, r.text


def test_trust_scoped_token_with_impersonation(cloud: Cloud) -> None:
    trustor, trustee, extra, _ = _setup(cloud)
    t = _create(cloud, trustor, trustee, extra).json()["trust"]
    r = _trust_token(cloud, trustee, t["id"])
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert tok["user"]["id"] == trustor["user_id"]  # impersonating the trustor
    assert tok["project"]["id"] == trustor["project_id"]
    assert [x["id"] for x in tok["roles"]] == [extra]
    assert tok["OS-TRUST:trust"] == {"id": t["id"], "impersonation": True,
                                     "trustee_user": {"id": trustee["user_id"]},
                                     "trustor_user": {"id": trustor["user_id"]}}
    token = r.headers["X-Subject-Token"]
    # a trust token cannot be rescoped into the trustor's full powers
    r = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"id": trustor["project_id"]}}}})
    assert r.status_code == 403, r.text
    # another user cannot use the trust
    other = cloud.make_project_user()
    assert _trust_token(cloud, other, t["id"]).status_code in (401, 403)
    # deleting the trust ends its tokens
    h = {**cloud.admin(), "X-Subject-Token": token}
    assert cloud.client.get(f"{V3}/auth/tokens", headers=h).status_code == 200
    assert cloud.client.delete(f"{TRUSTS}/{t['id']}",
                               headers=trustor["headers"]).status_code == 204
    assert cloud.client.get(f"{V3}/auth/tokens", headers=h).status_code == 404
    assert _trust_token(cloud, trustee, t["id"]).status_code == 401


def test_trust_without_impersonation_and_remaining_uses(cloud: Cloud) -> None:
    trustor, trustee, extra, _ = _setup(cloud)
    t = _create(cloud, trustor, trustee, extra, impersonation=False,
                remaining_uses=1).json()["trust"]
    r = _trust_token(cloud, trustee, t["id"])
    assert r.status_code == 201, r.text
    assert r.json()["token"]["user"]["id"] == trustee["user_id"]
    token = r.headers["X-Subject-Token"]
    assert _trust_token(cloud, trustee, t["id"]).status_code in (401, 403)  # used up
    # revoking the trustor's grant takes the role away from the trust's token
    h = cloud.admin()
    assert cloud.client.delete(f"{V3}/projects/{trustor['project_id']}/users/"
                               f"{trustor['user_id']}/roles/{extra}",
                               headers=h).status_code == 204
    r = cloud.client.get(f"{V3}/auth/tokens", headers={**h, "X-Subject-Token": token})
    assert r.status_code == 404, r.text


def test_deleting_a_user_deletes_its_trusts(cloud: Cloud) -> None:
    trustor, trustee, extra, _ = _setup(cloud)
    t = _create(cloud, trustor, trustee, extra).json()["trust"]
    assert cloud.client.delete(f"{V3}/users/{trustee['user_id']}",
                               headers=cloud.admin()).status_code == 204
    assert cloud.client.get(f"{TRUSTS}/{t['id']}", headers=cloud.admin()).status_code == 404


def test_a_trust_token_mints_no_trusts_nor_credentials(cloud: Cloud) -> None:
    trustor, trustee, extra, _ = _setup(cloud)
    t = _create(cloud, trustor, trustee, extra).json()["trust"]
    r = _trust_token(cloud, trustee, t["id"])
    h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    # impersonating the trustor, the trustee still cannot lend the trustor's roles on
    r = cloud.client.post(TRUSTS, headers=h, json={"trust": {
        "trustor_user_id": trustor["user_id"], "trustee_user_id": trustee["user_id"],
        "project_id": trustor["project_id"], "roles": [{"id": cloud.role_id("member")}],
        "impersonation": True}})
    assert r.status_code == 403, r.text
    r = cloud.client.post(f"{V3}/users/{trustor['user_id']}/application_credentials",
                          headers=h, json={"application_credential": {"name": "x"}})
    assert r.status_code == 403, r.text
    r = cloud.client.post(f"{V3}/users/{trustor['user_id']}/credentials/OS-EC2",
                          headers=h, json={"tenant_id": trustor["project_id"]})
    assert r.status_code == 403, r.text
    r = cloud.client.post(f"{V3}/credentials", headers=h, json={"credential": {
        "user_id": trustor["user_id"], "type": "totp", "blob": "GEZDGNBVGY3TQOJQ"}})
    assert r.status_code == 403, r.text
    # and redelegation is refused outright
    r = _create(cloud, trustor, trustee, extra, allow_redelegation=True)
    assert r.status_code == 400, r.text
