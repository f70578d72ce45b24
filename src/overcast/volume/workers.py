"""Workers cleanup (`POST /workers/cleanup`, 3.24): an admin asks the services to
clean up after work that was interrupted (a crashed or restarted storage host),
as Cinder's `WorkerController.cleanup` does.

The request names services by `service_id`, `host`, `binary`, `is_up` (default:
the services that are down, the ones a crash left), `disabled` or `cluster_name`
(none here: no service runs clustered), or names one record (`resource_id`,
`resource_type` Volume or Snapshot) pending cleanup, which finds its service.
Each service found that is up is sent the cleanup: a storage host runs its start-up
sync again (`CleanupStorage`), which settles every record of that host still in a
transitional state that no step of this process is working on; the scheduler has
nothing to clean. A service that is down cannot clean and is listed `unavailable`.
Service ids are numbered as Cinder's services table would: the scheduler first,
then the storage services in the order they first reported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from overcast.bus.messages import CleanupStorage
from overcast.db import utcnow
from overcast.volume import errors, schemas
from overcast.volume import models as m
from overcast.volume.common import Store
from overcast.volume.services import SCHEDULER_BINARY, TRANSITIONAL, VOLUME_BINARY, Services

#: the records a cleanup may name (Cinder's cleanable resource types)
RESOURCE_TYPES = ("Snapshot", "Volume")


class Workers:
    def __init__(self, store: Store, services: Services) -> None:
        self.store = store
        self.services = services

    def _numbered(self) -> list[tuple[int, m.StorageService, bool]]:
        """(id, service, up) of every service, the scheduler first."""
        with self.store.db.session() as s:
            rows = list(s.scalars(select(m.StorageService).order_by(
                m.StorageService.created_at, m.StorageService.host)))
            out = [(i + 2, r, self.services.up(r)) for i, r in enumerate(rows)]
        sched = m.StorageService(host=self.services.host, binary=SCHEDULER_BINARY,
                                 disabled=False, updated_at=utcnow())
        return [(1, sched, True), *out]

    def _locate(self, resource_id: str, resource_type: str | None) -> str:
        """The storage host of a record pending cleanup (in a transitional state)."""
        found = []
        with self.store.db.session() as s:
            rows: list[m.Volume | m.Snapshot | None] = [
                s.get(m.Volume, resource_id) if resource_type in (None, "Volume") else None,
                s.get(m.Snapshot, resource_id) if resource_type in (None, "Snapshot")
                else None]
            for row in rows:
                if row is not None and row.status in TRANSITIONAL + (
                        "backing-up", "restoring-backup", "restoring") and row.host:
                    found.append(row.host.split("#", 1)[0])
        if not found:
            raise errors.invalid_input(f"There is no resource with UUID {resource_id} "
                                       "pending cleanup.")
        return found[0]

    def cleanup(self, body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        rtype = body.get("resource_type")
        if rtype:
            rtype = rtype.title()
            if rtype not in RESOURCE_TYPES:
                raise errors.invalid_input(f"Resource type {rtype} not valid, must be "
                                           + " or ".join(RESOURCE_TYPES))
        host = body.get("host")
        if body.get("resource_id") and not {"service_id", "cluster_name", "host"} & set(
                k for k, v in body.items() if v is not None):
            host = self._locate(body["resource_id"], rtype)
        want_up = schemas.flag(body["is_up"]) if body.get("is_up") is not None else False
        cleaning, unavailable = [], []
        for ident, svc, up in self._numbered():
            if body.get("service_id") is not None and int(body["service_id"]) != ident:
                continue
            if body.get("cluster_name") or up != want_up:
                continue
            if host and svc.host != host and svc.host.split("@", 1)[0] != host:
                continue
            if body.get("binary") and svc.binary != body["binary"]:
                continue
            if body.get("disabled") is not None and \
                    svc.disabled != schemas.flag(body["disabled"]):
                continue
            view = {"id": ident, "host": svc.host, "binary": svc.binary,
                    "cluster_name": None}
            if not up:
                unavailable.append(view)
                continue
            if svc.binary == VOLUME_BINARY:
                self.store.storage.spawn(self._clean_host, svc.host)
            cleaning.append(view)
        return {"cleaning": cleaning, "unavailable": unavailable}

    def _clean_host(self, host: str) -> None:
        self.store.storage.call(host, CleanupStorage())
