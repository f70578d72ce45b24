"""Allocation candidates' provider summaries are cached per provider (keyed by the
provider's row: generation, parent, root, creation time). A stale summary is a
wrong answer, so after every kind of write that changes what a summary holds
(inventories, allocations made, moved and deleted, traits, a new child, a
re-parented tree, a provider deleted and made again under the same uuid), the
reply must be the one a service with an empty cache gives over the same database;
and a write made by another process's service (another API worker) must be seen
too, since it reaches this one only through the database."""

from __future__ import annotations

import uuid
from typing import Any

from overcast.placement.objects.allocation_candidate import Summary
from overcast.placement.service import PlacementService
from tests.api.test_placement import P, alloc, hdr, make_rp
from tests.conftest import Cloud

QUERIES = [{"resources": "VCPU:1"}, {"resources": "VCPU:1,MEMORY_MB:128"},
           {"resources": "VCPU:1,SRIOV_NET_VF:1"}, {"resources": "DISK_GB:5"},
           {"resources": "VCPU:1", "required": "CUSTOM_FAST"}]
VERSIONS = ["1.10", "1.17", "1.26", "1.29", "1.36", "1.39"]


def replies(c: Cloud) -> list[Any]:
    out = []
    for version in VERSIONS:
        for q in QUERIES:
            if "required" in q and version == "1.10":   # required= arrived at 1.17
                q = {"resources": q["resources"]}
            r = c.client.get(f"{P}/allocation_candidates", headers=hdr(c, version), params=q)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json"
            out.append(r.json())
    return out


def assert_fresh(c: Cloud) -> list[Any]:
    """The cached service answers as an uncached one, twice (the second from cache)."""
    served = replies(c)
    cached = c.app.state.placement
    try:
        c.app.state.placement = PlacementService(c.app.state.db)
        uncached = replies(c)
    finally:
        c.app.state.placement = cached
    assert served == uncached
    assert replies(c) == uncached
    return served


def summary(c: Cloud, rp: str) -> dict[str, Any]:
    r = c.client.get(f"{P}/allocation_candidates", headers=hdr(c),
                     params={"resources": "VCPU:1"})
    return dict(r.json()["provider_summaries"][rp])


def test_summaries_follow_every_write(fresh_cloud: Cloud) -> None:
    c = fresh_cloud
    h = hdr(c)
    assert c.client.put(f"{P}/traits/CUSTOM_FAST", headers=h).status_code == 201
    a = make_rp(c, "a", inventory={"VCPU": {"total": 8}, "MEMORY_MB": {"total": 1024}})["uuid"]
    b = make_rp(c, "b", inventory={"VCPU": {"total": 4}, "DISK_GB": {"total": 50}})["uuid"]
    assert_fresh(c)
    assert summary(c, a)["resources"]["VCPU"] == {"capacity": 8, "used": 0}

    placement = c.app.state.placement
    placement.set_traits(a, ["CUSTOM_FAST"])
    assert_fresh(c)
    assert summary(c, a)["traits"] == ["CUSTOM_FAST"]

    consumer = str(uuid.uuid4())
    assert alloc(c, consumer, {a: {"VCPU": 3}}).status_code == 204
    assert_fresh(c)
    assert summary(c, a)["resources"]["VCPU"]["used"] == 3
    # the consumer moves: both providers' usage changes
    assert alloc(c, consumer, {b: {"VCPU": 2}}, generation=0).status_code == 204
    assert_fresh(c)
    assert summary(c, a)["resources"]["VCPU"]["used"] == 0
    assert summary(c, b)["resources"]["VCPU"]["used"] == 2

    placement.set_inventory(a, {"VCPU": {"total": 9}, "MEMORY_MB": {"total": 1024,
                                                                     "reserved": 24}})
    assert_fresh(c)
    assert summary(c, a)["resources"]["MEMORY_MB"]["capacity"] == 1000

    child = make_rp(c, "a-numa", parent=a, inventory={"SRIOV_NET_VF": {"total": 2}})["uuid"]
    make_rp(c, "a-numa-x", parent=child, inventory={"DISK_GB": {"total": 20}})
    assert_fresh(c)

    # a tree re-parented under b: every provider of it gets a new root
    d = make_rp(c, "d", inventory={"VCPU": {"total": 2}})["uuid"]
    d1 = make_rp(c, "d1", parent=d, inventory={"SRIOV_NET_VF": {"total": 1}})["uuid"]
    assert_fresh(c)
    r = c.client.put(f"{P}/resource_providers/{d}", headers=h,
                     json={"name": "d", "parent_provider_uuid": b})
    assert r.status_code == 200, r.text
    served = assert_fresh(c)
    nested = served[VERSIONS.index("1.39") * len(QUERIES) + 2]
    assert nested["provider_summaries"][d1]["root_provider_uuid"] == b

    assert c.client.delete(f"{P}/allocations/{consumer}", headers=h).status_code == 204
    assert_fresh(c)

    # deleted and made again with the same uuid (SQLite may give it the same row id)
    e = str(uuid.uuid4())
    r = c.client.post(f"{P}/resource_providers", headers=h, json={"name": "e", "uuid": e})
    assert r.status_code == 200
    placement.set_inventory(e, {"VCPU": {"total": 3}})
    assert_fresh(c)
    assert c.client.delete(f"{P}/resource_providers/{e}", headers=h).status_code == 204
    r = c.client.post(f"{P}/resource_providers", headers=h, json={"name": "e2", "uuid": e})
    assert r.status_code == 200
    placement.set_inventory(e, {"VCPU": {"total": 5}})
    assert_fresh(c)
    assert summary(c, e)["resources"]["VCPU"]["capacity"] == 5


def test_unchanged_providers_come_from_the_cache(fresh_cloud: Cloud) -> None:
    c = fresh_cloud
    a, b = (make_rp(c, n, inventory={"VCPU": {"total": 8}})["uuid"] for n in ("a", "b"))
    placement = c.app.state.placement
    first = placement.candidates_with_summaries({"VCPU": 1}).summaries
    again = placement.candidates_with_summaries({"VCPU": 1}).summaries
    assert isinstance(first[a], Summary)
    assert again[a] is first[a] and again[b] is first[b]
    assert alloc(c, str(uuid.uuid4()), {a: {"VCPU": 2}}).status_code == 204
    after = placement.candidates_with_summaries({"VCPU": 1}).summaries
    assert after[a] is not first[a] and after[a]["resources"]["VCPU"]["used"] == 2
    assert after[b] is first[b]


def test_a_write_by_another_worker_is_seen(fresh_cloud: Cloud) -> None:
    """Each API worker process has its own service and cache over one database."""
    c = fresh_cloud
    a = make_rp(c, "a", inventory={"VCPU": {"total": 8}})["uuid"]
    assert summary(c, a)["resources"]["VCPU"] == {"capacity": 8, "used": 0}
    other = PlacementService(c.app.state.db)
    other.claim(str(uuid.uuid4()), {a: {"VCPU": 5}}, project_id="p", user_id="u")
    assert summary(c, a)["resources"]["VCPU"] == {"capacity": 8, "used": 5}
    other.set_inventory(a, {"VCPU": {"total": 16}})
    other.set_traits(a, ["HW_CPU_X86_AVX2"])
    s = summary(c, a)
    assert s["resources"]["VCPU"] == {"capacity": 16, "used": 5}
    assert s["traits"] == ["HW_CPU_X86_AVX2"]
