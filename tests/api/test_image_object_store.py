"""Glance with `image_store: object`: image data kept in the object store's
internal account, uploaded, downloaded (with ranges), deleted, swept, inspected,
read by the local consumers (agents' image path, volume create-from-image), a
server booted from it (fake driver), and invisible to every project."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.image.object_store import ACCOUNT, CONTAINER
from overcast.object import containers, objects
from tests.api.test_compute import C, add_agents, h, wait_status
from tests.api.volume_helpers import Vol, admin_vol, free_port, volume_file
from tests.conftest import Cloud, build_cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("image-object"), image_store="object",
                      volume_nbd_port=free_port())
    c = next(gen)
    try:
        yield c
    finally:
        gen.close()


def _names(cloud: Cloud) -> list[str]:
    store = cloud.app.state.object_store
    _, entries = containers.list_objects(store, ACCOUNT, CONTAINER, limit=10000)
    return [en.name for en in entries]


def _image(cloud: Cloud, data: bytes, hd: dict[str, str] | None = None,
           **extra: Any) -> str:
    hd = hd or cloud.admin()
    r = cloud.client.post("/image/v2/images", headers=hd, json={
        "name": "oimg", "disk_format": "raw", "container_format": "bare", **extra})
    assert r.status_code == 201, r.text
    iid = str(r.json()["id"])
    r = cloud.client.put(f"/image/v2/images/{iid}/file", content=data,
                         headers={**hd, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return iid


def test_upload_download_range_delete(cloud: Cloud) -> None:
    data = bytes(range(256)) * 40000  # ~10 MiB: more than one write buffer
    iid = _image(cloud, data)
    hd = cloud.admin()
    img = cloud.client.get(f"/image/v2/images/{iid}", headers=hd).json()
    assert img["status"] == "active" and img["size"] == len(data)
    assert img["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert img["stores"] == "swift"
    # the bytes live in the object store, as one object named by the image id
    info = objects.head(cloud.app.state.object_store, ACCOUNT, CONTAINER, iid)
    assert info.size == len(data) and info.etag == img["checksum"]
    assert not (cloud.data_dir / "images" / iid).exists()
    r = cloud.client.get(f"/image/v2/images/{iid}/file", headers=hd)
    assert r.status_code == 200 and r.content == data
    r = cloud.client.get(f"/image/v2/images/{iid}/file", headers={**hd,
                                                                  "Range": "bytes=5-1000004"})
    assert r.status_code == 206 and r.content == data[5:1000005]
    r = cloud.client.get(f"/image/v2/images/{iid}/file", headers={**hd, "Range": "bytes=-7"})
    assert r.status_code == 206 and r.content == data[-7:]
    r = cloud.client.get(f"/image/v2/images/{iid}/file",
                         headers={**hd, "Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    stores = cloud.client.get("/image/v2/info/stores", headers=hd).json()["stores"]
    assert [s["id"] for s in stores] == ["swift"]
    r = cloud.client.delete(f"/image/v2/images/{iid}", headers=hd)
    assert r.status_code == 204
    assert iid not in _names(cloud)
    assert cloud.client.get(f"/image/v2/images/{iid}/file", headers=hd).status_code == 404


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="the inspector needs qemu-img")
def test_format_inspector_reads_through_the_store(cloud: Cloud) -> None:
    # a qcow2 header declared as raw is refused, the image back to queued, no object left
    qcow2 = b"QFI\xfb" + b"\0\0\0\x03" + b"\0" * 12 + b"\0\0\0\x10" \
        + (1 << 30).to_bytes(8, "big") + b"\0" * 2000
    hd = cloud.admin()
    r = cloud.client.post("/image/v2/images", headers=hd, json={
        "name": "liar", "disk_format": "raw", "container_format": "bare"})
    iid = r.json()["id"]
    r = cloud.client.put(f"/image/v2/images/{iid}/file", content=qcow2,
                         headers={**hd, "Content-Type": "application/octet-stream"})
    img = cloud.client.get(f"/image/v2/images/{iid}", headers=hd).json()
    assert r.status_code == 400, r.text
    assert img["status"] == "queued"
    assert iid not in _names(cloud)
    # a raw image gets its virtual size from the inspector
    iid2 = _image(cloud, b"R" * 4096)
    img2 = cloud.client.get(f"/image/v2/images/{iid2}", headers=hd).json()
    assert img2["virtual_size"] == 4096


def test_local_consumers_get_a_file_through_the_store(cloud: Cloud) -> None:
    data = b"LOCAL" + b"\1" * 70000
    iid = _image(cloud, data)
    images = cloud.app.state.images
    path = images.local_file(iid)  # what the agents' image_path callback returns
    assert path.read_bytes() == data
    assert images.local_file(iid) == path  # made once, then reused
    cloud.client.delete(f"/image/v2/images/{iid}", headers=cloud.admin())
    assert not path.exists()


def test_volume_from_an_object_stored_image(cloud: Cloud) -> None:
    vol: Vol = admin_vol(cloud)
    data = b"BOOT" + b"\0" * (1 << 20) + b"TAIL"
    iid = _image(cloud, data, visibility="public")
    v = vol.create(imageRef=iid)
    assert v["bootable"] == "true"
    with open(volume_file(cloud, v["id"]), "rb") as f:
        assert f.read(len(data)) == data


def test_boot_a_server_from_an_object_stored_image(cloud: Cloud) -> None:
    cloud.app.state.local_agents = []
    add_agents(cloud, ["oh1"])
    iid = _image(cloud, b"\0" * 65536, visibility="public")
    u = cloud.make_project_user()
    r = cloud.client.post(f"{C}/servers", headers=h(u["headers"], "2.47"), json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": iid, "networks": "none"}})
    assert r.status_code == 202, r.text
    server = wait_status(cloud, u["headers"], r.json()["server"]["id"], "ACTIVE")
    assert server["image"]["id"] == iid


def test_image_objects_are_visible_to_no_project(cloud: Cloud) -> None:
    iid = _image(cloud, b"secret image bytes")
    assert iid in _names(cloud)
    for hd in (cloud.admin(), cloud.make_project_user()["headers"]):
        project = cloud.project_of(hd)
        r = cloud.client.get(f"/object/v1/AUTH_{project}", headers=hd)
        assert r.status_code in (200, 204)
        assert CONTAINER not in r.text
        for path in (f"/object/v1/{ACCOUNT}/{CONTAINER}/{iid}", f"/object/v1/{ACCOUNT}",
                     f"/object/v1/AUTH_{project}/{CONTAINER}/{iid}"):
            r = cloud.client.get(path, headers=hd)
            assert r.status_code in (400, 401, 403, 404), (path, r.status_code)
            assert b"secret image bytes" not in r.content


def test_orphan_sweep_removes_objects_no_image_names(cloud: Cloud) -> None:
    store = cloud.app.state.images.store
    fh = store.open_write("not-an-image")
    fh.write(b"orphan")
    store.commit("not-an-image", fh)
    assert "not-an-image" in _names(cloud)
    cloud.app.state.images.recover()
    assert "not-an-image" not in _names(cloud)


def test_import_file_lands_in_the_object_store(cloud: Cloud, tmp_path: Any) -> None:
    # compute's snapshots and volume upload-to-image hand the image service a file
    hd = cloud.admin()
    r = cloud.client.post("/image/v2/images", headers=hd, json={"name": "snap"})
    iid = r.json()["id"]
    src = tmp_path / "disk.raw"
    data = b"SNAPSHOT" * 100000
    src.write_bytes(data)
    cloud.app.state.images.import_file(iid, src, "raw")
    assert iid in _names(cloud)
    r = cloud.client.get(f"/image/v2/images/{iid}/file", headers=hd)
    assert r.status_code == 200 and r.content == data
