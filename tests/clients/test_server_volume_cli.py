"""A server's volumes with the real openstack CLI and openstacksdk: add and remove a
volume, boot from an existing volume and from an image made into a volume
(`--boot-from-volume`), against a live cloud and its local agent."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.clients.conftest import Live
from tests.clients.test_compute_cli import _image, boot  # noqa: F401 - the fixture
from tests.images import IMAGE

pytestmark = pytest.mark.clients


def wait_volume(live: Live, name: str, status: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        v = live.osc("volume", "show", name)
        if v["status"] == status:
            return dict(v)
        assert v["status"] != "error" and time.monotonic() < deadline, v
        time.sleep(0.5)


def test_add_and_remove_a_volume(live: Live) -> None:
    tag = uuid.uuid4().hex[:6]
    vm = boot(live, f"vmv-{tag}")
    live.osc("volume", "create", "--size", "1", f"data-{tag}")
    vol = wait_volume(live, f"data-{tag}", "available")
    live.osc("server", "add", "volume", vm.id, f"data-{tag}", fmt=False)
    v = wait_volume(live, f"data-{tag}", "in-use")
    assert [a["server_id"] for a in v["attachments"]] == [vm.id]
    shown = live.osc("server", "show", vm.id)
    assert vol["id"] in str(shown["volumes_attached"])
    conn = live.sdk()
    atts = list(conn.compute.volume_attachments(vm.id))
    assert [a.volume_id for a in atts] == [vol["id"]] and atts[0].device == "/dev/vdb"
    live.osc("server", "remove", "volume", vm.id, f"data-{tag}", fmt=False)
    wait_volume(live, f"data-{tag}", "available")
    # the sdk attaches it again, and the server's delete leaves it available
    conn.compute.create_volume_attachment(vm.id, volume_id=vol["id"])
    wait_volume(live, f"data-{tag}", "in-use")
    conn.compute.delete_server(vm.id)
    conn.compute.wait_for_delete(vm, wait=60)
    wait_volume(live, f"data-{tag}", "available")
    live.osc("volume", "delete", f"data-{tag}", fmt=False)


def test_boot_from_volume(live: Live) -> None:
    tag = uuid.uuid4().hex[:6]
    live.osc("volume", "create", "--image", IMAGE, "--size", "1", "--bootable",
             f"root-{tag}")
    root = wait_volume(live, f"root-{tag}", "available")
    assert root["bootable"] in (True, "true")
    s = live.osc("server", "create", "--volume", f"root-{tag}", "--flavor", "m1.tiny",
                 "--nic", "none", "--wait", f"vm2-{tag}", timeout=180)
    assert s["status"] == "ACTIVE", s
    assert wait_volume(live, f"root-{tag}", "in-use")["attachments"][0]["device"] == \
        "/dev/vda"
    s3 = live.osc("server", "create", "--image", IMAGE, "--boot-from-volume", "1",
                  "--flavor", "m1.tiny", "--nic", "none", "--wait", f"vm3-{tag}",
                  timeout=180)
    assert s3["status"] == "ACTIVE", s3
    shown = live.osc("server", "show", f"vm3-{tag}")
    assert not shown["image"] or "booted from volume" in str(shown["image"]).lower()
    attached = live.sdk().compute.get_server(s3["id"]).attached_volumes
    assert len(attached) == 1
    boot_volume = attached[0]["id"]
    assert live.osc("volume", "show", boot_volume)["status"] == "in-use"
    for name in (f"vm2-{tag}", f"vm3-{tag}"):
        live.osc("server", "delete", "--wait", name, fmt=False, timeout=120)
    # the volume the server was given stays; the one made for it was the server's own
    wait_volume(live, f"root-{tag}", "available")
