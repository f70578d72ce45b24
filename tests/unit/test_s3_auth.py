"""The S3 signature checks against requests signed by botocore itself: boto3's
real client (SigV4 and V2, captured just before they would be sent), botocore's
presigners, and AWS's published streaming-upload example. Each accepted request
is then tampered with (secret, header, path, query, clock, body, chunk) and must
be refused with S3's own error code."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.auth import HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from overcast.identity.credentials import Ec2Secret
from overcast.kit import awssig
from overcast.kit.context import RequestContext
from overcast.kit.errors import Unauthorized
from overcast.object.s3.auth import S3Authenticator, SignedRequest
from overcast.object.s3.chunked import ChunkedDecoder, ChunkSigning
from overcast.object.s3.errors import S3Error

ENDPOINT = "http://127.0.0.1:8080/object/s3"
ACCESS, SECRET = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"


@dataclass
class FakeIdentity:
    """identity's public EC2 functions, over a dict of key pairs."""

    secrets: dict[str, str] = field(default_factory=lambda: {ACCESS: SECRET})
    gen: int = 1
    denied: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)

    def ec2_secret(self, access: str) -> Ec2Secret | None:
        if access not in self.secrets:
            return None
        return Ec2Secret(access=access, secret=self.secrets[access], user_id="u-" + access,
                         project_id="p-" + access)

    def ec2_token(self, cred: Ec2Secret) -> tuple[str, Any]:
        if cred.access in self.denied:
            raise Unauthorized("User not valid for project.")
        self.issued.append(cred.access)
        return f"tok-{cred.access}-{len(self.issued)}", None

    def context_for(self, token: str, request_id: str = "") -> RequestContext:
        access = token.split("-")[1]
        return RequestContext(request_id=request_id, user_id="u-" + access,
                              project_id="p-" + access, roles=["member"], auth_token=token,
                              expires_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)
                              + dt.timedelta(hours=1))

    def generation(self) -> int:
        return self.gen


class Captured(Exception):
    pass


def client(signature_version: str = "s3v4", secret: str = SECRET, **s3: Any) -> Any:
    c = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS,
                     aws_secret_access_key=secret, region_name="RegionOne",
                     config=Config(signature_version=signature_version,
                                   s3={"addressing_style": "path", **s3},
                                   retries={"max_attempts": 0}))
    return c


def capture(c: Any, call: Callable[[Any], Any]) -> tuple[SignedRequest, bytes]:
    """The request boto3 would send for `call`, as the server would see it."""
    seen: list[Any] = []

    def before_send(request: Any, **_: Any) -> None:
        seen.append(request)
        raise Captured

    c.meta.events.register("before-send", before_send)
    with pytest.raises(Captured):
        call(c)
    return wire(seen[-1])


def wire(request: Any) -> tuple[SignedRequest, bytes]:
    url = urllib.parse.urlsplit(request.url)
    headers = [("host", url.netloc)]
    for k, v in request.headers.items():
        headers.append((k.lower(), v.decode() if isinstance(v, bytes) else str(v)))
    body = request.body
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    else:
        data = body.read()
    return SignedRequest(method=request.method, path=url.path, query=url.query,
                         headers=tuple(headers)), data


def presigned(url: str, method: str = "GET") -> SignedRequest:
    u = urllib.parse.urlsplit(url)
    return SignedRequest(method=method, path=u.path, query=u.query,
                         headers=(("host", u.netloc),))


def refused(auth: S3Authenticator, req: SignedRequest, **kw: Any) -> S3Error:
    with pytest.raises(S3Error) as exc:
        auth.authenticate(req, **kw)
    return exc.value


def with_header(req: SignedRequest, name: str, value: str) -> SignedRequest:
    kept = tuple((k, v) for k, v in req.headers if k != name)
    return SignedRequest(req.method, req.path, req.query, (*kept, (name, value)))


@pytest.fixture
def ident() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture
def auth(ident: FakeIdentity) -> S3Authenticator:
    return S3Authenticator(ident)


PUT = lambda c: c.put_object(Bucket="photos", Key="a b/c+d é.jpg", Body=b"hello",  # noqa: E731
                             Metadata={"colour": "blue"})
LIST = lambda c: c.list_objects_v2(Bucket="photos", Prefix="x y/", Delimiter="/")  # noqa: E731
UPLOADS = lambda c: c.create_multipart_upload(Bucket="photos", Key="big")  # noqa: E731
PART = lambda c: c.upload_part(Bucket="photos", Key="big", PartNumber=2,  # noqa: E731
                               UploadId="u/1+2", Body=b"part")
COPY = lambda c: c.copy_object(Bucket="photos", Key="copy",  # noqa: E731
                               CopySource={"Bucket": "src", "Key": "a b"})
DELETE_MANY = lambda c: c.delete_objects(Bucket="photos", Delete={  # noqa: E731
    "Objects": [{"Key": "a"}, {"Key": "b c"}]})
CALLS = [PUT, LIST, UPLOADS, PART, COPY, DELETE_MANY]
CALL_IDS = ["put", "list", "uploads", "part", "copy", "delete-objects"]


# ------------------------------------------------------------------ SigV4
@pytest.mark.parametrize("call", CALLS, ids=CALL_IDS)
def test_boto3_sigv4_requests_are_accepted(auth: S3Authenticator, call: Any) -> None:
    req, body = capture(client(), call)
    caller = auth.authenticate(req, request_id="req-1")
    assert caller is not None and caller.access_key == ACCESS
    ctx = caller.context
    assert (ctx.user_id, ctx.project_id, ctx.request_id) == (
        f"u-{ACCESS}", f"p-{ACCESS}", "req-1")
    check = caller.payload_check()
    assert check is not None  # boto3 signs the body's SHA-256 over plain HTTP
    check.update(body)
    check.finish()


def test_a_signed_body_that_differs_is_refused(auth: S3Authenticator) -> None:
    req, _ = capture(client(), PUT)
    caller = auth.authenticate(req)
    assert caller is not None
    check = caller.payload_check()
    assert check is not None
    check.update(b"HELLO")
    with pytest.raises(S3Error) as exc:
        check.finish()
    assert exc.value.s3_code == "XAmzContentSHA256Mismatch" and exc.value.status == 400


def test_wrong_secret_is_signature_does_not_match(auth: S3Authenticator) -> None:
    req, _ = capture(client(secret="not-the-secret"), PUT)
    e = refused(auth, req)
    assert (e.s3_code, e.status) == ("SignatureDoesNotMatch", 403)
    assert e.fields["AWSAccessKeyId"] == ACCESS
    assert e.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert SECRET not in str(e.fields)


def test_unknown_access_key_is_invalid_access_key_id(auth: S3Authenticator,
                                                     ident: FakeIdentity) -> None:
    req, _ = capture(client(), LIST)
    ident.secrets = {}
    ident.gen += 1
    e = refused(auth, req)
    assert (e.s3_code, e.status) == ("InvalidAccessKeyId", 403)


@pytest.mark.parametrize("tamper", [
    lambda r: SignedRequest(r.method, r.path + "x", r.query, r.headers),
    lambda r: SignedRequest(r.method, r.path.replace("photos", "other"), r.query, r.headers),
    lambda r: SignedRequest(r.method, r.path, r.query.replace("x%20y", "z"), r.headers),
    lambda r: SignedRequest(r.method, r.path, r.query + "&max-keys=1", r.headers),
    lambda r: SignedRequest("DELETE", r.path, r.query, r.headers),
    lambda r: with_header(r, "host", "evil.example:8080"),
], ids=["path", "bucket", "query-value", "query-added", "method", "host"])
def test_a_changed_request_is_refused(auth: S3Authenticator, tamper: Any) -> None:
    req, _ = capture(client(), LIST)
    assert auth.authenticate(req) is not None
    assert refused(auth, tamper(req)).s3_code == "SignatureDoesNotMatch"


def test_changed_or_added_amz_headers_are_refused(auth: S3Authenticator) -> None:
    req, _ = capture(client(), PUT)
    changed = with_header(req, "x-amz-meta-colour", "red")
    assert refused(auth, changed).s3_code == "SignatureDoesNotMatch"
    added = with_header(req, "x-amz-copy-source", "/secret/key")
    e = refused(auth, added)
    assert (e.s3_code, e.fields.get("HeadersNotSigned")) == ("AccessDenied",
                                                              "x-amz-copy-source")


def test_a_skewed_clock_is_request_time_too_skewed(ident: FakeIdentity) -> None:
    req, _ = capture(client(), LIST)
    for skew in (-3600, 3600):
        auth = S3Authenticator(ident, clock=lambda s=skew: dt.datetime.now(  # type: ignore[misc]
            dt.UTC).timestamp() + s)
        e = refused(auth, req)
        assert (e.s3_code, e.status) == ("RequestTimeTooSkewed", 403)
    assert S3Authenticator(ident, clock=lambda: dt.datetime.now(
        dt.UTC).timestamp() + 600).authenticate(req) is not None


def test_missing_content_sha256_is_invalid_request(auth: S3Authenticator) -> None:
    req, _ = capture(client(), LIST)
    stripped = SignedRequest(req.method, req.path, req.query,
                             tuple((k, v) for k, v in req.headers
                                   if k != "x-amz-content-sha256"))
    e = refused(auth, stripped)
    assert e.s3_code == "InvalidRequest" and "x-amz-content-sha256" in e.message


def test_unsigned_payload_is_accepted_without_a_body_check(auth: S3Authenticator) -> None:
    creds = Credentials(ACCESS, SECRET)
    req = AWSRequest(method="PUT", url=f"{ENDPOINT}/photos/k", data=b"body",
                     headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    signer = S3SigV4Auth(creds, "s3", "RegionOne")
    signer.payload = lambda request: "UNSIGNED-PAYLOAD"  # type: ignore[method-assign]
    signer.add_auth(req)
    sreq, _ = wire(req.prepare())
    caller = auth.authenticate(sreq)
    assert caller is not None and caller.payload == "UNSIGNED-PAYLOAD"
    assert caller.payload_check() is None and caller.body_decoder() is None


def test_the_token_is_reused_until_the_generation_moves(auth: S3Authenticator,
                                                         ident: FakeIdentity) -> None:
    req, _ = capture(client(), LIST)
    for _ in range(3):
        auth.authenticate(req)
    assert len(ident.issued) == 1
    ident.gen += 1
    auth.authenticate(req)
    assert len(ident.issued) == 2


def test_a_user_without_access_any_more_is_access_denied(auth: S3Authenticator,
                                                         ident: FakeIdentity) -> None:
    req, _ = capture(client(), LIST)
    ident.denied.add(ACCESS)
    e = refused(auth, req)
    assert (e.s3_code, e.status) == ("AccessDenied", 403)


def test_anonymous_and_unknown_schemes(auth: S3Authenticator) -> None:
    assert auth.authenticate(SignedRequest("GET", "/object/s3/public/k")) is None
    e = refused(auth, SignedRequest("GET", "/object/s3/b", headers=(
        ("authorization", "Bearer abc"),)))
    assert e.s3_code == "InvalidArgument"
    e = refused(auth, SignedRequest("GET", "/object/s3/b", headers=(
        ("authorization", "AWS4-HMAC-SHA256 Credential=x"),
        ("x-amz-date", "20261207T000000Z"))))
    assert e.s3_code == "AuthorizationHeaderMalformed"


# ------------------------------------------------------- SigV4 presigned URLs
def test_boto3_presigned_urls_work_until_they_expire(ident: FakeIdentity) -> None:
    url = client().generate_presigned_url(
        "get_object", Params={"Bucket": "photos", "Key": "a b/é+x.jpg"}, ExpiresIn=60)
    req = presigned(url)
    now = dt.datetime.now(dt.UTC).timestamp()
    caller = S3Authenticator(ident, clock=lambda: now).authenticate(req)
    assert caller is not None and caller.payload == "UNSIGNED-PAYLOAD"
    late = S3Authenticator(ident, clock=lambda: now + 120)
    e = refused(late, req)
    assert (e.s3_code, e.message) == ("AccessDenied", "Request has expired")
    early = S3Authenticator(ident, clock=lambda: now - 3600)
    assert refused(early, req).s3_code == "AccessDenied"


def test_presigned_put_with_botocore_query_signer(auth: S3Authenticator) -> None:
    req = AWSRequest(method="PUT", url=f"{ENDPOINT}/photos/up%20load.bin")
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", "RegionOne", expires=300).add_auth(req)
    sreq = presigned(req.url, "PUT")
    assert auth.authenticate(sreq) is not None
    assert refused(auth, SignedRequest("GET", sreq.path, sreq.query,
                                       sreq.headers)).s3_code == "SignatureDoesNotMatch"
    forged = sreq.query.replace("X-Amz-Expires=300", "X-Amz-Expires=3000")
    assert refused(auth, SignedRequest("PUT", sreq.path, forged,
                                       sreq.headers)).s3_code == "SignatureDoesNotMatch"
    too_long = sreq.query.replace("X-Amz-Expires=300", "X-Amz-Expires=999999")
    assert refused(auth, SignedRequest("PUT", sreq.path, too_long, sreq.headers)
                   ).s3_code == "AuthorizationQueryParametersError"


def test_presigned_with_the_wrong_secret(auth: S3Authenticator) -> None:
    url = client(secret="wrong").generate_presigned_url(
        "get_object", Params={"Bucket": "photos", "Key": "k"})
    assert refused(auth, presigned(url)).s3_code == "SignatureDoesNotMatch"


# --------------------------------------------------------------------- V2
@pytest.mark.parametrize("call", CALLS, ids=CALL_IDS)
def test_boto3_v2_requests_are_accepted(auth: S3Authenticator, call: Any) -> None:
    req, _ = capture(client("s3"), call)
    caller = auth.authenticate(req)
    assert caller is not None and caller.context.project_id == f"p-{ACCESS}"
    assert caller.payload_check() is None


def test_v2_refusals(auth: S3Authenticator, ident: FakeIdentity) -> None:
    req, _ = capture(client("s3", secret="wrong"), PUT)
    assert refused(auth, req).s3_code == "SignatureDoesNotMatch"
    req, _ = capture(client("s3"), PUT)
    assert refused(auth, with_header(req, "x-amz-meta-colour", "red")
                   ).s3_code == "SignatureDoesNotMatch"
    assert refused(auth, with_header(req, "content-type", "text/evil")
                   ).s3_code == "SignatureDoesNotMatch"
    assert refused(auth, SignedRequest(req.method, req.path + "x", req.query, req.headers)
                   ).s3_code == "SignatureDoesNotMatch"
    up, _ = capture(client("s3"), UPLOADS)
    assert refused(auth, SignedRequest(up.method, up.path, "uploadId=1", up.headers)
                   ).s3_code == "SignatureDoesNotMatch"
    skewed = S3Authenticator(ident, clock=lambda: dt.datetime.now(dt.UTC).timestamp() + 3600)
    assert refused(skewed, req).s3_code == "RequestTimeTooSkewed"


def test_v2_presigned_urls_expire(ident: FakeIdentity) -> None:
    req = AWSRequest(method="GET", url=f"{ENDPOINT}/photos/a%20b.jpg")
    HmacV1QueryAuth(Credentials(ACCESS, SECRET), expires=60).add_auth(req)
    now = dt.datetime.now(dt.UTC).timestamp()
    sreq = presigned(req.url)
    assert S3Authenticator(ident, clock=lambda: now).authenticate(sreq) is not None
    e = refused(S3Authenticator(ident, clock=lambda: now + 120), sreq)
    assert (e.s3_code, e.message) == ("AccessDenied", "Request has expired")
    url = client("s3").generate_presigned_url("get_object",
                                              Params={"Bucket": "photos", "Key": "k é"})
    assert S3Authenticator(ident).authenticate(presigned(url)) is not None
    bad = presigned(url.replace("photos", "other"))
    assert refused(S3Authenticator(ident), bad).s3_code == "SignatureDoesNotMatch"


# ----------------------------------------------- streaming (aws-chunked) uploads
# AWS's published example of a signed streaming PUT: 66560 bytes of 'a' in chunks
# of 65536, 1024 and 0 bytes, with the signatures AWS lists.
EX_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EX_ACCESS = "AKIAIOSFODNN7EXAMPLE"
EX_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
EX_CHUNKS = [(65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
             (1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
             (0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")]
EX_TIME = dt.datetime(2013, 5, 24, tzinfo=dt.UTC).timestamp()


def example_body(corrupt: bool = False) -> bytes:
    out = io.BytesIO()
    for size, sig in EX_CHUNKS:
        data = bytearray(b"a" * size)
        if corrupt and size == 1024:
            data[10] = ord("b")
        out.write(f"{size:x};chunk-signature={sig}\r\n".encode() + bytes(data) + b"\r\n")
    return out.getvalue()


def example_request() -> SignedRequest:
    auth = (f"AWS4-HMAC-SHA256 Credential={EX_ACCESS}/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;"
            f"x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature={EX_SEED}")
    return SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", (
        ("host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("authorization", auth),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824")))


def example_caller() -> Any:
    ident = FakeIdentity(secrets={EX_ACCESS: EX_SECRET})
    caller = S3Authenticator(ident, clock=lambda: EX_TIME + 5).authenticate(example_request())
    assert caller is not None and caller.chunked
    return caller


@pytest.mark.parametrize("piece", [1, 7, 4096, 70000])
def test_awss_streaming_example_decodes_in_any_pieces(piece: int) -> None:
    decoder = example_caller().body_decoder(66560)
    assert decoder is not None
    body, out = example_body(), bytearray()
    for i in range(0, len(body), piece):
        for part in decoder.feed(body[i:i + piece]):
            out += part
    decoder.finish()
    assert bytes(out) == b"a" * 66560 and len(body) == 66824


def test_a_chunk_that_does_not_match_its_signature_is_refused() -> None:
    decoder = example_caller().body_decoder(66560)
    with pytest.raises(S3Error) as exc:
        decoder.feed(example_body(corrupt=True))
    assert exc.value.s3_code == "SignatureDoesNotMatch"


def test_chunks_reordered_or_truncated_are_refused() -> None:
    body = example_body()
    first = body.index(b"\r\n400;")
    # The 1024-byte chunk moved before the 65536-byte one breaks the chain.
    swapped = body[first + 2:body.index(b"\r\n0;") + 2] + body[:first + 2]
    with pytest.raises(S3Error):
        example_caller().body_decoder().feed(swapped)
    decoder = example_caller().body_decoder(66560)
    decoder.feed(body[:-40])
    with pytest.raises(S3Error) as exc:
        decoder.finish()
    assert exc.value.s3_code == "IncompleteBody"
    short = example_caller().body_decoder(66561)
    short.feed(body)
    with pytest.raises(S3Error):
        short.finish()


def test_the_example_request_itself_is_checked() -> None:
    ident = FakeIdentity(secrets={EX_ACCESS: "other"})
    with pytest.raises(S3Error) as exc:
        S3Authenticator(ident, clock=lambda: EX_TIME).authenticate(example_request())
    assert exc.value.s3_code == "SignatureDoesNotMatch"


def test_our_own_chunk_signer_roundtrip_and_unsigned_trailer() -> None:
    key = awssig.signing_key(SECRET, "20261207", "RegionOne", "s3")
    signing = ChunkSigning(key, "20261207T000000Z", "20261207/RegionOne/s3/aws4_request",
                           "seed")
    # Unsigned aws-chunked with a checksum trailer (newer SDKs).
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"
    dec = ChunkedDecoder(None, trailer=True, decoded_length=5)
    assert b"".join(dec.feed(body)) == b"hello"
    dec.finish()
    assert dec.trailers == {"x-amz-checksum-crc32": "NhCmhg=="}
    # A signed decoder refuses chunks that carry no signature.
    with pytest.raises(S3Error):
        ChunkedDecoder(signing).feed(b"5\r\nhello\r\n")
    with pytest.raises(S3Error):
        ChunkedDecoder(None).feed(b"zz\r\n")
    assert hashlib.sha256(b"").hexdigest() == awssig.EMPTY_SHA256


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_virtual_host_style(ident: FakeIdentity, version: str) -> None:
    c = boto3.client("s3", endpoint_url="http://s3.example:8080", aws_access_key_id=ACCESS,
                     aws_secret_access_key=SECRET, region_name="RegionOne",
                     config=Config(signature_version=version,
                                   s3={"addressing_style": "virtual"},
                                   retries={"max_attempts": 0}))
    req, _ = capture(c, lambda cl: cl.get_object(Bucket="photos", Key="a b.jpg"))
    assert req.header("host") == "photos.s3.example:8080" and req.path == "/a%20b.jpg"
    auth = S3Authenticator(ident, mount="")
    assert auth.authenticate(req, host_bucket="photos") is not None
    if version == "s3":
        assert refused(auth, req).s3_code == "SignatureDoesNotMatch"
        assert refused(auth, req, host_bucket="other").s3_code == "SignatureDoesNotMatch"


# ------------------------------------------------------------- verified bodies
async def _stream(body: bytes, piece: int) -> Any:
    for i in range(0, len(body), piece):
        yield body[i:i + piece]


async def _drain(it: Any) -> bytes:
    out = bytearray()
    async for part in it:
        out += part
    return bytes(out)


@pytest.mark.asyncio
async def test_verified_body_for_each_payload_kind(auth: S3Authenticator) -> None:
    from overcast.object.s3.body import verified_body

    req, body = capture(client(), PUT)
    caller = auth.authenticate(req)
    assert await _drain(verified_body(_stream(body, 2), caller)) == b"hello"
    with pytest.raises(S3Error) as exc:
        await _drain(verified_body(_stream(b"HELLO", 2), caller))
    assert exc.value.s3_code == "XAmzContentSHA256Mismatch"
    # Anonymous or unsigned: passed through as it came.
    assert await _drain(verified_body(_stream(b"abc", 1), None)) == b"abc"
    chunked = example_caller()
    headers = {"x-amz-decoded-content-length": "66560"}
    got = await _drain(verified_body(_stream(example_body(), 1000), chunked, headers))
    assert got == b"a" * 66560
    with pytest.raises(S3Error):
        await _drain(verified_body(_stream(example_body(corrupt=True), 1000), chunked,
                                   headers))
    with pytest.raises(S3Error):
        await _drain(verified_body(_stream(example_body(), 1000), chunked,
                                   {"x-amz-decoded-content-length": "5"}))


def _signed_trailer_body(signing: ChunkSigning, data: bytes, trailer: str,
                         forge: bool = False) -> bytes:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER body, signed as AWS documents it."""
    import hmac as _hmac

    def sig(kind: str, prev: str, digest: str, extra: tuple[str, ...] = ()) -> str:
        sts = "\n".join((kind, signing.amz_date, signing.scope, prev, *extra, digest))
        return _hmac.new(signing.key, sts.encode(), hashlib.sha256).hexdigest()

    s1 = sig("AWS4-HMAC-SHA256-PAYLOAD", signing.seed, hashlib.sha256(data).hexdigest(),
             (awssig.EMPTY_SHA256,))
    s0 = sig("AWS4-HMAC-SHA256-PAYLOAD", s1, awssig.EMPTY_SHA256, (awssig.EMPTY_SHA256,))
    block = trailer + "\n"
    st = sig("AWS4-HMAC-SHA256-TRAILER", s0, hashlib.sha256(block.encode()).hexdigest())
    if forge:
        block = trailer.replace("A", "B") + "\n"
    return (f"{len(data):x};chunk-signature={s1}\r\n".encode() + data + b"\r\n"
            + f"0;chunk-signature={s0}\r\n".encode()
            + block.replace("\n", "\r\n").encode()
            + f"x-amz-trailer-signature:{st}\r\n\r\n".encode())


def test_signed_trailers() -> None:
    key = awssig.signing_key(SECRET, "20261207", "RegionOne", "s3")
    signing = ChunkSigning(key, "20261207T000000Z", "20261207/RegionOne/s3/aws4_request",
                           "seed" * 16)
    body = _signed_trailer_body(signing, b"hello", "x-amz-checksum-crc32:NhCmhgA=")
    dec = ChunkedDecoder(signing, trailer=True, decoded_length=5)
    assert b"".join(dec.feed(body)) == b"hello"
    dec.finish()
    forged = _signed_trailer_body(signing, b"hello", "x-amz-checksum-crc32:NhCmhgA=",
                                  forge=True)
    with pytest.raises(S3Error):
        ChunkedDecoder(signing, trailer=True).feed(forged)
    unsigned_trailer = body[:body.index(b"x-amz-trailer-signature")] + b"\r\n"
    dec = ChunkedDecoder(signing, trailer=True)
    dec.feed(unsigned_trailer)
    with pytest.raises(S3Error):
        dec.finish()
