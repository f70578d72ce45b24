"""Tenant isolation in block storage: project B neither sees nor touches project A's
volumes, snapshots, private volume types, transfers and attachments (404, as
Cinder's project-scoped queries answer), and lists none of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.volume_helpers import Vol, admin_vol, member_vol, volume_cloud
from tests.conftest import Cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from volume_cloud(tmp_path_factory)


@pytest.fixture(scope="module")
def world(cloud: Cloud) -> dict[str, Any]:
    a, b = member_vol(cloud), member_vol(cloud)
    v = a.create(name="a-vol")
    snap = a.snapshot(v["id"], name="a-snap")
    attached = a.create(name="a-attached")
    att = a.post("/attachments", {"attachment": {
        "volume_uuid": attached["id"],
        "instance_uuid": "2d7f0a4e-52d1-4bd5-9d1e-6b2c5f0f1a01"}}).json()["attachment"]
    offered = a.create(name="a-offered")
    t = a.post("/os-volume-transfer", {"transfer": {"volume_id": offered["id"]}}).json()[
        "transfer"]
    adm = admin_vol(cloud)
    private = adm.post("/types", {"volume_type": {
        "name": "a-private", "os-volume-type-access:is_public": False}}).json()[
        "volume_type"]
    adm.post(f"/types/{private['id']}/action", {"addProjectAccess": {
        "project": a.project_id}})
    return {"a": a, "b": b, "volume": v["id"], "snapshot": snap["id"],
            "attachment": att["id"], "transfer": t["id"], "type": private["id"]}


TOUCH = [
    ("volume", "GET", "/volumes/{volume}", None),
    ("volume", "PUT", "/volumes/{volume}", {"volume": {"name": "x"}}),
    ("volume", "DELETE", "/volumes/{volume}", None),
    ("volume", "GET", "/volumes/{volume}/metadata", None),
    ("volume", "POST", "/volumes/{volume}/metadata", {"metadata": {"x": "y"}}),
    ("volume", "POST", "/volumes/{volume}/action", {"os-extend": {"new_size": 5}}),
    ("volume", "POST", "/volumes/{volume}/action", {"os-reserve": None}),
    ("volume", "POST", "/volumes/{volume}/action", {"os-initialize_connection": {
        "connector": {"host": "h"}}}),
    ("snapshot", "GET", "/snapshots/{snapshot}", None),
    ("snapshot", "PUT", "/snapshots/{snapshot}", {"snapshot": {"name": "x"}}),
    ("snapshot", "DELETE", "/snapshots/{snapshot}", None),
    ("snapshot", "GET", "/snapshots/{snapshot}/metadata", None),
    ("type", "GET", "/types/{type}", None),
    ("type", "GET", "/types/{type}/extra_specs", None),
    ("transfer", "GET", "/os-volume-transfer/{transfer}", None),
    ("transfer", "DELETE", "/os-volume-transfer/{transfer}", None),
    ("attachment", "GET", "/attachments/{attachment}", None),
    ("attachment", "PUT", "/attachments/{attachment}", {"attachment": {
        "connector": {"host": "h"}}}),
    ("attachment", "DELETE", "/attachments/{attachment}", None),
]


@pytest.mark.parametrize("what,method,path,body", TOUCH)
def test_b_cannot_touch_a(world: dict[str, Any], what: str, method: str, path: str,
                          body: Any) -> None:
    b: Vol = world["b"]
    r = b.req(method, path.format(**world), json=body)
    assert r.status_code == 404, (method, path, r.status_code, r.text)


REFERENCE = [
    ("snapshot of A's volume", "/snapshots", {"snapshot": {"volume_id": "{volume}"}}),
    ("clone of A's volume", "/volumes", {"volume": {"size": 1, "source_volid": "{volume}"}}),
    ("volume from A's snapshot", "/volumes", {"volume": {"size": 1,
                                                         "snapshot_id": "{snapshot}"}}),
    ("volume of A's private type", "/volumes", {"volume": {"size": 1, "volume_type":
                                                           "{type}"}}),
    ("transfer of A's volume", "/os-volume-transfer", {"transfer": {"volume_id":
                                                                    "{volume}"}}),
    ("attachment of A's volume", "/attachments", {"attachment": {
        "volume_uuid": "{volume}", "instance_uuid": "2d7f0a4e-52d1-4bd5-9d1e-6b2c5f0f1a02"}}),
]


@pytest.mark.parametrize("what,path,body", REFERENCE)
def test_b_cannot_reference_a(world: dict[str, Any], what: str, path: str, body: Any
                              ) -> None:
    import json

    b: Vol = world["b"]
    filled = json.loads(json.dumps(body).replace("{volume}", world["volume"])
                        .replace("{snapshot}", world["snapshot"])
                        .replace("{type}", world["type"]))
    r = b.post(path, filled)
    assert r.status_code == 404, (what, r.status_code, r.text)


@pytest.mark.parametrize("listing,key", [
    ("/volumes/detail", "volumes"), ("/snapshots/detail", "snapshots"),
    ("/os-volume-transfer/detail", "transfers"), ("/attachments", "attachments"),
    ("/volumes/detail?all_tenants=1", "volumes")])
def test_b_lists_none_of_a(world: dict[str, Any], listing: str, key: str) -> None:
    b: Vol = world["b"]
    r = b.get(listing)
    assert r.status_code == 200 and r.json()[key] == []
    assert world["type"] not in {t["id"] for t in b.get("/types").json()["volume_types"]}


def test_a_still_has_all_of_it(world: dict[str, Any]) -> None:
    a: Vol = world["a"]
    assert a.get(f"/volumes/{world['volume']}").json()["volume"]["name"] == "a-vol"
    assert a.get(f"/snapshots/{world['snapshot']}").status_code == 200
    assert a.get(f"/types/{world['type']}").status_code == 200
    assert a.get(f"/os-volume-transfer/{world['transfer']}").status_code == 200
