"""Block storage end to end (root): `overcast up` with the QEMU driver, driven only
with the real openstack CLI.

A volume made from a small ext4 image is attached live to a running guest, which
writes a file to it (overcast-tiny's volume watcher: it mounts each disk with a
serial, prints the files it finds on the console and writes guest-<its id>.txt, its
id read from the config drive); detached, attached to a second guest, which finds
the first one's file; kept across the second guest's hard reboot and a restart of
`overcast up` (the guests run on through it), then moved back to the first guest,
which finds both files: the data outlives every attachment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import Live, _spawn, free_port, stop_server, wait_ready
from tests.e2e.test_real_instances import _driver_missing

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or _driver_missing("qemu") is not None or not shutil.which("mkfs.ext4"),
    reason="needs root, the QEMU driver and mkfs.ext4")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("volumes-e2e")
    data = tmp / "cloud"
    log = tmp / "up.log"
    port = free_port()
    proc = _spawn(data, port, log, {"OVERCAST_AGENT_DRIVER": "qemu"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(data / "clouds.yaml")
    live = Live(data_dir=data, port=port, proc=proc, env=env, log_path=log,
                spawn_env={"OVERCAST_AGENT_DRIVER": "qemu"})
    try:
        wait_ready(live, timeout=300)
        deadline = time.monotonic() + 300
        while not live.osc("image", "list", "--name", "overcast-tiny"):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield live
    finally:
        stop_server(live)
        subprocess.run([str(BIN / "overcast"), "down", "--purge", "--data-dir", str(data)],
                       capture_output=True, text=True)


def wait_for(what: str, cond: Any, timeout: float = 120, every: float = 0.5,
             detail: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}" + (
            f":\n{detail()}" if detail else "")
        time.sleep(every)


def volume_status(live: Live, name: str) -> str:
    return str(live.osc("volume", "show", name)["status"])


def console(live: Live, server: str) -> str:
    return str(live.osc("console", "log", "show", server, fmt=False))


def test_a_volume_outlives_its_attachments(cloud: Live, tmp_path: Path) -> None:
    live = cloud
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "overcast-seed.txt").write_text("planted by the test\n")
    fs = tmp_path / "seedfs.raw"
    subprocess.run(["qemu-img", "create", "-f", "raw", str(fs), "16M"], check=True,
                   capture_output=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(seed), str(fs)], check=True)
    live.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
             "--file", str(fs), "seedfs")
    vol = live.osc("volume", "create", "--image", "seedfs", "--size", "1", "data1")
    wait_for("the volume", lambda: volume_status(live, "data1") == "available")
    serial = "".join(c for c in vol["id"][:20] if c.isalnum() or c == "-")
    ids = {}
    for name in ("vm1", "vm2"):
        s = live.osc("server", "create", "--image", "overcast-tiny", "--flavor", "m1.tiny",
                     "--nic", "none", "--config-drive", "True", "--wait", name,
                     timeout=300)
        assert s["status"] == "ACTIVE", s
        ids[name] = s["id"]
        wait_for(f"{name}'s guest", lambda n=name: "OVERCAST-GUEST-UP" in console(live, n))

    # attached live to vm1: the guest sees the disk, finds the seed and writes its file
    live.osc("server", "add", "volume", "vm1", "data1", fmt=False)
    assert volume_status(live, "data1") == "in-use"
    wait_for("vm1 to write", lambda: f"OVERCAST-VOLUME-WROTE {serial} guest-{ids['vm1']}.txt"
             in console(live, "vm1"), detail=lambda: console(live, "vm1")[-3000:] +
             live.log_path.read_text()[-3000:])
    assert f"OVERCAST-VOLUME-FILE {serial} overcast-seed.txt: planted by the test" in \
        console(live, "vm1")
    live.osc("server", "remove", "volume", "vm1", "data1", fmt=False)
    wait_for("the detach", lambda: volume_status(live, "data1") == "available")
    wait_for("vm1 to lose the disk", lambda: f"OVERCAST-VOLUME-GONE {serial}"
             in console(live, "vm1"))

    # attached to vm2: vm1's file is there
    live.osc("server", "add", "volume", "vm2", "data1", fmt=False)
    wait_for("vm2 to read vm1's file",
             lambda: f"OVERCAST-VOLUME-FILE {serial} guest-{ids['vm1']}.txt: written by "
             f"{ids['vm1']}" in console(live, "vm2"))
    wait_for("vm2 to write", lambda: f"OVERCAST-VOLUME-WROTE {serial} guest-{ids['vm2']}.txt"
             in console(live, "vm2"))

    # a hard reboot keeps the volume attached: the guest finds it again at boot
    live.osc("server", "reboot", "--hard", "--wait", "vm2", fmt=False, timeout=300)
    wait_for("vm2 after its reboot",
             lambda: console(live, "vm2").count(
                 f"OVERCAST-VOLUME-FILE {serial} guest-{ids['vm2']}.txt") >= 1 and
             console(live, "vm2").count("OVERCAST-GUEST-UP") >= 1)
    assert volume_status(live, "data1") == "in-use"

    # overcast up restarts: the attachment and the data stay
    live.restart()
    assert volume_status(live, "data1") == "in-use"
    # the guests run on through it (the new agent adopts them): still ACTIVE
    for name in ("vm1", "vm2"):
        assert live.osc("server", "show", name)["status"] == "ACTIVE", name
    live.osc("server", "remove", "volume", "vm2", "data1", fmt=False)
    wait_for("the detach", lambda: volume_status(live, "data1") == "available")
    live.osc("server", "add", "volume", "vm1", "data1", fmt=False)
    out = wait_for("vm1 to read both files", lambda: (lambda c: c if (
        f"OVERCAST-VOLUME-FILE {serial} guest-{ids['vm2']}.txt: written by {ids['vm2']}"
        in c) else None)(console(live, "vm1")))
    assert f"OVERCAST-VOLUME-FILE {serial} overcast-seed.txt: planted by the test" in out
    live.osc("server", "remove", "volume", "vm1", "data1", fmt=False)
    for name in ("vm1", "vm2"):
        live.osc("server", "delete", "--wait", name, fmt=False, timeout=120)
    wait_for("the volume", lambda: volume_status(live, "data1") == "available")
    live.osc("volume", "delete", "data1", fmt=False)


def test_in_use_extend_reaches_the_guest(cloud: Live) -> None:
    """`openstack volume set --size 2` of a volume attached to a running guest (3.42):
    the guest's /sys/block/vdX/size grows from 1 GiB to 2 GiB (in 512-byte sectors)
    without a detach: block storage grows the file, tells compute (volume-extended),
    whose host has QEMU `block_resize` the disk."""
    live = cloud
    vol = live.osc("volume", "create", "--size", "1", "grow1")
    wait_for("the volume", lambda: volume_status(live, "grow1") == "available")
    serial = "".join(c for c in vol["id"][:20] if c.isalnum() or c == "-")
    s = live.osc("server", "create", "--image", "overcast-tiny", "--flavor", "m1.tiny",
                 "--nic", "none", "--wait", "vm3", timeout=300)
    assert s["status"] == "ACTIVE", s
    wait_for("vm3's guest", lambda: "OVERCAST-GUEST-UP" in console(live, "vm3"))
    live.osc("server", "add", "volume", "vm3", "grow1", fmt=False)
    wait_for("vm3 to see 1 GiB", lambda: f"OVERCAST-VOLUME-SIZE {serial} {(1 << 30) // 512}"
             in console(live, "vm3"), detail=lambda: console(live, "vm3")[-3000:])
    # (the client negotiates the volume API's version: 3.42 and up extend in-use)
    live.osc("volume", "set", "--size", "2", "grow1", fmt=False)
    wait_for("the extend", lambda: live.osc("volume", "show", "grow1")["size"] == 2)
    assert volume_status(live, "grow1") == "in-use"
    wait_for("vm3 to see 2 GiB", lambda: f"OVERCAST-VOLUME-SIZE {serial} {(2 << 30) // 512}"
             in console(live, "vm3"), timeout=60,
             detail=lambda: console(live, "vm3")[-3000:] + live.log_path.read_text()[-3000:])
    live.osc("server", "remove", "volume", "vm3", "grow1", fmt=False)
    wait_for("the detach", lambda: volume_status(live, "grow1") == "available")
    live.osc("server", "delete", "--wait", "vm3", fmt=False, timeout=120)
    live.osc("volume", "delete", "grow1", fmt=False)
