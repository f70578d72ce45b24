"""A live `overcast up` on a free port in a temp dir, driven by the real clients.

`live` is session-scoped: one real server process for all client tests.
`live.osc(...)` runs the real `openstack` CLI against it and returns parsed
JSON (`-f json`) or text; `live.sdk()` gives an openstacksdk Connection.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path
    #: the environment `overcast up` was started with beyond ours (its driver, its
    #: dataplane), and its flags (None: `$OVERCAST_LIVE_ARGS`): a restart keeps them,
    #: as an operator restarts the same cloud
    spawn_env: dict[str, str] | None = None
    spawn_args: tuple[str, ...] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def osc(self, *args: str, cloud: str = "overcast", fmt: bool = True, check: bool = True,
            env: dict[str, str] | None = None, timeout: float = 120) -> Any:
        argv = [str(BIN / "openstack"), "--os-cloud", cloud, *args]
        if fmt:
            argv += ["-f", "json"]
        r = subprocess.run(argv, capture_output=True, text=True, env={**self.env, **(env or {})},
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stderr}\n{r.stdout}")
        if not check:
            return r
        if fmt and r.stdout.strip():
            return json.loads(r.stdout)
        return r.stdout

    def sdk(self, cloud: str = "overcast") -> Any:
        from openstack import connection
        from openstack.config import loader

        cfg = loader.OpenStackConfig(config_files=[str(self.data_dir / "clouds.yaml")],
                                     load_envvars=False)
        return connection.Connection(config=cfg.get_one(cloud=cloud))

    def add_cloud(self, name: str, auth: dict[str, Any]) -> None:
        """Add another cloud entry (another user) to the live clouds.yaml."""
        import yaml

        path = self.data_dir / "clouds.yaml"
        data = yaml.safe_load(path.read_text())
        base = dict(data["clouds"]["overcast"])
        base["auth"] = {"auth_url": base["auth"]["auth_url"], **auth}
        data["clouds"][name] = base
        path.write_text(yaml.safe_dump(data))

    def restart(self, extra_env: dict[str, str] | None = None) -> None:
        """Stop `overcast up` (SIGTERM to its process group) and start it again on the
        same data directory, with the environment it was started with (plus
        `extra_env`): without it a cloud started with the QEMU driver would come back
        with the fake one, which finds none of its guests."""
        stop_server(self)
        env = {**(self.spawn_env or {}), **(extra_env or {})}
        self.proc = _spawn(self.data_dir, self.port, self.log_path, env, self.spawn_args)
        wait_ready(self)


def client_env(data_dir: Path) -> dict[str, str]:
    """Our environment for the clients, without any OS_* of the caller's, pointed at the
    clouds.yaml `overcast up` writes in `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(data_dir / "clouds.yaml")
    return env


def _spawn(data_dir: Path, port: int, log_path: Path,
          extra_env: dict[str, str] | None = None,
          args: tuple[str, ...] | None = None) -> subprocess.Popen[bytes]:
    """`overcast up` in its own process group, its output appended to `log_path`, with
    these flags (None: those in `$OVERCAST_LIVE_ARGS`, which pick the shared live
    cloud's driver)."""
    env = {**os.environ, "OVERCAST_BCRYPT_ROUNDS": "4", **(extra_env or {})}
    if args is None:
        args = tuple(os.environ.get("OVERCAST_LIVE_ARGS", "").split())
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [str(BIN / "overcast"), "up", "--data-dir", str(data_dir), "--port", str(port),
         "--no-user-clouds-yaml", *args],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def wait_ready(live: Live, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.proc.poll() is not None:
            raise RuntimeError(f"overcast up exited:\n{live.log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{live.base}/identity/v3", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"overcast up not ready:\n{live.log_path.read_text()[-4000:]}")


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 30,
               sig: int = signal.SIGTERM) -> None:
    """Stop a process started in its own session (and its children): `sig` to its
    group, SIGKILL if it is still there after `timeout` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop_server(live: Live) -> None:
    stop_group(live.proc)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if not shutil.which("openstack", path=str(BIN)):
        pytest.skip("python-openstackclient is not installed (pip install -e .[test])")
    data_dir = tmp_path_factory.mktemp("live") / "cloud"
    port = free_port()
    log_path = data_dir.parent / "overcast-up.log"
    proc = _spawn(data_dir, port, log_path)
    srv = Live(data_dir=data_dir, port=port, proc=proc, env=client_env(data_dir),
               log_path=log_path)
    try:
        wait_ready(srv)
        yield srv
    finally:
        stop_server(srv)
