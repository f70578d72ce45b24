"""rescue/unrescue and changePassword (issue 16, compute servers): done by a driver
that can, refused in Nova's words on a host whose driver cannot (its capabilities,
reported in the heartbeat), never pretended."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, act, add_agents, boot, nova_error, wait, wait_status
from tests.conftest import Cloud, build_cloud
from tests.images import add_image


def _plain_agent(cloud: Cloud, name: str) -> None:
    """A host whose driver can neither rescue nor set passwords (as QEMU's today)."""
    from overcast.agent.host import Agent
    from overcast.agent.virt.fake import FakeDriver

    class PlainDriver(FakeDriver):
        capabilities = FakeDriver.capabilities - {"rescue", "set_admin_password"}

    async def start() -> None:
        agent = Agent(name, PlainDriver(name), cloud.app.state.bus, heartbeat_interval=3600)
        await agent.start()
        cloud.app.state.local_agents.append(agent)

    cloud.client.portal.call(start)  # type: ignore[union-attr]
    wait(lambda: any(s.host == name for s in cloud.app.state.compute.services()))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    gen = build_cloud(tmp_path_factory.mktemp("rescue"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["able"])
    _plain_agent(c, "plain")
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def _active_on(cloud: Cloud, host: str, name: str) -> str:
    r = boot(cloud, cloud.admin(), name, availability_zone=f"nova:{host}")
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    wait_status(cloud, cloud.admin(), sid, "ACTIVE")
    return sid


def _driver_instance(cloud: Cloud, sid: str) -> Any:
    return next(a.driver.instances[sid] for a in cloud.app.state.local_agents
                if sid in a.driver.instances)


def test_rescue_and_unrescue(cloud: Cloud) -> None:
    """rescue answers the rescue's adminPass (200) and the server goes RESCUE, running
    from the rescue image; unrescue brings it back ACTIVE from its own disk. Actions in
    the wrong state are 409."""
    hd = cloud.admin()
    sid = _active_on(cloud, "able", "rescued")
    r = act(cloud, hd, sid, {"rescue": {"adminPass": "r3scue!"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"adminPass": "r3scue!"}
    body = wait_status(cloud, hd, sid, "RESCUE")
    assert body["OS-EXT-STS:power_state"] == 1
    assert _driver_instance(cloud, sid).rescue_image == body["image"]["id"]
    r = act(cloud, hd, sid, {"rescue": None})
    assert r.status_code == 409
    assert "vm_state rescued" in nova_error(r, "conflictingRequest")
    r = cloud.client.post(f"{C}/servers/{sid}/os-volume_attachments", headers=hd, json={
        "volumeAttachment": {"volumeId": "5c3d6d2c-34a1-4e49-9a89-2a6f3f0f3b71"}})
    assert r.status_code in (404, 409)  # no such volume, or not while rescued
    assert act(cloud, hd, sid, {"unrescue": None}).status_code == 202
    wait_status(cloud, hd, sid, "ACTIVE")
    assert _driver_instance(cloud, sid).rescue_image == ""
    assert act(cloud, hd, sid, {"unrescue": None}).status_code == 409
    r = act(cloud, hd, sid, {"rescue": {}})
    assert r.status_code == 200 and len(r.json()["adminPass"]) >= 8
    wait_status(cloud, hd, sid, "RESCUE")
    r = act(cloud, hd, sid, {"rescue": {"bogus": 1}})
    assert r.status_code == 400


def test_rescue_refused_where_the_driver_cannot(cloud: Cloud) -> None:
    """On a host whose driver has no rescue the API says so (400, Nova's
    InstanceNotRescuable) and the server is left as it was."""
    hd = cloud.admin()
    sid = _active_on(cloud, "plain", "not-rescuable")
    r = act(cloud, hd, sid, {"rescue": None})
    assert r.status_code == 400
    assert "cannot be rescued" in nova_error(r, "badRequest")
    body = wait_status(cloud, hd, sid, "ACTIVE")
    assert body["OS-EXT-STS:task_state"] is None


def test_change_password(cloud: Cloud) -> None:
    """changePassword reaches the guest (202) on a driver that can; 409 "Set admin
    password is not supported" on one that cannot; 409 on a stopped server; the
    adminPass is required."""
    hd = cloud.admin()
    sid = _active_on(cloud, "able", "pw")
    r = act(cloud, hd, sid, {"changePassword": {"adminPass": "n3w-secret"}})
    assert r.status_code == 202, r.text
    assert _driver_instance(cloud, sid).admin_password == "n3w-secret"
    assert wait_status(cloud, hd, sid, "ACTIVE")["OS-EXT-STS:task_state"] is None
    assert act(cloud, hd, sid, {"changePassword": {}}).status_code == 400

    other = _active_on(cloud, "plain", "pw-plain")
    r = act(cloud, hd, other, {"changePassword": {"adminPass": "x"}})
    assert r.status_code == 409
    assert nova_error(r, "conflictingRequest") == "Set admin password is not supported"
    assert wait_status(cloud, hd, other, "ACTIVE")["OS-EXT-STS:task_state"] is None

    assert act(cloud, hd, sid, {"os-stop": None}).status_code == 202
    wait_status(cloud, hd, sid, "SHUTOFF")
    r = act(cloud, hd, sid, {"changePassword": {"adminPass": "y"}})
    assert r.status_code == 409
