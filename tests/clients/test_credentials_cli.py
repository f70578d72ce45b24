"""Credentials through the real clients against a live `overcast up`:
`openstack credential ...`, `openstack ec2 credentials ...` and openstacksdk's
`identity.credentials`, for the admin and for a member who must not reach
another user's credentials."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def member(live: Live) -> dict[str, Any]:
    """A project and a member user on it, as its own cloud entry in clouds.yaml."""
    project = live.osc("project", "create", uniq("credp"))["id"]
    name, password = uniq("credu"), "pw-" + uuid.uuid4().hex[:8]
    user = live.osc("user", "create", "--password", password, "--project", project, name)
    live.osc("role", "add", "--project", project, "--user", name, "member", fmt=False)
    cloud = uniq("cloud")
    live.add_cloud(cloud, {"username": name, "password": password, "project_id": project,
                           "user_domain_id": "default"})
    return {"cloud": cloud, "user_id": user["id"], "project_id": project, "name": name}


def test_ec2_credentials_lifecycle(live: Live, member: dict[str, Any]) -> None:
    cloud = member["cloud"]
    created = live.osc("ec2", "credentials", "create", cloud=cloud)
    access, secret = created["access"], created["secret"]
    assert len(access) == 32 and len(secret) == 32
    assert created["project_id"] == member["project_id"]
    assert created["user_id"] == member["user_id"]
    rows = live.osc("ec2", "credentials", "list", cloud=cloud)
    assert access in {r["Access"] for r in rows}
    shown = live.osc("ec2", "credentials", "show", access, cloud=cloud)
    assert shown["secret"] == secret and shown["project_id"] == member["project_id"]
    # The admin sees the same key pair through /v3/credentials.
    cid = hashlib.sha256(access.encode()).hexdigest()
    cred = live.osc("credential", "show", cid)
    assert cred["type"] == "ec2" and json.loads(cred["blob"])["secret"] == secret
    live.osc("ec2", "credentials", "delete", access, cloud=cloud, fmt=False)
    assert access not in {r["Access"] for r in live.osc("ec2", "credentials", "list",
                                                        cloud=cloud)}
    r = live.osc("ec2", "credentials", "show", access, cloud=cloud, check=False)
    assert r.returncode != 0


def test_admin_makes_ec2_credentials_for_a_user(live: Live, member: dict[str, Any]) -> None:
    created = live.osc("ec2", "credentials", "create", "--user", member["name"],
                       "--project", member["project_id"])
    assert created["user_id"] == member["user_id"]
    rows = live.osc("ec2", "credentials", "list", "--user", member["name"])
    assert created["access"] in {r["Access"] for r in rows}
    live.osc("ec2", "credentials", "delete", "--user", member["name"], created["access"],
             fmt=False)


def test_credential_create_list_show_set_delete(live: Live, member: dict[str, Any]) -> None:
    blob = json.dumps({"access": uuid.uuid4().hex, "secret": "s"})
    c = live.osc("credential", "create", "--type", "ec2", "--project",
                 member["project_id"], member["user_id"], blob)
    assert c["type"] == "ec2" and c["blob"] == blob and c["user_id"] == member["user_id"]
    t = live.osc("credential", "create", "--type", "totp", member["user_id"], "SEED")
    ids = {r["ID"] for r in live.osc("credential", "list", "--user", member["user_id"])}
    assert {c["id"], t["id"]} <= ids
    only = live.osc("credential", "list", "--type", "totp", "--user", member["user_id"])
    assert {r["ID"] for r in only} == {t["id"]}
    live.osc("credential", "set", "--type", "totp", "--data", "SEED2",
             "--user", member["user_id"], t["id"], fmt=False)
    assert live.osc("credential", "show", t["id"])["blob"] == "SEED2"
    for cid in (c["id"], t["id"]):
        live.osc("credential", "delete", cid, fmt=False)
    r = live.osc("credential", "show", t["id"], check=False)
    assert r.returncode != 0


def test_member_cannot_reach_anothers_credentials(live: Live, member: dict[str, Any]) -> None:
    admin_user = live.osc("token", "issue")["user_id"]
    theirs = live.osc("credential", "create", "--type", "totp", admin_user, "ADMINSEED")
    cloud = member["cloud"]
    listed = live.osc("credential", "list", cloud=cloud)
    assert theirs["id"] not in {r["ID"] for r in listed}
    r = live.osc("credential", "show", theirs["id"], cloud=cloud, check=False)
    assert r.returncode != 0
    r = live.osc("credential", "delete", theirs["id"], cloud=cloud, fmt=False, check=False)
    assert r.returncode != 0
    assert live.osc("credential", "show", theirs["id"])["blob"] == "ADMINSEED"
    live.osc("credential", "delete", theirs["id"], fmt=False)


def test_openstacksdk_credentials(live: Live, member: dict[str, Any]) -> None:
    conn = live.sdk()
    blob = json.dumps({"access": uuid.uuid4().hex, "secret": "sdk"})
    c = conn.identity.create_credential(type="ec2", blob=blob, user_id=member["user_id"],
                                        project_id=member["project_id"])
    assert c.id == hashlib.sha256(json.loads(blob)["access"].encode()).hexdigest()
    assert conn.identity.get_credential(c.id).blob == blob
    assert c.id in {x.id for x in conn.identity.credentials(user_id=member["user_id"])}
    conn.identity.update_credential(c.id, blob=json.dumps(
        {**json.loads(blob), "secret": "sdk2"}))
    assert json.loads(conn.identity.get_credential(c.id).blob)["secret"] == "sdk2"
    conn.identity.delete_credential(c.id)
    assert conn.identity.find_credential(c.id) is None
    mine = live.sdk(member["cloud"])
    assert all(x.user_id == member["user_id"] for x in mine.identity.credentials())


def test_a_cli_made_key_pair_signs_for_ec2tokens(live: Live, member: dict[str, Any]) -> None:
    """The key pair `openstack ec2 credentials create` prints signs a request (with
    botocore's signer) that the live Keystone's ec2tokens trades for a token."""
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    created = live.osc("ec2", "credentials", "create", cloud=member["cloud"])
    params = {"Action": "DescribeInstances", "Version": "2016-11-15"}
    req = AWSRequest(method="GET", url="http://ec2.example/", params=params)
    SigV4Auth(Credentials(created["access"], created["secret"]), "ec2",
              "RegionOne").add_auth(req)
    body = {"credentials": {
        "access": created["access"], "host": "ec2.example", "verb": "GET", "path": "/",
        "params": params, "body_hash": hashlib.sha256(b"").hexdigest(),
        "signature": req.headers["Authorization"].rsplit("Signature=", 1)[1],
        "headers": {"Host": "ec2.example", "X-Amz-Date": req.headers["X-Amz-Date"],
                    "Authorization": req.headers["Authorization"]}}}
    admin = live.osc("token", "issue")["id"]
    r = httpx.post(f"{live.base}/identity/v3/ec2tokens", json=body,
                   headers={"X-Auth-Token": admin})
    assert r.status_code == 200, r.text
    assert r.json()["token"]["project"]["id"] == member["project_id"]
    subject = r.headers["X-Subject-Token"]
    assert httpx.get(f"{live.base}/identity/v3/auth/projects",
                     headers={"X-Auth-Token": subject}).status_code == 200
    live.osc("ec2", "credentials", "delete", created["access"], cloud=member["cloud"],
             fmt=False)
    r = httpx.post(f"{live.base}/identity/v3/ec2tokens", json=body,
                   headers={"X-Auth-Token": admin})
    assert r.status_code == 404
