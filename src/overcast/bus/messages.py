"""Typed, versioned messages crossing process boundaries.

Each message says which instance states it is legal in (`legal_vm_states`);
senders check before they send and receivers re-check, so an action in the
wrong state is refused with a clear reason instead of half-happening.
Messages serialise to plain JSON (`to_dict`/`from_dict`) so any transport can
carry them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

REGISTRY: dict[str, type[Message]] = {}


@dataclass
class Message:
    kind: ClassVar[str] = "message"
    version: ClassVar[int] = 1
    #: vm_states in which the action this message asks for is legal (empty: any).
    legal_vm_states: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        REGISTRY[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "body": dataclasses.asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Message:
        cls = REGISTRY[data["kind"]]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data["body"].items() if k in names})


@dataclass
class InstanceSpec:
    """Everything a driver needs to build an instance (no database rows)."""

    uuid: str
    name: str
    project_id: str
    vcpus: int
    memory_mb: int
    root_gb: int
    image_ref: str = ""
    image: dict[str, Any] = field(default_factory=dict)
    key_data: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)
    config_drive: bool = False
    #: the config drive's JSON documents (meta_data.json, network_data.json,
    #: vendor_data*.json) as the control plane's metadata service renders them
    documents: dict[str, Any] = field(default_factory=dict)


@dataclass
class SpawnInstance(Message):
    kind: ClassVar[str] = "spawn_instance"
    legal_vm_states: ClassVar[tuple[str, ...]] = ("building",)
    instance: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeleteInstance(Message):
    kind: ClassVar[str] = "delete_instance"
    uuid: str = ""


@dataclass
class PowerAction(Message):
    """stop, start, reboot_soft, reboot_hard, pause, unpause, suspend, resume."""

    kind: ClassVar[str] = "power_action"
    legal_vm_states: ClassVar[tuple[str, ...]] = ("active", "stopped", "paused", "suspended")
    uuid: str = ""
    action: str = ""
    request_id: str = ""


@dataclass
class RebuildInstance(Message):
    kind: ClassVar[str] = "rebuild_instance"
    legal_vm_states: ClassVar[tuple[str, ...]] = ("active", "stopped", "error")
    instance: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResizeInstance(Message):
    kind: ClassVar[str] = "resize_instance"
    legal_vm_states: ClassVar[tuple[str, ...]] = ("active", "stopped")
    instance: dict[str, Any] = field(default_factory=dict)


@dataclass
class CleanupInstance(Message):
    """Control plane -> agent: a copy of an instance this host no longer runs (the
    source or target of a resize): power it off (destroy False) or remove it. Reports
    nothing: the instance itself lives on another host."""

    kind: ClassVar[str] = "cleanup_instance"
    uuid: str = ""
    destroy: bool = True


@dataclass
class SnapshotInstance(Message):
    """Conductor/API -> agent: write the instance's disk out as image `image_id`."""

    kind: ClassVar[str] = "snapshot_instance"
    legal_vm_states: ClassVar[tuple[str, ...]] = ("active", "stopped", "paused", "suspended")
    uuid: str = ""
    image_id: str = ""
    request_id: str = ""


@dataclass
class SnapshotReady(Message):
    """Agent -> conductor: the snapshot's bytes are in `path` (on the agent's host),
    in `disk_format`; or `error` says why there are none."""

    kind: ClassVar[str] = "snapshot_ready"
    uuid: str = ""
    image_id: str = ""
    path: str = ""
    disk_format: str = ""
    error: str | None = None
    request_id: str = ""


@dataclass
class ConsoleOutput(Message):
    kind: ClassVar[str] = "console_output"
    uuid: str = ""
    length: int | None = None


@dataclass
class InstanceState(Message):
    """Agent -> control plane: what an instance really is now."""

    kind: ClassVar[str] = "instance_state"
    uuid: str = ""
    host: str = ""
    power_state: int = 0
    vm_state: str = ""
    task_state: str | None = None
    #: the action that finished (for the instance action event), if any
    event: str | None = None
    error: str | None = None
    request_id: str = ""


@dataclass
class HostHeartbeat(Message):
    kind: ClassVar[str] = "host_heartbeat"
    host: str = ""
    driver: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    instances: list[str] = field(default_factory=list)


@dataclass
class ScheduleInstances(Message):
    """API -> conductor: place and build these instances."""

    kind: ClassVar[str] = "schedule_instances"
    uuids: list[str] = field(default_factory=list)
    request_id: str = ""


@dataclass
class DesiredState(Message):
    """Agent -> conductor (call): which instances should exist on this host."""

    kind: ClassVar[str] = "desired_state"
    host: str = ""


@dataclass
class NetworkDesired(Message):
    """Agent -> network service (call): what this host's dataplane should hold.
    `network_host` hosts also run DHCP, routers and the simulated upstream."""

    kind: ClassVar[str] = "network_desired"
    host: str = ""
    network_host: bool = False
    #: other agents' hosts on the same machine, sharing this dataplane
    also: list[str] = field(default_factory=list)
    #: this host's VXLAN tunnel endpoint ("" for a single-host cloud: no tunnels)
    tunnel_ip: str = ""


@dataclass
class Resync(Message):
    """Control plane -> agent: something this host serves changed; converge now."""

    kind: ClassVar[str] = "resync"
    scope: str = "network"


@dataclass
class MetadataRequest(Message):
    """Agent's metadata proxy -> control plane (call): an instance asked the metadata
    service for `path`. The instance is named only by where the request came from: the
    network whose namespace took it and the source address (anti-spoofing makes that
    trustworthy), never by anything the guest sends. The answer is
    {"status": int, "content_type": str, "body": str}."""

    kind: ClassVar[str] = "metadata_request"
    network_id: str = ""
    address: str = ""
    path: str = ""
