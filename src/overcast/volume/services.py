"""The storage hosts as the control plane knows them: Cinder's `os-services`, the
availability zones, where a new volume goes (the scheduler's part), and the
start-up sync that settles records a crash left in a transitional state.

A storage component beats every few seconds (`StorageHeartbeat`); a service whose
last beat is older than `DOWN_AFTER` is down, and no new volume goes to it. The
scheduler takes the up, enabled backend of the zone with the most free space that
the volume type's `volume_backend_name` (if any) names.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.bus.messages import StorageHeartbeat, StorageSync, StorageSyncReply
from overcast.db import utcnow
from overcast.kit.errors import BadRequest, NotFound
from overcast.kit.microversion import APIVersion
from overcast.volume import common, errors, views
from overcast.volume import models as m
from overcast.volume.common import Store

DOWN_AFTER = dt.timedelta(seconds=60)
#: what every storage backend here reports as its vendor and protocol
VENDOR, PROTOCOL = "overcast", "file/nbd"
VOLUME_BINARY = "cinder-volume"
SCHEDULER_BINARY = "cinder-scheduler"
#: statuses that only exist while a step runs: a start-up sync settles them
TRANSITIONAL = ("creating", "downloading", "deleting", "extending", "attaching",
                "detaching", "reserved", "uploading", "maintenance", "retyping", "reverting",
                "managing", "unmanaging")


def cluster_or_host(params: dict[str, Any], clustered: bool) -> tuple[str | None, str | None]:
    """(cluster, host) a request names, as Cinder's `get_cluster_host`: where the
    version knows clusters exactly one of the two, else the host alone."""
    cluster = params.get("cluster") if clustered else None
    host = params.get("host")
    if bool(cluster) == bool(host):
        raise errors.invalid_input("One and only one of cluster and host must be set."
                                   if clustered else "Host field is missing.")
    return cluster or None, host or None


class Services:
    def __init__(self, store: Store) -> None:
        self.store = store
        #: this control plane's name (its scheduler row)
        self.host = socket.gethostname()
        self.started = utcnow()

    def up(self, svc: m.StorageService) -> bool:
        return utcnow() - svc.updated_at <= DOWN_AFTER

    # ------------------------------------------------------------ heartbeats
    def heartbeat(self, msg: StorageHeartbeat) -> None:
        with self.store.db.transaction() as s:
            row = s.get(m.StorageService, (msg.host, VOLUME_BINARY))
            if row is None:
                row = m.StorageService(host=msg.host, binary=VOLUME_BINARY)
                s.add(row)
            row.backend, row.availability_zone = msg.backend, msg.availability_zone
            row.total_gb, row.free_gb, row.updated_at = msg.total_gb, msg.free_gb, utcnow()

    # ------------------------------------------------------------ scheduling
    def check_zone(self, s: Session, zone: str) -> None:
        zones = {r.availability_zone for r in s.scalars(select(m.StorageService))}
        zones.add(self.store.availability_zone)
        if zone not in zones:
            raise errors.invalid_input(f"Availability zone '{zone}' is invalid.")

    @staticmethod
    def reported(svc: m.StorageService) -> dict[str, str]:
        """The capabilities a backend reports that a volume type's extra specs may
        name (what `pools` shows), as the scheduler compares them."""
        return {"volume_backend_name": svc.backend, "vendor_name": VENDOR,
                "storage_protocol": PROTOCOL, "driver_version": "1.0",
                "thin_provisioning_support": "True", "thick_provisioning_support": "False",
                "QoS_support": "False"}

    @staticmethod
    def _satisfies(specs: dict[str, str], caps: dict[str, str]) -> bool:
        """Cinder's capabilities filter for the capabilities above: a spec (or its
        `capabilities:` form) must equal what the backend reports (`<is> True` for
        the flags); specs naming anything else are not the scheduler's."""
        for key, want in specs.items():
            name = key.removeprefix("capabilities:")
            if name not in caps:
                continue
            want = want.strip()
            if want.lower().startswith("<is>"):
                want = want[4:].strip().capitalize()
            if want != caps[name]:
                return False
        return True

    def pick(self, s: Session, zone: str, type_id: str, size: int
             ) -> tuple[str | None, str]:
        """Cinder's `host@backend#pool` for a new volume, or None and why not."""
        specs = {r.key: r.value for r in s.scalars(select(m.TypeExtraSpec).where(
            m.TypeExtraSpec.type_id == type_id))}
        best: m.StorageService | None = None
        for svc in s.scalars(select(m.StorageService).where(
                m.StorageService.binary == VOLUME_BINARY)):
            if svc.disabled or not self.up(svc) or svc.availability_zone != zone:
                continue
            if not self._satisfies(specs, self.reported(svc)):
                continue
            if svc.free_gb < size:
                continue
            if best is None or svc.free_gb > best.free_gb:
                best = svc
        if best is None:
            named = {k: v for k, v in specs.items()
                     if k.removeprefix("capabilities:") in self.reported(
                         m.StorageService(backend=""))}
            return None, (f"No storage backend in zone {zone} is up with {size} GiB free"
                          + (f" for {', '.join(f'{k}={v}' for k, v in sorted(named.items()))}."
                             if named else "."))
        best.free_gb -= size  # until the next beat says what is really free
        return f"{best.host}#{best.backend}", ""

    # ------------------------------------------------------------ the API
    def listing(self, ver: APIVersion, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.store.db.session() as s:
            rows = list(s.scalars(select(m.StorageService).order_by(m.StorageService.host)))
            out = [views.service(r, self.up(r), ver) for r in rows]
        sched = m.StorageService(host=self.host, binary=SCHEDULER_BINARY,
                                 availability_zone=self.store.availability_zone,
                                 disabled=False, disabled_reason=None, updated_at=utcnow())
        out.insert(0, views.service(sched, True, ver))
        if params.get("host"):
            # as Cinder's host filter: a machine names its backends' services too
            host = params["host"]
            out = [x for x in out if x["host"] == host or x["host"].startswith(host + "@")]
        if params.get("binary"):
            out = [x for x in out if x["binary"] == params["binary"]]
        return out

    def set_enabled(self, host: str, binary: str, enabled: bool, reason: str | None
                    ) -> dict[str, Any]:
        with self.store.db.transaction() as s:
            row = s.get(m.StorageService, (host, binary))
            if row is None:
                raise NotFound(f"Service {binary} on host {host} could not be found.")
            row.disabled, row.disabled_reason = not enabled, reason if not enabled else None
            return {"host": host, "binary": binary,
                    "status": "enabled" if enabled else "disabled",
                    "disabled_reason": row.disabled_reason}

    # ------------------------------------------------------------ replication
    # No backend here replicates: a failover always finds its services not capable
    # (Cinder's answer for a backend whose replication_status is `disabled`), while
    # freeze and thaw work as on any Cinder backend: the service is disabled with
    # the reason `frozen`, and thawed back.
    def _named(self, s: Session, host: str | None, cluster: str | None
               ) -> list[m.StorageService]:
        """The storage services `host` names (`machine` or `machine@backend`), or a
        cluster's (none: no service runs clustered)."""
        rows = [] if cluster else [r for r in s.scalars(select(m.StorageService).where(
            m.StorageService.binary == VOLUME_BINARY).order_by(m.StorageService.host))
            if r.host == host or r.host.split("#", 1)[0].split("@", 1)[0] == host]
        if not rows:
            raise BadRequest(f"No service found with host={host}" if host else
                             f"No service found with cluster={cluster}")
        return rows

    def failover(self, host: str | None, cluster: str | None) -> None:
        with self.store.db.session() as s:
            names = [r.host for r in self._named(s, host, cluster)]
        raise errors.invalid_input(
            f"No service could be changed: replication_status in {names} must be "
            "['enabled', 'failed-over'] and must be up to failover.")

    def freeze(self, host: str | None, cluster: str | None, frozen: bool) -> None:
        with self.store.db.transaction() as s:
            rows = self._named(s, host, cluster)
            changed = [r for r in rows if self.frozen(r) != frozen]
            if not changed:
                raise errors.invalid_input(
                    f"No service could be changed: frozen in {[r.host for r in rows]} "
                    f"must be {not frozen} to failover.")
            for r in changed:
                r.disabled, r.disabled_reason = frozen, "frozen" if frozen else None

    @staticmethod
    def frozen(svc: m.StorageService) -> bool:
        return svc.disabled and svc.disabled_reason == "frozen"

    def zones(self) -> list[dict[str, Any]]:
        with self.store.db.session() as s:
            rows = list(s.scalars(select(m.StorageService).where(
                m.StorageService.binary == VOLUME_BINARY)))
        names = sorted({r.availability_zone for r in rows} | {self.store.availability_zone})
        return [{"zoneName": z, "zoneState": {"available": any(
            self.up(r) and not r.disabled for r in rows if r.availability_zone == z)}}
            for z in names]

    def pools(self, detail: bool) -> list[dict[str, Any]]:
        """The scheduler's view of each up backend (Cinder's get_pools: one pool per
        backend here, named after it)."""
        with self.store.db.session() as s:
            rows = [r for r in s.scalars(select(m.StorageService).where(
                m.StorageService.binary == VOLUME_BINARY).order_by(m.StorageService.host))
                if self.up(r)]
        out = []
        for r in rows:
            pool: dict[str, Any] = {"name": f"{r.host}#{r.backend}"}
            if detail:
                pool["capabilities"] = {
                    "pool_name": r.backend, "volume_backend_name": r.backend,
                    "vendor_name": "overcast", "driver_version": "1.0",
                    "storage_protocol": "file/nbd", "total_capacity_gb": round(r.total_gb, 2),
                    "free_capacity_gb": round(r.free_gb, 2), "reserved_percentage": 0,
                    "thin_provisioning_support": True, "thick_provisioning_support": False,
                    "multiattach": True, "QoS_support": False,
                    "timestamp": views.when(r.updated_at)}
            out.append(pool)
        return out

    def capabilities(self, host: str) -> dict[str, Any]:
        with self.store.db.session() as s:
            row = s.get(m.StorageService, (host.split("#", 1)[0], VOLUME_BINARY))
            if row is None:
                raise NotFound(f"Service {host} could not be found.")
            backend = row.backend
        return {"namespace": f"OS::Storage::Capabilities::{host}", "vendor_name": "overcast",
                "volume_backend_name": backend, "pool_name": None, "driver_version": "1.0",
                "storage_protocol": "file/nbd", "display_name": None,
                "description": "Volumes as sparse raw files, exported over NBD",
                "visibility": None, "replication_targets": [], "properties": {}}

    def hosts(self) -> list[dict[str, Any]]:
        """os-hosts: each service's host, zone and state (this control plane's
        scheduler among them, as Cinder lists every service)."""
        with self.store.db.session() as s:
            rows = list(s.scalars(select(m.StorageService).order_by(m.StorageService.host)))
        sched = m.StorageService(host=self.host, binary=SCHEDULER_BINARY,
                                 availability_zone=self.store.availability_zone,
                                 disabled=False, updated_at=utcnow())
        return [{"host_name": r.host, "service": r.binary, "zone": r.availability_zone,
                 # as Cinder's os-hosts: status is liveness, state the admin's switch
                 "service-status": "available" if self.up(r) else "unavailable",
                 "service-state": "disabled" if r.disabled else "enabled",
                 "last-update": views.when(r.updated_at)} for r in [sched, *rows]]

    def host_usage(self, host: str) -> list[dict[str, Any]]:
        """os-hosts/{host}: what the storage host holds, in total and per project
        (Cinder's numbers are strings); 404 for a host that runs no enabled
        cinder-volume."""
        with self.store.db.session() as s:
            row = s.get(m.StorageService, (host, VOLUME_BINARY))
            if row is None or row.disabled:
                raise NotFound("Host not found")
            per: dict[str, list[int]] = {}
            for v in s.scalars(select(m.Volume).where(m.Volume.host.startswith(host + "#"))):
                per.setdefault(v.project_id, [0, 0, 0, 0])
                per[v.project_id][0] += 1
                per[v.project_id][1] += int(v.size)
            for snap in s.scalars(select(m.Snapshot).where(
                    m.Snapshot.host.startswith(host + "#"))):
                per.setdefault(snap.project_id, [0, 0, 0, 0])
                per[snap.project_id][2] += 1
                per[snap.project_id][3] += int(snap.size)
        total = [sum(x[i] for x in per.values()) for i in range(4)]

        def resource(project: str, n: list[int]) -> dict[str, Any]:
            return {"resource": {"host": host, "project": project, "volume_count": str(n[0]),
                                 "total_volume_gb": str(n[1]), "snapshot_count": str(n[2]),
                                 "total_snapshot_gb": str(n[3])}}

        return [resource("(total)", total), *(resource(p, n) for p, n in sorted(per.items()))]

    # ------------------------------------------------------------ log levels (3.32)
    #: the binaries this process runs, and the loggers that are theirs
    LOGGERS = {"cinder-api": "overcast.volume", "cinder-scheduler": "overcast.volume",
               "cinder-volume": "overcast.agent.storage"}

    def _log_targets(self, binary: str, server: str) -> list[tuple[str, str, str]]:
        """(binary, host, logger root) of this process's services the request names:
        the API and scheduler, and the storage host when it runs here."""
        out = [("cinder-api", self.host), ("cinder-scheduler", self.host)]
        with self.store.db.session() as s:
            out += [(r.binary, r.host) for r in s.scalars(select(m.StorageService))
                    if r.host.split("@", 1)[0] == self.host]
        return [(b, h, self.LOGGERS[b]) for b, h in out
                if binary in ("", "*", b) and server in ("", h)]

    def set_log(self, level: str, binary: str, server: str, prefix: str) -> None:
        import logging

        for _, _, root in self._log_targets(binary, server):
            name = prefix if prefix.startswith(root) else root
            logging.getLogger(name).setLevel(level.upper())

    def get_log(self, binary: str, server: str, prefix: str) -> list[dict[str, Any]]:
        import logging

        out = []
        for b, h, root in self._log_targets(binary, server):
            names = sorted(n for n in logging.root.manager.loggerDict
                           if n.startswith(root) and n.startswith(prefix or root))
            names = names or [root]
            out.append({"binary": b, "host": h, "levels": {
                n: logging.getLevelName(logging.getLogger(n).getEffectiveLevel())
                for n in names}})
        return out

    # ------------------------------------------------------------ crash recovery
    def sync(self, msg: StorageSync) -> StorageSyncReply:
        """Settle this storage host's records from what it really holds (see
        TRANSITIONAL); answer with the exports records own and the bytes of records
        that are gone."""
        have, snaps_here = dict(msg.volumes), set(msg.snapshots)
        prefix = msg.host
        exports: list[str] = []
        with self.store.db.transaction() as s:
            vols = list(s.scalars(select(m.Volume).where(
                m.Volume.host.startswith(prefix + "#"))))
            known = {v.id for v in vols}
            for v in vols:
                atts = list(s.scalars(select(m.Attachment).where(
                    m.Attachment.volume_id == v.id)))
                present = v.id in have
                # a step of this process still working on it settles it itself
                if v.status in TRANSITIONAL and not self.store.storage.busy(v.id) and \
                        not self._settle(s, v, atts, present):
                    continue
                for a in atts:
                    info = a.connection_info or {}
                    if a.attach_status == "attached" and \
                            info.get("driver_volume_type") == "nbd":
                        exports.append(v.id)
            snaps = list(s.scalars(select(m.Snapshot).where(
                m.Snapshot.host.startswith(prefix + "#"))))
            known_snaps = {x.id for x in snaps}
            for snap in snaps:
                if self.store.storage.busy(snap.id):
                    continue
                if snap.status in ("restoring", "unmanaging") and snap.id in snaps_here:
                    snap.status = "available"
                elif snap.status == "unmanaging":
                    s.delete(snap)
                elif snap.status == "managing":
                    snap.status = "available" if snap.id in snaps_here else "error_managing"
                elif snap.status == "restoring":
                    snap.status = "available"
                elif snap.status == "creating":
                    snap.status = "available" if snap.id in snaps_here else "error"
                    if snap.group_snapshot_id:
                        s.flush()
                        common.settle_group_snapshot(s, snap.group_snapshot_id)
                elif snap.status == "deleting":
                    if snap.id in snaps_here:
                        snap.status = "error_deleting"
                    else:
                        s.delete(snap)
        return StorageSyncReply(
            exports=sorted(set(exports)),
            delete_volumes=sorted(set(have) - known),
            delete_snapshots=sorted(snaps_here - known_snaps))

    def _settle(self, s: Session, v: m.Volume, atts: list[m.Attachment],
                present: bool) -> bool:
        """Put one volume in the state its bytes say; False when its record is gone."""
        if v.status == "managing":
            v.status = "available" if present else "error_managing"
            return True
        if v.status == "unmanaging":
            if present:
                v.status = "available"
                return True
            s.delete(v)
            return False
        if v.status in ("creating", "downloading"):
            v.status = "available" if present else "error"
            if not present:
                v.fault = "the storage host restarted before the volume was made"
            return True
        if v.status == "deleting":
            if present:
                v.status = "error_deleting"
                return True
            s.delete(v)
            return False
        if not present:
            v.status = "error"
            return True
        # an attach that did not finish is undone; a detach that did not finish leaves
        # the volume attached (the guest may still hold it: roll_detaching's answer)
        for a in atts:
            if a.attach_status in ("reserved", "attaching", "error_attaching"):
                s.delete(a)
            elif a.attach_status == "detaching":
                a.attach_status = "attached"
        attached = [a for a in atts if a.attach_status == "attached"]
        v.status = "in-use" if attached else "available"
        if v.migration_status == "migrating":
            v.migration_status = "error"  # the copy on the other host is an orphan
        v.previous_status = None
        return True
