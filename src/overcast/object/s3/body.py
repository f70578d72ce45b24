"""A request body as the signature vouches for it, for the S3 routes to stream
into the object store: aws-chunked bodies decoded with every chunk signature
checked, a signed SHA-256 compared once the last byte is in, an unsigned body
passed through. Memory stays flat whatever the size.

The check of the whole body can only end with the body, after its bytes were
handed on: the iterator raises S3's error at the end instead of finishing, and
the store, which commits an object only when its source is exhausted (temporary
file, fsync, rename), then keeps nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from overcast.object.s3 import errors as err
from overcast.object.s3.auth import S3Caller


def decoded_length(headers: dict[str, str] | None) -> int | None:
    """`x-amz-decoded-content-length`: the payload size of an aws-chunked body."""
    raw = (headers or {}).get("x-amz-decoded-content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise err.invalid_argument("x-amz-decoded-content-length must be a number",
                                   "x-amz-decoded-content-length", raw[:32])
    return int(raw)


async def verified_body(source: AsyncIterator[bytes], caller: S3Caller | None,
                        headers: dict[str, str] | None = None) -> AsyncIterator[bytes]:
    """The payload of `source` (an ASGI request's stream), checked as the caller's
    signature says; `headers` are the request's, lower-cased."""
    decoder = caller.body_decoder(decoded_length(headers)) if caller else None
    if decoder is not None:
        async for piece in decoder.decode(source):
            yield piece
        return
    check = caller.payload_check() if caller else None
    async for data in source:
        if check is not None:
            check.update(data)
        if data:
            yield data
    if check is not None:
        check.finish()
