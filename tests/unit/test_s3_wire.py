"""The S3 signature checks and XML over real HTTP, driven by the real clients:
boto3 (SigV4 and V2), presigned URLs fetched with httpx, the aws CLI and rclone
against a small in-memory S3 served by uvicorn on a free port.

The store here is a dict (the object store proper is another package's); what is
under test is everything in front of it: `SignedRequest.from_asgi` on what the
clients really send (raw paths, Host, Expect: 100-continue), the authenticator,
`verified_body`, S3's error document through the app's error handler, and the
listing documents the clients parse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError
from fastapi import FastAPI, Request, Response

from overcast.kit.context import RequestContext
from overcast.kit.web import RequestIdAndLogMiddleware, install_error_handlers
from overcast.object.s3 import errors as err
from overcast.object.s3 import xml as s3xml
from overcast.object.s3.auth import S3Authenticator, SignedRequest
from overcast.object.s3.body import verified_body
from tests.unit.test_s3_auth import ACCESS, SECRET, FakeIdentity

MOUNT = "/object/s3"


def mini_s3(auth: S3Authenticator) -> FastAPI:
    """Buckets in a dict, behind the real authenticator and XML."""
    app = FastAPI()
    app.state.error_styles = [(MOUNT, "s3")]
    buckets: dict[str, dict[str, tuple[bytes, str, dt.datetime]]] = {}

    def who(request: Request) -> RequestContext:
        caller = auth.authenticate(SignedRequest.from_asgi(request.scope))
        if caller is None:
            raise err.access_denied()
        request.state.caller = caller
        return caller.context

    def xml(body: bytes, status: int = 200) -> Response:
        return Response(body, status_code=status, media_type=s3xml.CONTENT_TYPE)

    @app.get(MOUNT)
    @app.get(MOUNT + "/")
    def list_buckets(request: Request) -> Response:
        ctx = who(request)
        return xml(s3xml.list_buckets(s3xml.Owner(ctx.project_id or ""), [
            s3xml.Bucket(b, dt.datetime(2026, 1, 1)) for b in sorted(buckets)]))

    @app.api_route(MOUNT + "/{bucket}", methods=["PUT", "GET", "HEAD", "DELETE"])
    async def bucket(bucket: str, request: Request) -> Response:
        who(request)
        if request.method == "PUT":
            buckets.setdefault(bucket, {})
            return Response(status_code=200, headers={"Location": f"/{bucket}"})
        if bucket not in buckets:
            raise err.no_such_bucket(bucket)
        if request.method == "HEAD":
            return Response(status_code=200)
        if request.method == "DELETE":
            if buckets[bucket]:
                raise err.bucket_not_empty(bucket)
            del buckets[bucket]
            return Response(status_code=204)
        q = request.query_params
        prefix, delim = q.get("prefix", ""), q.get("delimiter") or None
        objects, prefixes = [], set()
        for key in sorted(buckets[bucket]):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if delim and delim in rest:
                prefixes.add(prefix + rest.split(delim)[0] + delim)
                continue
            data, etag, when = buckets[bucket][key]
            objects.append(s3xml.ObjectEntry(key, when, etag, len(data)))
        page = s3xml.Listing(bucket=bucket, objects=objects, common_prefixes=sorted(prefixes),
                             prefix=prefix, delimiter=delim,
                             encoding_type=q.get("encoding-type"))
        if q.get("list-type") == "2":
            return xml(s3xml.list_objects_v2(page))
        return xml(s3xml.list_objects(page, marker=q.get("marker", "")))

    @app.api_route(MOUNT + "/{bucket}/{key:path}",
                   methods=["PUT", "GET", "HEAD", "DELETE"])
    async def obj(bucket: str, key: str, request: Request) -> Response:
        who(request)
        if bucket not in buckets:
            raise err.no_such_bucket(bucket)
        store = buckets[bucket]
        if request.method == "PUT":
            headers = {k.lower(): v for k, v in request.headers.items()}
            data = bytearray()
            async for piece in verified_body(request.stream(), request.state.caller,
                                             headers):
                data += piece
            etag = hashlib.md5(data).hexdigest()  # noqa: S324
            store[key] = (bytes(data), etag, dt.datetime.now(dt.UTC))
            return Response(status_code=200, headers={"ETag": f'"{etag}"'})
        if key not in store:
            raise err.no_such_key(key)
        if request.method == "DELETE":
            del store[key]
            return Response(status_code=204)
        data, etag, when = store[key]
        headers = {"ETag": f'"{etag}"', "Last-Modified": s3xml.http_time(when),
                   "Content-Length": str(len(data))}
        return Response(b"" if request.method == "HEAD" else data, headers=headers,
                        media_type="application/octet-stream")

    install_error_handlers(app)
    app.add_middleware(RequestIdAndLogMiddleware)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    ident = FakeIdentity()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(mini_s3(S3Authenticator(ident)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}{MOUNT}"
    server.should_exit = True
    thread.join(timeout=10)


def s3(endpoint: str, version: str = "s3v4", secret: str = SECRET) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS,
                        aws_secret_access_key=secret, region_name="RegionOne",
                        config=Config(signature_version=version,
                                      s3={"addressing_style": "path"},
                                      retries={"max_attempts": 0}))


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_boto3_round_trip(endpoint: str, version: str) -> None:
    c = s3(endpoint, version)
    bucket = f"b-{version}-{uuid.uuid4().hex[:6]}"
    c.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in c.list_buckets()["Buckets"]]
    key = "dir one/a+b é.txt"
    put = c.put_object(Bucket=bucket, Key=key, Body=b"hello world",
                       Metadata={"colour": "blue"})
    assert put["ETag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'  # noqa: S324
    assert c.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello world"
    assert c.head_object(Bucket=bucket, Key=key)["ContentLength"] == 11
    listing = c.list_objects_v2(Bucket=bucket, Prefix="dir ", Delimiter="/")
    assert listing["CommonPrefixes"] == [{"Prefix": "dir one/"}]
    listing = c.list_objects_v2(Bucket=bucket, Prefix="dir one/")
    assert [o["Key"] for o in listing["Contents"]] == [key]
    assert [o["Key"] for o in c.list_objects(Bucket=bucket)["Contents"]] == [key]
    with pytest.raises(ClientError) as exc:
        c.delete_bucket(Bucket=bucket)
    assert exc.value.response["Error"]["Code"] == "BucketNotEmpty"
    c.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as exc:
        c.get_object(Bucket=bucket, Key=key)
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"
    c.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_wrong_secret_and_unknown_key_as_boto3_sees_them(endpoint: str,
                                                         version: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3(endpoint, version, secret="wrong").list_buckets()
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    other = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="nobody",
                         aws_secret_access_key="x", region_name="RegionOne",
                         config=Config(signature_version=version,
                                       retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as exc:
        other.list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_urls_over_http(endpoint: str, version: str) -> None:
    c = s3(endpoint, version)
    bucket = f"p-{version}-{uuid.uuid4().hex[:6]}"
    c.create_bucket(Bucket=bucket)
    put = c.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "x y"},
                                   ExpiresIn=60)
    assert httpx.put(put, content=b"via url").status_code == 200
    get = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "x y"},
                                   ExpiresIn=60)
    r = httpx.get(get)
    assert r.status_code == 200 and r.content == b"via url"
    r = httpx.get(get.replace("x%20y", "other"))
    assert r.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.content
    expired = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "x y"},
                                       ExpiresIn=1)
    time.sleep(2.1)
    r = httpx.get(expired)
    assert r.status_code == 403 and b"Request has expired" in r.content


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION="RegionOne", AWS_CONFIG_FILE=str(tmp_path / "cfg"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "creds"))
    return env


def test_aws_cli(endpoint: str, tmp_path: Path) -> None:
    aws = shutil.which("aws")
    if aws is None:
        pytest.skip("the aws CLI is not installed")
    env = _cli_env(tmp_path)

    def run(*args: str) -> str:
        r = subprocess.run([aws, "--endpoint-url", endpoint, *args], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    bucket = f"cli-{uuid.uuid4().hex[:6]}"
    run("s3api", "create-bucket", "--bucket", bucket)
    src = tmp_path / "file.txt"
    src.write_bytes(b"from the aws cli\n" * 100)
    run("s3", "cp", str(src), f"s3://{bucket}/docs/file.txt")
    assert "file.txt" in run("s3", "ls", f"s3://{bucket}/docs/")
    run("s3", "cp", f"s3://{bucket}/docs/file.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == src.read_bytes()
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    r = subprocess.run([aws, "--endpoint-url", endpoint, "s3", "ls"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "SignatureDoesNotMatch" in r.stderr


def test_rclone(endpoint: str, tmp_path: Path) -> None:
    rclone = shutil.which("rclone")
    if rclone is None:
        pytest.skip("rclone is not installed")
    remote = (f":s3,provider=Other,access_key_id={ACCESS},secret_access_key={SECRET},"
              f"endpoint='{endpoint}',force_path_style=true,region=RegionOne:")
    bucket = f"rc-{uuid.uuid4().hex[:6]}"
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hi</h1>")
    (site / "img" / "a b.png").write_bytes(os.urandom(3000))

    # rclone's S3 library refuses a custom CA bundle over plain HTTP.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    def run(*args: str) -> str:
        r = subprocess.run([rclone, "--config", str(tmp_path / "rclone.conf"), *args],
                           capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    run("mkdir", f"{remote}{bucket}")
    run("copy", str(site), f"{remote}{bucket}/site")
    listed = run("lsf", "-R", f"{remote}{bucket}/site")
    assert "index.html" in listed and "img/a b.png" in listed
    out = tmp_path / "out"
    run("copy", f"{remote}{bucket}/site", str(out))
    assert (out / "img" / "a b.png").read_bytes() == (site / "img" / "a b.png").read_bytes()
    run("check", str(site), f"{remote}{bucket}/site")
