"""A host of the shared 2-host `overcast lab` (lab_harness.py; real QEMU guests)
fails: its agent dies, the control plane sees it down, the admin evacuates its server with the real
`openstack server evacuate`, and when the host comes back it fences: the QEMU guest
it still ran (a host cut off, not powered off: the dangerous case) is destroyed,
with its disk, before the host reports up.

Short times for the test (the harness's): service_down_time 8 s (the control
plane's overcast.yaml) and report_interval 1 s (each host's), written before the
lab starts, as an operator would.
"""

from __future__ import annotations

import pytest

from tests.e2e.lab_harness import Lab, qemu_pids, until, why_not

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(why_not() is not None,
                                                  reason=str(why_not()))]


def test_kill_a_host_evacuate_and_the_returning_host_fences(lab: Lab) -> None:
    until(lambda: lab.services().get("compute1") == "up" and
          lab.services().get("compute2") == "up", 120, "both hosts up")
    image = next(i["ID"] for i in lab.osc("image", "list") if i["Name"] == "overcast-tiny")
    net = next(n["ID"] for n in lab.osc("network", "list") if n["Name"] == "private")
    flavor = min(lab.osc("flavor", "list"), key=lambda f: f["RAM"])["ID"]
    sid = lab.osc("server", "create", "--image", image, "--flavor", flavor, "--network",
                  net, "--availability-zone", "nova:compute1", "failvm")["id"]
    s = lab.active(sid)
    assert s["OS-EXT-SRV-ATTR:host"] == "compute1"
    h1, h2 = lab.data_dir / "hosts" / "compute1", lab.data_dir / "hosts" / "compute2"
    assert qemu_pids(sid, h1)
    # compute1 is cut off: its agent stops (and is kept stopped); its guest runs on
    (h1 / "hold").touch()
    until(lambda: lab.services().get("compute1") == "down", 60, "compute1 down")
    lab.osc("server", "evacuate", sid)
    s = lab.active(sid)
    assert s["OS-EXT-SRV-ATTR:host"] == "compute2", (
        s.get("fault"), lab.osc("server", "migration", "list", "--server", sid,
                                "--os-compute-api-version", "2.23"))
    assert qemu_pids(sid, h2)
    assert qemu_pids(sid, h1)  # the old copy: still there until its host is fenced
    (h1 / "hold").unlink()
    until(lambda: lab.services().get("compute1") == "up", 180, "compute1 back up")
    assert not qemu_pids(sid, h1)  # fenced before it reported up
    assert not any(sid in str(p) for p in (h1 / "instances").rglob("*"))
    assert qemu_pids(sid, h2) and lab.server(sid)["status"] == "ACTIVE"
    migs = lab.osc("server", "migration", "list", "--server", sid,
                   "--os-compute-api-version", "2.23")
    assert [(m["Source Compute"], m["Type"], m["Status"]) for m in migs] == \
        [("compute1", "evacuation", "completed")]
    lab.osc("server", "delete", "--wait", sid, fmt=False)
    # deleted by its host (up: it reports every second, well within the 8 s), whose
    # destroy waits for QEMU to exit before it reports the server deleted
    assert not qemu_pids(sid, h2)
