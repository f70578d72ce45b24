"""Block storage quotas and limits (Cinder's quota sets and `/limits`).

Usage is counted from the volumes and snapshots themselves inside the transaction
that creates one more, so it cannot drift from reality after a crash (Cinder keeps
usage and reservation rows that can). A volume's and a snapshot's GiB both count
towards `gigabytes`, as Cinder counts them; per-type quotas are named
`volumes_<type>`, `gigabytes_<type>` and `snapshots_<type>` (-1: unlimited).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.volume import errors
from overcast.volume import models as m
from overcast.volume.backup_models import Backup
from overcast.volume.common import Store

DEFAULTS = {"volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10,
            "backup_gigabytes": 1000, "groups": 10, "per_volume_gigabytes": -1}
PER_TYPE = ("volumes", "gigabytes", "snapshots")
#: the `default` quota class's rows, beside the projects' (no project has this id)
CLASS_DEFAULT = "__class__:default"


class Quotas:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------ reading
    def _types(self, s: Session) -> list[str]:
        return list(s.scalars(select(m.VolumeType.name).order_by(m.VolumeType.name)))

    def _defaults(self, s: Session) -> dict[str, int]:
        """The `default` quota class: the built-in defaults as an admin set them."""
        out = dict(DEFAULTS)
        for t in self._types(s):
            for r in PER_TYPE:
                out[f"{r}_{t}"] = -1
        for q in s.scalars(select(m.Quota).where(m.Quota.project_id == CLASS_DEFAULT)):
            out[q.resource] = q.hard_limit
        return out

    def limits(self, s: Session, project_id: str) -> dict[str, int]:
        out = self._defaults(s)
        for q in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
            out[q.resource] = q.hard_limit
        return out

    def usage(self, s: Session, project_id: str) -> dict[str, int]:
        names = {t.id: t.name for t in s.scalars(select(m.VolumeType))}
        out = {k: 0 for k in DEFAULTS}
        for n in names.values():
            for r in PER_TYPE:
                out[f"{r}_{n}"] = 0
        vols = s.execute(select(m.Volume.volume_type_id, func.count(), func.sum(m.Volume.size))
                         .where(m.Volume.project_id == project_id)
                         .group_by(m.Volume.volume_type_id)).all()
        snaps = s.execute(select(m.Snapshot.volume_type_id, func.count(),
                                 func.sum(m.Snapshot.size))
                          .where(m.Snapshot.project_id == project_id)
                          .group_by(m.Snapshot.volume_type_id)).all()
        for type_id, count, gb in vols:
            out["volumes"] += int(count)
            out["gigabytes"] += int(gb or 0)
            if type_id in names:
                out[f"volumes_{names[type_id]}"] += int(count)
                out[f"gigabytes_{names[type_id]}"] += int(gb or 0)
        for type_id, count, gb in snaps:
            out["snapshots"] += int(count)
            out["gigabytes"] += int(gb or 0)
            if type_id in names:
                out[f"snapshots_{names[type_id]}"] += int(count)
                out[f"gigabytes_{names[type_id]}"] += int(gb or 0)
        count, gb = s.execute(select(func.count(), func.sum(Backup.size))
                              .where(Backup.project_id == project_id)).one()
        out["backups"], out["backup_gigabytes"] = int(count), int(gb or 0)
        return out

    def check(self, s: Session, project_id: str, type_name: str | None, *,
              volumes: int = 0, snapshots: int = 0, gigabytes: int = 0) -> None:
        """Refuse (413, Cinder's words) what would take the project past a quota."""
        limits, used = self.limits(s, project_id), self.usage(s, project_id)
        per_volume = limits["per_volume_gigabytes"]
        if volumes and per_volume >= 0 and gigabytes > per_volume:
            raise errors.gigabytes_quota("per_volume_gigabytes", gigabytes, per_volume, 0)
        wants = [("gigabytes", gigabytes), ("volumes", volumes), ("snapshots", snapshots)]
        if type_name:
            wants += [(f"{r}_{type_name}", n) for r, n in
                      (("gigabytes", gigabytes), ("volumes", volumes),
                       ("snapshots", snapshots))]
        for name, n in wants:
            limit = limits.get(name, -1)
            if n <= 0 or limit < 0 or used.get(name, 0) + n <= limit:
                continue
            if name.startswith("gigabytes"):
                raise errors.gigabytes_quota(name, n, limit, used.get(name, 0))
            if name.startswith("volumes"):
                raise errors.volume_limit(name, limit)
            raise errors.snapshot_limit(name, limit)

    # ------------------------------------------------------------ the API
    def show(self, project_id: str, *, usage: bool) -> dict[str, Any]:
        with self.store.db.session() as s:
            limits = self.limits(s, project_id)
            used = self.usage(s, project_id) if usage else {}
        out: dict[str, Any] = {"id": project_id}
        for k, v in limits.items():
            out[k] = {"limit": v, "in_use": used.get(k, 0), "reserved": 0,
                      "allocated": 0} if usage else v
        return out

    def defaults(self, project_id: str) -> dict[str, Any]:
        with self.store.db.session() as s:
            return {"id": project_id, **self._defaults(s)}

    def class_show(self, name: str) -> dict[str, Any]:
        """A quota class: only `default` has limits (Cinder's other classes are
        empty unless set, and no project here belongs to one)."""
        with self.store.db.session() as s:
            return {"id": name, **(self._defaults(s) if name == "default" else {})}

    def class_update(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        if name != "default":
            raise errors.invalid_input("Only the 'default' quota class is used here.")
        self.update(CLASS_DEFAULT, values, check_usage=False)
        out = self.class_show(name)
        out.pop("id")
        return out

    def update(self, project_id: str, values: dict[str, Any], *, check_usage: bool = True
               ) -> dict[str, Any]:
        with self.store.db.transaction() as s:
            known = self.limits(s, project_id)
            used = self.usage(s, project_id) if check_usage else {}
            for key, raw in values.items():
                if key == "tenant_id":
                    continue
                if key not in known:
                    raise errors.invalid_input(f"Invalid quota key {key}")
                value = int(raw)
                if value < -1:
                    raise errors.invalid_input(
                        f"Quota limit {value} for {key} must be -1 or greater.")
                if value != -1 and used.get(key, 0) > value:
                    raise errors.quota_below_usage(key, value, used[key])
                row = s.get(m.Quota, (project_id, key))
                if row is None:
                    s.add(m.Quota(project_id=project_id, resource=key, hard_limit=value))
                else:
                    row.hard_limit = value
        out = self.show(project_id, usage=False)
        out.pop("id", None)
        return out

    def reset(self, project_id: str) -> None:
        with self.store.db.transaction() as s:
            for q in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
                s.delete(q)

    def absolute_limits(self, project_id: str) -> dict[str, int]:
        with self.store.db.session() as s:
            limits, used = self.limits(s, project_id), self.usage(s, project_id)
        return {"maxTotalVolumes": limits["volumes"],
                "maxTotalSnapshots": limits["snapshots"],
                "maxTotalVolumeGigabytes": limits["gigabytes"],
                "maxTotalBackups": limits["backups"],
                "maxTotalBackupGigabytes": limits["backup_gigabytes"],
                "totalVolumesUsed": used["volumes"], "totalGigabytesUsed": used["gigabytes"],
                "totalSnapshotsUsed": used["snapshots"],
                "totalBackupsUsed": used["backups"],
                "totalBackupGigabytesUsed": used["backup_gigabytes"]}
