"""Every advertised block storage microversion is honoured, each tested at its version
and just below it: 3.16 (migration to a cluster), 3.24 (workers cleanup), 3.26
(failover, freeze/thaw by cluster, cluster listing filters), 3.46 (a volume from the
empty image of a volume-backed server snapshot) and 3.47 (a volume from a backup).
Where the feature is about clusters or replication, which no storage host here
has, the answers are Cinder's for a deployment without them."""

from __future__ import annotations

import json
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
    return member_vol(cloud)


@pytest.fixture
def adm(cloud: Cloud) -> Vol:
    return admin_vol(cloud)


def _message(r: Any) -> str:
    return str(next(iter(r.json().values()))["message"])


def _storage_host(adm: Vol) -> str:
    return str(next(s["host"] for s in adm.get("/os-services").json()["services"]
                    if s["binary"] == "cinder-volume"))


def _write(cloud: Cloud, vid: str, offset: int, data: bytes) -> None:
    with open(volume_file(cloud, vid), "r+b") as f:
        f.seek(offset)
        f.write(data)


def _read(cloud: Cloud, vid: str, offset: int, n: int) -> bytes:
    with open(volume_file(cloud, vid), "rb") as f:
        f.seek(offset)
        return f.read(n)


# ----------------------------------------------------------------- 3.16
def test_migrate_to_a_cluster_from_316(adm: Vol) -> None:
    v = adm.create()
    below = adm.at("3.15")
    r = below.action(v["id"], "os-migrate_volume", {"cluster": "c1"})
    assert r.status_code == 400 and "cluster" in _message(r)
    r = below.action(v["id"], "os-migrate_volume", {"host": None})
    assert r.status_code == 400
    r = below.action(v["id"], "os-migrate_volume", {"host": "nowhere@file"})
    assert r.status_code == 400
    assert _message(r) == "Invalid host: No available service named 'nowhere@file'"
    at = adm.at("3.16")
    # no storage host runs in a cluster: a cluster is never an available destination
    r = at.action(v["id"], "os-migrate_volume", {"cluster": "c1"})
    assert r.status_code == 400
    assert _message(r) == "Invalid host: No available service named 'c1'"
    for body in ({}, {"host": "h@file", "cluster": "c1"}, {"host": None, "cluster": None}):
        r = at.action(v["id"], "os-migrate_volume", body)
        assert r.status_code == 400
        assert _message(r) == ("Invalid input received: One and only one of cluster and "
                               "host must be set.")
    assert adm.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "available"


# ----------------------------------------------------------------- 3.24
def test_workers_cleanup_from_324(cloud: Cloud, vol: Vol, adm: Vol) -> None:
    from overcast.volume.models import StorageService, Volume

    assert adm.at("3.23").post("/workers/cleanup", {}).status_code == 404
    assert vol.at("3.24").post("/workers/cleanup", {}).status_code == 403
    at = adm.at("3.24")
    host = _storage_host(adm)
    # by default the services that are down are cleaned: none is
    r = at.post("/workers/cleanup", {})
    assert r.status_code == 202, r.text
    assert r.json() == {"cleaning": [], "unavailable": []}
    r = at.post("/workers/cleanup", {"is_up": True})
    assert {(s["binary"], s["host"]) for s in r.json()["cleaning"]} >= {
        ("cinder-scheduler", cloud.app.state.volume.services.host), ("cinder-volume", host)}
    assert all(set(s) == {"id", "host", "binary", "cluster_name"}
               for s in r.json()["cleaning"])
    r = at.post("/workers/cleanup", {"is_up": "true", "binary": "cinder-volume"})
    assert [s["host"] for s in r.json()["cleaning"]] == [host]
    r = at.post("/workers/cleanup", {"resource_type": "backup"})
    assert r.status_code == 400
    assert _message(r) == ("Invalid input received: Resource type Backup not valid, must "
                           "be Snapshot or Volume")
    assert at.post("/workers/cleanup", {"bogus": 1}).status_code == 400
    # a record interrupted mid-step (no step of this process works on it) is settled
    v = vol.create()
    r = at.post("/workers/cleanup", {"resource_id": v["id"]})
    assert r.status_code == 400 and "pending cleanup" in _message(r)
    with cloud.app.state.db.transaction() as s:
        s.get(Volume, v["id"]).status = "attaching"
    r = at.post("/workers/cleanup", {"resource_id": v["id"], "is_up": True})
    assert r.status_code == 202, r.text
    assert [s["host"] for s in r.json()["cleaning"]] == [host]
    vol.wait(v["id"], "available")
    # a service that is down cannot clean: it is listed unavailable
    db = cloud.app.state.db
    with db.transaction() as s:
        row = s.get(StorageService, (host, "cinder-volume"))
        beat, row.updated_at = row.updated_at, row.updated_at.replace(year=2000)
    try:
        r = at.post("/workers/cleanup", {})
        assert r.status_code == 202
        assert r.json()["cleaning"] == [] and [
            s["host"] for s in r.json()["unavailable"]] == [host]
    finally:
        with db.transaction() as s:
            s.get(StorageService, (host, "cinder-volume")).updated_at = beat


def test_workers_cleanup_leaves_a_record_a_step_works_on(cloud: Cloud, vol: Vol) -> None:
    """The sync a cleanup starts must not settle a record whose step is still
    running (an attach or create in flight): only interrupted work is cleaned."""
    from overcast.bus.messages import StorageSync
    from overcast.volume.models import Volume

    v = vol.create()
    svc = cloud.app.state.volume
    with cloud.app.state.db.transaction() as s:
        row = s.get(Volume, v["id"])
        row.status, host = "attaching", row.host.split("#", 1)[0]
    storage = svc.store.storage
    with storage._lock:
        storage._busy[v["id"]] = 1
    try:
        svc.services.sync(StorageSync(host=host, volumes={v["id"]: GiB}))
        assert vol.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "attaching"
    finally:
        with storage._lock:
            storage._busy.pop(v["id"], None)
    svc.services.sync(StorageSync(host=host, volumes={v["id"]: GiB}))
    assert vol.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "available"


# ----------------------------------------------------------------- 3.26
def test_failover_freeze_thaw_and_cluster_filters_from_326(adm: Vol) -> None:
    host = _storage_host(adm)
    not_replicated = (f"Invalid input received: No service could be changed: "
                      f"replication_status in ['{host}'] must be ['enabled', "
                      "'failed-over'] and must be up to failover.")
    below = adm.at("3.25")
    assert below.put("/os-services/failover", {"host": host}).status_code == 404
    r = below.put("/os-services/failover_host", {"host": host})
    assert r.status_code == 400 and _message(r) == not_replicated
    r = below.put("/os-services/failover_host", {"cluster": "c1"})
    assert r.status_code == 400 and _message(r) == "Invalid input received: Host field is " \
                                                   "missing."
    r = below.get("/clusters?frozen=true")
    assert r.status_code == 400
    assert _message(r) == "Invalid input received: Invalid filter keys: frozen"
    at = adm.at("3.26")
    r = at.put("/os-services/failover", {"host": host, "backend_id": "b"})
    assert r.status_code == 400 and _message(r) == not_replicated
    r = at.put("/os-services/failover", {"cluster": "c1"})
    assert r.status_code == 400 and _message(r) == "No service found with cluster=c1"
    r = at.put("/os-services/failover_host", {"host": "nowhere"})
    assert r.status_code == 400 and _message(r) == "No service found with host=nowhere"
    r = at.put("/os-services/freeze", {"host": host, "cluster": "c1"})
    assert r.status_code == 400 and "One and only one" in _message(r)
    assert at.get("/clusters?frozen=true&replication_status=enabled").json() == {
        "clusters": []}
    # freeze and thaw work as on any backend: disabled as `frozen`, and back
    r = at.put("/os-services/freeze", {"host": host})
    assert r.status_code == 200, r.text
    svc = next(s for s in at.get("/os-services").json()["services"] if s["host"] == host)
    assert svc["status"] == "disabled" and svc["disabled_reason"] == "frozen"
    r = at.put("/os-services/freeze", {"host": host})
    assert r.status_code == 400 and _message(r) == (
        f"Invalid input received: No service could be changed: frozen in ['{host}'] must "
        "be False to failover.")
    r = at.put("/os-services/thaw", {"host": host.split("@", 1)[0]})
    assert r.status_code == 200, r.text
    svc = next(s for s in at.get("/os-services").json()["services"] if s["host"] == host)
    assert svc["status"] == "enabled" and svc["disabled_reason"] is None
    r = at.put("/os-services/thaw", {"host": host})
    assert r.status_code == 400 and "must be True" in _message(r)


# ----------------------------------------------------------------- 3.46
def _nova_image(cloud: Cloud, snapshot_id: str) -> str:
    """An image as Nova makes it for a volume-backed server snapshot: no data, its
    root volume's snapshot mapped at boot index 0."""
    h = cloud.admin()
    mapping = [{"source_type": "snapshot", "destination_type": "volume", "boot_index": 0,
                "snapshot_id": snapshot_id, "volume_size": 1, "device_name": "/dev/vda",
                "delete_on_termination": False}]
    r = cloud.client.post("/image/v2/images", headers=h, json={
        "name": "bfv-snap", "disk_format": "raw", "container_format": "bare",
        "visibility": "public", "block_device_mapping": json.dumps(mapping),
        "bdm_v2": "True", "root_device_name": "/dev/vda"})
    assert r.status_code == 201, r.text
    iid = str(r.json()["id"])
    r = cloud.client.put(f"/image/v2/images/{iid}/file", content=b"",
                         headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return iid


def test_volume_from_a_nova_snapshot_image_from_346(cloud: Cloud, adm: Vol) -> None:
    src = adm.create()
    _write(cloud, src["id"], 4096, b"ROOTDISK")
    snap = adm.snapshot(src["id"])
    iid = _nova_image(cloud, snap["id"])
    r = adm.at("3.46").post("/volumes", {"volume": {"imageRef": iid}})
    assert r.status_code == 202, r.text
    v = adm.wait(r.json()["volume"]["id"], "available")
    assert v["snapshot_id"] == snap["id"] and v["size"] == 1
    assert _read(cloud, v["id"], 4096, 8) == b"ROOTDISK"
    # below 3.46 the image is an image like any other: its (no) bytes are copied
    r = adm.at("3.45").post("/volumes", {"volume": {"imageRef": iid, "size": 1}})
    assert r.status_code == 202, r.text
    old = adm.wait(r.json()["volume"]["id"], "available")
    assert old["snapshot_id"] is None
    assert _read(cloud, old["id"], 4096, 8) == b"\0" * 8
    # a Nova image whose snapshot is gone
    gone = _nova_image(cloud, "0d6f1b3c-8c55-4b0e-9f5e-0a1b2c3d4e5f")
    r = adm.at("3.46").post("/volumes", {"volume": {"imageRef": gone}})
    assert r.status_code == 404
    assert _message(r) == ("Nova specific image is found, but boot volume snapshot "
                           "id:0d6f1b3c-8c55-4b0e-9f5e-0a1b2c3d4e5f not found.")


# ----------------------------------------------------------------- 3.47
def _backup(vol: Vol, vid: str) -> dict[str, Any]:
    r = vol.post("/backups", {"backup": {"volume_id": vid}})
    assert r.status_code == 202, r.text
    return vol.wait(r.json()["backup"]["id"], "available", "backups", timeout=120)


def test_volume_from_a_backup_from_347(cloud: Cloud, vol: Vol, adm: Vol) -> None:
    src = vol.create(size=2)
    _write(cloud, src["id"], 0, b"HEAD")
    _write(cloud, src["id"], GiB + 5, b"SECOND-GIB")
    b = _backup(vol, src["id"])
    r = vol.at("3.47").post("/volumes", {"volume": {"backup_id": b["id"], "name": "fromb"}})
    assert r.status_code == 202, r.text
    assert r.json()["volume"]["status"] == "creating"
    v = vol.wait(r.json()["volume"]["id"], "available", timeout=120)
    assert v["size"] == 2 and v["name"] == "fromb"
    assert _read(cloud, v["id"], 0, 4) == b"HEAD"
    assert _read(cloud, v["id"], GiB + 5, 10) == b"SECOND-GIB"
    assert vol.wait(b["id"], "available", "backups")["status"] == "available"
    r = vol.at("3.47").post("/volumes", {"volume": {"backup_id": b["id"], "size": 1}})
    assert r.status_code == 400 and _message(r) == (
        "Invalid input received: Volume size 1GB cannot be smaller than the backup size "
        "2GB. It must be >= backup size.")
    r = vol.at("3.47").post("/volumes", {"volume": {
        "backup_id": "0d6f1b3c-8c55-4b0e-9f5e-0a1b2c3d4e5f"}})
    assert r.status_code == 404
    r = vol.at("3.47").post("/volumes", {"volume": {"backup_id": b["id"],
                                                    "snapshot_id": None,
                                                    "source_volid": src["id"]}})
    assert r.status_code == 400
    # below 3.47 a create takes no backup_id: the volume is blank
    r = vol.at("3.46").post("/volumes", {"volume": {"backup_id": b["id"], "size": 2}})
    assert r.status_code == 202, r.text
    blank = vol.wait(r.json()["volume"]["id"], "available")
    assert _read(cloud, blank["id"], 0, 4) == b"\0" * 4
    # a backup that is not available is no source
    r = adm.post(f"/backups/{b['id']}/action", {"os-reset_status": {"status": "error"}})
    assert r.status_code == 202, r.text
    r = vol.at("3.47").post("/volumes", {"volume": {"backup_id": b["id"]}})
    assert r.status_code == 400 and _message(r) == (
        "Invalid backup: Originating backup status must be one of 'available' values")
    # another project's backup is not there
    other = member_vol(cloud)
    r = other.at("3.47").post("/volumes", {"volume": {"backup_id": b["id"]}})
    assert r.status_code == 404


# ----------------------------------------------------------------- 3.43, 3.51
def test_backup_metadata_from_343_and_zone_from_351(vol: Vol) -> None:
    v = vol.create()
    r = vol.at("3.43").post("/backups", {"backup": {"volume_id": v["id"],
                                                    "metadata": {"k": "v"}}})
    assert r.status_code == 202, r.text
    b = vol.wait(r.json()["backup"]["id"], "available", "backups", timeout=120)
    assert b["metadata"] == {"k": "v"}
    assert "metadata" not in vol.at("3.42").get(f"/backups/{b['id']}").json()["backup"]
    r = vol.at("3.42").put(f"/backups/{b['id']}", {"backup": {"metadata": {"a": "b"}}})
    assert r.status_code == 400
    r = vol.at("3.43").put(f"/backups/{b['id']}", {"backup": {"metadata": {"a": "b"}}})
    assert r.status_code == 200, r.text
    assert vol.at("3.43").get(f"/backups/{b['id']}").json()["backup"]["metadata"] == {
        "a": "b"}
    # below 3.43 a create's metadata is not kept
    b2 = _backup(vol.at("3.42"), v["id"])
    assert vol.at("3.43").get(f"/backups/{b2['id']}").json()["backup"]["metadata"] == {}
    # 3.51: a zone without a backup service is Cinder's 503; below, the zone is ignored
    body = {"backup": {"volume_id": v["id"], "availability_zone": "elsewhere"}}
    r = vol.at("3.51").post("/backups", body)
    assert r.status_code == 503
    assert _message(r) == "Service cinder-backup could not be found."
    r = vol.at("3.50").post("/backups", body)
    assert r.status_code == 202, r.text
    got = vol.wait(r.json()["backup"]["id"], "available", "backups", timeout=120)
    assert got["availability_zone"] == v["availability_zone"]
    r = vol.at("3.51").post("/backups", {"backup": {
        "volume_id": v["id"], "availability_zone": v["availability_zone"]}})
    assert r.status_code == 202, r.text
    vol.wait(r.json()["backup"]["id"], "available", "backups", timeout=120)


def test_disable_log_reason_needs_a_reason(adm: Vol) -> None:
    """A disable-log-reason without a reason is Cinder's 400 (schema), whatever the
    service; it looked the service up first and answered 404 for the scheduler."""
    for binary in ("cinder-scheduler", "cinder-volume"):
        r = adm.put("/os-services/disable-log-reason", {
            "host": _storage_host(adm), "binary": binary, "disabled_reason": None})
        assert r.status_code == 400, r.text
