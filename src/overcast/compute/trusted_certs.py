"""Trusted image certificates (2.63): the ids of the certificates a server's image
signature must chain to, given at create and rebuild (null at rebuild clears them)
and shown in the server's views as `trusted_image_certificates`.

overcast's image service does not sign images, so the certificates are kept and
shown and never checked, which is what a Nova deployment with its default
`[glance] verify_glance_signatures = False` does. As Nova, they are refused (400) for
a server that boots from a volume: there is no image to verify.
"""

from __future__ import annotations

from typing import Any

from overcast.compute import models as m
from overcast.kit.errors import BadRequest

#: where a server keeps them (its system_metadata)
KEY = "trusted_certs"
#: Nova's `trusted_certs` parameter type
SCHEMA: dict[str, Any] = {"type": ["array", "null"], "minItems": 1, "maxItems": 50,
                          "uniqueItems": True, "items": {"type": "string", "minLength": 1}}
BOOT_FROM_VOLUME = ("Image certificate validation is not supported when booting from "
                    "volume")
VOLUME_BACKED = "Image certificate validation is not supported for volume-backed servers."


def of(inst: Any) -> list[str] | None:
    """A server's certificate ids, or None (`inst`: an Instance or a view row)."""
    return (getattr(inst, "system_metadata", None) or {}).get(KEY) or None


def for_create(req: dict[str, Any]) -> dict[str, Any]:
    """The system_metadata a new server starts with (400 when booting from a volume)."""
    certs = req.get("trusted_certs")
    if not certs:
        return {}
    if not req.get("image_ref"):
        raise BadRequest(BOOT_FROM_VOLUME)
    return {KEY: list(certs)}


def store(inst: m.Instance, certs: list[str] | None) -> None:
    sysmeta = dict(inst.system_metadata or {})
    if certs:
        sysmeta[KEY] = list(certs)
    else:
        sysmeta.pop(KEY, None)
    inst.system_metadata = sysmeta
