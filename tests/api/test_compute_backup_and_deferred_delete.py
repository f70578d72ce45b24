"""createBackup (rotation, backup_type), restore, forceDelete and the soft delete that
`reclaim_instance_interval` turns a DELETE into, reaped by the conductor (issue 16,
compute servers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, act, add_agents, boot, h, nova_error, wait, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import add_image

#: seconds a soft-deleted server is kept in this module's cloud
RECLAIM = 3.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("deferred"),
                      reclaim_instance_interval=RECLAIM)
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["cn1"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def _active(cloud: Cloud, hd: dict[str, str], name: str) -> str:
    r = boot(cloud, hd, name)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    wait_status(cloud, hd, sid, "ACTIVE")
    return sid


def _backups(cloud: Cloud, hd: dict[str, str], sid: str, kind: str) -> list[dict[str, Any]]:
    r = cloud.client.get(f"/image/v2/images?instance_uuid={sid}&image_type=backup&"
                         f"backup_type={kind}&sort_key=created_at&sort_dir=asc", headers=hd)
    assert r.status_code == 200, r.text
    return list(r.json()["images"])


def _status(cloud: Cloud, hd: dict[str, str], sid: str) -> int:
    return int(cloud.client.get(f"{C}/servers/{sid}", headers=hd).status_code)


def test_create_backup_rotates_the_oldest_of_its_type_away(cloud: Cloud) -> None:
    """Three daily backups with rotation 2 leave the newest two; a weekly one is not
    counted with them; rotation 0 keeps none. Before 2.45 the image is named by the
    Location header, from 2.45 by the body."""
    u = cloud.make_project_user()
    hd = u["headers"]
    sid = _active(cloud, hd, "bk")
    made = []
    for i in range(3):
        r = act(cloud, hd, sid, {"createBackup": {"name": f"daily-{i}", "backup_type": "daily",
                                                  "rotation": 2}})
        assert r.status_code == 202, r.text
        made.append(r.json()["image_id"])
        # stored (active) and rotated: the newest two remain
        kept = [f"daily-{j}" for j in range(max(0, i - 1), i + 1)]
        wait(lambda want=kept: [(b["name"], b["status"]) for b in _backups(  # type: ignore[misc]
            cloud, hd, sid, "daily")] == [(n, "active") for n in want])
        wait_status(cloud, hd, sid, "ACTIVE")
    names = [b["name"] for b in _backups(cloud, hd, sid, "daily")]
    assert names == ["daily-1", "daily-2"]
    assert cloud.client.get(f"/image/v2/images/{made[0]}", headers=hd).status_code == 404
    image = cloud.client.get(f"/image/v2/images/{made[2]}", headers=hd).json()
    assert (image["image_type"], image["backup_type"], image["instance_uuid"]) == \
        ("backup", "daily", sid)

    r = cloud.client.post(f"{C}/servers/{sid}/action", headers=h(hd, "2.1"), json={
        "createBackup": {"name": "weekly", "backup_type": "weekly", "rotation": "1"}})
    assert r.status_code == 202 and not r.content
    weekly = r.headers["Location"].rsplit("/", 1)[1]
    wait(lambda: [b["id"] for b in _backups(cloud, hd, sid, "weekly")
                  if b["status"] == "active"] == [weekly])
    wait_status(cloud, hd, sid, "ACTIVE")
    assert len(_backups(cloud, hd, sid, "daily")) == 2
    r = act(cloud, hd, sid, {"createBackup": {"name": "none", "backup_type": "weekly",
                                              "rotation": 0}})
    assert r.status_code == 202
    wait(lambda: _backups(cloud, hd, sid, "weekly") == [])


@pytest.mark.parametrize("arg", [
    {"name": "x", "backup_type": "daily"}, {"name": "x", "rotation": 1},
    {"backup_type": "daily", "rotation": 1}, {"name": "x", "backup_type": "d", "rotation": -1},
    {"name": "x", "backup_type": "d", "rotation": "two"},
    {"name": "x", "backup_type": "d", "rotation": 1, "extra": 1}])
def test_bad_create_backup_is_400(cloud: Cloud, arg: dict[str, Any]) -> None:
    sid = _active(cloud, cloud.admin(), "bad-bk")
    r = act(cloud, cloud.admin(), sid, {"createBackup": arg})
    assert r.status_code == 400, r.text
    nova_error(r, "badRequest")


def test_delete_is_soft_then_restore_or_force_delete(cloud: Cloud) -> None:
    """With reclaim_instance_interval set, DELETE leaves the server SOFT_DELETED with its
    guest stopped; restore brings it back ACTIVE and running; forceDelete removes it at
    once; restore of a server that is not soft-deleted is 409; both are 404 for a
    server that does not exist."""
    hd = cloud.make_project_user()["headers"]
    sid = _active(cloud, hd, "soft")
    assert cloud.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204
    body = wait_status(cloud, hd, sid, "SOFT_DELETED")
    assert body["OS-EXT-STS:power_state"] == 4
    r = act(cloud, hd, sid, {"restore": None})
    assert r.status_code == 202, r.text
    body = wait_status(cloud, hd, sid, "ACTIVE")
    assert body["OS-EXT-STS:power_state"] == 1
    r = act(cloud, hd, sid, {"restore": None})
    assert r.status_code == 409
    assert "vm_state active" in nova_error(r, "conflictingRequest")

    assert cloud.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204
    wait_status(cloud, hd, sid, "SOFT_DELETED")
    assert act(cloud, hd, sid, {"forceDelete": None}).status_code == 202
    wait(lambda: _status(cloud, hd, sid) == 404)
    actions = cloud.client.get(f"{C}/servers/{sid}/os-instance-actions", headers=cloud.admin())
    assert [a["action"] for a in actions.json()["instanceActions"]][:3] == \
        ["forceDelete", "soft_delete", "restore"]

    missing = "6b6b1b47-5f5c-4f2b-9c76-1b0e3e0d0c11"
    for action in ("restore", "forceDelete"):
        assert act(cloud, hd, missing, {action: None}).status_code == 404


def test_soft_deleted_server_is_reclaimed_after_the_interval(cloud: Cloud) -> None:
    """The conductor's periodic task deletes a soft-deleted server once it has been
    SOFT_DELETED for reclaim_instance_interval, and gives back what it held."""
    hd = cloud.make_project_user()["headers"]
    sid = _active(cloud, hd, "reaped")
    assert cloud.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204
    wait_status(cloud, hd, sid, "SOFT_DELETED")
    placement = cloud.app.state.compute.placement
    assert placement.get_allocations(sid)  # still held while restorable
    wait(lambda: _status(cloud, hd, sid) == 404, timeout=RECLAIM + 10)
    wait(lambda: not placement.get_allocations(sid))


def test_force_delete_without_deferred_deletes(tmp_path: Any) -> None:
    """forceDelete works with deletes immediate too (Nova's default), on any state."""
    gen = build_cloud(tmp_path)
    c = next(gen)
    try:
        c.app.state.local_agents = []
        add_agents(c, ["cn9"])
        add_image(c.client, c.admin())
        hd = c.admin()
        sid = _active(c, hd, "fd")
        assert act(c, hd, sid, {"os-stop": None}).status_code == 202
        wait_status(c, hd, sid, "SHUTOFF")
        assert act(c, hd, sid, {"forceDelete": None}).status_code == 202
        wait(lambda: _status(c, hd, sid) == 404)
        # a plain delete is immediate here: no SOFT_DELETED on the way
        sid = _active(c, hd, "plain")
        assert c.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204
        wait(lambda: _status(c, hd, sid) == 404)
    finally:
        gen.close()
