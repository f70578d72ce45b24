"""One typed settings object for the whole cloud.

Settings come from, in increasing priority: defaults, `DATA_DIR/overcast.yaml`,
environment variables `OVERCAST_<FIELD>` (upper case), and explicit overrides
(the CLI's flags). Nothing else in overcast reads `os.environ`: the settings
object is built once and passed to the app and agents explicitly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "overcast"


@dataclass
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    #: SQLAlchemy URL; empty means SQLite at DATA_DIR/overcast.db (WAL mode).
    database_url: str = ""
    #: "memory" (in-process) or an amqp:// URL for RabbitMQ.
    bus_url: str = "memory"
    #: Queue-name prefix on a shared broker (the control plane and its agents agree on it).
    bus_namespace: str = "overcast"
    region: str = "RegionOne"
    #: The URL clients use to reach this cloud; empty means http://HOST:PORT.
    public_url: str = ""
    admin_username: str = "admin"
    admin_project: str = "admin"
    token_expiration: int = 3600
    #: How long an expired token can still be validated with allow_expired.
    allow_expired_window: int = 172800
    #: Fernet keys kept on disk (primary + secondaries + staged).
    max_active_keys: int = 3
    bcrypt_rounds: int = 12
    #: Write the `overcast` entry into ~/.config/openstack/clouds.yaml too.
    merge_user_clouds_yaml: bool = True
    #: Start a local compute agent inside `overcast up`.
    local_agent: bool = True
    #: The local agent's virt drivers: "auto" (QEMU and containers, those this host
    #: can run, when the Linux dataplane runs; else the fake driver), "fake", "qemu",
    #: "container", "real" (both), or a comma-separated list.
    agent_driver: str = "auto"
    #: The local agent's network dataplane: "linux" (bridges, namespaces, dnsmasq,
    #: iptables; needs root), "none", or "auto" (linux when running as root).
    dataplane: str = "auto"
    #: How many hosts the local fake agent simulates (scale tests, benchmarks).
    fake_hosts: int = 1
    #: Seconds the fake driver takes to spawn (scale tests and crash tests).
    fake_spawn_latency: float = 0.0
    #: Images a project may own, and bytes of image data it may store (-1: unlimited).
    image_quota_count: int = 1000
    image_quota_bytes: int = 1 << 40
    #: Build and register the tiny guest images at start-up.
    build_test_image: bool = True
    #: Create the external `public` network (with the simulated upstream) and, for
    #: the admin project, a `private` network and `router1` at start-up.
    default_networks: bool = True
    #: The public network's range; its first address is the upstream's (the outside).
    public_cidr: str = "172.24.4.0/24"
    log_level: str = "info"

    # ----- derived paths -------------------------------------------------
    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'overcast.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "fernet-keys"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def cloud_id(self) -> str:
        """A short stable id for this cloud (prefixes host devices, names queues)."""
        return hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:6]

    def with_overrides(self, **overrides: Any) -> Settings:
        clean = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **clean)


def _coerce(ftype: Any, value: Any) -> Any:
    t = str(ftype)
    if t in ("int", "<class 'int'>"):
        return int(value)
    if t in ("float", "<class 'float'>"):
        return float(value)
    if t in ("bool", "<class 'bool'>"):
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes", "on")
    if t in ("Path", "<class 'pathlib.Path'>"):
        return Path(value).expanduser()
    return str(value)


def load_settings(
    data_dir: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults < overcast.yaml < OVERCAST_* env < overrides."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if data_dir is None and env.get("OVERCAST_DATA_DIR"):
        data_dir = Path(env["OVERCAST_DATA_DIR"])
    base_dir = Path(data_dir).expanduser() if data_dir else _default_data_dir()
    cfg_file = base_dir / "overcast.yaml"
    if cfg_file.exists():
        loaded = yaml.safe_load(cfg_file.read_text()) or {}
        for key, value in loaded.items():
            if key in fields:
                values[key] = _coerce(fields[key].type, value)
    for name, f in fields.items():
        key = f"OVERCAST_{name.upper()}"
        if key in env:
            values[name] = _coerce(f.type, env[key])
    for name, value in overrides.items():
        if value is not None and name in fields:
            values[name] = _coerce(fields[name].type, value)
    values["data_dir"] = base_dir
    return Settings(**values)
