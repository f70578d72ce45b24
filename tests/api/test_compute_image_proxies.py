"""Nova's deprecated image proxy: /images (up to 2.35) and /images/{id}/metadata (up to
2.38) show the image service's images in Nova's shape, filter them as Nova does, and
edit their properties through Glance (what the proxy writes, Glance shows)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C
from tests.conftest import Cloud, build_cloud
from tests.images import DATA

G = "/image/v2/images"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("novaimg"))
    c = next(gen)
    c.app.state.local_agents = []
    try:
        yield c
    finally:
        gen.close()


def _image(cloud: Cloud, hd: dict[str, str], upload: bool = True, **extra: Any) -> str:
    body = {"name": f"img-{uuid.uuid4().hex[:6]}", "disk_format": "raw",
            "container_format": "bare", "visibility": "private", **extra}
    r = cloud.client.post(G, headers=hd, json=body)
    assert r.status_code == 201, r.text
    iid = str(r.json()["id"])
    if upload:
        r = cloud.client.put(f"{G}/{iid}/file", content=DATA,
                             headers={**hd, "Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
    return iid


def _ids(cloud: Cloud, hd: dict[str, str], detail: bool = False, **q: Any) -> list[str]:
    r = cloud.client.get(f"{C}/images{'/detail' if detail else ''}", headers=hd, params=q)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["images"]]


def test_images_in_novas_shape_and_filters(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    plain = _image(cloud, hd, min_ram=512)
    server = str(uuid.uuid4())
    snap = _image(cloud, hd, instance_uuid=server, image_type="snapshot")
    queued = _image(cloud, hd, upload=False)
    r = cloud.client.get(f"{C}/images/{snap}", headers=hd)
    img = r.json()["image"]
    assert set(img) == {"id", "name", "status", "progress", "minRam", "minDisk", "created",
                        "updated", "metadata", "links", "OS-EXT-IMG-SIZE:size", "server"}
    assert (img["status"], img["progress"], img["OS-EXT-IMG-SIZE:size"]) == \
        ("ACTIVE", 100, len(DATA))
    assert img["metadata"] == {"instance_uuid": server, "image_type": "snapshot"}
    assert img["server"]["id"] == server
    assert [x["rel"] for x in img["links"]] == ["self", "bookmark", "alternate"]
    basic = cloud.client.get(f"{C}/images", headers=hd).json()["images"]
    assert all(set(i) == {"id", "name", "links"} for i in basic)
    assert set(_ids(cloud, hd)) == {plain, snap, queued}
    assert set(_ids(cloud, hd, status="ACTIVE")) == {plain, snap}
    assert _ids(cloud, hd, status="SAVING") == [queued]
    assert _ids(cloud, hd, type="snapshot") == [snap]
    assert _ids(cloud, hd, server=f"http://x/compute/servers/{server}") == [snap]
    assert _ids(cloud, hd, True, minRam=256) == [plain]
    assert len(_ids(cloud, hd, limit=1)) == 1
    everything = _ids(cloud, hd)
    assert _ids(cloud, hd, marker=everything[0]) == everything[1:]
    assert cloud.client.get(f"{C}/images/{uuid.uuid4()}", headers=hd).status_code == 404
    assert cloud.client.get(f"{C}/images", headers={
        **hd, "X-OpenStack-Nova-API-Version": "2.36"}).status_code == 404
    assert cloud.client.delete(f"{C}/images/{queued}", headers=hd).status_code == 204
    assert cloud.client.get(f"{C}/images/{queued}", headers=hd).status_code == 404
    for bad in ("nope", str(uuid.uuid4()), "-1"):
        assert cloud.client.delete(f"{C}/images/{bad}", headers=hd).status_code == 404
    assert cloud.client.delete(f"{C}/images/", headers=hd).status_code == 404


def test_image_metadata_goes_through_glance(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    hd = u["headers"]
    iid = _image(cloud, hd)
    url = f"{C}/images/{iid}/metadata"
    r = cloud.client.put(url, headers=hd, json={"metadata": {"a": "1", "b": "2"}})
    assert r.status_code == 200 and r.json()["metadata"] == {"a": "1", "b": "2"}
    r = cloud.client.post(url, headers=hd, json={"metadata": {"b": "3", "c": "4"}})
    assert r.json()["metadata"] == {"a": "1", "b": "3", "c": "4"}
    assert cloud.client.get(f"{G}/{iid}", headers=hd).json()["c"] == "4"
    r = cloud.client.put(f"{url}/d", headers=hd, json={"meta": {"d": "5"}})
    assert r.status_code == 200 and r.json() == {"meta": {"d": "5"}}
    assert cloud.client.put(f"{url}/d", headers=hd,
                            json={"meta": {"e": "5"}}).status_code == 400
    assert cloud.client.get(f"{url}/d", headers=hd).json() == {"meta": {"d": "5"}}
    assert cloud.client.delete(f"{url}/a", headers=hd).status_code == 204
    assert cloud.client.get(f"{url}/a", headers=hd).status_code == 404
    r = cloud.client.put(url, headers=hd, json={"metadata": {"z": "9"}})
    assert cloud.client.get(url, headers=hd).json() == {"metadata": {"z": "9"}}
    # 2.38 still has it, 2.39 not
    v238 = {**hd, "X-OpenStack-Nova-API-Version": "2.38"}
    assert cloud.client.get(url, headers=v238).status_code == 200
    missing = f"{C}/images/{uuid.uuid4()}/metadata"
    assert cloud.client.get(missing, headers=hd).status_code == 404
    assert cloud.client.post(missing, headers=hd,
                             json={"metadata": {"a": "b"}}).status_code == 404
    assert cloud.client.delete(f"{missing}/a", headers=hd).status_code == 404
