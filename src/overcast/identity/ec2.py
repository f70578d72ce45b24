"""The signature checks of `POST /v3/ec2tokens` and `POST /v3/s3tokens`.

ec2tokens: a service that received an
AWS-signed request (an EC2-style API, an S3 proxy) forwards what it saw, as
`{access, signature, host, verb, path, params, headers, body_hash}`, and Keystone
recomputes the signature with the credential's secret.

The algorithms are those of keystoneclient's `Ec2Signer`, which is what Keystone
runs: signature versions 0, 1 and 2 of the EC2 query API (chosen by
`params.SignatureVersion`) and version 4 (an `Authorization: AWS4-HMAC-SHA256 ...`
header or an `X-Amz-Algorithm` query parameter), with Keystone's retry without the
port in `host`, its refusal of a timestamp older than the credential TTL, and its
401 wording. Two deliberate differences, both towards what AWS specifies: V2 uses
the `SignatureMethod` the client declared (Ec2Signer always assumes HmacSHA256),
and V4 leaves `X-Amz-Signature` out of the canonical query of a presigned request.

s3tokens (Swift's s3token middleware, Ceph RGW): the service has built the string
to sign itself and sends it base64-encoded as `token`, with the `signature`;
Keystone signs that string with the secret, as V2 (base64 HMAC-SHA1) or, when it
starts with `AWS4`, as V4 (for the s3, iam or sts service of its scope line).

No I/O here: the caller passes the secret and the clock.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from typing import Any

from overcast.kit import awssig
from overcast.kit.errors import Unauthorized

INVALID_SIGNATURE = "Invalid EC2 signature."
NO_SIGNATURE = "EC2 signature not supplied."
EXPIRED = "Credential is expired"


def _utf8(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _query(params: Mapping[str, Any]) -> str:
    """Ec2Signer's canonical query: sorted by name, values encoded but for -_.~"""
    pairs = []
    for key in sorted(params):
        value = urllib.parse.quote(_utf8(params[key]), safe="-_~")
        pairs.append(urllib.parse.quote(key, safe="") + "=" + value)
    return "&".join(pairs)


def _v0(secret: str, params: Mapping[str, Any]) -> str:
    mac = hmac.new(secret.encode(), _utf8(params.get("Action", "")) +
                   _utf8(params.get("Timestamp", "")), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _v1(secret: str, params: Mapping[str, Any]) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    for key in sorted(params, key=str.lower):
        mac.update(key.encode("utf-8"))
        mac.update(_utf8(params[key]))
    return base64.b64encode(mac.digest()).decode()


def _v2(secret: str, params: dict[str, Any], verb: str, host: str, path: str) -> str:
    digest = "sha1" if params.get("SignatureMethod") == "HmacSHA1" else "sha256"
    params.setdefault("SignatureMethod", "HmacSHA256")
    return awssig.hmac_b64(secret, f"{verb}\n{host}\n{path}\n{_query(params)}", digest)


def _is_v4(headers: Mapping[str, str], params: Mapping[str, Any]) -> bool:
    auth = headers.get("Authorization", "")
    return auth.startswith(awssig.ALGORITHM_V4) or \
        params.get("X-Amz-Algorithm") == awssig.ALGORITHM_V4


def _v4(secret: str, creds: Mapping[str, Any], params: Mapping[str, Any],
        headers: Mapping[str, str]) -> str:
    auth = headers.get("Authorization")

    def part(name: str) -> str:
        if auth is not None:
            return auth.partition(f"{name}=")[2].split(",")[0].strip()
        return str(params.get(f"X-Amz-{name}", ""))

    lowered = {k.lower().strip(): str(v).strip() for k, v in headers.items()}
    signed = part("SignedHeaders")
    lines = [f"{h}:{lowered[h]}" for h in signed.split(";") if h in lowered]
    verb = str(creds.get("verb", "")).upper()
    query = "" if verb == "POST" else _query(
        {k: v for k, v in params.items() if k != "X-Amz-Signature"})
    canonical = "\n".join((verb, str(creds.get("path", "")), query,
                           "\n".join(lines) + "\n", signed,
                           str(creds.get("body_hash", ""))))
    scope = part("Credential").split("/")
    if len(scope) < 5:
        raise Unauthorized(INVALID_SIGNATURE)
    amz_date = headers.get("X-Amz-Date") or str(params.get("X-Amz-Date", ""))
    if not amz_date.startswith(scope[1]):
        raise Unauthorized("Request date mismatch error")
    key = awssig.signing_key(secret, scope[1], scope[2], scope[3])
    return awssig.sign_v4(key, awssig.string_to_sign(amz_date, "/".join(scope[1:]),
                                                     canonical))


def signature(secret: str, creds: Mapping[str, Any]) -> str:
    """The signature `creds` should carry if signed with `secret`."""
    params = dict(creds.get("params") or {})
    params.pop("Signature", None)
    headers = creds.get("headers") or {}
    if not isinstance(params, dict) or not isinstance(headers, Mapping):
        raise Unauthorized(INVALID_SIGNATURE)
    version = params.get("SignatureVersion")
    if version == "0":
        return _v0(secret, params)
    if version == "1":
        return _v1(secret, params)
    if version == "2":
        return _v2(secret, params, str(creds.get("verb", "")), str(creds.get("host", "")),
                   str(creds.get("path", "")))
    if _is_v4(headers, params):
        return _v4(secret, creds, params, headers)
    raise Unauthorized(INVALID_SIGNATURE)


def check_signature(secret: str, creds: dict[str, Any]) -> None:
    """401 unless `creds['signature']` is the request's signature with `secret`;
    as Keystone, a second try drops the port from `host` (some clients sign
    without it)."""
    given = creds.get("signature")
    if not given or not isinstance(given, str):
        raise Unauthorized(NO_SIGNATURE)
    if awssig.same(given, signature(secret, creds)):
        return
    host = str(creds.get("host") or "")
    if ":" in host:
        bare = urllib.parse.urlsplit("//" + host).hostname or ""
        if awssig.same(given, signature(secret, {**creds, "host": bare})):
            return
    raise Unauthorized(INVALID_SIGNATURE)


def parse_time(raw: str) -> dt.datetime:
    """An ISO 8601 time as signers send it (2026-12-07T04:30:00Z, or SigV4's
    basic 20261207T043000Z), as naive UTC."""
    text = raw.strip()
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def check_timestamp(creds: Mapping[str, Any], now: dt.datetime, ttl_seconds: int) -> None:
    """401 if the signed request's timestamp (V1/V2 `Timestamp`, V4 `X-Amz-Date`)
    is older than the TTL; a request signed without one is not checked."""
    params = creds.get("params") or {}
    headers = creds.get("headers") or {}
    raw = params.get("Timestamp") or headers.get("X-Amz-Date") or params.get("X-Amz-Date")
    if not raw:
        return
    try:
        stamp = parse_time(str(raw))
    except ValueError as exc:
        raise Unauthorized(f"Credential timestamp is invalid: {exc}") from None
    if now > stamp + dt.timedelta(seconds=ttl_seconds):
        raise Unauthorized(EXPIRED)


def _s3_v4(secret: str, to_sign: bytes) -> str:
    parts = to_sign.split(b"\n")
    if len(parts) != 4 or parts[0] != awssig.ALGORITHM_V4.encode():
        raise Unauthorized(INVALID_SIGNATURE)
    scope = parts[2].split(b"/")
    if len(scope) != 4 or scope[3] != b"aws4_request" or \
            scope[2] not in (b"s3", b"iam", b"sts"):
        raise Unauthorized(INVALID_SIGNATURE)
    try:
        date, region, service = (x.decode("utf-8") for x in scope[:3])
    except UnicodeDecodeError:
        raise Unauthorized(INVALID_SIGNATURE) from None
    key = awssig.signing_key(secret, date, region, service)
    return hmac.new(key, to_sign, hashlib.sha256).hexdigest()


def check_s3_signature(secret: str, creds: Mapping[str, Any]) -> None:
    """401 unless `creds['signature']` signs the base64 `creds['token']` with
    `secret` (V2 or V4, as the string to sign says)."""
    given, token = creds.get("signature"), creds.get("token")
    if not isinstance(given, str) or not isinstance(token, str) or not given:
        raise Unauthorized(NO_SIGNATURE)
    try:
        to_sign = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise Unauthorized(INVALID_SIGNATURE) from None
    if to_sign[:4] == b"AWS4":
        expected = _s3_v4(secret, to_sign)
    else:
        mac = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha1)
        expected = base64.b64encode(mac.digest()).decode("ascii")
    if not awssig.same(given, expected):
        raise Unauthorized("Credential signature mismatch")
