"""Nova's side of block storage over HTTP: os-volume_attachments, volumes at create
(block_device_mapping_v2), volumes_attached in server views, and what a server's
delete gives back, against the real volume service and fake compute hosts."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, add_agents, h, nova_error, server, wait, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import IMAGE, add_image


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("server-volumes"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["vh1"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def V(cloud: Cloud, hd: dict[str, str]) -> str:
    return f"/volume/v3/{cloud.project_of(hd)}"


def volume(cloud: Cloud, hd: dict[str, str], size: int = 1, **extra: Any) -> dict[str, Any]:
    r = cloud.client.post(f"{V(cloud, hd)}/volumes", headers=hd,
                          json={"volume": {"size": size, **extra}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    return wait_volume(cloud, hd, vid, "available")


def get_volume(cloud: Cloud, hd: dict[str, str], vid: str) -> dict[str, Any]:
    r = cloud.client.get(f"{V(cloud, hd)}/volumes/{vid}", headers=hd)
    assert r.status_code == 200, r.text
    return dict(r.json()["volume"])


def wait_volume(cloud: Cloud, hd: dict[str, str], vid: str, status: str) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def check() -> bool:
        box["v"] = get_volume(cloud, hd, vid)
        assert box["v"]["status"] != "error", box["v"]
        return bool(box["v"]["status"] == status)

    wait(check, 60)
    return box["v"]


def active_server(cloud: Cloud, hd: dict[str, str], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE,
                            "networks": "none", **extra}
    r = cloud.client.post(f"{C}/servers", headers=h(hd, "2.47"), json={"server": body})
    assert r.status_code == 202, r.text
    return wait_status(cloud, hd, r.json()["server"]["id"], "ACTIVE")


def test_attach_list_show_detach(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    vm = active_server(cloud, hd)
    vol = volume(cloud, hd, name="data1")
    path = f"{C}/servers/{vm['id']}/os-volume_attachments"
    r = cloud.client.post(path, headers=hd, json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert r.status_code == 200, r.text
    att = r.json()["volumeAttachment"]
    assert att == {"id": vol["id"], "serverId": vm["id"], "volumeId": vol["id"],
                   "device": "/dev/vdb"}
    v = get_volume(cloud, hd, vol["id"])
    assert v["status"] == "in-use"
    assert [a["server_id"] for a in v["attachments"]] == [vm["id"]]
    assert v["attachments"][0]["device"] == "/dev/vdb"
    assert cloud.client.get(path, headers=hd).json() == {"volumeAttachments": [att]}
    assert cloud.client.get(f"{path}/{vol['id']}", headers=hd).json() == {
        "volumeAttachment": att}
    s = server(cloud, hd, vm["id"])
    assert s["os-extended-volumes:volumes_attached"] == [
        {"id": vol["id"], "delete_on_termination": False}]
    assert server(cloud, hd, vm["id"], "2.1")["os-extended-volumes:volumes_attached"] == [
        {"id": vol["id"]}]
    listed = cloud.client.get(f"{C}/servers/detail", headers=h(hd, "2.47")).json()["servers"]
    assert listed[0]["os-extended-volumes:volumes_attached"][0]["id"] == vol["id"]
    # a second attach of the same volume, or of an in-use one elsewhere: 400
    r = cloud.client.post(path, headers=hd, json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert r.status_code == 400, r.text
    # swap is refused as Nova refuses it when Cinder is not migrating the volume
    other = volume(cloud, hd)
    r = cloud.client.put(f"{path}/{vol['id']}", headers=hd,
                         json={"volumeAttachment": {"volumeId": other["id"]}})
    assert r.status_code == 409 and "not migrating" in nova_error(r, "conflictingRequest")
    # a volume in use cannot be deleted
    r = cloud.client.delete(f"{V(cloud, hd)}/volumes/{vol['id']}", headers=hd)
    assert r.status_code == 400, r.text
    r = cloud.client.delete(f"{path}/{vol['id']}", headers=hd)
    assert r.status_code == 202, r.text
    assert get_volume(cloud, hd, vol["id"])["status"] == "available"
    assert cloud.client.get(path, headers=hd).json() == {"volumeAttachments": []}
    assert server(cloud, hd, vm["id"])["os-extended-volumes:volumes_attached"] == []
    r = cloud.client.delete(f"{path}/{vol['id']}", headers=hd)
    assert r.status_code == 404
    events = cloud.client.get(f"{C}/servers/{vm['id']}/os-instance-actions",
                              headers=hd).json()["instanceActions"]
    assert {"attach_volume", "detach_volume"} <= {e["action"] for e in events}


def test_attach_refusals(cloud: Cloud) -> None:
    u, other = cloud.make_project_user(), cloud.make_project_user()
    hd = u["headers"]
    vm = active_server(cloud, hd)
    path = f"{C}/servers/{vm['id']}/os-volume_attachments"
    for body in ({}, {"volumeAttachment": {}}, {"volumeAttachment": {"volumeId": "x"}},
                 {"volumeAttachment": {"volumeId": vm["id"], "device": "nodev!"}},
                 {"volumeAttachment": {"volumeId": vm["id"], "bogus": 1}}):
        r = cloud.client.post(path, headers=hd, json=body)
        assert r.status_code == 400, (body, r.text)
    # another project's volume is not found; so is an unknown one
    theirs = volume(cloud, other["headers"])
    for vid in (theirs["id"], "3a0a6a39-4a56-4d3c-9a43-2a1b08e2a2f6"):
        r = cloud.client.post(path, headers=hd, json={"volumeAttachment": {"volumeId": vid}})
        assert r.status_code == 404, r.text
    assert get_volume(cloud, other["headers"], theirs["id"])["status"] == "available"
    # another project cannot list or attach to this server
    r = cloud.client.get(path, headers=other["headers"])
    assert r.status_code == 404
    # a stopped server still takes a volume (the host gets it at the next start)
    mine = volume(cloud, hd)
    r = cloud.client.post(path, headers=hd, json={"volumeAttachment": {
        "volumeId": mine["id"], "device": "/dev/vdc"}})
    assert r.status_code == 200, r.text
    assert r.json()["volumeAttachment"]["device"] == "/dev/vdc"


def test_boot_from_volume_and_delete_on_termination(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    keep = volume(cloud, hd, name="keep")
    body = {"name": "bfv", "flavorRef": "1", "imageRef": "", "networks": "none",
            "block_device_mapping_v2": [
                {"source_type": "image", "uuid": IMAGE, "destination_type": "volume",
                 "boot_index": 0, "volume_size": 1, "delete_on_termination": True},
                {"source_type": "volume", "uuid": keep["id"], "destination_type": "volume",
                 "boot_index": -1},
                {"source_type": "blank", "destination_type": "volume", "volume_size": 1,
                 "delete_on_termination": True}]}
    r = cloud.client.post(f"{C}/servers", headers=h(hd, "2.47"), json={"server": body})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    s = wait_status(cloud, hd, sid, "ACTIVE")
    assert s["image"] == ""
    attached = s["os-extended-volumes:volumes_attached"]
    assert len(attached) == 3 and keep["id"] in [a["id"] for a in attached]
    root = [a for a in attached if a["id"] != keep["id"] and a["delete_on_termination"]]
    assert len(root) == 2
    vols = {a["id"]: get_volume(cloud, hd, a["id"]) for a in attached}
    assert all(v["status"] == "in-use" for v in vols.values())
    devices = {v["attachments"][0]["device"] for v in vols.values()}
    assert devices == {"/dev/vda", "/dev/vdb", "/dev/vdc"}
    boot = [v for v in vols.values() if v["attachments"][0]["device"] == "/dev/vda"][0]
    assert boot["bootable"] == "true"
    # the root volume cannot be detached
    r = cloud.client.delete(f"{C}/servers/{sid}/os-volume_attachments/{boot['id']}",
                            headers=hd)
    assert r.status_code == 400 and "root device" in nova_error(r, "badRequest")
    assert cloud.client.delete(f"{C}/servers/{sid}", headers=hd).status_code == 204

    def gone() -> bool:
        return cloud.client.get(f"{C}/servers/{sid}", headers=hd).status_code == 404

    wait(gone)
    wait(lambda: get_volume(cloud, hd, keep["id"])["status"] == "available")
    for vid in root:
        wait(lambda vid=vid: cloud.client.get(f"{V(cloud, hd)}/volumes/{vid['id']}",
                                              headers=hd).status_code == 404, 60)


def test_create_refuses_bad_mappings(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    inuse = volume(cloud, hd)
    vm = active_server(cloud, hd)
    r = cloud.client.post(f"{C}/servers/{vm['id']}/os-volume_attachments", headers=hd,
                          json={"volumeAttachment": {"volumeId": inuse["id"]}})
    assert r.status_code == 200
    base = {"name": "x", "flavorRef": "1", "networks": "none"}
    bad = [
        {"imageRef": "", "block_device_mapping_v2": [
            {"source_type": "volume", "uuid": inuse["id"], "destination_type": "volume",
             "boot_index": 0}]},
        {"imageRef": "", "block_device_mapping_v2": [
            {"source_type": "image", "uuid": IMAGE, "destination_type": "volume",
             "boot_index": 0}]},                                   # no size
        {"imageRef": "", "block_device_mapping_v2": [
            {"source_type": "volume", "uuid": "3a0a6a39-4a56-4d3c-9a43-2a1b08e2a2f6",
             "destination_type": "volume", "boot_index": 0}]},
        {"imageRef": "", "block_device_mapping_v2": [
            {"source_type": "blank", "destination_type": "volume", "volume_size": 1}]},
        {"imageRef": IMAGE, "block_device_mapping_v2": [
            {"source_type": "blank", "destination_type": "local", "volume_size": 1}]},
    ]
    before = len(cloud.client.get(f"{C}/servers", headers=hd).json()["servers"])
    for extra in bad:
        r = cloud.client.post(f"{C}/servers", headers=h(hd, "2.47"),
                              json={"server": {**base, **extra}})
        assert r.status_code == 400, (extra, r.text)
    assert len(cloud.client.get(f"{C}/servers", headers=hd).json()["servers"]) == before


def agent_instance(cloud: Cloud, uuid: str) -> Any:
    return next(a.driver.instances[uuid] for a in cloud.app.state.local_agents
                if uuid in a.driver.instances)


def test_in_use_extend_reaches_the_guest(cloud: Cloud) -> None:
    """Cinder's in-use extend (3.42): the volume grows, then compute hears
    volume-extended and the server's host resizes the guest's disk."""
    # on the storage host itself: the volume is attached as a file (over NBD an
    # extend is refused: NBD clients learn the size once, at connection)
    here = socket.gethostname()
    if not any(a.host == here for a in cloud.app.state.local_agents):
        add_agents(cloud, [here])
    hd = cloud.admin()
    vm = active_server(cloud, hd, availability_zone=f"nova:{here}")
    vol = volume(cloud, hd)
    r = cloud.client.post(f"{C}/servers/{vm['id']}/os-volume_attachments", headers=hd,
                          json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert r.status_code == 200, r.text
    assert get_volume(cloud, hd, vol["id"])["status"] == "in-use"
    act = f"{V(cloud, hd)}/volumes/{vol['id']}/action"
    r = cloud.client.post(act, headers=hd, json={"os-extend": {"new_size": 2}})
    assert r.status_code == 400, r.text  # in-use extend needs 3.42
    r = cloud.client.post(act, headers={**hd, "OpenStack-API-Version": "volume 3.42"},
                          json={"os-extend": {"new_size": 2}})
    assert r.status_code == 202, r.text
    v = wait_volume(cloud, hd, vol["id"], "in-use")
    wait(lambda: get_volume(cloud, hd, vol["id"])["size"] == 2)
    wait(lambda: agent_instance(cloud, vm["id"]).volume_sizes.get(vol["id"]) == 2 << 30)
    assert v["attachments"][0]["server_id"] == vm["id"]
    # an available volume's extend tells no server
    other = volume(cloud, hd)
    r = cloud.client.post(f"{V(cloud, hd)}/volumes/{other['id']}/action", headers=hd,
                          json={"os-extend": {"new_size": 3}})
    assert r.status_code == 202, r.text
    wait(lambda: get_volume(cloud, hd, other["id"])["size"] == 3)
    assert other["id"] not in agent_instance(cloud, vm["id"]).volume_sizes


def test_server_external_events(cloud: Cloud) -> None:
    """Nova's os-server-external-events: admin only, a code per event, 200 / 207 for
    the whole (207 even when no event was taken, as Nova since bug 1855752);
    volume-extended resizes the attached disk on the host."""
    u = cloud.make_project_user()
    hd = u["headers"]
    vm = active_server(cloud, hd)
    vol = volume(cloud, hd)
    r = cloud.client.post(f"{C}/servers/{vm['id']}/os-volume_attachments", headers=hd,
                          json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert r.status_code == 200, r.text
    path = f"{C}/os-server-external-events"
    ev = {"name": "volume-extended", "server_uuid": vm["id"], "tag": vol["id"]}
    r = cloud.client.post(path, headers=hd, json={"events": [ev]})
    assert r.status_code == 403, r.text
    admin = h(cloud.admin(), "2.51")  # volume-extended is Nova's from 2.51
    r = cloud.client.post(path, headers=admin, json={"events": [ev]})
    assert r.status_code == 200, r.text
    assert r.json() == {"events": [{**ev, "status": "completed", "code": 200}]}
    wait(lambda: agent_instance(cloud, vm["id"]).volume_sizes.get(vol["id"]) == 1 << 30)
    missing = "00000000-0000-4000-8000-000000000000"
    r = cloud.client.post(path, headers=admin, json={"events": [
        ev, {"name": "network-changed", "server_uuid": missing}]})
    assert r.status_code == 207, r.text
    assert [e["code"] for e in r.json()["events"]] == [200, 404]
    assert r.json()["events"][1]["status"] == "failed"
    r = cloud.client.post(path, headers=admin, json={"events": [
        {"name": "network-vif-plugged", "server_uuid": missing, "status": "completed"}]})
    assert r.status_code == 207, r.text
    assert r.json()["events"][0]["code"] == 404
    for bad in ({"events": []}, {"events": [{"name": "reboot", "server_uuid": vm["id"]}]},
                {"events": [{"name": "network-changed"}]},
                {"events": [{**ev, "extra": 1}]}, {}):
        r = cloud.client.post(path, headers=admin, json=bad)
        assert r.status_code == 400, (bad, r.text)


def test_volume_backed_snapshot_and_boot_from_it(cloud: Cloud) -> None:
    """`server image create` of a server booted from volume, as Nova: a forced
    snapshot of each volume, an active image of no data mapping them (bdm_v2,
    block_device_mapping, root_device_name); a server booted from that image gets
    volumes made from the snapshots and boots from the root one."""
    u = cloud.make_project_user()
    hd = u["headers"]
    body = {"name": "bfv-snap", "flavorRef": "1", "imageRef": "", "networks": "none",
            "block_device_mapping_v2": [
                {"source_type": "image", "uuid": IMAGE, "destination_type": "volume",
                 "boot_index": 0, "volume_size": 1, "delete_on_termination": True},
                {"source_type": "blank", "destination_type": "volume", "volume_size": 2,
                 "boot_index": -1}]}
    r = cloud.client.post(f"{C}/servers", headers=h(hd, "2.47"), json={"server": body})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    s = wait_status(cloud, hd, sid, "ACTIVE")
    vols = {a["id"]: get_volume(cloud, hd, a["id"])
            for a in s["os-extended-volumes:volumes_attached"]}
    r = cloud.client.post(f"{C}/servers/{sid}/action", headers=h(hd, "2.45"),
                          json={"createImage": {"name": "bfv-image", "metadata": {"k": "v"}}})
    assert r.status_code == 202, r.text
    image_id = r.json()["image_id"]
    img = cloud.client.get(f"/image/v2/images/{image_id}", headers=hd).json()
    assert img["status"] == "active" and img["size"] == 0, img
    assert img["bdm_v2"] == "True" and img["root_device_name"] == "/dev/vda"
    assert img["k"] == "v" and img["image_type"] == "snapshot"
    assert img["instance_uuid"] == sid and img["visibility"] == "private"
    mapping = json.loads(img["block_device_mapping"])
    assert len(mapping) == 2
    by_dev = {b["device_name"]: b for b in mapping}
    assert set(by_dev) == {"/dev/vda", "/dev/vdb"}
    for dev, b in by_dev.items():
        assert b["source_type"] == "snapshot" and b["destination_type"] == "volume"
        snap = cloud.client.get(f"{V(cloud, hd)}/snapshots/{b['snapshot_id']}",
                                headers=hd).json()["snapshot"]
        assert snap["volume_id"] in vols
        assert b["volume_size"] == vols[snap["volume_id"]]["size"]
        assert b["boot_index"] == (0 if dev == "/dev/vda" else None)
    assert by_dev["/dev/vda"]["delete_on_termination"] is True
    assert by_dev["/dev/vdb"]["delete_on_termination"] is False
    for b in mapping:
        wait(lambda b=b: cloud.client.get(
            f"{V(cloud, hd)}/snapshots/{b['snapshot_id']}",
            headers=hd).json()["snapshot"]["status"] == "available", 60)
    actions = cloud.client.get(f"{C}/servers/{sid}/os-instance-actions", headers=hd).json()
    assert actions["instanceActions"][0]["action"] == "createImage"

    # boot from the image: volumes from the snapshots, the root one boots it
    r = cloud.client.post(f"{C}/servers", headers=h(hd, "2.47"), json={"server": {
        "name": "from-bfv-image", "flavorRef": "1", "imageRef": image_id,
        "networks": "none"}})
    assert r.status_code == 202, r.text
    new = wait_status(cloud, hd, r.json()["server"]["id"], "ACTIVE")
    assert new["image"] == ""
    made = {a["id"]: get_volume(cloud, hd, a["id"])
            for a in new["os-extended-volumes:volumes_attached"]}
    assert len(made) == 2
    snaps = {b["snapshot_id"]: b for b in mapping}
    for v in made.values():
        assert v["snapshot_id"] in snaps and v["status"] == "in-use"
        assert v["attachments"][0]["device"] == snaps[v["snapshot_id"]]["device_name"]
        assert v["size"] == snaps[v["snapshot_id"]]["volume_size"]
    root = next(v for v in made.values() if v["attachments"][0]["device"] == "/dev/vda")
    assert root["bootable"] == "true"
    assert root["volume_image_metadata"]["image_id"] == IMAGE
    for gone in (new["id"], sid):
        assert cloud.client.delete(f"{C}/servers/{gone}", headers=hd).status_code == 204


def test_deprecated_volume_proxies(cloud: Cloud) -> None:
    """Nova's os-volumes and os-snapshots (up to 2.35; 404 from 2.36), the caller's
    own block storage in Nova's shapes; os-volumes_boot creates a server."""
    u = cloud.make_project_user()
    hd = u["headers"]
    r = cloud.client.post(f"{C}/os-volumes", headers=hd, json={"volume": {
        "size": 1, "display_name": "old", "display_description": "d",
        "metadata": {"a": "b"}}})
    assert r.status_code == 200, r.text
    vol = r.json()["volume"]
    assert vol["displayName"] == "old" and vol["size"] == 1 and vol["metadata"] == {"a": "b"}
    assert vol["attachments"] == [{}]
    vid = vol["id"]
    wait(lambda: cloud.client.get(f"{C}/os-volumes/{vid}", headers=hd)
         .json()["volume"]["status"] == "available")
    for path in ("os-volumes", "os-volumes/detail"):
        listed = cloud.client.get(f"{C}/{path}", headers=hd).json()["volumes"]
        assert [v["id"] for v in listed] == [vid]
    other = cloud.make_project_user()["headers"]
    assert cloud.client.get(f"{C}/os-volumes/{vid}", headers=other).status_code == 404
    assert cloud.client.get(f"{C}/os-volumes", headers=other).json()["volumes"] == []
    assert cloud.client.get(f"{C}/os-volumes/{vid}", headers=h(hd, "2.36")).status_code == 404
    for bad in ({"volume": {"size": 0}}, {"volume": {"size": "#$%"}}, {"volume": {}},
                {"volume": {"size": 1, "foo": 1}}):
        assert cloud.client.post(f"{C}/os-volumes", headers=hd, json=bad).status_code == 400
    r = cloud.client.post(f"{C}/os-snapshots", headers=hd, json={"snapshot": {
        "volume_id": vid, "display_name": "s1", "force": "False"}})
    assert r.status_code == 200, r.text
    snap = r.json()["snapshot"]
    assert snap["volumeId"] == vid and snap["displayName"] == "s1"
    wait(lambda: cloud.client.get(f"{C}/os-snapshots/{snap['id']}", headers=hd)
         .json()["snapshot"]["status"] == "available")
    assert [s["id"] for s in cloud.client.get(f"{C}/os-snapshots/detail", headers=hd)
            .json()["snapshots"]] == [snap["id"]]
    missing = "00000000-0000-4000-8000-000000000000"
    r = cloud.client.post(f"{C}/os-snapshots", headers=hd,
                          json={"snapshot": {"volume_id": missing}})
    assert r.status_code == 404
    assert cloud.client.delete(f"{C}/os-snapshots/{snap['id']}", headers=hd).status_code == 202
    wait(lambda: cloud.client.get(f"{C}/os-snapshots/{snap['id']}",
                                  headers=hd).status_code == 404)
    assert cloud.client.delete(f"{C}/os-volumes/{vid}", headers=hd).status_code == 202
    wait(lambda: cloud.client.get(f"{C}/os-volumes/{vid}", headers=hd).status_code == 404)
    assert cloud.client.delete(f"{C}/os-volumes/{missing}", headers=hd).status_code == 404
    r = cloud.client.post(f"{C}/os-volumes_boot", headers=hd, json={"server": {
        "name": "vb", "flavorRef": "1", "imageRef": IMAGE}})
    assert r.status_code == 202, r.text
    wait_status(cloud, hd, r.json()["server"]["id"], "ACTIVE")


def test_boot_from_a_volume_that_is_not_bootable_is_400(cloud: Cloud) -> None:
    """A blank volume (bootable false) as the root disk is refused before anything is
    written, as Nova's InvalidBDMVolumeNotBootable (Tempest's
    test_create_server_from_non_bootable_volume: the server was built)."""
    hd = cloud.make_project_user()["headers"]
    blank = volume(cloud, hd)
    assert blank["bootable"] == "false"
    r = cloud.client.post(f"{C}/servers", headers=h(hd, "2.47"), json={"server": {
        "name": "nb", "flavorRef": "1", "networks": "none", "imageRef": "",
        "block_device_mapping_v2": [{"source_type": "volume", "uuid": blank["id"],
                                     "destination_type": "volume", "boot_index": 0}]}})
    assert r.status_code == 400, r.text
    assert nova_error(r, "badRequest") == f"Block Device {blank['id']} is not bootable."
    assert cloud.client.get(f"{C}/servers", headers=hd).json()["servers"] == []
