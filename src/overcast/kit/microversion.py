"""Microversion negotiation (`OpenStack-API-Version: <service> X.Y`).

A request with no header gets the minimum version; `latest` gets the maximum;
anything outside [min, max] is refused with 406 as Nova and Placement do.

A service declares its range once (`VERSIONS = VersionRange(...)`) and mounts
`VERSIONS.dependency` on its router, so every route negotiates before its handler
runs. Handlers then read `VERSIONS.of(request)`, gate a route or a field with
`VERSIONS.require(request, "2.10")` / `VERSIONS.of(request).at_least("2.10")`, and
answer with `VERSIONS.reply(...)`, which adds the version headers. A gate above the
advertised maximum could never run: `require` refuses to be written that way, and
`tests/unit/test_version_gates.py` reads every gate in the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache, total_ordering
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from overcast.kit.errors import BadRequest, NotAcceptable, NotFound

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@total_ordering
@dataclass(frozen=True)
class APIVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        m = _VERSION_RE.match(text.strip())
        if not m:
            raise BadRequest(f"Invalid microversion {text!r}: expected 'X.Y'.")
        return cls(int(m.group(1)), int(m.group(2)))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, APIVersion):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, text: str) -> bool:
        other = _parse_cached(text)
        return (self.major, self.minor) >= (other.major, other.minor)


@lru_cache(maxsize=256)
def _parse_cached(text: str) -> APIVersion:
    return APIVersion.parse(text)


@dataclass(frozen=True)
class VersionRange:
    service: str
    min: APIVersion
    max: APIVersion
    legacy_header: str | None = None

    def negotiate(self, request: Request) -> APIVersion:
        raw = None
        header = request.headers.get("openstack-api-version")
        if header:
            for part in header.split(","):
                bits = part.strip().split(None, 1)
                if len(bits) == 2 and bits[0].lower() == self.service:
                    raw = bits[1].strip()
        if raw is None and self.legacy_header:
            raw = request.headers.get(self.legacy_header)
        if raw is None:
            return self.min
        if raw.lower() == "latest":
            return self.max
        version = APIVersion.parse(raw)
        if version < self.min or version > self.max:
            raise NotAcceptable(
                f"Version {raw} is not supported by the API. Minimum is {self.min} "
                f"and maximum is {self.max}.",
                code="placement.microversion_unsupported" if self.service == "placement"
                else None,
                extra={"min_version": str(self.min), "max_version": str(self.max)},
            )
        return version

    def response_headers(self, version: APIVersion) -> dict[str, str]:
        headers = {"OpenStack-API-Version": f"{self.service} {version}"}
        vary = "OpenStack-API-Version"
        if self.legacy_header:
            headers[self.legacy_header] = str(version)
            vary += f", {self.legacy_header}"
        headers["Vary"] = vary
        return headers

    # -- what a service's routes use -------------------------------------------------
    @property
    def state_key(self) -> str:
        return f"{self.service}_version"

    def of(self, request: Request) -> APIVersion:
        """The version this request negotiated (negotiated now if no dependency ran)."""
        v = getattr(request.state, self.state_key, None)
        if v is None:
            v = self.negotiate(request)
            setattr(request.state, self.state_key, v)
        return v  # type: ignore[no-any-return]

    async def dependency(self, request: Request) -> APIVersion:
        """A router dependency: negotiate before the handler (406 for a version out
        of range, 400 for a malformed one). Async: it is a header read, no thread."""
        return self.of(request)

    def require(self, request: Request, text: str) -> None:
        """404 below `text`, as a route that does not exist at that version."""
        if _parse_cached(text) > self.max:
            raise ValueError(f"{self.service} gate {text} is above the advertised "
                             f"maximum {self.max}: it could never be reached")
        if not self.of(request).at_least(text):
            raise NotFound("The resource could not be found.")

    def reply(self, request: Request, body: Any, status: int = 200,
              headers: dict[str, str] | None = None,
              response_class: type[Response] | None = None) -> Response:
        """A reply with this request's version headers; `None` for an empty body."""
        hdrs = self.response_headers(self.of(request))
        if headers:
            hdrs.update(headers)
        if body is None:
            return Response(status_code=status, headers=hdrs)
        if response_class is None:
            from overcast.kit.web import FastJSONResponse

            response_class = FastJSONResponse
        return response_class(body, status_code=status, headers=hdrs)
