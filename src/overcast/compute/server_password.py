"""A server's password (Nova's `os-server-password`): what the guest posted, encrypted
with the server's key pair, for its owner to read and clear.

Nova keeps it in the instance's system_metadata; so does overcast (`password`). The
API only reads it and clears it: GET answers what is stored ("" while nothing is),
DELETE empties it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from overcast.compute import models as m
from overcast.db import Database, utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound

KEY = "password"


def _instance(s: Session, ctx: RequestContext, uuid: str) -> m.Instance:
    inst = s.get(m.Instance, uuid)
    if inst is None or inst.deleted or (not ctx.is_admin and
                                        inst.project_id != ctx.project_id):
        raise NotFound(f"Instance {uuid} could not be found.")
    return inst


class ServerPasswords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, ctx: RequestContext, uuid: str) -> str:
        """The encrypted password the guest posted, "" when none was."""
        with self.db.session() as s:
            inst = _instance(s, ctx, uuid)
            return str((inst.system_metadata or {}).get(KEY) or "")

    def clear(self, ctx: RequestContext, uuid: str) -> None:
        """Forget the password (the guest may post a new one)."""
        with self.db.transaction() as s:
            inst = _instance(s, ctx, uuid)
            sysmeta = dict(inst.system_metadata or {})
            if sysmeta.pop(KEY, None) is not None:
                inst.system_metadata = sysmeta
                inst.updated_at = utcnow()
