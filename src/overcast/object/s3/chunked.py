"""`aws-chunked` request bodies, decoded as they stream in, in flat memory.

With `x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD` the body is a
series of chunks, each signed with the request's signing key and chained to the
previous signature (the first to the request's own):

    <hex size>;chunk-signature=<64 hex>\\r\\n <size bytes> \\r\\n   ... ending with a
    0;chunk-signature=<64 hex>\\r\\n\\r\\n

    signature = HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\\n" date "\\n" scope "\\n"
                     previous signature "\\n" SHA256("") "\\n" SHA256(chunk data))

`STREAMING-UNSIGNED-PAYLOAD-TRAILER` (newer SDKs with checksums) has the same
framing without signatures, and trailing `name:value` lines after the last chunk;
the `-TRAILER` signed form adds a trailer signature, which is checked too.

`ChunkedDecoder.feed` takes whatever bytes arrived and returns the payload bytes
they complete, so nothing bigger than a chunk header is ever buffered. A chunk's
data is released before its signature line can be checked (it comes after), so
the caller must treat what it wrote as provisional until `finish()` returns: the
object store writes to a temporary file and renames it only then.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass

from overcast.kit import awssig
from overcast.object.s3 import errors as err

#: A chunk header or trailer line longer than this is not one.
MAX_LINE = 4096
#: The largest chunk accepted (5 GiB: S3's largest single PUT).
MAX_CHUNK = 5 << 30
_EMPTY = awssig.EMPTY_SHA256


@dataclass(frozen=True)
class ChunkSigning:
    """What chains the chunk signatures: the request's derived key, its time and
    scope, and its own signature (the seed)."""

    key: bytes
    amz_date: str
    scope: str
    seed: str


class ChunkedDecoder:
    """A push decoder for one aws-chunked body. `signing` None: unsigned chunks."""

    def __init__(self, signing: ChunkSigning | None, *, trailer: bool = False,
                 decoded_length: int | None = None) -> None:
        self.signing = signing
        self.trailer = trailer
        self.decoded_length = decoded_length
        self.previous = signing.seed if signing else ""
        self.received = 0
        self._buf = bytearray()
        # header -> data -> data-crlf -> header ... -> (final-crlf | trailer) -> done
        self._state = "header"
        self._left = 0
        self._sig = ""
        self._hash = hashlib.sha256()
        self.trailers: dict[str, str] = {}
        self._trailer_signed = False

    # ------------------------------------------------------------ decoding
    def feed(self, data: bytes) -> list[bytes]:
        """Decode the next bytes of the body; return the payload pieces they hold."""
        out: list[bytes] = []
        self._buf += data
        while self._buf and self._state != "done":
            if self._state == "data":
                take = bytes(self._buf[:self._left])
                del self._buf[:len(take)]
                self._left -= len(take)
                self._hash.update(take)
                self.received += len(take)
                out.append(take)
                if self._left == 0:
                    self._state = "data-crlf"
                continue
            line = self._line()
            if line is None:
                break
            if self._state == "header":
                self._header(line)
            elif self._state == "data-crlf":
                if line:
                    raise err.incomplete_body("An aws-chunked chunk did not end with CRLF.")
                self._end_chunk()
                self._state = "header"
            else:
                self._trailer_line(line)
        if self._state == "done" and self._buf.strip():
            raise err.invalid_request("Unexpected data after the last aws-chunked chunk.")
        return out

    def finish(self) -> None:
        """The body has ended: it must have ended where the encoding says, with the
        length `x-amz-decoded-content-length` announced."""
        if self._state != "done":
            raise err.incomplete_body("The aws-chunked body ended before its last chunk.")
        if self.decoded_length is not None and self.received != self.decoded_length:
            raise err.incomplete_body()
        if self.signing is not None and self.trailer and not self._trailer_signed:
            # A signed body's trailers are signed too; unsigned ones could be forged.
            raise err.chunk_signature_mismatch()

    async def decode(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The payload of an async byte stream, checked to its end."""
        async for data in source:
            for piece in self.feed(data):
                yield piece
        self.finish()

    # ------------------------------------------------------------- helpers
    def _line(self) -> str | None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > MAX_LINE:
                raise err.invalid_request("An aws-chunked header line is too long.")
            return None
        if end > MAX_LINE:
            raise err.invalid_request("An aws-chunked header line is too long.")
        line = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[:end + 2]
        return line

    def _header(self, line: str) -> None:
        size_text, _, ext = line.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise err.invalid_request(f"Invalid aws-chunked chunk size {size_text[:32]!r}."
                                      ) from None
        if size < 0 or size > MAX_CHUNK or len(size_text.strip()) > 16:
            raise err.invalid_request("Invalid aws-chunked chunk size.")
        self._sig = ""
        name, _, value = ext.partition("=")
        if name.strip() == "chunk-signature":
            self._sig = value.strip()
        if self.signing is not None and not self._sig:
            raise err.chunk_signature_mismatch()
        self._left = size
        self._hash = hashlib.sha256()
        if size == 0:
            self._end_chunk()
            # The last chunk: an empty line follows, or the trailers and then one.
            self._state = "trailer" if self.trailer else "final-crlf"
            return
        self._state = "data"

    def _end_chunk(self) -> None:
        if self.signing is None:
            return
        to_sign = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", self.signing.amz_date,
                             self.signing.scope, self.previous, _EMPTY,
                             self._hash.hexdigest()))
        expected = hmac.new(self.signing.key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not awssig.same(expected, self._sig):
            raise err.chunk_signature_mismatch()
        self.previous = expected

    def _trailer_line(self, line: str) -> None:
        if self._state == "final-crlf":
            if line:
                raise err.incomplete_body("The last aws-chunked chunk did not end with "
                                          "CRLF.")
            self._state = "done"
            return
        if not line:
            self._state = "done"
            return
        name, sep, value = line.partition(":")
        if not sep:
            raise err.invalid_request("Malformed aws-chunked trailer.")
        name = name.strip().lower()
        if name == "x-amz-trailer-signature":
            self._check_trailer_signature(value.strip())
        else:
            self.trailers[name] = value.strip()

    def _check_trailer_signature(self, given: str) -> None:
        if self.signing is None:
            return
        block = "".join(f"{k}:{v}\n" for k, v in self.trailers.items())
        to_sign = "\n".join(("AWS4-HMAC-SHA256-TRAILER", self.signing.amz_date,
                             self.signing.scope, self.previous,
                             hashlib.sha256(block.encode()).hexdigest()))
        expected = hmac.new(self.signing.key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not awssig.same(expected, given):
            raise err.chunk_signature_mismatch()
        self._trailer_signed = True


class PayloadHash:
    """A body whose SHA-256 the client signed (`x-amz-content-sha256: <hex>`):
    hash what streams through, compare at the end."""

    def __init__(self, expected: str) -> None:
        self.expected = expected.lower()
        self._hash = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def finish(self) -> None:
        computed = self._hash.hexdigest()
        if not awssig.same(computed, self.expected):
            raise err.content_sha256_mismatch(self.expected, computed)
