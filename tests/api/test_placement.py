"""Placement over HTTP: providers, inventories, traits, aggregates, allocations,
allocation candidates, microversions, optimistic concurrency and error bodies."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from tests.conftest import Cloud

P = "/placement"


def hdr(cloud: Cloud, version: str = "1.39") -> dict[str, str]:
    return {**cloud.admin(), "OpenStack-API-Version": f"placement {version}"}


def err(r: Any) -> dict[str, Any]:
    body = r.json()
    assert list(body) == ["errors"], body
    e = body["errors"][0]
    assert e["status"] == r.status_code and e["request_id"].startswith("req-")
    return dict(e)


def make_rp(cloud: Cloud, name: str | None = None, parent: str | None = None,
            inventory: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name or f"rp-{uuid.uuid4().hex[:8]}"}
    if parent:
        body["parent_provider_uuid"] = parent
    r = cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud), json=body)
    assert r.status_code == 200, r.text
    rp = r.json()
    if inventory:
        r = cloud.client.put(f"{P}/resource_providers/{rp['uuid']}/inventories",
                             headers=hdr(cloud), json={
                                 "resource_provider_generation": rp["generation"],
                                 "inventories": inventory})
        assert r.status_code == 200, r.text
        rp["generation"] = r.json()["resource_provider_generation"]
    return dict(rp)


def alloc(cloud: Cloud, consumer: str, allocs: dict[str, dict[str, int]],
          generation: int | None = None, version: str = "1.39") -> Any:
    return cloud.client.put(f"{P}/allocations/{consumer}", headers=hdr(cloud, version), json={
        "allocations": {rp: {"resources": res} for rp, res in allocs.items()},
        "project_id": "p1", "user_id": "u1", "consumer_generation": generation,
        "consumer_type": "INSTANCE"})


COMPUTE = {"VCPU": {"total": 8, "allocation_ratio": 2.0, "max_unit": 16},
           "MEMORY_MB": {"total": 4096},
           "DISK_GB": {"total": 100, "reserved": 10}}


def test_root_document_and_microversions(cloud: Cloud) -> None:
    r = cloud.client.get(f"{P}/")
    assert r.status_code == 200
    v = r.json()["versions"][0]
    assert (v["min_version"], v["max_version"], v["status"]) == ("1.0", "1.39", "CURRENT")
    r = cloud.client.get(f"{P}/resource_providers", headers=hdr(cloud, "1.99"))
    assert r.status_code == 406
    e = err(r)
    assert e["max_version"] == "1.39" and e["code"] == "placement.microversion_unsupported"
    r = cloud.client.get(f"{P}/resource_providers", headers=hdr(cloud, "latest"))
    assert r.headers["OpenStack-API-Version"] == "placement 1.39"
    assert cloud.client.get(f"{P}/resource_providers", headers=cloud.admin()
                            ).headers["OpenStack-API-Version"] == "placement 1.0"


def test_non_admin_is_forbidden(cloud: Cloud) -> None:
    u = cloud.make_project_user()
    r = cloud.client.get(f"{P}/resource_providers", headers=u["headers"])
    assert r.status_code == 403
    err(r)
    assert cloud.client.get(f"{P}/resource_providers").status_code == 401


def test_provider_crud_and_shapes_per_version(cloud: Cloud) -> None:
    rp = make_rp(cloud)
    assert rp["generation"] == 0 and rp["root_provider_uuid"] == rp["uuid"]
    old = cloud.client.get(f"{P}/resource_providers/{rp['uuid']}", headers=hdr(cloud, "1.13"))
    assert "root_provider_uuid" not in old.json()
    r = cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud, "1.19"),
                          json={"name": f"old-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201 and r.content == b"" and "Location" in r.headers
    dup = cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud),
                            json={"name": rp["name"]})
    assert dup.status_code == 409 and err(dup)["code"] == "placement.duplicate_name"
    r = cloud.client.put(f"{P}/resource_providers/{rp['uuid']}", headers=hdr(cloud),
                         json={"name": rp["name"] + "-x"})
    assert r.status_code == 200 and r.json()["generation"] == 1
    listed = cloud.client.get(f"{P}/resource_providers", headers=hdr(cloud),
                              params={"name": rp["name"] + "-x"}).json()["resource_providers"]
    assert [x["uuid"] for x in listed] == [rp["uuid"]]
    assert cloud.client.delete(f"{P}/resource_providers/{rp['uuid']}",
                               headers=hdr(cloud)).status_code == 204
    r = cloud.client.get(f"{P}/resource_providers/{rp['uuid']}", headers=hdr(cloud))
    assert r.status_code == 404 and err(r)["title"] == "Not Found"


@pytest.mark.parametrize("body", [None, [], {}, {"name": ""}, {"name": 5},
                                  {"name": "x", "uuid": "not-a-uuid"}, {"name": "x", "bad": 1}])
def test_bad_provider_bodies(cloud: Cloud, body: Any) -> None:
    r = cloud.client.post(f"{P}/resource_providers", headers=hdr(cloud), json=body)
    assert r.status_code == 400, r.text
    err(r)


def test_inventories_and_generation_conflicts(cloud: Cloud) -> None:
    rp = make_rp(cloud, inventory=COMPUTE)
    u = rp["uuid"]
    r = cloud.client.get(f"{P}/resource_providers/{u}/inventories", headers=hdr(cloud))
    inv = r.json()["inventories"]
    assert inv["VCPU"] == {"total": 8, "reserved": 0, "min_unit": 1, "max_unit": 16,
                           "step_size": 1, "allocation_ratio": 2.0}
    stale = cloud.client.put(f"{P}/resource_providers/{u}/inventories", headers=hdr(cloud),
                             json={"resource_provider_generation": 0, "inventories": {}})
    assert stale.status_code == 409 and err(stale)["code"] == "placement.concurrent_update"
    gen = r.json()["resource_provider_generation"]
    r = cloud.client.put(f"{P}/resource_providers/{u}/inventories/VCPU", headers=hdr(cloud),
                         json={"resource_provider_generation": gen, "total": 16})
    assert r.status_code == 200 and r.json()["total"] == 16
    bad = cloud.client.put(f"{P}/resource_providers/{u}/inventories", headers=hdr(cloud),
                           json={"resource_provider_generation": gen + 1,
                                 "inventories": {"NOPE": {"total": 1}}})
    assert bad.status_code == 400
    bad = cloud.client.put(f"{P}/resource_providers/{u}/inventories", headers=hdr(cloud),
                           json={"resource_provider_generation": gen + 1,
                                 "inventories": {"VCPU": {"total": 1, "reserved": 2}}})
    assert bad.status_code == 400
    r = cloud.client.post(f"{P}/resource_providers/{u}/inventories", headers=hdr(cloud), json={
        "resource_provider_generation": gen + 1, "resource_class": "IPV4_ADDRESS",
        "total": 4})
    assert r.status_code == 201
    assert cloud.client.delete(f"{P}/resource_providers/{u}/inventories/IPV4_ADDRESS",
                               headers=hdr(cloud)).status_code == 204


def test_allocations_capacity_consumer_generation_and_usages(cloud: Cloud) -> None:
    rp = make_rp(cloud, inventory=COMPUTE)
    u = rp["uuid"]
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    r = alloc(cloud, c1, {u: {"VCPU": 10, "MEMORY_MB": 1024}})
    assert r.status_code == 204, r.text
    # 16 VCPU capacity (8 x 2.0): 10 used, 7 more does not fit
    r = alloc(cloud, c2, {u: {"VCPU": 7}})
    assert r.status_code == 409
    # reserved disk counts: capacity is 90
    assert alloc(cloud, c2, {u: {"DISK_GB": 91}}).status_code == 409
    assert alloc(cloud, c2, {u: {"DISK_GB": 90}}).status_code == 204
    got = cloud.client.get(f"{P}/allocations/{c1}", headers=hdr(cloud)).json()
    assert got["allocations"][u]["resources"] == {"VCPU": 10, "MEMORY_MB": 1024}
    assert got["consumer_generation"] == 0 and got["project_id"] == "p1"
    stale = alloc(cloud, c1, {u: {"VCPU": 1}}, generation=None)
    assert stale.status_code == 409 and err(stale)["code"] == "placement.concurrent_update"
    assert alloc(cloud, c1, {u: {"VCPU": 1}}, generation=0).status_code == 204
    usages = cloud.client.get(f"{P}/resource_providers/{u}/usages", headers=hdr(cloud)).json()
    assert usages["usages"] == {"VCPU": 1, "MEMORY_MB": 0, "DISK_GB": 90}
    proj = cloud.client.get(f"{P}/usages", headers=hdr(cloud), params={"project_id": "p1"})
    assert proj.json()["usages"]["DISK_GB"] >= 90
    # inventory in use cannot go away or shrink under usage
    r = cloud.client.delete(f"{P}/resource_providers/{u}/inventories/DISK_GB",
                            headers=hdr(cloud))
    assert r.status_code == 409 and err(r)["code"] == "placement.inventory.inuse"
    r = cloud.client.delete(f"{P}/resource_providers/{u}", headers=hdr(cloud))
    assert r.status_code == 409 and err(r)["code"] == "placement.resource_provider.inuse"
    # min/max/step violations are 400
    assert alloc(cloud, str(uuid.uuid4()), {u: {"VCPU": 17}}).status_code == 400
    assert cloud.client.delete(f"{P}/allocations/{c1}", headers=hdr(cloud)).status_code == 204
    assert cloud.client.delete(f"{P}/allocations/{c1}", headers=hdr(cloud)).status_code == 404
    ra = cloud.client.get(f"{P}/resource_providers/{u}/allocations", headers=hdr(cloud)).json()
    assert list(ra["allocations"]) == [c2]


def test_legacy_list_allocation_format(cloud: Cloud) -> None:
    rp = make_rp(cloud, inventory=COMPUTE)
    c = str(uuid.uuid4())
    r = cloud.client.put(f"{P}/allocations/{c}", headers=hdr(cloud, "1.8"), json={
        "allocations": [{"resource_provider": {"uuid": rp["uuid"]}, "resources": {"VCPU": 1}}],
        "project_id": "p", "user_id": "u"})
    assert r.status_code == 204
    got = cloud.client.get(f"{P}/allocations/{c}", headers=hdr(cloud, "1.8")).json()
    assert set(got) == {"allocations"}
    # from 1.8 project_id and user_id are required
    r = cloud.client.put(f"{P}/allocations/{c}", headers=hdr(cloud, "1.8"), json={
        "allocations": [{"resource_provider": {"uuid": rp["uuid"]}, "resources": {"VCPU": 1}}]})
    assert r.status_code == 400


def test_post_allocations_moves_atomically(cloud: Cloud) -> None:
    a = make_rp(cloud, inventory={"VCPU": {"total": 2}})
    b = make_rp(cloud, inventory={"VCPU": {"total": 2}})
    c, migration = str(uuid.uuid4()), str(uuid.uuid4())
    assert alloc(cloud, c, {a["uuid"]: {"VCPU": 2}}).status_code == 204
    r = cloud.client.post(f"{P}/allocations", headers=hdr(cloud), json={
        c: {"allocations": {b["uuid"]: {"resources": {"VCPU": 2}}}, "project_id": "p1",
            "user_id": "u1", "consumer_generation": 0},
        migration: {"allocations": {a["uuid"]: {"resources": {"VCPU": 2}}},
                    "project_id": "p1", "user_id": "u1", "consumer_generation": None}})
    assert r.status_code == 204, r.text
    assert cloud.app.state.placement.get_allocations(c) == {b["uuid"]: {"VCPU": 2}}
    assert cloud.app.state.placement.get_allocations(migration) == {a["uuid"]: {"VCPU": 2}}


def test_traits_and_resource_classes(cloud: Cloud) -> None:
    h = hdr(cloud)
    assert cloud.client.put(f"{P}/traits/CUSTOM_FAST", headers=h).status_code == 201
    assert cloud.client.put(f"{P}/traits/CUSTOM_FAST", headers=h).status_code == 204
    assert cloud.client.put(f"{P}/traits/not_custom", headers=h).status_code == 400
    traits = cloud.client.get(f"{P}/traits", headers=h, params={"name": "startswith:CUSTOM_"})
    assert "CUSTOM_FAST" in traits.json()["traits"]
    assert "HW_CPU_X86_AVX2" in cloud.client.get(f"{P}/traits", headers=h).json()["traits"]
    rp = make_rp(cloud)
    r = cloud.client.put(f"{P}/resource_providers/{rp['uuid']}/traits", headers=h, json={
        "resource_provider_generation": rp["generation"],
        "traits": ["CUSTOM_FAST", "HW_CPU_X86_AVX2"]})
    assert r.status_code == 200 and r.json()["resource_provider_generation"] == 1
    r = cloud.client.put(f"{P}/resource_providers/{rp['uuid']}/traits", headers=h, json={
        "resource_provider_generation": 1, "traits": ["CUSTOM_NOPE"]})
    assert r.status_code == 400
    assert cloud.client.delete(f"{P}/traits/CUSTOM_FAST", headers=h).status_code == 409
    assert cloud.client.delete(f"{P}/traits/HW_CPU_X86_AVX2", headers=h).status_code == 400
    assert cloud.client.put(f"{P}/resource_classes/CUSTOM_GPU", headers=h).status_code == 201
    assert cloud.client.post(f"{P}/resource_classes", headers=h,
                             json={"name": "CUSTOM_GPU"}).status_code == 409
    names = [x["name"] for x in cloud.client.get(f"{P}/resource_classes", headers=h
                                                 ).json()["resource_classes"]]
    assert "VCPU" in names and "CUSTOM_GPU" in names
    assert cloud.client.delete(f"{P}/resource_classes/VCPU", headers=h).status_code == 400
    assert cloud.client.delete(f"{P}/resource_classes/CUSTOM_GPU", headers=h).status_code == 204


def test_allocation_candidates_filters(fresh_cloud: Cloud) -> None:
    c = fresh_cloud
    h = hdr(c)
    c.client.put(f"{P}/traits/CUSTOM_SSD", headers=h)
    agg = str(uuid.uuid4())
    rps = [make_rp(c, f"host{i}", inventory=COMPUTE) for i in range(4)]
    c.app.state.placement.set_traits(rps[0]["uuid"], ["CUSTOM_SSD"])
    c.app.state.placement.set_traits(rps[1]["uuid"], ["HW_CPU_X86_AVX2"])
    gen = c.app.state.placement.provider_aggregates(rps[2]["uuid"])[0]
    c.app.state.placement.put_provider_aggregates(rps[2]["uuid"], gen, [agg])
    alloc(c, str(uuid.uuid4()), {rps[3]["uuid"]: {"VCPU": 16}})

    def cands(**params: Any) -> dict[str, Any]:
        r = c.client.get(f"{P}/allocation_candidates", headers=h,
                         params={"resources": "VCPU:1,MEMORY_MB:512", **params})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def hosts(body: dict[str, Any]) -> set[str]:
        return {rp for req in body["allocation_requests"] for rp in req["allocations"]}

    body = cands()
    assert hosts(body) == {rps[i]["uuid"] for i in range(3)}  # host3 is full
    s = body["provider_summaries"][rps[0]["uuid"]]
    assert s["resources"]["VCPU"] == {"capacity": 16, "used": 0}
    assert s["traits"] == ["CUSTOM_SSD"] and s["root_provider_uuid"] == rps[0]["uuid"]
    assert hosts(cands(required="CUSTOM_SSD")) == {rps[0]["uuid"]}
    assert hosts(cands(required="!CUSTOM_SSD")) == {rps[1]["uuid"], rps[2]["uuid"]}
    assert hosts(cands(member_of=agg)) == {rps[2]["uuid"]}
    assert hosts(cands(member_of=f"!{agg}")) == {rps[0]["uuid"], rps[1]["uuid"]}
    assert hosts(cands(in_tree=rps[1]["uuid"])) == {rps[1]["uuid"]}
    assert len(cands(limit=2)["allocation_requests"]) == 2
    old = c.client.get(f"{P}/allocation_candidates", headers=hdr(c, "1.10"),
                       params={"resources": "VCPU:1"}).json()
    assert isinstance(old["allocation_requests"][0]["allocations"], list)
    for bad in ({"resources": "VCPU"}, {"resources": "VCPU:0"}, {"resources": "NOPE:1"},
                {"resources": "VCPU:1", "required": "CUSTOM_NOPE"}, {},
                {"resources": "VCPU:1", "bogus": "1"}):
        r = c.client.get(f"{P}/allocation_candidates", headers=h, params=bad)
        assert r.status_code == 400, (bad, r.text)
        err(r)


def test_nested_providers_candidates(fresh_cloud: Cloud) -> None:
    c = fresh_cloud
    root = make_rp(c, "cn", inventory={"VCPU": {"total": 4}, "MEMORY_MB": {"total": 2048}})
    child = make_rp(c, "cn-numa0", parent=root["uuid"],
                    inventory={"SRIOV_NET_VF": {"total": 2}})
    assert child["root_provider_uuid"] == root["uuid"]
    assert child["parent_provider_uuid"] == root["uuid"]
    r = c.client.get(f"{P}/allocation_candidates", headers=hdr(c),
                     params={"resources": "VCPU:1,SRIOV_NET_VF:1"})
    reqs = r.json()["allocation_requests"]
    assert reqs == [{"allocations": {root["uuid"]: {"resources": {"VCPU": 1}},
                                     child["uuid"]: {"resources": {"SRIOV_NET_VF": 1}}},
                     "mappings": {"": sorted([root["uuid"], child["uuid"]])}}]
    assert set(r.json()["provider_summaries"]) == {root["uuid"], child["uuid"]}
    r = c.client.delete(f"{P}/resource_providers/{root['uuid']}", headers=hdr(c))
    assert r.status_code == 409
    assert err(r)["code"] == "placement.resource_provider.cannot_delete_parent"


def test_concurrent_claims_never_exceed_capacity(fresh_cloud: Cloud) -> None:
    svc = fresh_cloud.app.state.placement
    rp = make_rp(fresh_cloud, inventory={"VCPU": {"total": 10}})
    ok: list[str] = []
    failed: list[str] = []

    def claim() -> None:
        consumer = str(uuid.uuid4())
        try:
            svc.claim(consumer, {rp["uuid"]: {"VCPU": 1}}, project_id="p", user_id="u")
            ok.append(consumer)
        except Exception as exc:  # noqa: BLE001
            failed.append(type(exc).__name__)

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 10 and failed == ["Conflict"] * 10
    assert svc.usages(rp["uuid"]) == {"VCPU": 10}


def test_allocation_write_bumps_each_touched_provider_once(cloud: Cloud) -> None:
    """Allocation writes run as a fixed handful of Core statements with one guarded
    generation bump for every provider they touch: the providers named in the request
    and those the consumer held before (released ones move too), each by exactly one,
    and a provider created in the same breath answers with its own tree."""
    def gen(rp: dict[str, Any]) -> int:
        r = cloud.client.get(f"{P}/resource_providers/{rp['uuid']}", headers=hdr(cloud))
        return int(r.json()["generation"])

    a, b, c = (make_rp(cloud, inventory={"VCPU": {"total": 4, "max_unit": 8},
                                         "MEMORY_MB": {"total": 512}})
               for _ in range(3))
    consumer = str(uuid.uuid4())
    before = {x["uuid"]: gen(x) for x in (a, b, c)}
    r = alloc(cloud, consumer, {a["uuid"]: {"VCPU": 1}, b["uuid"]: {"MEMORY_MB": 64}})
    assert r.status_code == 204, r.text
    assert [gen(x) - before[x["uuid"]] for x in (a, b, c)] == [1, 1, 0]
    # Moving to c releases a and b: all three move by one.
    r = alloc(cloud, consumer, {c["uuid"]: {"VCPU": 2}}, generation=0)
    assert r.status_code == 204, r.text
    assert [gen(x) - before[x["uuid"]] for x in (a, b, c)] == [2, 2, 1]
    # A failed write (over capacity) moves nothing.
    r = alloc(cloud, str(uuid.uuid4()), {a["uuid"]: {"VCPU": 5}})
    assert r.status_code == 409 and err(r)["code"] == "placement.undefined_code"
    assert [gen(x) - before[x["uuid"]] for x in (a, b, c)] == [2, 2, 1]
    child = make_rp(cloud, parent=a["uuid"])
    assert child["root_provider_uuid"] == a["uuid"]
    assert child["parent_provider_uuid"] == a["uuid"] and child["generation"] == 0


def test_bulk_usages_match_each_provider_read_alone(cloud: Cloud) -> None:
    """Compute's hypervisor list read Placement usage one provider at a time (~2 ms a
    host: 104 ms for the console's admin table at 50 hosts); `usages_of` reads every
    provider's at once and must say exactly what `usages` says for each, including a
    provider with inventory but nothing allocated and one with no inventory at all."""
    svc = cloud.app.state.placement
    busy = make_rp(cloud, inventory=COMPUTE)
    idle = make_rp(cloud, inventory={"VCPU": {"total": 4}})
    bare = make_rp(cloud)
    consumer = str(uuid.uuid4())
    assert alloc(cloud, consumer, {busy["uuid"]: {"VCPU": 2, "DISK_GB": 5}}).status_code == 204
    missing = str(uuid.uuid4())
    got = svc.usages_of([busy["uuid"], idle["uuid"], bare["uuid"], missing, busy["uuid"]])
    assert got == {rp["uuid"]: svc.usages(rp["uuid"]) for rp in (busy, idle, bare)}
    assert got[busy["uuid"]] == {"VCPU": 2, "MEMORY_MB": 0, "DISK_GB": 5}
    assert got[bare["uuid"]] == {}
    assert svc.usages_of([]) == {}
    cloud.client.delete(f"{P}/allocations/{consumer}", headers=hdr(cloud))
