"""Cinder's backups API over the object store: create (full and incremental),
list/detail/show,
restore to a new and to an existing volume (same bytes), delete, quotas, the
admin's actions, the objects in the project's `volumebackups` container, and
tenant isolation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.object import containers, objects
from tests.api.volume_helpers import Vol, admin_vol, member_vol, volume_cloud, volume_file
from tests.conftest import Cloud

GiB = 1 << 30


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from volume_cloud(tmp_path_factory)


@pytest.fixture
def vol(cloud: Cloud) -> Vol:
    return member_vol(cloud)


def _write(cloud: Cloud, vid: str, pieces: dict[int, bytes]) -> None:
    with open(volume_file(cloud, vid), "r+b") as f:
        for offset, data in pieces.items():
            f.seek(offset)
            f.write(data)


def _read(cloud: Cloud, vid: str, offset: int, n: int) -> bytes:
    with open(volume_file(cloud, vid), "rb") as f:
        f.seek(offset)
        return f.read(n)


def backup(vol: Vol, vid: str, expect: str = "available", **extra: Any) -> dict[str, Any]:
    r = vol.post("/backups", {"backup": {"volume_id": vid, **extra}})
    assert r.status_code == 202, r.text
    b = r.json()["backup"]
    assert set(b) == {"id", "name", "links"}
    return vol.wait(b["id"], expect, "backups", timeout=120)


PIECES = {0: b"FIRST", 9 << 20: b"MIDDLE" * 1000, GiB - 4: b"LAST"}


def test_backup_create_show_list_restore_delete(cloud: Cloud, vol: Vol) -> None:
    v = vol.create(name="src", metadata={"kept": "by the backup"})
    _write(cloud, v["id"], PIECES)
    b = backup(vol, v["id"], name="b1", description="first")
    assert b["volume_id"] == v["id"] and b["size"] == 1 and b["name"] == "b1"
    assert b["container"] == "volumebackups" and b["is_incremental"] is False
    assert b["object_count"] == GiB // (8 << 20) + 1 and b["fail_reason"] is None
    assert b["os-backup-project-attr:project_id"] == vol.project_id
    assert vol.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "available"
    # the objects are in the project's own account, as Cinder's Swift driver puts them
    store = cloud.app.state.object_store
    _, entries = containers.list_objects(store, f"AUTH_{vol.project_id}", "volumebackups",
                                         prefix=f"volume_{v['id']}/", limit=1000)
    names = [e.name for e in entries]
    assert len(names) == b["object_count"]
    meta_name = next(n for n in names if n.endswith("_metadata"))
    info = objects.head(store, f"AUTH_{vol.project_id}", "volumebackups", meta_name)
    meta = json.loads(b"".join(objects.read(store, [_seg(info)], 0, info.size)))
    assert meta["backup_id"] == b["id"] and len(meta["objects"]) == b["object_count"] - 1
    first = next(iter(meta["objects"][0].values()))
    assert first["offset"] == 0 and len(first["sha256"]) == 64
    # listings
    listed = vol.get("/backups").json()["backups"]
    assert [x["id"] for x in listed] == [b["id"]] and set(listed[0]) == {"id", "name",
                                                                         "links"}
    detail = vol.get("/backups/detail").json()["backups"]
    assert detail[0]["status"] == "available"
    # restore to a new volume: the same bytes
    r = vol.post(f"/backups/{b['id']}/restore", {"restore": {"name": "restored"}})
    assert r.status_code == 202, r.text
    out = r.json()["restore"]
    assert out["backup_id"] == b["id"] and out["volume_name"] == "restored"
    vol.wait(b["id"], "available", "backups", timeout=120)
    nv = vol.wait(out["volume_id"], "available")
    assert nv["size"] == 1
    # the volume's metadata comes back with its bytes (Cinder's volume_meta)
    assert nv["metadata"] == {"kept": "by the backup"}
    for offset, data in PIECES.items():
        assert _read(cloud, out["volume_id"], offset, len(data)) == data
    # restore onto an existing volume whose bytes differ: overwritten
    target = vol.create(name="target")
    _write(cloud, target["id"], {0: b"XXXXXXXX", 100 << 20: b"junk"})
    r = vol.post(f"/backups/{b['id']}/restore", {"restore": {"volume_id": target["id"]}})
    assert r.status_code == 202, r.text
    vol.wait(b["id"], "available", "backups", timeout=120)
    vol.wait(target["id"], "available")
    assert _read(cloud, target["id"], 0, 8) == b"FIRST\0\0\0"
    assert _read(cloud, target["id"], 100 << 20, 4) == b"\0\0\0\0"
    assert _read(cloud, target["id"], GiB - 4, 4) == b"LAST"
    # delete: the row and the objects go
    r = vol.delete(f"/backups/{b['id']}")
    assert r.status_code == 202
    vol.wait(b["id"], "gone", "backups")
    _, entries = containers.list_objects(store, f"AUTH_{vol.project_id}", "volumebackups",
                                         prefix=f"volume_{v['id']}/", limit=1000)
    assert entries == []


CHUNK = 8 << 20


def _objects(cloud: Cloud, vol: Vol, vid: str) -> list[str]:
    _, entries = containers.list_objects(cloud.app.state.object_store,
                                         f"AUTH_{vol.project_id}", "volumebackups",
                                         prefix=f"volume_{vid}/", limit=1000)
    return [e.name for e in entries]


def test_incremental_backups_store_only_changed_chunks(cloud: Cloud, vol: Vol) -> None:
    """An incremental backup stores the chunks that changed since its parent (the
    volume's latest backup), a restore of it reassembles the whole chain, and a
    backup others build on cannot be deleted until they are."""
    v = vol.create()
    _write(cloud, v["id"], PIECES)
    full = backup(vol, v["id"], name="full")
    assert full["object_count"] == GiB // CHUNK + 1 and full["is_incremental"] is False
    _write(cloud, v["id"], {3 * CHUNK + 10: b"CHANGED-ONCE"})
    inc1 = backup(vol, v["id"], name="inc1", incremental=True)
    assert inc1["is_incremental"] is True and inc1["size"] == 1
    assert inc1["object_count"] == 2  # the changed chunk and the metadata
    _write(cloud, v["id"], {100 * CHUNK: b"CHANGED-TWICE", 0: b"first"})
    inc2 = backup(vol, v["id"], name="inc2", incremental=True)
    assert inc2["object_count"] == 3
    shown = {b["id"]: b for b in vol.get("/backups/detail").json()["backups"]}
    assert shown[full["id"]]["has_dependent_backups"] is True
    assert shown[inc1["id"]]["has_dependent_backups"] is True
    assert shown[inc2["id"]]["has_dependent_backups"] is False
    assert vol.get(f"/backups/{full['id']}").json()["backup"]["has_dependent_backups"]
    assert len(_objects(cloud, vol, v["id"])) == (GiB // CHUNK + 1) + 2 + 3
    # restore the middle of the chain, then its end: each as it was when made
    for b, expect in ((inc1, {0: b"FIRST", 3 * CHUNK + 10: b"CHANGED-ONCE",
                              100 * CHUNK: b"\0" * 13, 9 << 20: PIECES[9 << 20],
                              GiB - 4: b"LAST"}),
                      (inc2, {0: b"first", 3 * CHUNK + 10: b"CHANGED-ONCE",
                              100 * CHUNK: b"CHANGED-TWICE", GiB - 4: b"LAST"})):
        r = vol.post(f"/backups/{b['id']}/restore", {"restore": {"name": "r"}})
        assert r.status_code == 202, r.text
        vol.wait(b["id"], "available", "backups", timeout=120)
        nv = vol.wait(r.json()["restore"]["volume_id"], "available")
        for offset, data in expect.items():
            assert _read(cloud, nv["id"], offset, len(data)) == data, (b["name"], offset)
    # the chain is deleted from its end
    for b in (full, inc1):
        r = vol.delete(f"/backups/{b['id']}")
        assert r.status_code == 400, r.text
        assert r.json()["badRequest"]["message"] == (
            "Invalid backup: Incremental backups exist for this backup.")
    for b in (inc2, inc1, full):
        assert vol.delete(f"/backups/{b['id']}").status_code == 202
        vol.wait(b["id"], "gone", "backups")
    assert _objects(cloud, vol, v["id"]) == []


def test_backup_of_a_snapshot_holds_the_snapshot_bytes(cloud: Cloud, vol: Vol) -> None:
    """A backup naming a snapshot of the volume reads the snapshot (as Tempest's
    test_snapshot_backup does it), not the volume as it is now."""
    v = vol.create()
    _write(cloud, v["id"], {0: b"AT-SNAPSHOT"})
    snap = vol.snapshot(v["id"])
    _write(cloud, v["id"], {0: b"AFTERWARDS!"})
    other = vol.create()
    r = vol.post("/backups", {"backup": {"volume_id": other["id"],
                                         "snapshot_id": snap["id"]}})
    assert r.status_code == 400 and "does not match" in r.text
    b = backup(vol, v["id"], snapshot_id=snap["id"])
    assert b["snapshot_id"] == snap["id"] and b["volume_id"] == v["id"]
    assert vol.wait(snap["id"], "available", "snapshots")["status"] == "available"
    assert vol.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "available"
    r = vol.post(f"/backups/{b['id']}/restore", {"restore": {"volume_id": other["id"]}})
    assert r.status_code == 202, r.text
    vol.wait(b["id"], "available", "backups", timeout=120)
    vol.wait(other["id"], "available")
    assert _read(cloud, other["id"], 0, 11) == b"AT-SNAPSHOT"


def _seg(info: Any) -> Any:
    from overcast.object.records import Segment

    return Segment(info.location, 0, info.size)


def test_refusals(cloud: Cloud, vol: Vol) -> None:
    v = vol.create()
    r = vol.post("/backups", {"backup": {"volume_id": v["id"], "incremental": True}})
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == (
        "Invalid backup: No backups available to do an incremental backup.")
    r = vol.post("/backups", {"backup": {"volume_id": v["id"], "bogus": 1}})
    assert r.status_code == 400
    r = vol.post("/backups", {"backup": {}})
    assert r.status_code == 400
    r = vol.post("/backups", {"backup": {"volume_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}})
    assert r.status_code == 404
    assert vol.get("/backups/nope").status_code == 404
    # a backup of an in-use volume needs force
    adm = admin_vol(cloud)
    r = adm.req("POST", f"/volumes/{v['id']}/action",
                json={"os-reset_status": {"status": "in-use"}})
    assert r.status_code == 202, r.text
    r = vol.post("/backups", {"backup": {"volume_id": v["id"]}})
    assert r.status_code == 400 and "in-use" in r.text
    b = backup(vol, v["id"], force=True)
    assert vol.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "in-use"
    adm.req("POST", f"/volumes/{v['id']}/action",
            json={"os-reset_status": {"status": "available"}})
    # restoring onto a volume that is not available is refused
    busy = vol.create()
    adm.req("POST", f"/volumes/{busy['id']}/action",
            json={"os-reset_status": {"status": "in-use"}})
    r = vol.post(f"/backups/{b['id']}/restore", {"restore": {"volume_id": busy["id"]}})
    assert r.status_code == 400
    # reset_status and force-delete are the admin's
    r = vol.post(f"/backups/{b['id']}/action", {"os-reset_status": {"status": "error"}})
    assert r.status_code == 403
    r = adm.req("POST", f"/backups/{b['id']}/action",
                json={"os-reset_status": {"status": "creating"}})
    assert r.status_code == 400
    r = adm.req("POST", f"/backups/{b['id']}/action",
                json={"os-reset_status": {"status": "error"}})
    assert r.status_code == 202, r.text
    assert vol.get(f"/backups/{b['id']}").json()["backup"]["status"] == "error"
    r = adm.req("POST", f"/backups/{b['id']}/action", json={"os-force_delete": {}})
    assert r.status_code == 202, r.text
    vol.wait(b["id"], "gone", "backups")
    r = vol.post(f"/backups/{b['id']}/restore", {"restore": {"volume_id": v["id"],
                                                             "bogus": 1}})
    assert r.status_code == 400


def test_quotas(cloud: Cloud) -> None:
    vol = member_vol(cloud)
    adm = admin_vol(cloud)
    r = cloud.client.put(f"/volume/v3/{adm.project_id}/os-quota-sets/{vol.project_id}",
                         headers=adm.headers, json={"quota_set": {"backups": 1}})
    assert r.status_code == 200, r.text
    v = vol.create()
    backup(vol, v["id"])
    r = vol.post("/backups", {"backup": {"volume_id": v["id"]}})
    assert r.status_code == 413
    assert "BackupLimitExceeded" in r.text
    usage = vol.get(f"/os-quota-sets/{vol.project_id}?usage=true").json()["quota_set"]
    assert usage["backups"]["in_use"] == 1 and usage["backup_gigabytes"]["in_use"] == 1
    limits = vol.get("/limits").json()["limits"]["absolute"]
    assert limits["totalBackupsUsed"] == 1 and limits["totalBackupGigabytesUsed"] == 1


def test_isolation(cloud: Cloud) -> None:
    a, other = member_vol(cloud), member_vol(cloud)
    v = a.create()
    b = backup(a, v["id"])
    assert other.get(f"/backups/{b['id']}").status_code == 404
    assert other.get("/backups").json()["backups"] == []
    assert other.delete(f"/backups/{b['id']}").status_code == 404
    r = other.post(f"/backups/{b['id']}/restore", {"restore": {}})
    assert r.status_code == 404
    mine = other.create()
    r = a.post(f"/backups/{b['id']}/restore", {"restore": {"volume_id": mine["id"]}})
    assert r.status_code == 404  # another project's volume is not there
    r = other.post("/backups", {"backup": {"volume_id": v["id"]}})
    assert r.status_code == 404
    # a reader may look but not back up
    reader = member_vol(cloud, "reader")
    rv = reader.post("/backups", {"backup": {"volume_id": v["id"]}})
    assert rv.status_code in (403, 404)
    # the objects are in a's account, not other's
    r = cloud.client.get(f"/object/v1/AUTH_{other.project_id}/volumebackups",
                         headers=other.headers)
    assert r.status_code == 404
    r = cloud.client.get(f"/object/v1/AUTH_{a.project_id}/volumebackups",
                         headers=other.headers)
    assert r.status_code == 403
    adm = admin_vol(cloud)
    listed = adm.get("/backups?all_tenants=1").json()["backups"]
    assert b["id"] in [x["id"] for x in listed]


def test_recover_settles_steps_cut_by_a_crash(cloud: Cloud) -> None:
    from overcast.volume.backup_models import Backup
    from overcast.volume.models import Volume

    vol = member_vol(cloud)
    v = vol.create()
    b = backup(vol, v["id"])
    svc = cloud.app.state.volume
    db = cloud.app.state.db
    with db.transaction() as s:  # as if overcast stopped mid-backup
        s.get(Backup, b["id"]).status = "creating"
        s.get(Backup, b["id"]).volume_status = "available"
        s.get(Volume, v["id"]).status = "backing-up"
    assert svc.backups.recover() == 1
    got = vol.get(f"/backups/{b['id']}").json()["backup"]
    assert got["status"] == "error" and "stopped" in got["fail_reason"]
    assert vol.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "available"
    store = cloud.app.state.object_store
    _, entries = containers.list_objects(store, f"AUTH_{vol.project_id}", "volumebackups",
                                         prefix=f"volume_{v['id']}/", limit=1000)
    assert entries == []  # the partial backup's objects are gone


def test_update_from_39(cloud: Cloud) -> None:
    vol = member_vol(cloud)
    v = vol.create()
    b = backup(vol, v["id"], name="old")
    r = vol.at("3.8").put(f"/backups/{b['id']}", {"backup": {"name": "new"}})
    assert r.status_code == 404
    r = vol.put(f"/backups/{b['id']}", {"backup": {"name": "new", "description": "d"}})
    assert r.status_code == 200, r.text
    # the reply is the summary, as Cinder's (Tempest's schema has nothing more)
    assert set(r.json()["backup"]) == {"id", "name", "links"}
    got = vol.get(f"/backups/{b['id']}").json()["backup"]
    assert got["name"] == "new" and got["description"] == "d"
    r = vol.put(f"/backups/{b['id']}", {"backup": {"size": 3}})
    assert r.status_code == 400
    other = member_vol(cloud)
    assert other.put(f"/backups/{b['id']}", {"backup": {"name": "x"}}).status_code == 404


def test_without_an_object_store_no_backup_service_runs(cloud: Cloud) -> None:
    vol = member_vol(cloud)
    v = vol.create()
    svc = cloud.app.state.volume
    saved, svc.object_store = svc.object_store, None
    try:
        assert vol.get("/backups/detail").json() == {"backups": []}
        r = vol.post("/backups", {"backup": {"volume_id": v["id"]}})
        assert r.status_code == 503
        assert "cinder-backup" in r.json()["serviceUnavailable"]["message"]
        assert vol.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "available"
    finally:
        svc.object_store = saved


def test_export_and_import_a_backup_record(cloud: Cloud, vol: Vol) -> None:
    """The admin exports a backup's record and imports it again (under another id, as
    Tempest does): the imported backup is the importer's, reads the same objects, and
    restores the same bytes."""
    import base64

    adm = admin_vol(cloud)
    v = vol.create()
    _write(cloud, v["id"], {5: b"EXPORTED"})
    b = backup(vol, v["id"], name="exp")
    assert vol.get(f"/backups/{b['id']}/export_record").status_code == 403
    r = adm.get(f"/backups/{b['id']}/export_record")
    assert r.status_code == 200, r.text
    record = r.json()["backup-record"]
    assert record["backup_service"].startswith("cinder.backup.drivers")
    r = adm.post("/backups/import_record", {"backup-record": record})
    assert r.status_code == 400 and "already exists" in r.text
    fields = json.loads(base64.b64decode(record["backup_url"]))
    new_id = "5b1c0c54-1f3e-4b8a-9d61-0f5e4f0f7a11"
    url = base64.b64encode(json.dumps({**fields, "id": new_id}).encode()).decode()
    r = adm.post("/backups/import_record", {"backup-record": {
        "backup_service": record["backup_service"], "backup_url": url}})
    assert r.status_code == 201, r.text
    assert r.json()["backup"]["id"] == new_id
    got = adm.wait(new_id, "available", "backups")
    assert got["size"] == 1 and got["name"] == "exp"
    assert new_id in [x["id"] for x in adm.get("/backups").json()["backups"]]
    r = adm.post(f"/backups/{new_id}/restore", {"restore": {"name": "from-import"}})
    assert r.status_code == 202, r.text
    adm.wait(new_id, "available", "backups", timeout=120)
    nv = adm.wait(r.json()["restore"]["volume_id"], "available")
    assert _read(cloud, nv["id"], 5, 8) == b"EXPORTED"
    for bad in ("not base64!", base64.b64encode(b"{}").decode()):
        r = adm.post("/backups/import_record", {"backup-record": {
            "backup_service": record["backup_service"], "backup_url": bad}})
        assert r.status_code == 400, r.text
    r = adm.post("/backups/import_record", {"backup-record": {
        "backup_service": "cinder.backup.drivers.nfs", "backup_url": url}})
    assert r.status_code == 400
