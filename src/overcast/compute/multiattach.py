"""Multiattach volumes (2.60): a volume whose type allows it may be attached to more
than one server at once (block storage keeps it `in-use` and hands out one attachment
per server). Below 2.60 Nova refuses such a volume, at attach and at boot, whatever
its state: a client that does not know the microversion does not know that another
server may write to the disk too.
"""

from __future__ import annotations

from collections.abc import Iterable

from overcast.compute.ports import VolumePort
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion

OLD_MICROVERSION = ("Multiattach volumes are only supported starting with compute API "
                    "version 2.60.")


def check(port: VolumePort | None, ctx: RequestContext, volume_ids: Iterable[str],
          v: APIVersion) -> None:
    """400 for a multiattach volume below 2.60 (a volume the caller cannot see is
    left to the attach or boot path, which answers for it)."""
    if port is None or v.at_least("2.60"):
        return
    for volume_id in volume_ids:
        try:
            volume = port.lookup(ctx, volume_id)
        except NotFound:
            continue
        if volume.get("multiattach"):
            raise BadRequest(OLD_MICROVERSION)
