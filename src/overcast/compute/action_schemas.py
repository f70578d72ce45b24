"""Request schemas of the server actions that have modules of their own (createBackup,
restore, forceDelete, and the actions added with them), after Nova's
api/openstack/compute/schemas/<action>.py, with the parsers that turn a checked
argument into what the service takes. The older actions' schemas are in `schemas`.
"""

from __future__ import annotations

from typing import Any

from overcast.compute.schemas import (
    ADMIN_PASSWORD,
    METADATA,
    NAME,
    UUID,
    _nova,
    _obj,
    metadata,
)
from overcast.kit.schema import MAX_INT, int_string

#: Nova's createBackup: name, backup_type and rotation required, metadata optional.
CREATE_BACKUP = _nova(_obj({"name": NAME, "backup_type": {"type": "string"},
                            "rotation": int_string(0, MAX_INT), "metadata": METADATA},
                           ["name", "backup_type", "rotation"]))


#: Nova's rescue (2.1): null, or an object with an adminPass and a rescue image.
RESCUE = _nova({"type": ["object", "null"], "properties": {
    "adminPass": ADMIN_PASSWORD, "rescue_image_ref": UUID}, "additionalProperties": False})
#: Nova's changePassword: adminPass required.
CHANGE_PASSWORD = _nova(_obj({"adminPass": ADMIN_PASSWORD}, ["adminPass"]))


def rescue(arg: Any) -> tuple[str | None, str | None]:
    """(adminPass, rescue image id), each None when not given."""
    r = RESCUE.check(arg) or {}
    return r.get("adminPass"), r.get("rescue_image_ref")


def change_password(arg: Any) -> str:
    return str(CHANGE_PASSWORD.check(arg)["adminPass"])


def create_backup(arg: Any) -> dict[str, Any]:
    """(name, backup_type, rotation, metadata) of a createBackup."""
    r = CREATE_BACKUP.check(arg)
    return {"name": r["name"], "backup_type": r["backup_type"],
            "rotation": int(r["rotation"]), "metadata": metadata(r.get("metadata") or {})}
