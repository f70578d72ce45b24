"""Host failure, evacuation and fencing over HTTP, with fake hosts whose agents run
in this process (a short service_down_time: a host is down 3 s after its last
heartbeat; 1 s was too short on a loaded machine: hosts still reporting went down
now and then, and a heartbeat the conductor wrote late brought a dead one up again).

The tests run in order on one cloud: a host (ec) dies with servers on it; it is
seen down and skipped by the scheduler; its servers are evacuated (refusals first);
then it comes back and fences what was evacuated, keeping what is still its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.compute.versions import VERSIONS
from overcast.kit.microversion import APIVersion
from tests.api.test_compute import C, act, h, nova_error, server, wait, wait_status
from tests.api.volume_helpers import free_port
from tests.conftest import Cloud, build_cloud
from tests.images import IMAGE, add_image

HOSTS = ["ea", "eb", "ec", "ed"]
BEAT = 0.2  # seconds between heartbeats of these agents
S: dict[str, Any] = {}  # what the ordered tests hand on


def _agent(cloud: Cloud, name: str) -> Any:
    return next(a for a in cloud.app.state.local_agents if a.host == name)


def _start(cloud: Cloud, name: str, driver: Any) -> None:
    from overcast.agent.host import Agent

    async def start() -> None:
        agent = Agent(name, driver, cloud.app.state.bus, heartbeat_interval=BEAT)
        await agent.start()
        cloud.app.state.local_agents.append(agent)

    cloud.client.portal.call(start)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    from overcast.agent.virt.fake import FakeDriver

    gen = build_cloud(tmp_path_factory.mktemp("evacuate"), service_down_time=3.0,
                      volume_nbd_port=free_port())
    c = next(gen)
    c.app.state.local_agents = []
    for name in HOSTS:
        _start(c, name, FakeDriver(name))
    wait(lambda: {s.host for s in c.app.state.compute.services()} >= set(HOSTS))
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def kill(cloud: Cloud, name: str) -> asyncio.Event:
    """The host's agent dies: no heartbeats, and what is sent to it waits (as in its
    RabbitMQ queue) until an agent of that host subscribes again and the returned
    event is set. Its guests stay on its (fake) hypervisor."""
    agent = _agent(cloud, name)
    bus = cloud.app.state.bus
    back = asyncio.Event()

    async def die() -> None:
        await agent.stop()
        cloud.app.state.local_agents.remove(agent)

        async def held(msg: Any) -> Any:
            await back.wait()
            return await bus._handlers[agent.topic](msg)

        await bus.subscribe(agent.topic, held)

    cloud.client.portal.call(die)  # type: ignore[union-attr]
    return back


def state(cloud: Cloud, host: str, version: str = "2.53") -> dict[str, Any]:
    r = cloud.client.get(f"{C}/os-services?host={host}&binary=nova-compute",
                         headers=h(cloud.admin(), version))
    return dict(r.json()["services"][0])


def hypervisor_state(cloud: Cloud, host: str) -> str:
    r = cloud.client.get(f"{C}/os-hypervisors/detail", headers=cloud.admin())
    return str(next(x["state"] for x in r.json()["hypervisors"]
                    if x["hypervisor_hostname"] == host))


def boot_on(cloud: Cloud, host: str | None, name: str, **extra: Any) -> str:
    body: dict[str, Any] = {"name": name, "flavorRef": "1", "imageRef": IMAGE,
                            "networks": "none", **extra}
    if host:
        body["availability_zone"] = f"nova:{host}"
    r = cloud.client.post(f"{C}/servers", headers=h(cloud.admin(), "2.47"),
                          json={"server": body})
    assert r.status_code == 202, r.text
    return str(r.json()["server"]["id"])


def host_of(cloud: Cloud, sid: str) -> str:
    return str(server(cloud, cloud.admin(), sid)["OS-EXT-SRV-ATTR:host"])


def evacuate(cloud: Cloud, sid: str, body: dict[str, Any], version: str = "2.14",
             headers: dict[str, str] | None = None) -> Any:
    return cloud.client.post(f"{C}/servers/{sid}/action",
                             headers=h(headers or cloud.admin(), version),
                             json={"evacuate": body})


def test_a_host_that_stops_reporting_is_down_and_never_scheduled(cloud: Cloud) -> None:
    admin = cloud.admin()
    # on ec: an image-backed server, a stopped one, a volume-backed one, and one that
    # will not be evacuated (still ec's own when ec comes back)
    net = cloud.client.post("/network/v2.0/networks", headers=admin,
                            json={"network": {"name": "evac-net"}}).json()["network"]
    assert cloud.client.post("/network/v2.0/subnets", headers=admin, json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.77.0.0/24"}}).status_code == 201
    S["img"] = boot_on(cloud, "ec", "img", networks=[{"uuid": net["id"]}])
    S["stopped"] = boot_on(cloud, "ec", "stopped")
    S["keep"] = boot_on(cloud, "ec", "keep")
    S["bfv"] = boot_on(cloud, "ec", "bfv", imageRef="", block_device_mapping_v2=[
        {"source_type": "image", "uuid": IMAGE, "destination_type": "volume",
         "boot_index": 0, "volume_size": 1, "delete_on_termination": False}])
    for key in ("img", "stopped", "keep", "bfv"):
        wait_status(cloud, admin, S[key], "ACTIVE")
        assert host_of(cloud, S[key]) == "ec"
    assert act(cloud, admin, S["stopped"], {"os-stop": None}).status_code == 202
    wait_status(cloud, admin, S["stopped"], "SHUTOFF")
    assert state(cloud, "ec")["state"] == "up"
    S["ec_driver"] = _agent(cloud, "ec").driver
    S["ec_back"] = kill(cloud, "ec")
    wait(lambda: state(cloud, "ec")["state"] == "down", 10)
    assert state(cloud, "ec")["status"] == "enabled"  # down, not disabled
    assert hypervisor_state(cloud, "ec") == "down"
    assert server(cloud, admin, S["img"], "2.16")["host_status"] == "DOWN"
    # the other hosts, still reporting, stay up
    assert all(state(cloud, x)["state"] == "up" for x in ("ea", "eb", "ed"))
    # the scheduler never picks it: not even when asked for it
    r = cloud.client.post(f"{C}/servers", headers=h(admin, "2.47"), json={"server": {
        "name": "spread", "flavorRef": "1", "imageRef": IMAGE, "networks": "none",
        "min_count": 4}})
    assert r.status_code == 202, r.text
    spread = [x["id"] for x in cloud.client.get(
        f"{C}/servers?name=spread", headers=admin).json()["servers"]]
    assert len(spread) == 4
    for sid in spread:
        wait_status(cloud, admin, sid, "ACTIVE")
        assert host_of(cloud, sid) != "ec"
    pinned = boot_on(cloud, "ec", "pinned")
    wait_status(cloud, admin, pinned, "ERROR")
    assert "service down" in server(cloud, admin, pinned)["fault"]["message"]
    for sid in [*spread, pinned]:
        cloud.client.delete(f"{C}/servers/{sid}", headers=admin)


def test_a_broker_outage_keeps_a_silent_host_up_for_every_check(cloud: Cloud) -> None:
    """Had this process lost the broker just after ec's last heartbeat (and not had it
    back), ec's silence would be the broker's: ec counts as up, for the scheduler and
    for everything else alike (os-services, os-hypervisors, host_status, evacuate's
    "still in use"); the grace was the scheduler's alone, so the API showed down a
    host the scheduler still built on, and evacuate would rebuild guests that very
    likely still run."""
    bus = cloud.app.state.bus
    seen = next(s.last_seen_at for s in cloud.app.state.compute.services()
                if s.host == "ec" and s.binary == "nova-compute")
    lost = seen.replace(tzinfo=dt.UTC).timestamp() + 0.5
    bus.last_outage = (lost, math.inf)
    try:
        assert state(cloud, "ec")["state"] == "up"
        assert hypervisor_state(cloud, "ec") == "up"
        assert server(cloud, cloud.admin(), S["img"], "2.16")["host_status"] == "UP"
        r = evacuate(cloud, S["img"], {})
        assert r.status_code == 400
        assert nova_error(r, "badRequest") == "Compute service of ec is still in use."
        # lost long after ec fell silent: ec was down already, the outage changes nothing
        bus.last_outage = (lost + 5, math.inf)
        assert state(cloud, "ec")["state"] == "down"
    finally:
        del bus.last_outage  # back to the class's None: never lost
    assert state(cloud, "ec")["state"] == "down"
    assert hypervisor_state(cloud, "ec") == "down"


def test_forced_down_in_both_forms(cloud: Cloud) -> None:
    admin = cloud.admin()
    r = cloud.client.put(f"{C}/os-services/force-down", headers=h(admin, "2.11"),
                         json={"host": "eb", "binary": "nova-compute", "forced_down": True})
    assert r.status_code == 200, r.text
    assert r.json()["service"] == {"host": "eb", "binary": "nova-compute",
                                   "forced_down": True}
    svc = state(cloud, "eb")
    assert (svc["state"], svc["forced_down"]) == ("down", True)
    assert hypervisor_state(cloud, "eb") == "down"
    sid = boot_on(cloud, "eb", "to-forced-down")
    wait_status(cloud, admin, sid, "ERROR")
    cloud.client.delete(f"{C}/servers/{sid}", headers=admin)
    r = cloud.client.put(f"{C}/os-services/{svc['id']}", headers=h(admin, "2.53"),
                         json={"forced_down": False})
    assert r.status_code == 200, r.text
    assert (r.json()["service"]["state"], r.json()["service"]["forced_down"]) == ("up", False)
    # from 2.53 the body must say something; and only admins may
    assert cloud.client.put(f"{C}/os-services/{svc['id']}", headers=h(admin, "2.53"),
                            json={}).status_code == 400
    u = cloud.make_project_user()
    assert cloud.client.put(f"{C}/os-services/{svc['id']}", headers=h(u["headers"], "2.53"),
                            json={"forced_down": True}).status_code == 403


def test_evacuate_refusals(cloud: Cloud) -> None:
    admin = cloud.admin()
    up = boot_on(cloud, "ea", "on-up-host")
    wait_status(cloud, admin, up, "ACTIVE")
    r = evacuate(cloud, up, {})
    assert r.status_code == 400
    assert nova_error(r, "badRequest") == "Compute service of ea is still in use."
    r = evacuate(cloud, S["img"], {"host": "nope"})
    assert r.status_code == 404
    assert nova_error(r, "itemNotFound") == "Compute host nope not found."
    r = evacuate(cloud, S["img"], {"host": "ec"})
    assert (r.status_code, nova_error(r, "badRequest")) == \
        (400, "The target host can't be the same one.")
    r = evacuate(cloud, S["img"], {"force": True}, "2.29")
    assert (r.status_code, nova_error(r, "badRequest")) == \
        (400, "Can't force to a non-provided destination")
    # each version's body, as Nova's schemas
    assert evacuate(cloud, S["img"], {}, "2.1").status_code == 400  # onSharedStorage needed
    r = evacuate(cloud, S["img"], {"onSharedStorage": True, "adminPass": "x"}, "2.1")
    assert (r.status_code, nova_error(r, "badRequest")) == \
        (400, "admin password can't be changed on existing disk")
    assert evacuate(cloud, S["img"], {"onSharedStorage": False}, "2.14").status_code == 400
    assert evacuate(cloud, S["img"], {"force": False}, "2.28").status_code == 400
    assert evacuate(cloud, S["img"], {"host": "e c"}).status_code == 400
    if VERSIONS.max >= APIVersion(2, 68):
        assert evacuate(cloud, S["img"], {"force": False}, "2.68").status_code == 400
    u = cloud.make_project_user()
    assert evacuate(cloud, S["img"], {}, headers=u["headers"]).status_code == 403
    # forced past the scheduler, but not onto a host that is down: the server stays
    # as it was, with a fault, and the evacuation reads error
    eb = state(cloud, "eb")["id"]
    cloud.client.put(f"{C}/os-services/{eb}", headers=h(admin, "2.53"),
                     json={"forced_down": True})
    r = evacuate(cloud, S["img"], {"host": "eb", "force": True}, "2.29")
    assert r.status_code == 200, r.text
    wait(lambda: _migration(cloud, S["img"])["status"] == "error")
    s = wait_status(cloud, admin, S["img"], "ACTIVE")
    assert s["OS-EXT-SRV-ATTR:host"] == "ec"
    acts = cloud.client.get(f"{C}/servers/{S['img']}/os-instance-actions",
                            headers=admin).json()["instanceActions"]
    assert (acts[0]["action"], acts[0]["message"]) == ("evacuate", "Error")
    cloud.client.put(f"{C}/os-services/{eb}", headers=h(admin, "2.53"),
                     json={"forced_down": False})
    # nothing of that changed the server
    s = server(cloud, admin, S["img"])
    assert (s["status"], s["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "ec")
    cloud.client.delete(f"{C}/servers/{up}", headers=admin)


def _migration(cloud: Cloud, sid: str) -> dict[str, Any]:
    r = cloud.client.get(f"{C}/os-migrations?instance_uuid={sid}",
                         headers=h(cloud.admin(), "2.23"))
    found = [x for x in r.json()["migrations"] if x["migration_type"] == "evacuation"]
    assert found, r.json()
    return dict(found[0])  # the latest


def _providers(cloud: Cloud, sid: str) -> set[str]:
    from overcast.compute.hosts import provider_uuid

    r = cloud.client.get(f"/placement/allocations/{sid}", headers=cloud.admin())
    names = {provider_uuid(x): x for x in HOSTS}
    return {names[p] for p in r.json()["allocations"]}


def test_evacuate_rebuilds_elsewhere(cloud: Cloud) -> None:
    admin = cloud.admin()
    # the scheduler picks (2.14: no body back)
    r = evacuate(cloud, S["img"], {})
    assert (r.status_code, r.content) == (200, b"")
    s = wait_status(cloud, admin, S["img"], "ACTIVE")
    new = s["OS-EXT-SRV-ATTR:host"]
    assert new not in ("ec", "")
    assert _agent(cloud, new).driver.instances[S["img"]].spec.image_ref == IMAGE
    # its port (and address) went with it, bound to the new host
    (port,) = cloud.client.get(f"/network/v2.0/ports?device_id={S['img']}",
                               headers=admin).json()["ports"]
    assert (port["binding:host_id"], port["status"]) == (new, "ACTIVE")
    (plugged,) = _agent(cloud, new).driver.instances[S["img"]].spec.ports
    assert plugged["id"] == port["id"]
    assert s["addresses"]["evac-net"][0]["addr"] == port["fixed_ips"][0]["ip_address"]
    mig = _migration(cloud, S["img"])
    assert (mig["source_compute"], mig["dest_compute"], mig["status"]) == ("ec", new, "done")
    # the dead host's share stays held until it is fenced
    assert _providers(cloud, S["img"]) == {"ec", new}
    acts = cloud.client.get(f"{C}/servers/{S['img']}/os-instance-actions",
                            headers=admin).json()["instanceActions"]
    assert acts[0]["action"] == "evacuate"
    # 2.1: a forced host, the password in the reply; a stopped server stays stopped
    r = evacuate(cloud, S["stopped"], {"host": "ed", "onSharedStorage": "false"}, "2.1")
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["adminPass"], str) and r.json()["adminPass"]
    s = wait_status(cloud, admin, S["stopped"], "SHUTOFF")
    assert s["OS-EXT-SRV-ATTR:host"] == "ed"
    # volume-backed, to a host the scheduler checks (2.29, not forced): the volume
    # stays attached and the new host's guest has it
    vol = server(cloud, admin, S["bfv"])["os-extended-volumes:volumes_attached"][0]["id"]
    r = evacuate(cloud, S["bfv"], {"host": "eb", "force": False}, "2.29")
    assert r.status_code == 200, r.text
    s = wait_status(cloud, admin, S["bfv"], "ACTIVE")
    assert s["OS-EXT-SRV-ATTR:host"] == "eb"
    assert s["os-extended-volumes:volumes_attached"][0]["id"] == vol
    assert vol in _agent(cloud, "eb").driver.instances[S["bfv"]].volumes
    v = cloud.client.get(f"/volume/v3/{cloud.project_of(admin)}/volumes/{vol}",
                         headers=admin).json()["volume"]
    assert v["status"] == "in-use"
    assert [a["server_id"] for a in v["attachments"]] == [S["bfv"]]
    # the dead host still runs its copies: only fencing removes them
    assert {S["img"], S["stopped"], S["bfv"], S["keep"]} <= set(S["ec_driver"].instances)


def test_a_host_that_comes_back_fences_what_was_evacuated(cloud: Cloud) -> None:
    admin = cloud.admin()
    _start(cloud, "ec", S["ec_driver"])
    S["ec_back"].set()
    # before it reported up, the evacuated guests were gone; its own one stays
    assert set(S["ec_driver"].instances) == {S["keep"]}
    wait(lambda: state(cloud, "ec")["state"] == "up", 10)
    for key in ("img", "stopped", "bfv"):
        wait(lambda k=key: _migration(cloud, S[k])["status"] == "completed")  # type: ignore[misc]
        assert "ec" not in _providers(cloud, S[key])
        assert host_of(cloud, S[key]) != "ec"
    assert wait_status(cloud, admin, S["keep"], "ACTIVE")["OS-EXT-SRV-ATTR:host"] == "ec"
    assert _providers(cloud, S["keep"]) == {"ec"}
    # it is scheduled to again
    sid = boot_on(cloud, "ec", "back")
    assert wait_status(cloud, admin, sid, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == "ec"
    # a server whose host is up again cannot be evacuated
    r = evacuate(cloud, S["keep"], {})
    assert (r.status_code, nova_error(r, "badRequest")) == \
        (400, "Compute service of ec is still in use.")
