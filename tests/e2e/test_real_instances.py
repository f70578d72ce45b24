"""The real-instance user story (root): `overcast up` with the QEMU and container
drivers and the Linux dataplane, driven with the real openstackclient.

For a VM (overcast-tiny, kernel + ramdisk under TCG) and a container
(overcast-tiny-oci): boot on `private` with a keypair, a floating IP from `public`,
the security group closed then opened, the guest's HTTP answer (its own instance id)
through the floating IP from the simulated upstream, the key's fingerprint and the
instance id on the console, stop/start/hard reboot reachable again, a snapshot that
boots, and delete leaving no process, device or file behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import Live, _spawn, free_port, stop_server, wait_ready

BIN = Path(sys.executable).parent
IMAGES = {"qemu": "overcast-tiny", "container": "overcast-tiny-oci"}


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for binary in ("dnsmasq", "busybox", "curl"):
        if not shutil.which(binary):
            return f"needs {binary} (scripts/install-host.sh)"
    return None


def _driver_missing(name: str) -> str | None:
    """Why the driver `name` cannot run here (None: it can)."""
    import importlib

    try:
        module = importlib.import_module(f"overcast.agent.virt.{name}")
    except ImportError as exc:
        return f"the {name} driver is missing: {exc}"
    why = module.available()
    return None if why is None else f"the {name} driver cannot run here: {why}"


DRIVERS = [n for n in ("qemu", "container") if _driver_missing(n) is None]
pytestmark = pytest.mark.skipif(_why_not() is not None or not DRIVERS,
                                reason=str(_why_not() or "no real driver can run here"))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("real")
    data = tmp / "cloud"
    port = free_port()
    log = tmp / "up.log"
    proc = _spawn(data, port, log, {"OVERCAST_DATAPLANE": "linux",
                                    "OVERCAST_AGENT_DRIVER": ",".join(DRIVERS)})
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(data / "clouds.yaml")
    live = Live(data_dir=data, port=port, proc=proc, env=env, log_path=log)
    try:
        wait_ready(live, timeout=300)
        deadline = time.monotonic() + 300
        while not live.osc("image", "list", "--name", "overcast-tiny-oci"):  # the last one
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield live
    finally:
        stop_server(live)
        subprocess.run([str(BIN / "overcast"), "down", "--purge", "--data-dir", str(data)],
                       capture_output=True, text=True)


def upstream(live: Live, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "overcast"), "upstream", "--data-dir",
                           str(live.data_dir), "--", *cmd], capture_output=True, text=True,
                          timeout=60)


def answer(live: Live, address: str, timeout: float = 90) -> str:
    """The guest's page through its floating IP, from the upstream (retried)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        r = upstream(live, "curl", "-s", "-m", "2", f"http://{address}/")
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
        last = r.stderr
        time.sleep(0.5)
    raise AssertionError(f"no answer from {address}: {last}\n{_diagnose(live)}")


def _diagnose(live: Live) -> str:
    """What the dataplane holds (for a failure's message)."""
    out = []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for ns in [n.split()[0] for n in names.splitlines()]:
        if "-r-" in ns or ns.endswith("-upstream"):
            for cmd in (["ip", "-o", "-4", "addr"], ["ip", "neigh"],
                        ["iptables-save", "-t", "nat"]):
                r = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True,
                                   text=True)
                out.append(f"--- {ns}: {' '.join(cmd)}\n{r.stdout[-1500:]}")
        elif ns.endswith("-host"):
            # which devices sit on which bridge, and the port firewall's counters
            for cmd in (["ip", "-o", "link", "show"], ["iptables-save", "-c", "-t", "filter"]):
                r = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True,
                                   text=True)
                out.append(f"--- {ns}: {' '.join(cmd)}\n{r.stdout[-4000:]}")
    for d in (live.data_dir / "net" / "dhcp").glob("*"):
        for name in ("hosts", "leases"):
            with contextlib.suppress(OSError):
                out.append(f"--- {d / name}\n{(d / name).read_text()[-1500:]}")
        log = d / "log"
        with contextlib.suppress(OSError):
            text = log.read_text()
            # each client's last word, then the tail
            last: dict[str, str] = {}
            for line in text.splitlines():
                words = line.split()
                for w in words:
                    if w.count(":") == 5 and len(w) == 17:
                        last[w] = line
            out.append(f"--- {log}: each MAC's last line\n" + "\n".join(last.values()))
            out.append(f"--- {log}\n{text[-2500:]}")
    return "\n".join(out)


def unreachable(live: Live, address: str) -> bool:
    r = upstream(live, "curl", "-s", "-m", "3", f"http://{address}/")
    return r.returncode != 0


def status(live: Live, name: str, want: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        s = live.osc("server", "show", name)
        if s["status"] == want and not s.get("OS-EXT-STS:task_state"):
            return dict(s)
        assert s["status"] != "ERROR", s.get("fault")
        assert time.monotonic() < deadline, f"{name} is {s['status']}, not {want}"
        time.sleep(0.5)


def console_has(live: Live, name: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = str(live.osc("console", "log", "show", name, fmt=False))
        if text in log:
            return log
        assert time.monotonic() < deadline, f"{text!r} not in the console:\n{log[-2000:]}"
        time.sleep(0.5)


def leftovers(live: Live, server_id: str, ports: list[str] | None = None) -> list[str]:
    """Processes, files, namespaces and taps/veths of the server that still exist."""
    out = []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    out += [line for line in ps.splitlines() if server_id in line]
    for root, dirs, files in os.walk(live.data_dir / "instances"):
        out += [os.path.join(root, n) for n in dirs + files if server_id in n]
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out += [n for n in names.splitlines() if server_id in n]
    hosts = [n.split()[0] for n in names.splitlines() if n.split()[0].endswith("-host")]
    for ns in hosts:
        links = subprocess.run(["ip", "-n", ns, "-o", "link"], capture_output=True,
                               text=True).stdout
        for port in ports or []:
            short = port.replace("-", "")[:8]
            out += [line.split(":")[1].strip() for line in links.splitlines()
                    if f"t{short}" in line.split(":")[1] or f"v{short}" in line.split(":")[1]]
    return out


@pytest.mark.parametrize("image,flavor,driver", [("overcast-tiny", "m1.tiny", "qemu"),
                                                 ("overcast-tiny-oci", "m1.tiny", "container")],
                         ids=["vm", "container"])
def test_user_story(cloud: Live, image: str, flavor: str, driver: str) -> None:
    if driver not in DRIVERS:
        pytest.skip(str(_driver_missing(driver)))
    live = cloud
    sfx = uuid.uuid4().hex[:6]
    name = f"s-{sfx}"
    live.osc("keypair", "create", f"k-{sfx}", fmt=False)
    fingerprint = live.osc("keypair", "show", f"k-{sfx}")["fingerprint"]
    live.osc("security", "group", "create", f"web-{sfx}")
    vm = live.osc("server", "create", "--image", image, "--flavor", flavor, "--network",
                  "private", "--key-name", f"k-{sfx}", "--security-group", f"web-{sfx}",
                  "--wait", name)
    assert vm["status"] == "ACTIVE"
    sid = vm["id"]
    fip = live.osc("floating", "ip", "create", "public")["floating_ip_address"]
    live.osc("server", "add", "floating", "ip", name, fip, fmt=False)
    log = console_has(live, name, f"instance-id: {sid}")
    assert f"key-fingerprint: {fingerprint}" in log
    # the group has no ingress rule yet: port 80 is closed from the outside
    assert unreachable(live, fip)
    live.osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80",
             "--remote-ip", "0.0.0.0/0", f"web-{sfx}")
    assert answer(live, fip).split()[0] == sid
    for action, want in (("stop", "SHUTOFF"), ("start", "ACTIVE")):
        live.osc("server", action, name, fmt=False)
        status(live, name, want)
    assert answer(live, fip).split()[0] == sid
    live.osc("server", "reboot", "--hard", "--wait", name, fmt=False)
    status(live, name, "ACTIVE")
    assert answer(live, fip).split()[0] == sid
    # a snapshot boots: a qcow2 disk for a VM, a root file system tarball for a container
    live.osc("server", "image", "create", "--name", f"snap-{sfx}", "--wait", name)
    assert live.osc("image", "show", f"snap-{sfx}")["container_format"] == (
        "docker" if driver == "container" else "bare")
    snap = live.osc("server", "create", "--image", f"snap-{sfx}", "--flavor", flavor,
                    "--network", "private", "--security-group", f"web-{sfx}", "--wait",
                    f"from-snap-{sfx}")
    assert snap["status"] == "ACTIVE"
    console_has(live, f"from-snap-{sfx}", f"instance-id: {snap['id']}")
    live.osc("server", "delete", "--wait", f"from-snap-{sfx}", fmt=False)
    ports = [p["ID"] for p in live.osc("port", "list", "--device-id", sid)]
    found = leftovers(live, sid, ports)  # the check sees what a live server has
    assert any(ports[0].replace("-", "")[:8] in x for x in found), found
    live.osc("server", "delete", "--wait", name, fmt=False)
    deadline = time.monotonic() + 30
    while leftovers(live, sid, ports):
        assert time.monotonic() < deadline, leftovers(live, sid, ports)
        time.sleep(0.5)
    assert live.osc("port", "list", "--device-id", sid) == []
    import httpx

    r = httpx.get(f"{live.base}/placement/allocations/{sid}",
                  headers={"X-Auth-Token": live.sdk().auth_token,
                           "OpenStack-API-Version": "placement 1.28"})
    assert r.status_code == 200 and r.json()["allocations"] == {}, r.text
    assert unreachable(live, fip)


def test_bootable_disk_image(cloud: Live) -> None:
    """The path real cloud images take: a plain bootable qcow2 (overcast-tiny-disk: MBR,
    syslinux, no kernel_id) booted through the firmware, reachable like any guest."""
    if "qemu" not in DRIVERS:
        pytest.skip(str(_driver_missing("qemu")))
    live = cloud
    sfx = uuid.uuid4().hex[:6]
    live.osc("security", "group", "create", f"disk-{sfx}")
    live.osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80",
             f"disk-{sfx}")
    vm = live.osc("server", "create", "--image", "overcast-tiny-disk", "--flavor", "m1.tiny",
                  "--network", "private", "--security-group", f"disk-{sfx}", "--wait",
                  f"disk-{sfx}")
    fip = live.osc("floating", "ip", "create", "public")["floating_ip_address"]
    live.osc("server", "add", "floating", "ip", f"disk-{sfx}", fip, fmt=False)
    assert answer(live, fip).split()[0] == vm["id"]
    assert "SYSLINUX" in console_has(live, f"disk-{sfx}", f"instance-id: {vm['id']}")
    live.osc("server", "delete", "--wait", f"disk-{sfx}", fmt=False)
    live.osc("floating", "ip", "delete", fip, fmt=False)


def test_agent_killed_while_five_guests_boot(cloud: Live) -> None:
    """kill -9 of the agent (all-in-one: the `overcast up` process, the guests and
    dnsmasq live on) while five guests boot; after a restart every one ends ACTIVE and
    answers through its floating IP, or ERROR with a fault, and nothing is orphaned."""
    import signal

    import httpx

    from tests.clients.conftest import _spawn

    live = cloud
    conn = live.sdk()
    h = {"X-Auth-Token": conn.auth_token}
    api = httpx.Client(base_url=live.base, headers=h, timeout=60)
    sfx = uuid.uuid4().hex[:6]
    net = live.osc("network", "show", "private")["id"]
    public = live.osc("network", "show", "public")["id"]
    sg = api.post("/network/v2.0/security-groups", json={"security_group": {
        "name": f"kill-{sfx}"}}).json()["security_group"]["id"]
    api.post("/network/v2.0/security-group-rules", json={"security_group_rule": {
        "security_group_id": sg, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 80, "port_range_max": 80}}).raise_for_status()
    images = {d: live.osc("image", "show", IMAGES[d])["id"] for d in DRIVERS}
    prepared = []
    for i in range(5):
        port = api.post("/network/v2.0/ports", json={"port": {
            "network_id": net, "security_groups": [sg]}}).json()["port"]["id"]
        fip = api.post("/network/v2.0/floatingips", json={"floatingip": {
            "floating_network_id": public, "port_id": port}}).json()["floatingip"]
        prepared.append((port, fip["floating_ip_address"], DRIVERS[i % len(DRIVERS)]))
    ids = []
    for i, (port, _, driver) in enumerate(prepared):
        r = api.post("/compute/v2.1/servers", json={"server": {
            "name": f"k{i}-{sfx}", "imageRef": images[driver], "flavorRef": "1",
            "networks": [{"port": port}]}})
        assert r.status_code == 202, r.text
        ids.append(r.json()["server"]["id"])
    os.kill(live.proc.pid, signal.SIGKILL)  # the process only: what it started lives on
    live.proc.wait()
    live.proc = _spawn(live.data_dir, live.port, live.log_path,
                       {"OVERCAST_DATAPLANE": "linux", "OVERCAST_AGENT_DRIVER": ",".join(DRIVERS)})
    wait_ready(live, timeout=300)
    api.headers["X-Auth-Token"] = live.sdk().auth_token
    deadline = time.monotonic() + 240
    while True:
        by = {s["id"]: s for s in api.get("/compute/v2.1/servers/detail").json()["servers"]}
        if all(by[i]["status"] in ("ACTIVE", "ERROR") and
               not by[i].get("OS-EXT-STS:task_state") for i in ids):
            break
        assert time.monotonic() < deadline, (
            {i: by[i]["status"] for i in ids}, live.log_path.read_text()[-3000:])
        time.sleep(0.5)
    for sid, (_, fip, _) in zip(ids, prepared, strict=True):
        if by[sid]["status"] == "ACTIVE":
            try:
                assert answer(live, fip).split()[0] == sid
            except AssertionError as exc:
                console = api.post(f"/compute/v2.1/servers/{sid}/action",
                                   json={"os-getConsoleOutput": {"length": 30}}).text
                raise AssertionError(f"{exc}\nconsole of {sid}:\n{console}") from None
        else:
            assert by[sid]["fault"]["message"], by[sid]
    # nothing that belongs to no instance
    known = set(by)
    held = set()
    for d in (live.data_dir / "instances").glob("*/instances/*"):
        held.add(d.name)
    assert held <= known, held - known
    for runtime in ("crun", "runc"):
        if shutil.which(runtime):
            import json

            listed = json.loads(subprocess.run([runtime, "list", "--format", "json"],
                                               capture_output=True, text=True).stdout or "[]")
            mine = {c["id"] for c in listed or []
                    if str(c.get("bundle", "")).startswith(str(live.data_dir))}
            assert {c.removeprefix("ovct-") for c in mine} <= known, mine
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    vms = [line for line in ps.splitlines()
           if "qemu-system" in line and str(live.data_dir) in line]
    assert all(any(k in line for k in known) for line in vms), vms
    for sid in ids:
        api.delete(f"/compute/v2.1/servers/{sid}")
    deadline = time.monotonic() + 60
    while any(leftovers(live, sid) for sid in ids):
        assert time.monotonic() < deadline, [leftovers(live, sid) for sid in ids]
        time.sleep(0.5)
    for port, _, _ in prepared:
        api.delete(f"/network/v2.0/ports/{port}")
