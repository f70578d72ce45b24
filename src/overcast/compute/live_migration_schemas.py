"""The request schemas of a live migration, per compute microversion (as Nova's
`schemas/migrate_server.py`): `os-migrateLive`'s argument, and `force_complete`.

- 2.1: `block_migration`, `disk_over_commit` (booleans, Nova's loose ones) and
  `host` (a host name or null), all three required;
- 2.25: `disk_over_commit` is gone; `block_migration` may be "auto";
- 2.30: `force` (bypass the scheduler's checks on the named host; the pre-checks
  are made anyway here);
- 2.68: `force` is gone again.
"""

from __future__ import annotations

from typing import Any

from overcast.compute.schemas import BOOLEAN, TRUE_STRINGS
from overcast.kit.microversion import APIVersion
from overcast.kit.schema import Schema

_HOST: dict[str, Any] = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                         "pattern": r"^[a-zA-Z0-9._:\-]*$"}
_AUTO: dict[str, Any] = {"oneOf": [BOOLEAN, {"type": "string", "enum": ["auto"]}]}


def _live(props: dict[str, Any], required: list[str]) -> Schema:
    return Schema({"type": "object", "properties": props, "required": required,
                   "additionalProperties": False}, "nova")


#: (the first version it applies from, the schema), oldest first
MIGRATE_LIVE: list[tuple[APIVersion, Schema]] = [
    (APIVersion(2, 1), _live({"block_migration": BOOLEAN, "disk_over_commit": BOOLEAN,
                              "host": _HOST},
                             ["block_migration", "disk_over_commit", "host"])),
    (APIVersion(2, 25), _live({"block_migration": _AUTO, "host": _HOST},
                              ["block_migration", "host"])),
    (APIVersion(2, 30), _live({"block_migration": _AUTO, "host": _HOST, "force": BOOLEAN},
                              ["block_migration", "host"])),
    (APIVersion(2, 68), _live({"block_migration": _AUTO, "host": _HOST},
                              ["block_migration", "host"])),
]

#: the body of a server migration's action: `{"force_complete": null}`
MIGRATION_ACTION = Schema({"type": "object", "properties": {"force_complete": {"type": "null"}},
                           "required": ["force_complete"], "additionalProperties": False},
                          "nova")


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value in TRUE_STRINGS)


def migrate_live(arg: Any, v: APIVersion) -> tuple[str | None, bool | str]:
    """(the target host or None for the scheduler's choice, block_migration: a bool
    or "auto")."""
    schema = next(s for since, s in reversed(MIGRATE_LIVE)
                  if (v.major, v.minor) >= (since.major, since.minor))
    body = schema.check(arg)
    block = body["block_migration"]
    return body.get("host"), "auto" if block == "auto" else _bool(block)
