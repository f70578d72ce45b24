"""Server API details Tempest checks (issue 16, compute servers): the update and
rebuild replies' fields at 2.1, access addresses as Nova normalises them, the disk
config, the console's length, the server password, and a resize of a stopped server.
"""

from __future__ import annotations

from typing import Any

from tests.api.test_compute import (
    C,
    act,
    boot,
    h,
    nova,  # noqa: F401 - the module's cloud
    nova_error,
    server,
    wait_status,
)
from tests.conftest import Cloud
from tests.images import IMAGE

#: the fields of Nova's update/rebuild reply schema at 2.1 (fault, progress by state)
UPDATE_FIELDS_2_1 = {"accessIPv4", "accessIPv6", "addresses", "created", "flavor", "hostId",
                     "id", "image", "links", "metadata", "name", "status", "tenant_id",
                     "updated", "user_id", "OS-DCF:diskConfig", "progress", "fault"}


def _active(cloud: Cloud, hd: dict[str, str], name: str, **extra: Any) -> str:
    r = boot(cloud, hd, name, **extra)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    wait_status(cloud, hd, sid, "ACTIVE")
    return sid


def test_update_and_rebuild_replies_at_2_1_have_no_extended_attributes(nova: Cloud  # noqa: F811
                                                                       ) -> None:
    """At 2.1 (to 2.74) Nova's PUT and rebuild replies leave out the extended
    attributes a GET shows (OS-EXT-*, key_name, config_drive, ...); Tempest's strict
    2.1 schema refused overcast's, which carried them."""
    hd = nova.admin()
    sid = _active(nova, hd, "plain")
    r = nova.client.put(f"{C}/servers/{sid}", headers=hd, json={"server": {"name": "p2"}})
    assert r.status_code == 200, r.text
    body = r.json()["server"]
    assert set(body) <= UPDATE_FIELDS_2_1, set(body) - UPDATE_FIELDS_2_1
    assert body["name"] == "p2"
    r = nova.client.post(f"{C}/servers/{sid}/action", headers=hd,
                         json={"rebuild": {"imageRef": IMAGE, "adminPass": "s3cret!"}})
    assert r.status_code == 202, r.text
    body = r.json()["server"]
    assert set(body) <= UPDATE_FIELDS_2_1 | {"adminPass"}
    assert body["adminPass"] == "s3cret!" and body["status"] == "REBUILD"
    # a GET still shows them
    assert "OS-EXT-STS:vm_state" in server(nova, hd, sid, "2.1")


def test_access_ipv6_is_normalised_as_nova_stores_it(nova: Cloud) -> None:  # noqa: F811
    """Nova keeps access addresses in an IP column: `0000:0000:0000:0000:0000:babe:
    220.12.22.2` reads back as `::babe:dc0c:1602` (Tempest's test_verify_server_details);
    overcast returned it as sent."""
    hd = nova.admin()
    sid = _active(nova, hd, "ips", accessIPv4="1.1.1.1",
                  accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2")
    body = server(nova, hd, sid)
    assert (body["accessIPv4"], body["accessIPv6"]) == ("1.1.1.1", "::babe:dc0c:1602")
    r = nova.client.put(f"{C}/servers/{sid}", headers=hd,
                        json={"server": {"accessIPv6": "FE80:0:0:0:0:0:0:1"}})
    assert r.json()["server"]["accessIPv6"] == "fe80::1"
    r = nova.client.post(f"{C}/servers/{sid}/action", headers=hd, json={"rebuild": {
        "imageRef": IMAGE, "accessIPv4": "2.2.2.2"}})
    assert r.status_code == 202, r.text
    wait_status(nova, hd, sid, "ACTIVE")
    assert server(nova, hd, sid)["accessIPv4"] == "2.2.2.2"


def test_disk_config_on_create_update_rebuild_and_resize(nova: Cloud) -> None:  # noqa: F811
    """OS-DCF:diskConfig is kept as asked on create, update, rebuild and resize (it was
    always MANUAL)."""
    hd = nova.admin()
    r = boot(nova, hd, "dcf", **{"OS-DCF:diskConfig": "AUTO"})
    assert r.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    sid = r.json()["server"]["id"]
    assert wait_status(nova, hd, sid, "ACTIVE")["OS-DCF:diskConfig"] == "AUTO"
    r = nova.client.put(f"{C}/servers/{sid}", headers=hd,
                        json={"server": {"OS-DCF:diskConfig": "MANUAL"}})
    assert r.json()["server"]["OS-DCF:diskConfig"] == "MANUAL"
    r = act(nova, hd, sid, {"rebuild": {"imageRef": IMAGE, "OS-DCF:diskConfig": "AUTO"}})
    assert r.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    wait_status(nova, hd, sid, "ACTIVE")
    r = act(nova, hd, sid, {"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "MANUAL"}})
    assert r.status_code == 202, r.text
    assert wait_status(nova, hd, sid, "VERIFY_RESIZE")["OS-DCF:diskConfig"] == "MANUAL"
    r = act(nova, hd, sid, {"rebuild": {"imageRef": IMAGE, "OS-DCF:diskConfig": "BAD"}})
    assert r.status_code == 400


def test_console_output_length_is_exactly_that_many_lines(nova: Cloud) -> None:  # noqa: F811
    """`length` N gives exactly N lines (the reply splits at newlines into N pieces, as
    Nova's tail); no length gives the whole log, which grows as the guest runs; 0 gives
    nothing. The fake console had two lines, too few for Tempest's length 10."""
    hd = nova.admin()
    sid = _active(nova, hd, "console")

    def output(arg: dict[str, Any]) -> str:
        r = act(nova, hd, sid, {"os-getConsoleOutput": arg})
        assert r.status_code == 200, r.text
        return str(r.json()["output"])

    assert len(output({"length": 10}).split("\n")) == 10
    assert len(output({"length": "3"}).split("\n")) == 3
    whole = output({})
    assert len(whole.split("\n")) > 10
    assert len(output({"length": None}).split("\n")) > len(whole.split("\n"))  # it grew
    assert output({"length": -1}).startswith(whole.split("\n")[0])
    assert output({"length": 0}) == ""


def test_server_password_get_and_clear(nova: Cloud) -> None:  # noqa: F811
    """`os-server-password`: "" until the guest posted one; DELETE clears it (204);
    another project's server is a 404."""
    hd = nova.admin()
    sid = _active(nova, hd, "pw")
    r = nova.client.get(f"{C}/servers/{sid}/os-server-password", headers=hd)
    assert r.status_code == 200 and r.json() == {"password": ""}
    svc = nova.app.state.compute
    with svc.db.transaction() as s:
        from overcast.compute import models as m
        s.get(m.Instance, sid).system_metadata = {"password": "ZW5jcnlwdGVk"}
    r = nova.client.get(f"{C}/servers/{sid}/os-server-password", headers=hd)
    assert r.json() == {"password": "ZW5jcnlwdGVk"}
    other = nova.make_project_user()["headers"]
    r = nova.client.get(f"{C}/servers/{sid}/os-server-password", headers=other)
    assert r.status_code == 404
    r = nova.client.delete(f"{C}/servers/{sid}/os-server-password", headers=hd)
    assert r.status_code == 204
    r = nova.client.get(f"{C}/servers/{sid}/os-server-password", headers=hd)
    assert r.json() == {"password": ""}


def test_resize_of_a_stopped_server_stays_shutoff(nova: Cloud) -> None:  # noqa: F811
    """A server resized while stopped is not started: VERIFY_RESIZE with its power off,
    SHUTOFF once confirmed (it came back ACTIVE), and SHUTOFF again after a revert."""
    hd = nova.admin()
    for confirm in (True, False):
        sid = _active(nova, hd, f"stopped-{confirm}")
        assert act(nova, hd, sid, {"os-stop": None}).status_code == 202
        wait_status(nova, hd, sid, "SHUTOFF")
        r = act(nova, hd, sid, {"resize": {"flavorRef": "2"}})
        assert r.status_code == 202, r.text
        body = wait_status(nova, hd, sid, "VERIFY_RESIZE")
        assert body["OS-EXT-STS:power_state"] == 4
        if confirm:
            r = act(nova, hd, sid, {"confirmResize": None})
            assert r.status_code == 204, r.text
        else:
            assert act(nova, hd, sid, {"revertResize": None}).status_code == 202
        body = wait_status(nova, hd, sid, "SHUTOFF")
        assert body["flavor"]["original_name"] == ("m1.small" if confirm else "m1.tiny")
        assert body["OS-EXT-STS:power_state"] == 4


def test_unknown_server_password_is_404(nova: Cloud) -> None:  # noqa: F811
    r = nova.client.get(f"{C}/servers/{'0' * 8}-0000-4000-8000-{'0' * 12}/os-server-password",
                        headers=h(nova.admin()))
    assert r.status_code == 404
    assert "could not be found" in nova_error(r, "itemNotFound")


def test_server_tags_from_2_26(nova: Cloud) -> None:  # noqa: F811
    """`/servers/{id}/tags` was advertised (2.26) but not served: add (201 then 204),
    check (204/404), list, replace, delete one and all; 404 before 2.26; invalid tags
    and more than 50 are 400."""
    hd = nova.admin()
    sid = _active(nova, hd, "tagged")
    url = f"{C}/servers/{sid}/tags"
    v = h(hd, "2.26")
    assert nova.client.get(url, headers=h(hd, "2.25")).status_code == 404
    r = nova.client.put(f"{url}/red", headers=v)
    assert r.status_code == 201 and r.headers["Location"].endswith(f"/servers/{sid}/tags/red")
    assert nova.client.put(f"{url}/red", headers=v).status_code == 204
    assert nova.client.get(f"{url}/red", headers=v).status_code == 204
    assert nova.client.get(f"{url}/blue", headers=v).status_code == 404
    assert nova.client.get(url, headers=v).json() == {"tags": ["red"]}
    r = nova.client.put(url, headers=v, json={"tags": ["a", "b", "c"]})
    assert r.status_code == 200 and r.json() == {"tags": ["a", "b", "c"]}
    assert server(nova, hd, sid)["tags"] == ["a", "b", "c"]
    assert nova.client.delete(f"{url}/b", headers=v).status_code == 204
    assert nova.client.delete(f"{url}/b", headers=v).status_code == 404
    assert nova.client.get(url, headers=v).json() == {"tags": ["a", "c"]}
    assert nova.client.delete(url, headers=v).status_code == 204
    assert nova.client.get(url, headers=v).json() == {"tags": []}
    assert nova.client.put(f"{url}/a,b", headers=v).status_code == 400
    r = nova.client.put(url, headers=v, json={"tags": [str(i) for i in range(51)]})
    assert r.status_code == 400


def test_personality_files_reach_the_config_drive(nova: Cloud, tmp_path: Any  # noqa: F811
                                                  ) -> None:
    """Personality files (to 2.56) were accepted and dropped. They are now in the
    config drive's documents (meta_data.json `files`, openstack/content/NNNN), replaced
    on a rebuild that gives some, and over the project's quotas a 403 as in Nova."""
    import base64

    from overcast.agent.virt.common import write_documents

    hd = nova.admin()
    files = [{"path": "/etc/motd", "contents": base64.b64encode(b"hello\n").decode()},
             {"path": "/root/.x", "contents": base64.b64encode(b"\x00\x01").decode()}]
    sid = _active(nova, hd, "persona", personality=files)

    def drive() -> Any:
        spec = next(a.driver.instances[sid].spec for a in nova.app.state.local_agents
                    if sid in a.driver.instances)
        out = tmp_path / spec.uuid / str(len(list(tmp_path.iterdir())))
        write_documents(out, spec.documents)
        return out / "openstack"

    root = drive()
    import json
    meta = json.loads((root / "latest" / "meta_data.json").read_text())
    assert meta["files"] == [{"path": "/etc/motd", "content_path": "/content/0000"},
                             {"path": "/root/.x", "content_path": "/content/0001"}]
    assert (root / "content" / "0000").read_bytes() == b"hello\n"
    assert (root / "content" / "0001").read_bytes() == b"\x00\x01"

    r = act(nova, hd, sid, {"rebuild": {"imageRef": IMAGE, "personality": [
        {"path": "/etc/new", "contents": base64.b64encode(b"new").decode()}]}})
    assert r.status_code == 202, r.text
    wait_status(nova, hd, sid, "ACTIVE")
    root = drive()
    meta = json.loads((root / "latest" / "meta_data.json").read_text())
    assert meta["files"] == [{"path": "/etc/new", "content_path": "/content/0000"}]
    assert (root / "content" / "0000").read_bytes() == b"new"

    six = [{"path": f"/f{i}", "contents": ""} for i in range(6)]
    r = boot(nova, hd, "too-many", personality=six)
    assert r.status_code == 403
    assert nova_error(r, "forbidden") == "Personality file limit exceeded"
    big = [{"path": "/big", "contents": base64.b64encode(b"x" * 10241).decode()}]
    r = boot(nova, hd, "too-big", personality=big)
    assert r.status_code == 403
    assert nova_error(r, "forbidden") == "Personality file content exceeds maximum 10240"
    r = boot(nova, hd, "long-path", personality=[{"path": "/" + "p" * 255, "contents": ""}])
    assert r.status_code == 403


def test_rebuild_of_a_stopped_server_stays_shutoff(nova: Cloud) -> None:  # noqa: F811
    """A stopped server is rebuilt stopped (SHUTOFF, power off), as Nova rebuilds it;
    it came back ACTIVE (Tempest's test_rebuild_server_in_stop_state)."""
    hd = nova.admin()
    sid = _active(nova, hd, "stopped-rebuild")
    assert act(nova, hd, sid, {"os-stop": None}).status_code == 202
    wait_status(nova, hd, sid, "SHUTOFF")
    r = act(nova, hd, sid, {"rebuild": {"imageRef": IMAGE}})
    assert r.status_code == 202, r.text
    body = wait_status(nova, hd, sid, "SHUTOFF")
    assert body["OS-EXT-STS:power_state"] == 4
    assert act(nova, hd, sid, {"os-start": None}).status_code == 202
    wait_status(nova, hd, sid, "ACTIVE")
