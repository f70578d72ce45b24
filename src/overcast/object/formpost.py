"""FormPost: browsers upload objects straight into a container with an HTML form
signed by the account's (or container's) temp-URL key, as Swift's formpost
middleware takes them.

The form (multipart/form-data, POSTed to /v1/<account>/<container>[/<prefix>])
carries `redirect`, `max_file_size`, `max_file_count`, `expires` and
`signature` = HMAC(key, "<path>\\n<redirect>\\n<max_file_size>\\n<max_file_count>
\\n<expires>") (SHA-1/256/512, hex or "<algo>:<base64>"), then the files; each
file becomes the object `<prefix><filename>`. The answer is a 303 to the
redirect with `?status=&message=`, or the status line as plain text.

The body is spooled to a temporary file as it arrives (memory stays flat) and
parsed from there by a small streaming multipart reader.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from typing import IO
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from overcast.kit.errors import STATUS_TITLES, OvercastError
from overcast.object import objects, schemas, tempurl
from overcast.object.access import run, spool, store_of, temp_url_keys
from overcast.object.objects import NewObject

READ = 1 << 16
MAX_VALUE_LENGTH = 4096


class FormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Reader:
    """A buffered reader over a file that can stream up to a delimiter."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.buf = b""

    def _fill(self) -> bool:
        data = self.fh.read(READ)
        self.buf += data
        return bool(data)

    def until(self, token: bytes) -> Iterator[bytes]:
        """The bytes before `token` (consumed); EOFError if it never comes."""
        keep = len(token) - 1
        while True:
            i = self.buf.find(token)
            if i >= 0:
                if i:
                    yield self.buf[:i]
                self.buf = self.buf[i + len(token):]
                return
            if len(self.buf) > keep:
                yield self.buf[:len(self.buf) - keep]
                self.buf = self.buf[len(self.buf) - keep:]
            if not self._fill():
                raise EOFError("premature end of the form")

    def take(self, n: int) -> bytes:
        while len(self.buf) < n and self._fill():
            pass
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _disposition(headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    kind, *params = headers.get("content-disposition", "").split(";")
    attrs = {}
    for p in params:
        k, _, v = p.strip().partition("=")
        attrs[k.lower()] = v.strip().strip('"')
    return kind.strip().lower(), attrs


def parts(fh: IO[bytes], boundary: bytes) -> Iterator[tuple[dict[str, str], Iterator[bytes]]]:
    """(headers, body chunks) of each part; a body must be read before the next part."""
    r = _Reader(fh)
    for _ in r.until(b"--" + boundary):
        pass
    while True:
        end = r.take(2)
        if end == b"--" or not end:
            return
        if end != b"\r\n":
            raise FormError(400, "FormPost: invalid starting boundary")
        raw = b"".join(r.until(b"\r\n\r\n"))
        headers = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        yield headers, r.until(b"\r\n--" + boundary)


def signature_ok(path_variants: list[str], attrs: dict[str, str], keys: list[str],
                 allowed: list[str]) -> bool:
    sig = attrs.get("signature", "")
    algo = sig.partition(":")[0] if ":" in sig else {40: "sha1", 64: "sha256",
                                                     128: "sha512"}.get(len(sig))
    if algo not in allowed:
        return False
    fields = [attrs.get("redirect") or "", attrs.get("max_file_size") or "0",
              attrs.get("max_file_count") or "0", attrs.get("expires") or "0"]
    for key in keys:
        for path in path_variants:
            expected = tempurl.hmac_for(key, "\n".join([path, *fields]), sig)
            if expected is not None and hmac.compare_digest(expected[0], expected[1]):
                return True
    return False


async def _chunks(it: Iterator[bytes], cap: int) -> AsyncIterator[bytes]:
    size = 0
    while True:
        data = await asyncio.to_thread(next, it, b"")
        if not data:
            return
        size += len(data)
        if size > cap:
            raise FormError(400, "FormPost: max_file_size exceeded")
        yield data


async def handle(request: Request, account: str, container: str, prefix: str) -> Response:
    try:
        status, message = await _run_form(request, account, container, prefix)
    except FormError as exc:
        if exc.status == 401:
            return Response(exc.message.encode(), status_code=401,
                            headers={"Content-Type": "text/plain; charset=UTF-8"})
        return Response(exc.message.encode(), status_code=exc.status,
                        headers={"Content-Type": "text/plain"})
    redirect = request.state.formpost_redirect
    line = f"{status} {STATUS_TITLES.get(status, 'Created' if status == 201 else 'Error')}"
    if not redirect:
        text = line + (f"\r\nFormPost: {message.title()}" if message else "")
        return Response(text.encode(), status_code=status,
                        headers={"Content-Type": "text/plain"})
    target = redirect + ("&" if "?" in redirect else "?") + \
        f"status={status}&message={quote(message)}"
    page = f'<html><body><p><a href="{target}">Click to continue...</a></p></body></html>'
    return Response(page.encode(), status_code=303, headers={"Location": target})


async def _run_form(request: Request, account: str, container: str, prefix: str
                    ) -> tuple[int, str]:
    ctype = request.headers.get("content-type", "")
    boundary = next((p.strip()[9:].strip('"') for p in ctype.split(";")
                     if p.strip().lower().startswith("boundary=")), "")
    if not boundary:
        raise FormError(400, "FormPost: invalid starting boundary")
    request.state.formpost_redirect = ""
    store = store_of(request)
    keys = await temp_url_keys(store, account, container)
    allowed = request.app.state.object_tempurl_digests
    sub = request.url.path[len("/object"):]
    fh = await spool(request)
    attrs: dict[str, str] = {}
    count = 0
    status, message = 0, ""
    try:
        it = parts(fh, boundary.encode())
        while True:
            part = await asyncio.to_thread(next, it, None)
            if part is None:
                break
            headers, chunks = part
            kind, disp = _disposition(headers)
            if kind == "form-data" and disp.get("filename"):
                count += 1
                if count > int(attrs.get("max_file_count") or 0):
                    status, message = 400, "max file count exceeded"
                    break
                _check(attrs, [sub, request.url.path], keys, allowed)
                name = prefix + disp["filename"]
                schemas.check_object_name(name)
                new = NewObject(content_type=attrs.get("content-type") or
                                headers.get("content-type") or None,
                                delete_at=_delete_at(attrs))
                try:
                    await objects.put(store, account, container, name,
                                      _chunks(chunks, int(attrs.get("max_file_size") or 0)),
                                      new)
                except OvercastError as exc:
                    status, message = exc.status, exc.message
                    break
                status = 201
            else:
                data = b"".join(await run(list, chunks))[:MAX_VALUE_LENGTH]
                if "name" in disp:
                    attrs[disp["name"].lower()] = data.decode("utf-8", "replace")
                    if disp["name"].lower() == "redirect":
                        request.state.formpost_redirect = attrs["redirect"]
    except EOFError as exc:
        raise FormError(400, f"FormPost: {exc}") from None
    finally:
        fh.close()
    if not status:
        status, message = 400, "no files to process"
    return status, message


def _check(attrs: dict[str, str], paths: list[str], keys: list[str], allowed: list[str]
           ) -> None:
    for name in ("max_file_size", "max_file_count", "expires"):
        if not (attrs.get(name) or "0").isdigit():
            raise FormError(400, f"FormPost: {name} not an integer")
    if int(attrs.get("expires") or 0) < time.time():
        raise FormError(401, "FormPost: Form Expired")
    if not keys or not signature_ok(paths, attrs, keys, allowed):
        raise FormError(401, "FormPost: Invalid Signature")


def _delete_at(attrs: dict[str, str]) -> int | None:
    """The form's x_delete_at / x_delete_after, checked as the object PUT's headers."""
    headers = {f"x-delete-{k[9:]}": attrs[k] for k in ("x_delete_at", "x_delete_after")
               if attrs.get(k)}
    try:
        return schemas.delete_at(headers)
    except OvercastError as exc:
        raise FormError(400, f"FormPost: {exc.message}") from None
