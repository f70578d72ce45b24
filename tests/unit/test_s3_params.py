"""S3 request parameters: what boto3 sends parses back to what it meant, and what
S3 refuses is refused with S3's code."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from typing import Any

import pytest

from overcast.object.s3 import params as p
from overcast.object.s3.errors import S3Error
from tests.unit.test_s3_auth import capture, client


def code_of(fn: Any, *args: Any) -> str:
    with pytest.raises(S3Error) as exc:
        fn(*args)
    return exc.value.s3_code


@pytest.mark.parametrize("name", ["abc", "my-bucket.2026", "a" * 63, "0-9"])
def test_good_bucket_names(name: str) -> None:
    assert p.bucket_name(name) == name


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Upper", "under_score", "-start", "end-",
                                  "a..b", "192.168.1.1", "a.-b", "a b", ""])
def test_bad_bucket_names(name: str) -> None:
    assert code_of(p.bucket_name, name) == "InvalidBucketName"


def test_keys() -> None:
    assert p.object_key("a/b c+é") == "a/b c+é"
    assert code_of(p.object_key, "é" * 513) == "KeyTooLongError"
    assert p.object_key("é" * 512) == "é" * 512
    assert code_of(p.object_key, "") == "InvalidArgument"


def _query(call: Any) -> dict[str, str]:
    req, _ = capture(client(), call)
    return dict(urllib.parse.parse_qsl(req.query, keep_blank_values=True))


def test_list_queries_as_boto3_sends_them() -> None:
    q = p.list_query(_query(lambda c: c.list_objects_v2(
        Bucket="b", Prefix="a b/", Delimiter="/", MaxKeys=7, StartAfter="a b/c",
        FetchOwner=True)))
    assert (q.v2, q.prefix, q.delimiter, q.max_keys, q.after, q.fetch_owner) == (
        True, "a b/", "/", 7, "a b/c", True)
    assert q.encoding_type == "url"  # boto3 asks for it and decodes the answer itself
    token = p.encode_token("a b/é")
    q = p.list_query(_query(lambda c: c.list_objects_v2(Bucket="b", ContinuationToken=token,
                                                        StartAfter="z")))
    assert q.after == "a b/é" and q.continuation_token == token and q.start_after == "z"
    q = p.list_query(_query(lambda c: c.list_objects(Bucket="b", Marker="m k", MaxKeys=5000)))
    assert (q.v2, q.after, q.marker, q.max_keys) == (False, "m k", "m k", 1000)


@pytest.mark.parametrize("query", [{"max-keys": "abc"}, {"max-keys": "-1"},
                                   {"max-keys": "9" * 30}, {"list-type": "3"},
                                   {"encoding-type": "base64"},
                                   {"list-type": "2", "continuation-token": "%%%"}])
def test_bad_list_queries(query: dict[str, str]) -> None:
    assert code_of(p.list_query, query) == "InvalidArgument"


def test_part_numbers_and_paging() -> None:
    assert p.part_number("1") == 1 and p.part_number("10000") == 10000
    for bad in ("0", "10001", "x", None, "-1"):
        assert code_of(p.part_number, bad) == "InvalidArgument"
    assert p.max_parts({"max-parts": "5", "part-number-marker": "3"}) == (5, 3)
    assert p.max_uploads({}) == 1000


def test_canned_acls() -> None:
    assert p.canned_acl({}) is None
    assert p.canned_acl({"x-amz-acl": "public-read"}) == "public-read"
    assert code_of(p.canned_acl, {"x-amz-acl": "authenticated-read"}) == "NotImplemented"
    assert code_of(p.canned_acl, {"x-amz-acl": "everyone"}) == "InvalidArgument"
    assert code_of(p.canned_acl, {"x-amz-acl": "private",
                                  "x-amz-grant-read": "id=x"}) == "InvalidRequest"


def test_user_metadata_as_boto3_sends_it() -> None:
    req, _ = capture(client(), lambda c: c.put_object(
        Bucket="b", Key="k", Body=b"", Metadata={"Colour": "blue", "x": "y z"}))
    assert p.user_metadata(req.headers) == {"colour": "blue", "x": "y z"}
    big = [("x-amz-meta-a", "v" * 2100)]
    assert code_of(p.user_metadata, big) == "MetadataTooLarge"


def test_copy_source_as_boto3_sends_it() -> None:
    req, _ = capture(client(), lambda c: c.copy_object(
        Bucket="dst", Key="k", CopySource={"Bucket": "src", "Key": "a b/é+c",
                                           "VersionId": "v1"}))
    src = p.copy_source(req.header("x-amz-copy-source") or "")
    assert (src.bucket, src.key, src.version_id) == ("src", "a b/é+c", "v1")
    assert p.copy_source("/src/k").key == "k"
    assert code_of(p.copy_source, "src") == "InvalidArgument"
    assert p.copy_range(None, 10) is None
    assert p.copy_range("bytes=0-9", 10) == (0, 9)
    assert code_of(p.copy_range, "bytes=5-10", 10) == "InvalidRange"
    assert code_of(p.copy_range, "bytes=5-", 10) == "InvalidArgument"


def test_multipart_etag_is_s3s() -> None:
    parts = [b"a" * (5 << 20), b"b" * 100]
    md5s = [hashlib.md5(x).hexdigest() for x in parts]  # noqa: S324
    expected = hashlib.md5(b"".join(hashlib.md5(x).digest() for x in parts)  # noqa: S324
                           ).hexdigest() + "-2"
    assert p.multipart_etag(md5s) == expected
    assert p.multipart_etag([f'"{m}"' for m in md5s]) == expected


def test_content_md5() -> None:
    digest = hashlib.md5(b"x").digest()  # noqa: S324
    assert p.content_md5(base64.b64encode(digest).decode()) == digest.hex()
    assert p.content_md5(None) is None
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        assert code_of(p.content_md5, bad) == "InvalidDigest"
