"""Block storage resources besides volumes: snapshots, volume types (extra specs,
private access), quotas and limits, transfers, services, availability zones,
backups (checked input; the rest in test_volume_backups.py) and extensions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.volume_helpers import Vol, admin_vol, member_vol, volume_cloud
from tests.conftest import Cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from volume_cloud(tmp_path_factory)


@pytest.fixture
def vol(cloud: Cloud) -> Vol:
    return member_vol(cloud)


@pytest.fixture(scope="module")
def adm(cloud: Cloud) -> Vol:
    return admin_vol(cloud)


# ----------------------------------------------------------------- snapshots
def test_snapshot_of_in_use_needs_force(vol: Vol) -> None:
    v = vol.create()
    vol.action(v["id"], "os-attach", {"instance_uuid": "5f0e5e1c-13f0-4f35-9b47-"
                                      "c7f5ba2c2d10", "mountpoint": "/dev/vdb"})
    vol.wait(v["id"], "in-use")
    r = vol.post("/snapshots", {"snapshot": {"volume_id": v["id"]}})
    assert r.status_code == 400
    snap = vol.snapshot(v["id"], force=True, name="live")
    assert snap["volume_id"] == v["id"]
    assert snap["os-extended-snapshot-attributes:progress"] == "100%"


def test_snapshot_listing_update_metadata_delete(vol: Vol) -> None:
    v = vol.create()
    a = vol.snapshot(v["id"], name="a")
    vol.snapshot(v["id"], name="b")
    names = [x["name"] for x in vol.get("/snapshots/detail?sort=name:asc").json()[
        "snapshots"]]
    assert names == ["a", "b"]
    page = vol.get("/snapshots?limit=1&sort=name:asc").json()
    assert len(page["snapshots"]) == 1 and "snapshots_links" in page
    assert vol.get("/snapshots?volume_id=" + v["id"]).json()["snapshots"][0]["volume_id"] \
        == v["id"]
    r = vol.put(f"/snapshots/{a['id']}", {"snapshot": {"name": "a2"}})
    assert r.json()["snapshot"]["name"] == "a2"
    vol.post(f"/snapshots/{a['id']}/metadata", {"metadata": {"k": "v"}})
    assert vol.get(f"/snapshots/{a['id']}/metadata/k").json() == {"meta": {"k": "v"}}
    assert vol.get(f"/snapshots/{a['id']}").json()["snapshot"]["user_id"]  # 3.41
    assert "user_id" not in vol.at("3.40").get(f"/snapshots/{a['id']}").json()["snapshot"]
    assert vol.delete(f"/snapshots/{a['id']}").status_code == 202
    vol.wait(a["id"], "gone", "snapshots")
    assert vol.get("/snapshots/" + a["id"]).json()["itemNotFound"]["message"] == \
        f"Snapshot {a['id']} could not be found."


def test_snapshot_reset_status_is_an_admins(vol: Vol, adm: Vol) -> None:
    v = vol.create()
    s = vol.snapshot(v["id"])
    act = {"os-reset_status": {"status": "error"}}
    assert vol.post(f"/snapshots/{s['id']}/action", act).status_code == 403
    assert adm.post(f"/snapshots/{s['id']}/action", act).status_code == 202
    vol.wait(s["id"], "error", "snapshots")


# ----------------------------------------------------------------- types
def test_types_with_extra_specs_and_private_access(cloud: Cloud, vol: Vol, adm: Vol
                                                   ) -> None:
    r = adm.post("/types", {"volume_type": {"name": "fast", "extra_specs": {
        "volume_backend_name": "file"}}})
    assert r.status_code == 200, r.text
    fast = r.json()["volume_type"]
    assert fast["extra_specs"] == {"volume_backend_name": "file"}
    assert adm.post("/types", {"volume_type": {"name": "fast"}}).status_code == 409
    assert vol.post("/types", {"volume_type": {"name": "mine"}}).status_code == 403
    seen = {t["name"]: t for t in vol.get("/types").json()["volume_types"]}
    assert "fast" in seen and "__DEFAULT__" in seen
    assert seen["fast"]["extra_specs"] == {}  # the backends' details are the admin's
    v = vol.create(volume_type="fast")
    assert v["volume_type"] == "fast" and v["status"] == "available"
    r = adm.post("/types", {"volume_type": {"name": "nowhere", "extra_specs": {
        "volume_backend_name": "ceph"}}})
    nowhere = vol.create(expect="error", volume_type=r.json()["volume_type"]["id"])
    assert nowhere["status"] == "error"
    assert adm.delete(f"/types/{fast['id']}").status_code == 400  # in use
    # private types
    r = adm.post("/types", {"volume_type": {"name": "secret",
                                            "os-volume-type-access:is_public": False}})
    secret = r.json()["volume_type"]
    assert secret["is_public"] is False
    assert vol.get(f"/types/{secret['id']}").status_code == 404
    assert "secret" not in {t["name"] for t in vol.get("/types").json()["volume_types"]}
    r = adm.post(f"/types/{secret['id']}/action", {"addProjectAccess": {
        "project": vol.project_id}})
    assert r.status_code == 202
    assert adm.post(f"/types/{secret['id']}/action", {"addProjectAccess": {
        "project": vol.project_id}}).status_code == 409
    assert vol.get(f"/types/{secret['id']}").status_code == 200
    assert "secret" in {t["name"] for t in vol.get("/types").json()["volume_types"]}
    access = adm.get(f"/types/{secret['id']}/os-volume-type-access").json()
    assert access == {"volume_type_access": [{"volume_type_id": secret["id"],
                                              "project_id": vol.project_id}]}
    adm.post(f"/types/{secret['id']}/action", {"removeProjectAccess": {
        "project": vol.project_id}})
    assert vol.get(f"/types/{secret['id']}").status_code == 404
    # extra specs one by one; the default type stays
    tid = secret["id"]
    assert adm.put(f"/types/{tid}/extra_specs/a", {"a": "1"}).json() == {"a": "1"}
    assert adm.get(f"/types/{tid}/extra_specs/a").json() == {"a": "1"}
    assert adm.delete(f"/types/{tid}/extra_specs/a").status_code == 202
    assert adm.get(f"/types/{tid}/extra_specs/a").status_code == 404
    r = adm.put(f"/types/{tid}", {"volume_type": {"description": "d"}})
    assert r.json()["volume_type"]["description"] == "d"
    default = seen["__DEFAULT__"]["id"]
    assert adm.delete(f"/types/{default}").status_code == 400
    assert adm.delete(f"/types/{tid}").status_code == 202


# ----------------------------------------------------------------- quotas and limits
def test_quotas_usage_limits_and_refusals(vol: Vol, adm: Vol) -> None:
    vol.create(size=2)
    q = vol.get(f"/os-quota-sets/{vol.project_id}?usage=true").json()["quota_set"]
    assert q["volumes"] == {"limit": 10, "in_use": 1, "reserved": 0, "allocated": 0}
    assert q["gigabytes"]["in_use"] == 2 and "volumes___DEFAULT__" in q
    assert vol.put(f"/os-quota-sets/{vol.project_id}", {"quota_set": {"volumes": 1}}
                   ).status_code == 403
    r = adm.put(f"/os-quota-sets/{vol.project_id}", {"quota_set": {"volumes": 1,
                                                                   "gigabytes": 5}})
    assert r.status_code == 200 and r.json()["quota_set"]["volumes"] == 1
    r = vol.post("/volumes", {"volume": {"size": 1}})
    assert r.status_code == 413 and "overLimit" in r.json()
    adm.put(f"/os-quota-sets/{vol.project_id}", {"quota_set": {"volumes": 5}})
    r = vol.post("/volumes", {"volume": {"size": 4}})
    assert r.status_code == 413
    assert "gigabytes" in r.json()["overLimit"]["message"]
    assert adm.put(f"/os-quota-sets/{vol.project_id}", {"quota_set": {"gigabytes": 1}}
                   ).status_code == 400  # below what is used
    assert adm.put(f"/os-quota-sets/{vol.project_id}", {"quota_set": {"bogus": 1}}
                   ).status_code == 400
    absolute = vol.get("/limits").json()["limits"]["absolute"]
    assert (absolute["maxTotalVolumes"], absolute["totalVolumesUsed"],
            absolute["totalGigabytesUsed"]) == (5, 1, 2)
    assert vol.get(f"/os-quota-sets/{adm.project_id}").status_code == 403
    d = vol.get(f"/os-quota-sets/{vol.project_id}/defaults").json()["quota_set"]
    assert d["volumes"] == 10
    assert adm.delete(f"/os-quota-sets/{vol.project_id}").status_code == 200
    assert vol.get(f"/os-quota-sets/{vol.project_id}").json()["quota_set"]["volumes"] == 10


# ----------------------------------------------------------------- transfers
@pytest.mark.parametrize("path,version", [("/os-volume-transfer", "3.0"),
                                          ("/volume-transfers", "3.55")])
def test_transfer_moves_the_volume_and_its_snapshots(cloud: Cloud, path: str,
                                                     version: str) -> None:
    giver, taker = member_vol(cloud).at(version), member_vol(cloud).at(version)
    v = giver.create(name="gift")
    snap = giver.snapshot(v["id"])
    r = giver.post(path, {"transfer": {"volume_id": v["id"], "name": "t1"}})
    assert r.status_code == 202, r.text
    t = r.json()["transfer"]
    assert t["auth_key"] and t["volume_id"] == v["id"]
    assert ("no_snapshots" in t) == (version == "3.55")
    giver.wait(v["id"], "awaiting-transfer")
    assert [x["id"] for x in giver.get(path).json()["transfers"]] == [t["id"]]
    assert "auth_key" not in giver.get(f"{path}/{t['id']}").json()["transfer"]
    assert taker.get(f"{path}/{t['id']}").status_code == 404
    r = taker.post(f"{path}/{t['id']}/accept", {"accept": {"auth_key": "wrong"}})
    assert r.status_code == 400
    r = taker.post(f"{path}/{t['id']}/accept", {"accept": {"auth_key": t["auth_key"]}})
    assert r.status_code == 202, r.text
    assert r.json()["transfer"]["volume_id"] == v["id"]
    assert giver.get(f"/volumes/{v['id']}").status_code == 404
    assert taker.get(f"/volumes/{v['id']}").json()["volume"]["status"] == "available"
    assert taker.get(f"/snapshots/{snap['id']}").status_code == 200
    assert giver.get(f"{path}/{t['id']}").status_code == 404


def test_transfer_delete_gives_the_volume_back(vol: Vol) -> None:
    v = vol.create()
    t = vol.post("/os-volume-transfer", {"transfer": {"volume_id": v["id"]}}).json()[
        "transfer"]
    assert vol.delete(f"/volumes/{v['id']}").status_code == 400
    assert vol.delete(f"/os-volume-transfer/{t['id']}").status_code == 202
    vol.wait(v["id"], "available")
    assert vol.at("3.54").get("/volume-transfers").status_code == 404


# ----------------------------------------------------------------- services, zones
def test_services_zones_backups_and_extensions(vol: Vol, adm: Vol) -> None:
    services = adm.get("/os-services").json()["services"]
    binaries = {s["binary"]: s for s in services}
    assert binaries["cinder-volume"]["state"] == "up"
    assert binaries["cinder-volume"]["host"].endswith("@file")
    assert binaries["cinder-scheduler"]["status"] == "enabled"
    assert vol.get("/os-services").status_code == 403
    host = binaries["cinder-volume"]["host"]
    r = adm.put("/os-services/disable-log-reason", {"host": host, "binary": "cinder-volume",
                                                    "disabled_reason": "maintenance"})
    assert r.json()["status"] == "disabled"
    assert vol.create(expect="error")["status"] == "error"  # nowhere to go
    adm.put("/os-services/enable", {"host": host, "binary": "cinder-volume"})
    assert vol.get("/os-availability-zone").json() == {"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": True}}]}
    assert vol.get("/backups/detail").json() == {"backups": []}
    r = vol.post("/backups", {"backup": {"volume_id": "x"}})
    assert r.status_code == 400  # backups work (test_volume_backups.py): checked input
    aliases = {e["alias"] for e in vol.get("/extensions").json()["extensions"]}
    assert "os-volume-transfer" in aliases and "os-admin-actions" in aliases


# ----------------------------------------------------------------- later microversions
def test_revert_to_the_latest_snapshot_from_340(cloud: Cloud, vol: Vol) -> None:
    from tests.api.volume_helpers import volume_file

    v = vol.create()
    path = volume_file(cloud, v["id"])
    with open(path, "r+b") as f:
        f.write(b"FIRST")
    older = vol.snapshot(v["id"])
    with open(path, "r+b") as f:
        f.write(b"SECOND")
    latest = vol.snapshot(v["id"])
    with open(path, "r+b") as f:
        f.write(b"THIRD!")
    arg = {"snapshot_id": latest["id"]}
    assert vol.at("3.39").action(v["id"], "revert", arg).status_code == 400
    assert vol.action(v["id"], "revert", {"snapshot_id": older["id"]}).status_code == 400
    assert vol.action(v["id"], "revert", arg).status_code == 202
    vol.wait(v["id"], "available")
    vol.wait(latest["id"], "available", "snapshots")
    assert path.read_bytes()[:6] == b"SECOND"
    assert path.stat().st_size == 1 << 30


def test_multiattach_types_attach_twice_from_350(vol: Vol, adm: Vol) -> None:
    t = adm.post("/types", {"volume_type": {"name": "shared-disk", "extra_specs": {
        "multiattach": "<is> True"}}}).json()["volume_type"]
    v = vol.create(volume_type=t["id"])
    assert v["multiattach"] is True
    for server in ("11111111-1111-4111-8111-111111111111",
                   "22222222-2222-4222-8222-222222222222"):
        r = vol.post("/attachments", {"attachment": {"volume_uuid": v["id"],
                                                     "instance_uuid": server}})
        assert r.status_code == 200, r.text
    single = vol.create()
    vol.post("/attachments", {"attachment": {
        "volume_uuid": single["id"], "instance_uuid": "11111111-1111-4111-8111-111111111111"}})
    r = vol.post("/attachments", {"attachment": {
        "volume_uuid": single["id"], "instance_uuid": "22222222-2222-4222-8222-222222222222"}})
    assert r.status_code == 400


def test_summary_metadata_etag_filters_and_backend_state(vol: Vol, adm: Vol) -> None:
    a = vol.create(metadata={"tier": "gold"})
    vol.create(metadata={"tier": "silver"})
    summary = vol.get("/volumes/summary").json()["volume-summary"]
    assert summary["metadata"] == {"tier": ["gold", "silver"]}
    assert "metadata" not in vol.at("3.35").get("/volumes/summary").json()["volume-summary"]
    r = vol.get(f"/volumes/{a['id']}/metadata")
    etag = r.headers["ETag"]
    stale = vol.put(f"/volumes/{a['id']}/metadata", {"metadata": {"x": "1"}},
                    headers={**vol.headers, "If-Match": "0" * 32})
    assert stale.status_code == 412
    ok = vol.put(f"/volumes/{a['id']}/metadata", {"metadata": {"x": "1"}},
                 headers={**vol.headers, "If-Match": etag})
    assert ok.status_code == 200
    assert vol.get("/volumes/detail?group_id=5f0e5e1c-13f0-4f35-9b47-c7f5ba2c2d10").json()[
        "volumes"] == []
    filters = vol.get("/resource_filters?resource=volume").json()["resource_filters"]
    assert filters[0]["resource"] == "volume" and "metadata" in filters[0]["filters"]
    assert vol.at("3.32").get("/resource_filters").status_code == 404
    services = {s["binary"]: s for s in adm.get("/os-services").json()["services"]}
    assert services["cinder-volume"]["backend_state"] == "up"


def test_failures_leave_user_messages_from_33(vol: Vol, adm: Vol) -> None:
    t = adm.post("/types", {"volume_type": {"name": "on-ceph", "extra_specs": {
        "volume_backend_name": "ceph"}}}).json()["volume_type"]
    v = vol.create(expect="error", volume_type=t["id"])
    assert vol.at("3.2").get("/messages").status_code == 404
    msgs = vol.get(f"/messages?resource_uuid={v['id']}").json()["messages"]
    assert len(msgs) == 1
    msg = msgs[0]
    assert msg["event_id"] == "VOLUME_VOLUME_001_003"
    assert msg["user_message"].startswith("schedule allocate volume:")
    assert msg["resource_uuid"] == v["id"] and msg["message_level"] == "ERROR"
    assert vol.get(f"/messages/{msg['id']}").json()["message"]["id"] == msg["id"]
    other = member_vol(vol.cloud)
    assert other.get(f"/messages/{msg['id']}").status_code == 404
    assert other.get("/messages").json()["messages"] == []
    assert vol.delete(f"/messages/{msg['id']}").status_code == 204
    assert vol.get(f"/messages/{msg['id']}").status_code == 404


def test_pools_capabilities_hosts_and_encryption(vol: Vol, adm: Vol) -> None:
    pools = adm.get("/scheduler-stats/get_pools?detail=True").json()["pools"]
    assert len(pools) == 1 and pools[0]["name"].endswith("@file#file")
    caps = pools[0]["capabilities"]
    assert caps["volume_backend_name"] == "file" and caps["free_capacity_gb"] > 0
    assert vol.get("/scheduler-stats/get_pools").status_code == 403
    host = pools[0]["name"].split("#")[0]
    assert adm.get(f"/capabilities/{host}").json()["volume_backend_name"] == "file"
    assert adm.get("/capabilities/nowhere@x").status_code == 404
    hosts = {h["service"]: h for h in adm.get("/os-hosts").json()["hosts"]}
    # every service is listed, the scheduler too (as Cinder's, and as Tempest counts)
    assert set(hosts) == {"cinder-scheduler", "cinder-volume"}
    assert hosts["cinder-volume"]["host_name"] == host
    assert hosts["cinder-volume"]["service-status"] == "available"
    assert hosts["cinder-volume"]["service-state"] == "enabled"
    v = vol.create(size=2)
    vol.snapshot(v["id"])
    usage = adm.get(f"/os-hosts/{host}").json()["host"]
    total = usage[0]["resource"]
    assert total["project"] == "(total)" and total["host"] == host
    mine = next(u["resource"] for u in usage if u["resource"]["project"] == vol.project_id)
    assert mine == {"host": host, "project": vol.project_id, "volume_count": "1",
                    "total_volume_gb": "2", "snapshot_count": "1", "total_snapshot_gb": "2"}
    assert int(total["volume_count"]) >= 1
    assert adm.get("/os-hosts/nowhere@file").status_code == 404
    assert vol.get(f"/os-hosts/{host}").status_code == 403
    # the service list's host filter: a machine names its backends' services too
    machine = host.split("@", 1)[0]
    listed = adm.get(f"/os-services?host={machine}").json()["services"]
    assert "cinder-volume" in {x["binary"] for x in listed}
    listed = adm.get(f"/os-services?host={machine}&binary=cinder-volume").json()["services"]
    assert [x["host"] for x in listed] == [host]
    default = [t for t in vol.get("/types").json()["volume_types"]
               if t["name"] == "__DEFAULT__"][0]
    assert vol.get(f"/types/{default['id']}/encryption").json() == {}


def test_quota_classes_and_clusters(vol: Vol, adm: Vol) -> None:
    assert vol.get("/os-quota-class-sets/default").json()["quota_class_set"]["volumes"] == 10
    assert vol.put("/os-quota-class-sets/default", {"quota_class_set": {"volumes": 3}}
                   ).status_code == 403
    r = adm.put("/os-quota-class-sets/default", {"quota_class_set": {"snapshots": 7}})
    assert r.status_code == 200 and r.json()["quota_class_set"]["snapshots"] == 7
    fresh = member_vol(vol.cloud)
    assert fresh.get(f"/os-quota-sets/{fresh.project_id}").json()["quota_set"][
        "snapshots"] == 7
    adm.put("/os-quota-class-sets/default", {"quota_class_set": {"snapshots": 10}})
    assert adm.get("/clusters").json() == {"clusters": []}
    assert adm.at("3.6").get("/clusters").status_code == 404
    assert vol.get("/clusters").status_code == 403
    assert adm.get("/clusters/c1").status_code == 404


def test_qos_specs_reach_the_connection_info_for_front_end(cloud: Cloud, vol: Vol,
                                                           adm: Vol) -> None:
    import socket

    r = adm.post("/qos-specs", {"qos_specs": {"name": "slow", "consumer": "front-end",
                                              "total_iops_sec": "500"}})
    assert r.status_code == 200, r.text
    q = r.json()["qos_specs"]
    assert q["specs"] == {"total_iops_sec": "500"} and r.json()["links"]
    assert adm.post("/qos-specs", {"qos_specs": {"name": "slow"}}).status_code == 409
    assert vol.get("/qos-specs").status_code == 403
    t = adm.post("/types", {"volume_type": {"name": "throttled"}}).json()["volume_type"]
    assert adm.get(f"/qos-specs/{q['id']}/associate?vol_type_id={t['id']}").status_code == 202
    assert adm.get(f"/types/{t['id']}").json()["volume_type"]["qos_specs_id"] == q["id"]
    assert adm.get(f"/qos-specs/{q['id']}/associations").json() == {"qos_associations": [
        {"association_type": "volume_type", "name": "throttled", "id": t["id"]}]}
    adm.put(f"/qos-specs/{q['id']}", {"qos_specs": {"read_bytes_sec": "1048576"}})
    v = vol.create(volume_type=t["id"])
    a = vol.post("/attachments", {"attachment": {
        "volume_uuid": v["id"], "instance_uuid": "11111111-1111-4111-8111-111111111111",
        "connector": {"host": socket.gethostname()}}}).json()["attachment"]
    assert a["connection_info"]["data"]["qos_specs"] == {
        "total_iops_sec": "500", "read_bytes_sec": "1048576"}
    assert adm.delete(f"/qos-specs/{q['id']}").status_code == 400  # still associated
    assert adm.put(f"/qos-specs/{q['id']}/delete_keys", {"keys": ["nope"]}).status_code == 404
    assert adm.put(f"/qos-specs/{q['id']}/delete_keys", {"keys": ["read_bytes_sec"]}
                   ).status_code == 202
    assert adm.get(f"/qos-specs/{q['id']}/disassociate_all").status_code == 202
    assert adm.delete(f"/qos-specs/{q['id']}").status_code == 202
    assert adm.get(f"/qos-specs/{q['id']}").status_code == 404


def test_type_list_filters_by_extra_specs_from_352(vol: Vol, adm: Vol) -> None:
    adm.post("/types", {"volume_type": {"name": "zoned", "extra_specs": {
        "RESKEY:availability_zones": "nova", "secret": "x"}}})
    found = vol.get("/types", params={
        "extra_specs": "{'RESKEY:availability_zones': 'nova'}"}).json()["volume_types"]
    assert [t["name"] for t in found] == ["zoned"]
    r = vol.get("/types", params={"extra_specs": "{'secret': 'x'}"})
    assert r.status_code == 400  # not a key users may filter by
    assert [t["name"] for t in adm.get("/types", params={
        "extra_specs": "{'secret': 'x'}"}).json()["volume_types"]] == ["zoned"]


def test_manage_and_unmanage_existing_disks(cloud: Cloud, vol: Vol, adm: Vol) -> None:
    root = cloud.data_dir / "volumes"
    disk = root / "legacy-disk.raw"
    with open(disk, "wb") as f:
        f.write(b"LEGACY")
        f.truncate(300 << 20)
    host = adm.get("/scheduler-stats/get_pools").json()["pools"][0]["name"]
    listed = adm.get(f"/manageable_volumes?host={host}").json()["manageable-volumes"]
    assert {"reference": {"source-name": "legacy-disk.raw"}, "size": 1,
            "safe_to_manage": True} in listed
    assert adm.at("3.7").get(f"/manageable_volumes?host={host}").status_code == 404
    assert vol.get(f"/manageable_volumes?host={host}").status_code == 403
    r = adm.post("/os-volume-manage", {"volume": {
        "host": host, "ref": {"source-name": "legacy-disk.raw"}, "name": "adopted"}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    v = adm.wait(vid, "available")
    assert v["size"] == 1 and v["name"] == "adopted"
    assert (root / f"volume-{vid}").read_bytes()[:6] == b"LEGACY"
    assert not disk.exists()
    r = adm.post("/os-volume-manage", {"volume": {"host": host,
                                                  "ref": {"source-name": "nope"}}})
    gone = adm.wait(r.json()["volume"]["id"], "error_managing")
    assert gone["status"] == "error_managing"
    assert vol.action(vid, "os-unmanage").status_code in (403, 404)
    assert adm.action(vid, "os-unmanage").status_code == 202
    adm.wait(vid, "gone")
    assert (root / f"unmanaged-{vid}").exists()


def test_log_levels_from_332(adm: Vol) -> None:
    import logging

    before = logging.getLogger("overcast.agent.storage").level
    try:
        r = adm.put("/os-services/set-log", {"level": "DEBUG", "binary": "cinder-volume"})
        assert r.status_code == 202
        levels = adm.put("/os-services/get-log", {"binary": "cinder-volume"}).json()[
            "log_levels"]
        assert levels and levels[0]["binary"] == "cinder-volume"
        assert levels[0]["levels"]["overcast.agent.storage"] == "DEBUG"
        assert adm.at("3.31").put("/os-services/get-log", {}).status_code == 404
    finally:
        logging.getLogger("overcast.agent.storage").setLevel(before)


def test_manage_and_unmanage_existing_snapshots(cloud: Cloud, vol: Vol, adm: Vol) -> None:
    root = cloud.data_dir / "volumes"
    v = adm.create()
    disk = root / "old-snap.raw"
    with open(disk, "wb") as f:
        f.write(b"SNAPDATA")
        f.truncate(1 << 30)
    host = adm.get("/scheduler-stats/get_pools").json()["pools"][0]["name"]
    listed = adm.get(f"/manageable_snapshots/detail?host={host}").json()[
        "manageable-snapshots"]
    assert any(x["reference"] == {"source-name": "old-snap.raw"} for x in listed)
    r = adm.post("/os-snapshot-manage", {"snapshot": {
        "volume_id": v["id"], "ref": {"source-name": "old-snap.raw"}, "name": "adopted"}})
    assert r.status_code == 202, r.text
    sid = r.json()["snapshot"]["id"]
    snap = adm.wait(sid, "available", "snapshots")
    assert snap["volume_id"] == v["id"] and snap["size"] == 1
    # a volume made from the adopted snapshot carries its bytes
    made = adm.create(snapshot_id=sid)
    assert (root / f"volume-{made['id']}").read_bytes()[:8] == b"SNAPDATA"
    assert vol.post(f"/snapshots/{sid}/action", {"os-unmanage": None}).status_code == 403
    assert adm.post(f"/snapshots/{sid}/action", {"os-unmanage": None}).status_code == 202
    adm.wait(sid, "gone", "snapshots")
    assert (root / f"unmanaged-snapshot-{sid}").exists()


def test_snapshot_refusals_are_cinders_404s(vol: Vol) -> None:
    """A snapshot of volume_id null, and a snapshot list from a marker that is no
    snapshot, are Cinder's 404s (they were 400s here; Tempest's negative tests)."""
    r = vol.post("/snapshots", {"snapshot": {"volume_id": None}})
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == "Volume None could not be found."
    r = vol.get("/snapshots?marker=0d6f1b3c-8c55-4b0e-9f5e-0a1b2c3d4e5f")
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == (
        "Snapshot 0d6f1b3c-8c55-4b0e-9f5e-0a1b2c3d4e5f could not be found.")
    assert vol.post("/snapshots", {"snapshot": {"volume_id": "x"}}).status_code == 400


def test_update_snapshot_status_moves_a_creating_snapshot_on(vol: Vol, adm: Vol) -> None:
    """os-update_snapshot_status (what Nova calls for assisted snapshots) was refused
    with 403; Cinder lets the project's member move a creating snapshot to
    available or error, with its progress (Tempest's test_update_snapshot_status)."""
    v = vol.create()
    snap = vol.snapshot(v["id"])
    sid = snap["id"]
    r = vol.post(f"/snapshots/{sid}/action", {"os-update_snapshot_status": {
        "status": "error"}})
    assert r.status_code == 400 and "available not allowed" in r.text
    assert adm.post(f"/snapshots/{sid}/action", {"os-reset_status": {
        "status": "creating"}}).status_code == 202
    r = vol.post(f"/snapshots/{sid}/action", {"os-update_snapshot_status": {
        "status": "deleting"}})
    assert r.status_code == 400
    r = vol.post(f"/snapshots/{sid}/action", {"os-update_snapshot_status": {
        "status": "error", "progress": "80%"}})
    assert r.status_code == 202, r.text
    got = adm.get(f"/snapshots/{sid}").json()["snapshot"]
    assert got["status"] == "error"
    assert got["os-extended-snapshot-attributes:progress"] == "80%"
    other = member_vol(vol.cloud)
    r = other.post(f"/snapshots/{sid}/action", {"os-update_snapshot_status": {
        "status": "error"}})
    assert r.status_code == 404


def test_a_type_no_backend_satisfies_leaves_an_error_and_a_message(vol: Vol, adm: Vol
                                                                    ) -> None:
    """The scheduler compares a type's capability specs (vendor_name,
    storage_protocol, ...) with what the backends report, as Cinder's capabilities
    filter: none matches, the volume is in error with a user message (Tempest's
    user message tests make their message so; the volume was made anyway)."""
    r = adm.post("/types", {"volume_type": {"name": "bogus-vendor", "extra_specs": {
        "vendor_name": "nobody", "storage_protocol": "carrier-pigeon"}}})
    assert r.status_code == 200, r.text
    ok = adm.post("/types", {"volume_type": {"name": "our-vendor", "extra_specs": {
        "capabilities:vendor_name": "overcast", "thin_provisioning_support": "<is> True",
        "unrelated": "spec"}}})
    assert ok.status_code == 200, ok.text
    assert vol.create(volume_type="our-vendor")["status"] == "available"
    v = vol.create("error", volume_type="bogus-vendor")
    assert v["status"] == "error"
    msgs = vol.at("3.3").get("/messages").json()["messages"]
    assert [x["resource_uuid"] for x in msgs] == [v["id"]]
