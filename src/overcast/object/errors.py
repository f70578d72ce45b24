"""The object service's refusals, in Swift's words and statuses.

Swift answers most refusals with a short HTML page (`<html><h1>Not Found</h1>
<p>The resource could not be found.</p></html>`) and the constraint checks
with a plain-text sentence ("Container name length of 257 longer than 256");
`kit.errors.render_error` renders both (the "swift" style, `extra` plain/title).
"""

from __future__ import annotations

from overcast.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    OvercastError,
    PreconditionFailed,
    RangeNotSatisfiable,
    RequestEntityTooLarge,
    Unauthorized,
)


def not_found() -> NotFound:
    return NotFound("The resource could not be found.")


def unauthorized() -> Unauthorized:
    return Unauthorized("This server could not verify that you are authorized to access "
                        "the document you requested.")


def forbidden() -> Forbidden:
    return Forbidden("Access was denied to this resource.")


def denied(anonymous: bool) -> OvercastError:
    """keystoneauth's answer: 401 to an anonymous caller, 403 to a known one."""
    return unauthorized() if anonymous else forbidden()


def method_not_allowed() -> MethodNotAllowed:
    return MethodNotAllowed("The method is not allowed for this resource.")


def bad_request(message: str) -> BadRequest:
    """A constraint refusal: plain text, as Swift's constraints module answers."""
    return BadRequest(message, extra={"plain": True})


def not_empty() -> Conflict:
    return Conflict("There was a conflict when trying to complete your request.")


def precondition_failed(message: str = "A precondition for this request was not met."
                        ) -> PreconditionFailed:
    return PreconditionFailed(message)


def too_large(message: str = "Your request is too large.") -> RequestEntityTooLarge:
    return RequestEntityTooLarge(message, extra={"plain": True})


def quota_exceeded() -> RequestEntityTooLarge:
    return RequestEntityTooLarge("Upload exceeds quota.", extra={"plain": True})


def range_not_satisfiable() -> RangeNotSatisfiable:
    return RangeNotSatisfiable("The Range requested is not available.")


class LengthRequired(OvercastError):
    status = 411
    title = "Length Required"

    def __init__(self) -> None:
        super().__init__("Missing Content-Length header.", extra={"plain": True})


class Unprocessable(OvercastError):
    status = 422
    title = "Unprocessable Entity"

    def __init__(self, message: str = "Unable to process the contained instructions"
                 ) -> None:
        super().__init__(message, extra={"title": self.title})


class ClientDisconnected(OvercastError):
    """The client went away before the whole body arrived (Swift logs 499)."""

    status = 499
    title = "Client Disconnect"

    def __init__(self) -> None:
        super().__init__("The client disconnected before the body was sent.",
                         extra={"title": self.title})


class RequestTimeout(OvercastError):
    """The client stopped sending in the middle of the body (Swift's proxy answers
    408 once `client_timeout` passes without a byte)."""

    status = 408
    title = "Request Timeout"

    def __init__(self) -> None:
        super().__init__("The server has waited too long for the request to be sent by "
                         "the client.", extra={"title": self.title})
