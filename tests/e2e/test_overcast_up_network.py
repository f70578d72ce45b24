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
        # a fresh cloud comes with public, the admin's private network and router1
        nets = {n["Name"]: n for n in live.osc("network", "list")}
        assert {"public", "private"} <= set(nets)
        assert live.osc("network", "show", "public")["router:external"] is True
        router = live.osc("router", "show", "router1")
        gw = router["external_gateway_info"]
        assert gw["network_id"] == nets["public"]["ID"]
        gw_ip = gw["external_fixed_ips"][0]["ip_address"]
        assert router["interfaces_info"][0]["ip_address"] == "10.0.0.1"

        def upstream(*cmd: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(BIN / "overcast"), "upstream", "--data-dir",
                                   str(data), "--", *cmd], capture_output=True, text=True)

        deadline = time.monotonic() + 30
        while True:
            r = upstream("ip", "-o", "-4", "addr", "show", "dev", "eth0")
            ping = upstream("busybox", "ping", "-c", "1", "-W", "1", gw_ip)
            if r.returncode == 0 and "172.24.4.1/24" in r.stdout and ping.returncode == 0:
                break
            assert time.monotonic() < deadline, r.stdout + r.stderr + ping.stdout + \
                log.read_text()[-2000:]
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
