"""A burst of boots scheduled as one batch (compute/batch.py), through the API with
fake hosts: every instance ACTIVE with its allocation written exactly once, the
burst spread, server groups honoured across the batch, a host that fills up
within the batch, NoValidHost per instance with its fault, and a refused batched
claim that falls back to one at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.compute.hosts import provider_uuid
from overcast.kit.errors import Conflict
from tests.api.test_compute import C, add_agents, wait
from tests.conftest import Cloud, build_cloud
from tests.images import IMAGE, add_image

HOSTS = [f"bh{i}" for i in range(6)]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("batch"))
    c = next(gen)
    c.app.state.local_agents = []
    # m1.small (flavor 2: 1 vCPU, 2 GiB, 20 GB): 4 fit on each host by RAM
    add_agents(c, HOSTS, vcpus=16, memory_mb=8192, disk_gb=1000)
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


@pytest.fixture
def user(cloud: Cloud) -> dict[str, Any]:
    u = cloud.make_project_user()
    cloud.client.put(f"{C}/os-quota-sets/{u['project_id']}", headers=cloud.admin(),
                     json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    return u


def create(cloud: Cloud, u: dict[str, Any], count: int, flavor: str = "1",
           **extra: Any) -> list[str]:
    """`count` servers in one request (one ScheduleInstances: one batch)."""
    hints = extra.pop("hints", None)
    body: dict[str, Any] = {"server": {"name": "b", "flavorRef": flavor, "imageRef": IMAGE,
                                       "min_count": count, "max_count": count, **extra}}
    if hints:
        body["os:scheduler_hints"] = hints
    body["server"]["return_reservation_id"] = True
    r = cloud.client.post(f"{C}/servers", headers=u["headers"], json=body)
    assert r.status_code == 202, r.text
    servers = cloud.client.get(f"{C}/servers", headers=u["headers"], params={
        "reservation_id": r.json()["reservation_id"]}).json()["servers"]
    ids = [s["id"] for s in servers]
    assert len(ids) == count
    return ids


def settle(cloud: Cloud, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Wait until none is building; the servers as an admin sees them."""
    def view() -> dict[str, dict[str, Any]]:
        body = cloud.client.get(f"{C}/servers/detail", headers=cloud.admin(),
                                params={"all_tenants": 1, "limit": 1000}).json()
        return {s["id"]: s for s in body["servers"] if s["id"] in ids}

    wait(lambda: all(s["status"] in ("ACTIVE", "ERROR") for s in view().values()),
         timeout=60)
    return view()


def allocations(cloud: Cloud, uuid: str) -> dict[str, dict[str, int]]:
    return dict(cloud.app.state.placement.get_allocations(uuid))


def test_a_burst_in_one_request_is_one_batch_spread_and_claimed_once(
        cloud: Cloud, user: dict[str, Any]) -> None:
    batcher = cloud.app.state.conductor.batcher
    before = (batcher.batches, batcher.scheduled)
    ids = create(cloud, user, 12)
    servers = settle(cloud, ids)
    assert Counter(s["status"] for s in servers.values()) == {"ACTIVE": 12}
    # scheduled together: one batch took all twelve
    assert batcher.batches == before[0] + 1
    assert batcher.scheduled == before[1] + 12
    placed = Counter(s["OS-EXT-SRV-ATTR:host"] for s in servers.values())
    assert set(placed) == set(HOSTS) and max(placed.values()) == 2  # spread evenly
    for sid, s in servers.items():
        allocs = allocations(cloud, sid)
        assert allocs == {provider_uuid(s["OS-EXT-SRV-ATTR:host"]): {
            "VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}
    usage = cloud.app.state.placement.project_usages(user["project_id"])
    assert usage == {"VCPU": 12, "MEMORY_MB": 12 * 512, "DISK_GB": 12}
    for sid in ids:
        cloud.client.delete(f"{C}/servers/{sid}", headers=user["headers"])


def test_anti_affinity_across_a_batch_and_no_valid_host_per_instance(
        cloud: Cloud, user: dict[str, Any]) -> None:
    g = cloud.client.post(f"{C}/os-server-groups", headers=user["headers"], json={
        "server_group": {"name": "spread", "policies": ["anti-affinity"]}}
    ).json()["server_group"]
    ids = create(cloud, user, len(HOSTS) + 1, hints={"group": g["id"]})
    servers = settle(cloud, ids)
    active = [s for s in servers.values() if s["status"] == "ACTIVE"]
    errors = [s for s in servers.values() if s["status"] == "ERROR"]
    # one member per host; the one left over fails alone, with Nova's fault
    assert len(active) == len(HOSTS) and len(errors) == 1
    assert {s["OS-EXT-SRV-ATTR:host"] for s in active} == set(HOSTS)
    fault = errors[0]["fault"]
    assert fault["code"] == 500 and "No valid host was found" in fault["message"]
    assert "ServerGroupAntiAffinityFilter" in fault["message"]
    assert allocations(cloud, errors[0]["id"]) == {}
    for sid in ids:
        cloud.client.delete(f"{C}/servers/{sid}", headers=user["headers"])


def test_affinity_across_a_batch(cloud: Cloud, user: dict[str, Any]) -> None:
    g = cloud.client.post(f"{C}/os-server-groups", headers=user["headers"], json={
        "server_group": {"name": "pack", "policies": ["affinity"]}}).json()["server_group"]
    ids = create(cloud, user, 4, hints={"group": g["id"]})
    servers = settle(cloud, ids)
    assert Counter(s["status"] for s in servers.values()) == {"ACTIVE": 4}
    assert len({s["OS-EXT-SRV-ATTR:host"] for s in servers.values()}) == 1
    for sid in ids:
        cloud.client.delete(f"{C}/servers/{sid}", headers=user["headers"])


def test_a_batch_that_fills_every_host_fails_only_the_extra(
        cloud: Cloud, user: dict[str, Any]) -> None:
    # 4 m1.small (2 GiB) fit on each 8 GiB host: 24 in all; the 25th has no room
    placement = cloud.app.state.placement
    wait(lambda: all(not placement.usages(provider_uuid(h)).get("MEMORY_MB")
                     for h in HOSTS), timeout=30)  # the other tests' servers are gone
    ids = create(cloud, user, 4 * len(HOSTS) + 1, flavor="2")
    servers = settle(cloud, ids)
    statuses = Counter(s["status"] for s in servers.values())
    assert statuses == {"ACTIVE": 4 * len(HOSTS), "ERROR": 1}
    err = next(s for s in servers.values() if s["status"] == "ERROR")
    assert "No valid host was found" in err["fault"]["message"]
    for h in HOSTS:
        assert placement.usages(provider_uuid(h)).get("MEMORY_MB", 0) == 8192
    for sid in ids:
        cloud.client.delete(f"{C}/servers/{sid}", headers=user["headers"])
    wait(lambda: all(not placement.usages(provider_uuid(h)).get("MEMORY_MB")
                     for h in HOSTS), timeout=30)


def test_a_refused_batched_claim_goes_one_at_a_time(
        cloud: Cloud, user: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    placement = cloud.app.state.placement
    real = placement.set_allocations
    refused: list[int] = []

    def once(consumers: dict[str, Any]) -> None:
        if len(consumers) > 1 and not refused:
            refused.append(len(consumers))
            raise Conflict("a concurrent writer took a host (test)")
        real(consumers)

    monkeypatch.setattr(placement, "set_allocations", once)
    ids = create(cloud, user, 5)
    servers = settle(cloud, ids)
    assert refused == [5]
    assert Counter(s["status"] for s in servers.values()) == {"ACTIVE": 5}
    for sid, s in servers.items():
        assert list(allocations(cloud, sid)) == [provider_uuid(s["OS-EXT-SRV-ATTR:host"])]
    for sid in ids:
        cloud.client.delete(f"{C}/servers/{sid}", headers=user["headers"])


def test_a_batch_that_fails_after_its_claim_is_done_one_at_a_time_claimed_once(
        cloud: Cloud, user: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch claimed, then failed before writing the hosts (as a crash would
    leave it): one at a time gives each claim back and claims again, once."""
    batcher = cloud.app.state.conductor.batcher
    real = batcher._record
    failed: list[int] = []

    def broken(chosen: list[Any], services: dict[str, Any]) -> Any:
        if not failed:
            failed.append(len(chosen))
            raise RuntimeError("the database went away (test)")
        return real(chosen, services)

    monkeypatch.setattr(batcher, "_record", broken)
    ids = create(cloud, user, 4)
    servers = settle(cloud, ids)
    assert failed == [4]
    assert Counter(s["status"] for s in servers.values()) == {"ACTIVE": 4}
    for sid, s in servers.items():
        assert list(allocations(cloud, sid)) == [provider_uuid(s["OS-EXT-SRV-ATTR:host"])]
    usage = cloud.app.state.placement.project_usages(user["project_id"])
    assert usage == {"VCPU": 4, "MEMORY_MB": 4 * 512, "DISK_GB": 4}
    for sid in ids:
        cloud.client.delete(f"{C}/servers/{sid}", headers=user["headers"])
