"""Hostile requests to every service: thousands of malformed bodies and queries, no 5xx.

A mutational fuzzer. Each service has a corpus of valid requests (the ones its
clients send); every leaf of every body is replaced, in turn, by each value a
hostile or careless client sends: the wrong JSON type, integers past 64 bits,
floats, booleans, nulls, empty, huge and unprintable strings, lone surrogates and
infinities (as raw JSON text, which Python's encoder would never write), and keys
are dropped or added. Query strings of the list routes get the same treatment.
Every answer must be below 500 and, for an error, in the service's own format
with its request id. A run is deterministic and takes well under a minute
in-process (about 5,000 requests), so it runs in CI on every change.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from overcast.cloud import init_cloud
from overcast.config import load_settings
from tests.conftest import Cloud, _database_url, _drop_database
from tests.images import IMAGE, add_image

# Raw JSON texts stand in for values no encoder writes (the fuzzer splices them in).
RAW_SURROGATE = "\x01RAW:\"\\ud800\""
RAW_INFINITY = "\x01RAW:1e400"
RAW_HUGE = "\x01RAW:" + "9" * 40

HOSTILE: list[Any] = [
    {"x": 1}, [1, "a"], 2**64, -(2**63) - 1, -1, 0, 1.5, True, None, "", "\x00",
    "a\nb\tc\x7f", "x" * 300, "\U0001f600" * 256, "not-a-uuid", "-1", "1e400",
    "10.0.0.300/33", RAW_SURROGATE, RAW_INFINITY, RAW_HUGE,
]
QUERY_HOSTILE = ["-1", "0", str(2**63), str(2**64), "1e400", "abc", "", "\x00", "%ff",
                 "x" * 300, "1.5", "true", "VCPU:" + "9" * 30]


def encode(body: Any) -> bytes:
    """JSON text with the RAW markers spliced in verbatim."""
    text = json.dumps(body)
    for raw in (RAW_SURROGATE, RAW_INFINITY, RAW_HUGE):
        marker = json.dumps(raw)
        text = text.replace(marker, raw[len("\x01RAW:"):])
    return text.encode()


def leaves(body: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in the body, containers included (so a whole object can
    be replaced too)."""
    if path:
        yield path
    if isinstance(body, dict):
        for k, v in body.items():
            yield from leaves(v, (*path, k))
    elif isinstance(body, list):
        for i, v in enumerate(body):
            yield from leaves(v, (*path, i))


def replaced(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def dropped(body: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target[key]
    if isinstance(target, dict):
        del target[path[-1]]
    return out


def mutants(body: Any) -> Iterator[Any]:
    yield [body]
    yield "a string"
    yield {}
    for path in leaves(body):
        for value in HOSTILE:
            yield replaced(body, path, value)
        if isinstance(path[-1], str):
            yield dropped(body, path)
            if len(path) > 1:
                yield replaced(body, path[:-1] + ("unexpected_key",), "x")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    db_url = _database_url(tmp)
    settings = load_settings(data_dir=tmp / "cloud", environ={}, port=0, bcrypt_rounds=4,
                             merge_user_clouds_yaml=False, local_agent=True,
                             agent_driver="fake", dataplane="none",
                             build_test_image=False, database_url=db_url or None)
    info = init_cloud(settings)
    with TestClient(info.app, base_url="http://testserver",
                    raise_server_exceptions=False) as client:
        cloud = Cloud(client=client, admin_password=info.admin_password,
                      data_dir=settings.data_dir, app=info.app)
        yield _populate(cloud)
    info.app.state.db.dispose()
    _drop_database(db_url)


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code < 300, r.text
    return dict(r.json()) if r.content else {}


def _populate(cloud: Cloud) -> dict[str, Any]:
    """One of everything, so the fuzzed routes have real objects to point at."""
    c, h = cloud.client, cloud.admin()
    add_image(c, h)
    user = cloud.make_project_user("member", prefix="fz")
    net = _ok(c.post("/network/v2.0/networks", headers=h,
                     json={"network": {"name": "fz", "shared": True}}))["network"]
    sub = _ok(c.post("/network/v2.0/subnets", headers=h, json={"subnet": {
        "network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 4}}))["subnet"]
    port = _ok(c.post("/network/v2.0/ports", headers=h,
                      json={"port": {"network_id": net["id"]}}))["port"]
    router = _ok(c.post("/network/v2.0/routers", headers=h,
                        json={"router": {"name": "fz"}}))["router"]
    sg = _ok(c.post("/network/v2.0/security-groups", headers=h,
                    json={"security_group": {"name": "fz"}}))["security_group"]
    server = _ok(c.post("/compute/v2.1/servers", headers=h, json={"server": {
        "name": "fz", "flavorRef": "1", "imageRef": IMAGE,
        "networks": [{"uuid": net["id"]}]}}))["server"]
    rp = _ok(c.post("/placement/resource_providers",
                    headers={**h, "OpenStack-API-Version": "placement 1.20"},
                    json={"name": "fz-rp"}))
    image = _ok(c.post("/image/v2/images", headers=h, json={
        "name": "fz", "disk_format": "raw", "container_format": "bare"}))
    project = user["project_id"]
    return {"cloud": cloud, "net": net["id"], "subnet": sub["id"], "port": port["id"],
            "router": router["id"], "sg": sg["id"], "server": server["id"],
            "rp": rp["uuid"], "image": image["id"], "project": project,
            "user": user["user_id"], "password": cloud.admin_password}


def corpus(w: dict[str, Any]) -> list[tuple[str, str, Any, dict[str, str]]]:
    """(method, path, valid body, extra headers) for each service's write routes."""
    srv, net, pl = w["server"], w["net"], {"OpenStack-API-Version": "placement 1.39"}
    nova = {"OpenStack-API-Version": "compute 2.47"}
    v21 = {"OpenStack-API-Version": "compute 2.1"}
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    rp = w["rp"]
    return [
        # identity
        ("POST", "/identity/v3/auth/tokens", {"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": w["password"]}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}, {}),
        ("POST", "/identity/v3/projects", {"project": {"name": "p", "description": "d",
                                                       "enabled": True, "tags": ["a"]}}, {}),
        ("POST", "/identity/v3/users", {"user": {"name": "u", "password": "pw",
                                                 "email": "e@x", "enabled": True}}, {}),
        ("PATCH", f"/identity/v3/users/{w['user']}", {"user": {"description": "d"}}, {}),
        ("PATCH", f"/identity/v3/projects/{w['project']}", {"project": {"description": "d"}},
         {}),
        ("POST", "/identity/v3/roles", {"role": {"name": "r"}}, {}),
        ("POST", "/identity/v3/groups", {"group": {"name": "g", "description": "d"}}, {}),
        ("POST", "/identity/v3/domains", {"domain": {"name": "d", "enabled": True}}, {}),
        ("POST", "/identity/v3/regions", {"region": {"id": "r1", "description": "d"}}, {}),
        ("POST", "/identity/v3/services", {"service": {"type": "t", "name": "n"}}, {}),
        # compute
        ("POST", "/compute/v2.1/servers", {"server": {
            "name": "s", "flavorRef": "1", "imageRef": IMAGE, "min_count": 1,
            "max_count": 1, "networks": [{"uuid": net}], "metadata": {"k": "v"},
            "security_groups": [{"name": "default"}], "accessIPv4": "1.2.3.4",
            "key_name": None, "config_drive": False}}, nova),
        ("PUT", f"/compute/v2.1/servers/{srv}", {"server": {"name": "n",
                                                            "description": "d"}}, nova),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"reboot": {"type": "SOFT"}}, nova),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"rebuild": {
            "imageRef": IMAGE, "name": "n"}}, nova),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"resize": {"flavorRef": "2"}},
         nova),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"os-getConsoleOutput": {
            "length": 10}}, nova),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"createImage": {
            "name": "snap", "metadata": {"k": "v"}}}, nova),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"addSecurityGroup": {
            "name": "default"}}, nova),
        ("POST", f"/compute/v2.1/servers/{srv}/metadata", {"metadata": {"k": "v"}}, nova),
        ("PUT", f"/compute/v2.1/servers/{srv}/metadata/k", {"meta": {"k": "v"}}, nova),
        ("POST", "/compute/v2.1/flavors", {"flavor": {"name": "f", "ram": 64, "vcpus": 1,
                                                      "disk": 1, "id": "fz-1"}}, nova),
        ("POST", "/compute/v2.1/flavors/1/os-extra_specs", {"extra_specs": {"a": "b"}},
         nova),
        ("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "k"}}, nova),
        ("PUT", f"/compute/v2.1/os-quota-sets/{w['project']}", {"quota_set": {
            "instances": 10, "cores": 20, "ram": 1000}}, nova),
        ("POST", "/compute/v2.1/os-server-groups", {"server_group": {
            "name": "g", "policies": ["anti-affinity"]}}, nova),
        # compute's proxies (up to 2.35) and admin APIs
        ("POST", "/compute/v2.1/os-security-groups", {"security_group": {
            "name": "s", "description": "d"}}, v21),
        ("POST", "/compute/v2.1/os-security-group-rules", {"security_group_rule": {
            "parent_group_id": w["sg"], "ip_protocol": "tcp", "from_port": 22,
            "to_port": 22, "cidr": "10.0.0.0/8"}}, v21),
        ("POST", "/compute/v2.1/os-floating-ips", {"pool": "public"}, v21),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"addFloatingIp": {
            "address": "10.0.0.1", "fixed_address": "10.9.0.3"}}, v21),
        ("PUT", f"/compute/v2.1/images/{w['image']}/metadata", {"metadata": {"a": "b"}},
         v21),
        ("POST", "/compute/v2.1/os-aggregates", {"aggregate": {
            "name": "a", "availability_zone": "z"}}, nova),
        ("POST", f"/compute/v2.1/servers/{srv}/action", {"migrate": None}, nova),
        # placement
        ("POST", "/placement/resource_providers", {"name": "rp2"}, pl),
        ("PUT", f"/placement/resource_providers/{rp}/inventories", {
            "resource_provider_generation": 0, "inventories": {"VCPU": {
                "total": 8, "allocation_ratio": 1.0, "reserved": 0}}}, pl),
        ("PUT", f"/placement/allocations/{uuid.uuid4()}", {
            "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": w["project"],
            "user_id": w["user"], "consumer_generation": None}, pl),
        ("PUT", f"/placement/resource_providers/{rp}/traits", {
            "resource_provider_generation": 1, "traits": ["HW_CPU_X86_AVX"]}, pl),
        ("POST", "/placement/resource_classes", {"name": "CUSTOM_FZ"}, pl),
        ("PUT", f"/placement/resource_providers/{rp}/aggregates", {
            "resource_provider_generation": 1, "aggregates": [str(uuid.uuid4())]}, pl),
        # image
        ("POST", "/image/v2/images", {"name": "i", "disk_format": "raw",
                                      "container_format": "bare", "min_ram": 0,
                                      "min_disk": 0, "tags": ["a"], "visibility": "private"},
         {}),
        ("PATCH", f"/image/v2/images/{w['image']}", [{"op": "replace", "path": "/name",
                                                       "value": "n"}], patch),
        ("POST", f"/image/v2/images/{w['image']}/members", {"member": w["project"]}, {}),
        # network
        ("POST", "/network/v2.0/networks", {"network": {"name": "n", "mtu": 1400,
                                                        "admin_state_up": True}}, {}),
        ("POST", "/network/v2.0/subnets", {"subnet": {
            "network_id": net, "cidr": "10.10.0.0/24", "ip_version": 4,
            "gateway_ip": "10.10.0.1", "dns_nameservers": ["8.8.8.8"],
            "allocation_pools": [{"start": "10.10.0.10", "end": "10.10.0.20"}],
            "host_routes": [{"destination": "10.20.0.0/24", "nexthop": "10.10.0.1"}]}}, {}),
        ("POST", "/network/v2.0/ports", {"port": {
            "network_id": net, "name": "p", "mac_address": "fa:16:3e:00:00:99",
            "fixed_ips": [{"subnet_id": w["subnet"], "ip_address": "10.9.0.50"}],
            "security_groups": [w["sg"]], "binding:vnic_type": "normal",
            "allowed_address_pairs": [{"ip_address": "10.9.0.60"}]}}, {}),
        ("PUT", f"/network/v2.0/ports/{w['port']}", {"port": {"name": "p2",
                                                              "description": "d"}}, {}),
        ("POST", "/network/v2.0/routers", {"router": {"name": "r",
                                                      "admin_state_up": True}}, {}),
        ("PUT", f"/network/v2.0/routers/{w['router']}/add_router_interface",
         {"subnet_id": w["subnet"]}, {}),
        ("POST", "/network/v2.0/security-groups", {"security_group": {"name": "s"}}, {}),
        ("POST", "/network/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": w["sg"], "direction": "ingress", "protocol": "tcp",
            "port_range_min": 80, "port_range_max": 80, "ethertype": "IPv4",
            "remote_ip_prefix": "0.0.0.0/0"}}, {}),
        ("POST", "/network/v2.0/floatingips", {"floatingip": {
            "floating_network_id": net}}, {}),
        ("PUT", f"/network/v2.0/networks/{net}/tags", {"tags": ["a", "b"]}, {}),
        ("PUT", f"/network/v2.0/quotas/{w['project']}", {"quota": {"network": 10,
                                                                   "port": 50}}, {}),
    ]


LISTS = [
    ("/compute/v2.1/servers/detail", ["limit", "marker", "changes-since", "flavor", "name",
                                      "sort_key", "sort_dir", "all_tenants", "ip"]),
    ("/compute/v2.1/flavors/detail", ["limit", "marker", "minRam", "minDisk", "is_public"]),
    ("/compute/v2.1/images/detail", ["limit", "marker", "minRam", "minDisk", "status",
                                     "changes-since", "server", "type", "name"]),
    ("/compute/v2.1/os-simple-tenant-usage", ["start", "end", "detailed"]),
    ("/compute/v2.1/os-migrations", ["instance_uuid", "status", "host", "migration_type"]),
    ("/network/v2.0/networks", ["limit", "marker", "mtu", "shared", "sort_key", "fields"]),
    ("/network/v2.0/ports", ["limit", "marker", "fixed_ips", "mac_address", "device_id"]),
    ("/image/v2/images", ["limit", "marker", "size_max", "size_min", "sort", "visibility"]),
    ("/identity/v3/projects", ["limit", "name", "enabled", "domain_id", "parent_id"]),
    ("/identity/v3/users", ["name", "enabled", "domain_id"]),
    ("/placement/resource_providers", ["limit", "resources", "member_of", "required",
                                       "in_tree", "name", "uuid"]),
    ("/placement/allocation_candidates", ["limit", "resources", "required", "member_of",
                                          "group_policy"]),
]

ERROR_KEYS = {"/identity": "error", "/placement": "errors", "/network": "NeutronError"}


def _check_error(path: str, r: Any) -> str | None:
    if r.status_code >= 500:
        return f"{r.status_code} {r.text[:200]}"
    if r.status_code >= 400:
        if not r.headers.get("x-openstack-request-id", "").startswith("req-"):
            return f"{r.status_code} without a request id"
        for prefix, key in ERROR_KEYS.items():
            if path.startswith(prefix) and r.content and key not in r.json():
                return f"{r.status_code} not in the service's format: {r.text[:200]}"
        if len(r.content) > 4096:
            return f"{r.status_code} with a {len(r.content)}-byte error body"
    return None


def test_no_malformed_body_gets_a_5xx(world: dict[str, Any]) -> None:
    cloud: Cloud = world["cloud"]
    c, h = cloud.client, cloud.admin()
    bad: list[str] = []
    sent = 0
    for method, path, body, extra in corpus(world):
        headers = {"Content-Type": "application/json", **h, **extra}
        for mutant in mutants(body):
            r = c.request(method, path, content=encode(mutant), headers=headers)
            sent += 1
            why = _check_error(path, r)
            if why:
                bad.append(f"{method} {path} {encode(mutant)[:160]!r}: {why}")
    Path("/tmp/overcast-fuzz-bodies.txt").write_text("\n".join(bad))
    assert sent > 3000
    assert not bad, f"{len(bad)} of {sent} hostile bodies went wrong:\n" + "\n".join(bad[:40])


def test_no_malformed_query_gets_a_5xx(world: dict[str, Any]) -> None:
    cloud: Cloud = world["cloud"]
    c, h = cloud.client, cloud.admin()
    hdrs = {**h, "OpenStack-API-Version": "placement 1.39"}
    bad: list[str] = []
    for path, params in LISTS:
        for name in params:
            for value in QUERY_HOSTILE:
                r = c.get(path, params={name: value}, headers=hdrs)
                why = _check_error(path, r)
                if why:
                    bad.append(f"GET {path}?{name}={value[:40]!r}: {why}")
    Path("/tmp/overcast-fuzz-queries.txt").write_text("\n".join(bad))
    assert not bad, f"{len(bad)} hostile queries went wrong:\n" + "\n".join(bad[:40])
