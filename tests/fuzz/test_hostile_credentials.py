"""Hostile requests to the credential routes (`/v3/credentials`, OS-EC2,
`/v3/ec2tokens`, `/v3/s3tokens`): every leaf of a valid body replaced by each hostile value of
the main fuzzer, keys dropped and added, hostile listing queries, as the admin
and as a member. No 5xx, every refusal in Keystone's envelope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Cloud
from tests.fuzz.test_hostile_requests import QUERY_HOSTILE, _check_error, encode, mutants

V3 = "/identity/v3"


def corpus(cloud: Cloud, who: dict[str, Any]) -> list[tuple[str, str, Any]]:
    r = cloud.client.post(f"{V3}/users/{who['user_id']}/credentials/OS-EC2",
                          headers=who["headers"], json={"tenant_id": who["project_id"]})
    access = r.json()["credential"]["access"]
    cred = cloud.client.post(f"{V3}/credentials", headers=who["headers"], json={
        "credential": {"type": "totp", "blob": "S", "user_id": who["user_id"]}}
    ).json()["credential"]["id"]
    signed = {"access": access, "signature": "x", "host": "h:1", "verb": "GET", "path": "/",
              "params": {"Action": "A", "SignatureVersion": "2", "Timestamp": "t"},
              "headers": {"Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, "
                                           "SignedHeaders=host, Signature=s",
                          "X-Amz-Date": "20261207T000000Z", "Host": "h"},
              "body_hash": "e3b0"}
    return [
        ("POST", f"{V3}/credentials", {"credential": {
            "type": "ec2", "user_id": who["user_id"], "project_id": who["project_id"],
            "blob": json.dumps({"access": "a", "secret": "s"})}}),
        ("POST", f"{V3}/credentials", {"credential": {
            "type": "totp", "user_id": who["user_id"], "blob": "SEED"}}),
        ("PATCH", f"{V3}/credentials/{cred}", {"credential": {
            "blob": "x", "type": "totp", "project_id": who["project_id"]}}),
        ("POST", f"{V3}/users/{who['user_id']}/credentials/OS-EC2",
         {"tenant_id": who["project_id"]}),
        ("POST", f"{V3}/ec2tokens", {"credentials": signed}),
        ("POST", f"{V3}/s3tokens", {"credentials": {
            "access": access, "signature": "x", "token": "QVdTNC1ITUFDLVNIQTI1Ng=="}}),
        ("POST", f"{V3}/ec2tokens", {"credentials": {**signed, "params": {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "a/b/c/d/e",
            "X-Amz-Date": "x"}, "headers": {}}}),
    ]


def test_no_hostile_credential_request_gets_a_5xx(cloud: Cloud) -> None:
    member = cloud.make_project_user("member", prefix="fzc")
    bad: list[str] = []
    sent = 0
    for headers in (cloud.admin(), member["headers"]):
        for method, path, body in corpus(cloud, member):
            for mutant in mutants(body):
                r = cloud.client.request(method, path, content=encode(mutant), headers={
                    "Content-Type": "application/json", **headers})
                sent += 1
                why = _check_error(path, r)
                if why:
                    bad.append(f"{method} {path} {encode(mutant)[:160]!r}: {why}")
        for name in ("user_id", "type", "limit"):
            for value in QUERY_HOSTILE:
                r = cloud.client.get(f"{V3}/credentials", params={name: value},
                                     headers=headers)
                why = _check_error(V3, r)
                if why:
                    bad.append(f"GET credentials?{name}={value[:40]!r}: {why}")
        for weird in ("%00", "x" * 300, "..", "%ff"):
            for path in (f"{V3}/credentials/{weird}",
                         f"{V3}/users/{member['user_id']}/credentials/OS-EC2/{weird}",
                         f"{V3}/users/{weird}/credentials/OS-EC2/{weird}",
                         f"{V3}/users/{weird}/credentials/OS-EC2"):
                for method in ("GET", "DELETE"):
                    why = _check_error(V3, cloud.client.request(method, path,
                                                                headers=headers))
                    if why:
                        bad.append(f"{method} {path[:80]}: {why}")
    Path("/tmp/overcast-fuzz-credentials.txt").write_text("\n".join(bad))
    assert sent > 500
    assert not bad, f"{len(bad)} of {sent} went wrong:\n" + "\n".join(bad[:40])
