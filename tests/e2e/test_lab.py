"""`overcast lab` (root, PostgreSQL and RabbitMQ on 127.0.0.1): a control plane and two
compute hosts as namespaces, each with its own `overcast agent --driver qemu`, driven
with the real openstackclient.

The lab is the one the lab modules share (lab_harness.py: it takes about a minute
to come up); the tests run in order:
every host up in `compute service list` / `hypervisor list`; a guest pinned on each
host, each answering through its floating IP from the upstream, and each fetching
the other's page over the tenant network (VXLAN between the hosts; the guest's
/cgi-bin/probe), its metadata and DHCP from the network node through the tunnel;
the console log read through the remote agent; a snapshot taken on a remote host
(uploaded by the agent over HTTP) becomes an active image; the control plane
restarted, then one agent restarted: the same QEMU processes keep running and
answering, nothing re-created; the guests deleted, their QEMU processes are gone.
When the last lab test is done, `down --purge` leaves no namespace, bridge, guest or
database (the harness checks).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.lab_harness import BIN, Lab, qemu_pids, why_not

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(why_not() is not None,
                                                  reason=str(why_not()))]


def _qemu_pid(uuid: str) -> int:
    pids = qemu_pids(uuid)
    assert len(pids) == 1, f"QEMU processes of {uuid}: {pids}"
    return pids[0]


def _active(lab: Lab, name: str, timeout: float = 180) -> dict[str, Any]:
    return lab.active(name, timeout)


def _console_has(lab: Lab, name: str, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = str(lab.osc("console", "log", "show", name, fmt=False))
        if text in log:
            return log
        assert time.monotonic() < deadline, f"{text!r} not in {name}'s console:\n{log[-2000:]}"
        time.sleep(1)


GUESTS: dict[str, dict[str, Any]] = {}


def test_every_host_is_up(lab: Lab) -> None:
    hosts = {h["name"]: h["ip"] for h in lab.state["hosts"]}
    services = lab.osc("compute", "service", "list")
    assert {s["Host"]: s["State"] for s in services} == {h: "up" for h in hosts}
    hypervisors = lab.osc("hypervisor", "list")
    assert {h["Hypervisor Hostname"]: (h["State"], h["Host IP"]) for h in hypervisors} == \
        {h: ("up", ip) for h, ip in hosts.items()}


def test_guests_on_two_hosts_reach_each_other_and_the_upstream(lab: Lab) -> None:
    for i, host in ((1, "compute1"), (2, "compute2")):
        lab.osc("server", "create", "--image", "overcast-tiny", "--flavor", "m1.tiny",
                "--network", "private", "--availability-zone", f"nova:{host}", f"vm{i}")
    for i, host in ((1, "compute1"), (2, "compute2")):
        s = _active(lab, f"vm{i}")
        assert s["OS-EXT-SRV-ATTR:host"] == host
        # DHCP and metadata came from the network node, through the tunnel
        log = _console_has(lab, f"vm{i}", f"instance-id: {s['id']}")
        assert "metadata: metadata-service" in log or "OVERCAST-METADATA-LATE" in log
        fip = lab.osc("floating", "ip", "create", "public")["floating_ip_address"]
        lab.osc("server", "add", "floating", "ip", f"vm{i}", fip, fmt=False)
        fixed = s["addresses"]["private"][0]
        GUESTS[f"vm{i}"] = {"id": s["id"], "fip": fip, "fixed": fixed,
                            "pid": _qemu_pid(s["id"])}
    vm1, vm2 = GUESTS["vm1"], GUESTS["vm2"]
    for vm in (vm1, vm2):
        lab.answer(f"http://{vm['fip']}/", vm["id"])
    # guest to guest, across the hosts: each fetches the other's page itself
    lab.answer(f"http://{vm1['fip']}/cgi-bin/probe?{vm2['fixed']}", vm2["id"])
    lab.answer(f"http://{vm2['fip']}/cgi-bin/probe?{vm1['fixed']}", vm1["id"])


def test_snapshot_on_a_remote_host_becomes_an_image(lab: Lab) -> None:
    assert GUESTS, "needs the guests"
    lab.osc("server", "image", "create", "vm2", "--name", "snap-vm2", "--wait",
            timeout=300)
    img = lab.osc("image", "show", "snap-vm2")
    assert img["status"] == "active" and int(img["size"]) > 0 and img["checksum"]
    # the host wrote it in its own data dir and took it away once uploaded
    assert not list((Path(lab.state["hosts"][1]["data_dir"]) / "snapshots").iterdir())


def _wait_new_pid(read: Any, old: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while True:
        pid = read()
        if pid and pid != old and Path(f"/proc/{pid}").exists():
            return int(pid)
        assert time.monotonic() < deadline, "not started again"
        time.sleep(0.5)


def test_control_plane_restart_leaves_guests_alone(lab: Lab) -> None:
    assert GUESTS, "needs the guests"
    old = int((lab.data_dir / "run" / "overcast.pid").read_text().split()[0])
    os.kill(old, signal.SIGTERM)
    _wait_new_pid(lambda: lab.state["control_pid"], old)
    deadline = time.monotonic() + 180
    while True:
        r = subprocess.run([str(BIN / "openstack"), "--os-cloud", "overcast", "server",
                            "list", "-f", "json"], capture_output=True, text=True,
                           env=lab.env)
        if r.returncode == 0:
            break
        assert time.monotonic() < deadline, r.stderr
        time.sleep(1)
    for name, vm in GUESTS.items():
        assert _active(lab, name)["id"] == vm["id"]
        assert _qemu_pid(vm["id"]) == vm["pid"], f"{name} was re-created"
        lab.answer(f"http://{vm['fip']}/", vm["id"])


def test_agent_restart_re_adopts_its_guests(lab: Lab) -> None:
    assert GUESTS, "needs the guests"
    host = lab.state["hosts"][0]
    os.kill(host["pid"], signal.SIGTERM)
    _wait_new_pid(lambda: lab.state["hosts"][0]["pid"], host["pid"])
    out = Path(host["data_dir"]) / "agent.out"
    deadline = time.monotonic() + 120
    while "agents up:" not in out.read_text().rsplit("=== start", 1)[-1]:
        assert time.monotonic() < deadline, out.read_text()[-2000:]
        time.sleep(0.5)
    vm = GUESTS["vm1"]
    assert _qemu_pid(vm["id"]) == vm["pid"], "vm1 was re-created"
    assert _active(lab, "vm1")["id"] == vm["id"]
    services = {s["Host"]: s["State"] for s in lab.osc("compute", "service", "list")}
    assert services[host["name"]] == "up"
    lab.answer(f"http://{GUESTS['vm2']['fip']}/cgi-bin/probe?{vm['fixed']}", vm["id"])


def test_deleted_guests_leave_their_hosts(lab: Lab) -> None:
    assert GUESTS, "needs the guests"
    lab.osc("server", "delete", "--wait", *GUESTS, fmt=False, timeout=300)
    # each host destroyed its guest (QEMU exited) before the server was deleted
    assert not [qemu_pids(vm["id"]) for vm in GUESTS.values() if qemu_pids(vm["id"])]
    for vm in GUESTS.values():
        lab.osc("floating", "ip", "delete", vm["fip"], fmt=False)
