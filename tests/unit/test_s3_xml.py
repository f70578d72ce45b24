"""S3's XML documents as boto3 reads them: each result document is parsed with
botocore's own rest-xml parser and S3 service model (what `boto3.client("s3")`
does with a response), and the request parsers take what boto3 serialises."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

import botocore.session
import pytest
from botocore import parsers
from botocore.serialize import create_serializer

from overcast.object.s3 import errors as err
from overcast.object.s3 import xml as s3xml
from overcast.object.s3.errors import S3Error

SESSION = botocore.session.get_session()
MODEL = SESSION.get_service_model("s3")
WHEN = dt.datetime(2026, 12, 7, 4, 30, 1, 123456)
OWNER = s3xml.Owner("0f1e2d3c", "alice")


def boto_parse(operation: str, body: bytes, status: int = 200,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    op = MODEL.operation_model(operation)
    parser = parsers.create_parser("rest-xml")
    return parser.parse({"body": body, "headers": headers or {}, "status_code": status},
                        op.output_shape)  # type: ignore[no-any-return]


def boto_body(operation: str, params: dict[str, Any]) -> bytes:
    """The body boto3 sends for an operation."""
    op = MODEL.operation_model(operation)
    req = create_serializer("rest-xml").serialize_to_request(params, op)
    body = req["body"]
    return body if isinstance(body, bytes) else body.encode()


def test_error_document_as_boto3_reads_it() -> None:
    body = s3xml.error_document(err.no_such_key("a/b"), "/photos/a/b", "tx123")
    parsed = boto_parse("GetObject", body, status=404)
    assert parsed["Error"]["Code"] == "NoSuchKey"
    assert parsed["Error"]["Message"] == "The specified key does not exist."
    root = ET.fromstring(body)
    assert root.findtext("RequestId") == "tx123"
    assert root.tag == "Error" and root.findtext("Key") == "a/b"
    assert root.findtext("Resource") == "/photos/a/b"


def test_signature_error_carries_what_was_signed_escaped() -> None:
    e = err.signature_mismatch("AK", "AWS4-HMAC-SHA256\n<&>", "GET\n/")
    root = ET.fromstring(s3xml.error_document(e))
    assert root.findtext("Code") == "SignatureDoesNotMatch"
    assert root.findtext("StringToSign") == "AWS4-HMAC-SHA256\n<&>"
    assert root.findtext("AWSAccessKeyId") == "AK"


def test_list_buckets() -> None:
    body = s3xml.list_buckets(OWNER, [s3xml.Bucket("photos", WHEN),
                                      s3xml.Bucket("b2", WHEN)])
    parsed = boto_parse("ListBuckets", body)
    assert [b["Name"] for b in parsed["Buckets"]] == ["photos", "b2"]
    assert parsed["Buckets"][0]["CreationDate"] == WHEN.replace(
        microsecond=123000, tzinfo=dt.UTC)
    assert parsed["Owner"] == {"ID": "0f1e2d3c", "DisplayName": "alice"}


def _page(**kw: Any) -> s3xml.Listing:
    objects = [s3xml.ObjectEntry("a b/c+d é", WHEN, "d41d8cd98f00b204e9800998ecf8427e", 0,
                                 owner=OWNER),
               s3xml.ObjectEntry("x&y<z>", WHEN, '"abc-2"', 1 << 40)]
    return s3xml.Listing(bucket="photos", objects=objects, common_prefixes=["dir/"], **kw)


@pytest.mark.parametrize("encoding", [None, "url"])
def test_list_objects_v2(encoding: str | None) -> None:
    body = s3xml.list_objects_v2(_page(prefix="", delimiter="/", max_keys=2,
                                       is_truncated=True, encoding_type=encoding),
                                 continuation_token="t1", next_token="t2",
                                 start_after="a", fetch_owner=True)
    parsed = boto_parse("ListObjectsV2", body)
    if encoding:
        # boto3 decodes url-encoded listings itself (a handler after parsing).
        from botocore.handlers import decode_list_object_v2
        decode_list_object_v2(parsed, context={"encoding_type_auto_set": True})
    keys = [c["Key"] for c in parsed["Contents"]]
    assert keys == ["a b/c+d é", "x&y<z>"]
    assert parsed["Contents"][0]["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert parsed["Contents"][1]["ETag"] == '"abc-2"'
    assert parsed["Contents"][1]["Size"] == 1 << 40
    assert parsed["Contents"][0]["Owner"]["ID"] == "0f1e2d3c"
    assert parsed["CommonPrefixes"] == [{"Prefix": "dir/"}]
    assert parsed["KeyCount"] == 3 and parsed["IsTruncated"] is True
    assert (parsed["ContinuationToken"], parsed["NextContinuationToken"]) == ("t1", "t2")
    assert parsed["Contents"][0]["LastModified"].year == 2026


def test_list_objects_v1_markers() -> None:
    body = s3xml.list_objects(_page(delimiter="/", is_truncated=True), marker="m",
                              next_marker="x&y<z>")
    parsed = boto_parse("ListObjects", body)
    assert (parsed["Marker"], parsed["NextMarker"]) == ("m", "x&y<z>")
    assert parsed["Delimiter"] == "/" and parsed["MaxKeys"] == 1000
    plain = boto_parse("ListObjects", s3xml.list_objects(_page()))
    assert "NextMarker" not in plain and plain["IsTruncated"] is False


def test_multipart_documents() -> None:
    parsed = boto_parse("CreateMultipartUpload", s3xml.initiate_multipart("b", "k", "u-1"))
    assert (parsed["Bucket"], parsed["Key"], parsed["UploadId"]) == ("b", "k", "u-1")
    parsed = boto_parse("CompleteMultipartUpload", s3xml.complete_multipart(
        "http://h/object/s3/b/k", "b", "k", "abcd-3"))
    assert parsed["ETag"] == '"abcd-3"' and parsed["Location"].endswith("/b/k")
    parts = [s3xml.Part(1, WHEN, "e1", 5 << 20), s3xml.Part(2, WHEN, "e2", 7)]
    parsed = boto_parse("ListParts", s3xml.list_parts("b", "k", "u-1", parts, owner=OWNER,
                                                      max_parts=2, is_truncated=True))
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parsed["Parts"]] == [
        (1, '"e1"', 5 << 20), (2, '"e2"', 7)]
    assert parsed["NextPartNumberMarker"] == 2 and parsed["IsTruncated"] is True
    assert parsed["Initiator"]["ID"] == OWNER.id
    uploads = [s3xml.Upload("k1", "u-1", WHEN, OWNER), s3xml.Upload("k2", "u-2", WHEN)]
    parsed = boto_parse("ListMultipartUploads", s3xml.list_multipart_uploads(
        "b", uploads, prefix="k", max_uploads=2, is_truncated=True))
    assert [u["UploadId"] for u in parsed["Uploads"]] == ["u-1", "u-2"]
    assert (parsed["NextKeyMarker"], parsed["NextUploadIdMarker"]) == ("k2", "u-2")


def test_copy_delete_and_bucket_documents() -> None:
    parsed = boto_parse("CopyObject", s3xml.copy_object("e", WHEN))
    assert parsed["CopyObjectResult"]["ETag"] == '"e"'
    parsed = boto_parse("UploadPartCopy", s3xml.copy_part("e", WHEN))
    assert parsed["CopyPartResult"]["ETag"] == '"e"'
    parsed = boto_parse("DeleteObjects", s3xml.delete_result(
        ["a", "b"], [s3xml.DeleteFailure("c", "AccessDenied", "Access Denied")]))
    assert [d["Key"] for d in parsed["Deleted"]] == ["a", "b"]
    assert parsed["Errors"] == [{"Key": "c", "Code": "AccessDenied",
                                 "Message": "Access Denied"}]
    assert "Deleted" not in boto_parse("DeleteObjects", s3xml.delete_result(["a"], quiet=True))
    # boto3 reads the location from the raw body (a handler of its own).
    from botocore.handlers import parse_get_bucket_location

    class Raw:
        raw = b""
        content = s3xml.location("RegionOne")

    parsed: dict[str, Any] = {}
    parse_get_bucket_location(parsed, Raw())
    assert parsed["LocationConstraint"] == "RegionOne"
    parsed = {}
    Raw.content = s3xml.location("us-east-1")
    parse_get_bucket_location(parsed, Raw())
    assert parsed["LocationConstraint"] is None
    assert boto_parse("GetBucketVersioning", s3xml.versioning("Enabled"))["Status"] == \
        "Enabled"
    assert "Status" not in boto_parse("GetBucketVersioning", s3xml.versioning(None))
    parsed = boto_parse("GetBucketAcl", s3xml.acl(OWNER, "public-read"))
    perms = [(g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"])
             for g in parsed["Grants"]]
    assert perms == [(OWNER.id, "FULL_CONTROL"), (s3xml.ALL_USERS, "READ")]


def test_parsers_take_what_boto3_sends() -> None:
    body = boto_body("CompleteMultipartUpload", {
        "Bucket": "b", "Key": "k", "UploadId": "u",
        "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"e1"'},
                                      {"PartNumber": 2, "ETag": '"e2"'}]}})
    assert s3xml.parse_complete_multipart(body) == [(1, "e1"), (2, "e2")]
    body = boto_body("DeleteObjects", {"Bucket": "b", "Delete": {
        "Objects": [{"Key": "a b"}, {"Key": "x&y"}], "Quiet": True}})
    assert s3xml.parse_delete(body) == (["a b", "x&y"], True)
    body = boto_body("CreateBucket", {"Bucket": "b", "CreateBucketConfiguration": {
        "LocationConstraint": "RegionOne"}})
    assert s3xml.parse_create_bucket(body) == "RegionOne"
    assert s3xml.parse_create_bucket(b"") is None
    body = boto_body("PutBucketVersioning", {"Bucket": "b", "VersioningConfiguration": {
        "Status": "Suspended"}})
    assert s3xml.parse_versioning(body) == "Suspended"


@pytest.mark.parametrize("body", [
    b"", b"<nope", b"<Other/>",
    b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part>"
    b"</CompleteMultipartUpload>",
    b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<CompleteMultipartUpload>&b;</CompleteMultipartUpload>",
])
def test_malformed_bodies_are_malformed_xml(body: bytes) -> None:
    with pytest.raises(S3Error) as exc:
        s3xml.parse_complete_multipart(body)
    assert exc.value.s3_code == "MalformedXML" and exc.value.status == 400


def test_parts_out_of_order_and_too_many_keys() -> None:
    body = (b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part>"
            b"<Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>")
    with pytest.raises(S3Error) as exc:
        s3xml.parse_complete_multipart(body)
    assert exc.value.s3_code == "InvalidPartOrder"
    many = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"
    with pytest.raises(S3Error):
        s3xml.parse_delete(many)


def test_times() -> None:
    assert s3xml.iso_time(WHEN) == "2026-12-07T04:30:01.123Z"
    assert s3xml.http_time(WHEN) == "Mon, 07 Dec 2026 04:30:01 GMT"


def test_the_apps_error_handler_answers_s3_paths_in_s3s_xml() -> None:
    """An S3Error (or any refusal) raised under an "s3"-style prefix reaches the
    client as S3's <Error> document, which boto3 reads."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from overcast.kit.errors import BadRequest
    from overcast.kit.web import RequestIdAndLogMiddleware, install_error_handlers

    app = FastAPI()
    app.state.error_styles = [("/object/s3", "s3"), ("/object", "swift")]

    @app.get("/object/s3/{bucket}")
    async def bucket(bucket: str) -> None:
        raise err.no_such_bucket(bucket)

    @app.get("/object/s3/{bucket}/{key}")
    async def key(bucket: str, key: str) -> None:
        raise BadRequest("max-keys must be an integer <b>")

    install_error_handlers(app)
    app.add_middleware(RequestIdAndLogMiddleware)
    client = TestClient(app)
    r = client.get("/object/s3/photos")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/xml")
    parsed = boto_parse("ListObjectsV2", r.content, status=404)
    assert parsed["Error"] == {"Code": "NoSuchBucket", "BucketName": "photos",
                               "Message": "The specified bucket does not exist."}
    assert ET.fromstring(r.content).findtext("RequestId") == r.headers[
        "x-openstack-request-id"]
    r = client.get("/object/s3/photos/k")
    assert r.status_code == 400
    assert boto_parse("GetObject", r.content, status=400)["Error"]["Code"] == \
        "InvalidRequest"
