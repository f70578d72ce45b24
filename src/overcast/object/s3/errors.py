"""S3's refusals, with Amazon's codes, statuses and wording (the wire: boto3 and
the aws CLI branch on `Code`). Each is an `S3Error`, a kit `OvercastError` that
also carries its S3 code and the extra elements S3 puts in the error document
(`StringToSign`, `AWSAccessKeyId`, ...); `xml.error_document` renders it.
"""

from __future__ import annotations

from typing import Any

from overcast.kit.errors import OvercastError


class S3Error(OvercastError):
    """An S3 error: `s3_code` (e.g. `NoSuchKey`), its HTTP status, its message and
    the extra elements of its XML document (kept in `extra`, in order)."""

    def __init__(self, s3_code: str, status: int, message: str,
                 **fields: Any) -> None:
        super().__init__(message, code=s3_code, extra=dict(fields))
        self.status = status
        self.s3_code = s3_code

    @property
    def fields(self) -> dict[str, Any]:
        return self.extra


# ------------------------------------------------------------- authentication
def access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error("AccessDenied", 403, message)


def expired() -> S3Error:
    """A presigned URL past its expiry (AWS says exactly this)."""
    return access_denied("Request has expired")


def not_yet_valid() -> S3Error:
    return access_denied("Request is not valid yet")


def invalid_access_key(access: str) -> S3Error:
    return S3Error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does "
                   "not exist in our records.", AWSAccessKeyId=access)


def signature_mismatch(access: str, string_to_sign: str,
                       canonical_request: str | None = None) -> S3Error:
    """What AWS answers a wrong signature, with what it signed (never the secret):
    clients print it to help find the difference."""
    fields: dict[str, Any] = {"AWSAccessKeyId": access, "StringToSign": string_to_sign}
    if canonical_request is not None:
        fields["CanonicalRequest"] = canonical_request
    return S3Error("SignatureDoesNotMatch", 403, "The request signature we calculated "
                   "does not match the signature you provided. Check your key and "
                   "signing method.", **fields)


def time_skewed(request_time: str, server_time: str) -> S3Error:
    return S3Error("RequestTimeTooSkewed", 403, "The difference between the request time "
                   "and the current time is too large.", RequestTime=request_time,
                   ServerTime=server_time, MaxAllowedSkewMilliseconds="900000")


def header_malformed(message: str) -> S3Error:
    return S3Error("AuthorizationHeaderMalformed", 400,
                   f"The authorization header is malformed; {message}")


def query_malformed(message: str) -> S3Error:
    return S3Error("AuthorizationQueryParametersError", 400, message)


def invalid_request(message: str) -> S3Error:
    return S3Error("InvalidRequest", 400, message)


def invalid_argument(message: str, name: str = "", value: str = "") -> S3Error:
    fields = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return S3Error("InvalidArgument", 400, message, **fields)


def missing_security_header(header: str) -> S3Error:
    return invalid_request(f"Missing required header for this request: {header}")


def content_sha256_mismatch(client: str, computed: str) -> S3Error:
    return S3Error("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' "
                   "header does not match what was computed.",
                   ClientComputedContentSHA256=client, S3ComputedContentSHA256=computed)


def incomplete_body(message: str = "You did not provide the number of bytes specified "
                                   "by the Content-Length HTTP header") -> S3Error:
    return S3Error("IncompleteBody", 400, message)


def chunk_signature_mismatch() -> S3Error:
    return S3Error("SignatureDoesNotMatch", 403, "The request signature we calculated does "
                   "not match the signature you provided. Check your key and signing "
                   "method.")


# ------------------------------------------------------------------ resources
def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", 404, "The specified bucket does not exist.",
                   BucketName=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", 404, "The specified key does not exist.", Key=key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error("NoSuchUpload", 404, "The specified upload does not exist. The upload "
                   "ID may be invalid, or the upload may have been aborted or completed.",
                   UploadId=upload_id)


def bucket_not_empty(bucket: str) -> S3Error:
    return S3Error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty",
                   BucketName=bucket)


def bucket_already_owned(bucket: str) -> S3Error:
    return S3Error("BucketAlreadyOwnedByYou", 409, "Your previous request to create the "
                   "named bucket succeeded and you already own it.", BucketName=bucket)


def bucket_already_exists(bucket: str) -> S3Error:
    return S3Error("BucketAlreadyExists", 409, "The requested bucket name is not "
                   "available. The bucket namespace is shared by all users of the system. "
                   "Please select a different name and try again.", BucketName=bucket)


def invalid_bucket_name(bucket: str) -> S3Error:
    return S3Error("InvalidBucketName", 400, "The specified bucket is not valid.",
                   BucketName=bucket)


def invalid_part(part: int) -> S3Error:
    return S3Error("InvalidPart", 400, "One or more of the specified parts could not be "
                   "found. The part might not have been uploaded, or the specified entity "
                   "tag might not have matched the part's entity tag.", PartNumber=part)


def invalid_part_order() -> S3Error:
    return S3Error("InvalidPartOrder", 400, "The list of parts was not in ascending order. "
                   "The parts list must be specified in order by part number.")


def entity_too_small() -> S3Error:
    return S3Error("EntityTooSmall", 400, "Your proposed upload is smaller than the "
                   "minimum allowed object size.")


def entity_too_large(max_size: int) -> S3Error:
    return S3Error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum "
                   "allowed object size.", MaxSizeAllowed=max_size)


def malformed_xml() -> S3Error:
    return S3Error("MalformedXML", 400, "The XML you provided was not well-formed or did "
                   "not validate against our published schema.")


def bad_digest() -> S3Error:
    return S3Error("BadDigest", 400, "The Content-MD5 you specified did not match what we "
                   "received.")


def invalid_digest() -> S3Error:
    return S3Error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")


def invalid_range(size: int) -> S3Error:
    return S3Error("InvalidRange", 416, "The requested range is not satisfiable",
                   ActualObjectSize=size)


def precondition_failed(condition: str) -> S3Error:
    return S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you "
                   "specified did not hold", Condition=condition)


def method_not_allowed(method: str, resource: str) -> S3Error:
    return S3Error("MethodNotAllowed", 405, "The specified method is not allowed against "
                   "this resource.", Method=method, ResourceType=resource)


def not_implemented(what: str = "A header you provided implies functionality that is "
                                "not implemented") -> S3Error:
    return S3Error("NotImplemented", 501, what)


def quota_exceeded() -> S3Error:
    return S3Error("QuotaExceeded", 403, "The project's object storage quota is exceeded.")
