"""Compute microversions from 2.56 on, each at its version and just below it (the
pattern of test_compute_microversions.py, which holds 2.48-2.55): one test per
version, in version order, on one shared two-host cloud (fake driver)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, add_agents, h, server, wait_status
from tests.api.test_compute_microversions import active_server, get
from tests.conftest import Cloud, build_cloud
from tests.images import add_image


@pytest.fixture(scope="module")
def nova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("microversions_late"))
    cloud = next(gen)
    cloud.app.state.local_agents = []
    add_agents(cloud, ["late1", "late2"])
    add_image(cloud.client, cloud.admin())
    try:
        yield cloud
    finally:
        gen.close()


def act(cloud: Cloud, headers: dict[str, str], sid: str, body: dict[str, Any],
        version: str) -> Any:
    return cloud.client.post(f"{C}/servers/{sid}/action", headers=h(headers, version),
                             json=body)


# ------------------------------------------------------------------ 2.56
def test_2_56_cold_migration_to_a_named_host(nova: Cloud) -> None:
    """2.56: `migrate` takes a target `host`; Nova's 400s for the server's own host and
    an unknown one; below 2.56 the schema refuses the field."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    sid = active_server(nova, hd)
    here = server(nova, adm, sid, "2.56")["OS-EXT-SRV-ATTR:host"]
    there = ({"late1", "late2"} - {here}).pop()
    assert act(nova, adm, sid, {"migrate": {"host": there}}, "2.55").status_code == 400
    for bad in ({"host": here}, {"host": "nowhere"}, {"host": ""}, {"host": "a/b"},
                {"other": 1}):
        assert act(nova, adm, sid, {"migrate": bad}, "2.56").status_code == 400, bad
    assert act(nova, hd, sid, {"migrate": {"host": there}}, "2.56").status_code == 403
    r = act(nova, adm, sid, {"migrate": {"host": there}}, "2.56")
    assert r.status_code == 202, r.text
    moved = wait_status(nova, adm, sid, "VERIFY_RESIZE")
    assert moved["OS-EXT-SRV-ATTR:host"] == there
    assert act(nova, adm, sid, {"confirmResize": None}, "2.56").status_code == 204
    wait_status(nova, adm, sid, "ACTIVE")
    # null (and no host) still lets the scheduler choose
    assert act(nova, adm, sid, {"migrate": {"host": None}}, "2.56").status_code == 202
    assert wait_status(nova, adm, sid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"] == here
    assert act(nova, adm, sid, {"revertResize": None}, "2.56").status_code == 202
    wait_status(nova, adm, sid, "ACTIVE")
    assert get(nova, f"/servers/{sid}", adm, "2.56").status_code == 200
