"""Signature Version 4 as S3 applies it: parsing the `Authorization` header or the
presigned `X-Amz-*` query parameters, and rebuilding the canonical request the
client signed.

S3's differences from other services (botocore's `S3SigV4Auth`): the path is not
normalised and not encoded again (the client signed it as it sent it), and the
payload hash is the `x-amz-content-sha256` header (`UNSIGNED-PAYLOAD` in a
presigned URL). The canonical query is every parameter but `X-Amz-Signature`,
each name and value URI-encoded, sorted. Signed headers are lower-cased, their
values trimmed with inner runs of spaces folded, repeats joined by commas.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from overcast.kit import awssig
from overcast.object.s3 import errors as err

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#: A presigned URL lives at most a week (AWS's limit).
MAX_EXPIRES = 604800


@dataclass(frozen=True)
class Scope:
    """The `Credential=` part: access key and date/region/service/aws4_request."""

    access: str
    date: str
    region: str
    service: str

    @property
    def text(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class V4Auth:
    """What a SigV4 request claims: who, when, which headers, which signature."""

    scope: Scope
    amz_date: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool
    expires: int | None = None


def parse_scope(raw: str) -> Scope:
    parts = raw.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise err.header_malformed("the Credential is mal-formed; expecting "
                                   "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    if len(parts[1]) != 8 or not parts[1].isdigit():
        raise err.header_malformed(f"incorrect date format \"{parts[1]}\". This date in "
                                   f"the credential must be in the format \"yyyyMMdd\".")
    if parts[3] != "s3":
        raise err.header_malformed(f"incorrect service \"{parts[3]}\". This endpoint "
                                   f"belongs to \"s3\".")
    return Scope(access=parts[0], date=parts[1], region=parts[2], service=parts[3])


def parse_header(value: str, amz_date: str | None) -> V4Auth:
    """`AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`."""
    rest = value[len(awssig.ALGORITHM_V4):].strip()
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            fields[name.strip()] = val.strip()
    for need in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(need):
            raise err.header_malformed(f"the authorization header requires parameter "
                                       f"{need}.")
    if not amz_date:
        raise err.access_denied("AWS authentication requires a valid Date or x-amz-date "
                                "header")
    return V4Auth(scope=parse_scope(fields["Credential"]), amz_date=amz_date,
                  signed_headers=tuple(fields["SignedHeaders"].split(";")),
                  signature=fields["Signature"], presigned=False)


def parse_query(params: dict[str, str]) -> V4Auth:
    """The presigned form: `X-Amz-Algorithm`, `-Credential`, `-Date`, `-Expires`,
    `-SignedHeaders` and `-Signature` in the query string."""
    missing = [n for n in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                           "X-Amz-SignedHeaders", "X-Amz-Signature") if not params.get(n)]
    if missing:
        raise err.query_malformed(f"Query-string authentication version 4 requires the "
                                  f"X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
                                  f"X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires "
                                  f"parameters (missing {', '.join(missing)}).")
    raw = params["X-Amz-Expires"]
    if not raw.isdigit():
        raise err.query_malformed("X-Amz-Expires should be a number")
    expires = int(raw)
    if expires > MAX_EXPIRES:
        raise err.query_malformed("X-Amz-Expires must be less than a week (in seconds) "
                                  "that is 604800")
    try:
        scope = parse_scope(params["X-Amz-Credential"])
    except err.S3Error as exc:
        raise err.query_malformed(exc.message) from None
    return V4Auth(scope=scope, amz_date=params["X-Amz-Date"],
                  signed_headers=tuple(params["X-Amz-SignedHeaders"].split(";")),
                  signature=params["X-Amz-Signature"], presigned=True, expires=expires)


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, percent-decoded ('+' stays '+': S3
    clients encode a space as %20), in order; a bare name has value ''."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((urllib.parse.unquote(name), urllib.parse.unquote(value)))
    return pairs


def _trim(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(headers: Sequence[tuple[str, str]], names: Sequence[str]) -> str:
    """The signed headers' lines, each `name:value` (repeats joined by commas)."""
    lines = []
    for name in names:
        values = [_trim(v) for k, v in headers if k == name]
        lines.append(f"{name}:{','.join(values)}")
    return "\n".join(lines) + "\n"


def canonical_request(method: str, path: str, pairs: Sequence[tuple[str, str]],
                      headers: Sequence[tuple[str, str]], auth: V4Auth,
                      payload_hash: str) -> str:
    query = awssig.canonical_query((k, v) for k, v in pairs if k != "X-Amz-Signature")
    return "\n".join((method.upper(), path, query,
                      canonical_headers(headers, auth.signed_headers),
                      ";".join(auth.signed_headers), payload_hash))


def path_candidates(raw_path: str, mount: str) -> list[str]:
    """The paths a client may have signed: the one it sent (as sent), that path
    re-encoded the AWS way (for clients that send some characters unencoded),
    and each of those without the mount point (a client that believes the
    endpoint is the host's root)."""
    out = [raw_path]
    reencoded = awssig.uri_encode(urllib.parse.unquote(raw_path), keep_slash=True)
    if reencoded != raw_path:
        out.append(reencoded)
    if mount and raw_path.startswith(mount + "/"):
        out += [p[len(mount):] for p in list(out)]
    return out
