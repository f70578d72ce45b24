"""The arithmetic of AWS request signatures, shared by identity's `POST /v3/ec2tokens`
(which checks a signature a service forwards) and the S3 API (which checks the
request itself). Pure functions of strings and bytes: which parts of a request
go in, and how they are canonicalised, is each caller's business, since EC2's
query API and S3 canonicalise differently.

Signature Version 4: a signing key derived from the secret, the date, the region
and the service (`signing_key`); the string to sign names the algorithm, the
request time, the credential scope and the SHA-256 of the canonical request
(`string_to_sign`); the signature is the hex HMAC-SHA256 of that string. Version 2:
the base64 HMAC (SHA-256 or SHA-1) of a string the caller builds (`hmac_b64`).
Comparisons are constant-time (`same`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable

ALGORITHM_V4 = "AWS4-HMAC-SHA256"
#: The SHA-256 of no bytes: the payload hash of a body-less request.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key: HMAC chain over the date (YYYYMMDD), region, service."""
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return "\n".join((ALGORITHM_V4, amz_date, scope, digest))


def sign_v4(key: bytes, to_sign: str) -> str:
    """The hex signature of `to_sign` with a derived key."""
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def hmac_b64(secret: str, to_sign: str, digest: str = "sha256") -> str:
    """A Signature Version 2 (or S3 V2) signature: base64 of the HMAC."""
    mac = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def same(a: str, b: str) -> bool:
    """Constant-time comparison, so a signature cannot be guessed byte by byte."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """AWS's URI encoding: everything but unreserved characters (A-Z a-z 0-9 - _ . ~)
    percent-encoded in upper-case hex; '/' kept in paths."""
    return urllib.parse.quote(value, safe="-_.~/" if keep_slash else "-_.~")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """SigV4's canonical query string: each name and value URI-encoded, sorted by
    name then value, joined with '&' (a name without value keeps its '=')."""
    encoded = sorted((uri_encode(k), uri_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)
