"""S3 at /object/s3 against the in-process app, every request signed by botocore
(SigV4, payload hashed, or presigned): buckets, listings v1/v2, objects, copies,
multipart uploads, ACLs, isolation between projects and the same objects seen
through Swift."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import Cloud, build_cloud

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
BASE = "http://testserver/object/s3"


@pytest.fixture(scope="module")
def cloud3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from build_cloud(tmp_path_factory.mktemp("s3"))


class S3:
    """A project's member with an EC2 key pair, signing requests as boto3 does."""

    def __init__(self, cloud: Cloud, role: str = "member") -> None:
        self.cloud = cloud
        self.user = cloud.make_project_user(role, prefix="s3")
        r = cloud.client.post(f"/identity/v3/users/{self.user['user_id']}/credentials/OS-EC2",
                              # a reader may not make key pairs: the admin makes its
                              headers=cloud.admin() if role == "reader"
                              else self.user["headers"],
                              json={"tenant_id": self.user["project_id"]})
        assert r.status_code == 201, r.text
        cred = r.json()["credential"]
        self.access, self.secret = cred["access"], cred["secret"]
        self.account = f"AUTH_{self.user['project_id']}"

    def url(self, path: str, query: dict[str, str] | str | None = None) -> str:
        q = query if isinstance(query, str) else urlencode(query or {}, quote_via=quote)
        return f"{BASE}{quote(path, safe='/~')}" + (f"?{q}" if q else "")

    def __call__(self, method: str, path: str, body: bytes = b"",
                 headers: dict[str, str] | None = None,
                 query: dict[str, str] | str | None = None,
                 secret: str | None = None) -> httpx.Response:
        req = AWSRequest(method=method, url=self.url(path, query), data=body,
                         headers=headers or {})
        S3SigV4Auth(Credentials(self.access, secret or self.secret), "s3",
                    "us-east-1").add_auth(req)
        p = req.prepare()
        return self.cloud.client.request(method, p.url, headers=dict(p.headers), content=body)

    def presign(self, method: str, path: str, expires: int = 300) -> str:
        req = AWSRequest(method=method, url=self.url(path))
        S3SigV4QueryAuth(Credentials(self.access, self.secret), "s3", "us-east-1",
                         expires=expires).add_auth(req)
        return str(req.prepare().url)

    def swift(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.cloud.client.request(method, f"/object/v1/{self.account}{path}",
                                         headers={**self.user["headers"],
                                                  **kw.pop("headers", {})}, **kw)


def tree(r: httpx.Response) -> ET.Element:
    return ET.fromstring(r.content)


def texts(r: httpx.Response, path: str) -> list[str]:
    return [el.text or "" for el in tree(r).iter(NS + path)]


def code(r: httpx.Response) -> str:
    return ET.fromstring(r.content).findtext("Code") or ""


@pytest.fixture(scope="module")
def alice(cloud3: Cloud) -> S3:
    return S3(cloud3)


@pytest.fixture(scope="module")
def bob(cloud3: Cloud) -> S3:
    return S3(cloud3)


def bucket_name() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


def test_catalog_lists_s3(cloud3: Cloud, alice: S3) -> None:
    r = cloud3.client.get("/identity/v3/auth/catalog", headers=alice.user["headers"])
    entry = [s for s in r.json()["catalog"] if s["type"] == "s3"]
    assert entry and all(e["url"].endswith("/object/s3") for e in entry[0]["endpoints"])


def test_bucket_life_cycle(alice: S3) -> None:
    b = bucket_name()
    r = alice("PUT", f"/{b}")
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-request-id"].startswith("req-")
    r = alice("PUT", f"/{b}")
    assert code(r) == "BucketAlreadyOwnedByYou"
    assert tree(r).findtext("RequestId") == r.headers["x-amz-request-id"]
    assert alice("HEAD", f"/{b}").status_code == 200
    names = texts(alice("GET", "/"), "Name")
    assert b in names
    r = alice("GET", f"/{b}", query="location")
    assert r.status_code == 200 and tree(r).tag == NS + "LocationConstraint"
    assert alice("PUT", f"/{b}/k", b"x").status_code == 200
    r = alice("DELETE", f"/{b}")
    assert r.status_code == 409 and code(r) == "BucketNotEmpty"
    assert alice("DELETE", f"/{b}/k").status_code == 204
    assert alice("DELETE", f"/{b}").status_code == 204
    r = alice("HEAD", f"/{b}")
    assert r.status_code == 404
    r = alice("GET", f"/{b}")
    assert r.status_code == 404 and code(r) == "NoSuchBucket"
    assert code(alice("PUT", "/Bad_Name")) == "InvalidBucketName"


def test_put_get_head_with_metadata_range_and_conditions(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    data = bytes(range(256)) * 40
    md5 = hashlib.md5(data).hexdigest()
    r = alice("PUT", f"/{b}/dir/file.bin", data, headers={
        "Content-Type": "application/x-test", "x-amz-meta-color": "blue",
        "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode()})
    assert r.status_code == 200 and r.headers["ETag"] == f'"{md5}"'
    r = alice("GET", f"/{b}/dir/file.bin")
    assert r.content == data and r.headers["x-amz-meta-color"] == "blue"
    assert r.headers["content-type"] == "application/x-test"
    r = alice("HEAD", f"/{b}/dir/file.bin")
    assert r.status_code == 200 and r.headers["content-length"] == str(len(data))
    r = alice("GET", f"/{b}/dir/file.bin", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = alice("GET", f"/{b}/dir/file.bin", headers={"Range": "bytes=999999-"})
    assert r.status_code == 416 and code(r) == "InvalidRange"
    assert alice("GET", f"/{b}/dir/file.bin",
                 headers={"If-None-Match": f'"{md5}"'}).status_code == 304
    r = alice("GET", f"/{b}/dir/file.bin", headers={"If-Match": '"nope"'})
    assert r.status_code == 412 and code(r) == "PreconditionFailed"
    assert alice("GET", f"/{b}/dir/file.bin", headers={
        "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 412
    assert alice("GET", f"/{b}/dir/file.bin", headers={
        "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    r = alice("GET", f"/{b}/dir/file.bin", query={
        "response-content-type": "text/plain", "response-content-disposition": "inline"})
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-disposition"] == "inline"
    # a wrong Content-MD5: BadDigest, nothing stored
    r = alice("PUT", f"/{b}/bad", b"abc", headers={
        "Content-MD5": base64.b64encode(hashlib.md5(b"abd").digest()).decode()})
    assert r.status_code == 400 and code(r) == "BadDigest"
    r = alice("GET", f"/{b}/bad")
    assert r.status_code == 404 and code(r) == "NoSuchKey"


def test_listings_v1_and_v2(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    keys = ["a.txt", "b/1", "b/2", "c/x/1", "d", "e e"]
    for k in keys:
        assert alice("PUT", f"/{b}/{k}", k.encode()).status_code == 200
    r = alice("GET", f"/{b}")
    assert texts(r, "Key") == keys
    r = alice("GET", f"/{b}", query={"delimiter": "/"})
    assert texts(r, "Key") == ["a.txt", "d", "e e"]
    assert [p.findtext(NS + "Prefix") for p in tree(r).iter(NS + "CommonPrefixes")] == [
        "b/", "c/"]
    r = alice("GET", f"/{b}", query={"prefix": "b/", "max-keys": "1"})
    assert texts(r, "Key") == ["b/1"] and texts(r, "IsTruncated") == ["true"]
    r = alice("GET", f"/{b}", query={"marker": "b/1"})
    assert texts(r, "Key") == keys[2:]
    # v2: pages of two with continuation tokens, then start-after
    seen, token = [], None
    while True:
        q = {"list-type": "2", "max-keys": "2", **({"continuation-token": token}
                                                   if token else {})}
        r = alice("GET", f"/{b}", query=q)
        assert r.status_code == 200, r.text
        seen += texts(r, "Key")
        token = (texts(r, "NextContinuationToken") or [None])[0]
        if texts(r, "IsTruncated") == ["false"]:
            break
    assert seen == keys
    r = alice("GET", f"/{b}", query={"list-type": "2", "start-after": "c/x/1"})
    assert texts(r, "Key") == ["d", "e e"] and texts(r, "KeyCount") == ["2"]
    # delimiter pages: a common prefix is not repeated on the next page
    r = alice("GET", f"/{b}", query={"list-type": "2", "delimiter": "/", "max-keys": "2"})
    page1 = texts(r, "Key") + [p.findtext(NS + "Prefix") or ""
                               for p in tree(r).iter(NS + "CommonPrefixes")]
    token = texts(r, "NextContinuationToken")[0]
    r = alice("GET", f"/{b}", query={"list-type": "2", "delimiter": "/",
                                     "continuation-token": token})
    page2 = texts(r, "Key") + [p.findtext(NS + "Prefix") or ""
                               for p in tree(r).iter(NS + "CommonPrefixes")]
    assert sorted(page1 + page2) == ["a.txt", "b/", "c/", "d", "e e"]
    r = alice("GET", f"/{b}", query={"list-type": "2", "encoding-type": "url",
                                     "prefix": "e"})
    assert texts(r, "Key") == ["e%20e"]
    r = alice("GET", f"/{b}", query={"max-keys": "x"})
    assert r.status_code == 400 and code(r) == "InvalidArgument"


def test_copy_and_delete_objects(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    alice("PUT", f"/{b}/src", b"hello", headers={"x-amz-meta-a": "1",
                                                  "Content-Type": "text/x-a"})
    r = alice("PUT", f"/{b}/dst", headers={"x-amz-copy-source": f"/{b}/src"})
    assert r.status_code == 200 and tree(r).tag == NS + "CopyObjectResult"
    r = alice("GET", f"/{b}/dst")
    assert r.content == b"hello" and r.headers["x-amz-meta-a"] == "1"
    r = alice("PUT", f"/{b}/dst2", headers={
        "x-amz-copy-source": f"{b}/src", "x-amz-metadata-directive": "REPLACE",
        "x-amz-meta-b": "2", "Content-Type": "text/x-b"})
    r = alice("HEAD", f"/{b}/dst2")
    assert r.headers.get("x-amz-meta-b") == "2" and "x-amz-meta-a" not in r.headers
    assert r.headers["content-type"] == "text/x-b"
    r = alice("PUT", f"/{b}/src", headers={"x-amz-copy-source": f"/{b}/src"})
    assert r.status_code == 400 and code(r) == "InvalidRequest"
    r = alice("PUT", f"/{b}/x", headers={"x-amz-copy-source": f"/{b}/missing"})
    assert r.status_code == 404 and code(r) == "NoSuchKey"
    body = (b"<Delete><Quiet>false</Quiet><Object><Key>src</Key></Object>"
            b"<Object><Key>dst</Key></Object><Object><Key>never</Key></Object></Delete>")
    r = alice("POST", f"/{b}", body, query="delete", headers={
        "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
    assert r.status_code == 200, r.text
    assert sorted(texts(r, "Key")) == ["dst", "never", "src"]
    r = alice("POST", f"/{b}", body.replace(b"false", b"true"), query="delete")
    assert texts(r, "Key") == []
    assert texts(alice("GET", f"/{b}"), "Key") == ["dst2"]


def _multipart(s3: S3, b: str, key: str, sizes: list[int]) -> tuple[bytes, str]:
    r = s3("POST", f"/{b}/{key}", query="uploads",
           headers={"Content-Type": "application/x-big", "x-amz-meta-kind": "big"})
    assert r.status_code == 200, r.text
    uid = texts(r, "UploadId")[0]
    data, etags = b"", []
    for n, size in enumerate(sizes, 1):
        chunk = bytes([n]) * size
        r = s3("PUT", f"/{b}/{key}", chunk, query={"partNumber": str(n), "uploadId": uid})
        assert r.status_code == 200, r.text
        etags.append(r.headers["ETag"].strip('"'))
        data += chunk
    r = s3("GET", f"/{b}/{key}", query={"uploadId": uid})
    assert [int(x) for x in texts(r, "PartNumber")] == list(range(1, len(sizes) + 1))
    r = s3("GET", f"/{b}", query="uploads")
    assert uid in texts(r, "UploadId")
    body = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>\"{e}\"</ETag></Part>"
        for n, e in enumerate(etags, 1)) + "</CompleteMultipartUpload>"
    r = s3("POST", f"/{b}/{key}", body.encode(), query={"uploadId": uid})
    assert r.status_code == 200, r.text
    digest = hashlib.md5(b"".join(bytes.fromhex(e) for e in etags)).hexdigest()
    etag = f"{digest}-{len(sizes)}"
    assert texts(r, "ETag") == [f'"{etag}"']
    return data, etag


def test_multipart_upload_reads_through_both_apis(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    data, etag = _multipart(alice, b, "big/file", [5 << 20, 1000])
    r = alice("GET", f"/{b}/big/file")
    assert r.content == data and r.headers["ETag"] == f'"{etag}"'
    assert r.headers["x-amz-meta-kind"] == "big"
    r = alice("GET", f"/{b}/big/file", headers={"Range": f"bytes={(5 << 20) - 2}-"})
    assert r.content == data[(5 << 20) - 2:]
    r = alice.swift("GET", f"/{b}/big/file")
    assert r.status_code == 200 and r.content == data
    assert r.headers["X-Static-Large-Object"] == "True"
    assert texts(alice("GET", f"/{b}", query="uploads"), "UploadId") == []
    # ListBuckets leaves the segments container out; deleting removes the parts
    assert f"{b}+segments" not in texts(alice("GET", "/"), "Name")
    assert alice("DELETE", f"/{b}/big/file").status_code == 204
    r = alice.swift("GET", f"/{b}+segments", params={"format": "json"})
    assert r.status_code in (200, 204) and (r.status_code == 204 or r.json() == [])
    assert alice("DELETE", f"/{b}").status_code == 204


def test_multipart_errors_abort_and_part_copy(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    alice("PUT", f"/{b}/src", b"0123456789")
    r = alice("POST", f"/{b}/k", query="uploads")
    uid = texts(r, "UploadId")[0]
    r = alice("PUT", f"/{b}/k", query={"partNumber": "1", "uploadId": uid},
              headers={"x-amz-copy-source": f"/{b}/src",
                       "x-amz-copy-source-range": "bytes=2-5"})
    assert r.status_code == 200 and tree(r).tag == NS + "CopyPartResult"
    etag = texts(r, "ETag")[0].strip('"')
    assert etag == hashlib.md5(b"2345").hexdigest()
    r = alice("PUT", f"/{b}/k", b"x", query={"partNumber": "1", "uploadId": "0" * 32})
    assert r.status_code == 404 and code(r) == "NoSuchUpload"
    r = alice("PUT", f"/{b}/k", b"x", query={"partNumber": "0", "uploadId": uid})
    assert code(r) == "InvalidArgument"
    bad = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{'f' * 32}"
           "</ETag></Part></CompleteMultipartUpload>")
    r = alice("POST", f"/{b}/k", bad.encode(), query={"uploadId": uid})
    assert r.status_code == 400 and code(r) == "InvalidPart"
    small = alice("PUT", f"/{b}/k", b"y", query={"partNumber": "2", "uploadId": uid})
    body = ("<CompleteMultipartUpload>"
            f"<Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
            f"<Part><PartNumber>2</PartNumber><ETag>{small.headers['ETag']}</ETag></Part>"
            "</CompleteMultipartUpload>")
    r = alice("POST", f"/{b}/k", body.encode(), query={"uploadId": uid})
    assert r.status_code == 400 and code(r) == "EntityTooSmall"
    assert alice("DELETE", f"/{b}/k", query={"uploadId": uid}).status_code == 204
    r = alice("GET", f"/{b}/k", query={"uploadId": uid})
    assert code(r) == "NoSuchUpload"
    assert alice("DELETE", f"/{b}/src").status_code == 204
    assert alice("DELETE", f"/{b}").status_code == 204


def test_cross_api_rows(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    alice("PUT", f"/{b}/from-s3", b"s3 bytes", headers={"x-amz-meta-who": "s3"})
    r = alice.swift("GET", f"/{b}/from-s3")
    assert r.content == b"s3 bytes" and r.headers["X-Object-Meta-Who"] == "s3"
    assert alice.swift("PUT", f"/{b}/from-swift", content=b"swift bytes",
                       headers={"X-Object-Meta-Who": "swift"}).status_code == 201
    r = alice("GET", f"/{b}/from-swift")
    assert r.content == b"swift bytes" and r.headers["x-amz-meta-who"] == "swift"
    r = alice("GET", f"/{b}", query={"list-type": "2"})
    listing = alice.swift("GET", f"/{b}", params={"format": "json"}).json()
    assert texts(r, "Key") == [o["name"] for o in listing] == ["from-s3", "from-swift"]
    assert [t.strip('"') for t in texts(r, "ETag")] == [o["hash"] for o in listing]
    # a container made through Swift is a bucket
    alice.swift("PUT", "/swift-made")
    assert "swift-made" in texts(alice("GET", "/"), "Name")


def test_isolation_and_signatures(cloud3: Cloud, alice: S3, bob: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    alice("PUT", f"/{b}/secret", b"mine")
    r = bob("GET", f"/{b}/secret")
    assert r.status_code == 403 and code(r) == "AccessDenied"
    assert code(bob("GET", f"/{b}")) == "AccessDenied"
    assert code(bob("PUT", f"/{b}/x", b"y")) == "AccessDenied"
    assert code(bob("DELETE", f"/{b}")) == "AccessDenied"
    assert code(bob("PUT", f"/{b}")) == "BucketAlreadyExists"
    assert b not in texts(bob("GET", "/"), "Name")
    r = alice("GET", f"/{b}/secret", secret="wrong-secret")
    assert r.status_code == 403 and code(r) == "SignatureDoesNotMatch"
    # anonymous: private is denied
    r = cloud3.client.get(f"/object/s3/{b}/secret")
    assert r.status_code == 403 and code(r) == "AccessDenied"
    # presigned GET works; an expired one does not
    url = alice.presign("GET", f"/{b}/secret")
    assert cloud3.client.get(url).content == b"mine"
    url = alice.presign("GET", f"/{b}/secret", expires=1)
    time.sleep(2.1)
    r = cloud3.client.get(url)
    assert r.status_code == 403 and "expired" in r.text


def test_public_read_and_reader_role(cloud3: Cloud, alice: S3) -> None:
    b = bucket_name()
    assert alice("PUT", f"/{b}", headers={"x-amz-acl": "public-read"}).status_code == 200
    alice("PUT", f"/{b}/pub", b"open")
    assert cloud3.client.get(f"/object/s3/{b}/pub").content == b"open"
    r = cloud3.client.get(f"/object/s3/{b}")
    assert r.status_code == 200 and "<Key>pub</Key>" in r.text
    assert cloud3.client.put(f"/object/s3/{b}/w", content=b"x").status_code == 403
    r = alice.swift("HEAD", f"/{b}")
    assert ".r:*" in r.headers["X-Container-Read"]
    r = alice("GET", f"/{b}", query="acl")
    assert "AllUsers" in r.text
    assert alice("PUT", f"/{b}", query="acl", headers={"x-amz-acl": "private"}
                 ).status_code == 200
    assert cloud3.client.get(f"/object/s3/{b}/pub").status_code == 403
    assert code(alice("PUT", f"/{b}", query="versioning",
                      body=b"<VersioningConfiguration><Status>Enabled</Status>"
                           b"</VersioningConfiguration>")) == "NotImplemented"
    # a reader of the project reads, but does not write
    reader = S3(cloud3, role="reader")
    rb = bucket_name()
    r = reader("PUT", f"/{rb}")
    assert r.status_code == 403 and code(r) == "AccessDenied"


def test_quota_applies_to_s3(tmp_path_factory: pytest.TempPathFactory) -> None:
    gen = build_cloud(tmp_path_factory.mktemp("s3q"), object_quota_count=1)
    cloud = next(gen)
    try:
        s3 = S3(cloud)
        b = bucket_name()
        s3("PUT", f"/{b}")
        assert s3("PUT", f"/{b}/one", b"1").status_code == 200
        r = s3("PUT", f"/{b}/two", b"2")
        assert r.status_code == 403 and code(r) == "QuotaExceeded"
    finally:
        gen.close()


def test_list_buckets_without_trailing_slash(cloud3: Cloud, alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    r = alice("GET", "")
    assert r.status_code == 200 and b in texts(r, "Name")


class _StreamingSigner(S3SigV4Auth):
    """botocore's SigV4 signer declaring an aws-chunked body (what boto3 sends over
    TLS for a streamed upload): the chunk signatures are chained from its own."""

    def payload(self, request: Any) -> str:
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def _chunked_put(s3: S3, path: str, data: bytes, *, forge: bool = False
                 ) -> httpx.Response:
    import hmac

    pieces = [data[i:i + 65536] for i in range(0, len(data), 65536)] + [b""]
    length = sum(len(f"{len(p):x};chunk-signature=".encode()) + 64 + 4 + len(p)
                 for p in pieces)
    headers = {"Content-Encoding": "aws-chunked", "Content-Type": "text/plain",
               "x-amz-decoded-content-length": str(len(data)),
               "Content-Length": str(length)}
    req = AWSRequest(method="PUT", url=s3.url(path), headers=headers)
    _StreamingSigner(Credentials(s3.access, s3.secret), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    amz_date = p.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = ("AWS4" + s3.secret).encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    prev = p.headers["Authorization"].rsplit("Signature=", 1)[1]
    empty = hashlib.sha256(b"").hexdigest()
    body = b""
    for piece in pieces:
        sts = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty,
                         hashlib.sha256(piece).hexdigest()))
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        sent = piece.replace(b"a", b"b") if forge and piece else piece
        body += f"{len(piece):x};chunk-signature={prev}\r\n".encode() + sent + b"\r\n"
    assert len(body) == length
    return s3.cloud.client.put(p.url, headers=dict(p.headers), content=body)


def test_aws_chunked_put_checks_each_chunk(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    data = b"a" * 150_000
    r = _chunked_put(alice, f"/{b}/streamed", data)
    assert r.status_code == 200, r.text
    r = alice("GET", f"/{b}/streamed")
    assert r.content == data and "content-encoding" not in r.headers
    r = _chunked_put(alice, f"/{b}/forged", data, forge=True)
    assert r.status_code == 403 and code(r) == "SignatureDoesNotMatch"
    assert alice("HEAD", f"/{b}/forged").status_code == 404


def test_signature_v2_header(alice: S3) -> None:
    """S3's older signature (boto's HmacV1, what s3cmd signs with by default)."""
    from botocore.auth import HmacV1Auth

    b = bucket_name()
    alice("PUT", f"/{b}")
    req = AWSRequest(method="PUT", url=alice.url(f"/{b}/v2 key"), data=b"v2",
                     headers={"Content-Type": "text/plain"})
    HmacV1Auth(Credentials(alice.access, alice.secret)).add_auth(req)
    p = req.prepare()
    r = alice.cloud.client.put(p.url, headers=dict(p.headers), content=b"v2")
    assert r.status_code == 200, r.text
    assert alice("GET", f"/{b}/v2 key").content == b"v2"
    req = AWSRequest(method="GET", url=alice.url(f"/{b}/v2 key"))
    HmacV1Auth(Credentials(alice.access, "not-the-secret")).add_auth(req)
    p = req.prepare()
    r = alice.cloud.client.get(p.url, headers=dict(p.headers))
    assert r.status_code == 403 and code(r) == "SignatureDoesNotMatch"


@pytest.mark.parametrize("method,path,query,headers,body,status,s3code", [
    ("GET", "/{b}", {"list-type": "3"}, {}, b"", 400, "InvalidArgument"),
    ("GET", "/{b}", {"list-type": "2", "continuation-token": "!!"}, {}, b"", 400,
     "InvalidArgument"),
    ("GET", "/{b}", {"encoding-type": "base64"}, {}, b"", 400, "InvalidArgument"),
    ("PUT", "/{b}/k", None, {"x-amz-acl": "everyone"}, b"x", 400, "InvalidArgument"),
    ("PUT", "/{b}/k", None, {"x-amz-acl": "public-read-write"}, b"x", 501,
     "NotImplemented"),
    ("PUT", "/{b}/k", None, {"Content-MD5": "not-base64!"}, b"x", 400, "InvalidDigest"),
    ("POST", "/{b}/k", {"uploadId": "f" * 32}, {}, b"<x/>", 404, "NoSuchUpload"),
    ("POST", "/{b}", "delete", {}, b"<not xml", 400, "MalformedXML"),
    ("POST", "/{b}/k", None, {}, b"", 405, "MethodNotAllowed"),
    ("GET", "/{b}", "policy", {}, b"", 501, "NotImplemented"),
    ("PUT", "/{b}/k", None, {"x-amz-copy-source": "/nobucket"}, b"", 400,
     "InvalidArgument"),
    ("PUT", "/{b}/" + "k" * 1100, None, {}, b"x", 400, "KeyTooLongError"),
    ("GET", "/{b}/k", {"partNumber": "1"}, {}, b"", 404, "NoSuchKey"),
    ("GET", "/no-such-bucket-here/k", None, {}, b"", 404, "NoSuchBucket"),
])
def test_hostile_requests_get_s3_errors(alice: S3, method: str, path: str, query: Any,
                                        headers: dict[str, str], body: bytes,
                                        status: int, s3code: str) -> None:
    b = getattr(test_hostile_requests_get_s3_errors, "bucket", None)
    if b is None:
        b = bucket_name()
        alice("PUT", f"/{b}")
        test_hostile_requests_get_s3_errors.bucket = b  # type: ignore[attr-defined]
    r = alice(method, path.format(b=b), body, headers=headers, query=query)
    assert r.status_code == status, r.text
    assert code(r) == s3code and r.headers["content-type"].startswith("application/xml")


def test_swift_versioned_container_keeps_s3_overwrites(alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    alice.swift("PUT", f"/{b}-old")
    assert alice.swift("POST", f"/{b}", headers={"X-Versions-Location": f"{b}-old"}
                       ).status_code == 204
    alice("PUT", f"/{b}/doc", b"v1")
    alice("PUT", f"/{b}/doc", b"v2")
    assert alice("GET", f"/{b}/doc").content == b"v2"
    old = alice.swift("GET", f"/{b}-old", params={"format": "json"}).json()
    assert len(old) == 1
    assert alice("DELETE", f"/{b}/doc").status_code == 204
    assert alice("GET", f"/{b}/doc").content == b"v1"  # the stack pops, as in Swift


def test_reader_of_the_project_reads_but_does_not_write(cloud3: Cloud, alice: S3) -> None:
    b = bucket_name()
    alice("PUT", f"/{b}")
    alice("PUT", f"/{b}/doc", b"shared")
    h = cloud3.admin()
    suffix = uuid.uuid4().hex[:8]
    u = cloud3.client.post("/identity/v3/users", headers=h, json={"user": {
        "name": f"s3-reader-{suffix}", "password": "pw-" + suffix}}).json()["user"]
    pid = alice.user["project_id"]
    assert cloud3.client.put(f"/identity/v3/projects/{pid}/users/{u['id']}/roles/"
                             f"{cloud3.role_id('reader')}", headers=h).status_code == 204
    r = cloud3.client.post(f"/identity/v3/users/{u['id']}/credentials/OS-EC2", headers=h,
                           json={"tenant_id": pid})
    assert r.status_code == 201, r.text
    reader = S3.__new__(S3)
    reader.cloud, reader.user, reader.account = cloud3, alice.user, alice.account
    reader.access, reader.secret = r.json()["credential"]["access"], \
        r.json()["credential"]["secret"]
    assert reader("GET", f"/{b}/doc").content == b"shared"
    assert "doc" in texts(reader("GET", f"/{b}"), "Key")
    assert b in texts(reader("GET", "/"), "Name")
    for method, path in (("PUT", f"/{b}/new"), ("DELETE", f"/{b}/doc"),
                         ("DELETE", f"/{b}"), ("POST", f"/{b}/doc?uploads")):
        path, _, query = path.partition("?")
        r = reader(method, path, b"x" if method == "PUT" else b"", query=query or None)
        assert r.status_code == 403 and code(r) == "AccessDenied", (method, path)
    assert alice("GET", f"/{b}/doc").content == b"shared"


def test_virtual_host_style(tmp_path_factory: pytest.TempPathFactory) -> None:
    """With a public_url host, `<bucket>.<host>/object/s3/<key>` is the bucket's key
    (botocore's virtual addressing), signed V4 and V2 on the path the client sent."""
    from botocore.auth import HmacV1Auth

    gen = build_cloud(tmp_path_factory.mktemp("s3v"), public_url="http://cloud.test:8080")
    cloud = next(gen)
    try:
        s3 = S3(cloud)
        b = bucket_name()
        s3("PUT", f"/{b}")

        def send(method: str, url: str, body: bytes = b"", v2: bool = False
                 ) -> httpx.Response:
            req = AWSRequest(method=method, url=url, data=body)
            if v2:
                HmacV1Auth(Credentials(s3.access, s3.secret)).add_auth(req)
            else:
                S3SigV4Auth(Credentials(s3.access, s3.secret), "s3",
                            "us-east-1").add_auth(req)
            p = req.prepare()
            return cloud.client.request(method, p.url, headers=dict(p.headers),
                                        content=body)

        host = f"http://{b}.cloud.test:8080/object/s3"
        assert send("PUT", f"{host}/v/key.txt", b"virtual").status_code == 200
        assert s3("GET", f"/{b}/v/key.txt").content == b"virtual"
        r = send("GET", f"{host}/v/key.txt")
        assert r.status_code == 200 and r.content == b"virtual"
        r = send("GET", f"{host}/", v2=True)
        assert r.status_code == 200 and texts(r, "Key") == ["v/key.txt"]
    finally:
        gen.close()
