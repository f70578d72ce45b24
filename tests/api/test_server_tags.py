"""Server tags (`/servers/{id}/tags`, Nova's 2.26): the API behind the `tags` field
that servers have shown since 2.26."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.test_compute import C, add_agents, boot, h, server, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import add_image


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("server-tags"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["tg1"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def test_server_tags_api(cloud: Cloud) -> None:
    """Replace, list, add (201, then 204 when present), check, remove one, clear; the
    server's view follows each change; none of it exists below 2.26."""
    hd = cloud.make_project_user()["headers"]
    r = boot(cloud, hd)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_status(cloud, hd, sid, "ACTIVE")
    path = f"{C}/servers/{sid}/tags"
    v = h(hd, "2.26")
    assert cloud.client.get(path, headers=h(hd, "2.25")).status_code == 404
    assert cloud.client.get(path, headers=v).json() == {"tags": []}
    r = cloud.client.put(path, headers=v, json={"tags": ["a", "b", "a"]})
    assert r.status_code == 200 and r.json() == {"tags": ["a", "b"]}
    assert server(cloud, hd, sid, "2.26")["tags"] == ["a", "b"]
    r = cloud.client.put(f"{path}/c", headers=v)
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/compute/v2.1/servers/{sid}/tags/c")
    assert cloud.client.put(f"{path}/c", headers=v).status_code == 204
    assert cloud.client.get(f"{path}/c", headers=v).status_code == 204
    assert cloud.client.get(f"{path}/zz", headers=v).status_code == 404
    assert cloud.client.put(f"{path}/{'x' * 61}", headers=v).status_code == 400
    assert cloud.client.put(f"{path}/a,b", headers=v).status_code == 400
    assert cloud.client.put(f"{path}/d", headers=v, json={"d": 1}).status_code == 400
    assert cloud.client.put(path, headers=v, json={"tags": "a"}).status_code == 400
    assert cloud.client.put(path, headers=v, json={"tags": ["a/b"]}).status_code == 400
    assert cloud.client.delete(f"{path}/a", headers=v).status_code == 204
    assert cloud.client.delete(f"{path}/a", headers=v).status_code == 404
    assert server(cloud, hd, sid, "2.26")["tags"] == ["b", "c"]
    listed = cloud.client.get(f"{C}/servers/detail", headers=v).json()["servers"]
    assert listed[0]["tags"] == ["b", "c"]
    assert cloud.client.delete(path, headers=v).status_code == 204
    assert cloud.client.get(path, headers=v).json() == {"tags": []}
    other = cloud.make_project_user()["headers"]
    assert cloud.client.get(path, headers=h(other, "2.26")).status_code == 404


def test_server_tags_limit_and_state(cloud: Cloud) -> None:
    """At most 50 tags; tags change only while the server is active, paused,
    suspended or stopped (409 for one in error, still readable)."""
    hd = cloud.make_project_user()["headers"]
    r = cloud.client.post(f"{C}/flavors", headers=cloud.admin(), json={"flavor": {
        "name": "too-big", "ram": 64, "vcpus": 1, "disk": 5000}})
    assert r.status_code == 200, r.text
    broken = boot(cloud, hd, flavor=r.json()["flavor"]["id"]).json()["server"]["id"]
    wait_status(cloud, hd, broken, "ERROR")
    v = h(hd, "2.26")
    r = cloud.client.put(f"{C}/servers/{broken}/tags/late", headers=v)
    assert r.status_code == 409 and "vm_state error" in r.json()["conflictingRequest"]["message"]
    assert cloud.client.get(f"{C}/servers/{broken}/tags", headers=v).json() == {"tags": []}
    sid = boot(cloud, hd).json()["server"]["id"]
    path = f"{C}/servers/{sid}/tags"
    wait_status(cloud, hd, sid, "ACTIVE")
    fifty = [f"t{i}" for i in range(50)]
    assert cloud.client.put(path, headers=v, json={"tags": fifty + ["x"]}).status_code == 400
    assert cloud.client.put(path, headers=v, json={"tags": fifty}).status_code == 200
    r = cloud.client.put(f"{path}/one-more", headers=v)
    assert r.status_code == 400 and "per-server limit 50" in r.json()["badRequest"]["message"]
