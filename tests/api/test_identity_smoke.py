"""Smoke: the in-process cloud issues and validates tokens."""

from tests.conftest import Cloud


def test_token_issue_and_validate(cloud: Cloud) -> None:
    token = cloud.admin_token
    r = cloud.client.get("/identity/v3/auth/tokens",
                         headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert r.status_code == 200
    body = r.json()["token"]
    assert body["project"]["name"] == "admin"
    assert {r["name"] for r in body["roles"]} == {"admin", "member", "reader"}
    assert any(s["type"] == "identity" for s in body["catalog"])
