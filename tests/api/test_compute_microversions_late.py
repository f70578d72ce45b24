"""Compute microversions from 2.56 on, each at its version and just below it (the
pattern of test_compute_microversions.py, which holds 2.48-2.55): one test per
version, in version order, on one shared two-host cloud (fake driver)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from overcast.compute.metadata import user_data_bytes
from overcast.compute.models import Instance
from tests.api.test_compute import C, add_agents, boot, h, server, wait, wait_status
from tests.api.test_compute_microversions import active_server, get, volume
from tests.conftest import Cloud, build_cloud
from tests.images import IMAGE, add_image


@pytest.fixture(scope="module")
def nova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("microversions_late"))
    cloud = next(gen)
    cloud.app.state.local_agents = []
    add_agents(cloud, ["late1", "late2"])
    add_image(cloud.client, cloud.admin())
    try:
        yield cloud
    finally:
        gen.close()


def act(cloud: Cloud, headers: dict[str, str], sid: str, body: dict[str, Any],
        version: str) -> Any:
    return cloud.client.post(f"{C}/servers/{sid}/action", headers=h(headers, version),
                             json=body)


# ------------------------------------------------------------------ 2.56
def test_2_56_cold_migration_to_a_named_host(nova: Cloud) -> None:
    """2.56: `migrate` takes a target `host`; Nova's 400s for the server's own host and
    an unknown one; below 2.56 the schema refuses the field."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    sid = active_server(nova, hd)
    here = server(nova, adm, sid, "2.56")["OS-EXT-SRV-ATTR:host"]
    there = ({"late1", "late2"} - {here}).pop()
    assert act(nova, adm, sid, {"migrate": {"host": there}}, "2.55").status_code == 400
    for bad in ({"host": here}, {"host": "nowhere"}, {"host": ""}, {"host": "a/b"},
                {"other": 1}):
        assert act(nova, adm, sid, {"migrate": bad}, "2.56").status_code == 400, bad
    assert act(nova, hd, sid, {"migrate": {"host": there}}, "2.56").status_code == 403
    r = act(nova, adm, sid, {"migrate": {"host": there}}, "2.56")
    assert r.status_code == 202, r.text
    moved = wait_status(nova, adm, sid, "VERIFY_RESIZE")
    assert moved["OS-EXT-SRV-ATTR:host"] == there
    assert act(nova, adm, sid, {"confirmResize": None}, "2.56").status_code == 204
    wait_status(nova, adm, sid, "ACTIVE")
    # null (and no host) still lets the scheduler choose
    assert act(nova, adm, sid, {"migrate": {"host": None}}, "2.56").status_code == 202
    assert wait_status(nova, adm, sid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"] == here
    assert act(nova, adm, sid, {"revertResize": None}, "2.56").status_code == 202
    wait_status(nova, adm, sid, "ACTIVE")
    assert get(nova, f"/servers/{sid}", adm, "2.56").status_code == 200


# ------------------------------------------------------------------ 2.57
def test_2_57_user_data_on_rebuild_and_no_personality(nova: Cloud) -> None:
    """2.57: rebuild takes `user_data` (null removes it; the reply shows it) and the
    metadata service serves the new one; personality files are refused at create and
    rebuild, and their quotas leave /limits, quota sets and quota classes."""
    u = nova.make_project_user()
    hd = u["headers"]
    files = [{"path": "/etc/motd", "contents": "aGk="}]
    r = boot(nova, hd, version="2.57", personality=files)
    assert r.status_code == 400, r.text
    sid = active_server(nova, hd, user_data="b2xk")

    def rebuild(version: str, **extra: Any) -> Any:
        return act(nova, hd, sid, {"rebuild": {"imageRef": IMAGE, **extra}}, version)

    assert rebuild("2.56", user_data="bmV3").status_code == 400
    assert rebuild("2.57", personality=files).status_code == 400
    assert rebuild("2.57", user_data="not base64!").status_code == 400
    assert rebuild("2.56", personality=files).status_code == 202
    wait_status(nova, hd, sid, "ACTIVE")
    r = rebuild("2.56")
    assert r.status_code == 202 and "user_data" not in r.json()["server"]
    wait_status(nova, hd, sid, "ACTIVE")
    r = rebuild("2.57", user_data="bmV3")
    assert r.status_code == 202, r.text
    assert r.json()["server"]["user_data"] == "bmV3"
    wait_status(nova, hd, sid, "ACTIVE")
    with nova.app.state.db.session() as s:
        assert user_data_bytes(s.get(Instance, sid).user_data) == b"new"
    r = rebuild("2.57")  # not given: kept
    assert r.status_code == 202 and r.json()["server"]["user_data"] == "bmV3"
    wait_status(nova, hd, sid, "ACTIVE")
    r = rebuild("2.57", user_data=None)
    assert r.status_code == 202 and r.json()["server"]["user_data"] is None
    wait_status(nova, hd, sid, "ACTIVE")
    assert server(nova, nova.admin(), sid, "2.57")["OS-EXT-SRV-ATTR:user_data"] is None

    files_quotas = {"injected_files", "injected_file_content_bytes",
                    "injected_file_path_bytes"}
    lim = get(nova, "/limits", hd, "2.56").json()["limits"]["absolute"]
    assert {"maxPersonality", "maxPersonalitySize"} <= set(lim)
    lim = get(nova, "/limits", hd, "2.57").json()["limits"]["absolute"]
    assert not {"maxPersonality", "maxPersonalitySize"} & set(lim)
    project = nova.project_of(hd)
    for path in (f"/os-quota-sets/{project}", f"/os-quota-sets/{project}/detail",
                 f"/os-quota-sets/{project}/defaults", "/os-quota-class-sets/default"):
        key = "quota_class_set" if "class" in path else "quota_set"
        old = get(nova, path, nova.admin(), "2.56").json()[key]
        assert files_quotas <= set(old), path
        new = get(nova, path, nova.admin(), "2.57").json()[key]
        assert not files_quotas & set(new) and "instances" in new, path
    for path, key in ((f"/os-quota-sets/{project}", "quota_set"),
                      ("/os-quota-class-sets/default", "quota_class_set")):
        r = nova.client.put(f"{C}{path}", headers=h(nova.admin(), "2.57"),
                            json={key: {"injected_files": 3}})
        assert r.status_code == 400, path
        r = nova.client.put(f"{C}{path}", headers=h(nova.admin(), "2.57"),
                            json={key: {"key_pairs": 100}})
        assert r.status_code == 200 and not files_quotas & set(r.json()[key]), r.text


# ------------------------------------------------------------------ 2.58
def test_2_58_instance_actions_paged_and_filtered(nova: Cloud) -> None:
    """2.58: a server's actions show `updated_at`, page by `limit` and `marker` (a
    request id; an unknown one is 400) with a `next` link on a full page, and filter
    by `changes-since`; below 2.58 the list is whole and the parameters ignored."""
    hd = nova.make_project_user()["headers"]
    sid = active_server(nova, hd)
    for body in ({"os-stop": None}, {"os-start": None}):
        assert act(nova, hd, sid, body, "2.58").status_code == 202
        wait_status(nova, hd, sid, "SHUTOFF" if "os-stop" in body else "ACTIVE")
    path = f"/servers/{sid}/os-instance-actions"
    old = get(nova, f"{path}?limit=1", hd, "2.57").json()
    assert [a["action"] for a in old["instanceActions"]] == ["start", "stop", "create"]
    assert "updated_at" not in old["instanceActions"][0] and "links" not in old
    whole = get(nova, path, hd, "2.58").json()
    assert [a["action"] for a in whole["instanceActions"]] == ["start", "stop", "create"]
    assert all(a["updated_at"] for a in whole["instanceActions"]) and "links" not in whole
    first = get(nova, f"{path}?limit=2", hd, "2.58").json()
    assert [a["action"] for a in first["instanceActions"]] == ["start", "stop"]
    marker = first["instanceActions"][-1]["request_id"]
    assert first["links"][0]["rel"] == "next" and f"marker={marker}" in \
        first["links"][0]["href"]
    rest = get(nova, f"{path}?limit=2&marker={marker}", hd, "2.58").json()
    assert [a["action"] for a in rest["instanceActions"]] == ["create"]
    assert "links" not in rest
    assert get(nova, f"{path}?marker=req-nope", hd, "2.58").status_code == 400
    assert get(nova, f"{path}?limit=-1", hd, "2.58").status_code == 400
    assert get(nova, f"{path}?foo=bar", hd, "2.58").status_code == 400
    assert get(nova, f"{path}?foo=bar", hd, "2.57").status_code == 200
    stop = whole["instanceActions"][1]["updated_at"]
    since = get(nova, f"{path}?changes-since={stop}", hd, "2.58").json()
    assert [a["action"] for a in since["instanceActions"]] == ["start", "stop"]
    assert get(nova, f"{path}?changes-since=yesterday", hd, "2.58").status_code == 400
    shown = get(nova, f"{path}/{marker}", hd, "2.58").json()["instanceAction"]
    assert shown["updated_at"] == whole["instanceActions"][1]["updated_at"]
    other = nova.make_project_user()["headers"]
    assert get(nova, path, other, "2.58").status_code == 404


# ------------------------------------------------------------------ 2.59
def test_2_59_migrations_paged_with_uuids(nova: Cloud) -> None:
    """2.59: os-migrations shows each move's `uuid`, pages by `limit`/`marker` (a
    migration uuid; an unknown one is 400) newest first with `migrations_links`, and
    filters by `changes-since`; below 2.59 none of it (and any query is taken)."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    sid = active_server(nova, hd)
    assert act(nova, adm, sid, {"migrate": None}, "2.59").status_code == 202
    wait_status(nova, adm, sid, "VERIFY_RESIZE")
    assert act(nova, adm, sid, {"confirmResize": None}, "2.59").status_code == 204
    wait_status(nova, adm, sid, "ACTIVE")
    assert act(nova, adm, sid, {"migrate": None}, "2.59").status_code == 202
    wait_status(nova, adm, sid, "VERIFY_RESIZE")
    path = f"/os-migrations?instance_uuid={sid}"
    old = get(nova, f"{path}&limit=1&foo=1", adm, "2.58").json()
    assert [x["status"] for x in old["migrations"]] == ["finished", "confirmed"]
    assert "uuid" not in old["migrations"][0] and "migrations_links" not in old
    whole = get(nova, path, adm, "2.59").json()["migrations"]
    assert [x["status"] for x in whole] == ["finished", "confirmed"]
    assert all(x["uuid"] for x in whole)
    first = get(nova, f"{path}&limit=1", adm, "2.59").json()
    assert [x["uuid"] for x in first["migrations"]] == [whole[0]["uuid"]]
    assert f"marker={whole[0]['uuid']}" in first["migrations_links"][0]["href"]
    rest = get(nova, f"{path}&limit=1&marker={whole[0]['uuid']}", adm, "2.59").json()
    assert [x["uuid"] for x in rest["migrations"]] == [whole[1]["uuid"]]
    finished = get(nova, f"{path}&status=finished&limit=1", adm, "2.59").json()
    assert [x["uuid"] for x in finished["migrations"]] == [whole[0]["uuid"]]
    assert get(nova, f"{path}&marker=nope", adm, "2.59").status_code == 400
    assert get(nova, f"{path}&foo=1", adm, "2.59").status_code == 400
    assert get(nova, f"{path}&limit=x", adm, "2.59").status_code == 400
    since = whole[1]["updated_at"]
    r = get(nova, f"{path}&changes-since={since}", adm, "2.59").json()["migrations"]
    assert whole[1]["uuid"] in [x["uuid"] for x in r]
    assert get(nova, f"{path}&changes-since=2999-01-01T00:00:00", adm, "2.59"
               ).json()["migrations"] == []
    assert act(nova, adm, sid, {"revertResize": None}, "2.59").status_code == 202
    wait_status(nova, adm, sid, "ACTIVE")


# ------------------------------------------------------------------ 2.60
def test_2_60_multiattach_volume_on_two_servers(nova: Cloud) -> None:
    """2.60: a multiattach volume attaches to two servers at once; below 2.60 it is
    refused at attach and at boot (400), while a plain volume still attaches."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    project = nova.project_of(hd)
    vt = nova.client.post(f"/volume/v3/{nova.project_of(adm)}/types", headers=adm, json={
        "volume_type": {"name": "shared-cmv", "extra_specs": {
            "multiattach": "<is> True"}}}).json()["volume_type"]
    vpath = f"/volume/v3/{project}/volumes"
    r = nova.client.post(vpath, headers=hd, json={"volume": {"size": 1,
                                                            "volume_type": vt["id"]}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    assert r.json()["volume"]["multiattach"] is True
    wait(lambda: nova.client.get(f"{vpath}/{vid}", headers=hd
                                 ).json()["volume"]["status"] == "available", 60)
    a, b = active_server(nova, hd), active_server(nova, hd)
    body = {"volumeAttachment": {"volumeId": vid}}
    r = nova.client.post(f"{C}/servers/{a}/os-volume_attachments", headers=h(hd, "2.59"),
                         json=body)
    assert r.status_code == 400 and "2.60" in r.text
    r = boot(nova, hd, version="2.59", block_device_mapping_v2=[{
        "uuid": vid, "source_type": "volume", "destination_type": "volume",
        "boot_index": 1}])
    assert r.status_code == 400 and "2.60" in r.text
    plain = volume(nova, hd)
    r = nova.client.post(f"{C}/servers/{a}/os-volume_attachments", headers=h(hd, "2.59"),
                         json={"volumeAttachment": {"volumeId": plain}})
    assert r.status_code == 200, r.text
    for sid in (a, b):
        r = nova.client.post(f"{C}/servers/{sid}/os-volume_attachments",
                             headers=h(hd, "2.60"), json=body)
        assert r.status_code == 200, r.text
    shown = nova.client.get(f"{vpath}/{vid}", headers=hd).json()["volume"]
    assert shown["status"] == "in-use"
    assert sorted(x["server_id"] for x in shown["attachments"]) == sorted([a, b])
    for sid in (a, b):
        assert vid in [x["volumeId"] for x in get(
            nova, f"/servers/{sid}/os-volume_attachments", hd, "2.60"
        ).json()["volumeAttachments"]]


# ------------------------------------------------------------------ 2.61
def test_2_61_flavor_extra_specs_in_flavor_views(nova: Cloud) -> None:
    """2.61: a flavor's extra_specs are in its views (show, detail list, create and
    update replies), for any project reader; never in the brief list."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    body = {"flavor": {"name": "specced", "ram": 64, "vcpus": 1, "disk": 0}}
    r = nova.client.post(f"{C}/flavors", headers=h(adm, "2.61"), json=body)
    assert r.status_code == 200 and r.json()["flavor"]["extra_specs"] == {}, r.text
    fid = r.json()["flavor"]["id"]
    r = nova.client.post(f"{C}/flavors/{fid}/os-extra_specs", headers=adm,
                         json={"extra_specs": {"hw:cpu_policy": "shared"}})
    assert r.status_code == 200, r.text
    assert "extra_specs" not in get(nova, f"/flavors/{fid}", hd, "2.60").json()["flavor"]
    shown = get(nova, f"/flavors/{fid}", hd, "2.61").json()["flavor"]
    assert shown["extra_specs"] == {"hw:cpu_policy": "shared"}
    listed = get(nova, "/flavors/detail", hd, "2.61").json()["flavors"]
    assert next(f for f in listed if f["id"] == fid)["extra_specs"] == \
        {"hw:cpu_policy": "shared"}
    assert all("extra_specs" not in f for f in get(nova, "/flavors", hd, "2.61"
                                                   ).json()["flavors"])
    assert all("extra_specs" not in f for f in get(nova, "/flavors/detail", hd, "2.60"
                                                   ).json()["flavors"])
    r = nova.client.put(f"{C}/flavors/{fid}", headers=h(adm, "2.61"),
                        json={"flavor": {"description": "d"}})
    assert r.status_code == 200 and r.json()["flavor"]["extra_specs"] == \
        {"hw:cpu_policy": "shared"}


# ------------------------------------------------------------------ 2.62
def test_2_62_action_events_name_their_host(nova: Cloud) -> None:
    """2.62: each action event shows the hashed `hostId` of the host it ran on (as
    the server's project sees it) to everyone, and the `host` itself to admins."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    sid = active_server(nova, hd)
    assert act(nova, hd, sid, {"os-stop": None}, "2.62").status_code == 202
    wait_status(nova, hd, sid, "SHUTOFF")
    host = server(nova, adm, sid, "2.62")["OS-EXT-SRV-ATTR:host"]
    host_id = server(nova, hd, sid, "2.62")["hostId"]
    actions = get(nova, f"/servers/{sid}/os-instance-actions", hd, "2.62").json()
    for a in actions["instanceActions"]:
        path = f"/servers/{sid}/os-instance-actions/{a['request_id']}"
        old = get(nova, path, hd, "2.61").json()["instanceAction"]["events"]
        assert old and all("hostId" not in e and "host" not in e for e in old)
        mine = get(nova, path, hd, "2.62").json()["instanceAction"]["events"]
        assert mine and all(e["hostId"] == host_id and "host" not in e for e in mine)
        theirs = get(nova, path, adm, "2.62").json()["instanceAction"]["events"]
        assert all(e["host"] == host and e["hostId"] == host_id for e in theirs)


# ------------------------------------------------------------------ 2.63
def test_2_63_trusted_image_certificates(nova: Cloud) -> None:
    """2.63: trusted_image_certificates at create and rebuild (null clears them),
    shown in the server's views and the rebuild reply; refused for a boot from
    volume; unknown below 2.63."""
    hd = nova.make_project_user()["headers"]
    certs = ["cert-a", "cert-b"]
    assert boot(nova, hd, version="2.62", trusted_image_certificates=certs
                ).status_code == 400
    for bad in ([], ["x"] * 2, [""], "cert", ["c"] * 51):
        assert boot(nova, hd, version="2.63", trusted_image_certificates=bad
                    ).status_code == 400, bad
    r = boot(nova, hd, version="2.63", imageRef="", trusted_image_certificates=certs,
             block_device_mapping_v2=[{"uuid": volume(nova, hd), "source_type": "volume",
                                       "destination_type": "volume", "boot_index": 0}])
    assert r.status_code == 400 and "booting from volume" in r.text
    r = boot(nova, hd, version="2.63", trusted_image_certificates=certs)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_status(nova, hd, sid, "ACTIVE")
    assert "trusted_image_certificates" not in server(nova, hd, sid, "2.62")
    assert server(nova, hd, sid, "2.63")["trusted_image_certificates"] == certs
    listed = get(nova, "/servers/detail", hd, "2.63").json()["servers"]
    assert next(s for s in listed if s["id"] == sid)["trusted_image_certificates"] == certs
    plain = active_server(nova, hd)
    assert server(nova, hd, plain, "2.63")["trusted_image_certificates"] is None

    def rebuild(version: str, **extra: Any) -> Any:
        return act(nova, hd, sid, {"rebuild": {"imageRef": IMAGE, **extra}}, version)

    assert rebuild("2.62", trusted_image_certificates=["c"]).status_code == 400
    r = rebuild("2.63")  # not given: kept
    assert r.status_code == 202 and r.json()["server"]["trusted_image_certificates"] == \
        certs
    wait_status(nova, hd, sid, "ACTIVE")
    r = rebuild("2.63", trusted_image_certificates=["cert-c"])
    assert r.status_code == 202 and r.json()["server"]["trusted_image_certificates"] == \
        ["cert-c"]
    wait_status(nova, hd, sid, "ACTIVE")
    r = rebuild("2.63", trusted_image_certificates=None)
    assert r.status_code == 202 and r.json()["server"]["trusted_image_certificates"] is None
    wait_status(nova, hd, sid, "ACTIVE")
    assert server(nova, hd, sid, "2.63")["trusted_image_certificates"] is None


# ------------------------------------------------------------------ 2.64
def test_2_64_server_group_policy_and_rules(nova: Cloud) -> None:
    """2.64: a server group has one `policy` and `rules` (max_server_per_host, for
    anti-affinity only, honoured by the scheduler) instead of `policies` and
    `metadata`."""
    hd = nova.make_project_user()["headers"]
    path = f"{C}/os-server-groups"

    def create(version: str, **group: Any) -> Any:
        return nova.client.post(path, headers=h(hd, version),
                                json={"server_group": {"name": "g", **group}})

    assert create("2.63", policy="anti-affinity").status_code == 400
    assert create("2.64", policies=["anti-affinity"]).status_code == 400
    assert create("2.64", policy="affinity", rules={"max_server_per_host": 2}
                  ).status_code == 400
    for bad in ({"max_server_per_host": 0}, {"other": 1}, {"max_server_per_host": "x"}):
        assert create("2.64", policy="anti-affinity", rules=bad).status_code == 400, bad
    old = create("2.63", policies=["anti-affinity"]).json()["server_group"]
    assert old["policies"] == ["anti-affinity"] and old["metadata"] == {}
    r = create("2.64", policy="anti-affinity", rules={"max_server_per_host": "2"})
    assert r.status_code == 200, r.text
    two = r.json()["server_group"]
    assert two["policy"] == "anti-affinity" and two["rules"] == {"max_server_per_host": 2}
    assert "policies" not in two and "metadata" not in two
    shown = get(nova, f"/os-server-groups/{two['id']}", hd, "2.63").json()["server_group"]
    assert shown["policies"] == ["anti-affinity"] and "rules" not in shown
    listed = get(nova, "/os-server-groups", hd, "2.64").json()["server_groups"]
    assert {g["id"]: g.get("rules") for g in listed}[two["id"]] == {"max_server_per_host": 2}
    one = create("2.64", policy="anti-affinity").json()["server_group"]
    assert one["rules"] == {}

    def boot_in(group: str) -> str:
        r = nova.client.post(f"{C}/servers", headers=h(hd, "2.64"), json={
            "server": {"name": "g", "flavorRef": "1", "imageRef": IMAGE,
                       "networks": "none"}, "os:scheduler_hints": {"group": group}})
        assert r.status_code == 202, r.text
        return str(r.json()["server"]["id"])

    # two hosts: up to two members on each with the rule; one each without it
    placed = [boot_in(two["id"]) for _ in range(3)]
    hosts = [wait_status(nova, nova.admin(), sid, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
             for sid in placed]
    assert max(hosts.count(x) for x in hosts) == 2
    for _ in range(2):
        wait_status(nova, hd, boot_in(one["id"]), "ACTIVE")
    assert wait_status(nova, hd, boot_in(one["id"]), "ERROR")["status"] == "ERROR"


# ------------------------------------------------------------------ 2.66
def test_2_66_changes_before(nova: Cloud) -> None:
    """2.66: `changes-before` filters servers, a server's actions and migrations by
    last change (no earlier than changes-since: 400 otherwise); below 2.66 it is
    ignored on servers and migrations' old lists, and refused on 2.58's actions."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    sid = active_server(nova, hd)
    past, future = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
    ids = lambda r: [s["id"] for s in r.json()["servers"]]  # noqa: E731
    assert sid in ids(get(nova, f"/servers?changes-before={past}", hd, "2.65"))
    assert sid not in ids(get(nova, f"/servers?changes-before={past}", hd, "2.66"))
    assert sid in ids(get(nova, f"/servers?changes-before={future}", hd, "2.66"))
    assert sid in ids(get(nova, f"/servers/detail?changes-before={future}", hd, "2.66"))
    assert get(nova, f"/servers?changes-since={future}&changes-before={past}", hd, "2.66"
               ).status_code == 400
    assert get(nova, "/servers?changes-before=tomorrow", hd, "2.66").status_code == 400
    path = f"/servers/{sid}/os-instance-actions"
    assert get(nova, f"{path}?changes-before={past}", hd, "2.65").status_code == 400
    assert get(nova, f"{path}?changes-before={past}", hd, "2.66"
               ).json()["instanceActions"] == []
    assert len(get(nova, f"{path}?changes-before={future}", hd, "2.66"
                   ).json()["instanceActions"]) == 1
    assert get(nova, f"{path}?changes-since={future}&changes-before={past}", hd, "2.66"
               ).status_code == 400
    assert act(nova, adm, sid, {"migrate": None}, "2.66").status_code == 202
    wait_status(nova, adm, sid, "VERIFY_RESIZE")
    migs = f"/os-migrations?instance_uuid={sid}"
    assert get(nova, f"{migs}&changes-before={past}", adm, "2.59").status_code == 400
    assert get(nova, f"{migs}&changes-before={past}", adm, "2.66").json()["migrations"] == []
    assert len(get(nova, f"{migs}&changes-before={future}", adm, "2.66"
                   ).json()["migrations"]) == 1
    assert act(nova, adm, sid, {"revertResize": None}, "2.66").status_code == 202
    wait_status(nova, adm, sid, "ACTIVE")


# ------------------------------------------------------------------ 2.67
def test_2_67_volume_type_of_a_boot_volume(nova: Cloud) -> None:
    """2.67: a block_device_mapping_v2 item may name the `volume_type` (id or name)
    of the volume made for the server; unknown types and types for an existing
    volume or a local disk are 400s; below 2.67 the field is refused."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    vt = nova.client.post(f"/volume/v3/{nova.project_of(adm)}/types", headers=adm, json={
        "volume_type": {"name": "boot-cmv"}}).json()["volume_type"]

    def bfv(version: str, **item: Any) -> Any:
        bdm = {"uuid": IMAGE, "source_type": "image", "destination_type": "volume",
               "boot_index": 0, "volume_size": 1, **item}
        return boot(nova, hd, version=version, imageRef="",
                    block_device_mapping_v2=[bdm])

    assert bfv("2.66", volume_type="boot-cmv").status_code == 400
    r = bfv("2.67", volume_type="nope")
    assert r.status_code == 400 and "nope" in r.text
    assert bfv("2.67", volume_type="boot-cmv", source_type="volume",
               uuid=volume(nova, hd)).status_code == 400
    assert bfv("2.67", volume_type="boot-cmv", destination_type="local").status_code == 400
    r = bfv("2.67", volume_type=vt["id"])
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_status(nova, hd, sid, "ACTIVE")
    attached = server(nova, hd, sid, "2.67")["os-extended-volumes:volumes_attached"]
    vol = nova.client.get(f"/volume/v3/{nova.project_of(hd)}/volumes/{attached[0]['id']}",
                          headers=hd).json()["volume"]
    assert vol["volume_type"] == "boot-cmv"


# ------------------------------------------------------------------ 2.69
def test_2_69_answers_are_whole(nova: Cloud) -> None:
    """2.69: partial results when a cell is down; overcast has no cells, so a
    listing, a server and the services answer in full as at 2.68."""
    hd = nova.make_project_user()["headers"]
    sid = active_server(nova, hd)
    old, new = (get(nova, "/servers/detail", hd, v).json()["servers"] for v in ("2.68",
                                                                                "2.69"))
    assert [s["id"] for s in old] == [s["id"] for s in new] and sid in [s["id"] for s in new]
    assert set(new[0]) == set(old[0]) and new[0]["status"] == "ACTIVE"
    assert set(server(nova, hd, sid, "2.69")) == set(server(nova, hd, sid, "2.68"))
    services = get(nova, "/os-services", nova.admin(), "2.69").json()["services"]
    assert {s["host"] for s in services} >= {"late1", "late2"}
    assert all(s["status"] == "enabled" and s["state"] == "up" for s in services
               if s["host"] in ("late1", "late2"))


# ------------------------------------------------------------------ 2.70
def test_2_70_device_tags_of_interfaces_and_volumes(nova: Cloud) -> None:
    """2.70: os-interface and os-volume_attachments show each device's `tag` (null
    when it has none): a network's tag at create, an interface attach's and a volume
    attach's (2.49); below 2.70 there is no `tag` field."""
    hd = nova.make_project_user()["headers"]

    def make(path: str, key: str, **body: Any) -> dict[str, Any]:
        r = nova.client.post(f"/network/v2.0/{path}", headers=hd, json={key: body})
        assert r.status_code == 201, r.text
        return dict(r.json()[key])

    net = make("networks", "network", name="tagged")["id"]
    make("subnets", "subnet", network_id=net, ip_version=4, cidr="10.70.0.0/24")
    own = make("ports", "port", network_id=net)["id"]
    r = boot(nova, hd, version="2.70", networks=[{"uuid": net, "tag": "nic-a"},
                                                  {"port": own, "tag": "nic-b"},
                                                  {"uuid": net}])
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_status(nova, hd, sid, "ACTIVE")
    url = f"/servers/{sid}/os-interface"
    old = get(nova, url, hd, "2.69").json()["interfaceAttachments"]
    assert len(old) == 3 and all("tag" not in i for i in old)
    tags = {i["port_id"]: i["tag"] for i in get(nova, url, hd, "2.70").json()[
        "interfaceAttachments"]}
    assert tags[own] == "nic-b" and sorted(tags.values(), key=str) == \
        sorted(["nic-a", "nic-b", None], key=str)
    r = nova.client.post(f"{C}{url}", headers=h(hd, "2.48"), json={
        "interfaceAttachment": {"net_id": net, "tag": "x"}})
    assert r.status_code == 400
    r = nova.client.post(f"{C}{url}", headers=h(hd, "2.70"), json={
        "interfaceAttachment": {"net_id": net, "tag": "nic-c"}})
    assert r.status_code == 200 and r.json()["interfaceAttachment"]["tag"] == "nic-c", r.text
    pid = r.json()["interfaceAttachment"]["port_id"]
    assert get(nova, f"{url}/{pid}", hd, "2.70").json()["interfaceAttachment"]["tag"] == \
        "nic-c"
    assert "tag" not in get(nova, f"{url}/{pid}", hd, "2.69").json()["interfaceAttachment"]
    assert nova.client.delete(f"{C}{url}/{pid}", headers=hd).status_code == 202
    assert pid not in {i["port_id"] for i in get(nova, url, hd, "2.70").json()[
        "interfaceAttachments"]}

    vpath = f"/servers/{sid}/os-volume_attachments"
    vid, plain = volume(nova, hd), volume(nova, hd)
    r = nova.client.post(f"{C}{vpath}", headers=h(hd, "2.70"),
                         json={"volumeAttachment": {"volumeId": vid, "tag": "data"}})
    assert r.status_code == 200 and r.json()["volumeAttachment"]["tag"] == "data", r.text
    r = nova.client.post(f"{C}{vpath}", headers=h(hd, "2.69"),
                         json={"volumeAttachment": {"volumeId": plain}})
    assert r.status_code == 200 and "tag" not in r.json()["volumeAttachment"]
    listed = get(nova, vpath, hd, "2.70").json()["volumeAttachments"]
    assert {a["volumeId"]: a["tag"] for a in listed} == {vid: "data", plain: None}
    assert get(nova, f"{vpath}/{vid}", hd, "2.70").json()["volumeAttachment"]["tag"] == "data"
    assert all("tag" not in a for a in get(nova, vpath, hd, "2.69").json()[
        "volumeAttachments"])


# ------------------------------------------------------------------ 2.71
def test_2_71_server_groups_in_show_update_and_rebuild(nova: Cloud) -> None:
    """2.71: a server's show, update and rebuild views name its `server_groups` (an
    empty list for none); listings never do, nor any view below 2.71."""
    hd = nova.make_project_user()["headers"]
    gid = nova.client.post(f"{C}/os-server-groups", headers=h(hd, "2.71"), json={
        "server_group": {"name": "g71", "policy": "soft-affinity"}}).json()["server_group"]["id"]
    r = nova.client.post(f"{C}/servers", headers=h(hd, "2.71"), json={
        "server": {"name": "in-group", "flavorRef": "1", "imageRef": IMAGE,
                   "networks": "none"}, "os:scheduler_hints": {"group": gid}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_status(nova, hd, sid, "ACTIVE")
    alone = active_server(nova, hd)
    assert server(nova, hd, sid, "2.71")["server_groups"] == [gid]
    assert server(nova, hd, alone, "2.71")["server_groups"] == []
    assert "server_groups" not in server(nova, hd, sid, "2.70")
    r = nova.client.put(f"{C}/servers/{sid}", headers=h(hd, "2.71"),
                        json={"server": {"name": "renamed"}})
    assert r.status_code == 200 and r.json()["server"]["server_groups"] == [gid]
    r = act(nova, hd, sid, {"rebuild": {"imageRef": IMAGE}}, "2.71")
    assert r.status_code == 202 and r.json()["server"]["server_groups"] == [gid]
    wait_status(nova, hd, sid, "ACTIVE")
    listed = get(nova, "/servers/detail", hd, "2.71").json()["servers"]
    assert all("server_groups" not in s for s in listed)


# ------------------------------------------------------------------ 2.72
def test_2_72_ports_without_resource_requests_boot_as_before(nova: Cloud) -> None:
    """2.72: servers may boot with ports that carry resource requests (minimum
    bandwidth); overcast's ports never carry one, so a port boots alike at 2.71 and
    2.72 and has no `resource_request`."""
    hd = nova.make_project_user()["headers"]
    net = nova.client.post("/network/v2.0/networks", headers=hd,
                           json={"network": {"name": "n72"}}).json()["network"]["id"]
    nova.client.post("/network/v2.0/subnets", headers=hd, json={"subnet": {
        "network_id": net, "ip_version": 4, "cidr": "10.72.0.0/24"}})
    for version in ("2.71", "2.72"):
        port = nova.client.post("/network/v2.0/ports", headers=hd, json={
            "port": {"network_id": net}}).json()["port"]
        assert "resource_request" not in port
        r = boot(nova, hd, version=version, networks=[{"port": port["id"]}])
        assert r.status_code == 202, r.text
        wait_status(nova, hd, r.json()["server"]["id"], "ACTIVE")


# ------------------------------------------------------------------ 2.73
def test_2_73_lock_reason_and_locked_filter(nova: Cloud) -> None:
    """2.73: `lock` takes a `locked_reason`, shown as `locked_reason` in the server's
    views (null when none; unlock forgets it); servers filter and sort by `locked`."""
    hd = nova.make_project_user()["headers"]
    a, b = active_server(nova, hd), active_server(nova, hd)
    reason = {"lock": {"locked_reason": "maintenance"}}
    assert act(nova, hd, a, {"lock": {"locked_reason": ""}}, "2.73").status_code == 400
    assert act(nova, hd, a, {"lock": {"other": "x"}}, "2.73").status_code == 400
    assert act(nova, hd, a, reason, "2.73").status_code == 202
    assert server(nova, hd, a, "2.73")["locked_reason"] == "maintenance"
    assert "locked_reason" not in server(nova, hd, a, "2.72")
    assert server(nova, hd, b, "2.73")["locked_reason"] is None
    listed = {s["id"]: s for s in get(nova, "/servers/detail", hd, "2.73").json()["servers"]}
    assert listed[a]["locked_reason"] == "maintenance" and listed[a]["locked"] is True
    ids = lambda q, v: [s["id"] for s in get(nova, f"/servers?{q}", hd, v  # noqa: E731
                                               ).json()["servers"]]
    assert a in ids("locked=true", "2.73") and b not in ids("locked=true", "2.73")
    assert b in ids("locked=false", "2.73") and a not in ids("locked=0", "2.73")
    assert {a, b} <= set(ids("locked=true", "2.72"))  # ignored below 2.73
    assert get(nova, "/servers?locked=maybe", hd, "2.73").status_code == 400
    assert ids("sort_key=locked&sort_dir=desc", "2.73")[0] == a
    assert ids("sort_key=locked&sort_dir=asc", "2.73")[-1] == a
    assert act(nova, hd, a, {"unlock": None}, "2.73").status_code == 202
    assert server(nova, hd, a, "2.73")["locked_reason"] is None
    assert act(nova, hd, a, {"lock": None}, "2.73").status_code == 202
    body = server(nova, hd, a, "2.73")
    assert body["locked"] is True and body["locked_reason"] is None
    assert act(nova, hd, a, {"unlock": None}, "2.73").status_code == 202


# ------------------------------------------------------------------ 2.74
def test_2_74_host_and_hypervisor_hostname_at_create(nova: Cloud) -> None:
    """2.74: an admin may name the `host` and/or `hypervisor_hostname` a new server
    goes to (403 for others; 400 for an unknown one, or with "zone:host"); the
    fields are unknown below 2.74."""
    adm = nova.admin()
    hd = nova.make_project_user()["headers"]
    assert boot(nova, adm, version="2.73", host="late2").status_code == 400
    assert boot(nova, hd, version="2.74", host="late2").status_code == 403
    for bad in ({"host": "nowhere"}, {"hypervisor_hostname": "nowhere"},
                {"host": "late1", "hypervisor_hostname": "late2"},
                {"host": "late2", "availability_zone": "nova:late2"}, {"host": "a/b"}):
        assert boot(nova, adm, version="2.74", **bad).status_code == 400, bad
    for fields, where in (({"host": "late2"}, "late2"),
                          ({"hypervisor_hostname": "late1"}, "late1"),
                          ({"host": "late2", "hypervisor_hostname": "late2"}, "late2")):
        r = boot(nova, adm, version="2.74", **fields)
        assert r.status_code == 202, r.text
        body = wait_status(nova, adm, r.json()["server"]["id"], "ACTIVE")
        assert body["OS-EXT-SRV-ATTR:host"] == where
        assert body["OS-EXT-AZ:availability_zone"] == "nova"
