"""Who is calling the S3 API: the request's AWS signature checked against the
secret of a Keystone EC2 credential, as Swift's s3api with s3token (or Keystone's
ec2tokens) does it, but in process.

`S3Authenticator.authenticate(SignedRequest)` recognises the four ways a client
signs (SigV4 `Authorization` header, SigV4 presigned query, V2 `Authorization:
AWS key:sig`, V2 presigned query with `Expires`), finds the secret through
identity's public functions (`ec2_secret`, `ec2_token`: never its tables),
recomputes the signature, checks the clock (15 minutes of skew; a presigned URL
until its expiry) and returns an `S3Caller`: the RequestContext of the
credential's user on the credential's project, and how the body must be checked
(`payload_check()`, `body_decoder()`), since the signature covers a body that
has not arrived yet. A request with no signature at all is anonymous (None): the
routes decide (public-read buckets). Failures are S3's errors (errors.py).

What a key pair resolves to (its secret, its daily SigV4 signing key, the context
of its token) is cached per identity generation, which identity bumps whenever
a credential, user, project, role assignment or token revocation changes
anything, so a deleted key pair stops working at once in every process; a
cached request costs two HMACs and a SHA-256.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import email.utils
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from overcast.kit import awssig
from overcast.kit.context import RequestContext
from overcast.kit.errors import OvercastError
from overcast.object.s3 import errors as err
from overcast.object.s3 import sigv2, sigv4
from overcast.object.s3.chunked import ChunkedDecoder, ChunkSigning, PayloadHash

if TYPE_CHECKING:
    from overcast.identity.auth import TokenInfo
    from overcast.identity.credentials import Ec2Secret

#: How far a signed request's clock may be from ours (AWS's 15 minutes).
MAX_SKEW = 900
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
#: Entries kept in the key-pair cache before it is dropped whole.
CACHE_MAX = 10000


class CredentialSource(Protocol):
    """What the S3 API needs from identity (IdentityService provides it)."""

    def ec2_secret(self, access: str) -> Ec2Secret | None: ...
    def ec2_token(self, cred: Ec2Secret) -> tuple[str, TokenInfo]: ...
    def context_for(self, token: str, request_id: str = "") -> RequestContext: ...
    def generation(self) -> int: ...


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request a signature covers, as they came on the wire:
    the path still percent-encoded, the raw query string, the headers in order
    with lower-case names."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_asgi(cls, scope: dict[str, Any]) -> SignedRequest:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = raw.decode("latin-1").split("?", 1)[0]
        headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1"))
                        for k, v in scope.get("headers", ()))
        return cls(method=scope["method"], path=path,
                   query=scope.get("query_string", b"").decode("latin-1"), headers=headers)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def pairs(self) -> list[tuple[str, str]]:
        return sigv4.query_pairs(self.query)

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in self.pairs():
            out.setdefault(k, v)
        return out


@dataclass
class S3Caller:
    """An authenticated S3 request: whose it is, and what its body must prove."""

    access_key: str
    context: RequestContext
    #: The x-amz-content-sha256 the client declared (UNSIGNED-PAYLOAD for a presigned
    #: URL or a V2 signature, which sign no body).
    payload: str = sigv4.UNSIGNED_PAYLOAD
    signing: ChunkSigning | None = field(default=None, repr=False)

    @property
    def chunked(self) -> bool:
        return self.payload.startswith("STREAMING-")

    def payload_check(self) -> PayloadHash | None:
        """For a body whose SHA-256 was signed: the hash to feed while streaming."""
        return PayloadHash(self.payload) if _HEX64.match(self.payload) else None

    def body_decoder(self, decoded_length: int | None = None) -> ChunkedDecoder | None:
        """For an aws-chunked body: its decoder (signed chunks checked against the
        request's signature); None for a plain body."""
        if not self.chunked:
            return None
        signed = self.payload in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER)
        return ChunkedDecoder(self.signing if signed else None,
                              trailer=self.payload.endswith("-TRAILER"),
                              decoded_length=decoded_length)


@dataclass
class _Resolved:
    """What one access key resolves to, valid while the identity generation holds."""

    generation: int
    cred: Ec2Secret | None
    #: The credential's context (from its token) and when that token expires.
    context: RequestContext | None = None
    expires: float = 0.0
    #: SigV4 signing keys by (date, region, service): one HMAC chain a day.
    keys: dict[tuple[str, str, str], bytes] = field(default_factory=dict)


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_BASIC = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")


def parse_amz_time(raw: str) -> float:
    """An `X-Amz-Date` (20261207T043000Z) or HTTP date (RFC 1123) as epoch seconds."""
    text = raw.strip()
    basic = _BASIC.match(text)
    if basic:
        # By hand: strptime was a fifth of a request's authentication.
        try:
            y, mo, d, h, mi, sec = (int(x) for x in basic.groups())
            dt.datetime(y, mo, d, h, mi, sec)  # refuses a 31st of February
            return float(calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)))
        except ValueError:
            pass
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise err.access_denied("AWS authentication requires a valid Date or x-amz-date "
                                "header") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


class S3Authenticator:
    def __init__(self, source: CredentialSource, *, mount: str = "/object/s3",
                 max_skew: int = MAX_SKEW, clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.mount = mount.rstrip("/")
        self.max_skew = max_skew
        self.clock = clock
        self._cache: dict[str, _Resolved] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ entry point
    def authenticate(self, req: SignedRequest, request_id: str = "", *,
                     host_bucket: str | None = None) -> S3Caller | None:
        """The caller of a signed request, None for an anonymous one; S3's error
        otherwise. `host_bucket`: the bucket a virtual-host-style request named in
        its Host, which V2 signs as the first part of the resource."""
        auth = req.header("authorization")
        params = req.params()
        if auth is not None and auth.startswith(awssig.ALGORITHM_V4):
            return self._v4(req, sigv4.parse_header(auth, self._v4_date(req)), request_id)
        if auth is not None and auth.startswith("AWS "):
            return self._v2_header(req, auth[4:], request_id, host_bucket)
        if "X-Amz-Algorithm" in params:
            if params["X-Amz-Algorithm"] != awssig.ALGORITHM_V4:
                raise err.query_malformed("X-Amz-Algorithm only supports "
                                          "\"AWS4-HMAC-SHA256\"")
            return self._v4(req, sigv4.parse_query(params), request_id)
        if "Signature" in params or "AWSAccessKeyId" in params:
            return self._v2_query(req, params, request_id, host_bucket)
        if auth is not None:
            raise err.invalid_argument("Unsupported Authorization Type", "Authorization",
                                       auth.split(" ", 1)[0])
        return None

    # -------------------------------------------------------------------- V4
    def _v4_date(self, req: SignedRequest) -> str | None:
        amz = req.header("x-amz-date")
        if amz:
            return amz.strip()
        date = req.header("date")
        if date:
            # botocore signs the ISO form of a Date header's time.
            stamp = parse_amz_time(date)
            return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return None

    def _v4(self, req: SignedRequest, auth: sigv4.V4Auth, request_id: str) -> S3Caller:
        if auth.amz_date[:8] != auth.scope.date:
            raise err.header_malformed(f"the date in the credential \"{auth.scope.date}\" "
                                       f"does not match the request date "
                                       f"\"{auth.amz_date[:8]}\".")
        when = parse_amz_time(auth.amz_date)
        now = self.clock()
        if auth.presigned:
            assert auth.expires is not None
            if now + self.max_skew < when:
                raise err.not_yet_valid()
            if now > when + auth.expires:
                raise err.expired()
            payload = req.header("x-amz-content-sha256") or sigv4.UNSIGNED_PAYLOAD
        else:
            self._check_skew(when, now, auth.amz_date)
            declared = req.header("x-amz-content-sha256")
            if declared is None:
                raise err.missing_security_header("x-amz-content-sha256")
            payload = declared.strip()
            self._check_signed_headers(req, auth.signed_headers)
        if not (_HEX64.match(payload) or payload in (
                sigv4.UNSIGNED_PAYLOAD, sigv4.STREAMING_SIGNED,
                sigv4.STREAMING_SIGNED_TRAILER, sigv4.STREAMING_UNSIGNED_TRAILER)):
            raise err.invalid_argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid "
                                       "sha256 value.", "x-amz-content-sha256", payload)
        resolved = self._resolve(auth.scope.access)
        cred = resolved.cred
        assert cred is not None
        scope_key = (auth.scope.date, auth.scope.region, auth.scope.service)
        key = resolved.keys.get(scope_key)
        if key is None:
            key = awssig.signing_key(cred.secret, *scope_key)
            if len(resolved.keys) < 16:
                resolved.keys[scope_key] = key
        pairs = req.pairs()
        first: tuple[str, str] | None = None
        for path in sigv4.path_candidates(req.path, self.mount):
            canonical = sigv4.canonical_request(req.method, path, pairs, req.headers, auth,
                                                payload)
            to_sign = awssig.string_to_sign(auth.amz_date, auth.scope.text, canonical)
            if awssig.same(awssig.sign_v4(key, to_sign), auth.signature):
                break
            first = first or (to_sign, canonical)
        else:
            assert first is not None
            raise err.signature_mismatch(auth.scope.access, first[0], first[1])
        signing = ChunkSigning(key=key, amz_date=auth.amz_date, scope=auth.scope.text,
                               seed=auth.signature)
        return S3Caller(access_key=auth.scope.access,
                        context=self._context(resolved, request_id), payload=payload,
                        signing=signing)

    @staticmethod
    def _check_signed_headers(req: SignedRequest, signed: Sequence[str]) -> None:
        """Host and every x-amz-* header sent must be signed (else a replayed
        request could carry other ones, such as x-amz-copy-source)."""
        names = set(signed)
        if "host" not in names:
            raise err.header_malformed("the SignedHeaders must include host.")
        unsigned = sorted({k for k, _ in req.headers
                           if k.startswith("x-amz-") and k not in names})
        if unsigned:
            raise err.S3Error("AccessDenied", 403, "There were headers present in the "
                              "request which were not signed",
                              HeadersNotSigned=", ".join(unsigned))

    # -------------------------------------------------------------------- V2
    def _v2_header(self, req: SignedRequest, value: str, request_id: str,
                   host_bucket: str | None) -> S3Caller:
        access, sep, signature = value.strip().rpartition(":")
        if not sep or not access or not signature:
            raise err.invalid_argument("AWS authorization header is invalid.  Expected "
                                       "AwsAccessKeyId:signature", "Authorization", value)
        raw_date = req.header("x-amz-date") or req.header("date")
        if not raw_date:
            raise err.access_denied("AWS authentication requires a valid Date or "
                                    "x-amz-date header")
        self._check_skew(parse_amz_time(raw_date), self.clock(), raw_date)
        return self._v2(req, access, signature, sigv2.date_candidates(req.headers),
                        req.headers, request_id, host_bucket)

    def _v2_query(self, req: SignedRequest, params: dict[str, str], request_id: str,
                  host_bucket: str | None) -> S3Caller:
        access, signature = params.get("AWSAccessKeyId"), params.get("Signature")
        expires = params.get("Expires", "")
        if not access or not signature or not expires:
            raise err.access_denied("Query-string authentication requires the Signature, "
                                    "Expires and AWSAccessKeyId parameters")
        if not expires.isdigit():
            raise err.access_denied("Invalid date (should be seconds since epoch): "
                                    f"{expires[:32]}")
        if self.clock() > int(expires):
            raise err.expired()
        # x-amz-* query parameters were headers when the URL was signed.
        headers = (*req.headers, *((k.lower(), v) for k, v in req.pairs()
                                   if k.lower().startswith("x-amz-")))
        return self._v2(req, access, signature, [expires], headers, request_id, host_bucket)

    def _v2(self, req: SignedRequest, access: str, signature: str, dates: Iterable[str],
            headers: Sequence[tuple[str, str]], request_id: str,
            host_bucket: str | None) -> S3Caller:
        resolved = self._resolve(access)
        cred = resolved.cred
        assert cred is not None
        pairs = req.pairs()
        had_eq = [(p.partition("=")[0], "=" in p) for p in req.query.split("&") if p]
        first = None
        paths = sigv4.path_candidates(req.path, self.mount)
        if host_bucket:
            # Virtual-host style: V2's resource still starts with the bucket.
            paths = [f"/{host_bucket}{p}" for p in paths] + paths
        # botocore signs a bucket's V2 resource as "/bucket/" (S3's classic form).
        paths += [p + "/" for p in paths if p.count("/") == 1 and len(p) > 1]
        for date in dates:
            for path in paths:
                resource = sigv2.canonical_resource(path, pairs, had_eq)
                to_sign = sigv2.string_to_sign(req.method, headers, date, resource)
                if awssig.same(awssig.hmac_b64(cred.secret, to_sign, "sha1"), signature):
                    return S3Caller(access_key=access,
                                    context=self._context(resolved, request_id))
                first = first or to_sign
        raise err.signature_mismatch(access, first or "")

    # --------------------------------------------------------------- helpers
    def _check_skew(self, when: float, now: float, raw: str) -> None:
        if abs(now - when) > self.max_skew:
            raise err.time_skewed(raw, _iso(now))

    def _resolve(self, access: str) -> _Resolved:
        """The key pair's secret and owner, cached per identity generation."""
        gen = self.source.generation()
        entry = self._cache.get(access)
        if entry is None or entry.generation != gen:
            entry = _Resolved(generation=gen, cred=self.source.ec2_secret(access))
            with self._lock:
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[access] = entry
        if entry.cred is None:
            raise err.invalid_access_key(access)
        return entry

    def _context(self, resolved: _Resolved, request_id: str) -> RequestContext:
        """The credential's context: the one its token gave, while that token lives
        and the generation holds (anything that could change it bumps the
        generation, which drops the entry); else from a token issued anew."""
        now = self.clock()
        if resolved.context is not None and now < resolved.expires:
            ctx = copy.copy(resolved.context)  # cheaper than dataclasses.replace
            ctx.request_id = request_id
            return ctx
        assert resolved.cred is not None
        try:
            token, _ = self.source.ec2_token(resolved.cred)
            ctx = self.source.context_for(token, request_id)
        except OvercastError:
            # A disabled user or project, or no role left there.
            raise err.access_denied() from None
        if ctx.access_rules is not None:
            # A key pair made with an application credential limited by access
            # rules: the rules name services' paths (kit/access_rules.py), which an
            # S3 request is not, so it is refused rather than let through unlimited.
            raise err.access_denied()
        if ctx.expires_at is not None:
            resolved.context = ctx
            resolved.expires = ctx.expires_at.replace(tzinfo=dt.UTC).timestamp() - 60
        return ctx
