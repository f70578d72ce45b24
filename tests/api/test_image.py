"""Glance v2: images, data, PATCH, list filters, visibility and members, quotas."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cloud, build_cloud

V2 = "/image/v2"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("glance"))
    cloud = next(gen)
    try:
        yield cloud
    finally:
        gen.close()


@pytest.fixture(scope="module")
def qcow2(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("img") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path.read_bytes()


def create(cloud: Cloud, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    r = cloud.client.post(f"{V2}/images", headers=headers, json=body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/image/v2/images/{r.json()['id']}")
    return dict(r.json())


def upload(cloud: Cloud, headers: dict[str, str], image_id: str, data: bytes) -> Any:
    return cloud.client.put(f"{V2}/images/{image_id}/file", headers={**headers, **OCTET},
                            content=data)


def show(cloud: Cloud, headers: dict[str, str], image_id: str) -> dict[str, Any]:
    r = cloud.client.get(f"{V2}/images/{image_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def names(cloud: Cloud, headers: dict[str, str], **params: Any) -> list[str]:
    r = cloud.client.get(f"{V2}/images", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["images"]]


def test_versions(glance: Cloud) -> None:
    r = glance.client.get("/image")
    assert r.status_code == 300
    ids = [v["id"] for v in r.json()["versions"]]
    assert ids[0] == "v2.17" and r.json()["versions"][0]["status"] == "CURRENT"
    assert r.json()["versions"][0]["links"][0]["href"].endswith("/image/v2/")
    assert glance.client.get("/image/versions").status_code == 200
    for name in ("image", "images", "member", "members"):
        assert glance.client.get(f"{V2}/schemas/{name}").json()["name"] == name


def test_create_upload_download_round_trip(glance: Cloud, qcow2: bytes) -> None:
    u = glance.make_project_user()
    hd = u["headers"]
    img = create(glance, hd, name="disk", disk_format="qcow2",
                 **{"owner_specified.openstack.md5": "", "os_distro": "debian"})
    assert img["status"] == "queued" and img["visibility"] == "shared"
    assert img["owner"] == u["project_id"] and img["os_distro"] == "debian"
    assert img["owner_specified.openstack.md5"] == ""
    for key in ("checksum", "size", "virtual_size", "os_hash_algo", "os_hash_value"):
        assert key in img and img[key] is None
    assert img["self"] == f"/v2/images/{img['id']}" and img["schema"] == "/v2/schemas/image"
    # no data yet: 204
    assert glance.client.get(f"{V2}/images/{img['id']}/file", headers=hd).status_code == 204
    r = upload(glance, hd, img["id"], qcow2)
    assert r.status_code == 204, r.text
    got = show(glance, hd, img["id"])
    assert got["status"] == "active" and got["size"] == len(qcow2)
    assert got["checksum"] == hashlib.md5(qcow2).hexdigest()
    assert got["os_hash_algo"] == "sha512"
    assert got["os_hash_value"] == hashlib.sha512(qcow2).hexdigest()
    assert got["virtual_size"] == 64 * 1024 * 1024
    r = glance.client.get(f"{V2}/images/{img['id']}/file", headers=hd)
    assert r.status_code == 200 and r.content == qcow2
    assert r.headers["Content-MD5"] == got["checksum"]
    r = glance.client.get(f"{V2}/images/{img['id']}/file",
                          headers={**hd, "Range": "bytes=4-11"})
    assert r.status_code == 206 and r.content == qcow2[4:12]
    assert r.headers["Content-Range"] == f"bytes 4-11/{len(qcow2)}"
    r = glance.client.get(f"{V2}/images/{img['id']}/file",
                          headers={**hd, "Range": f"bytes={len(qcow2) + 5}-"})
    assert r.status_code == 416
    # a second upload is a conflict
    assert upload(glance, hd, img["id"], qcow2).status_code == 409


def test_content_must_match_disk_format(glance: Cloud, qcow2: bytes) -> None:
    hd = glance.admin()
    fake = create(glance, hd, name="not-qcow2", disk_format="qcow2")
    r = upload(glance, hd, fake["id"], b"this is not a qcow2 image" * 100)
    assert r.status_code == 400 and "does not match disk_format qcow2" in r.text
    assert show(glance, hd, fake["id"])["status"] == "queued"
    store = glance.data_dir / "images"
    assert not list(store.glob(f"*{fake['id']}*"))
    raw = create(glance, hd, name="raw-but-qcow2", disk_format="raw")
    r = upload(glance, hd, raw["id"], qcow2)
    assert r.status_code == 400 and "the data is qcow2" in r.text
    iso = create(glance, hd, name="iso", disk_format="iso")
    assert upload(glance, hd, iso["id"], b"\0" * 40000).status_code == 400
    kernel = create(glance, hd, name="kernel", disk_format="aki", container_format="aki")
    assert upload(glance, hd, kernel["id"], b"\x7fELF" + b"\0" * 100).status_code == 204


@pytest.mark.parametrize("body,status", [
    ({"disk_format": "floppy"}, 400), ({"container_format": "tarball"}, 400),
    ({"visibility": "everyone"}, 400), ({"status": "active"}, 403), ({"size": 5}, 403),
    ({"os_glance_foo": "x"}, 403), ({"min_ram": -1}, 400), ({"min_disk": "big"}, 400),
    ({"protected": "yes"}, 400), ({"tags": "web"}, 400), ({"name": "x" * 256}, 400),
    ({"custom": 5}, 400), ({"id": "not-a-uuid"}, 400),
])
def test_bad_create_bodies(glance: Cloud, body: dict[str, Any], status: int) -> None:
    u = glance.make_project_user()
    before = names(glance, glance.admin(), limit=1000)
    r = glance.client.post(f"{V2}/images", headers=u["headers"], json=body)
    assert r.status_code == status, r.text
    assert names(glance, glance.admin(), limit=1000) == before


def test_patch(glance: Cloud) -> None:
    u = glance.make_project_user()
    hd = u["headers"]
    img = create(glance, hd, name="p", os_distro="ubuntu")
    url = f"{V2}/images/{img['id']}"
    r = glance.client.patch(url, headers=hd, json=[{"op": "replace", "path": "/name",
                                                    "value": "q"}])
    assert r.status_code == 415
    r = glance.client.patch(url, headers={**hd, **PATCH}, json=[
        {"op": "replace", "path": "/name", "value": "q"},
        {"op": "add", "path": "/os_version", "value": "12"},
        {"op": "replace", "path": "/os_distro", "value": "debian"},
        {"op": "add", "path": "/tags", "value": ["web", "db"]},
        {"op": "replace", "path": "/min_ram", "value": 256}])
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] == "q" and got["os_version"] == "12" and got["os_distro"] == "debian"
    assert got["tags"] == ["db", "web"] and got["min_ram"] == 256
    r = glance.client.patch(url, headers={**hd, **PATCH},
                            json=[{"op": "remove", "path": "/os_version"}])
    assert r.status_code == 200 and "os_version" not in r.json()
    for ops, status in (([{"op": "remove", "path": "/nothing"}], 409),
                        ([{"op": "replace", "path": "/nothing", "value": "x"}], 409),
                        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
                        ([{"op": "replace", "path": "/visibility", "value": "public"}], 403),
                        ([{"op": "jump", "path": "/name"}], 400),
                        ({"op": "add"}, 400)):
        r = glance.client.patch(url, headers={**hd, **PATCH}, json=ops)
        assert r.status_code == status, (ops, r.text)
    assert show(glance, hd, img["id"])["name"] == "q"
    # tags API
    assert glance.client.put(f"{url}/tags/extra", headers=hd).status_code == 204
    assert "extra" in show(glance, hd, img["id"])["tags"]
    assert glance.client.delete(f"{url}/tags/extra", headers=hd).status_code == 204
    assert glance.client.delete(f"{url}/tags/extra", headers=hd).status_code == 404


def test_list_filters_sorting_and_paging(glance: Cloud) -> None:
    u = glance.make_project_user()
    hd = u["headers"]
    made = [create(glance, hd, name=f"lf-{i}", tags=["even" if i % 2 == 0 else "odd"],
                   os_distro="debian" if i < 3 else "fedora") for i in range(6)]
    assert names(glance, hd, tag="even") == ["lf-4", "lf-2", "lf-0"]
    assert names(glance, hd, os_distro="debian", sort="name:asc") == ["lf-0", "lf-1", "lf-2"]
    assert names(glance, hd, name="lf-3") == ["lf-3"]
    ids = ",".join(i["id"] for i in made[:2])
    assert sorted(names(glance, hd, id=f"in:{ids}")) == ["lf-0", "lf-1"]
    assert names(glance, hd, sort_key="name", sort_dir="asc", status="queued")[:2] == [
        "lf-0", "lf-1"]
    seen: list[str] = []
    url: str | None = f"{V2}/images?limit=4&sort_key=name&sort_dir=asc"
    while url:
        body = glance.client.get(url, headers=hd).json()
        assert body["schema"] == "/v2/schemas/images" and body["first"].startswith(
            "/v2/images")
        seen += [i["name"] for i in body["images"]]
        url = "/image" + body["next"] if "next" in body else None
    assert seen == [f"lf-{i}" for i in range(6)]
    for bad in ({"sort_key": "colour"}, {"sort_dir": "up"}, {"visibility": "world"},
                {"limit": "x"}, {"marker": str(uuid.uuid4())}, {"size_min": "big"},
                {"created_at": "gt:yesterday"}):
        r = glance.client.get(f"{V2}/images", headers=hd, params=bad)
        assert r.status_code == 400, (bad, r.text)


def test_visibility_and_members(glance: Cloud) -> None:
    a, b, c = (glance.make_project_user() for _ in range(3))
    private = create(glance, a["headers"], name="a-private", visibility="private")
    shared = create(glance, a["headers"], name="a-shared")
    community = create(glance, a["headers"], name="a-community", visibility="community")
    public = create(glance, glance.admin(), name="admin-public", visibility="public")
    hb = b["headers"]
    assert glance.client.get(f"{V2}/images/{private['id']}", headers=hb).status_code == 404
    assert glance.client.get(f"{V2}/images/{shared['id']}", headers=hb).status_code == 404
    assert show(glance, hb, community["id"])["name"] == "a-community"
    listed = names(glance, hb, limit=1000)
    assert "admin-public" in listed and not {"a-private", "a-shared",
                                             "a-community"} & set(listed)
    assert "a-community" in names(glance, hb, visibility="community", limit=1000)
    # B cannot change or delete what it can only read
    r = glance.client.patch(f"{V2}/images/{community['id']}", headers={**hb, **PATCH},
                            json=[{"op": "replace", "path": "/name", "value": "mine"}])
    assert r.status_code == 403
    assert glance.client.delete(f"{V2}/images/{public['id']}", headers=hb).status_code == 403
    # members: only shared images have them
    r = glance.client.post(f"{V2}/images/{private['id']}/members", headers=a["headers"],
                           json={"member": b["project_id"]})
    assert r.status_code == 403
    r = glance.client.post(f"{V2}/images/{shared['id']}/members", headers=a["headers"],
                           json={"member": b["project_id"]})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert glance.client.post(f"{V2}/images/{shared['id']}/members", headers=a["headers"],
                              json={"member": b["project_id"]}).status_code == 409
    assert show(glance, hb, shared["id"])["name"] == "a-shared"  # pending members can read
    assert "a-shared" not in names(glance, hb, limit=1000)
    assert "a-shared" in names(glance, hb, member_status="pending", limit=1000)
    # only the member accepts; C sees nothing
    murl = f"{V2}/images/{shared['id']}/members/{b['project_id']}"
    assert glance.client.put(murl, headers=a["headers"],
                             json={"status": "accepted"}).status_code == 403
    assert glance.client.get(murl, headers=c["headers"]).status_code == 404
    r = glance.client.put(murl, headers=hb, json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert "a-shared" in names(glance, hb, limit=1000)
    assert "a-shared" not in names(glance, c["headers"], limit=1000)
    members = glance.client.get(f"{V2}/images/{shared['id']}/members",
                                headers=a["headers"]).json()
    assert [x["member_id"] for x in members["members"]] == [b["project_id"]]
    assert glance.client.delete(murl, headers=a["headers"]).status_code == 204
    assert glance.client.get(f"{V2}/images/{shared['id']}", headers=hb).status_code == 404


def test_deactivate_protected_and_delete(glance: Cloud) -> None:
    u = glance.make_project_user()
    hd = u["headers"]
    img = create(glance, hd, name="d", protected=True)
    assert upload(glance, hd, img["id"], b"x" * 1000).status_code == 204
    url = f"{V2}/images/{img['id']}"
    assert glance.client.post(f"{url}/actions/deactivate", headers=hd).status_code == 204
    assert show(glance, hd, img["id"])["status"] == "deactivated"
    assert glance.client.get(f"{url}/file", headers=hd).status_code == 403
    assert glance.client.get(f"{url}/file", headers=glance.admin()).status_code == 200
    assert glance.client.post(f"{url}/actions/reactivate", headers=hd).status_code == 204
    assert glance.client.get(f"{url}/file", headers=hd).content == b"x" * 1000
    assert glance.client.delete(url, headers=hd).status_code == 403
    glance.client.patch(url, headers={**hd, **PATCH},
                        json=[{"op": "replace", "path": "/protected", "value": False}])
    stored = list((glance.data_dir / "images").glob(img["id"]))
    assert stored
    assert glance.client.delete(url, headers=hd).status_code == 204
    assert glance.client.get(url, headers=hd).status_code == 404
    assert not stored[0].exists()


def test_stage_and_import(glance: Cloud) -> None:
    hd = glance.admin()
    img = create(glance, hd, name="staged")
    url = f"{V2}/images/{img['id']}"
    r = glance.client.post(f"{url}/import", headers=hd,
                           json={"method": {"name": "glance-direct"}})
    assert r.status_code == 409
    r = glance.client.put(f"{url}/stage", headers={**hd, **OCTET}, content=b"y" * 5000)
    assert r.status_code == 204
    assert show(glance, hd, img["id"])["status"] == "uploading"
    r = glance.client.post(f"{url}/import", headers=hd, json={"method": {"name": "web-download"}})
    assert r.status_code == 400
    r = glance.client.post(f"{url}/import", headers=hd,
                           json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202
    assert show(glance, hd, img["id"])["status"] == "active"
    methods = glance.client.get(f"{V2}/info/import", headers=hd).json()
    assert methods["import-methods"]["value"] == ["glance-direct"]


def test_quotas(tmp_path: Path) -> None:
    gen = build_cloud(tmp_path, image_quota_count=2, image_quota_bytes=10000)
    cloud = next(gen)
    try:
        u = cloud.make_project_user()
        hd = u["headers"]
        first = create(cloud, hd, name="q1")
        assert upload(cloud, hd, first["id"], b"z" * 8000).status_code == 204
        second = create(cloud, hd, name="q2")
        r = cloud.client.post(f"{V2}/images", headers=hd, json={"name": "q3"})
        assert r.status_code == 413 and "Maximum number of images" in r.text
        r = upload(cloud, hd, second["id"], b"z" * 5000)
        assert r.status_code == 413
        assert show(cloud, hd, second["id"])["status"] == "queued"
        assert upload(cloud, hd, second["id"], b"z" * 2000).status_code == 204
    finally:
        gen.close()


def test_crashed_upload_is_killed_at_restart(tmp_path: Path) -> None:
    gen = build_cloud(tmp_path)
    cloud = next(gen)
    try:
        img = create(cloud, cloud.admin(), name="crash")
        svc = cloud.app.state.images
        # what a crash mid-upload leaves: the row in saving and a partial file
        with svc.db.transaction() as s:
            from overcast.image import models as m

            s.get(m.Image, img["id"]).status = "saving"
        (cloud.data_dir / "images" / f".{img['id']}.part").write_bytes(b"partial")
        # and what a crash between an image's delete and its file's removal leaves
        kept = create(cloud, cloud.admin(), name="kept")
        assert upload(cloud, cloud.admin(), kept["id"], b"k" * 100).status_code == 204
        orphan = cloud.data_dir / "images" / "0b5a3f9e-0000-4000-8000-000000000000"
        orphan.write_bytes(b"orphan")
        svc.recover()
        assert show(cloud, cloud.admin(), img["id"])["status"] == "killed"
        assert not list((cloud.data_dir / "images").glob(".*.part"))
        assert not orphan.exists()
        assert cloud.client.get(f"{V2}/images/{kept['id']}/file",
                                headers=cloud.admin()).content == b"k" * 100
    finally:
        gen.close()


def test_compute_checks_the_image(glance: Cloud) -> None:
    u = glance.make_project_user()
    hd = u["headers"]
    queued = create(glance, hd, name="not-yet")
    for ref, msg in ((str(uuid.uuid4()), "could not be found"), (queued["id"], "not active")):
        r = glance.client.post("/compute/v2.1/servers", headers={
            **hd, "OpenStack-API-Version": "compute 2.47"}, json={"server": {
            "name": "x", "flavorRef": "1", "imageRef": ref, "networks": "none"}})
        assert r.status_code == 400 and msg in r.json()["badRequest"]["message"], r.text
