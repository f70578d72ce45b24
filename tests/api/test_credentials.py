"""Keystone credentials over HTTP: `/v3/credentials` (CRUD, filters, the blob
encrypted at rest), the OS-EC2 key pairs of `/v3/users/{id}/credentials/OS-EC2`,
`POST /v3/ec2tokens` with requests signed by keystoneclient's own Ec2Signer (V2 and
V4) and botocore's SigV4 signer, and who may see or touch whose credentials."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from keystoneclient.contrib.ec2.utils import Ec2Signer
from sqlalchemy import select

from overcast.identity import models as m
from tests.conftest import Cloud

V3 = "/identity/v3"


def ec2_blob(access: str | None = None, secret: str = "s3cr3t") -> str:
    return json.dumps({"access": access or uuid.uuid4().hex, "secret": secret})


def create(cloud: Cloud, headers: dict[str, str], **cred: Any) -> Any:
    return cloud.client.post(f"{V3}/credentials", headers=headers, json={"credential": cred})


def make_ec2(cloud: Cloud, who: dict[str, Any]) -> dict[str, Any]:
    r = cloud.client.post(f"{V3}/users/{who['user_id']}/credentials/OS-EC2",
                          headers=who["headers"], json={"tenant_id": who["project_id"]})
    assert r.status_code == 201, r.text
    return r.json()["credential"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def alice(cloud: Cloud) -> dict[str, Any]:
    return cloud.make_project_user("member", prefix="alice")


@pytest.fixture(scope="module")
def bob(cloud: Cloud) -> dict[str, Any]:
    return cloud.make_project_user("member", prefix="bob")


# ----------------------------------------------------------- /v3/credentials
def test_ec2_credential_id_is_the_sha256_of_its_access_key(cloud: Cloud,
                                                           alice: dict[str, Any]) -> None:
    access = uuid.uuid4().hex
    blob = ec2_blob(access)
    r = create(cloud, alice["headers"], type="ec2", blob=blob, user_id=alice["user_id"],
               project_id=alice["project_id"])
    assert r.status_code == 201, r.text
    c = r.json()["credential"]
    assert c["id"] == hashlib.sha256(access.encode()).hexdigest()
    assert c["blob"] == blob and isinstance(c["blob"], str)
    assert (c["type"], c["user_id"], c["project_id"]) == (
        "ec2", alice["user_id"], alice["project_id"])
    assert c["links"]["self"].endswith(f"/identity/v3/credentials/{c['id']}")
    got = cloud.client.get(f"{V3}/credentials/{c['id']}", headers=alice["headers"])
    assert got.status_code == 200 and got.json()["credential"]["blob"] == blob


def test_other_types_get_a_uuid_and_keep_extra_attributes(cloud: Cloud,
                                                          alice: dict[str, Any]) -> None:
    r = create(cloud, alice["headers"], type="totp", blob="GEZDGNBVGY3TQOJQGEZDGNBVGY",
               user_id=alice["user_id"], label="phone")
    assert r.status_code == 201, r.text
    c = r.json()["credential"]
    assert len(c["id"]) == 32 and int(c["id"], 16) >= 0
    assert c["project_id"] is None and c["label"] == "phone"
    cert = create(cloud, alice["headers"], type="cert", blob="-----BEGIN CERT",
                  user_id=alice["user_id"], project_id=alice["project_id"])
    assert cert.status_code == 201, cert.text


def test_listing_filters_by_type_and_user(cloud: Cloud, alice: dict[str, Any]) -> None:
    create(cloud, alice["headers"], type="totp", blob="AAAA", user_id=alice["user_id"])
    r = cloud.client.get(f"{V3}/credentials", params={"type": "totp"},
                         headers=alice["headers"])
    assert r.status_code == 200
    creds = r.json()["credentials"]
    assert creds and {c["type"] for c in creds} == {"totp"}
    assert r.json()["links"]["self"].endswith("/v3/credentials")
    one = cloud.client.get(f"{V3}/credentials", params={"limit": 1},
                           headers=alice["headers"]).json()
    assert len(one["credentials"]) == 1 and one["truncated"] is True
    assert cloud.client.get(f"{V3}/credentials", params={"limit": "x"},
                            headers=alice["headers"]).status_code == 400
    admin = cloud.client.get(f"{V3}/credentials", params={"user_id": alice["user_id"]},
                             headers=cloud.admin()).json()["credentials"]
    assert admin and {c["user_id"] for c in admin} == {alice["user_id"]}
    assert {c["type"] for c in admin} >= {"totp", "ec2"}


def test_update_changes_the_blob_and_keeps_the_id(cloud: Cloud,
                                                  alice: dict[str, Any]) -> None:
    c = create(cloud, alice["headers"], type="totp", blob="OLD",
               user_id=alice["user_id"]).json()["credential"]
    r = cloud.client.patch(f"{V3}/credentials/{c['id']}", headers=alice["headers"],
                           json={"credential": {"blob": "NEW"}})
    assert r.status_code == 200, r.text
    assert r.json()["credential"]["blob"] == "NEW"
    e = create(cloud, alice["headers"], type="ec2", blob=ec2_blob(),
               user_id=alice["user_id"], project_id=alice["project_id"]).json()["credential"]
    r = cloud.client.patch(f"{V3}/credentials/{e['id']}", headers=alice["headers"],
                           json={"credential": {"id": "other"}})
    assert r.status_code == 400 and "Cannot change ID" in r.text
    # The secret may change, and works at once.
    old_access = json.loads(e["blob"])["access"]
    same = json.dumps({"access": old_access, "secret": "rotated"})
    r = cloud.client.patch(f"{V3}/credentials/{e['id']}", headers=alice["headers"],
                           json={"credential": {"blob": same}})
    assert r.status_code == 200 and r.json()["credential"]["blob"] == same
    assert ec2tokens(cloud, signed_v4(old_access, "rotated")).status_code == 200
    # So may the access key (as in Tempest's test): the id stays the old key's hash.
    moved = ec2_blob(secret="s2")
    r = cloud.client.patch(f"{V3}/credentials/{e['id']}", headers=alice["headers"],
                           json={"credential": {"blob": moved}})
    assert r.status_code == 200 and r.json()["credential"]["id"] == e["id"]
    assert ec2tokens(cloud, signed_v4(old_access, "s2")).status_code == 404
    # A trust or app credential binding may not be added or removed.
    bound = json.dumps({**json.loads(moved), "app_cred_id": "x"})
    r = cloud.client.patch(f"{V3}/credentials/{e['id']}", headers=alice["headers"],
                           json={"credential": {"blob": bound}})
    assert r.status_code == 400 and "app_cred_id can not be updated" in r.text


@pytest.mark.parametrize("cred, why", [
    ({"type": "ec2", "blob": ec2_blob()}, "project_id"),
    ({"type": "ec2", "blob": "not json", "project_id": "P"}, "Invalid blob"),
    ({"type": "ec2", "blob": json.dumps({"secret": "x"}), "project_id": "P"}, "access"),
    ({"type": "ec2", "blob": "[]", "project_id": "P"}, "blob"),
    ({"type": "totp"}, "blob"),
    ({"blob": "x"}, "type"),
    ({"type": "totp", "blob": 7}, "blob"),
])
def test_bad_bodies_are_400(cloud: Cloud, alice: dict[str, Any], cred: dict[str, Any],
                            why: str) -> None:
    cred = {**cred, "user_id": alice["user_id"]}
    if cred.get("project_id") == "P":
        cred["project_id"] = alice["project_id"]
    r = create(cloud, alice["headers"], **cred)
    assert r.status_code == 400, r.text
    assert why in r.json()["error"]["message"]


def test_duplicate_access_key_is_409(cloud: Cloud, alice: dict[str, Any]) -> None:
    blob = ec2_blob()
    args = {"type": "ec2", "blob": blob, "user_id": alice["user_id"],
            "project_id": alice["project_id"]}
    assert create(cloud, alice["headers"], **args).status_code == 201
    assert create(cloud, alice["headers"], **args).status_code == 409


def test_blob_is_encrypted_at_rest_and_never_logged(cloud: Cloud, alice: dict[str, Any],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    secret = f"topsecret-{uuid.uuid4().hex}"
    with caplog.at_level(logging.DEBUG):
        c = create(cloud, alice["headers"], type="ec2", blob=ec2_blob(secret=secret),
                   user_id=alice["user_id"],
                   project_id=alice["project_id"]).json()["credential"]
        cloud.client.get(f"{V3}/credentials/{c['id']}", headers=alice["headers"])
    assert secret not in caplog.text
    with cloud.app.state.db.session() as s:
        row = s.scalar(select(m.Credential).where(m.Credential.id == c["id"]))
    assert row is not None and secret not in row.encrypted_blob
    primary = cloud.app.state.identity.credential_keys.primary_key()
    assert row.key_hash == hashlib.sha1(primary).hexdigest()
    token_keys = (cloud.data_dir / "fernet-keys").iterdir()
    assert primary not in {p.read_bytes().strip() for p in token_keys}


def test_tempests_credential_update(cloud: Cloud, alice: dict[str, Any]) -> None:
    """As Tempest's test_credentials_create_get_update_delete: the admin makes an ec2
    credential for a user on a project, then moves it (new keys, another project)."""
    p2 = cloud.client.post(f"{V3}/projects", headers=cloud.admin(), json={
        "project": {"name": f"tp-{uuid.uuid4().hex[:6]}"}}).json()["project"]["id"]
    c = create(cloud, cloud.admin(), type="ec2", blob=ec2_blob(), user_id=alice["user_id"],
               project_id=alice["project_id"]).json()["credential"]
    blob = ec2_blob(secret="new")
    r = cloud.client.patch(f"{V3}/credentials/{c['id']}", headers=cloud.admin(), json={
        "credential": {"blob": blob, "project_id": p2, "type": "ec2"}})
    assert r.status_code == 200, r.text
    got = cloud.client.get(f"{V3}/credentials/{c['id']}", headers=cloud.admin()).json()
    assert got["credential"]["project_id"] == p2 and got["credential"]["blob"] == blob
    assert got["credential"]["user_id"] == alice["user_id"]


def test_admin_sees_and_manages_everyones(cloud: Cloud, alice: dict[str, Any],
                                          bob: dict[str, Any]) -> None:
    c = create(cloud, cloud.admin(), type="totp", blob="X",
               user_id=bob["user_id"]).json()["credential"]
    assert cloud.client.get(f"{V3}/credentials/{c['id']}",
                            headers=cloud.admin()).status_code == 200
    assert cloud.client.delete(f"{V3}/credentials/{c['id']}",
                               headers=cloud.admin()).status_code == 204
    r = cloud.client.get(f"{V3}/credentials/{c['id']}", headers=cloud.admin())
    assert r.status_code == 404 and "Could not find credential" in r.text


# ----------------------------------------------------------------- isolation
def test_a_user_cannot_see_or_touch_anothers_credentials(cloud: Cloud, alice: dict[str, Any],
                                                         bob: dict[str, Any]) -> None:
    mine = create(cloud, alice["headers"], type="ec2", blob=ec2_blob(),
                  user_id=alice["user_id"],
                  project_id=alice["project_id"]).json()["credential"]
    url = f"{V3}/credentials/{mine['id']}"
    assert cloud.client.get(url, headers=bob["headers"]).status_code == 403
    assert cloud.client.patch(url, headers=bob["headers"],
                              json={"credential": {"blob": "x"}}).status_code == 403
    assert cloud.client.delete(url, headers=bob["headers"]).status_code == 403
    # Nothing tells bob whether a credential exists.
    assert cloud.client.get(f"{V3}/credentials/{'0' * 64}",
                            headers=bob["headers"]).status_code == 403
    listed = cloud.client.get(f"{V3}/credentials", headers=bob["headers"]).json()
    assert all(c["user_id"] == bob["user_id"] for c in listed["credentials"])
    theirs = cloud.client.get(f"{V3}/credentials", params={"user_id": alice["user_id"]},
                              headers=bob["headers"]).json()
    assert theirs["credentials"] == []
    # Nor make one in alice's name, nor hand alice's credential over to himself.
    r = create(cloud, bob["headers"], type="totp", blob="x", user_id=alice["user_id"])
    assert r.status_code == 403
    r = cloud.client.patch(f"{V3}/credentials/{listed['credentials'][0]['id']}"
                           if listed["credentials"] else url, headers=bob["headers"],
                           json={"credential": {"user_id": alice["user_id"]}})
    assert r.status_code == 403
    assert cloud.client.get(url, headers=alice["headers"]).status_code == 200


def test_no_ec2_credential_for_a_project_without_a_role(cloud: Cloud, alice: dict[str, Any],
                                                        bob: dict[str, Any]) -> None:
    r = cloud.client.post(f"{V3}/users/{alice['user_id']}/credentials/OS-EC2",
                          headers=alice["headers"], json={"tenant_id": bob["project_id"]})
    assert r.status_code == 403, r.text
    r = create(cloud, alice["headers"], type="ec2", blob=ec2_blob(),
               user_id=alice["user_id"], project_id=bob["project_id"])
    assert r.status_code == 403, r.text
    r = cloud.client.post(f"{V3}/users/{bob['user_id']}/credentials/OS-EC2",
                          headers=alice["headers"], json={"tenant_id": alice["project_id"]})
    assert r.status_code == 403
    r = cloud.client.post(f"{V3}/users/{alice['user_id']}/credentials/OS-EC2",
                          headers=alice["headers"], json={"tenant_id": uuid.uuid4().hex})
    assert r.status_code == 404


def test_a_reader_cannot_mint_key_pairs(cloud: Cloud) -> None:
    reader = cloud.make_project_user("reader", prefix="rdr")
    r = cloud.client.post(f"{V3}/users/{reader['user_id']}/credentials/OS-EC2",
                          headers=reader["headers"], json={"tenant_id": reader["project_id"]})
    assert r.status_code == 403
    r = cloud.client.get(f"{V3}/users/{reader['user_id']}/credentials/OS-EC2",
                         headers=reader["headers"])
    assert r.status_code == 200 and r.json()["credentials"] == []


# ------------------------------------------------------------------- OS-EC2
def test_os_ec2_create_list_show_delete(cloud: Cloud, alice: dict[str, Any]) -> None:
    c = make_ec2(cloud, alice)
    assert set(c) == {"user_id", "tenant_id", "access", "secret", "trust_id", "links"}
    assert (c["user_id"], c["tenant_id"], c["trust_id"]) == (
        alice["user_id"], alice["project_id"], None)
    assert len(c["access"]) == 32 and len(c["secret"]) == 32
    base = f"{V3}/users/{alice['user_id']}/credentials/OS-EC2"
    assert c["links"]["self"].endswith(f"{base}/{c['access']}")
    listed = cloud.client.get(base, headers=alice["headers"]).json()
    assert c["access"] in {x["access"] for x in listed["credentials"]}
    assert all(set(x) == set(c) for x in listed["credentials"])
    shown = cloud.client.get(f"{base}/{c['access']}", headers=alice["headers"])
    assert shown.status_code == 200 and shown.json()["credential"]["secret"] == c["secret"]
    # The same row through /v3/credentials.
    v3 = cloud.client.get(f"{V3}/credentials/{hashlib.sha256(c['access'].encode()).hexdigest()}",
                          headers=alice["headers"]).json()["credential"]
    assert json.loads(v3["blob"])["secret"] == c["secret"] and v3["type"] == "ec2"
    assert cloud.client.delete(f"{base}/{c['access']}",
                               headers=alice["headers"]).status_code == 204
    assert cloud.client.get(f"{base}/{c['access']}",
                            headers=alice["headers"]).status_code == 404


def test_os_ec2_of_another_user_is_refused(cloud: Cloud, alice: dict[str, Any],
                                           bob: dict[str, Any]) -> None:
    c = make_ec2(cloud, alice)
    mine = f"{V3}/users/{alice['user_id']}/credentials/OS-EC2"
    assert cloud.client.get(mine, headers=bob["headers"]).status_code == 403
    assert cloud.client.get(f"{mine}/{c['access']}", headers=bob["headers"]).status_code == 403
    assert cloud.client.delete(f"{mine}/{c['access']}",
                               headers=bob["headers"]).status_code == 403
    # Through his own URL, alice's key is not his.
    his = f"{V3}/users/{bob['user_id']}/credentials/OS-EC2/{c['access']}"
    assert cloud.client.get(his, headers=bob["headers"]).status_code == 404
    assert cloud.client.delete(his, headers=bob["headers"]).status_code == 404
    assert cloud.client.get(f"{mine}/{c['access']}",
                            headers=alice["headers"]).status_code == 200


def test_os_ec2_show_of_a_non_ec2_credential_is_401(cloud: Cloud,
                                                   alice: dict[str, Any]) -> None:
    access = uuid.uuid4().hex
    create(cloud, cloud.admin(), type="cert", blob="x", user_id=alice["user_id"],
           project_id=alice["project_id"])
    # A non-EC2 credential whose id happens to be an access key's hash.
    with cloud.app.state.db.transaction() as s:
        enc, kh = cloud.app.state.identity.credentials.crypto.encrypt("x")
        s.add(m.Credential(id=hashlib.sha256(access.encode()).hexdigest(),
                           user_id=alice["user_id"], project_id=None, type="cert",
                           encrypted_blob=enc, key_hash=kh, extra={}))
    r = cloud.client.get(f"{V3}/users/{alice['user_id']}/credentials/OS-EC2/{access}",
                         headers=alice["headers"])
    assert r.status_code == 401 and "EC2 access key not found" in r.text


def test_deleting_the_user_or_project_drops_its_credentials(cloud: Cloud) -> None:
    u = cloud.make_project_user("member", prefix="gone")
    c = make_ec2(cloud, u)
    cid = hashlib.sha256(c["access"].encode()).hexdigest()
    assert cloud.client.delete(f"{V3}/projects/{u['project_id']}",
                               headers=cloud.admin()).status_code == 204
    assert cloud.client.get(f"{V3}/credentials/{cid}", headers=cloud.admin()).status_code == 404
    t = create(cloud, cloud.admin(), type="totp", blob="x",
               user_id=u["user_id"]).json()["credential"]
    assert cloud.client.delete(f"{V3}/users/{u['user_id']}",
                               headers=cloud.admin()).status_code == 204
    assert cloud.client.get(f"{V3}/credentials/{t['id']}",
                            headers=cloud.admin()).status_code == 404


# --------------------------------------------------------------- ec2tokens
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def signed_v4(access: str, secret: str, *, when: dt.datetime | None = None,
              path: str = "/", params: dict[str, str] | None = None) -> dict[str, Any]:
    """What an EC2-style API forwards to Keystone for a request botocore signed."""
    params = params or {"Action": "DescribeInstances", "Version": "2016-11-15"}
    req = AWSRequest(method="GET", url=f"http://ec2.example:8788{path}", params=params)
    signer = SigV4Auth(BotoCredentials(access, secret), "ec2", "RegionOne")
    # botocore stamps the request with "now"; sign as of another time if asked.
    stamp = (when or _now()).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=stamp):
        signer.add_auth(req)
    auth = req.headers["Authorization"]
    return {"access": access, "signature": auth.rsplit("Signature=", 1)[1],
            "host": "ec2.example:8788", "verb": "GET", "path": path, "params": params,
            "headers": {"Host": "ec2.example:8788", "X-Amz-Date": req.headers["X-Amz-Date"],
                        "Authorization": auth},
            "body_hash": hashlib.sha256(b"").hexdigest()}


def signed_v2(access: str, secret: str) -> dict[str, Any]:
    params = {"Action": "DescribeInstances", "AWSAccessKeyId": access,
              "SignatureVersion": "2", "SignatureMethod": "HmacSHA256",
              "Timestamp": _now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    creds = {"access": access, "host": "ec2.example:8788", "verb": "GET", "path": "/",
             "params": params, "headers": {}, "body_hash": ""}
    creds["signature"] = Ec2Signer(secret).generate(
        {**creds, "params": dict(params)})
    return creds


def ec2tokens(cloud: Cloud, creds: dict[str, Any], headers: dict[str, str] | None = None
              ) -> Any:
    return cloud.client.post(f"{V3}/ec2tokens", headers=headers or cloud.admin(),
                             json={"credentials": creds})


@pytest.mark.parametrize("signer", [signed_v4, signed_v2], ids=["v4", "v2"])
def test_ec2tokens_issues_a_project_token(cloud: Cloud, alice: dict[str, Any],
                                          signer: Any) -> None:
    c = make_ec2(cloud, alice)
    r = ec2tokens(cloud, signer(c["access"], c["secret"]))
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert token["methods"] == ["ec2credential"]
    assert token["user"]["id"] == alice["user_id"]
    assert token["project"]["id"] == alice["project_id"]
    assert "member" in {x["name"] for x in token["roles"]} and token["catalog"]
    subject = r.headers["X-Subject-Token"]
    v = cloud.client.get(f"{V3}/auth/tokens",
                         headers={**cloud.admin(), "X-Subject-Token": subject})
    assert v.status_code == 200 and v.json()["token"]["methods"] == ["ec2credential"]
    assert cloud.client.get(f"{V3}/auth/catalog",
                            headers={"X-Auth-Token": subject}).status_code == 200


def test_ec2tokens_matches_keystoneclients_v4(cloud: Cloud, alice: dict[str, Any]) -> None:
    """keystoneclient's own V4 computation agrees with ours on a forwarded request."""
    c = make_ec2(cloud, alice)
    creds = signed_v4(c["access"], c["secret"])
    assert Ec2Signer(c["secret"]).generate(creds) == creds["signature"]
    assert ec2tokens(cloud, creds).status_code == 200


def test_ec2tokens_refusals(cloud: Cloud, alice: dict[str, Any]) -> None:
    c = make_ec2(cloud, alice)
    wrong = ec2tokens(cloud, signed_v4(c["access"], "not-the-secret"))
    assert wrong.status_code == 401 and "Invalid EC2 signature" in wrong.text
    tampered = signed_v4(c["access"], c["secret"])
    tampered["params"] = {**tampered["params"], "Action": "TerminateInstances"}
    assert ec2tokens(cloud, tampered).status_code == 401
    unknown = ec2tokens(cloud, signed_v4(uuid.uuid4().hex, "x"))
    assert unknown.status_code == 404 and "EC2 access key not found" in unknown.text
    old = ec2tokens(cloud, signed_v4(c["access"], c["secret"],
                                     when=_now() - dt.timedelta(hours=1)))
    assert old.status_code == 401 and "expired" in old.text
    nosig = signed_v4(c["access"], c["secret"])
    del nosig["signature"]
    assert ec2tokens(cloud, nosig).status_code == 401
    assert ec2tokens(cloud, {}).status_code == 401
    r = cloud.client.post(f"{V3}/ec2tokens", headers=cloud.admin())
    assert r.status_code == 400
    # Only services and admins trade signatures for tokens.
    assert ec2tokens(cloud, signed_v4(c["access"], c["secret"]),
                     headers=alice["headers"]).status_code == 403
    assert cloud.client.get(f"{V3}/ec2tokens", headers=cloud.admin()).status_code == 405


def test_ec2tokens_for_a_user_without_a_role_any_more_is_401(cloud: Cloud) -> None:
    u = cloud.make_project_user("member", prefix="lost")
    c = make_ec2(cloud, u)
    r = cloud.client.delete(f"{V3}/projects/{u['project_id']}/users/{u['user_id']}/roles/"
                            f"{cloud.role_id('member')}", headers=cloud.admin())
    assert r.status_code == 204
    r = ec2tokens(cloud, signed_v4(c["access"], c["secret"]))
    assert r.status_code == 401 and "User not valid for project" in r.text


# ------------------------------------------------ the S3 API's signature checks
def s3_signed(access: str, secret: str, path: str = "/object/s3/photos") -> Any:
    from overcast.object.s3.auth import SignedRequest

    req = AWSRequest(method="GET", url=f"http://testserver{path}",
                     headers={"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()})
    from botocore.auth import S3SigV4Auth

    S3SigV4Auth(BotoCredentials(access, secret), "s3", "RegionOne").add_auth(req)
    headers = [("host", "testserver")] + [(k.lower(), v) for k, v in req.headers.items()]
    return SignedRequest("GET", path, "", tuple(headers))


def test_s3_requests_are_checked_against_keystones_key_pairs(cloud: Cloud) -> None:
    from overcast.object.s3.auth import S3Authenticator
    from overcast.object.s3.errors import S3Error

    u = cloud.make_project_user("member", prefix="s3")
    c = make_ec2(cloud, u)
    auth = S3Authenticator(cloud.app.state.identity)
    caller = auth.authenticate(s3_signed(c["access"], c["secret"]), request_id="r1")
    assert caller is not None
    ctx = caller.context
    assert (ctx.user_id, ctx.project_id) == (u["user_id"], u["project_id"])
    assert "member" in ctx.roles and ctx.methods == ["ec2credential"]
    with pytest.raises(S3Error) as exc:
        auth.authenticate(s3_signed(c["access"], "wrong"))
    assert exc.value.s3_code == "SignatureDoesNotMatch"
    # Losing the role ends access at once; so does deleting the key pair.
    h = cloud.admin()
    role = f"{V3}/projects/{u['project_id']}/users/{u['user_id']}/roles/" \
           f"{cloud.role_id('member')}"
    assert cloud.client.delete(role, headers=h).status_code == 204
    with pytest.raises(S3Error) as exc:
        auth.authenticate(s3_signed(c["access"], c["secret"]))
    assert exc.value.s3_code == "AccessDenied"
    assert cloud.client.put(role, headers=h).status_code == 204
    assert auth.authenticate(s3_signed(c["access"], c["secret"])) is not None
    r = cloud.client.delete(f"{V3}/users/{u['user_id']}/credentials/OS-EC2/{c['access']}",
                            headers=h)
    assert r.status_code == 204
    with pytest.raises(S3Error) as exc:
        auth.authenticate(s3_signed(c["access"], c["secret"]))
    assert exc.value.s3_code == "InvalidAccessKeyId"


def test_key_pairs_made_with_an_app_credential_keep_its_limits(cloud: Cloud) -> None:
    u = cloud.make_project_user("member", prefix="ac")
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/application_credentials",
                          headers=u["headers"], json={"application_credential": {
                              "name": "ci", "roles": [{"name": "member"}]}})
    assert r.status_code == 201, r.text
    ac = r.json()["application_credential"]
    r = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": ac["id"], "secret": ac["secret"]}}}})
    ac_headers = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    # A restricted application credential may not mint key pairs...
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/credentials/OS-EC2",
                          headers=ac_headers, json={"tenant_id": u["project_id"]})
    assert r.status_code == 403
    # ...an unrestricted one may, for its own project only, and tokens from the
    # key pair carry the application credential.
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/application_credentials",
                          headers=u["headers"], json={"application_credential": {
                              "name": "ci2", "unrestricted": True}})
    ac2 = r.json()["application_credential"]
    r = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": ac2["id"], "secret": ac2["secret"]}}}})
    ac2_headers = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    r = cloud.client.post(f"{V3}/users/{u['user_id']}/credentials/OS-EC2",
                          headers=ac2_headers, json={"tenant_id": u["project_id"]})
    assert r.status_code == 201, r.text
    c = r.json()["credential"]
    r = ec2tokens(cloud, signed_v4(c["access"], c["secret"]))
    assert r.status_code == 200, r.text
    assert r.json()["token"]["application_credential"]["id"] == ac2["id"]
    # Deleting the application credential kills the key pair's tokens.
    assert cloud.client.delete(f"{V3}/users/{u['user_id']}/application_credentials/"
                               f"{ac2['id']}", headers=u["headers"]).status_code == 204
    assert ec2tokens(cloud, signed_v4(c["access"], c["secret"])).status_code == 401


def test_rotating_the_credential_keys_reencrypts_every_blob(cloud: Cloud,
                                                           alice: dict[str, Any]) -> None:
    creds = cloud.app.state.identity.credentials
    c = make_ec2(cloud, alice)
    cid = hashlib.sha256(c["access"].encode()).hexdigest()
    with cloud.app.state.db.session() as s:
        before = s.get(m.Credential, cid).encrypted_blob
    keys_dir = cloud.data_dir / "credential-keys"
    first_primary = max(int(p.name) for p in keys_dir.iterdir() if p.name.isdigit())
    for _ in range(3):
        creds.rotate_keys()
        assert creds.stale() == 0
    # The key the blob was first encrypted with is gone, yet it reads the same.
    assert not (keys_dir / str(first_primary)).exists()
    assert len([p for p in keys_dir.iterdir() if p.name.isdigit()]) <= 3
    with cloud.app.state.db.session() as s:
        assert s.get(m.Credential, cid).encrypted_blob != before
    shown = cloud.client.get(f"{V3}/users/{alice['user_id']}/credentials/OS-EC2/"
                             f"{c['access']}", headers=alice["headers"])
    assert shown.status_code == 200 and shown.json()["credential"]["secret"] == c["secret"]
    assert ec2tokens(cloud, signed_v4(c["access"], c["secret"])).status_code == 200


# ----------------------------------------------------------------- s3tokens
def test_s3tokens_v2_and_v4_as_swifts_s3token_sends_them(cloud: Cloud,
                                                         alice: dict[str, Any]) -> None:
    import base64

    from botocore.auth import HmacV1Auth, S3SigV4Auth

    c = make_ec2(cloud, alice)
    creds = BotoCredentials(c["access"], c["secret"])
    v2_sts = "GET\n\n\nMon, 07 Dec 2026 04:30:00 GMT\n/photos/cat.jpg"
    v4_sts = ("AWS4-HMAC-SHA256\n20261207T043000Z\n20261207/RegionOne/s3/aws4_request\n"
              + hashlib.sha256(b"canonical request").hexdigest())
    req = AWSRequest(method="GET", url="http://h/")
    req.context["timestamp"] = "20261207T043000Z"
    v4_sig = S3SigV4Auth(creds, "s3", "RegionOne").signature(v4_sts, req)
    for sts, sig in ((v2_sts, HmacV1Auth(creds).sign_string(v2_sts)), (v4_sts, v4_sig)):
        body = {"credentials": {"access": c["access"], "signature": sig,
                                "token": base64.urlsafe_b64encode(sts.encode()).decode()}}
        r = cloud.client.post(f"{V3}/s3tokens", headers=cloud.admin(), json=body)
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        assert token["project"]["id"] == alice["project_id"]
        assert token["user"]["id"] == alice["user_id"]
        body["credentials"]["signature"] = sig[:-2] + "AA"
        r = cloud.client.post(f"{V3}/s3tokens", headers=cloud.admin(), json=body)
        assert r.status_code == 401 and "signature mismatch" in r.text
        r = cloud.client.post(f"{V3}/s3tokens", headers=alice["headers"], json=body)
        assert r.status_code == 403
    bad_scope = v4_sts.replace("/s3/", "/ec2/")
    r = cloud.client.post(f"{V3}/s3tokens", headers=cloud.admin(), json={"credentials": {
        "access": c["access"], "signature": "x",
        "token": base64.urlsafe_b64encode(bad_scope.encode()).decode()}})
    assert r.status_code == 401
