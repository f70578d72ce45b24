"""Compute microversions above 2.47, each at its version and just below it.

One test (or a few) per version, in version order; each says what the version
changes and checks the reply on both sides of the gate, as Tempest does with its
per-microversion response schemas.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.compute.metadata import meta_data
from overcast.compute.models import Instance
from tests.api.test_compute import C, add_agents, boot, h, server, wait, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import IMAGE, add_image


@pytest.fixture(scope="module")
def nova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("microversions"))
    cloud = next(gen)
    cloud.app.state.local_agents = []
    add_agents(cloud, ["mv1", "mv2"])
    add_image(cloud.client, cloud.admin())
    try:
        yield cloud
    finally:
        gen.close()


def get(cloud: Cloud, path: str, headers: dict[str, str], version: str) -> Any:
    return cloud.client.get(f"{C}{path}", headers=h(headers, version))


def active_server(cloud: Cloud, headers: dict[str, str], **extra: Any) -> str:
    r = boot(cloud, headers, **extra)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    wait_status(cloud, headers, sid, "ACTIVE")
    return sid


def volume(cloud: Cloud, headers: dict[str, str]) -> str:
    """A new available 1 GiB volume of the caller's project."""
    path = f"/volume/v3/{cloud.project_of(headers)}/volumes"
    r = cloud.client.post(path, headers=headers, json={"volume": {"size": 1}})
    assert r.status_code == 202, r.text
    vid = str(r.json()["volume"]["id"])
    wait(lambda: cloud.client.get(f"{path}/{vid}", headers=headers
                                  ).json()["volume"]["status"] == "available", 60)
    return vid


# ------------------------------------------------------------------ 2.48
def test_2_48_diagnostics_in_the_standard_format(nova: Cloud) -> None:
    """2.48: diagnostics have Nova's standard fields; before, the driver's blob."""
    u = nova.make_project_user()
    sid = active_server(nova, u["headers"])
    assert get(nova, f"/servers/{sid}/diagnostics", u["headers"], "2.48").status_code == 403
    old = get(nova, f"/servers/{sid}/diagnostics", nova.admin(), "2.47")
    assert old.status_code == 200, old.text
    assert old.json()["state"] == "running" and old.json()["driver"] == "fake"
    assert old.json()["memory_details"] == {"maximum": 512} and "nic_details" not in old.json()
    r = get(nova, f"/servers/{sid}/diagnostics", nova.admin(), "2.48")
    assert r.status_code == 200, r.text
    d = r.json()
    assert set(d) == {"state", "driver", "hypervisor", "hypervisor_os", "uptime",
                      "config_drive", "num_cpus", "num_nics", "num_disks",
                      "memory_details", "cpu_details", "nic_details", "disk_details"}
    assert d["state"] == "running" and d["driver"] == "libvirt"
    assert d["hypervisor"] == "fake" and d["config_drive"] is False
    assert d["num_cpus"] == 1 and len(d["cpu_details"]) == 1
    assert d["memory_details"] == {"maximum": 512, "used": None}
    assert d["num_nics"] == 0 and d["nic_details"] == []
    assert d["num_disks"] == 1 and d["disk_details"] == [
        {"read_bytes": None, "read_requests": None, "write_bytes": None,
         "write_requests": None, "errors_count": None}]
    assert isinstance(d["uptime"], int) and d["uptime"] >= 0
    missing = get(nova, "/servers/6b2a3c1e-0000-4000-8000-000000000000/diagnostics",
                  nova.admin(), "2.48")
    assert missing.status_code == 404


# ------------------------------------------------------------------ 2.49
def test_2_49_tagged_volume_attach(nova: Cloud) -> None:
    """2.49: a volume attach may carry a device tag (kept on the mapping, as a
    create's tags are); before 2.49 the schema refuses the field."""
    u = nova.make_project_user()
    hd = u["headers"]
    sid = active_server(nova, hd)
    vid = volume(nova, hd)
    path = f"{C}/servers/{sid}/os-volume_attachments"
    body = {"volumeAttachment": {"volumeId": vid, "tag": "data"}}
    r = nova.client.post(path, headers=h(hd, "2.48"), json=body)
    assert r.status_code == 400 and "tag" in r.json()["badRequest"]["message"]
    bad = {"volumeAttachment": {"volumeId": vid, "tag": "a/b"}}
    assert nova.client.post(path, headers=h(hd, "2.49"), json=bad).status_code == 400
    r = nova.client.post(path, headers=h(hd, "2.49"), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["volumeAttachment"]["volumeId"] == vid
    rows = nova.app.state.compute.volumes_attached([sid])[sid]
    assert [(b.volume_id, b.tag) for b in rows] == [(vid, "data")]


# ------------------------------------------------------------------ 2.50
NETWORK_QUOTAS = {"floating_ips", "fixed_ips", "security_groups", "security_group_rules"}
GROUP_QUOTAS = {"server_groups", "server_group_members"}


def test_2_50_quota_classes_show_server_groups_not_network_quotas(nova: Cloud) -> None:
    """2.50: a quota class shows server_groups/server_group_members and no longer the
    network quotas; the `default` class is what every project starts from."""
    u = nova.make_project_user()
    path = "/os-quota-class-sets/default"
    assert get(nova, path, u["headers"], "2.50").status_code == 403
    old = get(nova, path, nova.admin(), "2.49").json()["quota_class_set"]
    assert old["id"] == "default" and set(old) >= NETWORK_QUOTAS
    assert not GROUP_QUOTAS & set(old)
    new = get(nova, path, nova.admin(), "2.50").json()["quota_class_set"]
    assert set(new) >= GROUP_QUOTAS and not NETWORK_QUOTAS & set(new)
    r = nova.client.put(f"{C}{path}", headers=h(nova.admin(), "2.50"),
                        json={"quota_class_set": {"floating_ips": 5}})
    assert r.status_code == 400
    r = nova.client.put(f"{C}{path}", headers=h(nova.admin(), "2.50"),
                        json={"quota_class_set": {"instances": 33, "server_groups": 7}})
    assert r.status_code == 200, r.text
    body = r.json()["quota_class_set"]
    assert "id" not in body and body["instances"] == 33 and body["server_groups"] == 7
    try:
        project = nova.project_of(u["headers"])
        quotas = get(nova, f"/os-quota-sets/{project}", u["headers"], "2.50").json()
        assert quotas["quota_set"]["instances"] == 33
        defaults = get(nova, f"/os-quota-sets/{project}/defaults", u["headers"], "2.50")
        assert defaults.json()["quota_set"]["server_groups"] == 7
        # another class is kept, and applies to no project
        r = nova.client.put(f"{C}/os-quota-class-sets/gold", headers=h(nova.admin(), "2.49"),
                            json={"quota_class_set": {"cores": 99, "floating_ips": 3}})
        assert r.status_code == 200 and r.json()["quota_class_set"]["floating_ips"] == 3
        gold = get(nova, "/os-quota-class-sets/gold", nova.admin(), "2.50").json()
        assert gold["quota_class_set"]["cores"] == 99
        assert get(nova, f"/os-quota-sets/{project}", u["headers"], "2.50"
                   ).json()["quota_set"]["cores"] == 20
    finally:
        nova.client.put(f"{C}{path}", headers=h(nova.admin(), "2.50"), json={
            "quota_class_set": {"instances": 10, "server_groups": 10}})


# ------------------------------------------------------------------ 2.51
def test_2_51_action_events_for_everyone_and_volume_extended(nova: Cloud) -> None:
    """2.51: an instance action's events are shown to its owner too (the traceback
    stays admin-only), and os-server-external-events takes `volume-extended`."""
    u = nova.make_project_user()
    hd = u["headers"]
    sid = active_server(nova, hd)
    actions = get(nova, f"/servers/{sid}/os-instance-actions", hd, "2.51").json()
    req = actions["instanceActions"][0]["request_id"]
    path = f"/servers/{sid}/os-instance-actions/{req}"
    assert "events" not in get(nova, path, hd, "2.50").json()["instanceAction"]
    events = get(nova, path, hd, "2.51").json()["instanceAction"]["events"]
    assert events and all("traceback" not in e for e in events)
    admin_events = get(nova, path, nova.admin(), "2.50").json()["instanceAction"]["events"]
    assert all("traceback" in e for e in admin_events)
    missing = "00000000-0000-4000-8000-000000000000"
    ev = {"events": [{"name": "volume-extended", "server_uuid": missing, "tag": missing}]}
    r = nova.client.post(f"{C}/os-server-external-events", headers=h(nova.admin(), "2.50"),
                         json=ev)
    assert r.status_code == 400, r.text
    r = nova.client.post(f"{C}/os-server-external-events", headers=h(nova.admin(), "2.51"),
                         json=ev)
    # 207 with the event's own 404 (Nova never answers 404 as a whole since bug 1855752)
    assert r.status_code == 207 and r.json()["events"][0]["code"] == 404


# ------------------------------------------------------------------ 2.52
def test_2_52_tags_at_create(nova: Cloud) -> None:
    """2.52: a server may be created with tags (refused by the schema before)."""
    hd = nova.make_project_user()["headers"]
    r = boot(nova, hd, version="2.51", tags=["a"])
    assert r.status_code == 400, r.text
    for bad in (["a/b"], ["x" * 61], [f"t{i}" for i in range(51)], "a"):
        assert boot(nova, hd, version="2.52", tags=bad).status_code == 400, bad
    r = boot(nova, hd, version="2.52", tags=["blue", "green", "blue"])
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    assert server(nova, hd, sid, "2.52")["tags"] == ["blue", "green"]
    assert "tags" not in server(nova, hd, sid, "2.25")


# ------------------------------------------------------------------ 2.53
def test_2_53_services_by_uuid(nova: Cloud) -> None:
    """2.53: services are named by UUID; PUT /os-services/{uuid} takes what changes
    and answers the whole service (the action paths are gone)."""
    adm = nova.admin()
    old = get(nova, "/os-services", adm, "2.52").json()["services"]
    assert all(isinstance(s["id"], int) for s in old)
    new = get(nova, "/os-services", adm, "2.53").json()["services"]
    svc = next(s for s in new if s["host"] == "mv1" and s["binary"] == "nova-compute")
    assert str(uuid.UUID(svc["id"])) == svc["id"]

    def put(ident: str, body: Any, version: str = "2.53") -> Any:
        return nova.client.put(f"{C}/os-services/{ident}", headers=h(adm, version), json=body)

    r = put("disable", {"host": "mv1", "binary": "nova-compute"})
    assert r.status_code == 400, r.text
    assert put(svc["id"], {}).status_code == 400
    assert put(svc["id"], {"disabled_reason": "x"}).status_code == 400
    assert put(svc["id"], {"status": "enabled", "disabled_reason": "x"}).status_code == 400
    assert put("6b2a3c1e-0000-4000-8000-000000000000", {"status": "enabled"}
               ).status_code == 404
    try:
        r = put(svc["id"], {"status": "disabled", "disabled_reason": "maintenance"})
        assert r.status_code == 200, r.text
        out = r.json()["service"]
        assert out["id"] == svc["id"] and out["status"] == "disabled"
        assert out["disabled_reason"] == "maintenance" and out["forced_down"] is False
        assert set(out) == set(svc)
    finally:
        r = put(svc["id"], {"status": "enabled"})
        assert r.status_code == 200 and r.json()["service"]["disabled_reason"] is None
    # the pre-2.53 form still works below it
    r = put("enable", {"host": "mv1", "binary": "nova-compute"}, "2.52")
    assert r.status_code == 200, r.text


def test_2_53_hypervisors_by_uuid_with_servers_and_paging(nova: Cloud) -> None:
    """2.53: hypervisors (and their service) are named by UUID, `with_servers` lists
    the servers on each, `hypervisor_hostname_pattern` filters, the paging marker is
    a UUID, and unknown query parameters are refused."""
    adm = nova.admin()
    sid = active_server(nova, adm)
    host = server(nova, adm, sid)["OS-EXT-SRV-ATTR:host"]
    assert all(isinstance(x["id"], int) for x in
               get(nova, "/os-hypervisors", adm, "2.52").json()["hypervisors"])
    detail = get(nova, "/os-hypervisors/detail", adm, "2.53").json()["hypervisors"]
    assert all(len(x["id"]) == 36 and x["service"]["id"] == x["id"] for x in detail)
    listed = get(nova, "/os-hypervisors?with_servers=true", adm, "2.53").json()
    mine = next(x for x in listed["hypervisors"] if x["hypervisor_hostname"] == host)
    assert {"name": "vm", "uuid": sid} in mine["servers"]
    assert "servers" not in get(nova, "/os-hypervisors", adm, "2.53").json()["hypervisors"][0]
    shown = get(nova, f"/os-hypervisors/{mine['id']}?with_servers=1", adm, "2.53").json()
    assert {"name": "vm", "uuid": sid} in shown["hypervisor"]["servers"]
    assert get(nova, "/os-hypervisors/1", adm, "2.53").status_code == 400
    assert get(nova, "/os-hypervisors/1", adm, "2.52").status_code == 200
    r = get(nova, "/os-hypervisors?hypervisor_hostname_pattern=mv2", adm, "2.53")
    assert [x["hypervisor_hostname"] for x in r.json()["hypervisors"]] == ["mv2"]
    r = get(nova, "/os-hypervisors?hypervisor_hostname_pattern=nowhere", adm, "2.53")
    assert r.status_code == 404
    r = get(nova, "/os-hypervisors?hypervisor_hostname_pattern=mv&limit=1", adm, "2.53")
    assert r.status_code == 400
    assert get(nova, "/os-hypervisors?bogus=1", adm, "2.53").status_code == 400
    assert get(nova, "/os-hypervisors?bogus=1", adm, "2.52").status_code == 200
    assert get(nova, "/os-hypervisors?with_servers=maybe", adm, "2.53").status_code == 400
    page = get(nova, "/os-hypervisors?limit=1", adm, "2.53").json()
    assert len(page["hypervisors"]) == 1 and page["hypervisors_links"][0]["rel"] == "next"
    first = page["hypervisors"][0]["id"]
    rest = get(nova, f"/os-hypervisors?marker={first}", adm, "2.53").json()["hypervisors"]
    assert first not in [x["id"] for x in rest] and rest
    assert get(nova, "/os-hypervisors?marker=nope", adm, "2.53").status_code == 400


# ------------------------------------------------------------------ 2.54
def test_2_54_key_pair_on_rebuild(nova: Cloud) -> None:
    """2.54: a rebuild may set the server's key pair (or, with null, remove it); the
    guest's metadata then carries the new key."""
    hd = nova.make_project_user()["headers"]
    keys = {}
    for name in ("k1", "k2"):
        r = nova.client.post(f"{C}/os-keypairs", headers=h(hd, "2.54"),
                             json={"keypair": {"name": name}})
        assert r.status_code == 201, r.text
        keys[name] = r.json()["keypair"]["public_key"]
    sid = active_server(nova, hd, key_name="k1")
    path = f"{C}/servers/{sid}/action"

    def rebuild(version: str, **extra: Any) -> Any:
        return nova.client.post(path, headers=h(hd, version), json={
            "rebuild": {"imageRef": IMAGE, **extra}})

    assert rebuild("2.53", key_name="k2").status_code == 400
    assert rebuild("2.54", key_name="nope").status_code == 400
    r = rebuild("2.54", key_name="k2")
    assert r.status_code == 202, r.text
    assert r.json()["server"]["key_name"] == "k2"
    wait_status(nova, hd, sid, "ACTIVE")
    with nova.app.state.db.session() as s:
        assert meta_data(s.get(Instance, sid))["public_keys"] == {"k2": keys["k2"]}
    r = rebuild("2.54", key_name=None)
    assert r.status_code == 202 and r.json()["server"]["key_name"] is None
    wait_status(nova, hd, sid, "ACTIVE")
    assert server(nova, hd, sid, "2.54")["key_name"] is None


# ------------------------------------------------------------------ 2.55
def test_2_55_flavor_description(nova: Cloud) -> None:
    """2.55: flavors have a description (shown in lists too), set at create and
    changed with PUT /flavors/{id}; neither exists below 2.55."""
    adm = nova.admin()
    body = {"flavor": {"name": "described", "ram": 64, "vcpus": 1, "disk": 0,
                       "description": "for tests"}}
    assert nova.client.post(f"{C}/flavors", headers=h(adm, "2.54"), json=body
                            ).status_code == 400
    r = nova.client.post(f"{C}/flavors", headers=h(adm, "2.55"), json=body)
    assert r.status_code == 200, r.text
    fid = r.json()["flavor"]["id"]
    assert r.json()["flavor"]["description"] == "for tests"
    assert "description" not in get(nova, f"/flavors/{fid}", adm, "2.54").json()["flavor"]
    listed = get(nova, "/flavors", adm, "2.55").json()["flavors"]
    assert {"id", "name", "links", "description"} == set(listed[0])
    assert next(f for f in listed if f["id"] == fid)["description"] == "for tests"
    put = {"flavor": {"description": "changed"}}
    r = nova.client.put(f"{C}/flavors/{fid}", headers=h(adm, "2.54"), json=put)
    assert r.status_code == 404
    hd = nova.make_project_user()["headers"]
    assert nova.client.put(f"{C}/flavors/{fid}", headers=h(hd, "2.55"), json=put
                           ).status_code == 403
    for bad in ({"flavor": {}}, {"flavor": {"description": "x", "name": "y"}},
                {"flavor": {"description": "x" * 65536}}):
        assert nova.client.put(f"{C}/flavors/{fid}", headers=h(adm, "2.55"), json=bad
                               ).status_code == 400, bad
    r = nova.client.put(f"{C}/flavors/{fid}", headers=h(adm, "2.55"), json=put)
    assert r.status_code == 200 and r.json()["flavor"]["description"] == "changed"
    assert get(nova, f"/flavors/{fid}", hd, "2.55").json()["flavor"]["description"] == \
        "changed"
    r = nova.client.put(f"{C}/flavors/{fid}", headers=h(adm, "2.55"),
                        json={"flavor": {"description": None}})
    assert r.status_code == 200 and r.json()["flavor"]["description"] is None
    assert nova.client.put(f"{C}/flavors/nope", headers=h(adm, "2.55"), json=put
                           ).status_code == 404
