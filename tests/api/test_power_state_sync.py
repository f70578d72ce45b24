"""The power-state sync (Nova's `_sync_instance_power_state`): a host's reconcile
reports what its hypervisor runs, and a server whose guest stopped or crashed on
its own (QEMU exited, the guest panicked) is stopped by the system: SHUTOFF, with a
`stop` instance action; a stopped server whose guest runs again is stopped for
good; a server with a task under way is left to its task, and a report about a
server changed a moment ago waits for the next reconcile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_compute import C, add_agents, boot, h, server, wait, wait_status
from tests.conftest import Cloud, build_cloud

CRASHED, SHUTDOWN, RUNNING = 6, 4, 1


@pytest.fixture(autouse=True)
def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers count as settled at once (not SETTLE s after their last change)."""
    from overcast.compute import power_sync

    monkeypatch.setattr(power_sync, "SETTLE", 0.0)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    from tests.images import add_image

    gen = build_cloud(tmp_path_factory.mktemp("powersync"))
    c = next(gen)
    c.app.state.local_agents = []
    add_agents(c, ["sync1"])
    add_image(c.client, c.admin())
    try:
        yield c
    finally:
        gen.close()


def _agent(cloud: Cloud) -> Any:
    return cloud.app.state.local_agents[0]


def _active(cloud: Cloud, name: str) -> str:
    r = boot(cloud, cloud.admin(), name)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    wait_status(cloud, cloud.admin(), sid, "ACTIVE")
    return sid


def _reconcile(cloud: Cloud) -> None:
    cloud.client.portal.call(_agent(cloud).reconcile)  # type: ignore[union-attr]


def _actions(cloud: Cloud, sid: str) -> list[str]:
    r = cloud.client.get(f"{C}/servers/{sid}/os-instance-actions",
                         headers=h(cloud.admin(), "2.47"))
    assert r.status_code == 200, r.text
    return [a["action"] for a in r.json()["instanceActions"]]


@pytest.mark.parametrize("power", [CRASHED, SHUTDOWN])
def test_a_guest_that_died_on_its_own_is_stopped(cloud: Cloud, power: int) -> None:
    sid = _active(cloud, f"dies-{power}")
    assert server(cloud, cloud.admin(), sid)["OS-EXT-STS:power_state"] == RUNNING
    _agent(cloud).driver.instances[sid].power_state = power  # behind the API's back
    _reconcile(cloud)
    body = wait_status(cloud, cloud.admin(), sid, "SHUTOFF")
    assert body["OS-EXT-STS:vm_state"] == "stopped"
    assert body["OS-EXT-STS:power_state"] == SHUTDOWN
    assert _agent(cloud).driver.instances[sid].power_state == SHUTDOWN
    assert _actions(cloud, sid) == ["stop", "create"]
    # and it can be started again, as any stopped server
    r = cloud.client.post(f"{C}/servers/{sid}/action", headers=h(cloud.admin(), "2.47"),
                          json={"os-start": None})
    assert r.status_code == 202, r.text
    assert wait_status(cloud, cloud.admin(), sid, "ACTIVE")["OS-EXT-STS:power_state"] == \
        RUNNING


def test_a_stopped_server_whose_guest_runs_is_stopped_again(cloud: Cloud) -> None:
    sid = _active(cloud, "revenant")
    r = cloud.client.post(f"{C}/servers/{sid}/action", headers=h(cloud.admin(), "2.47"),
                          json={"os-stop": None})
    assert r.status_code == 202, r.text
    wait_status(cloud, cloud.admin(), sid, "SHUTOFF")
    _agent(cloud).driver.instances[sid].power_state = RUNNING
    _reconcile(cloud)
    wait(lambda: _actions(cloud, sid)[0] == "stop" and len(_actions(cloud, sid)) == 3)
    body = wait_status(cloud, cloud.admin(), sid, "SHUTOFF")
    assert body["OS-EXT-STS:power_state"] == SHUTDOWN
    assert _agent(cloud).driver.instances[sid].power_state == SHUTDOWN


def test_a_server_with_a_task_is_left_to_it_and_a_paused_guest_is_only_recorded(
        cloud: Cloud) -> None:
    from overcast.compute import models as m

    sid = _active(cloud, "busy")
    with cloud.app.state.compute.db.transaction() as s:
        s.get(m.Instance, sid).task_state = "image_snapshot"
    _agent(cloud).driver.instances[sid].power_state = SHUTDOWN
    _reconcile(cloud)
    wait(lambda: server(cloud, cloud.admin(), sid)["OS-EXT-STS:power_state"] == SHUTDOWN)
    body = server(cloud, cloud.admin(), sid)
    assert (body["OS-EXT-STS:vm_state"], body["OS-EXT-STS:task_state"]) == \
        ("active", "image_snapshot")
    assert _actions(cloud, sid) == ["create"]
    with cloud.app.state.compute.db.transaction() as s:
        s.get(m.Instance, sid).task_state = None
    _agent(cloud).driver.instances[sid].power_state = 3  # paused behind its back
    _reconcile(cloud)
    wait(lambda: server(cloud, cloud.admin(), sid)["OS-EXT-STS:power_state"] == 3)
    assert server(cloud, cloud.admin(), sid)["status"] == "ACTIVE"  # Nova: logged only
    assert _actions(cloud, sid) == ["create"]


def test_a_report_about_a_server_changed_a_moment_ago_waits(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """It may have been read before the change (a reboot's middle) and be handled
    after it: ignored, not even recorded; the next reconcile says it again."""
    from overcast.compute import power_sync

    sid = _active(cloud, "fresh")
    monkeypatch.setattr(power_sync, "SETTLE", 3600.0)
    _agent(cloud).driver.instances[sid].power_state = CRASHED
    _reconcile(cloud)
    _reconcile(cloud)  # handled after the first one's report (one queue, in order)
    body = server(cloud, cloud.admin(), sid)
    assert (body["status"], body["OS-EXT-STS:power_state"]) == ("ACTIVE", RUNNING)
    assert _actions(cloud, sid) == ["create"]
    monkeypatch.setattr(power_sync, "SETTLE", 0.0)
    _reconcile(cloud)
    assert wait_status(cloud, cloud.admin(), sid, "SHUTOFF")["OS-EXT-STS:power_state"] == \
        SHUTDOWN
