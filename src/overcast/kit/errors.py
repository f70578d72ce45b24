"""Domain errors and their translation into each service's own error body.

Services raise these (never HTTPException); `render_error` shapes them in the
envelope the calling service's clients expect: Keystone's `{"error": ...}`,
Nova's and Cinder's `{"itemNotFound": ...}`, Neutron's `{"NeutronError": ...}`,
Placement's `{"errors": [...]}`, Glance's/Swift's plain bodies and S3's XML
`<Error>` document. The one
exception handler in app.py picks the style from the path the request came in on.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape


class OvercastError(Exception):
    status = 500
    title = "Internal Server Error"

    def __init__(
        self,
        message: str | None = None,
        *,
        type: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.title
        #: Neutron's exception class name (`NetworkNotFound`, `IpAddressAlreadyAllocated`).
        self.type = type
        #: Placement's error code (`placement.concurrent_update`).
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.message)


class BadRequest(OvercastError):
    status = 400
    title = "Bad Request"


class Unauthorized(OvercastError):
    status = 401
    title = "Unauthorized"


class Forbidden(OvercastError):
    status = 403
    title = "Forbidden"


class NotFound(OvercastError):
    status = 404
    title = "Not Found"


class MethodNotAllowed(OvercastError):
    status = 405
    title = "Method Not Allowed"


class NotAcceptable(OvercastError):
    status = 406
    title = "Not Acceptable"


class Conflict(OvercastError):
    status = 409
    title = "Conflict"


class Gone(OvercastError):
    status = 410
    title = "Gone"


class PreconditionFailed(OvercastError):
    status = 412
    title = "Precondition Failed"


class RequestEntityTooLarge(OvercastError):
    status = 413
    title = "Request Entity Too Large"


class UnsupportedMediaType(OvercastError):
    status = 415
    title = "Unsupported Media Type"


class RangeNotSatisfiable(OvercastError):
    status = 416
    title = "Requested Range Not Satisfiable"


class NotImplementedYet(OvercastError):
    status = 501
    title = "Not Implemented"


class ServiceUnavailable(OvercastError):
    status = 503
    title = "Service Unavailable"


# Nova/Cinder fault keys by status.
_NOVA_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "HTTPMethodNotAllowed",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    501: "notImplemented",
    503: "serviceUnavailable",
}

_NEUTRON_TYPES = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    412: "HTTPPreconditionFailed",
    413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType",
}

STATUS_TITLES = {
    cls.status: cls.title
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
        Conflict, Gone, PreconditionFailed, RequestEntityTooLarge, UnsupportedMediaType,
        RangeNotSatisfiable, NotImplementedYet, ServiceUnavailable, OvercastError,
    )
}


#: S3's error code for a refusal raised without one (a schema's 400, a route's 404):
#: what Amazon answers for that status in general.
_S3_CODES = {
    400: "InvalidRequest",
    401: "AccessDenied",
    403: "AccessDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "OperationAborted",
    411: "MissingContentLength",
    412: "PreconditionFailed",
    413: "EntityTooLarge",
    416: "InvalidRange",
    501: "NotImplemented",
    503: "SlowDown",
}


def _s3_error(status: int, message: str, code: str | None, request_id: str,
              extra: dict[str, Any] | None) -> str:
    """`<Error><Code/><Message/>...<RequestId/></Error>`: the S3 API's refusals (the
    S3 code rides in `code`, the document's other elements in `extra`)."""
    parts = [f"<Code>{escape(code or _S3_CODES.get(status, 'InternalError'))}</Code>",
             f"<Message>{escape(message)}</Message>"]
    parts += [f"<{k}>{escape(str(v))}</{k}>" for k, v in (extra or {}).items()
              if k.isidentifier()]
    parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
    return "<?xml version='1.0' encoding='UTF-8'?>\n<Error>" + "".join(parts) + "</Error>"


#: An error message never echoes more than this of what the client sent.
MAX_MESSAGE_CHARS = 1024


def short_message(message: str) -> str:
    """Cut a message that quotes a huge input (a 1 MB name gave a 1 MB error body)."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS - 40] + f"... ({len(message)} characters in all)"


def render_error(
    style: str, status: int, message: str, *, type: str | None = None,
    code: str | None = None, request_id: str = "", extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | str, str]:
    """Return (body, content type) for an error in the given service style."""
    title = STATUS_TITLES.get(status, "Error")
    message = short_message(message)
    if style == "keystone":
        return {"error": {"code": status, "title": title, "message": message}}, "application/json"
    if style in ("nova", "cinder"):
        key = _NOVA_KEYS.get(status, "computeFault")
        return {key: {"code": status, "message": message}}, "application/json"
    if style == "neutron":
        body = {"type": type or _NEUTRON_TYPES.get(status, "HTTPError"),
                "message": message, "detail": ""}
        return {"NeutronError": body}, "application/json"
    if style == "placement":
        err: dict[str, Any] = {"status": status, "title": title, "detail": message,
                               "code": code or "placement.undefined_code",
                               "request_id": request_id}
        if extra:
            err.update(extra)
        return {"errors": [err]}, "application/json"
    if style == "glance":
        return {"code": f"{status} {title}", "title": title, "message": message}, \
            "application/json"
    if style == "s3":
        return _s3_error(status, message, code, request_id, extra), "application/xml"
    # swift and anything unknown: a short plain/HTML body as those services send.
    # Swift answers some refusals (a name too long, a bad header) in plain text and
    # has statuses of its own (411, 422, 499): `extra` carries those.
    if extra and extra.get("plain"):
        return message, "text/plain; charset=UTF-8"
    if extra and extra.get("title"):
        title = str(extra["title"])
    return f"<html><h1>{title}</h1><p>{message}</p></html>", "text/html; charset=UTF-8"
