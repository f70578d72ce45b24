"""`overcast up` as root runs the Linux dataplane: networks made with the real CLI
appear on the host, `overcast upstream` runs commands in the outside world, and
`overcast down --purge` removes everything of the cloud."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clients.conftest import Live, _spawn, free_port, stop_server, wait_ready

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq"),
    reason="needs root and dnsmasq (scripts/install-host.sh)")
BIN = Path(sys.executable).parent


def test_up_upstream_and_down(tmp_path: Path) -> None:
    data = tmp_path / "cloud"
    port = free_port()
    log = tmp_path / "up.log"
    proc = _spawn(data, port, log, {"OVERCAST_DATAPLANE": "linux",
                                    "OVERCAST_BUILD_TEST_IMAGE": "false"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(data / "clouds.yaml")
    live = Live(data_dir=data, port=port, proc=proc, env=env, log_path=log)
    try:
        wait_ready(live)
        live.osc("network", "create", "--external", "--provider-network-type", "flat",
                 "--provider-physical-network", "public", "public")
        live.osc("subnet", "create", "--network", "public", "--subnet-range",
                 "172.33.0.0/24", "--no-dhcp", "public-subnet")
        live.osc("network", "create", "private")
        live.osc("subnet", "create", "--network", "private", "--subnet-range",
                 "10.64.0.0/24", "private-subnet")
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run([str(BIN / "overcast"), "upstream", "--data-dir", str(data),
                                "--", "ip", "-o", "-4", "addr", "show", "dev", "eth0"],
                               capture_output=True, text=True)
            if r.returncode == 0 and "172.33.0.1/24" in r.stdout:
                break
            assert time.monotonic() < deadline, r.stdout + r.stderr + log.read_text()[-2000:]
            time.sleep(0.3)
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                    text=True).stdout
        assert any("-dhcp-" in line for line in namespaces.splitlines())
    finally:
        stop_server(live)
        r = subprocess.run([str(BIN / "overcast"), "down", "--purge", "--data-dir",
                            str(data)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    from overcast.config import load_settings

    prefix = f"oc{load_settings(data_dir=data, environ={}).cloud_id[:3]}"
    assert not [line for line in left.splitlines() if line.startswith(f"{prefix}-")]
    assert "Error" not in log.read_text()
