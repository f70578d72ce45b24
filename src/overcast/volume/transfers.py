"""Volume transfers: hand a volume (and, unless `no_snapshots`, its snapshots) to
another project. The giver creates a transfer and gets an auth key once; whoever
holds the id and the key accepts it into their own project.

The key is kept only as a salted hash (as Cinder keeps it). The volume must be
`available` to be offered; while offered it is `awaiting-transfer`, and deleting
the transfer (or accepting it) makes it `available` again. Quota is checked in the
receiving project.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import select

from overcast.kit.context import RequestContext
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, policy, views
from overcast.volume import models as m
from overcast.volume.common import Store
from overcast.volume.quotas import Quotas


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


class Transfers:
    def __init__(self, store: Store, quotas: Quotas) -> None:
        self.store = store
        self.quotas = quotas

    def _get(self, s: Any, ctx: RequestContext, transfer_id: str) -> m.Transfer:
        t = s.get(m.Transfer, transfer_id)
        if t is None or not policy.can_see(ctx, t.source_project_id):
            raise errors.transfer_not_found(transfer_id)
        return t

    def listing(self, ctx: RequestContext, params: dict[str, str], base: str, ver: APIVersion,
             detail: bool) -> list[dict[str, Any]]:
        stmt = select(m.Transfer)
        if not (ctx.is_admin and "all_tenants" in params):
            stmt = stmt.where(m.Transfer.source_project_id == (ctx.project_id or ""))
        with self.store.db.session() as s:
            rows = list(s.scalars(stmt.order_by(m.Transfer.created_at, m.Transfer.id)))
            out = [views.transfer(base, t, ver) for t in rows]
        if not detail:
            out = [{k: x[k] for k in ("id", "name", "volume_id", "links")} for x in out]
        return out

    def show(self, ctx: RequestContext, transfer_id: str, base: str, ver: APIVersion
             ) -> dict[str, Any]:
        with self.store.db.session() as s:
            t = self._get(s, ctx, transfer_id)
            policy.read(ctx, t.source_project_id, "volume:get_transfer")
            return views.transfer(base, t, ver)

    def create(self, ctx: RequestContext, body: dict[str, Any], base: str, ver: APIVersion
               ) -> dict[str, Any]:
        req = body["transfer"]
        no_snapshots = bool(req.get("no_snapshots", False)) and ver.at_least("3.55")
        key = secrets.token_hex(8)
        salt = secrets.token_hex(8)
        with self.store.db.transaction() as s:
            v = common.volume(s, ctx, req["volume_id"], lock=True)
            policy.write(ctx, v.project_id, "volume:create_transfer")
            if v.status != "available":
                raise errors.invalid_volume("status must be available")
            if not no_snapshots:
                busy = [x for x in s.scalars(select(m.Snapshot).where(
                    m.Snapshot.volume_id == v.id)) if x.status != "available"]
                if busy:
                    raise errors.invalid_snapshot("snapshot status must be available")
            t = m.Transfer(id=str(uuid.uuid4()), volume_id=v.id, name=req.get("name"),
                           salt=salt, crypt_hash=_hash(salt, key),
                           source_project_id=v.project_id, no_snapshots=no_snapshots)
            s.add(t)
            v.status = "awaiting-transfer"
            s.flush()
            return views.transfer(base, t, ver, auth_key=key)

    def delete(self, ctx: RequestContext, transfer_id: str) -> None:
        with self.store.db.transaction() as s:
            t = self._get(s, ctx, transfer_id)
            policy.write(ctx, t.source_project_id, "volume:delete_transfer")
            v = s.get(m.Volume, t.volume_id)
            if v is not None and v.status == "awaiting-transfer":
                v.status = "available"
            s.delete(t)

    def accept(self, ctx: RequestContext, transfer_id: str, auth_key: str, base: str,
               ver: APIVersion) -> dict[str, Any]:
        policy.write(ctx, ctx.project_id or "", "volume:accept_transfer")
        with self.store.db.transaction() as s:
            # the receiving project cannot see the transfer: it knows its id and key
            t = s.get(m.Transfer, transfer_id)
            if t is None:
                raise errors.transfer_not_found(transfer_id)
            if not hmac.compare_digest(t.crypt_hash, _hash(t.salt, auth_key)):
                raise errors.invalid_auth_key(transfer_id)
            v = s.get(m.Volume, t.volume_id)
            if v is None:
                raise errors.volume_not_found(t.volume_id)
            if v.status != "awaiting-transfer":
                raise errors.invalid_volume("status must be awaiting-transfer")
            dest = ctx.project_id or ""
            snaps = list(s.scalars(select(m.Snapshot).where(m.Snapshot.volume_id == v.id)))
            vtype = s.get(m.VolumeType, v.volume_type_id or "")
            moving = [] if t.no_snapshots else snaps
            self.quotas.check(s, dest, vtype.name if vtype else None, volumes=1,
                              gigabytes=v.size + sum(x.size for x in moving))
            if moving:
                self.quotas.check(s, dest, vtype.name if vtype else None,
                                  snapshots=len(moving))
            v.project_id, v.user_id, v.status = dest, ctx.user_id or "", "available"
            for snap in moving:
                snap.project_id, snap.user_id = dest, ctx.user_id or ""
            out = {"id": t.id, "name": t.name, "volume_id": t.volume_id,
                   "links": views.links(base, dest, "os-volume-transfer", t.id)}
            s.delete(t)
            return out
