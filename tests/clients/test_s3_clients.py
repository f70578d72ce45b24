"""S3 through the real clients against a live `overcast up`: a key pair made by
`openstack ec2 credentials create`, then boto3 (a multipart upload_file above
8 MiB, download_file, listings, a presigned GET fetched with httpx), the aws CLI
(`s3 cp|ls|sync|rm`) and rclone's s3 backend (`rclone copy` both ways), and the
same objects read back through Swift."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def keys(live: Live) -> dict[str, Any]:
    """A member of a new project, its EC2 key pair and a token for Swift."""
    project = live.osc("project", "create", uniq("s3p"))["id"]
    name, password = uniq("s3u"), "pw-" + uuid.uuid4().hex[:8]
    live.osc("user", "create", "--password", password, "--project", project, name)
    live.osc("role", "add", "--project", project, "--user", name, "member", fmt=False)
    cloud = uniq("s3c")
    live.add_cloud(cloud, {"username": name, "password": password, "project_id": project,
                           "user_domain_id": "default"})
    cred = live.osc("ec2", "credentials", "create", cloud=cloud)
    token = live.osc("token", "issue", cloud=cloud)["id"]
    return {"access": cred["access"], "secret": cred["secret"], "project": project,
            "token": token, "endpoint": f"{live.base}/object/s3"}


def s3_client(keys: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=keys["endpoint"], region_name="us-east-1",
                        aws_access_key_id=keys["access"],
                        aws_secret_access_key=keys["secret"],
                        config=Config(s3={"addressing_style": "path"}))


def swift_get(live: Live, keys: dict[str, Any], path: str) -> httpx.Response:
    return httpx.get(f"{live.base}/object/v1/AUTH_{keys['project']}/{path}",
                     headers={"X-Auth-Token": keys["token"]}, timeout=60)


def test_boto3_multipart_download_list_presign(live: Live, keys: dict[str, Any],
                                               tmp_path: Path) -> None:
    s3 = s3_client(keys)
    bucket = uniq("boto")
    s3.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 11)  # 11 MiB: upload_file goes multipart
    s3.upload_file(str(big), bucket, "dir/big.bin")
    head = s3.head_object(Bucket=bucket, Key="dir/big.bin")
    assert head["ContentLength"] == 11 << 20 and head["ETag"].endswith('-2"')
    out = tmp_path / "out.bin"
    s3.download_file(bucket, "dir/big.bin", str(out))
    assert hashlib.md5(out.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    s3.put_object(Bucket=bucket, Key="small.txt", Body=b"hello", Metadata={"k": "v"})
    got = s3.get_object(Bucket=bucket, Key="small.txt")
    assert got["Body"].read() == b"hello" and got["Metadata"] == {"k": "v"}
    listing = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == ["dir/big.bin", "small.txt"]
    listing = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["dir/"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                          "Key": "small.txt"},
                                    ExpiresIn=300)
    assert httpx.get(url, timeout=30).content == b"hello"
    # the same objects through Swift
    r = swift_get(live, keys, f"{bucket}/dir/big.bin")
    assert r.status_code == 200 and len(r.content) == 11 << 20
    s3.copy_object(Bucket=bucket, Key="copy.txt",
                   CopySource={"Bucket": bucket, "Key": "small.txt"})
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "dir/big.bin"}, {"Key": "small.txt"}, {"Key": "copy.txt"}]})
    assert len(r["Deleted"]) == 3
    s3.delete_bucket(Bucket=bucket)


def _aws() -> str | None:
    found = Path(sys.executable).parent / "aws"
    return str(found) if found.exists() else shutil.which("aws")


def test_aws_cli_cp_ls_sync_rm(live: Live, keys: dict[str, Any], tmp_path: Path) -> None:
    aws = _aws()
    if aws is None:
        pytest.skip("the aws CLI is not installed (pip install -e .[clients])")
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=keys["access"], AWS_SECRET_ACCESS_KEY=keys["secret"],
               AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(config))

    def run(*args: str) -> str:
        r = subprocess.run([aws, "--endpoint-url", keys["endpoint"], *args],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, f"aws {' '.join(args)}: {r.stderr}\n{r.stdout}"
        return r.stdout

    bucket = uniq("awscli")
    run("s3", "mb", f"s3://{bucket}")
    src = tmp_path / "site"
    (src / "css").mkdir(parents=True)
    (src / "index.html").write_text("<h1>hi</h1>")
    (src / "css" / "a.css").write_text("body{}")
    run("s3", "cp", str(src / "index.html"), f"s3://{bucket}/")
    assert "index.html" in run("s3", "ls", f"s3://{bucket}/")
    run("s3", "sync", str(src), f"s3://{bucket}/site")
    listing = run("s3", "ls", "--recursive", f"s3://{bucket}/")
    assert "site/css/a.css" in listing and "site/index.html" in listing
    back = tmp_path / "back"
    run("s3", "sync", f"s3://{bucket}/site", str(back))
    assert (back / "css" / "a.css").read_text() == "body{}"
    r = swift_get(live, keys, f"{bucket}/site/index.html")
    assert r.content == b"<h1>hi</h1>"
    run("s3", "rm", "--recursive", f"s3://{bucket}/")
    run("s3", "rb", f"s3://{bucket}")


def test_rclone_copy_both_ways(live: Live, keys: dict[str, Any], tmp_path: Path) -> None:
    rclone = shutil.which("rclone")
    if rclone is None:
        pytest.skip("rclone is not installed (scripts/install.sh installs it)")
    # the AWS SDK inside rclone would read AWS_* (a CA bundle for an http endpoint fails)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
           "RCLONE_CONFIG": str(tmp_path / "none.conf"),
           "RCLONE_CONFIG_OC_TYPE": "s3", "RCLONE_CONFIG_OC_PROVIDER": "Other",
           "RCLONE_CONFIG_OC_ACCESS_KEY_ID": keys["access"],
           "RCLONE_CONFIG_OC_SECRET_ACCESS_KEY": keys["secret"],
           "RCLONE_CONFIG_OC_ENDPOINT": keys["endpoint"],
           "RCLONE_CONFIG_OC_FORCE_PATH_STYLE": "true",
           "RCLONE_CONFIG_OC_REGION": "us-east-1"}
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    bucket = uniq("rclone")

    def run(*args: str) -> None:
        r = subprocess.run([rclone, *args], capture_output=True, text=True, env=env,
                           timeout=300)
        assert r.returncode == 0, f"rclone {' '.join(args)}: {r.stderr}\n{r.stdout}"

    run("mkdir", f"oc:{bucket}")
    run("copy", str(src), f"oc:{bucket}/data")
    out = tmp_path / "out"
    run("copy", f"oc:{bucket}/data", str(out))
    assert (out / "a.txt").read_text() == "alpha"
    assert (out / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    run("check", str(src), f"oc:{bucket}/data")
    assert swift_get(live, keys, f"{bucket}/data/a.txt").content == b"alpha"
    run("purge", f"oc:{bucket}")
