"""One typed settings object for the whole cloud.

Settings come from, in increasing priority: defaults, `DATA_DIR/overcast.yaml`,
environment variables `OVERCAST_<FIELD>` (upper case), and explicit overrides
(the CLI's flags). Every setting is a field of `Settings`; a key in
`overcast.yaml` that is not one is refused (`SettingsError` names it and the
closest field). Nothing else in overcast reads `os.environ`: the settings object
is built once and passed to the app, the agents and the image builder explicitly.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class SettingsError(ValueError):
    """The settings cannot be built: an unknown key, or a value of the wrong kind."""


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "overcast"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where built artefacts are kept between clouds (the test guest's builds):
    $OVERCAST_CACHE_DIR, else $XDG_CACHE_HOME/overcast, else ~/.cache/overcast."""
    env = os.environ if environ is None else environ
    if env.get("OVERCAST_CACHE_DIR"):
        return Path(env["OVERCAST_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "overcast"


@dataclass
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    #: API worker processes of `overcast up` (0: as many as cores). With more than
    #: one, an engine process runs the conductor, agents and storage apart from them
    #: (`overcast.serve`); 1 is a single process doing everything.
    api_workers: int = 0
    #: uvicorn's HTTP parser and event loop for the API: "auto" is httptools (with
    #: overcast's direct path for large upload bodies, `overcast.kit.http`) and
    #: uvloop when installed (measured fastest here: bench/process_model.py,
    #: bench/body_receive.py); "httptools" is uvicorn's own, "h11" and "asyncio".
    api_http: str = "auto"
    api_loop: str = "auto"
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
    #: How old a signed EC2/S3 request's timestamp may be before `POST /v3/ec2tokens`
    #: refuses it (Keystone's [credential] auth_ttl, 15 minutes), in seconds.
    credential_auth_ttl: int = 900
    bcrypt_rounds: int = 12
    # ----- Keystone's [security_compliance] (every one off by default, as Keystone)
    #: Failed password authentications in a row after which a user is locked out
    #: (0: never), and for how many seconds (0: until an administrator re-enables).
    lockout_failure_attempts: int = 0
    lockout_duration: int = 1800
    #: Days a password is valid (0: forever).
    password_expires_days: int = 0
    #: How many of a user's last passwords (the current one included) a self-service
    #: change may not reuse (0: any).
    unique_last_password_count: int = 0
    #: Days a self-service password must be kept before the user may change it again.
    minimum_password_age: int = 0
    #: A regular expression every new password must match, and the sentence that
    #: tells users what it asks for (returned in the 400 and by the domain config API).
    password_regex: str = ""
    password_regex_description: str = ""
    #: A password an administrator sets (create or reset) is expired at once: the user
    #: must change it (POST /v3/users/{id}/password) before authenticating.
    change_password_upon_first_use: bool = False
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
    #: This host's address on the hosts' network, where VXLAN tunnels from the other
    #: hosts end ("" on a single host: no tunnels). The control plane's is the
    #: network host's (DHCP, routers, the upstream and the metadata proxy live there).
    tunnel_ip: str = ""
    #: The prefix of this host's dataplane namespaces and devices (at most 5 letters
    #: and digits; "": "oc" and the cloud id's first 3 characters). Hosts sharing one
    #: machine (`overcast lab`) each need their own.
    dataplane_prefix: str = ""
    #: How many hosts the local fake agent simulates (scale tests, benchmarks).
    fake_hosts: int = 1
    #: Seconds the fake driver takes to spawn (scale tests and crash tests).
    fake_spawn_latency: float = 0.0
    #: Seconds between audits that release Placement allocations and compute ports
    #: belonging to no live server (a crash between two steps can leave them); 0: only
    #: once, at start.
    audit_interval: float = 300.0
    #: Nova's service_down_time: seconds without a heartbeat after which a compute
    #: host is down (not scheduled to; its servers may be evacuated).
    service_down_time: float = 60.0
    #: Nova's report_interval: seconds between an agent's heartbeats (keep it well
    #: under service_down_time).
    report_interval: float = 10.0
    #: Nova's reclaim_instance_interval: seconds a deleted server is kept SOFT_DELETED
    #: (restorable, forceDelete-able) before it is deleted for good; 0: a delete is
    #: immediate (Nova's default).
    reclaim_instance_interval: float = 0.0
    #: Nova's shelved_offload_time: 0 (Nova's default) offloads a shelved server from
    #: its host at once; any other value keeps it there, stopped, until shelveOffload
    #: (a timed offload is not implemented).
    shelved_offload_time: float = 0.0
    #: Images a project may own, and bytes of image data it may store (-1: unlimited).
    image_quota_count: int = 1000
    image_quota_bytes: int = 1 << 40
    #: Where Glance keeps image data: "file" (files under DATA_DIR/images) or
    #: "object" (objects in the object store's internal account, as Glance's Swift
    #: store does).
    image_store: str = "file"
    #: Objects a project may store in the object store, and bytes (-1: unlimited).
    object_quota_count: int = -1
    object_quota_bytes: int = 1 << 40
    #: Temp-URL signatures the object store accepts (space-separated: sha1 sha256 sha512).
    object_tempurl_digests: str = "sha1 sha256 sha512"
    #: Seconds between passes of the object expirer (objects past X-Delete-At are
    #: hidden at once; this only frees their space).
    object_expirer_interval: float = 60.0
    #: Build and register the tiny guest images at start-up.
    build_test_image: bool = True
    #: Create the external `public` network (with the simulated upstream) and, for
    #: the admin project, a `private` network and `router1` at start-up.
    default_networks: bool = True
    #: The public network's range; its first address is the upstream's (the outside).
    public_cidr: str = "172.24.4.0/24"
    #: The MTU of the physical network under tenant networks: flat and VLAN networks
    #: get at most this, VXLAN networks this minus their 50 bytes of encapsulation.
    uplink_mtu: int = 1400
    #: Built artefacts kept between clouds (the test guest under CACHE_DIR/guest).
    #: Default: $XDG_CACHE_HOME/overcast, else ~/.cache/overcast.
    cache_dir: Path = field(default_factory=default_cache_dir)
    #: Run the storage component (the volumes' bytes, as files under
    #: DATA_DIR/volumes) inside `overcast up`, as this host's block storage backend.
    local_storage: bool = True
    #: Where the storage host's NBD server (qemu-storage-daemon) listens for compute
    #: hosts that reach its volumes over the network.
    volume_nbd_address: str = "127.0.0.1"
    volume_nbd_port: int = 10809
    log_level: str = "info"
    #: Seconds without a request after which a web console session ends (the user logs
    #: in again); the session cookie is re-issued on every request the user makes.
    dashboard_idle_timeout: int = 900

    # ----- derived paths -------------------------------------------------
    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'overcast.db'}"

    @property
    def guest_cache_dir(self) -> Path:
        """Where the image builder keeps the test guest's builds."""
        return self.cache_dir / "guest"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "fernet-keys"

    @property
    def credential_keys_dir(self) -> Path:
        """The Fernet keys that encrypt credential blobs at rest (not the token keys:
        Keystone keeps them apart so rotating one never touches the other)."""
        return self.data_dir / "credential-keys"

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

    @property
    def net_prefix(self) -> str:
        return self.dataplane_prefix or f"oc{self.cloud_id[:3]}"

    def with_overrides(self, **overrides: Any) -> Settings:
        clean = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **clean)


def _coerce(name: str, ftype: Any, value: Any) -> Any:
    t = str(ftype)
    try:
        if t in ("int", "<class 'int'>"):
            return int(value)
        if t in ("float", "<class 'float'>"):
            return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name!r} must be a number, not {value!r}") from None
    if t in ("bool", "<class 'bool'>"):
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes", "on")
    if t in ("Path", "<class 'pathlib.Path'>"):
        return Path(value).expanduser()
    return str(value)


def _unknown(key: str, names: list[str], where: str) -> SettingsError:
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"the settings are: {', '.join(names)}"
    return SettingsError(f"unknown setting {key!r} in {where}; {hint}")


def _read_yaml(path: Path, names: list[str]) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path} must be a mapping of setting: value, "
                            f"not {type(loaded).__name__}")
    for key in loaded:
        if str(key) not in names:
            raise _unknown(str(key), names, str(path))
    return {str(k): v for k, v in loaded.items()}


def load_settings(
    data_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults < overcast.yaml < OVERCAST_* env < overrides.

    `environ` stands for the process environment (tests pass their own, `{}` for
    none). A key in overcast.yaml or an override that is not a field of `Settings`
    raises `SettingsError`, naming it.
    """
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    names = sorted(fields)
    for name in overrides:
        if name not in fields:
            raise _unknown(name, names, "the overrides")
    if data_dir is None and env.get("OVERCAST_DATA_DIR"):
        data_dir = Path(env["OVERCAST_DATA_DIR"])
    base_dir = Path(data_dir).expanduser() if data_dir else _default_data_dir()
    cfg_file = base_dir / "overcast.yaml"
    if cfg_file.exists():
        for key, value in _read_yaml(cfg_file, names).items():
            values[key] = _coerce(key, fields[key].type, value)
    for name, f in fields.items():
        key = f"OVERCAST_{name.upper()}"
        if key in env and (env[key] or str(f.type) != "Path"):  # an empty path is unset
            values[name] = _coerce(name, f.type, env[key])
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, fields[name].type, value)
    # absolute: guests started from it (QEMU in its instance directory, a pid file
    # and console named on its command line) must be found again by an `overcast up`
    # started from another working directory
    values["data_dir"] = base_dir.absolute()
    values.setdefault("cache_dir", default_cache_dir(env))
    return Settings(**values)
