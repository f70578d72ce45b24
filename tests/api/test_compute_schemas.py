"""Compute's request schemas (after Nova's, 2.1-2.47): every category of bad input the
hardening issue names is a 400 in Nova's format (403 for the metadata quota), before
any service code runs, and the valid edge cases still pass."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, add_agents, boot, h, nova_error, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import IMAGE, add_image

SURROGATE = "\x01surrogate"  # spliced in as the raw JSON text "\ud800"
INFINITY = "\x01infinity"  # spliced in as the raw JSON number 1e400


def send(cloud: Cloud, method: str, path: str, headers: dict[str, str], body: Any,
         version: str = "2.47") -> Any:
    """Send a body that may hold values no JSON encoder writes (the markers above)."""
    text = json.dumps(body).replace(json.dumps(SURROGATE), '"\\ud800"') \
        .replace(json.dumps(INFINITY), "1e400")
    return cloud.client.request(method, f"{C}{path}", content=text.encode(), headers={
        **h(headers, version), "Content-Type": "application/json"})


def bad_request(r: Any) -> str:
    assert r.status_code == 400, r.text
    message = nova_error(r, "badRequest")
    assert len(r.content) < 1024  # a huge input is never echoed whole
    return message


@pytest.fixture(scope="module")
def nova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("nova-schemas"))
    cloud = next(gen)
    cloud.app.state.local_agents = []
    add_agents(cloud, ["cn1", "cn2"])
    add_image(cloud.client, cloud.admin())
    try:
        yield cloud
    finally:
        gen.close()


@pytest.fixture(scope="module")
def user(nova: Cloud) -> dict[str, Any]:
    return nova.make_project_user()


@pytest.fixture(scope="module")
def sid(nova: Cloud, user: dict[str, Any]) -> str:
    r = boot(nova, user["headers"], "target")
    assert r.status_code == 202, r.text
    server_id = str(r.json()["server"]["id"])
    wait_status(nova, user["headers"], server_id, "ACTIVE")
    return server_id


# -------------------------------------------------------------- server create
BASE = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}


@pytest.mark.parametrize("extra", [
    # unprintable, surrogates and lengths in names and references
    {"name": "a\x00b"}, {"name": "tab\there"}, {"name": "bell\x07"}, {"name": SURROGATE},
    {"name": " lead"}, {"name": "trail "}, {"name": "x" * 256}, {"name": ""},
    {"name": {"a": 1}}, {"flavorRef": "1\x00"}, {"flavorRef": SURROGATE},
    {"flavorRef": {"id": "1"}}, {"flavorRef": "f" * 256}, {"key_name": "k\x00"},
    {"key_name": ["k"]}, {"availability_zone": ""}, {"availability_zone": "nova\n"},
    # counts: overflows, non-integers
    {"min_count": INFINITY}, {"min_count": "1e4"}, {"min_count": 1.5},
    {"min_count": True}, {"max_count": "abc"}, {"max_count": 2**63},
    # a dict or list where a string is expected; descriptions
    {"description": {"a": 1}}, {"description": ["d"]}, {"description": "d" * 256},
    {"description": "nul\x00"}, {"accessIPv4": {"a": 1}}, {"accessIPv6": ["::1"]},
    {"accessIPv4": "1.2.3"}, {"accessIPv4": "::1"}, {"accessIPv6": "1.2.3.4"},
    {"accessIPv4": ""}, {"security_groups": [{"name": {"a": 1}}]},
    {"security_groups": ["default"]}, {"security_groups": [{"name": "x\x00"}]},
    {"security_groups": {"name": "default"}},
    # adminPass, config_drive, block devices, personality, tags (2.52+), user_data
    {"adminPass": 123}, {"adminPass": {"p": "w"}}, {"config_drive": "maybe"},
    {"config_drive": 1}, {"block_device_mapping_v2": "vda"},
    {"block_device_mapping_v2": [{"boot_index": "first"}]},
    {"block_device_mapping_v2": [{"source_type": "floppy"}]},
    {"block_device_mapping_v2": [{"bogus": 1}]}, {"personality": "x"},
    {"personality": [{"path": "/etc/x", "contents": "%%%"}]}, {"tags": ["a"]},
    {"hostname": "h"}, {"user_data": "%%%"}, {"user_data": "QUFB" * 16384},
    {"user_data": 12}, {"return_reservation_id": "perhaps"},
    # metadata: keys and values of 1-255 from Nova's alphabet, strings only
    {"metadata": {"k" * 256: "v"}}, {"metadata": {"k": "v" * 256}},
    {"metadata": {"a/b": "v"}}, {"metadata": {"": "v"}}, {"metadata": {"k": 1}},
    {"metadata": {"k": None}}, {"metadata": ["k"]},
    # networks: addresses, uuids, wrong shapes
    {"networks": [{"uuid": str(uuid.uuid4()), "fixed_ip": "10.0.0.300"}]},
    {"networks": [{"port": "nope"}]}, {"networks": "some"}, {"networks": {"uuid": "x"}},
    {"OS-DCF:diskConfig": "auto"},
])
def test_server_create_refused(nova: Cloud, extra: dict[str, Any]) -> None:
    u = nova.make_project_user()
    r = send(nova, "POST", "/servers", u["headers"], {"server": {**BASE, **extra}})
    bad_request(r)
    assert nova.client.get(f"{C}/servers", headers=u["headers"]).json()["servers"] == []


def test_server_create_hints_must_be_well_formed(nova: Cloud) -> None:
    u = nova.make_project_user()
    for hints in ({"group": "not-a-uuid"}, {"group": {"a": 1}}, {"same_host": ["x"]},
                  "hints"):
        r = send(nova, "POST", "/servers", u["headers"],
                 {"server": BASE, "os:scheduler_hints": hints})
        bad_request(r)
    r = send(nova, "POST", "/servers", u["headers"], {"server": BASE, "bogus": {}})
    assert "Additional properties" in bad_request(r)


@pytest.mark.parametrize("version,extra,status", [
    ("2.18", {"description": "d"}, 400),  # description comes with 2.19
    ("2.19", {"description": None}, 202),
    ("2.31", {"networks": [{"uuid": str(uuid.uuid4()), "tag": "t"}]}, 400),  # tags: 2.32
    ("2.36", {"networks": "none"}, 400),  # "none"/"auto" come with 2.37
    ("2.37", {"networks": None}, 400),  # required from 2.37
])
def test_server_create_by_microversion(nova: Cloud, version: str, extra: dict[str, Any],
                                       status: int) -> None:
    u = nova.make_project_user()
    body = {**BASE, **extra}
    if version < "2.37" and extra.get("networks") is None:
        body.pop("networks", None)
    r = send(nova, "POST", "/servers", u["headers"], {"server": body}, version)
    assert r.status_code == status, r.text
    if status == 400:
        nova_error(r, "badRequest")


def test_server_create_valid_edges(nova: Cloud) -> None:
    u = nova.make_project_user()
    body = {**BASE, "name": "ü" * 255, "min_count": "1", "max_count": 1,
            "config_drive": "true", "return_reservation_id": "False",
            "metadata": {f"k:{i}. x-_": "v" * 255 for i in range(128)},
            "description": "spaces inside are fine", "accessIPv4": "10.0.0.1",
            "accessIPv6": "fe80::1", "adminPass": "", "user_data": "aGVsbG8=",
            "security_groups": [{"name": "default"}], "OS-DCF:diskConfig": "AUTO"}
    r = send(nova, "POST", "/servers", u["headers"], {"server": body,
                                                      "os:scheduler_hints": {"x": 1}})
    assert r.status_code == 202, r.text
    s = wait_status(nova, u["headers"], r.json()["server"]["id"], "ACTIVE")
    assert s["name"] == "ü" * 255 and len(s["metadata"]) == 128


def test_metadata_quota_is_a_403(nova: Cloud, user: dict[str, Any], sid: str) -> None:
    many = {f"k{i}": "v" for i in range(129)}
    r = send(nova, "POST", "/servers", user["headers"], {"server": {**BASE,
                                                                     "metadata": many}})
    assert r.status_code == 403, r.text
    assert "metadata" in nova_error(r, "forbidden")
    r = send(nova, "PUT", f"/servers/{sid}/metadata", user["headers"], {"metadata": many})
    assert r.status_code == 403, r.text
    nova_error(r, "forbidden")


# -------------------------------------------------------- server update / meta
@pytest.mark.parametrize("server", [
    {"name": {"a": 1}}, {"name": "x" * 256}, {"name": "a\x00"}, {"description": ["d"]},
    {"description": "d" * 256}, {"accessIPv4": "x"}, {"accessIPv6": {"a": 1}},
    {"bogus": 1},
])
def test_server_update_refused(nova: Cloud, user: dict[str, Any], sid: str,
                               server: dict[str, Any]) -> None:
    bad_request(send(nova, "PUT", f"/servers/{sid}", user["headers"], {"server": server}))


def test_server_update_description_needs_2_19(nova: Cloud, user: dict[str, Any],
                                              sid: str) -> None:
    body = {"server": {"description": "d"}}
    bad_request(send(nova, "PUT", f"/servers/{sid}", user["headers"], body, "2.18"))
    assert send(nova, "PUT", f"/servers/{sid}", user["headers"], body, "2.19"
                ).status_code == 200


@pytest.mark.parametrize("method,path,body", [
    ("POST", "metadata", {"metadata": {"k" * 256: "v"}}),
    ("POST", "metadata", {"metadata": {"k": "v" * 256}}),
    ("POST", "metadata", {"metadata": {"k": {"a": 1}}}),
    ("PUT", "metadata", {"metadata": ["k"]}),
    ("PUT", "metadata", {"meta": {"k": "v"}}),
    ("PUT", "metadata/k", {"meta": {"k": "v", "j": "w"}}),
    ("PUT", "metadata/k", {"meta": {"k": 1}}),
    ("PUT", "metadata/k", {"meta": {"j": "v"}}),
    ("PUT", "metadata/k", {"meta": {}}),
])
def test_server_metadata_refused(nova: Cloud, user: dict[str, Any], sid: str,
                                 method: str, path: str, body: Any) -> None:
    bad_request(send(nova, method, f"/servers/{sid}/{path}", user["headers"], body))


# -------------------------------------------------------------- server actions
@pytest.mark.parametrize("body", [
    {"rebuild": {"imageRef": IMAGE, "name": {"a": 1}}},
    {"rebuild": {"imageRef": IMAGE, "name": "x" * 256}},
    {"rebuild": {"imageRef": "not-a-uuid"}}, {"rebuild": {"name": "no-image"}},
    {"rebuild": {"imageRef": IMAGE, "adminPass": 1}},
    {"rebuild": {"imageRef": IMAGE, "metadata": {"k": "v" * 256}}},
    {"rebuild": {"imageRef": IMAGE, "bogus": 1}},
    {"rebuild": {"imageRef": IMAGE, "description": "before 2.19"}},
    {"reboot": {"type": "sOfT"}}, {"reboot": {}}, {"reboot": "HARD"},
    {"resize": {"flavorRef": "2\x00"}}, {"resize": {"flavorRef": ["2"]}}, {"resize": {}},
    {"os-getConsoleOutput": {"length": INFINITY}},
    {"os-getConsoleOutput": {"length": "abc"}}, {"os-getConsoleOutput": {"length": 1.5}},
    {"os-getConsoleOutput": {"length": -2}}, {"os-getConsoleOutput": {"length": 2**63}},
    {"os-getConsoleOutput": {"lines": 5}},
    {"createImage": {"name": "snap\x00"}}, {"createImage": {"name": "x" * 256}},
    {"createImage": {"name": {"a": 1}}}, {"createImage": {"name": "s", "metadata": 1}},
    {"addSecurityGroup": {"name": {"a": 1}}}, {"addSecurityGroup": {"name": ""}},
    {"removeSecurityGroup": {"name": ["default"]}},
    {"frobnicate": None}, {"pause": None, "unpause": None},
])
def test_server_actions_refused(nova: Cloud, user: dict[str, Any], sid: str,
                                body: Any) -> None:
    bad_request(send(nova, "POST", f"/servers/{sid}/action", user["headers"], body,
                     "2.1" if "rebuild" in body else "2.47"))


def test_server_actions_valid_edges(nova: Cloud, user: dict[str, Any], sid: str) -> None:
    r = send(nova, "POST", f"/servers/{sid}/action", user["headers"],
             {"os-getConsoleOutput": {"length": "5"}})
    assert r.status_code == 200, r.text
    r = send(nova, "POST", f"/servers/{sid}/action", user["headers"],
             {"os-getConsoleOutput": {"length": -1}})
    assert r.status_code == 200, r.text
    r = send(nova, "POST", f"/servers/{sid}/action", user["headers"],
             {"reboot": {"type": "soft"}})
    assert r.status_code == 202, r.text
    wait_status(nova, user["headers"], sid, "ACTIVE")


# --------------------------------------------------------------------- flavors
FLAVOR = {"name": "f", "ram": 64, "vcpus": 1, "disk": 0}


@pytest.mark.parametrize("extra", [
    {"name": "f\x00"}, {"name": SURROGATE}, {"name": "f\x1b[31m"}, {"name": "x" * 256},
    {"name": " f"}, {"name": 5}, {"id": "i\x00"}, {"id": SURROGATE}, {"id": " i"},
    {"id": "a/b"}, {"id": "x" * 256}, {"id": {"a": 1}},
    {"ram": INFINITY}, {"vcpus": INFINITY}, {"disk": INFINITY}, {"ram": 2**31},
    {"ram": "99999999999"}, {"vcpus": "1e3"}, {"vcpus": 1.5}, {"disk": -1},
    {"swap": -1}, {"OS-FLV-EXT-DATA:ephemeral": "abc"}, {"swap": None},
    {"rxtx_factor": "x"}, {"rxtx_factor": -1}, {"rxtx_factor": INFINITY},
    {"os-flavor-access:is_public": 1}, {"bogus": 1},
])
def test_flavor_create_refused(nova: Cloud, extra: dict[str, Any]) -> None:
    body = {"flavor": {**FLAVOR, "name": f"f-{uuid.uuid4().hex[:6]}", **extra}}
    bad_request(send(nova, "POST", "/flavors", nova.admin(), body))


def test_flavor_create_valid_edges(nova: Cloud) -> None:
    fid = int(uuid.uuid4().int % 10**9)
    body = {"flavor": {"name": f"edge {fid}", "id": fid, "ram": "512", "vcpus": "2",
                       "disk": 0, "swap": 0, "rxtx_factor": "1.5",
                       "OS-FLV-EXT-DATA:ephemeral": 2147483647}}
    r = send(nova, "POST", "/flavors", nova.admin(), body)
    assert r.status_code == 200, r.text
    f = r.json()["flavor"]
    assert f["id"] == str(fid) and f["ram"] == 512 and f["vcpus"] == 2


@pytest.mark.parametrize("method,path,body", [
    ("POST", "os-extra_specs", {"extra_specs": {"k": {"a": 1}}}),
    ("POST", "os-extra_specs", {"extra_specs": {"k" * 256: "v"}}),
    ("POST", "os-extra_specs", {"extra_specs": {"k": "v" * 256}}),
    ("POST", "os-extra_specs", {"extra_specs": {"a/b": "v"}}),
    ("POST", "os-extra_specs", {"extra_specs": ["k"]}),
    ("PUT", "os-extra_specs/k", {"k": "v", "j": "w"}),
    ("PUT", "os-extra_specs/k", {"k": ["v"]}),
    ("POST", "action", {"addTenantAccess": {"tenant": {"a": 1}}}),
    ("POST", "action", {"addTenantAccess": {"tenant": ""}}),
    ("POST", "action", {"removeTenantAccess": {"tenant": "x" * 256}}),
    ("POST", "action", {"addTenantAccess": {"tenant": "p", "bogus": 1}}),
])
def test_flavor_specs_and_access_refused(nova: Cloud, method: str, path: str,
                                         body: Any) -> None:
    bad_request(send(nova, method, f"/flavors/1/{path}", nova.admin(), body))


# -------------------------------------------------------------------- keypairs
@pytest.mark.parametrize("version,keypair", [
    ("2.47", {"name": "k\x00"}), ("2.47", {"name": SURROGATE}), ("2.47", {"name": "a/b"}),
    ("2.47", {"name": "x" * 256}), ("2.47", {"name": ""}), ("2.47", {"name": 5}),
    ("2.47", {"name": "k", "public_key": 123}), ("2.47", {"name": "k", "type": "rsa"}),
    ("2.1", {"name": "k", "type": "ssh"}), ("2.9", {"name": "k", "user_id": "u"}),
    ("2.47", {"name": "k", "bogus": 1}),
])
def test_keypair_create_refused(nova: Cloud, user: dict[str, Any], version: str,
                                keypair: dict[str, Any]) -> None:
    bad_request(send(nova, "POST", "/os-keypairs", user["headers"], {"keypair": keypair},
                     version))


# ---------------------------------------------------------------------- quotas
@pytest.mark.parametrize("version,quota_set", [
    ("2.47", {"instances": "abc"}), ("2.47", {"instances": 1.5}),
    ("2.47", {"cores": INFINITY}), ("2.47", {"ram": 2**31}),
    ("2.47", {"ram": "99999999999"}), ("2.47", {"ram": "2147483648"}),
    ("2.47", {"instances": -2}), ("2.47", {"instances": True}),
    ("2.47", {"instances": None}), ("2.47", {"bogus": 1}),
    ("2.47", {"force": "maybe"}), ("2.47", {"floating_ips": 10}),  # gone in 2.36
    ("2.47", {"metadata_items": {"a": 1}}),
])
def test_quota_update_refused(nova: Cloud, user: dict[str, Any], version: str,
                              quota_set: dict[str, Any]) -> None:
    bad_request(send(nova, "PUT", f"/os-quota-sets/{user['project_id']}", nova.admin(),
                     {"quota_set": quota_set}, version))


def test_quota_update_valid_edges(nova: Cloud) -> None:
    u = nova.make_project_user()
    r = send(nova, "PUT", f"/os-quota-sets/{u['project_id']}", nova.admin(), {"quota_set": {
        "instances": "12", "cores": -1, "ram": 2147483647, "force": "true"}})
    assert r.status_code == 200, r.text
    q = r.json()["quota_set"]
    assert (q["instances"], q["cores"], q["ram"]) == (12, -1, 2147483647)
    r = send(nova, "PUT", f"/os-quota-sets/{u['project_id']}", nova.admin(),
             {"quota_set": {"floating_ips": 5}}, "2.35")
    assert r.status_code == 200, r.text


# ------------------------------------------------------- server groups, services
@pytest.mark.parametrize("version,group", [
    ("2.47", {"name": "g\x00", "policies": ["affinity"]}),
    ("2.47", {"name": "x" * 256, "policies": ["affinity"]}),
    ("2.47", {"name": {"a": 1}, "policies": ["affinity"]}),
    ("2.47", {"name": "g", "policies": "affinity"}),
    ("2.47", {"name": "g", "policies": ["affinity", "anti-affinity"]}),
    ("2.47", {"name": "g", "policies": ["nearby"]}),
    ("2.14", {"name": "g", "policies": ["soft-affinity"]}),
    ("2.47", {"name": "g", "policy": "affinity"}),  # 2.64's form
])
def test_server_group_create_refused(nova: Cloud, user: dict[str, Any], version: str,
                                     group: dict[str, Any]) -> None:
    bad_request(send(nova, "POST", "/os-server-groups", user["headers"],
                     {"server_group": group}, version))


@pytest.mark.parametrize("version,action,body", [
    ("2.47", "disable", {"host": {"a": 1}, "binary": "nova-compute"}),
    ("2.47", "disable", {"host": "cn1", "binary": ""}),
    ("2.47", "disable", {"host": "cn1/x", "binary": "nova-compute"}),
    ("2.47", "disable-log-reason", {"host": "cn1", "binary": "nova-compute",
                                    "disabled_reason": "r" * 256}),
    ("2.47", "force-down", {"host": "cn1", "binary": "nova-compute",
                            "forced_down": "maybe"}),
    ("2.10", "disable", {"host": "cn1", "binary": "nova-compute", "forced_down": True}),
    ("2.47", "enable", {"host": "cn1", "binary": "nova-compute", "bogus": 1}),
])
def test_service_update_refused(nova: Cloud, version: str, action: str,
                                body: dict[str, Any]) -> None:
    bad_request(send(nova, "PUT", f"/os-services/{action}", nova.admin(), body, version))


def test_force_down_takes_nova_booleans(nova: Cloud) -> None:
    body = {"host": "cn2", "binary": "nova-compute", "forced_down": "false"}
    r = send(nova, "PUT", "/os-services/force-down", nova.admin(), body)
    assert r.status_code == 200 and r.json()["service"]["forced_down"] is False, r.text


# --------------------------------------------------------------- query strings
@pytest.mark.parametrize("path,params,admin", [
    ("/servers", {"limit": "abc"}, False), ("/servers/detail", {"limit": "-1"}, False),
    ("/servers/detail", {"limit": "1e400"}, False),
    ("/servers", {"changes-since": "yesterday"}, False),
    ("/servers/detail", {"sort_key": "bogus"}, False),
    ("/flavors", {"limit": "1.5"}, False), ("/flavors/detail", {"minRam": "1e400"}, False),
    ("/flavors/detail", {"minDisk": str(2**63)}, False),
    ("/flavors", {"sort_key": "bogus"}, False), ("/flavors", {"sort_dir": "up"}, False),
    ("/os-keypairs", {"limit": "x"}, False), ("/os-server-groups", {"limit": "-5"}, False),
    ("/os-server-groups", {"offset": "x"}, False),
    ("/os-hypervisors", {"limit": "x"}, True),
    ("/os-hypervisors/detail", {"limit": "1e400"}, True),
])
def test_query_strings_refused(nova: Cloud, user: dict[str, Any], path: str,
                               params: dict[str, str], admin: bool) -> None:
    headers = h(nova.admin() if admin else user["headers"], "2.47")
    bad_request(nova.client.get(f"{C}{path}", headers=headers, params=params))


def test_query_strings_valid_edges(nova: Cloud, user: dict[str, Any]) -> None:
    hd = h(user["headers"], "2.47")
    for path, params in (("/servers", {"limit": str(2**70)}),  # capped, as Nova
                         ("/servers/detail", {"sort_key": "display_name",
                                              "sort_dir": "asc"}),
                         ("/servers/detail", {"sort_key": "vcpus"}),  # ignored, as Nova
                         ("/servers", {"changes-since": "2020-01-01T00:00:00Z"}),
                         ("/flavors/detail", {"minRam": "0", "sort_key": "memory_mb"}),
                         ("/os-keypairs", {"limit": "10"}), ("/limits", {"x": "y"})):
        r = nova.client.get(f"{C}{path}", headers=hd, params=params)
        assert r.status_code == 200, (path, r.text)


# --------------------------------------------------------------------- openapi
def test_every_compute_route_with_a_body_declares_its_schema(nova: Cloud) -> None:
    paths = nova.client.get("/openapi.json").json()["paths"]
    compute = {p: ops for p, ops in paths.items() if p.startswith("/compute/")}
    assert compute
    for path, ops in compute.items():
        for method in ("post", "put", "patch"):
            if method in ops and "requestBody" not in ops[method]:
                # actions without a body of their own: none in compute
                raise AssertionError(f"{method.upper()} {path} declares no body schema")
    for listing in ("/compute/v2.1/servers/detail", "/compute/v2.1/flavors/detail",
                    "/compute/v2.1/os-keypairs", "/compute/v2.1/os-hypervisors"):
        names = {p["name"] for p in compute[listing]["get"]["parameters"]}
        assert "limit" in names, listing
