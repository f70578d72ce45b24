"""Shelve, shelveOffload and unshelve (issue 16, compute servers): the shelved image,
the offload that frees the host, the unshelve that schedules again and deletes the
image, and Nova's 404/409 answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, act, add_agents, boot, nova_error, server, wait, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import add_image


def _cloud(tmp: Any, **settings: Any) -> Iterator[Cloud]:
    gen = build_cloud(tmp, **settings)
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["cn1", "cn2"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from _cloud(tmp_path_factory.mktemp("shelve"))


def _active(cloud: Cloud, hd: dict[str, str], name: str) -> str:
    r = boot(cloud, hd, name)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    wait_status(cloud, hd, sid, "ACTIVE")
    return sid


def _images(cloud: Cloud, hd: dict[str, str], name: str) -> list[dict[str, Any]]:
    r = cloud.client.get(f"/image/v2/images?name={name}", headers=hd)
    assert r.status_code == 200, r.text
    return list(r.json()["images"])


def test_shelve_offloads_and_unshelve_schedules_again(cloud: Cloud) -> None:
    """Shelve writes `<name>-shelved` and (shelved_offload_time 0) takes the server
    off its host: no host, no allocations, SHELVED_OFFLOADED. Unshelve places it
    again, spawns it from that image and deletes the image."""
    hd = cloud.admin()
    sid = _active(cloud, hd, "shelf")
    placement = cloud.app.state.compute.placement
    assert placement.get_allocations(sid)
    r = act(cloud, hd, sid, {"shelve": None})
    assert r.status_code == 202, r.text
    body = wait_status(cloud, hd, sid, "SHELVED_OFFLOADED")
    assert body["OS-EXT-SRV-ATTR:host"] is None and body["OS-EXT-STS:power_state"] == 0
    assert not placement.get_allocations(sid)
    (image,) = _images(cloud, hd, "shelf-shelved")
    assert image["status"] == "active" and image["instance_uuid"] == sid
    assert sid not in [i for a in cloud.app.state.local_agents
                       for i in a.driver.instances]

    r = act(cloud, hd, sid, {"shelve": None})
    assert r.status_code == 409
    assert "vm_state shelved_offloaded" in nova_error(r, "conflictingRequest")
    r = act(cloud, hd, sid, {"unshelve": None})
    assert r.status_code == 202, r.text
    body = wait_status(cloud, hd, sid, "ACTIVE")
    assert body["OS-EXT-SRV-ATTR:host"] in ("cn1", "cn2")
    assert placement.get_allocations(sid)
    spawned = next(a.driver.instances[sid] for a in cloud.app.state.local_agents
                   if sid in a.driver.instances)
    assert spawned.spec.image_ref == image["id"]  # from the shelved image
    wait(lambda: _images(cloud, hd, "shelf-shelved") == [])
    actions = cloud.client.get(f"{C}/servers/{sid}/os-instance-actions", headers=hd).json()
    assert [a["action"] for a in actions["instanceActions"]][:2] == ["unshelve", "shelve"]


def test_shelve_and_unshelve_answers(cloud: Cloud) -> None:
    """404 for a server that does not exist, 409 to unshelve an active server; a paused
    server shelves too; deleting a shelved server deletes its image."""
    hd = cloud.make_project_user()["headers"]
    missing = "0a3b5c7d-1111-4222-8333-944455556666"
    for action in ("shelve", "unshelve"):
        assert act(cloud, hd, missing, {action: None}).status_code == 404
    sid = _active(cloud, hd, "paused-shelf")
    r = act(cloud, hd, sid, {"unshelve": None})
    assert r.status_code == 409
    assert act(cloud, hd, sid, {"pause": None}).status_code == 202
    wait_status(cloud, hd, sid, "PAUSED")
    assert act(cloud, hd, sid, {"shelve": None}).status_code == 202
    wait_status(cloud, hd, sid, "SHELVED_OFFLOADED")
    (image,) = _images(cloud, hd, "paused-shelf-shelved")
    assert cloud.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204
    wait(lambda: cloud.client.get(f"{C}/servers/{sid}", headers=hd).status_code == 404)
    assert cloud.client.get(f"/image/v2/images/{image['id']}", headers=hd).status_code == 404


def test_shelved_server_kept_on_its_host_until_shelve_offload(tmp_path: Any) -> None:
    """With shelved_offload_time not 0 a shelved server stays on its host, stopped
    (SHELVED); unshelve starts it there; shelveOffload (admin only) takes it off."""
    gen = _cloud(tmp_path, shelved_offload_time=-1)
    c = next(gen)
    try:
        _kept_on_host(c)
    finally:
        gen.close()


def _kept_on_host(c: Cloud) -> None:
    owner = c.make_project_user()["headers"]
    sid = _active(c, owner, "kept")
    host = server(c, c.admin(), sid)["OS-EXT-SRV-ATTR:host"]
    assert act(c, owner, sid, {"shelve": None}).status_code == 202
    body = wait_status(c, owner, sid, "SHELVED")
    assert body["OS-EXT-STS:power_state"] == 4
    assert act(c, owner, sid, {"unshelve": None}).status_code == 202
    wait_status(c, owner, sid, "ACTIVE")
    assert server(c, c.admin(), sid)["OS-EXT-SRV-ATTR:host"] == host
    wait(lambda: _images(c, owner, "kept-shelved") == [])

    assert act(c, owner, sid, {"shelve": None}).status_code == 202
    wait_status(c, owner, sid, "SHELVED")
    assert act(c, owner, sid, {"shelveOffload": None}).status_code == 403
    assert act(c, c.admin(), sid, {"shelveOffload": None}).status_code == 202
    body = wait_status(c, owner, sid, "SHELVED_OFFLOADED")
    assert server(c, c.admin(), sid)["OS-EXT-SRV-ATTR:host"] is None


def test_a_late_lost_report_does_not_undo_an_offload(cloud: Cloud) -> None:
    """A reconcile that read the desired state before a shelve offload and listed the
    host's guests after it reported the server lost: the conductor set it SHUTOFF,
    over SHELVED_OFFLOADED (Tempest's test_shelve_unshelve_server timed out). A lost
    report from a host the server is no longer on is stale and ignored."""
    from overcast.bus.messages import InstanceState

    hd = cloud.admin()
    sid = _active(cloud, hd, "late-lost")
    host = server(cloud, hd, sid)["OS-EXT-SRV-ATTR:host"]
    assert act(cloud, hd, sid, {"shelve": None}).status_code == 202
    wait_status(cloud, hd, sid, "SHELVED_OFFLOADED")
    cloud.app.state.conductor._instance_state(InstanceState(
        uuid=sid, host=host, power_state=4, vm_state="stopped", event="lost",
        error="the instance is no longer on its host"))
    assert wait_status(cloud, hd, sid, "SHELVED_OFFLOADED")["OS-EXT-STS:vm_state"] == \
        "shelved_offloaded"


def test_volumes_attach_and_detach_while_offloaded(cloud: Cloud) -> None:
    """As Nova (2.20): a volume attaches to a shelved-offloaded server (in-use at
    once, its attachment completed unconnected) and the host connects it at
    unshelve; one attached and detached while offloaded is available again and not
    on the server after unshelve."""
    hd = cloud.make_project_user()["headers"]
    sid = _active(cloud, hd, "offloaded-vols")
    vpath = f"/volume/v3/{cloud.project_of(hd)}/volumes"
    vids = []
    for _ in range(2):
        r = cloud.client.post(vpath, headers=hd, json={"volume": {"size": 1}})
        assert r.status_code == 202, r.text
        vids.append(r.json()["volume"]["id"])

    def status(vid: str) -> str:
        return str(cloud.client.get(f"{vpath}/{vid}", headers=hd).json()["volume"]["status"])

    for vid in vids:
        wait(lambda vid=vid: status(vid) == "available", 60)
    assert act(cloud, hd, sid, {"shelve": None}).status_code == 202
    wait_status(cloud, hd, sid, "SHELVED_OFFLOADED")
    path = f"{C}/servers/{sid}/os-volume_attachments"
    for vid in vids:
        r = cloud.client.post(path, headers=hd, json={"volumeAttachment": {"volumeId": vid}})
        assert r.status_code == 200, r.text
        assert status(vid) == "in-use"
    r = cloud.client.delete(f"{path}/{vids[1]}", headers=hd)
    assert r.status_code == 202, r.text
    wait(lambda: status(vids[1]) == "available", 30)
    assert act(cloud, hd, sid, {"unshelve": None}).status_code == 202
    wait_status(cloud, hd, sid, "ACTIVE")
    attached = cloud.client.get(path, headers=hd).json()["volumeAttachments"]
    assert [a["volumeId"] for a in attached] == [vids[0]] and attached[0]["device"]
    assert status(vids[0]) == "in-use"
    host = server(cloud, cloud.admin(), sid)["OS-EXT-SRV-ATTR:host"]
    att = cloud.client.get(f"{vpath}/{vids[0]}", headers=hd).json()["volume"]["attachments"]
    assert [(a["server_id"], a["host_name"]) for a in att] == [(sid, host)]
