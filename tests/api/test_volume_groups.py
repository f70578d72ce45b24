"""Generic volume groups: group types (3.11), groups (3.13), group snapshots and
groups made from them (3.14), on the in-process storage host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.volume_helpers import Vol, admin_vol, member_vol, volume_cloud, volume_file
from tests.conftest import Cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from volume_cloud(tmp_path_factory)


def wait_group_snapshot(vol: Vol, gsid: str) -> dict:  # type: ignore[type-arg]
    import time

    for _ in range(600):
        x = vol.get(f"/group_snapshots/{gsid}").json()["group_snapshot"]
        if x["status"] != "creating":
            return x  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("group snapshot still creating")


def test_group_types_are_admin_managed_and_versioned(cloud: Cloud) -> None:
    adm, vol = admin_vol(cloud), member_vol(cloud)
    assert adm.at("3.10").get("/group_types").status_code == 404
    r = adm.post("/group_types", {"group_type": {"name": "gt-a", "group_specs": {
        "consistent_group_snapshot_enabled": "<is> False"}}})
    assert r.status_code == 202, r.text
    gt = r.json()["group_type"]
    assert adm.post("/group_types", {"group_type": {"name": "gt-a"}}).status_code == 409
    assert vol.post("/group_types", {"group_type": {"name": "x"}}).status_code == 403
    assert "gt-a" in [t["name"] for t in vol.get("/group_types").json()["group_types"]]
    assert adm.get(f"/group_types/{gt['id']}/group_specs").json()["group_specs"] == {
        "consistent_group_snapshot_enabled": "<is> False"}
    assert adm.put(f"/group_types/{gt['id']}/group_specs/k", {"k": "v"}).json() == {"k": "v"}
    assert adm.delete(f"/group_types/{gt['id']}/group_specs/k").status_code == 202
    r = adm.put(f"/group_types/{gt['id']}", {"group_type": {"description": "d"}})
    assert r.json()["group_type"]["description"] == "d"
    assert adm.delete(f"/group_types/{gt['id']}").status_code == 202


def test_group_life_with_snapshots_and_clones(cloud: Cloud) -> None:
    adm, vol = admin_vol(cloud), member_vol(cloud)
    gt = adm.post("/group_types", {"group_type": {"name": "gt-b"}}).json()["group_type"]
    default = [t for t in vol.get("/types").json()["volume_types"]
               if t["name"] == "__DEFAULT__"][0]
    r = vol.post("/groups", {"group": {"name": "g1", "group_type": gt["id"],
                                       "volume_types": [default["id"]]}})
    assert r.status_code == 202, r.text
    gid = r.json()["group"]["id"]
    g = vol.get(f"/groups/{gid}").json()["group"]
    assert (g["status"], g["group_type"], g["volume_types"]) == (
        "available", gt["id"], [default["id"]])
    a = vol.create(group_id=gid)
    b = vol.create()
    assert a["group_id"] == gid and b["group_id"] is None
    assert vol.put(f"/groups/{gid}", {"group": {"add_volumes": b["id"]}}).status_code == 202
    listed = vol.get(f"/groups/{gid}?list_volume=True").json()["group"]["volumes"]
    assert sorted(listed) == sorted([a["id"], b["id"]])
    assert vol.get(f"/volumes/detail?group_id={gid}").json()["volumes"][0]["group_id"] == gid
    # a member is not deleted alone
    assert vol.delete(f"/volumes/{a['id']}").status_code == 400
    with open(volume_file(cloud, a["id"]), "r+b") as f:
        f.write(b"GROUPED")
    r = vol.post("/group_snapshots", {"group_snapshot": {"group_id": gid, "name": "gs1"}})
    assert r.status_code == 202, r.text
    gsid = r.json()["group_snapshot"]["id"]
    # the create's answer names the group type (Tempest's schema requires it)
    assert set(r.json()["group_snapshot"]) == {"id", "name", "group_type_id"}
    assert wait_group_snapshot(vol, gsid)["status"] == "available"
    members = vol.get("/snapshots/detail").json()["snapshots"]
    assert {x["group_snapshot_id"] for x in members} == {gsid} and len(members) == 2
    assert vol.delete(f"/snapshots/{members[0]['id']}").status_code == 400
    r = vol.post("/groups/action", {"create-from-src": {"group_snapshot_id": gsid,
                                                        "name": "g2"}})
    assert r.status_code == 202, r.text
    g2 = r.json()["group"]["id"]
    clones = vol.get(f"/volumes/detail?group_id={g2}").json()["volumes"]
    assert len(clones) == 2
    for c in clones:
        vol.wait(c["id"], "available")
    texts = sorted(volume_file(cloud, c["id"]).read_bytes()[:7] for c in clones)
    assert texts[-1] == b"GROUPED"
    # a group with volumes needs delete-volumes; one with group snapshots is kept
    r = vol.post(f"/groups/{gid}/action", {"delete": {"delete-volumes": False}})
    assert r.status_code == 400
    assert vol.post(f"/groups/{gid}/action", {"delete": {"delete-volumes": True}}
                    ).status_code == 400  # its group snapshot is still there
    assert vol.delete(f"/group_snapshots/{gsid}").status_code == 202
    for x in members:
        vol.wait(x["id"], "gone", "snapshots")
    assert vol.post(f"/groups/{gid}/action", {"delete": {"delete-volumes": True}}
                    ).status_code == 202
    vol.wait(a["id"], "gone")
    vol.wait(b["id"], "gone")
    assert vol.get(f"/groups/{gid}").status_code == 404
    other = member_vol(cloud)
    assert other.get(f"/groups/{g2}").status_code == 404
    assert other.get("/groups").json()["groups"] == []
    r = vol.post(f"/groups/{g2}/action", {"reset_status": {"status": "error"}})
    assert r.status_code == 403
    assert adm.post(f"/groups/{g2}/action", {"reset_status": {"status": "error"}}
                    ).status_code == 202


def test_group_type_list_filters_by_is_public_and_sorts(cloud: Cloud) -> None:
    """Cinder's group type list: public types by default, the admin's `is_public`
    (true, false, "None" for both), and `sort` (Tempest's
    test_group_type_list_by_optional_params; the list ignored them)."""
    adm = admin_vol(cloud).at("3.11")
    for name, public in (("b-private", False), ("a-public", True)):
        r = adm.post("/group_types", {"group_type": {"name": name, "is_public": public}})
        assert r.status_code == 202, r.text

    def names(query: str) -> list[str]:
        return [t["name"] for t in adm.get(f"/group_types{query}").json()["group_types"]]

    assert "a-public" in names("") and "b-private" not in names("")
    both = names("?is_public=None&sort=name:asc")
    assert both.index("a-public") < both.index("b-private")
    both = names("?is_public=None&sort=name:desc")
    assert both.index("b-private") < both.index("a-public")
    assert "b-private" in names("?is_public=false")
    assert "a-public" not in names("?is_public=false")
    assert len(names("?is_public=None&limit=1")) == 1
    assert adm.get("/group_types?is_public=maybe").status_code == 400


def test_group_snapshot_reset_status_stays_as_set(cloud: Cloud) -> None:
    """A group snapshot's status was derived from its members at every read, so an
    admin's reset to `creating` read back as `available` (Tempest's
    test_reset_group_snapshot_status); the status is now kept, and settled by the
    last member snapshot made."""
    adm = admin_vol(cloud).at("3.19")
    gt = adm.post("/group_types", {"group_type": {"name": "gt-reset"}}).json()["group_type"]
    vt = adm.get("/types").json()["volume_types"][0]["id"]
    r = adm.post("/groups", {"group": {"group_type": gt["id"], "volume_types": [vt]}})
    assert r.status_code == 202, r.text
    gid = r.json()["group"]["id"]
    adm.create(group_id=gid, volume_type=vt)
    r = adm.post("/group_snapshots", {"group_snapshot": {"group_id": gid}})
    assert r.status_code == 202, r.text
    gsid = r.json()["group_snapshot"]["id"]
    assert wait_group_snapshot(adm, gsid)["status"] == "available"
    for status in ("creating", "error", "available"):
        r = adm.post(f"/group_snapshots/{gsid}/action", {"reset_status": {
            "status": status}})
        assert r.status_code == 202, r.text
        assert adm.get(f"/group_snapshots/{gsid}").json()["group_snapshot"][
            "status"] == status
