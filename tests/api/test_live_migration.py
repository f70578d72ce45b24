"""Live migration through Nova's API (os-migrateLive, a server's migrations,
force_complete, abort) on fake hosts: the fake driver moves a guest like a real one
(a copy that takes `fake_migration_seconds`, failures injected by
`fake_migration_fail`), so every outcome is seen as a user sees it: the server's
host and status, its migration records, its instance action, its allocations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from overcast.agent.virt.fake import FakeDriver
from tests.api.test_compute import C, add_agents, boot, h, nova_error, server, wait, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import add_image


class NoLiveDriver(FakeDriver):
    """A host whose driver cannot live-migrate (as the container driver)."""

    capabilities = FakeDriver.capabilities - {"live_migration"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    from overcast.agent.host import Agent

    gen = build_cloud(tmp_path_factory.mktemp("livemig"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["la", "lb"])

    async def start() -> None:
        agent = Agent("lc", NoLiveDriver("lc"), c.app.state.bus, heartbeat_interval=3600)
        await agent.start()
        c.app.state.local_agents.append(agent)

    c.client.portal.call(start)  # type: ignore[union-attr]
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def live(cloud: Cloud, sid: str, arg: Any, version: str = "2.25") -> Any:
    return cloud.client.post(f"{C}/servers/{sid}/action", headers=h(cloud.admin(), version),
                             json={"os-migrateLive": arg})


def booted(cloud: Cloud, host: str, **meta: str) -> tuple[str, dict[str, Any]]:
    r = boot(cloud, cloud.admin(), availability_zone=f"nova:{host}", metadata=meta)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    return sid, wait_status(cloud, cloud.admin(), sid, "ACTIVE")


def allocations(cloud: Cloud, consumer: str) -> dict[str, Any]:
    return dict(cloud.app.state.compute.placement.get_allocations(consumer))


def migrations(cloud: Cloud, sid: str) -> list[dict[str, Any]]:
    r = cloud.client.get(f"{C}/os-migrations", headers=h(cloud.admin(), "2.23"),
                         params={"instance_uuid": sid})
    return list(r.json()["migrations"])


def test_live_migration_moves_the_server_and_its_allocations(cloud: Cloud) -> None:
    sid, before = booted(cloud, "la")
    assert before["OS-EXT-SRV-ATTR:host"] == "la"
    user = cloud.make_project_user()
    assert cloud.client.post(f"{C}/servers/{sid}/action", headers=user["headers"], json={
        "os-migrateLive": {"host": None, "block_migration": "auto"}}).status_code in (403, 404)
    r = live(cloud, sid, {"host": None, "block_migration": "auto"})
    assert r.status_code == 202, r.text
    wait(lambda: server(cloud, cloud.admin(), sid)["OS-EXT-SRV-ATTR:host"] == "lb")
    after = wait_status(cloud, cloud.admin(), sid, "ACTIVE")
    assert after["OS-EXT-STS:power_state"] == 1
    (mig,) = migrations(cloud, sid)
    assert (mig["migration_type"], mig["status"], mig["source_compute"],
            mig["dest_compute"]) == ("live-migration", "completed", "la", "lb")
    # the guest runs on lb only, and Placement holds its flavor there only
    agents = {a.host: a for a in cloud.app.state.local_agents}
    assert sid in agents["lb"].driver.instances and sid not in agents["la"].driver.instances
    held = allocations(cloud, sid)
    assert len(held) == 1
    assert allocations(cloud, cloud.app.state.compute.migration_consumer(sid)) == {}
    acts = cloud.client.get(f"{C}/servers/{sid}/os-instance-actions",
                            headers=h(cloud.admin(), "2.51")).json()["instanceActions"]
    assert acts[0]["action"] == "live-migration"
    rid = acts[0]["request_id"]
    ev = cloud.client.get(f"{C}/servers/{sid}/os-instance-actions/{rid}",
                          headers=h(cloud.admin(), "2.51")).json()["instanceAction"]["events"]
    assert [(e["event"], e["result"]) for e in ev] == [("compute_live_migration", "Success")]
    # and back, naming the host (2.30 with force; 2.1 with disk_over_commit)
    r = live(cloud, sid, {"host": "la", "block_migration": True, "force": False}, "2.30")
    assert r.status_code == 202, r.text
    wait(lambda: server(cloud, cloud.admin(), sid)["OS-EXT-SRV-ATTR:host"] == "la")
    wait_status(cloud, cloud.admin(), sid, "ACTIVE")
    r = live(cloud, sid, {"host": "lb", "block_migration": False,
                          "disk_over_commit": False}, "2.1")
    # an image-backed server's disk is local: without block migration it cannot go
    assert r.status_code == 400 and "shared storage" in nova_error(r, "badRequest")
    cloud.client.delete(f"{C}/servers/{sid}", headers=cloud.admin())


def test_live_migration_refusals(cloud: Cloud) -> None:
    sid, _ = booted(cloud, "la")
    for arg, version in (({"host": None, "block_migration": True}, "2.1"),
                         ({"host": None, "block_migration": True,
                           "disk_over_commit": False}, "2.25"),
                         ({"host": None, "block_migration": "auto", "force": True}, "2.25"),
                         ({"block_migration": "sometimes", "host": None}, "2.25"),
                         ({"host": None}, "2.25"), (None, "2.25"),
                         ({"host": "bad host!", "block_migration": True}, "2.25")):
        r = live(cloud, sid, arg, version)
        assert r.status_code == 400, (arg, version, r.text)
    for host, words in (("la", "to current host"), ("nowhere", "could not be found"),
                        ("lc", "pre-check")):
        r = live(cloud, sid, {"host": host, "block_migration": "auto"})
        assert r.status_code == 400, r.text
        assert words in nova_error(r, "badRequest"), host
    # a host whose driver cannot live-migrate cannot send either
    on_c, _ = booted(cloud, "lc")
    r = live(cloud, on_c, {"host": None, "block_migration": "auto"})
    assert r.status_code == 400 and "pre-check" in nova_error(r, "badRequest")
    # a stopped server cannot be live-migrated (409, Nova's words)
    cloud.client.post(f"{C}/servers/{sid}/action", headers=cloud.admin(),
                      json={"os-stop": None})
    wait_status(cloud, cloud.admin(), sid, "SHUTOFF")
    r = live(cloud, sid, {"host": None, "block_migration": "auto"})
    assert r.status_code == 409 and "vm_state stopped" in nova_error(r, "conflictingRequest")
    assert migrations(cloud, sid) == [] and migrations(cloud, on_c) == []
    assert server(cloud, cloud.admin(), sid)["OS-EXT-SRV-ATTR:host"] == "la"
    for s in (sid, on_c):
        cloud.client.delete(f"{C}/servers/{s}", headers=cloud.admin())


def _running(cloud: Cloud, sid: str) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def check() -> bool:
        r = cloud.client.get(f"{C}/servers/{sid}/migrations", headers=h(cloud.admin(), "2.23"))
        assert r.status_code == 200, r.text
        migs = r.json()["migrations"]
        box["m"] = migs[0] if migs else None
        return bool(migs and migs[0]["status"] == "running" and
                    migs[0]["memory_processed_bytes"] > 0)

    wait(check)
    return dict(box["m"])


def test_progress_force_complete_and_abort(cloud: Cloud) -> None:
    sid, _ = booted(cloud, "la", fake_migration_seconds="30")
    assert live(cloud, sid, {"host": "lb", "block_migration": True}).status_code == 202
    assert server(cloud, cloud.admin(), sid)["status"] == "MIGRATING"
    mig = _running(cloud, sid)
    assert mig["memory_total_bytes"] == 512 << 20 and mig["server_uuid"] == sid
    assert mig["source_compute"] == "la" and mig["dest_compute"] == "lb"
    base = f"{C}/servers/{sid}/migrations/{mig['id']}"
    assert cloud.client.get(base, headers=h(cloud.admin(), "2.23")).json()[
        "migration"]["id"] == mig["id"]
    assert cloud.client.get(base, headers=h(cloud.admin(), "2.22")).status_code == 404
    assert cloud.client.get(f"{C}/servers/{sid}/migrations/99999",
                            headers=h(cloud.admin(), "2.23")).status_code == 404
    # os-migrations (2.23) links a live migration in progress to itself, as Nova does
    (listed,) = migrations(cloud, sid)
    assert [x["rel"] for x in listed["links"]] == ["self", "bookmark"]
    self_href, bookmark = (urlsplit(x["href"]).path for x in listed["links"])
    assert self_href == base
    assert bookmark == f"/compute/servers/{sid}/migrations/{mig['id']}"
    # while it migrates, the source keeps the flavor for the migration consumer and
    # the target holds it for the server
    mc = cloud.app.state.compute.migration_consumer(sid)
    assert allocations(cloud, mc) and allocations(cloud, sid)
    # abort (2.24): the guest stays on la, the migration is cancelled
    assert cloud.client.delete(base, headers=h(cloud.admin(), "2.23")).status_code == 404
    assert cloud.client.delete(base, headers=h(cloud.admin(), "2.24")).status_code == 202
    wait_status(cloud, cloud.admin(), sid, "ACTIVE")
    assert server(cloud, cloud.admin(), sid)["OS-EXT-SRV-ATTR:host"] == "la"
    assert [m["status"] for m in migrations(cloud, sid)] == ["cancelled"]
    assert "links" not in migrations(cloud, sid)[0]  # over: no links, as in Nova
    assert allocations(cloud, mc) == {}
    agents = {a.host: a for a in cloud.app.state.local_agents}
    assert sid not in agents["lb"].driver.instances and sid not in agents["lb"].driver.incoming
    # a migration no longer in progress: not shown, not abortable
    assert cloud.client.get(f"{C}/servers/{sid}/migrations", headers=h(
        cloud.admin(), "2.23")).json()["migrations"] == []
    assert cloud.client.delete(base, headers=h(cloud.admin(), "2.24")).status_code == 409
    # force_complete (2.22): ends the copy at once
    assert live(cloud, sid, {"host": "lb", "block_migration": True}).status_code == 202
    mig = _running(cloud, sid)
    url = f"{C}/servers/{sid}/migrations/{mig['id']}/action"
    assert cloud.client.post(url, headers=h(cloud.admin(), "2.21"),
                             json={"force_complete": None}).status_code == 404
    assert cloud.client.post(url, headers=h(cloud.admin(), "2.22"),
                             json={"force_complete": 1}).status_code == 400
    user = cloud.make_project_user()
    assert cloud.client.post(url, headers=h(user["headers"], "2.22"),
                             json={"force_complete": None}).status_code == 403
    r = cloud.client.post(url, headers=h(cloud.admin(), "2.22"), json={"force_complete": None})
    assert r.status_code == 202, r.text
    wait(lambda: server(cloud, cloud.admin(), sid)["OS-EXT-SRV-ATTR:host"] == "lb", 10)
    wait_status(cloud, cloud.admin(), sid, "ACTIVE")
    assert [m["status"] for m in migrations(cloud, sid)] == ["completed", "cancelled"]
    cloud.client.delete(f"{C}/servers/{sid}", headers=cloud.admin())


def test_a_failed_live_migration_leaves_the_server_where_it_was(cloud: Cloud) -> None:
    sid, _ = booted(cloud, "lb", fake_migration_fail="1")
    before = allocations(cloud, sid)
    assert live(cloud, sid, {"host": None, "block_migration": "auto"}).status_code == 202
    wait(lambda: migrations(cloud, sid) and migrations(cloud, sid)[0]["status"] == "error")
    after = wait_status(cloud, cloud.admin(), sid, "ACTIVE")
    assert after["OS-EXT-SRV-ATTR:host"] == "lb"
    assert allocations(cloud, sid) == before
    assert allocations(cloud, cloud.app.state.compute.migration_consumer(sid)) == {}
    agents = {a.host: a for a in cloud.app.state.local_agents}
    assert sid in agents["lb"].driver.instances
    assert sid not in agents["la"].driver.instances and not agents["la"].driver.incoming
    cloud.client.delete(f"{C}/servers/{sid}", headers=cloud.admin())
