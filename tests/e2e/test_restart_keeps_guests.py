"""Guests outlive their control plane (root, real QEMU under TCG, and crun
containers when they can run here): as restarting nova-compute never touches a
running guest, stopping `overcast up` (SIGTERM to its process group) or killing it
(-9) and starting it again on the same data directory leaves every guest running.

A VM with a volume attached and a container, both on the private network with a
floating IP, go through a stop and start of `overcast up` and then a kill -9 and a
start: each time the very same guest process runs on (same pid, same start time),
the server stays ACTIVE (also after the new agent's reconcile), answers on its
floating IP, its console has no new boot, and the VM still has its volume plugged
in QEMU. Afterwards the usual actions work on them (hard reboot, stop, start,
delete), and `overcast down --purge` is what ends the guests that are left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import Live, _spawn, free_port, stop_server, wait_ready
from tests.e2e.test_real_instances import DRIVERS, _why_not, answer

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(_why_not() is not None or "qemu" not in DRIVERS,
                                reason=str(_why_not() or "the QEMU driver cannot run here"))
ENV = {"OVERCAST_DATAPLANE": "linux", "OVERCAST_AGENT_DRIVER": ",".join(DRIVERS)}
IMAGES = {"qemu": "overcast-tiny", "container": "overcast-tiny-oci"}
BOOT_MARK = "[overcast] starting instance"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("restart")
    data = tmp / "cloud"
    log = tmp / "up.log"
    port = free_port()
    proc = _spawn(data, port, log, ENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(data / "clouds.yaml")
    live = Live(data_dir=data, port=port, proc=proc, env=env, log_path=log, spawn_env=ENV)
    try:
        wait_ready(live, timeout=300)
        last = IMAGES["container" if "container" in DRIVERS else "qemu"]
        deadline = time.monotonic() + 300
        while not live.osc("image", "list", "--name", last):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield live
    finally:
        stop_server(live)
        subprocess.run([str(BIN / "overcast"), "down", "--purge", "--data-dir", str(data)],
                       capture_output=True, text=True)


def instance_dir(live: Live, driver: str, sid: str) -> Path:
    return live.data_dir / "instances" / driver / "instances" / sid


def proc_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def guest_process(live: Live, driver: str, sid: str) -> tuple[int, str | None]:
    """The guest's process (pid, start time): QEMU's pid file, or the container's
    init as its OCI runtime reports it."""
    d = instance_dir(live, driver, sid)
    if driver == "qemu":
        pid = int((d / "qemu.pid").read_text().strip())
    else:
        runtime = json.loads((d / "instance.json").read_text())["runtime"]
        binary = shutil.which(runtime)
        assert binary, runtime
        r = subprocess.run([binary, "state", f"ovct-{sid}"], capture_output=True, text=True,
                           check=True)
        pid = int(json.loads(r.stdout)["pid"])
    return pid, proc_start(pid)


def boots(live: Live, driver: str, sid: str) -> int:
    """How often the guest was started (QEMU marks each start on the console; a
    container's console gets a new cloud-init-style banner from its init)."""
    text = (instance_dir(live, driver, sid) / "console.log").read_text(errors="replace")
    return text.count(BOOT_MARK if driver == "qemu" else f"instance-id: {sid}")


def volume_plugged(live: Live, sid: str, volume_id: str) -> bool:
    """The volume's device is in the running QEMU (asked over its QMP socket)."""
    from overcast.agent.virt.qemu import Qmp
    from overcast.agent.virt.qemu.volumes import names

    with Qmp(instance_dir(live, "qemu", sid) / "qmp.sock") as q:
        peripherals = q.execute("qom-list", {"path": "/machine/peripheral"})
    return names(volume_id)[2] in {p.get("name") for p in peripherals}


def restart(live: Live, *, kill: bool) -> None:
    """Stop `overcast up` as an operator does (SIGTERM to its process group) or kill
    it (-9, the process only), and start it again on the same data directory."""
    if kill:
        os.kill(live.proc.pid, signal.SIGKILL)
        live.proc.wait()
        live.proc = _spawn(live.data_dir, live.port, live.log_path, ENV)
        wait_ready(live, timeout=300)
    else:
        live.restart()


def wait(what: str, cond: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return got


def test_guests_run_on_through_restarts(cloud: Live) -> None:
    live = cloud
    sfx = uuid.uuid4().hex[:6]
    conn = live.sdk()
    project = conn.current_project_id
    api = httpx.Client(base_url=live.base, timeout=60,
                       headers={"X-Auth-Token": conn.auth_token})

    def server(sid: str) -> dict[str, Any]:
        r = api.get(f"/compute/v2.1/servers/{sid}")
        return dict(r.json()["server"]) if r.status_code == 200 else {"status": "GONE"}

    def settled(sid: str, want: str) -> bool:
        s = server(sid)
        assert s["status"] != "ERROR", s.get("fault")
        return s["status"] == want and not s.get("OS-EXT-STS:task_state")

    def volume_status(vid: str) -> str:
        return str(api.get(f"/volume/v3/{project}/volumes/{vid}").json()["volume"]["status"])

    def one(path: str, name: str) -> str:
        return str(api.get(path, params={"name": name}).json()[path.rsplit("/", 1)[1]][0]
                   ["id"])

    net = one("/network/v2.0/networks", "private")
    public = one("/network/v2.0/networks", "public")
    sg = api.post("/network/v2.0/security-groups", json={"security_group": {
        "name": f"restart-{sfx}"}}).json()["security_group"]["id"]
    api.post("/network/v2.0/security-group-rules", json={"security_group_rule": {
        "security_group_id": sg, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 80, "port_range_max": 80}}).raise_for_status()
    guests: dict[str, dict[str, Any]] = {}
    for driver in DRIVERS:
        image = one("/image/v2/images", IMAGES[driver])
        port = api.post("/network/v2.0/ports", json={"port": {
            "network_id": net, "security_groups": [sg]}}).json()["port"]["id"]
        fip = api.post("/network/v2.0/floatingips", json={"floatingip": {
            "floating_network_id": public, "port_id": port}}).json()["floatingip"]
        r = api.post("/compute/v2.1/servers", json={"server": {
            "name": f"{driver}-{sfx}", "imageRef": image, "flavorRef": "1",
            "networks": [{"port": port}]}})
        assert r.status_code == 202, r.text
        guests[driver] = {"id": r.json()["server"]["id"], "fip": fip["floating_ip_address"]}
    r = api.post(f"/volume/v3/{project}/volumes", json={"volume": {
        "size": 1, "name": f"keep-{sfx}"}})
    assert r.status_code == 202, r.text
    vol = r.json()["volume"]["id"]
    for g in guests.values():
        wait("the guest", lambda g=g: settled(g["id"], "ACTIVE"))
        assert answer(live, g["fip"]).split()[0] == g["id"]
    vm = guests["qemu"]
    wait("the volume", lambda: volume_status(vol) == "available")
    r = api.post(f"/compute/v2.1/servers/{vm['id']}/os-volume_attachments",
                 json={"volumeAttachment": {"volumeId": vol}})
    assert r.status_code == 200, r.text
    wait("the attachment", lambda: volume_status(vol) == "in-use")
    assert volume_plugged(live, vm["id"], vol)
    before = {d: (guest_process(live, d, g["id"]), boots(live, d, g["id"]))
              for d, g in guests.items()}

    for kill in (False, True):
        restart(live, kill=kill)
        how = "a kill -9" if kill else "a stop"
        api.headers["X-Auth-Token"] = live.sdk().auth_token
        # the new agent reconciles at once: a guest taken for lost would turn SHUTOFF
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for d, g in guests.items():
                s = server(g["id"])
                assert s["status"] == "ACTIVE", (how, d, s["status"], s.get("fault"),
                                                 live.log_path.read_text()[-2000:])
            time.sleep(1)
        for d, g in guests.items():
            assert guest_process(live, d, g["id"]) == before[d][0], (how, d)
            assert boots(live, d, g["id"]) == before[d][1], (how, d, "booted again")
            assert answer(live, g["fip"]).split()[0] == g["id"], (how, d)
        assert volume_plugged(live, vm["id"], vol), how
        assert volume_status(vol) == "in-use", how

    # the usual actions work on the guests the new agent adopted
    for action, want in (("os-stop", "SHUTOFF"), ("os-start", "ACTIVE")):
        for g in guests.values():
            r = api.post(f"/compute/v2.1/servers/{g['id']}/action", json={action: None})
            assert r.status_code == 202, r.text
        for g in guests.values():
            wait(f"{action} of {g['id']}", lambda g=g, w=want: settled(g["id"], w))
    for d, g in guests.items():
        assert guest_process(live, d, g["id"]) != before[d][0], d  # a new boot
        assert answer(live, g["fip"]).split()[0] == g["id"]
    assert volume_plugged(live, vm["id"], vol)  # given to QEMU again at its start
    r = api.post(f"/compute/v2.1/servers/{vm['id']}/action",
                 json={"reboot": {"type": "HARD"}})
    assert r.status_code == 202, r.text
    wait("the reboot", lambda: settled(vm["id"], "ACTIVE"))
    if "container" in guests:
        ct = guests["container"]
        assert api.delete(f"/compute/v2.1/servers/{ct['id']}").status_code == 204
        wait("the delete", lambda: server(ct["id"])["status"] == "GONE")
        assert not instance_dir(live, "container", ct["id"]).exists()
    # `overcast down --purge` is what ends the guests (not a stop of `overcast up`)
    stop_server(live)
    pid, start = guest_process(live, "qemu", vm["id"])
    assert start is not None
    r = subprocess.run([str(BIN / "overcast"), "down", "--purge", "--data-dir",
                        str(live.data_dir)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.monotonic() + 10  # the killed QEMU is reaped by init
    while proc_start(pid) == start:
        assert time.monotonic() < deadline, (r.stdout, r.stderr)
        time.sleep(0.2)
