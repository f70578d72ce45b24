"""The scheduler's free-capacity read gives the same answer both ways.

`free` binds a list of provider uuids for a few providers; for many (a thousand
hosts: the bind list cost more than the query) it reads every provider's and keeps
those asked for. Both must say the same, allocations counted, other providers out.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert

from overcast.placement import models as m
from overcast.placement.objects import allocation_candidate
from tests.conftest import build_cloud


def test_free_of_many_providers_matches_the_listed_read(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    gen = build_cloud(tmp_path)
    cloud = next(gen)
    try:
        db, placement = cloud.app.state.db, cloud.app.state.placement
        uuids = [str(uuid.uuid4()) for _ in range(150)]
        with db.session() as s:
            s.execute(insert(m.Provider), [{"uuid": u, "name": f"free{i}", "generation": 1}
                                           for i, u in enumerate(uuids)])
            s.flush()
            ids = {p.uuid: p.id for p in s.query(m.Provider).where(
                m.Provider.uuid.in_(uuids))}
            s.query(m.Provider).where(m.Provider.uuid.in_(uuids)).update(
                {m.Provider.root_id: m.Provider.id})
            s.execute(insert(m.Inventory), [
                {"provider_id": ids[u], "resource_class": "MEMORY_MB", "total": 4096 + i,
                 "reserved": 96, "min_unit": 1, "max_unit": 4096, "step_size": 1,
                 "allocation_ratio": 1.5} for i, u in enumerate(uuids)])
            s.execute(insert(m.Allocation), [
                {"provider_id": ids[u], "consumer_id": str(uuid.uuid4()),
                 "resource_class": "MEMORY_MB", "used": 512 * (1 + i % 3)}
                for i, u in enumerate(uuids[::2])])
        asked = uuids[:140]
        many = placement.free(asked, "MEMORY_MB")
        monkeypatch.setattr(allocation_candidate, "FREE_LIST_MAX", 10**6)
        listed = placement.free(asked, "MEMORY_MB")
        assert many == listed and set(many) == set(asked)
        assert many[uuids[0]] == (4096 - 96) * 1.5 - 512
        assert many[uuids[1]] == (4097 - 96) * 1.5
    finally:
        gen.close()
