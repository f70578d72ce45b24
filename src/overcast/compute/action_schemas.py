"""Request schemas of the server actions that have modules of their own (createBackup,
restore, forceDelete, and the actions added with them), after Nova's
api/openstack/compute/schemas/<action>.py, with the parsers that turn a checked
argument into what the service takes. The older actions' schemas are in `schemas`.
"""

from __future__ import annotations

from typing import Any

from overcast.compute.schemas import METADATA, NAME, _nova, _obj, metadata
from overcast.kit.schema import MAX_INT, int_string

#: Nova's createBackup: name, backup_type and rotation required, metadata optional.
CREATE_BACKUP = _nova(_obj({"name": NAME, "backup_type": {"type": "string"},
                            "rotation": int_string(0, MAX_INT), "metadata": METADATA},
                           ["name", "backup_type", "rotation"]))


def create_backup(arg: Any) -> dict[str, Any]:
    """(name, backup_type, rotation, metadata) of a createBackup."""
    r = CREATE_BACKUP.check(arg)
    return {"name": r["name"], "backup_type": r["backup_type"],
            "rotation": int(r["rotation"]), "metadata": metadata(r.get("metadata") or {})}
