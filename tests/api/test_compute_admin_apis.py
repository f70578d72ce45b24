"""Compute's admin APIs that Tempest's compute admin set calls: os-hosts (up to 2.42),
and the admin server actions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.test_compute import C, add_agents, boot, h, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import add_image


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("novaadmin"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["ha", "hb"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def test_os_hosts(cloud: Cloud) -> None:
    admin = cloud.admin()
    u = cloud.make_project_user()
    sid = boot(cloud, u["headers"]).json()["server"]["id"]
    host = wait_status(cloud, u["headers"], sid, "ACTIVE")
    hosts = cloud.client.get(f"{C}/os-hosts", headers=admin).json()["hosts"]
    assert {"host_name": "ha", "service": "compute", "zone": "nova"} in hosts
    assert len(cloud.client.get(f"{C}/os-hosts?zone=nova", headers=admin).json()["hosts"]) == 2
    assert cloud.client.get(f"{C}/os-hosts?zone=xxx", headers=admin).json()["hosts"] == []
    assert cloud.client.get(f"{C}/os-hosts", headers=u["headers"]).status_code == 403
    assert cloud.client.get(f"{C}/os-hosts", headers=h(admin, "2.43")).status_code == 404
    # the server's host shows its project's use, from the flavor (m1.tiny: 1 vcpu, 512 MB)
    r = cloud.client.get(f"{C}/os-hosts", headers=admin)
    name = next(x["host_name"] for x in r.json()["hosts"]
                if cloud.client.get(f"{C}/os-hosts/{x['host_name']}", headers=admin).json()[
                    "host"][-1]["resource"]["project"] == u["project_id"])
    rows = cloud.client.get(f"{C}/os-hosts/{name}", headers=admin).json()["host"]
    assert [r["resource"]["project"] for r in rows] == \
        ["(total)", "(used_now)", "(used_max)", u["project_id"]]
    assert rows[-1]["resource"]["cpu"] == 1 and rows[-1]["resource"]["host"] == name
    assert host["status"] == "ACTIVE"
    assert cloud.client.get(f"{C}/os-hosts/nope", headers=admin).status_code == 404
    for body, code in (({}, 400), ({"status": "invalid"}, 400),
                       ({"status": "enable", "maintenance_mode": "enable"}, 501)):
        assert cloud.client.put(f"{C}/os-hosts/{name}", headers=admin,
                                json=body).status_code == code, body
    assert cloud.client.put(f"{C}/os-hosts/nope", headers=admin,
                            json={"status": "enable"}).status_code == 404
    r = cloud.client.put(f"{C}/os-hosts/{name}", headers=admin, json={"status": "disable"})
    assert r.json() == {"host": name, "status": "disabled"}
    svcs = cloud.client.get(f"{C}/os-services?host={name}", headers=admin).json()["services"]
    assert svcs[0]["status"] == "disabled"
    cloud.client.put(f"{C}/os-hosts/{name}", headers=admin, json={"status": "enable"})
    assert cloud.client.get(f"{C}/os-hosts/nope/reboot", headers=admin).status_code == 404
    assert cloud.client.get(f"{C}/os-hosts/{name}/reboot", headers=admin).status_code == 501
    assert cloud.client.get(f"{C}/os-hosts/{name}/startup",
                            headers=u["headers"]).status_code == 403


def test_reset_state_inject_network_info_and_migrate(cloud: Cloud) -> None:
    admin = cloud.admin()
    u = cloud.make_project_user()
    sid = boot(cloud, u["headers"]).json()["server"]["id"]
    wait_status(cloud, u["headers"], sid, "ACTIVE")
    before = wait_status(cloud, admin, sid, "ACTIVE")
    act = f"{C}/servers/{sid}/action"
    for body in ({"os-resetState": {"state": "error"}}, {"injectNetworkInfo": None},
                 {"migrate": None}):
        assert cloud.client.post(act, headers=u["headers"], json=body).status_code == 403
    r = cloud.client.post(act, headers=admin, json={"os-resetState": {"state": "error"}})
    assert r.status_code == 202, r.text
    assert wait_status(cloud, admin, sid, "ERROR")["status"] == "ERROR"
    assert cloud.client.post(act, headers=admin, json={
        "os-resetState": {"state": "bogus"}}).status_code == 400
    assert cloud.client.post(f"{C}/servers/00000000-0000-0000-0000-000000000000/action",
                             headers=admin, json={"os-resetState": {"state": "active"}}
                             ).status_code == 404
    cloud.client.post(act, headers=admin, json={"os-resetState": {"state": "active"}})
    wait_status(cloud, admin, sid, "ACTIVE")
    assert cloud.client.post(act, headers=admin,
                             json={"injectNetworkInfo": None}).status_code == 202
    # a cold migration: the same flavor on the other host, then confirmed
    r = cloud.client.post(act, headers=admin, json={"migrate": None})
    assert r.status_code == 202, r.text
    moved = wait_status(cloud, admin, sid, "VERIFY_RESIZE")
    assert {moved["OS-EXT-SRV-ATTR:host"], before["OS-EXT-SRV-ATTR:host"]} == {"ha", "hb"}
    assert moved["flavor"] == before["flavor"]
    migs = cloud.client.get(f"{C}/os-migrations", headers=admin,
                            params={"instance_uuid": sid}).json()["migrations"]
    assert [(x["status"], x["source_compute"], x["dest_compute"]) for x in migs] == \
        [("finished", before["OS-EXT-SRV-ATTR:host"], moved["OS-EXT-SRV-ATTR:host"])]
    assert migs[0]["old_instance_type_id"] == migs[0]["new_instance_type_id"] == 1
    typed = cloud.client.get(f"{C}/os-migrations", headers=h(admin, "2.23"),
                             params={"instance_uuid": sid}).json()["migrations"]
    assert typed[0]["migration_type"] == "migration"
    assert "links" not in typed[0]  # Nova links only live migrations in progress
    assert cloud.client.get(f"{C}/os-migrations", headers=u["headers"]).status_code == 403
    r = cloud.client.post(act, headers=admin, json={"confirmResize": None})
    assert r.status_code == 204, r.text
    migs = cloud.client.get(f"{C}/os-migrations", headers=admin,
                            params={"instance_uuid": sid}).json()["migrations"]
    assert [x["status"] for x in migs] == ["confirmed"]
    assert wait_status(cloud, admin, sid, "ACTIVE")["status"] == "ACTIVE"
    actions = cloud.client.get(f"{C}/servers/{sid}/os-instance-actions", headers=admin)
    assert {"migrate", "injectNetworkInfo"} <= {a["action"] for a in
                                                actions.json()["instanceActions"]}


def test_extensions_and_the_v2_0_version_document(cloud: Cloud) -> None:
    """The root document lists v2.0 with a self link to /v2/, which answered 404."""
    u = cloud.make_project_user()
    exts = cloud.client.get(f"{C}/extensions", headers=u["headers"]).json()["extensions"]
    assert {"Hosts", "SecurityGroups", "FloatingIps"} <= {e["name"] for e in exts}
    r = cloud.client.get(f"{C}/extensions/os-consoles", headers=u["headers"])
    assert r.json()["extension"]["alias"] == "os-consoles"
    assert cloud.client.get(f"{C}/extensions/nope", headers=u["headers"]).status_code == 404
    listed = cloud.client.get("/compute/").json()["versions"]
    for v in listed:
        (self_link,) = [x for x in v["links"] if x["rel"] == "self"]
        path = self_link["href"].split("/compute", 1)[1]
        r = cloud.client.get(f"/compute{path}", headers=u["headers"])
        assert r.status_code == 200, path
        doc = r.json()["version"]
        assert doc["id"] == v["id"] and self_link in doc["links"]


def test_aggregates_drive_zones_and_placement(cloud: Cloud) -> None:
    admin = cloud.admin()
    u = cloud.make_project_user()
    A = f"{C}/os-aggregates"
    r = cloud.client.post(A, headers=admin, json={"aggregate": {"name": "fast",
                                                                "availability_zone": "az1"}})
    assert r.status_code == 200, r.text
    agg = r.json()["aggregate"]
    assert set(agg) == {"id", "name", "availability_zone", "created_at", "updated_at",
                        "deleted", "deleted_at"}
    aid = agg["id"]
    assert cloud.client.post(A, headers=admin, json={"aggregate": {
        "name": "fast"}}).status_code == 409
    for bad in ("", "x" * 256):
        assert cloud.client.post(A, headers=admin, json={"aggregate": {
            "name": bad}}).status_code == 400
    assert cloud.client.post(A, headers=u["headers"], json={"aggregate": {
        "name": "mine"}}).status_code == 403
    assert cloud.client.get(f"{A}/999999", headers=admin).status_code == 404
    act = f"{A}/{aid}/action"
    r = cloud.client.post(act, headers=admin, json={"add_host": {"host": "ha"}})
    assert r.status_code == 200, r.text
    shown = r.json()["aggregate"]
    assert shown["hosts"] == ["ha"] and shown["metadata"] == {"availability_zone": "az1"}
    assert cloud.client.post(act, headers=admin, json={
        "add_host": {"host": "ha"}}).status_code == 409
    assert cloud.client.post(act, headers=admin, json={
        "add_host": {"host": "nohost"}}).status_code == 404
    assert cloud.client.post(act, headers=admin, json={
        "remove_host": {"host": "hb"}}).status_code == 404
    # the zone is the host's, for the zone list and Placement has the aggregate
    zones = cloud.client.get(f"{C}/os-availability-zone", headers=u["headers"]).json()
    assert {z["zoneName"] for z in zones["availabilityZoneInfo"]} == {"az1", "nova"}
    rp = cloud.app.state.placement
    from overcast.compute.hosts import provider_uuid
    assert rp.provider_aggregates(provider_uuid("ha"))[1] == [
        cloud.client.get(f"{A}/{aid}", headers=h(admin, "2.41")).json()["aggregate"]["uuid"]]
    r = cloud.client.post(act, headers=admin, json={"set_metadata": {"metadata": {
        "ssd": "true", "availability_zone": None}}})
    assert r.json()["aggregate"]["metadata"] == {"ssd": "true"}
    zones = cloud.client.get(f"{C}/os-availability-zone", headers=u["headers"]).json()
    assert {z["zoneName"] for z in zones["availabilityZoneInfo"]} == {"nova"}
    r = cloud.client.put(f"{A}/{aid}", headers=admin, json={"aggregate": {"name": "faster"}})
    assert r.json()["aggregate"]["name"] == "faster" and r.json()["aggregate"]["updated_at"]
    assert cloud.client.delete(f"{A}/{aid}", headers=admin).status_code == 400  # has hosts
    cloud.client.post(act, headers=admin, json={"remove_host": {"host": "ha"}})
    assert rp.provider_aggregates(provider_uuid("ha"))[1] == []
    assert cloud.client.delete(f"{A}/{aid}", headers=admin).status_code == 200
    assert cloud.client.get(A, headers=admin).json()["aggregates"] == []


def test_simple_tenant_usage(cloud: Cloud) -> None:
    import datetime as dt

    admin = cloud.admin()
    u, other = cloud.make_project_user(), cloud.make_project_user()
    sid = boot(cloud, u["headers"]).json()["server"]["id"]
    wait_status(cloud, u["headers"], sid, "ACTIVE")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    q = {"start": (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%f"),
         "end": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")}
    U = f"{C}/os-simple-tenant-usage"
    r = cloud.client.get(U, headers=admin, params={**q, "detailed": "1"})
    assert r.status_code == 200, r.text
    mine = next(x for x in r.json()["tenant_usages"] if x["tenant_id"] == u["project_id"])
    (srv,) = mine["server_usages"]
    assert (srv["instance_id"], srv["vcpus"], srv["memory_mb"], srv["flavor"]) == \
        (sid, 1, 512, "m1.tiny")
    assert mine["total_hours"] > 0 and srv["ended_at"] is None
    r = cloud.client.get(f"{U}/{u['project_id']}", headers=u["headers"], params=q)
    assert r.json()["tenant_usage"]["server_usages"][0]["instance_id"] == sid
    assert cloud.client.get(f"{U}/{u['project_id']}", headers=other["headers"],
                            params=q).status_code == 403
    assert cloud.client.get(U, headers=u["headers"], params=q).status_code == 403
    for bad in ({"start": "yesterday"}, {"start": q["end"], "end": q["start"]}):
        assert cloud.client.get(U, headers=admin, params=bad).status_code == 400, bad
    empty = cloud.client.get(f"{U}/{other['project_id']}", headers=other["headers"],
                             params=q).json()["tenant_usage"]
    assert empty["server_usages"] == [] and empty["total_hours"] == 0


def test_the_default_quota_class_is_every_projects_default(cloud: Cloud) -> None:
    admin = cloud.admin()
    u = cloud.make_project_user()
    Q = f"{C}/os-quota-class-sets/default"
    body = cloud.client.get(Q, headers=admin).json()["quota_class_set"]
    assert body.pop("id") == "default" and "server_groups" not in body
    assert body["instances"] == 10 and body["security_groups"] == -1
    assert cloud.client.get(Q, headers=u["headers"]).status_code == 403
    r = cloud.client.put(Q, headers=admin, json={"quota_class_set": {"instances": 12,
                                                                     "cores": 30}})
    assert r.status_code == 200, r.text
    assert r.json()["quota_class_set"]["instances"] == 12
    try:
        mine = cloud.client.get(f"{C}/os-quota-sets/{u['project_id']}",
                                headers=u["headers"]).json()["quota_set"]
        assert (mine["instances"], mine["cores"]) == (12, 30)
        defaults = cloud.client.get(f"{C}/os-quota-sets/{u['project_id']}/defaults",
                                    headers=u["headers"]).json()["quota_set"]
        assert defaults["instances"] == 12
        # below 2.50 Nova takes the server-group quotas (its schema is the quota
        # sets') but leaves them out of the reply (the Pike spec fixing that is 2.50)
        r = cloud.client.put(Q, headers=admin, json={"quota_class_set": {
            "server_groups": 11}})
        assert r.status_code == 200 and "server_groups" not in r.json()["quota_class_set"]
        at_250 = {**admin, "X-OpenStack-Nova-API-Version": "2.50"}
        assert cloud.client.get(Q, headers=at_250).json()["quota_class_set"][
            "server_groups"] == 11
    finally:
        cloud.client.put(Q, headers=admin, json={"quota_class_set": {
            "instances": 10, "cores": 20, "server_groups": 10}})


def test_hypervisor_search_servers_and_the_usage_audit_log(cloud: Cloud) -> None:
    admin = cloud.admin()
    u = cloud.make_project_user()
    sid = boot(cloud, u["headers"]).json()["server"]["id"]
    host = wait_status(cloud, admin, sid, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    hv = cloud.client.get(f"{C}/os-hypervisors/h/search", headers=admin).json()
    assert {x["hypervisor_hostname"] for x in hv["hypervisors"]} == {"ha", "hb"}
    assert cloud.client.get(f"{C}/os-hypervisors/zz/search", headers=admin).status_code == 404
    r = cloud.client.get(f"{C}/os-hypervisors/{host}/servers", headers=admin)
    (mine,) = r.json()["hypervisors"]
    assert {"uuid": sid, "name": "vm"} in mine["servers"]
    assert cloud.client.get(f"{C}/os-hypervisors/{host}/servers",
                            headers=u["headers"]).status_code == 403
    # the uptime is asked of the host (heartbeats do not carry it: it changes every
    # second, and a heartbeat that always differed rewrote the host's row each time)
    hid = mine["id"]
    up = cloud.client.get(f"{C}/os-hypervisors/{hid}/uptime", headers=admin)
    assert up.status_code == 200, up.text
    assert " up " in up.json()["hypervisor"]["uptime"] and "load average" in \
        up.json()["hypervisor"]["uptime"]
    # gone from 2.53 (406 while the API's maximum is below it)
    assert cloud.client.get(f"{C}/os-hypervisors/{host}/search",
                            headers=h(admin, "2.53")).status_code in (404, 406)
    log = cloud.client.get(f"{C}/os-instance_usage_audit_log", headers=admin).json()[
        "instance_usage_audit_logs"]
    assert log["hosts_not_run"] == ["ha", "hb"] and log["num_hosts_done"] == 0
    r = cloud.client.get(f"{C}/os-instance_usage_audit_log/2026-03-15 10:00:00",
                         headers=admin)
    one = r.json()["instance_usage_audit_log"]
    assert (one["period_beginning"], one["period_ending"]) == \
        ("2026-02-01 00:00:00", "2026-03-01 00:00:00")
    assert cloud.client.get(f"{C}/os-instance_usage_audit_log/invalid_time",
                            headers=admin).status_code == 400
    assert cloud.client.get(f"{C}/os-instance_usage_audit_log",
                            headers=u["headers"]).status_code == 403


def test_a_snapshots_metadata_from_the_caller_wins(cloud: Cloud) -> None:
    """createImage with metadata {"image_type": "test"} made an image whose
    image_type was "snapshot": the caller's properties must override the ones compute
    sets, as Nova's do (Tempest's test_create_delete_image)."""
    u = cloud.make_project_user()
    sid = boot(cloud, u["headers"]).json()["server"]["id"]
    wait_status(cloud, u["headers"], sid, "ACTIVE")
    r = cloud.client.post(f"{C}/servers/{sid}/action", headers=h(u["headers"], "2.45"),
                          json={"createImage": {"name": "snap",
                                                "metadata": {"image_type": "test"}}})
    assert r.status_code == 202, r.text
    image = cloud.client.get(f"{C}/images/{r.json()['image_id']}",
                             headers=u["headers"]).json()["image"]
    assert image["metadata"]["image_type"] == "test"
    assert image["metadata"]["instance_uuid"] == sid
    wait_status(cloud, u["headers"], sid, "ACTIVE")


def test_usage_with_an_empty_project_id_is_404(cloud: Cloud) -> None:
    """GET /os-simple-tenant-usage/ (an empty project id) answered the admin list."""
    r = cloud.client.get(f"{C}/os-simple-tenant-usage/", headers=cloud.admin())
    assert r.status_code == 404


def test_diagnostics_are_admin_only(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    sid = boot(cloud, u["headers"]).json()["server"]["id"]
    wait_status(cloud, u["headers"], sid, "ACTIVE")
    url = f"{C}/servers/{sid}/diagnostics"
    assert cloud.client.get(url, headers=u["headers"]).status_code == 403
    r = cloud.client.get(url, headers=cloud.admin())
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "running" and r.json()["driver"] == "fake"
    assert r.json()["num_cpus"] == 1 and r.json()["memory_details"] == {"maximum": 512}
    assert cloud.client.get(f"{C}/servers/00000000-0000-0000-0000-000000000000/diagnostics",
                            headers=cloud.admin()).status_code == 404
