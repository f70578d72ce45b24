"""Shared fixtures: an in-process cloud per test module, and token helpers.

`cloud` builds the whole app (every service) in a temp data dir with a fresh
database (SQLite, or PostgreSQL when OVERCAST_TEST_DATABASE_URL is set), runs
migrations and bootstrap, and yields a `Cloud` with an HTTP client and helpers
to make projects, users and tokens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from overcast.cloud import init_cloud
from overcast.config import load_settings

PG_ENV = "OVERCAST_TEST_DATABASE_URL"

# Clouds started by tests (and the `overcast up` processes they spawn) leave the
# host's namespaces alone unless a test asks for the Linux dataplane itself.
os.environ.setdefault("OVERCAST_DATAPLANE", "none")


def _database_url(tmp: Path) -> str:
    base = os.environ.get(PG_ENV, "")
    if not base:
        return ""
    # One throwaway PostgreSQL database per cloud, dropped afterwards.
    import sqlalchemy as sa

    name = f"oc_test_{uuid.uuid4().hex[:12]}"
    eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def _drop_database(url: str) -> None:
    if not url:
        return
    import sqlalchemy as sa

    base, name = url.rsplit("/", 1)
    eng = sa.create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@dataclass
class Cloud:
    client: TestClient
    admin_password: str
    data_dir: Path
    app: Any
    _admin_token: str | None = field(default=None, repr=False)

    def token(self, username: str, password: str, project_id: str | None = None,
              domain: str = "Default", project_name: str | None = None) -> str:
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"name": domain}, "password": password}}}}
        if project_id:
            auth["scope"] = {"project": {"id": project_id}}
        elif project_name:
            auth["scope"] = {"project": {"name": project_name, "domain": {"name": domain}}}
        r = self.client.post("/identity/v3/auth/tokens", json={"auth": auth})
        assert r.status_code == 201, r.text
        return str(r.headers["X-Subject-Token"])

    @property
    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.token("admin", self.admin_password, project_name="admin")
        return self._admin_token

    def admin(self) -> dict[str, str]:
        return {"X-Auth-Token": self.admin_token}

    def project_of(self, headers: dict[str, str]) -> str:
        """The project a token in `headers` is scoped to."""
        r = self.client.get("/identity/v3/auth/tokens", headers={
            **self.admin(), "X-Subject-Token": headers["X-Auth-Token"]})
        assert r.status_code == 200, r.text
        return str(r.json()["token"]["project"]["id"])

    def port_maker(self, headers: dict[str, str], port: dict[str, Any]) -> dict[str, str]:
        """Who creates `port`: binding fields are the admin's by Neutron's policy (Nova
        binds ports as a service), so a port carrying them is made by the admin for the
        project of `headers`; any other port by `headers` itself."""
        if not any(k.startswith("binding:") for k in port):
            return headers
        port.setdefault("project_id", self.project_of(headers))
        return self.admin()

    def role_id(self, name: str) -> str:
        r = self.client.get("/identity/v3/roles", params={"name": name}, headers=self.admin())
        return str(r.json()["roles"][0]["id"])

    def make_project_user(self, role: str = "member", prefix: str = "t") -> dict[str, Any]:
        """A new project with a new user holding `role` on it; returns ids and a token."""
        h = self.admin()
        suffix = uuid.uuid4().hex[:8]
        p = self.client.post("/identity/v3/projects", headers=h,
                             json={"project": {"name": f"{prefix}-p-{suffix}"}}).json()["project"]
        password = f"pw-{suffix}"
        u = self.client.post("/identity/v3/users", headers=h, json={"user": {
            "name": f"{prefix}-u-{suffix}", "password": password,
            "default_project_id": p["id"]}}).json()["user"]
        r = self.client.put(f"/identity/v3/projects/{p['id']}/users/{u['id']}/roles/"
                            f"{self.role_id(role)}", headers=h)
        assert r.status_code == 204, r.text
        token = self.token(u["name"], password, project_id=p["id"])
        return {"project_id": p["id"], "user_id": u["id"], "username": u["name"],
                "password": password, "token": token,
                "headers": {"X-Auth-Token": token}}


def build_cloud(tmp: Path, **overrides: Any) -> Iterator[Cloud]:
    db_url = _database_url(tmp)
    settings = load_settings(
        data_dir=tmp / "cloud", environ={}, port=0, bcrypt_rounds=4,
        merge_user_clouds_yaml=False, local_agent=False, build_test_image=False,
        database_url=db_url or None, **overrides)
    info = init_cloud(settings)
    with TestClient(info.app, base_url="http://testserver") as client:
        yield Cloud(client=client, admin_password=info.admin_password,
                    data_dir=settings.data_dir, app=info.app)
    info.app.state.db.dispose()
    _drop_database(db_url)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from build_cloud(tmp_path_factory.mktemp("cloud"))


@pytest.fixture
def fresh_cloud(tmp_path: Path) -> Iterator[Cloud]:
    yield from build_cloud(tmp_path)


def _guest_processes(under: str) -> dict[int, str]:
    """QEMU guests and storage daemons whose command line names a path under `under`
    (this test session's temporary directory), by pid."""
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        exe = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
        line = b" ".join(argv).decode(errors="replace")
        if exe.startswith(("qemu-system", "qemu-storage-daemon")) and under in line:
            found[int(proc.name)] = line[:200]
    return found


@pytest.fixture(scope="module", autouse=True)
def _no_leaked_guests(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every QEMU guest or storage daemon a test module starts is gone when it ends.

    Guests outlive `overcast up` and the agent by design (a restart must not touch
    them), so a test that boots one and stops its cloud without deleting the server
    (or `overcast down --purge`) leaves it running for the rest of the session and
    after it: CI machines filled up with TCG guests eating both cores. The check
    looks only at processes naming this session's temporary directory, so other
    sessions on the same machine are left alone; what it finds is killed, then the
    module errors with the list, so the leak is fixed where it starts."""
    under = str(tmp_path_factory.getbasetemp())
    before = set(_guest_processes(under))
    yield
    leaked = {pid: line for pid, line in _guest_processes(under).items()
              if pid not in before}
    for pid in leaked:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if leaked:
        pytest.fail(f"{request.node.name} left {len(leaked)} guest process(es) running: "
                    + "; ".join(leaked.values()), pytrace=False)
