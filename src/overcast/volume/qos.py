"""QoS specs (`/qos-specs`, an admin's): named sets of limits associated with volume
types. The consumer says who enforces them: `front-end` and `both` specs ride in
every connection_info of the type's volumes (`data.qos_specs`), for the compute
host's hypervisor to apply (QEMU's throttling), as Cinder hands them to Nova;
`back-end` specs would be a backend's to enforce, and the file backend enforces
none (the capabilities it reports say no QoS support)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.kit.errors import BadRequest, Conflict, NotFound
from overcast.volume import common, errors
from overcast.volume import models as m
from overcast.volume.common import Store

CONSUMERS = ("front-end", "back-end", "both")


def view(q: m.QosSpec, specs: dict[str, str]) -> dict[str, Any]:
    return {"id": q.id, "name": q.name, "consumer": q.consumer, "specs": specs}


def front_end_specs(s: Session, type_id: str | None) -> dict[str, str] | None:
    """The specs a consumer applies for a volume of this type (None: none)."""
    t = s.get(m.VolumeType, type_id or "")
    if t is None or t.qos_specs_id is None:
        return None
    q = s.get(m.QosSpec, t.qos_specs_id)
    if q is None or q.consumer not in ("front-end", "both"):
        return None
    return common.metadata_of(s, m.QosSpecValue, "qos_id", [q.id])[q.id]


class Qos:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _get(self, s: Session, qos_id: str) -> m.QosSpec:
        q = s.get(m.QosSpec, qos_id)
        if q is None:
            raise NotFound(f"No such QoS spec {qos_id}.")
        return q

    def listing(self) -> list[dict[str, Any]]:
        with self.store.db.session() as s:
            rows = list(s.scalars(select(m.QosSpec).order_by(m.QosSpec.created_at)))
            specs = common.metadata_of(s, m.QosSpecValue, "qos_id", [q.id for q in rows])
            return [view(q, specs[q.id]) for q in rows]

    def show(self, qos_id: str) -> dict[str, Any]:
        with self.store.db.session() as s:
            q = self._get(s, qos_id)
            return view(q, common.metadata_of(s, m.QosSpecValue, "qos_id", [q.id])[q.id])

    def create(self, req: dict[str, Any]) -> dict[str, Any]:
        values = {k: str(v) for k, v in req.items() if k not in ("name", "consumer")}
        consumer = req.get("consumer", "back-end")
        if consumer not in CONSUMERS:
            raise errors.invalid_input(f"Invalid consumer {consumer}: it must be one of "
                                       f"{', '.join(CONSUMERS)}.")
        qid = str(uuid.uuid4())
        with self.store.db.transaction() as s:
            if s.scalar(select(m.QosSpec.id).where(m.QosSpec.name == req["name"])):
                raise Conflict(f"QoS Specs {req['name']} already exists.")
            s.add(m.QosSpec(id=qid, name=req["name"], consumer=consumer))
            s.flush()
            common.set_metadata(s, m.QosSpecValue, "qos_id", qid, values, replace=True)
        return self.show(qid)

    def update(self, qos_id: str, values: dict[str, Any]) -> dict[str, str]:
        with self.store.db.transaction() as s:
            q = self._get(s, qos_id)
            if "consumer" in values:
                if values["consumer"] not in CONSUMERS:
                    raise errors.invalid_input(f"Invalid consumer {values['consumer']}.")
                q.consumer = values["consumer"]
            clean = {k: str(v) for k, v in values.items() if k != "consumer"}
            common.set_metadata(s, m.QosSpecValue, "qos_id", q.id, clean, replace=False)
        return {k: str(v) for k, v in values.items()}

    def delete(self, qos_id: str, force: bool) -> None:
        with self.store.db.transaction() as s:
            q = self._get(s, qos_id)
            types = list(s.scalars(select(m.VolumeType).where(
                m.VolumeType.qos_specs_id == q.id)))
            if types and not force:
                raise BadRequest(f"QoS Specs {qos_id} is still associated with entities.")
            for t in types:
                t.qos_specs_id = None
            s.delete(q)

    def delete_keys(self, qos_id: str, keys: list[str]) -> None:
        with self.store.db.transaction() as s:
            q = self._get(s, qos_id)
            for key in keys:
                row = s.get(m.QosSpecValue, (q.id, key))
                if row is None:
                    raise NotFound(f"QoS spec {qos_id} has no key {key}.")
                s.delete(row)

    def associations(self, qos_id: str) -> list[dict[str, str]]:
        with self.store.db.session() as s:
            q = self._get(s, qos_id)
            return [{"association_type": "volume_type", "name": t.name, "id": t.id}
                    for t in s.scalars(select(m.VolumeType).where(
                        m.VolumeType.qos_specs_id == q.id).order_by(m.VolumeType.name))]

    def associate(self, qos_id: str, type_id: str | None, on: bool) -> None:
        if not type_id:
            raise errors.invalid_input("Volume Type id must not be None.")
        with self.store.db.transaction() as s:
            q = self._get(s, qos_id)
            t = s.get(m.VolumeType, type_id)
            if t is None:
                raise errors.type_not_found(type_id)
            if on:
                if t.qos_specs_id not in (None, q.id):
                    raise BadRequest(f"Type {type_id} is already associated with another qos "
                                     f"specs: {t.qos_specs_id}")
                t.qos_specs_id = q.id
            elif t.qos_specs_id == q.id:
                t.qos_specs_id = None

    def disassociate_all(self, qos_id: str) -> None:
        with self.store.db.transaction() as s:
            q = self._get(s, qos_id)
            for t in s.scalars(select(m.VolumeType).where(m.VolumeType.qos_specs_id == q.id)):
                t.qos_specs_id = None
