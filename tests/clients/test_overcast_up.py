"""`overcast up` as a user runs it: clouds.yaml, signals, logs, restarts."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.clients.conftest import free_port

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent


def start(data_dir: Path, port: int, home: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HOME": str(home), "OVERCAST_BCRYPT_ROUNDS": "4"}
    proc = subprocess.Popen([str(BIN / "overcast"), "up", "--data-dir", str(data_dir),
                             "--port", str(port), "--no-agent", "--no-test-image", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/identity/v3", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("overcast up did not become ready")


def test_up_writes_private_clouds_yaml_merges_user_file_and_stops_on_sigterm(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    user_file = home / ".config" / "openstack" / "clouds.yaml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text(yaml.safe_dump({"clouds": {"other": {"auth": {"auth_url": "x"}}}}))
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port, home)
    own = yaml.safe_load((data / "clouds.yaml").read_text())["clouds"]["overcast"]
    assert own["auth"]["auth_url"] == f"http://127.0.0.1:{port}/identity/v3"
    assert stat.S_IMODE((data / "clouds.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE(user_file.stat().st_mode) == 0o600
    merged = yaml.safe_load(user_file.read_text())["clouds"]
    assert set(merged) == {"other", "overcast"}
    password = own["auth"]["password"]
    # a few requests, including a failed login, then SIGTERM
    tok = httpx.post(f"http://127.0.0.1:{port}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}}}})
    httpx.post(f"http://127.0.0.1:{port}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "wrong-secret"}}}}})
    token = tok.headers["X-Subject-Token"]
    httpx.get(f"http://127.0.0.1:{port}/identity/v3/users",
              headers={"X-Auth-Token": token})
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    log = (data / "logs" / "overcast.log").read_text()
    assert "method=POST path=/identity/v3/auth/tokens status=201" in log
    assert "request_id=req-" in log
    for secret in (password, "wrong-secret", token):
        assert secret not in log
    out = proc.stdout.read() if proc.stdout else ""
    assert password not in out


def test_no_user_clouds_yaml_flag(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    proc = start(tmp_path / "data", port, home, "--no-user-clouds-yaml")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    assert not (home / ".config" / "openstack" / "clouds.yaml").exists()


def test_keys_rotate_command_keeps_issued_tokens_valid(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    proc = start(data, port, tmp_path, "--no-user-clouds-yaml")
    try:
        password = (data / "admin-password").read_text().strip()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        url = f"http://127.0.0.1:{port}/identity/v3/auth/tokens"
        old = httpx.post(url, json=body).headers["X-Subject-Token"]
        subprocess.run([str(BIN / "overcast"), "keys", "rotate", "--data-dir", str(data)],
                       check=True, capture_output=True)
        new = httpx.post(url, json=body).headers["X-Subject-Token"]
        for t in (old, new):
            r = httpx.get(url, headers={"X-Auth-Token": new, "X-Subject-Token": t})
            assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_up_on_postgresql_from_the_config_file(tmp_path: Path) -> None:
    """`database_url` in DATA_DIR/overcast.yaml puts all state in PostgreSQL."""
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("OVERCAST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        eng.connect().close()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at {base}: {exc}")
    name = f"oc_up_{uuid.uuid4().hex[:10]}"
    with eng.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    data = tmp_path / "data"
    data.mkdir()
    (data / "overcast.yaml").write_text(yaml.safe_dump({"database_url": url}))
    port = free_port()
    proc = start(data, port, tmp_path, "--no-user-clouds-yaml")
    try:
        assert not (data / "overcast.db").exists()
        with sa.create_engine(url).connect() as c:
            users = c.execute(sa.text("SELECT name FROM identity_users")).scalars().all()
        assert "admin" in users
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        with eng.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
