"""The compute user story with the real openstack CLI and openstacksdk.

Servers are booted through openstacksdk (`openstack server create --image`
needs the image service, which lands with the Glance issue); everything else
goes through the CLI against the live cloud and its local fake agent.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.clients.conftest import Live
from tests.images import IMAGE, add_image

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module", autouse=True)
def _image(live: Live) -> None:
    import httpx

    conn = live.sdk()
    with httpx.Client(base_url=f"http://127.0.0.1:{live.port}") as c:
        add_image(c, {"X-Auth-Token": conn.auth_token})


def boot(live: Live, name: str, flavor: str = "1") -> Any:
    conn = live.sdk()
    s = conn.compute.create_server(name=name, flavorRef=flavor, imageRef=IMAGE,
                                   networks="none")
    return conn.compute.wait_for_server(s, wait=60, interval=0.5)


def wait_status(live: Live, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = live.osc("server", "show", name)
        if s["status"] == status and not s.get("OS-EXT-STS:task_state"):
            return dict(s)
        time.sleep(0.5)
    raise AssertionError(f"{name} never reached {status}")


def test_flavor_and_keypair(live: Live) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    f = live.osc("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", name)
    assert f["name"] == name and f["ram"] == 256
    assert name in [x["Name"] for x in live.osc("flavor", "list")]
    # a flavor's description (2.55), which the client sets only at that version
    live.osc("flavor", "set", "--description", "for the cli", name, fmt=False)
    assert live.osc("flavor", "show", name)["description"] == "for the cli"
    kp = live.osc("keypair", "create", f"gen-{name}", fmt=False)
    assert "PRIVATE KEY" in kp
    listed = live.osc("keypair", "list")
    assert f"gen-{name}" in [x["Name"] for x in listed]
    live.osc("keypair", "delete", f"gen-{name}", fmt=False)
    live.osc("flavor", "delete", name, fmt=False)


def test_server_story(live: Live) -> None:
    name = f"vm-{uuid.uuid4().hex[:6]}"
    boot(live, name)
    rows = live.osc("server", "list")
    row = [r for r in rows if r["Name"] == name][0]
    assert row["Status"] == "ACTIVE" and row["Flavor"] == "m1.tiny"
    for action, status in (("stop", "SHUTOFF"), ("start", "ACTIVE"), ("pause", "PAUSED"),
                           ("unpause", "ACTIVE"), ("suspend", "SUSPENDED"),
                           ("resume", "ACTIVE")):
        live.osc("server", action, name, fmt=False)
        wait_status(live, name, status)
    live.osc("server", "reboot", "--hard", name, fmt=False)
    wait_status(live, name, "ACTIVE")
    live.osc("server", "set", "--property", "role=web", name, fmt=False)
    assert live.osc("server", "show", name)["properties"] == {"role": "web"}
    events = live.osc("server", "event", "list", name)
    assert {"create", "stop", "start", "reboot"} <= {e["Action"] for e in events}
    log = live.osc("console", "log", "show", name, fmt=False)
    assert "overcast-guest: instance-id=" in log
    snap = live.osc("server", "image", "create", "--name", f"snap-{name}", "--wait", name)
    assert snap["name"] == f"snap-{name}"
    shown = live.osc("image", "show", f"snap-{name}")
    assert shown["status"] == "active" and shown["properties"]["image_type"] == "snapshot"
    live.osc("image", "delete", f"snap-{name}", fmt=False)
    live.osc("server", "delete", "--wait", name, fmt=False)
    assert name not in [r["Name"] for r in live.osc("server", "list")]


def test_admin_views(live: Live) -> None:
    services = live.osc("compute", "service", "list")
    assert services and all(s["State"] == "up" for s in services)
    hv = live.osc("hypervisor", "list")
    assert hv[0]["Hypervisor Type"] == "fake"
    shown = live.osc("hypervisor", "show", str(hv[0]["ID"]))
    assert shown["hypervisor_hostname"] == hv[0]["Hypervisor Hostname"]
    # the client updates a service by its UUID from 2.53 (PUT /os-services/{uuid})
    host = next(s["Host"] for s in services if s["Binary"] == "nova-compute")
    live.osc("compute", "service", "set", "--disable", "--disable-reason", "cli test",
             host, "nova-compute", fmt=False)
    try:
        svc = next(s for s in live.osc("compute", "service", "list", "--long")
                   if s["Host"] == host and s["Binary"] == "nova-compute")
        assert svc["Status"] == "disabled" and svc["Disabled Reason"] == "cli test"
    finally:
        live.osc("compute", "service", "set", "--enable", host, "nova-compute", fmt=False)
    zones = live.osc("availability", "zone", "list", "--compute")
    assert zones[0]["Zone Name"] == "nova"
    project = live.osc("project", "create", f"q-{uuid.uuid4().hex[:6]}")["id"]
    live.osc("quota", "set", "--instances", "7", project, fmt=False)
    quota = live.osc("quota", "show", project)
    assert {q["Resource"]: q["Limit"] for q in quota}["instances"] == 7
    limits = {x["Name"]: x["Value"] for x in live.osc("limits", "show", "--absolute")}
    assert limits["instances"] == 10 and limits["instances_used"] >= 0
    group = live.osc("server", "group", "create", "--policy", "anti-affinity",
                     f"g-{uuid.uuid4().hex[:6]}")
    assert "anti-affinity" in str(group["policy"] if "policy" in group else group["policies"])


def test_aggregates_and_zones(live: Live) -> None:
    """`openstack aggregate` against os-aggregates: a zone given to an aggregate is its
    host's zone in `availability zone list`, and gone with the host."""
    host = live.osc("hypervisor", "list")[0]["Hypervisor Hostname"]
    name = f"agg-{uuid.uuid4().hex[:6]}"
    made = live.osc("aggregate", "create", "--zone", "az-cli", name)
    assert made["availability_zone"] == "az-cli"
    live.osc("aggregate", "add", "host", name, host)
    live.osc("aggregate", "set", "--property", "ssd=true", name, fmt=False)
    shown = live.osc("aggregate", "show", name)
    assert host in shown["hosts"]
    assert "ssd" in str(shown["properties"])
    zones = {z["Zone Name"] for z in live.osc("availability", "zone", "list", "--compute")}
    assert "az-cli" in zones
    live.osc("aggregate", "remove", "host", name, host)
    live.osc("aggregate", "delete", name, fmt=False)
    zones = {z["Zone Name"] for z in live.osc("availability", "zone", "list", "--compute")}
    assert zones == {"nova"}


def test_late_microversions_with_the_cli(live: Live) -> None:
    """The client at 2.90-2.92: a server's hostname set and shown (2.90), an offloaded
    server unshelved to a named host and unpinned (2.91), a key pair whose name has
    '@' and '.' imported (2.92)."""
    name = f"mv-{uuid.uuid4().hex[:6]}"
    boot(live, name)
    live.osc("--os-compute-api-version", "2.90", "server", "set", "--hostname", "mv-host",
             name, fmt=False)
    shown = live.osc("--os-compute-api-version", "2.90", "server", "show", name)
    assert shown["OS-EXT-SRV-ATTR:hostname"] == "mv-host"
    host = shown["OS-EXT-SRV-ATTR:host"]
    live.osc("server", "shelve", name, fmt=False)
    wait_status(live, name, "SHELVED_OFFLOADED")
    live.osc("--os-compute-api-version", "2.91", "server", "unshelve", "--host", host,
             "--no-availability-zone", name, fmt=False)
    assert wait_status(live, name, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == host
    live.osc("server", "delete", "--wait", name, fmt=False)
    pub = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFDA0iJ7Y7wMk9ldcwFGs8nkqpw3bMNrPqGpj7Ha"
           "TPLp user@host")
    kp_name = f"me@{name}.example"
    path = live.data_dir / f"{name}.pub"
    path.write_text(pub)
    r = live.osc("--os-compute-api-version", "2.91", "keypair", "create", "--public-key",
                 str(path), kp_name, check=False)
    assert r.returncode != 0  # '@' and '.' only from 2.92
    kp = live.osc("--os-compute-api-version", "2.92", "keypair", "create", "--public-key",
                  str(path), kp_name)
    assert kp["name"] == kp_name
    live.osc("keypair", "delete", kp_name, fmt=False)
