"""Placement's request schemas at the door (issue 13, section 1): every body and query
string is checked against Placement's own schema for the request's microversion
before a handler runs, and refused as Placement refuses it.

Hand-written cases for each category the issue names: wrong JSON types, numbers past
Placement's ranges, NUL and lone surrogates, lengths, uuid formats, enums and
patterns, microversion-dependent shapes; and valid edge cases that must still pass.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Cloud

P = "/placement"
BODY = "JSON does not validate: "
QUERY = "Invalid query string parameters: "


def hdr(cloud: Cloud, version: str = "1.39") -> dict[str, str]:
    return {**cloud.admin(), "OpenStack-API-Version": f"placement {version}"}


def refused(r: Any, prefix: str = BODY, code: str = "placement.undefined_code",
            status: int = 400) -> str:
    """Assert a refusal in Placement's error format; return its detail."""
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["errors"], body
    e = body["errors"][0]
    assert e["status"] == status and e["code"] == code, e
    assert e["request_id"].startswith("req-")
    assert prefix in e["detail"], e["detail"]
    assert len(r.content) < 4096
    return str(e["detail"])


@pytest.fixture(scope="module")
def rp(cloud: Cloud) -> dict[str, Any]:
    """A provider with VCPU and MEMORY_MB inventory."""
    r = cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud),
                          json={"name": f"schemas-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 200, r.text
    out = dict(r.json())
    r = cloud.client.put(f"{P}/resource_providers/{out['uuid']}/inventories",
                         headers=hdr(cloud), json={
                             "resource_provider_generation": out["generation"],
                             "inventories": {"VCPU": {"total": 64},
                                             "MEMORY_MB": {"total": 65536}}})
    assert r.status_code == 200, r.text
    return out


def gen(cloud: Cloud, rp_uuid: str) -> int:
    r = cloud.client.get(f"{P}/resource_providers/{rp_uuid}", headers=hdr(cloud))
    return int(r.json()["generation"])


def put_inv(cloud: Cloud, rp: dict[str, Any], record: dict[str, Any]) -> Any:
    return cloud.client.put(f"{P}/resource_providers/{rp['uuid']}/inventories",
                            headers=hdr(cloud), json={
                                "resource_provider_generation": gen(cloud, rp["uuid"]),
                                "inventories": {"VCPU": {"total": 64},
                                                "MEMORY_MB": record}})


def alloc_body(rp: dict[str, Any], **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"allocations": {rp["uuid"]: {"resources": {"VCPU": 1}}},
                            "project_id": "p", "user_id": "u", "consumer_generation": None,
                            "consumer_type": "INSTANCE"}
    body.update(over)
    return {k: v for k, v in body.items() if v is not ...}


# ------------------------------------------------------------ providers
@pytest.mark.parametrize("body", [
    {"name": "x" * 201},                                    # Placement's 200
    {"name": "nul\u0000inside"},                            # no column holds NUL
    {"name": {"a": 1}}, {"name": ["x"]}, {"name": None},    # wrong types
    {"name": "x", "uuid": "not-a-uuid"}, {"name": "x", "uuid": 5},
    {"name": "x", "parent_provider_uuid": "nope"},
    {"name": "x", "generation": 1},                         # additionalProperties
])
def test_provider_create_refusals(cloud: Cloud, body: dict[str, Any]) -> None:
    refused(cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud), json=body))


def test_provider_name_limits_and_lone_surrogates(cloud: Cloud) -> None:
    h = {**hdr(cloud), "Content-Type": "application/json"}
    r = cloud.client.post(f"{P}/resource_providers", headers=h,
                          content=b'{"name": "bad\\ud800name"}')
    assert r.status_code == 400 and "errors" in r.json()
    detail = refused(cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud),
                                       json={"name": "n" * 100_000}))
    assert len(detail) < 1000  # never echoed back whole
    # 200 characters, any printable text (Placement refuses no other character)
    for name in ("y" * 200, f"tab\there-{uuid.uuid4().hex[:6]}", "ünïcødé-名前"):
        r = cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud),
                              json={"name": name})
        assert r.status_code == 200, r.text


def test_provider_parent_only_from_1_14(cloud: Cloud, rp: dict[str, Any]) -> None:
    body = {"name": f"child-{uuid.uuid4().hex[:6]}", "parent_provider_uuid": rp["uuid"]}
    refused(cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud, "1.13"),
                              json=body))
    r = cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud, "1.14"), json=body)
    assert r.status_code == 201, r.text
    # an update takes no uuid
    refused(cloud.client.put(f"{P}/resource_providers/{rp['uuid']}", headers=hdr(cloud),
                             json={"name": "x", "uuid": str(uuid.uuid4())}))


@pytest.mark.parametrize("version,params", [
    ("1.2", {"member_of": str(uuid.uuid4())}),   # member_of from 1.3
    ("1.3", {"resources": "VCPU:1"}),            # resources from 1.4
    ("1.13", {"in_tree": str(uuid.uuid4())}),    # in_tree from 1.14
    ("1.17", {"required": "HW_CPU_X86_AVX"}),    # required from 1.18
    ("1.39", {"in_tree": "not-a-uuid"}), ("1.39", {"uuid": "nope"}),
    ("1.39", {"limit": "5"}), ("1.39", {"name": "a\u0000b"}),
])
def test_provider_list_query_refusals(cloud: Cloud, version: str,
                                      params: dict[str, str]) -> None:
    r = cloud.client.get(f"{P}/resource_providers", headers=hdr(cloud, version),
                         params=params)
    refused(r, QUERY)


def test_provider_list_query_values(cloud: Cloud, rp: dict[str, Any]) -> None:
    def get(**params: str) -> Any:
        return cloud.client.get(f"{P}/resource_providers", headers=hdr(cloud), params=params)

    for amount in ("9" * 30, "9" * 5000):     # matches nothing, overflows nothing
        r = get(resources="VCPU:" + amount)
        assert r.status_code == 200 and r.json()["resource_providers"] == []
    refused(get(resources="VCPU:١"), "", code="placement.query.bad_value")
    refused(get(resources="VCPU"), "Badly formed", code="placement.query.bad_value")
    assert rp["uuid"] in [x["uuid"] for x in get(resources="VCPU:2").json()[
        "resource_providers"]]


# ------------------------------------------------------------ inventories
@pytest.mark.parametrize("record", [
    {"total": 2**31},                                  # Placement's MAX_INT is 2**31 - 1
    {"total": 0}, {"total": "8"}, {"total": 8.5}, {"total": True},
    {"total": 8, "reserved": 2**40}, {"total": 8, "reserved": -1},
    {"total": 8, "min_unit": 0}, {"total": 8, "max_unit": 2**31},
    {"total": 8, "step_size": 2**63 - 1},
    {"total": 8, "allocation_ratio": 1e39},           # past the largest float Placement keeps
    {"total": 8, "allocation_ratio": "2.0"}, {"total": 8, "allocation_ratio": {}},
    {"total": 8, "extra": 1}, {"reserved": 1}, [], "x",
])
def test_inventory_record_refusals(cloud: Cloud, rp: dict[str, Any], record: Any) -> None:
    refused(put_inv(cloud, rp, record))


def test_inventory_infinity_and_edges(cloud: Cloud, rp: dict[str, Any]) -> None:
    h = {**hdr(cloud), "Content-Type": "application/json"}
    u = rp["uuid"]
    raw = (f'{{"resource_provider_generation": {gen(cloud, u)}, "inventories": {{"VCPU": '
           f'{{"total": 64}}, "MEMORY_MB": {{"total": 8, "allocation_ratio": 1e400}}}}}}')
    r = cloud.client.put(f"{P}/resource_providers/{u}/inventories", headers=h, content=raw)
    assert r.status_code == 400 and "errors" in r.json()
    r = put_inv(cloud, rp, {"total": 2**31 - 1, "max_unit": 2**31 - 1, "step_size": 1,
                            "allocation_ratio": 3.4e38, "reserved": 2**31 - 1})
    assert r.status_code == 200, r.text
    r = put_inv(cloud, rp, {"total": 65536})
    assert r.status_code == 200, r.text


def test_inventory_one_class_and_post(cloud: Cloud, rp: dict[str, Any]) -> None:
    u = rp["uuid"]
    url = f"{P}/resource_providers/{u}/inventories"
    # PUT one class: total and the generation are required
    refused(cloud.client.put(f"{url}/VCPU", headers=hdr(cloud), json={"total": 64}))
    refused(cloud.client.put(f"{url}/VCPU", headers=hdr(cloud), json={
        "resource_provider_generation": gen(cloud, u), "total": 2**31}))
    r = cloud.client.put(f"{url}/VCPU", headers=hdr(cloud), json={
        "resource_provider_generation": gen(cloud, u), "total": 64})
    assert r.status_code == 200, r.text
    # POST: a resource class of Placement's pattern; the generation is optional
    for bad in ({"resource_class": "disk_gb", "total": 1},
                {"resource_class": {"x": 1}, "total": 1},
                {"resource_class": "DISK_GB", "total": 2**31},
                {"total": 1}):
        refused(cloud.client.post(url, headers=hdr(cloud), json=bad))
    r = cloud.client.post(url, headers=hdr(cloud), json={"resource_class": "DISK_GB",
                                                           "total": 10})
    assert r.status_code == 201, r.text


# ------------------------------------------------------------ allocations
@pytest.mark.parametrize("over", [
    {"consumer_type": {"a": 1}}, {"consumer_type": "instance"}, {"consumer_type": ""},
    {"project_id": {"a": 1}}, {"user_id": ["u"]}, {"project_id": ""},
    {"project_id": "p" * 256}, {"user_id": "u\u0000"},
    {"consumer_generation": "0"}, {"consumer_generation": ...}, {"project_id": ...},
    {"allocations": {"not-a-uuid": {"resources": {"VCPU": 1}}}},
    {"allocations": []}, {"allocations": "x"},
    {"extra": True},
])
def test_allocation_refusals(cloud: Cloud, rp: dict[str, Any], over: dict[str, Any]) -> None:
    r = cloud.client.put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud),
                         json=alloc_body(rp, **over))
    refused(r)


@pytest.mark.parametrize("resources", [
    {"VCPU": 2**31}, {"VCPU": 0}, {"VCPU": "1"}, {"VCPU": 1.5}, {}, {"vcpu": 1},
    {"VCPU": {"a": 1}},
])
def test_allocation_amount_refusals(cloud: Cloud, rp: dict[str, Any],
                                    resources: dict[str, Any]) -> None:
    body = alloc_body(rp, allocations={rp["uuid"]: {"resources": resources}})
    refused(cloud.client.put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud),
                             json=body))


def test_allocation_shapes_per_microversion(cloud: Cloud, rp: dict[str, Any]) -> None:
    u = rp["uuid"]
    listed = {"allocations": [{"resource_provider": {"uuid": u}, "resources": {"VCPU": 1}}]}
    put = cloud.client.put
    # 1.0: the list form, and nothing else (project/user come at 1.8)
    assert put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud, "1.0"),
               json=listed).status_code == 204
    refused(put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud, "1.7"),
                json={**listed, "project_id": "p", "user_id": "u"}))
    refused(put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud, "1.11"),
                json=alloc_body(rp, consumer_generation=..., consumer_type=...)))
    # 1.12: the dict form; consumer_generation only from 1.28, consumer_type from 1.38
    refused(put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud, "1.27"),
                json=alloc_body(rp, consumer_type=...)))
    refused(put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud, "1.37"),
                json=alloc_body(rp)))
    for version, body in (("1.12", alloc_body(rp, consumer_generation=...,
                                              consumer_type=...)),
                          ("1.28", alloc_body(rp, consumer_type=...)),
                          ("1.34", alloc_body(rp, consumer_type=..., mappings={"": [u]})),
                          ("1.38", alloc_body(rp, consumer_type=...)),
                          ("1.38", alloc_body(rp))):
        r = put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud, version), json=body)
        assert r.status_code == 204, (version, r.text)
    # an empty dict removes a consumer's allocations from 1.28 (not before)
    refused(put(f"{P}/allocations/{uuid.uuid4()}", headers=hdr(cloud, "1.27"),
                json=alloc_body(rp, allocations={}, consumer_type=...,
                                consumer_generation=...)))
    c = str(uuid.uuid4())
    assert put(f"{P}/allocations/{c}", headers=hdr(cloud), json=alloc_body(
        rp)).status_code == 204
    assert put(f"{P}/allocations/{c}", headers=hdr(cloud), json=alloc_body(
        rp, allocations={}, consumer_generation=0)).status_code == 204


def test_post_allocations(cloud: Cloud, rp: dict[str, Any]) -> None:
    post = cloud.client.post
    one = alloc_body(rp)
    # POST /allocations begins at 1.13: a 404 below, whatever the body
    r = post(f"{P}/allocations", headers=hdr(cloud, "1.12"), json={"x": 1})
    assert r.status_code == 404
    for bad in ({}, {"not-a-uuid": one}, {str(uuid.uuid4()): {**one, "consumer_type": {}}},
                {str(uuid.uuid4()): {**one, "project_id": 5}}, []):
        refused(post(f"{P}/allocations", headers=hdr(cloud), json=bad))
    r = post(f"{P}/allocations", headers=hdr(cloud), json={str(uuid.uuid4()): one})
    assert r.status_code == 204, r.text


# ------------------------------------------------------------ traits, classes, aggregates
def test_traits(cloud: Cloud, rp: dict[str, Any]) -> None:
    h = hdr(cloud)
    url = f"{P}/resource_providers/{rp['uuid']}/traits"
    for bad in ({"traits": "HW_CPU_X86_AVX"}, {"traits": [{"a": 1}]}, {"traits": [""]},
                {"traits": ["T" * 256]}, {"traits": []},
                {"traits": [], "resource_provider_generation": "1"},
                {"traits": [], "resource_provider_generation": 2**40}):
        refused(cloud.client.put(url, headers=h, json=bad))
    assert cloud.client.put(f"{P}/traits/CUSTOM_{'X' * 249}", headers=h).status_code == 400
    assert cloud.client.put(f"{P}/traits/CUSTOM_{'X' * 248}", headers=h).status_code == 201
    refused(cloud.client.get(f"{P}/traits", headers=h, params={"bogus": "1"}), QUERY)
    r = cloud.client.get(f"{P}/traits", headers=h, params={"associated": "maybe"})
    assert r.status_code == 400 and "associated" in r.json()["errors"][0]["detail"]
    r = cloud.client.get(f"{P}/traits", headers=h, params={"associated": "True"})
    assert r.status_code == 200
    # traits begin at 1.6
    assert cloud.client.get(f"{P}/traits", headers=hdr(cloud, "1.5"),
                            params={"bogus": "1"}).status_code == 404


def test_resource_classes(cloud: Cloud) -> None:
    h = hdr(cloud)
    for bad in ({"name": "GPU"}, {"name": "CUSTOM_lower"}, {"name": {"a": 1}},
                {"name": "CUSTOM_" + "X" * 249}, {}, {"name": "CUSTOM_OK", "x": 1}):
        refused(cloud.client.post(f"{P}/resource_classes", headers=h, json=bad))
    r = cloud.client.post(f"{P}/resource_classes", headers=h,
                          json={"name": "CUSTOM_" + "Y" * 248})
    assert r.status_code == 201, r.text
    refused(cloud.client.put(f"{P}/resource_classes/CUSTOM_{'Z' * 249}", headers=h))


def test_aggregates_per_microversion(cloud: Cloud, rp: dict[str, Any]) -> None:
    url = f"{P}/resource_providers/{rp['uuid']}/aggregates"
    agg = str(uuid.uuid4())
    # 1.1 to 1.18: a bare list of distinct uuids
    for bad in ({"aggregates": [agg]}, [agg, agg], ["nope"], [{"a": 1}]):
        refused(cloud.client.put(url, headers=hdr(cloud, "1.18"), json=bad))
    r = cloud.client.put(url, headers=hdr(cloud, "1.18"), json=[agg])
    assert r.status_code == 200, r.text
    # 1.19: an object with the provider's generation
    for bad in ([agg], {"aggregates": [agg]}, {"aggregates": agg,
                                               "resource_provider_generation": 0}):
        refused(cloud.client.put(url, headers=hdr(cloud), json=bad))
    r = cloud.client.put(url, headers=hdr(cloud), json={
        "aggregates": [], "resource_provider_generation": gen(cloud, rp["uuid"])})
    assert r.status_code == 200, r.text
    assert cloud.client.put(url, headers=hdr(cloud, "1.0"), json=[]).status_code == 404


# ------------------------------------------------------------ query strings
@pytest.mark.parametrize("version,params", [
    ("1.39", {"project_id": ""}), ("1.39", {"project_id": "p" * 256}),
    ("1.39", {"user_id": "u"}), ("1.39", {"project_id": "p", "consumer_type": "instance"}),
    ("1.37", {"project_id": "p", "consumer_type": "INSTANCE"}),
    ("1.39", {"project_id": "p", "bogus": "1"}), ("1.39", {"project_id": "p\u0000"}),
])
def test_usages_query_refusals(cloud: Cloud, version: str, params: dict[str, str]) -> None:
    refused(cloud.client.get(f"{P}/usages", headers=hdr(cloud, version), params=params),
            QUERY)


def test_usages_query_accepted(cloud: Cloud) -> None:
    for ct in ("INSTANCE", "all", "unknown"):
        r = cloud.client.get(f"{P}/usages", headers=hdr(cloud),
                             params={"project_id": "p", "consumer_type": ct})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("version,params", [
    ("1.39", {"resources": "VCPU:1", "group_policy": "sometimes"}),
    ("1.39", {"resources": "VCPU:1", "limit": "0"}),
    ("1.39", {"resources": "VCPU:1", "limit": "-1"}),
    ("1.39", {"resources": "VCPU:1", "limit": "ten"}),
    ("1.39", {"resources": "VCPU:1", "resources_" + "x" * 65: "VCPU:1"}),
    ("1.32", {"resources": "VCPU:1", "resources_gpu": "VGPU:1"}),  # names from 1.33
    ("1.24", {"resources": "VCPU:1", "resources1": "VCPU:1"}),     # groups from 1.25
    ("1.24", {"resources": "VCPU:1", "group_policy": "none"}),
    ("1.30", {"resources": "VCPU:1", "in_tree": str(uuid.uuid4())}),  # from 1.31
    ("1.20", {"resources": "VCPU:1", "member_of": str(uuid.uuid4())}),  # from 1.21
    ("1.16", {"resources": "VCPU:1", "required": "HW_CPU_X86_AVX"}),  # from 1.17
    ("1.15", {"resources": "VCPU:1", "limit": "1"}),                  # from 1.16
    ("1.10", {}),
])
def test_candidates_query_refusals(cloud: Cloud, version: str,
                                   params: dict[str, str]) -> None:
    r = cloud.client.get(f"{P}/allocation_candidates", headers=hdr(cloud, version),
                         params=params)
    refused(r, QUERY)


def test_candidates_query_values(cloud: Cloud, rp: dict[str, Any]) -> None:
    def get(**params: str) -> Any:
        return cloud.client.get(f"{P}/allocation_candidates", headers=hdr(cloud),
                                params=params)

    for amount in ("9" * 40, "9" * 5000):
        r = get(resources="VCPU:" + amount)
        assert r.status_code == 200 and r.json()["allocation_requests"] == []
    refused(get(resources="VCPU:-1"), "", code="placement.query.bad_value")
    refused(get(limit="1"), "resources", code="placement.query.missing_value")
    r = get(resources="VCPU:1", limit="9" * 40, group_policy="isolate",
            resources1="VCPU:1", required_gpu="CUSTOM_X", in_tree=rp["uuid"])
    assert r.status_code == 200, r.text
    assert [rp["uuid"]] == [p for req in r.json()["allocation_requests"]
                            for p in req["allocations"]]
    assert cloud.client.get(f"{P}/allocation_candidates", headers=hdr(cloud, "1.9"),
                            params={"bogus": "1"}).status_code == 404


# ------------------------------------------------------------ the document
def test_openapi_lists_every_placement_schema(cloud: Cloud) -> None:
    doc = cloud.client.get("/openapi.json").json()["paths"]
    bodies = [("/placement/resource_providers", "post"),
              ("/placement/resource_providers/{uuid}", "put"),
              ("/placement/resource_providers/{uuid}/inventories", "put"),
              ("/placement/resource_providers/{uuid}/inventories", "post"),
              ("/placement/resource_providers/{uuid}/inventories/{rc}", "put"),
              ("/placement/allocations/{consumer}", "put"),
              ("/placement/allocations", "post"),
              ("/placement/resource_providers/{uuid}/traits", "put"),
              ("/placement/resource_classes", "post"),
              ("/placement/resource_providers/{uuid}/aggregates", "put")]
    for path, method in bodies:
        assert "requestBody" in doc[path][method], (path, method)
    queries = {"/placement/resource_providers": "in_tree",
               "/placement/allocation_candidates": "group_policy",
               "/placement/usages": "project_id", "/placement/traits": "associated"}
    for path, name in queries.items():
        assert name in [p["name"] for p in doc[path]["get"]["parameters"]], path
