"""`openstack server migrate --live-migration` (the real CLI) against an `overcast
up` with two fake hosts: to a named host and to the scheduler's choice, the server
ACTIVE and answering on its new host after each move; the migrations listed by
`openstack server migration list`; and the CLI's error for a move to the host the
server is on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import Live, _spawn, free_port, stop_server, wait_ready
from tests.images import IMAGE, add_image

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("livecli")
    data, port, log = tmp / "cloud", free_port(), tmp / "up.log"
    spawn_env = {"OVERCAST_AGENT_DRIVER": "fake", "OVERCAST_FAKE_HOSTS": "2",
                 "OVERCAST_DATAPLANE": "none"}
    proc = _spawn(data, port, log, spawn_env)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(data / "clouds.yaml")
    live = Live(data_dir=data, port=port, proc=proc, env=env, log_path=log,
                spawn_env=spawn_env)
    try:
        wait_ready(live)
        conn = live.sdk()
        with httpx.Client(base_url=live.base) as c:
            add_image(c, {"X-Auth-Token": conn.auth_token})
        deadline = time.monotonic() + 60
        while len([s for s in live.osc("compute", "service", "list")
                   if s["State"] == "up"]) < 2:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield live
    finally:
        stop_server(live)
        subprocess.run([str(BIN / "overcast"), "down", "--purge", "--data-dir", str(data)],
                       capture_output=True, text=True)


def show(live: Live, name: str) -> dict[str, Any]:
    return dict(live.osc("server", "show", name, "--os-compute-api-version", "2.30"))


def wait_on(live: Live, name: str, host: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = show(live, name)
        if s["status"] == "ACTIVE" and s["OS-EXT-SRV-ATTR:host"] == host and \
                not s.get("OS-EXT-STS:task_state"):
            return s
        time.sleep(0.5)
    raise AssertionError(f"{name} never became ACTIVE on {host}: {show(live, name)}")


def test_live_migration_with_the_cli(two_hosts: Live) -> None:
    live = two_hosts
    hosts = sorted(s["Host"] for s in live.osc("compute", "service", "list"))
    conn = live.sdk()
    s = conn.compute.create_server(name="mover", flavorRef="1", imageRef=IMAGE,
                                   networks="none")
    conn.compute.wait_for_server(s, wait=60, interval=0.5)
    first = show(live, "mover")["OS-EXT-SRV-ATTR:host"]
    other = next(h for h in hosts if h != first)
    live.osc("server", "migrate", "--live-migration", "--host", other, "--wait", "mover",
             "--os-compute-api-version", "2.30", fmt=False)
    wait_on(live, "mover", other)
    # the scheduler's choice: the only other host
    live.osc("server", "migrate", "--live-migration", "--wait", "mover",
             "--os-compute-api-version", "2.25", fmt=False)
    wait_on(live, "mover", first)
    migs = live.osc("server", "migration", "list", "--server", "mover",
                    "--os-compute-api-version", "2.23")
    assert [(m["Type"], m["Status"], m["Source Compute"], m["Dest Compute"])
            for m in migs] == [("live-migration", "completed", other, first),
                               ("live-migration", "completed", first, other)]
    # to the host it is on: the CLI shows Nova's 400
    r = live.osc("server", "migrate", "--live-migration", "--host", first, "mover",
                 "--os-compute-api-version", "2.30", fmt=False, check=False)
    assert r.returncode != 0 and "current host" in r.stderr, r.stderr
    live.osc("server", "delete", "--wait", "mover", fmt=False)
