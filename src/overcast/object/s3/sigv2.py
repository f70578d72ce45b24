"""S3's Signature Version 2 (botocore's `HmacV1Auth`, s3cmd, older SDKs): the
base64 HMAC-SHA1 of

    VERB \\n Content-MD5 \\n Content-Type \\n Date \\n
    x-amz-* headers (lower-cased, sorted, `name:value` lines)
    the resource: the path as sent, plus the sub-resources among the query's
    parameters (`?acl`, `?uploadId=...`, ...), sorted by name

sent as `Authorization: AWS <access>:<signature>`, or in a presigned URL as
`AWSAccessKeyId`, `Signature` and `Expires` (epoch seconds, which then stands
where the date does; x-amz-* query parameters stand for headers). When an
`x-amz-date` header is sent, the Date line is empty (AWS's rule).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Query parameters that are part of the signed resource (botocore's list).
SUB_RESOURCES = frozenset((
    "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber",
    "policy", "requestPayment", "torrent", "versioning", "versionId", "versions",
    "website", "uploads", "uploadId", "response-content-type", "response-content-language",
    "response-expires", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
    "storageClass", "notification", "replication", "analytics", "metrics", "inventory",
    "select", "select-type", "object-lock",
))


def canonical_resource(path: str, pairs: Sequence[tuple[str, str]],
                       raw_names: Sequence[tuple[str, bool]]) -> str:
    """The path and its signed sub-resources. `raw_names` says, per pair, whether
    the parameter had an '=' (`?acl` is signed as `acl`, `?acl=` as `acl=`)."""
    subs = [(k, v, had_eq) for (k, v), (_, had_eq) in zip(pairs, raw_names, strict=True)
            if k in SUB_RESOURCES]
    if not subs:
        return path
    subs.sort(key=lambda x: x[0])
    return path + "?" + "&".join(f"{k}={v}" if had_eq else k for k, v, had_eq in subs)


def amz_headers(headers: Sequence[tuple[str, str]]) -> str:
    """The x-amz-* lines (without the V2 presign's own parameters)."""
    found: dict[str, list[str]] = {}
    for name, value in headers:
        if name.startswith("x-amz-"):
            found.setdefault(name, []).append(value.strip())
    return "".join(f"{k}:{','.join(found[k])}\n" for k in sorted(found))


def string_to_sign(method: str, headers: Sequence[tuple[str, str]], date: str,
                   resource: str) -> str:
    def first(name: str) -> str:
        return next((v.strip() for k, v in headers if k == name), "")

    return (f"{method.upper()}\n{first('content-md5')}\n{first('content-type')}\n{date}\n"
            f"{amz_headers(headers)}{resource}")


def date_candidates(headers: Sequence[tuple[str, str]]) -> list[str]:
    """The Date line a client may have signed: empty when x-amz-date is sent (AWS's
    rule), else the Date header; some clients sign the Date header regardless."""
    date = next((v.strip() for k, v in headers if k == "date"), "")
    if any(k == "x-amz-date" for k, _ in headers):
        return ["", date] if date else [""]
    return [date]
