"""Bringing an all-in-one cloud up: data directory, migrations, keys, bootstrap,
clouds.yaml, and serving every API on one port until stopped.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI

from overcast.app import catalog_services, create_app
from overcast.config import Settings
from overcast.db.migrate import upgrade

Progress = Callable[[str], None]


@dataclass
class CloudInfo:
    settings: Settings
    app: FastAPI
    admin_password: str
    clouds_yaml: Path


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def cloud_entry(settings: Settings, password: str) -> dict[str, Any]:
    return {
        "auth": {
            "auth_url": f"{settings.base_url}/identity/v3",
            "username": settings.admin_username,
            "password": password,
            "project_name": settings.admin_project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": settings.region,
        "identity_api_version": 3,
        "interface": "public",
    }


def write_private_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write YAML holding a password: mode 0600 from the first byte, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)
    os.replace(tmp, path)


def write_clouds_yaml(settings: Settings, password: str, merge_user: bool) -> Path:
    entry = cloud_entry(settings, password)
    own = settings.data_dir / "clouds.yaml"
    write_private_yaml(own, {"clouds": {"overcast": entry}})
    if merge_user:
        user_file = Path.home() / ".config" / "openstack" / "clouds.yaml"
        data: dict[str, Any] = {}
        if user_file.exists():
            try:
                data = yaml.safe_load(user_file.read_text()) or {}
            except yaml.YAMLError:
                data = {}
        data.setdefault("clouds", {})["overcast"] = entry
        write_private_yaml(user_file, data)
    return own


#: the service user compute hosts' agents authenticate as (Nova's `nova`)
AGENT_USER = "overcast-compute"
#: the file (in the control plane's data dir, to be copied into each compute host's)
#: holding that user's credential; `overcast agent` reads it from its data dir
AGENT_CREDENTIAL = "agent-credential.yaml"


def write_agent_credential(settings: Settings, app: FastAPI) -> Path:
    """Make (or keep) the agents' service user and write its credential, mode 0600."""
    password = _secret_file(settings.data_dir / "agent-password",
                            lambda: secrets.token_urlsafe(18))
    app.state.identity.ensure_service_user(AGENT_USER, password)
    path = settings.data_dir / AGENT_CREDENTIAL
    write_private_yaml(path, {"auth": {
        "auth_url": f"{settings.base_url}/identity/v3", "username": AGENT_USER,
        "password": password, "project_name": "service",
        "user_domain_name": "Default", "project_domain_name": "Default"}})
    return path


def init_cloud(settings: Settings, progress: Progress | None = None,
               app: FastAPI | None = None) -> CloudInfo:
    """Everything `overcast up` does before serving; idempotent on an existing data dir."""
    say = progress or (lambda _msg: None)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    say("building the services")
    app = app or create_app(settings)
    say("applying database migrations")
    upgrade(app.state.db.engine)
    password = _secret_file(settings.data_dir / "admin-password",
                            lambda: secrets.token_urlsafe(18))
    say("bootstrapping identity (keys, admin, roles, catalog)")
    app.state.identity.bootstrap(password, catalog_services(app))
    write_agent_credential(settings, app)
    clouds = write_clouds_yaml(settings, password, settings.merge_user_clouds_yaml)
    return CloudInfo(settings=settings, app=app, admin_password=password, clouds_yaml=clouds)
