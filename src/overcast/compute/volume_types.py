"""A volume type for the volumes a server's create makes (2.67: `volume_type` in a
`block_device_mapping_v2` item whose source is an image, a snapshot or blank).

As Nova, the type is looked up in block storage when the server is asked for (by id
or name, among those the caller may use; 400 when there is none) and kept by name
on the mapping; the volume is made with it once the server is placed.
"""

from __future__ import annotations

from typing import Any

from overcast.compute.ports import VolumePort
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, NotFound


def resolve(port: VolumePort | None, ctx: RequestContext,
            block_devices: list[dict[str, Any]]) -> None:
    """Each mapping's `volume_type` replaced by the type's name (400 if unknown)."""
    for d in block_devices:
        wanted = d.get("volume_type")
        if not wanted:
            continue
        if port is None:
            raise BadRequest("Block storage is not available in this cloud.")
        try:
            d["volume_type"] = port.volume_type_name(ctx, wanted)
        except NotFound:
            raise BadRequest(f"Volume type {wanted} could not be found.") from None
