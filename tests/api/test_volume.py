"""Block storage (Cinder v3) over HTTP: discovery, volumes, their actions, the
attachments API and the data path (file and NBD exports) against the in-process
storage host. Resources besides volumes are in test_volume_resources.py."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.volume_helpers import Vol, admin_vol, member_vol, volume_cloud, volume_file
from tests.conftest import Cloud

GiB = 1 << 30


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from volume_cloud(tmp_path_factory)


@pytest.fixture
def vol(cloud: Cloud) -> Vol:
    """A new project (with a member) per test: quotas start empty."""
    return member_vol(cloud)


# ----------------------------------------------------------------- discovery
def test_root_is_300_and_v3_is_200_with_the_microversion_range(cloud: Cloud) -> None:
    r = cloud.client.get("/volume/")
    assert r.status_code == 300
    r = cloud.client.get("/volume/v3/")
    assert r.status_code == 200
    doc = r.json()["versions"][0]
    assert (doc["id"], doc["min_version"], doc["version"]) == ("v3.0", "3.0", "3.55")
    assert doc["links"][-1]["href"].endswith("/volume/v3/")


def test_catalog_has_block_storage_and_volumev3_with_the_project(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": u["username"], "domain": {"name": "Default"},
            "password": u["password"]}}},
        "scope": {"project": {"id": u["project_id"]}}}})
    catalog = {e["type"]: e for e in r.json()["token"]["catalog"]}
    for kind in ("block-storage", "volumev3"):
        urls = [ep["url"] for ep in catalog[kind]["endpoints"]]
        assert all(url.endswith(f"/volume/v3/{u['project_id']}") for url in urls), urls


def test_microversion_out_of_range_is_406_and_the_reply_names_the_version(vol: Vol) -> None:
    r = vol.at("3.99").get("/volumes")
    assert r.status_code == 406
    r = vol.at("3.30").get("/volumes")
    assert r.headers["OpenStack-API-Version"] == "volume 3.30"


def test_another_projects_url_is_a_malformed_request(cloud: Cloud, vol: Vol) -> None:
    other = member_vol(cloud)
    r = cloud.client.get(f"{other.base}/volumes", headers=vol.headers)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Malformed request url"


def test_no_token_is_401(cloud: Cloud, vol: Vol) -> None:
    assert cloud.client.get(f"{vol.base}/volumes").status_code == 401


# ----------------------------------------------------------------- volumes
def test_create_blank_is_a_thin_file_and_shows_cinders_fields(cloud: Cloud, vol: Vol
                                                              ) -> None:
    r = vol.post("/volumes", {"volume": {
        "size": 1, "name": "data1", "description": None, "volume_type": None,
        "availability_zone": None, "snapshot_id": None, "source_volid": None,
        "backup_id": None, "consistencygroup_id": None, "imageRef": None,
        "metadata": None}})
    assert r.status_code == 202, r.text
    assert r.json()["volume"]["status"] == "creating"
    v = vol.wait(r.json()["volume"]["id"], "available")
    assert (v["name"], v["size"], v["bootable"], v["volume_type"]) == (
        "data1", 1, "false", "__DEFAULT__")
    assert v["os-vol-tenant-attr:tenant_id"] == vol.project_id
    assert "os-vol-host-attr:host" not in v  # an admin's attribute
    assert v["shared_targets"] is False and v["group_id"] is None  # 3.48, 3.13
    path = volume_file(cloud, v["id"])
    assert path.stat().st_size == GiB
    assert path.stat().st_blocks * 512 < 1 << 20  # thin


def test_admin_sees_the_host(cloud: Cloud, vol: Vol) -> None:
    v = vol.create(name="hosted")
    shown = admin_vol(cloud).get(f"/volumes/{v['id']}?all_tenants=1")
    # the admin's own URL reaches another project's volume by id
    assert shown.status_code == 200
    assert shown.json()["volume"]["os-vol-host-attr:host"].endswith("@file#file")


def test_size_is_checked(vol: Vol) -> None:
    for bad in (0, -1, "x", 1.5):
        r = vol.post("/volumes", {"volume": {"size": bad}})
        assert r.status_code == 400, (bad, r.text)
        assert "badRequest" in r.json()
    r = vol.post("/volumes", {"volume": {"size": "2"}})
    assert r.status_code == 202


def test_unknown_type_and_zone_are_refused(vol: Vol) -> None:
    r = vol.post("/volumes", {"volume": {"size": 1, "volume_type": "nope"}})
    assert r.status_code == 404
    r = vol.post("/volumes", {"volume": {"size": 1, "availability_zone": "mars"}})
    assert r.status_code == 400


def test_unknown_volume_is_item_not_found(vol: Vol) -> None:
    r = vol.get("/volumes/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.json() == {"itemNotFound": {
        "code": 404,
        "message": "Volume 00000000-0000-0000-0000-000000000000 could not be found."}}


def test_list_detail_filters_sort_and_paging(cloud: Cloud) -> None:
    vol = member_vol(cloud)
    ids = [vol.create(name=f"p{i}", metadata={"k": str(i % 2)})["id"] for i in range(5)]
    listed = vol.get("/volumes").json()["volumes"]
    assert {x["id"] for x in listed} == set(ids)
    assert set(listed[0]) == {"id", "name", "links"}
    detail = vol.get("/volumes/detail").json()["volumes"]
    assert [x["id"] for x in detail] == ids[::-1]  # created_at desc by default
    page1 = vol.get("/volumes/detail?limit=2&sort=name:asc").json()
    assert [x["name"] for x in page1["volumes"]] == ["p0", "p1"]
    nxt = page1["volumes_links"][0]["href"]
    assert "marker=" in nxt and "/volume/v3/" in nxt
    marker = nxt.split("marker=")[1]
    page2 = vol.get(f"/volumes/detail?limit=2&sort=name:asc&marker={marker}").json()
    assert [x["name"] for x in page2["volumes"]] == ["p2", "p3"]
    # as Cinder: a full page links on even when it is the last (Tempest checks it)
    last = vol.get("/volumes?limit=5").json()
    assert len(last["volumes"]) == 5 and "volumes_links" in last
    assert "volumes_links" not in vol.get("/volumes?limit=6").json()
    assert [x["name"] for x in vol.get("/volumes/detail?name=p3").json()["volumes"]] == [
        "p3"]
    odd = vol.get("/volumes/detail", params={"metadata": "{'k': '1'}"}).json()["volumes"]
    assert sorted(x["name"] for x in odd) == ["p1", "p3"]
    assert vol.get("/volumes/detail?status=error").json()["volumes"] == []
    counted = vol.get("/volumes?with_count=true").json()
    assert counted["count"] == 5
    assert vol.get("/volumes?sort=bogus:asc").status_code == 400
    assert vol.get("/volumes?limit=x").status_code == 400
    assert vol.get("/volumes?marker=nope").status_code == 404  # as Cinder
    summary = vol.get("/volumes/summary").json()["volume-summary"]
    assert summary == {"total_size": 5, "total_count": 5, "metadata": {"k": ["0", "1"]}}


def test_update_and_metadata(vol: Vol) -> None:
    v = vol.create(name="m", metadata={"a": "1"})
    r = vol.put(f"/volumes/{v['id']}", {"volume": {"name": "m2", "description": "d"}})
    assert r.status_code == 200
    assert (r.json()["volume"]["name"], r.json()["volume"]["description"]) == ("m2", "d")
    r = vol.post(f"/volumes/{v['id']}/metadata", {"metadata": {"b": "2"}})
    assert r.json()["metadata"] == {"a": "1", "b": "2"}
    r = vol.put(f"/volumes/{v['id']}/metadata", {"metadata": {"c": "3"}})
    assert vol.get(f"/volumes/{v['id']}/metadata").json()["metadata"] == {"c": "3"}
    r = vol.put(f"/volumes/{v['id']}/metadata/c", {"meta": {"c": "4"}})
    assert r.json() == {"meta": {"c": "4"}}
    assert vol.put(f"/volumes/{v['id']}/metadata/c", {"meta": {"x": "4"}}).status_code == 400
    assert vol.get(f"/volumes/{v['id']}/metadata/c").json() == {"meta": {"c": "4"}}
    assert vol.delete(f"/volumes/{v['id']}/metadata/c").status_code == 200
    assert vol.get(f"/volumes/{v['id']}/metadata/c").status_code == 404
    assert vol.put(f"/volumes/{v['id']}", {"volume": {"size": 3}}).status_code == 400


def test_reader_reads_but_does_not_write(cloud: Cloud) -> None:
    owner = member_vol(cloud)
    v = owner.create()
    u = cloud.make_project_user("reader")
    # a reader of the same project: another user with the reader role there
    h = cloud.admin()
    r = cloud.client.put(f"/identity/v3/projects/{owner.project_id}/users/{u['user_id']}/"
                         f"roles/{cloud.role_id('reader')}", headers=h)
    assert r.status_code == 204
    reader = Vol(cloud, {"X-Auth-Token": cloud.token(u["username"], u["password"],
                                                     project_id=owner.project_id)},
                 owner.project_id)
    assert reader.get(f"/volumes/{v['id']}").status_code == 200
    r = reader.post("/volumes", {"volume": {"size": 1}})
    assert r.status_code == 403 and "forbidden" in r.json()
    assert reader.delete(f"/volumes/{v['id']}").status_code == 403


def test_delete(cloud: Cloud, vol: Vol) -> None:
    v = vol.create()
    assert vol.delete(f"/volumes/{v['id']}").status_code == 202
    vol.wait(v["id"], "gone")
    assert not volume_file(cloud, v["id"]).exists()


# ----------------------------------------------------------------- from sources
def test_snapshot_clone_and_volume_from_snapshot_carry_the_bytes(cloud: Cloud, vol: Vol
                                                                 ) -> None:
    v = vol.create(name="src")
    with open(volume_file(cloud, v["id"]), "r+b") as f:
        f.seek(12345)
        f.write(b"overcast-marker")
    snap = vol.snapshot(v["id"], name="s1", metadata={"x": "y"})
    assert snap["size"] == 1 and snap["metadata"] == {"x": "y"}
    from_snap = vol.create(snapshot_id=snap["id"], size=2)
    clone = vol.create(source_volid=v["id"])
    assert from_snap["snapshot_id"] == snap["id"] and clone["source_volid"] == v["id"]
    for made, size in ((from_snap, 2), (clone, 1)):
        path = volume_file(cloud, made["id"])
        assert path.stat().st_size == size * GiB
        with open(path, "rb") as f:
            f.seek(12345)
            assert f.read(15) == b"overcast-marker"
    r = vol.post("/volumes", {"volume": {"snapshot_id": snap["id"], "size": 0}})
    assert r.status_code == 400
    # a volume with snapshots is refused, then removed with them by cascade
    r = vol.delete(f"/volumes/{v['id']}")
    assert r.status_code == 400 and "snapshots" in r.json()["badRequest"]["message"]
    assert vol.delete(f"/volumes/{v['id']}?cascade=true").status_code == 202
    vol.wait(v["id"], "gone")
    vol.wait(snap["id"], "gone", "snapshots")
    assert not (cloud.data_dir / "volumes" / f"snapshot-{snap['id']}").exists()


def _image(cloud: Cloud, data: bytes, **extra: Any) -> str:
    h = cloud.admin()
    r = cloud.client.post("/image/v2/images", headers=h, json={
        "name": "vimg", "disk_format": "raw", "container_format": "bare",
        "visibility": "public", **extra})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    r = cloud.client.put(f"/image/v2/images/{iid}/file", content=data,
                         headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return str(iid)


def test_volume_from_image_is_bootable_with_image_metadata(cloud: Cloud, vol: Vol) -> None:
    data = b"BOOT" + b"\0" * (1 << 20) + b"TAIL"
    iid = _image(cloud, data, os_distro="tiny")
    v = vol.create(imageRef=iid)  # the size comes from the image
    assert v["bootable"] == "true" and v["size"] == 1
    meta = v["volume_image_metadata"]
    assert meta["image_id"] == iid and meta["os_distro"] == "tiny"
    with open(volume_file(cloud, v["id"]), "rb") as f:
        assert f.read(4) == b"BOOT"
    r = vol.post("/volumes", {"volume": {"size": 1, "imageRef": "nope"}})
    assert r.status_code == 400
    r = vol.action(v["id"], "os-set_image_metadata", {"metadata": {"a": "b"}})
    assert r.json()["metadata"]["a"] == "b"
    r = vol.action(v["id"], "os-unset_image_metadata", {"key": "a"})
    assert r.status_code == 200
    assert "a" not in vol.action(v["id"], "os-show_image_metadata").json()["metadata"]


def test_upload_to_image_makes_an_active_image_of_the_bytes(cloud: Cloud, vol: Vol
                                                            ) -> None:
    v = vol.create()
    with open(volume_file(cloud, v["id"]), "r+b") as f:
        f.write(b"UPLOADED")
    r = vol.action(v["id"], "os-volume_upload_image", {"image_name": "from-vol",
                                                       "disk_format": "raw"})
    assert r.status_code == 202, r.text
    up = r.json()["os-volume_upload_image"]
    assert up["status"] == "uploading" and up["image_name"] == "from-vol"
    # the image service hashes the whole GiB (md5 and sha512): slow on a busy host
    vol.wait(v["id"], "available", timeout=180)
    h = cloud.admin()
    img = cloud.client.get(f"/image/v2/images/{up['image_id']}", headers=vol.headers).json()
    assert img["status"] == "active" and img["size"] == GiB
    data = cloud.client.get(f"/image/v2/images/{up['image_id']}/file", headers={
        **h, "Range": "bytes=0-7"})
    assert data.content == b"UPLOADED"


# ----------------------------------------------------------------- actions
def test_extend_available_and_in_use_from_342(cloud: Cloud, vol: Vol) -> None:
    v = vol.create()
    r = vol.action(v["id"], "os-extend", {"new_size": 1})
    assert r.status_code == 400
    assert "greater than current size" in r.json()["badRequest"]["message"]
    assert vol.action(v["id"], "os-extend", {"new_size": 2}).status_code == 202
    assert vol.wait(v["id"], "available")["size"] == 2
    assert volume_file(cloud, v["id"]).stat().st_size == 2 * GiB
    vol.action(v["id"], "os-attach", {"instance_uuid": "5f0e5e1c-13f0-4f35-9b47-"
                                      "c7f5ba2c2d10", "mountpoint": "/dev/vdb"})
    vol.wait(v["id"], "in-use")
    old = vol.at("3.41")
    assert old.action(v["id"], "os-extend", {"new_size": 3}).status_code == 400
    assert vol.action(v["id"], "os-extend", {"new_size": 3}).status_code == 202
    done = vol.wait(v["id"], "in-use")
    assert done["size"] == 3


def test_legacy_attach_steps_follow_cinders_states(vol: Vol) -> None:
    v = vol.create()
    vid = v["id"]
    assert vol.action(vid, "os-begin_detaching").status_code == 400
    assert vol.action(vid, "os-reserve").status_code == 202
    # Cinder's legacy reserve says `attaching` (Tempest's test_reserve_unreserve_volume)
    assert vol.wait(vid, "attaching")
    assert vol.action(vid, "os-reserve").status_code == 400
    assert vol.action(vid, "os-unreserve").status_code == 202
    vol.wait(vid, "available")
    assert vol.action(vid, "os-reserve").status_code == 202
    server = "0b5c8c3e-9d51-4c8f-8a10-51d8ef4d2f4c"
    r = vol.action(vid, "os-attach", {"instance_uuid": server, "mountpoint": "/dev/vdb",
                                      "mode": "rw"})
    assert r.status_code == 202, r.text
    shown = vol.wait(vid, "in-use")
    att = shown["attachments"][0]
    assert (att["server_id"], att["device"], att["volume_id"]) == (server, "/dev/vdb", vid)
    r = vol.delete(f"/volumes/{vid}")
    assert r.status_code == 400 and "attached" in r.json()["badRequest"]["message"]
    assert vol.action(vid, "os-begin_detaching").status_code == 202
    vol.wait(vid, "detaching")
    assert vol.action(vid, "os-roll_detaching").status_code == 202
    vol.wait(vid, "in-use")
    assert vol.action(vid, "os-detach", {"attachment_id": att["attachment_id"]}
                      ).status_code == 202
    assert vol.wait(vid, "available")["attachments"] == []


def test_detach_after_a_force_detach_is_no_error(cloud: Cloud, vol: Vol) -> None:
    """Tempest's test_force_detach_volume detaches again in its cleanup, after the
    admin's force-detach took the attachment away: Cinder answers 202 and leaves
    the volume available (it was a 400 here)."""
    adm = admin_vol(cloud)
    vid = vol.create()["id"]
    server = "0b5c8c3e-9d51-4c8f-8a10-51d8ef4d2f4c"
    assert vol.action(vid, "os-reserve").status_code == 202
    assert vol.action(vid, "os-attach", {"instance_uuid": server, "mountpoint": "/dev/vdb"}
                      ).status_code == 202
    att = vol.wait(vid, "in-use")["attachments"][0]
    assert adm.action(vid, "os-reset_status", {"status": "error"}).status_code == 202
    assert adm.action(vid, "os-force_detach", {"attachment_id": att["attachment_id"],
                                               "connector": None}).status_code == 202
    vol.wait(vid, "available")
    assert vol.action(vid, "os-detach").status_code == 202
    assert vol.wait(vid, "available")["attachments"] == []


def test_flags(vol: Vol) -> None:
    v = vol.create()
    assert vol.action(v["id"], "os-set_bootable", {"bootable": True}).status_code == 200
    assert vol.get(f"/volumes/{v['id']}").json()["volume"]["bootable"] == "true"
    assert vol.action(v["id"], "os-update_readonly_flag", {"readonly": True}
                      ).status_code == 202
    # shown among the metadata, as Cinder shows its admin metadata
    assert vol.get(f"/volumes/{v['id']}").json()["volume"]["metadata"] == {
        "readonly": "True"}
    # a read-only volume attaches read-only only
    r = vol.action(v["id"], "os-attach", {"instance_uuid": "0b5c8c3e-9d51-4c8f-8a10-"
                                          "51d8ef4d2f4c", "mountpoint": "/dev/vdc",
                                          "mode": "rw"})
    assert r.status_code == 400
    assert vol.action(v["id"], "os-bogus").status_code == 400
    assert vol.post(f"/volumes/{v['id']}/action", {"os-reserve": None,
                                                   "os-unreserve": None}).status_code == 400


def test_admin_actions_are_for_admins(cloud: Cloud, vol: Vol) -> None:
    v = vol.create()
    r = vol.action(v["id"], "os-reset_status", {"status": "error"})
    assert r.status_code == 403
    adm = admin_vol(cloud)
    # the admin acts in its own URL's project; ids reach any project's volume
    assert adm.action(v["id"], "os-reset_status", {"status": "error"}).status_code == 202
    vol.wait(v["id"], "error")
    assert vol.action(v["id"], "os-force_delete").status_code == 403
    assert adm.action(v["id"], "os-force_delete").status_code == 202
    vol.wait(v["id"], "gone")


# ----------------------------------------------------------------- attachments (3.27+)
def test_attachments_api_gives_a_file_connection_on_the_storage_host(cloud: Cloud,
                                                                     vol: Vol) -> None:
    v = vol.create()
    vid, server = v["id"], "c9d7f6a2-4b7e-4f21-a1a8-8d3f0f0a3a11"
    assert vol.at("3.26").get("/attachments").status_code == 404
    r = vol.post("/attachments", {"attachment": {"volume_uuid": vid,
                                                 "instance_uuid": server}})
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    assert att["status"] == "reserved"
    vol.wait(vid, "reserved")
    connector = {"host": socket.gethostname(), "ip": "127.0.0.1", "mountpoint": "/dev/vdb"}
    r = vol.put(f"/attachments/{att['id']}", {"attachment": {"connector": connector}})
    assert r.status_code == 200, r.text
    info = r.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "file"
    assert info["data"]["path"] == str(volume_file(cloud, vid))
    assert (info["data"]["format"], info["data"]["read_only"]) == ("raw", False)
    vol.wait(vid, "attaching")
    assert vol.post(f"/attachments/{att['id']}/action", {"os-complete": None}
                    ).status_code == 204
    shown = vol.wait(vid, "in-use")
    assert shown["attachments"][0]["attachment_id"] == att["id"]
    listed = vol.get(f"/attachments?volume_id={vid}").json()["attachments"]
    assert [a["id"] for a in listed] == [att["id"]]
    assert vol.get(f"/attachments/{att['id']}").json()["attachment"]["status"] == "attached"
    r = vol.delete(f"/attachments/{att['id']}")
    assert r.status_code == 200 and r.json() == {"attachments": []}
    vol.wait(vid, "available")
    assert vol.get(f"/attachments/{att['id']}").status_code == 404


needs_qemu_io = pytest.mark.skipif(shutil.which("qemu-io") is None or shutil.which(
    "qemu-storage-daemon") is None, reason="qemu-io and qemu-storage-daemon are needed")


@needs_qemu_io
def test_nbd_export_serves_the_volume_bytes_to_another_host(cloud: Cloud, vol: Vol
                                                            ) -> None:
    v = vol.create()
    vid = v["id"]
    r = vol.post("/attachments", {"attachment": {
        "volume_uuid": vid, "instance_uuid": "7a4f7d0e-3a53-4cfe-9b59-4a2f5c8d1e22",
        "connector": {"host": "compute-elsewhere", "ip": "127.0.0.2"}}})
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    info = att["connection_info"]
    assert info["driver_volume_type"] == "nbd"
    data = info["data"]
    assert data["export_name"] == f"volume-{vid}" and data["format"] == "raw"
    url = f"nbd://{data['host']}:{data['port']}/{data['export_name']}"
    out = subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x5a 4096 512", url],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    with open(volume_file(cloud, vid), "rb") as f:
        f.seek(4096)
        assert f.read(512) == b"\x5a" * 512
    probe = subprocess.run(["qemu-img", "info", "--output=json", url], capture_output=True,
                           text=True, timeout=30)
    assert json.loads(probe.stdout)["virtual-size"] == GiB
    # the crash-safety sync keeps an export a record owns and drops one nobody owns
    vol.post(f"/attachments/{att['id']}/action", {"os-complete": None})
    vol.wait(vid, "in-use")
    component = cloud.app.state.local_storage
    stray = vol.create()
    cloud.client.portal.call(component.driver.export, stray["id"], {
        "host": "x", "transport": "nbd"})
    assert stray["id"] in cloud.client.portal.call(component.driver.list_exports)
    cloud.client.portal.call(component.reconcile)
    exports = cloud.client.portal.call(component.driver.list_exports)
    assert exports == [vid]
    assert vol.delete(f"/attachments/{att['id']}").status_code == 200
    vol.wait(vid, "available")
    assert cloud.client.portal.call(component.driver.list_exports) == []
    gone = subprocess.run(["qemu-img", "info", url], capture_output=True, text=True,
                          timeout=30)
    assert gone.returncode != 0


def test_restart_settles_transitional_states(cloud: Cloud, vol: Vol) -> None:
    """What a kill -9 mid-create or mid-attach leaves is settled by the storage host's
    start-up sync: never stuck in a transitional state."""
    from overcast.volume import models as m

    made, attaching, lost = vol.create(), vol.create(), vol.create()
    r = vol.post("/attachments", {"attachment": {
        "volume_uuid": attaching["id"],
        "instance_uuid": "7a4f7d0e-3a53-4cfe-9b59-4a2f5c8d1e33"}})
    assert r.status_code == 200
    volume_file(cloud, lost["id"]).unlink()
    db = cloud.app.state.db
    with db.transaction() as s:
        s.get(m.Volume, made["id"]).status = "creating"
        s.get(m.Volume, lost["id"]).status = "creating"
    cloud.client.portal.call(cloud.app.state.local_storage.reconcile)
    assert vol.get(f"/volumes/{made['id']}").json()["volume"]["status"] == "available"
    assert vol.get(f"/volumes/{lost['id']}").json()["volume"]["status"] == "error"
    settled = vol.get(f"/volumes/{attaching['id']}").json()["volume"]
    assert settled["status"] == "available"
    assert vol.get(f"/attachments?volume_id={attaching['id']}").json()["attachments"] == []


# ----------------------------------------------------------------- compute's VolumePort
def test_volume_port_runs_the_attach_flow_for_compute(cloud: Cloud, vol: Vol) -> None:
    from overcast.kit.context import RequestContext
    from overcast.kit.errors import Conflict, NotFound

    port = cloud.app.state.volume.instances
    ctx = RequestContext(user_id="u", project_id=vol.project_id, roles=["member"])
    vid = port.create_for_instance(ctx, size_gb=1, name="boot")
    vol.wait(vid, "available")
    assert port.lookup(ctx, vid)["name"] == "boot"
    stranger = RequestContext(user_id="x", project_id="other", roles=["member"])
    with pytest.raises(NotFound):
        port.lookup(stranger, vid)
    server = "4d9f1e2a-6b7c-4d8e-9f0a-1b2c3d4e5f60"
    aid = port.reserve(ctx, vid, server)
    assert port.lookup(ctx, vid)["status"] == "reserved"
    with pytest.raises(Conflict):
        port.reserve(ctx, vid, server)
    info = port.connect(aid, {"host": socket.gethostname(), "ip": "127.0.0.1"})
    assert info["driver_volume_type"] == "file"
    assert info["data"]["path"] == str(volume_file(cloud, vid))
    assert port.lookup(ctx, vid)["status"] == "attaching"
    port.complete(aid, "/dev/vdb")
    shown = port.lookup(ctx, vid)
    assert shown["status"] == "in-use"
    assert shown["attachments"][0]["device"] == "/dev/vdb"
    assert shown["attachments"][0]["server_id"] == server
    port.disconnect(aid)
    assert port.lookup(ctx, vid)["status"] == "available"
    port.delete_for_instance(vid)
    vol.wait(vid, "gone")


def test_volume_path_with_an_empty_id_is_not_found(vol: Vol) -> None:
    """`/volumes/` (an empty id) answered the list (GET, through the trailing-slash
    redirect) or 405 (PUT, DELETE); Cinder answers 404, as Tempest's negative tests
    check."""
    vol.create()
    for method in ("GET", "PUT", "DELETE"):
        r = vol.req(method, "/volumes/", **({"json": {"volume": {"name": "x"}}}
                                           if method == "PUT" else {}))
        assert r.status_code == 404, (method, r.status_code, r.text)
