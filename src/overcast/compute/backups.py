"""Server backups (Nova's `createBackup`): a snapshot image marked as a backup of a
type (`backup_type`, e.g. daily, weekly), of which only the newest `rotation` are
kept.

The backup is made exactly as a snapshot (`ComputeService.create_image`, the same
agent message and upload), with Nova's image properties (`image_type: backup`,
`backup_type`, `instance_uuid`) and the rotation carried along. Once its data is in
the image service, the conductor calls `rotate`: the server's backups of that type,
newest first, beyond `rotation` are deleted as their owner deletes them, as Nova's
`_rotate_backups` does after the upload (so a failed backup never costs an old one).
A rotation of 0 keeps none, the new one included.
"""

from __future__ import annotations

import logging

from overcast.compute.ports import ImagePort
from overcast.kit.context import RequestContext

log = logging.getLogger("overcast.compute.backups")

#: image properties that make a snapshot a backup (Nova's)
IMAGE_TYPE = "backup"


def backup_properties(backup_type: str) -> dict[str, str]:
    """What marks a server's image as a backup of `backup_type`."""
    return {"image_type": IMAGE_TYPE, "backup_type": backup_type}


def rotate(image: ImagePort, owner: RequestContext, instance_uuid: str, backup_type: str,
           rotation: int) -> list[str]:
    """Delete the server's oldest backups of `backup_type` beyond the newest
    `rotation`; returns the ids deleted. A backup that cannot be deleted (made
    protected meanwhile) is logged and kept, as Nova keeps going."""
    params = [("instance_uuid", instance_uuid), ("image_type", IMAGE_TYPE),
              ("backup_type", backup_type), ("sort_key", "created_at"),
              ("sort_dir", "desc")]
    images, _ = image.list_images(owner, params, limit=1000, marker=None)
    deleted = []
    for old in images[rotation:]:
        try:
            image.delete(owner, old["id"])
            deleted.append(str(old["id"]))
        except Exception:  # noqa: BLE001 - the other backups still rotate
            log.exception("backup %s of %s could not be rotated away", old["id"],
                          instance_uuid)
    return deleted
