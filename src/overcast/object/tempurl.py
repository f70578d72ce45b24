"""Temporary URLs: anyone holding a URL signed with an account's or container's
temp-URL key may GET/HEAD/PUT/POST/DELETE one object until it expires.

As Swift's tempurl middleware: the signature is an HMAC of
"<METHOD>\\n<expires>\\n<path>" (or "prefix:<path prefix>" with
`temp_url_prefix`), with SHA-1, SHA-256 or SHA-512 (hex, or "<algo>:<base64>"),
keyed by X-Account-Meta-Temp-URL-Key(-2) or X-Container-Meta-Temp-URL-Key(-2).
`temp_url_expires` is Unix seconds or ISO 8601 UTC. A HEAD is allowed with a
signature for GET, PUT or POST. The signed path is the request's path below
the object service's mount point (`/v1/AUTH_.../c/o`), as swiftclient signs
it; the full path (`/object/v1/...`) is accepted too.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from overcast.object import errors

#: What /info advertises and what is checked (the default of Swift 2.30 minus
#: nothing: sha1 stays allowed for older clients).
DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")
_HEX_LENGTHS = {40: "sha1", 64: "sha256", 128: "sha512"}


def expires(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return calendar.timegm(time.strptime(raw, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        raise errors.bad_request(
            "Invalid temp_url_expires: must be a Unix time or ISO 8601 UTC.") from None


def _digest(sig: str) -> tuple[str, bytes] | None:
    if ":" in sig:
        algo, _, b64 = sig.partition(":")
        if algo not in DIGESTS:
            return None
        try:
            return algo, base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError):
            return None
    hex_algo = _HEX_LENGTHS.get(len(sig))
    if hex_algo is None:
        return None
    try:
        return hex_algo, bytes.fromhex(sig)
    except ValueError:
        return None


def hmac_for(key: str, message: str, sig: str) -> tuple[bytes, bytes] | None:
    """(computed, given) digests of `message` for a signature `sig` in any of the
    accepted forms, or None when `sig` is not one."""
    parsed = _digest(sig)
    if parsed is None:
        return None
    algo, wanted = parsed
    return hmac.new(key.encode(), message.encode(), DIGESTS[algo]).digest(), wanted


def sign(key: str, method: str, expires_at: int, path: str, algo: str = "sha256") -> str:
    return hmac.new(key.encode(), f"{method}\n{expires_at}\n{path}".encode(),
                    DIGESTS[algo]).hexdigest()


def valid(query: Mapping[str, str], method: str, paths: Sequence[str], keys: Sequence[str],
          when: float | None = None) -> bool:
    """Does the query carry a live signature, by one of `keys`, for this method
    and one of `paths` (the object path, as the signer may have written it)?"""
    sig, raw_exp = query.get("temp_url_sig"), query.get("temp_url_expires")
    if not sig or not raw_exp or not keys:
        return False
    exp = expires(raw_exp)
    if exp < (time.time() if when is None else when):
        return False
    parsed = _digest(sig)
    if parsed is None:
        return False
    algo, wanted = parsed
    prefix = query.get("temp_url_prefix")
    subjects: list[str] = []
    for path in paths:
        if prefix is None:
            subjects.append(path)
            continue
        head, sep, rest = path.partition("/v1/")
        account, _, tail = rest.partition("/")
        container, _, obj = tail.partition("/")
        if sep and container and obj.startswith(prefix):
            subjects.append(f"prefix:{head}/v1/{account}/{container}/{prefix}")
    methods = [method] if method != "HEAD" else ["HEAD", "GET", "PUT", "POST"]
    for key in keys:
        for subject in subjects:
            for meth in methods:
                mac = hmac.new(key.encode(), f"{meth}\n{exp}\n{subject}".encode(),
                               DIGESTS[algo]).digest()
                if hmac.compare_digest(mac, wanted):
                    return True
    return False
