"""Typed, versioned messages crossing process boundaries: requests and their replies.

Every message is a dataclass that serialises to plain JSON (`to_dict`/`from_dict`:
its kind, its version and its fields), so any transport can carry it. A request
that expects an answer names its reply's type (`reply_type`); the bus serialises a
handler's typed reply exactly like a request and checks, where the reply is
received, that it is of that type (`UnexpectedReply` otherwise; a plain reply of
the shape an earlier, untyped version sent is converted, so a peer not yet
upgraded still answers). A message whose
version is newer than this side's is refused (`UnsupportedVersion`): fields added
in a newer version of the same kind would otherwise be dropped without a word.

Which vm_states an action is legal in is decided once, by the control plane before
it sends (compute/states.py: a 409 with Nova's wording); the agent does what the
instance's real state allows, and its driver refuses the rest with a
PermanentError that is reported back as the action's fault.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

REGISTRY: dict[str, type[Message]] = {}


class MessageError(ValueError):
    """A message or reply this side cannot take."""


class UnknownMessage(MessageError):
    """No message of this kind exists on this side."""


class UnsupportedVersion(MessageError):
    """The message was written by a newer version than this side knows."""


class UnexpectedReply(MessageError):
    """A call's reply is not of the type its request names."""


@dataclass
class Message:
    kind: ClassVar[str] = "message"
    version: ClassVar[int] = 1
    #: the type of the reply a `call` of this message gets (None: the handler's
    #: return value as it is, plain JSON)
    reply_type: ClassVar[type[Message] | None] = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        REGISTRY[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "body": dataclasses.asdict(self)}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Self:
        """The message from its fields (fields this side does not know are dropped:
        an older sender's message lacks the newer ones, which keep their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in names})

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Message:
        kind = data.get("kind")
        cls = REGISTRY.get(str(kind))
        if cls is None:
            raise UnknownMessage(f"unknown message kind {kind!r}")
        version = data.get("version", 1)
        if not isinstance(version, int) or version > cls.version:
            raise UnsupportedVersion(
                f"{kind} message version {version!r} is newer than this side knows "
                f"({cls.version}): upgrade this side")
        return cls.from_body(dict(data.get("body") or {}))

    @classmethod
    def from_plain(cls, value: Any) -> Self | None:
        """This reply from the plain JSON value a peer of an earlier version answers
        with (replies were untyped before); None when `value` is not that."""
        return None

    @classmethod
    def check_reply(cls, reply: Any) -> Any:
        """`reply` when it is what a call of this message should get (a plain reply
        of an earlier version converted), else UnexpectedReply."""
        want = cls.reply_type
        if want is None or isinstance(reply, want):
            return reply
        converted = None
        if not isinstance(reply, Message):
            try:
                converted = want.from_plain(reply)
            except (TypeError, ValueError, KeyError, AttributeError):
                converted = None
        if converted is None:
            got = reply.kind if isinstance(reply, Message) else type(reply).__name__
            raise UnexpectedReply(f"a {cls.kind} call expects a {want.kind} reply, "
                                  f"not {got}")
        return converted


def encode_reply(value: Any) -> dict[str, Any]:
    """A handler's return value on the wire: a typed reply as a message, anything
    else as the plain JSON value it is."""
    if isinstance(value, Message):
        return {"message": value.to_dict()}
    return {"result": value}


def decode_reply(request: Message, data: dict[str, Any]) -> Any:
    """The reply to `request` from its wire form, checked against the request's
    reply type."""
    value = Message.from_dict(data["message"]) if "message" in data else data.get("result")
    return type(request).check_reply(value)


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
    #: volumes the instance starts with (VOLUME_CONTRACT.md): each {"volume_id",
    #: "device", "boot_index", "connection_info"}; boot_index 0 is its root disk
    block_devices: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SpawnInstance(Message):
    kind: ClassVar[str] = "spawn_instance"
    instance: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeleteInstance(Message):
    kind: ClassVar[str] = "delete_instance"
    uuid: str = ""


@dataclass
class PowerAction(Message):
    """stop, start, reboot_soft, reboot_hard, pause, unpause, suspend, resume,
    soft_delete, restore, unshelve, rescue (from `image_ref`), unrescue."""

    kind: ClassVar[str] = "power_action"
    uuid: str = ""
    action: str = ""
    request_id: str = ""
    image_ref: str = ""


@dataclass
class InterfaceReply(Message):
    """Agent -> caller of AttachInterface/DetachInterface: done, or why not."""

    kind: ClassVar[str] = "interface_reply"
    ok: bool = False
    error: str | None = None


@dataclass
class AttachInterface(Message):
    """Control plane -> agent (call): plug one more port (`port`, as InstanceSpec.ports
    has them) into a running or stopped instance."""

    kind: ClassVar[str] = "attach_interface"
    reply_type: ClassVar[type[Message] | None] = InterfaceReply
    uuid: str = ""
    port: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetachInterface(Message):
    """Control plane -> agent (call): unplug one port of an instance."""

    kind: ClassVar[str] = "detach_interface"
    reply_type: ClassVar[type[Message] | None] = InterfaceReply
    uuid: str = ""
    port_id: str = ""


@dataclass
class SetAdminPasswordReply(Message):
    """Agent -> caller of SetAdminPassword: whether the guest took it, why not."""

    kind: ClassVar[str] = "set_admin_password_reply"
    ok: bool = False
    error: str | None = None


@dataclass
class SetAdminPassword(Message):
    """Control plane -> agent (call): set a running guest's administrator password."""

    kind: ClassVar[str] = "set_admin_password"
    reply_type: ClassVar[type[Message] | None] = SetAdminPasswordReply
    uuid: str = ""
    password: str = ""


@dataclass
class RebuildInstance(Message):
    """Control plane -> agent: build the instance again from its (new) image.
    `power_on` False: it was stopped, and stays stopped after (as Nova's rebuild)."""

    kind: ClassVar[str] = "rebuild_instance"
    instance: dict[str, Any] = field(default_factory=dict)
    power_on: bool = True


@dataclass
class ResizeInstance(Message):
    """Control plane -> agent: give the instance its new flavor (or its old one back,
    on a revert). `power_on` False: it was stopped, and stays stopped after (Nova's
    finish_resize of a stopped instance)."""

    kind: ClassVar[str] = "resize_instance"
    instance: dict[str, Any] = field(default_factory=dict)
    power_on: bool = True
    #: the host the instance comes from when it moves (its disk is pulled from
    #: there, bus/disk_transfer.py); empty for a resize in place or a revert
    source_host: str = ""


@dataclass
class ShelveInstance(Message):
    """Control plane -> agent: shelve the instance (legal in vm_states active, stopped,
    paused, suspended; and shelved, to offload it): stop it, write its disk out as
    image `image_id` when there is one (a SnapshotReady follows, before the state), and
    with `offload` remove it from the host. Reported as InstanceState event "shelve",
    vm_state shelved or shelved_offloaded."""

    kind: ClassVar[str] = "shelve_instance"
    uuid: str = ""
    image_id: str = ""
    offload: bool = True
    request_id: str = ""


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
    uuid: str = ""
    image_id: str = ""
    request_id: str = ""
    #: a backup (createBackup): how many backups of its type to keep; -1: a snapshot
    rotation: int = -1


@dataclass
class SnapshotReady(Message):
    """Agent -> conductor: the snapshot's bytes are in `path` (on the agent's host,
    which is the control plane's in the all-in-one cloud), in `disk_format`; or the
    agent uploaded them to the image API itself (`uploaded`: a remote host); or
    `error` says why there are none."""

    kind: ClassVar[str] = "snapshot_ready"
    uuid: str = ""
    image_id: str = ""
    path: str = ""
    uploaded: bool = False
    disk_format: str = ""
    error: str | None = None
    request_id: str = ""
    #: as the SnapshotInstance said (-1: not a backup)
    rotation: int = -1


@dataclass
class ConsoleOutputReply(Message):
    """Agent -> caller of ConsoleOutput: the console's text (its last `length`
    lines when asked)."""

    kind: ClassVar[str] = "console_output_reply"
    output: str = ""

    @classmethod
    def from_plain(cls, value: Any) -> ConsoleOutputReply | None:
        return cls(output=value) if isinstance(value, str) else None


@dataclass
class ConsoleOutput(Message):
    """Control plane -> agent (call): an instance's console output."""

    kind: ClassVar[str] = "console_output"
    reply_type: ClassVar[type[Message] | None] = ConsoleOutputReply
    uuid: str = ""
    length: int | None = None


@dataclass
class HostUptimeReply(Message):
    """Agent -> caller of HostUptime: the host's `uptime` line."""

    kind: ClassVar[str] = "host_uptime_reply"
    uptime: str = ""


@dataclass
class HostUptime(Message):
    """Control plane -> agent (call): the host's uptime, asked when a user asks for it
    (Nova's get_host_uptime): it changes every second, so heartbeats do not carry it
    (a heartbeat that always differed would rewrite the host's row and inventory)."""

    kind: ClassVar[str] = "host_uptime"
    reply_type: ClassVar[type[Message] | None] = HostUptimeReply


@dataclass
class VolumeAttachReply(Message):
    """Agent -> caller of AttachVolume/DetachVolume: whether it was done, why not
    (`error`), and for an attach the device name the guest sees."""

    kind: ClassVar[str] = "volume_attach_reply"
    ok: bool = False
    error: str | None = None
    device: str | None = None


@dataclass
class AttachVolume(Message):
    """Control plane -> agent (call): attach a volume to an instance, live when it
    runs. `connection_info` is the volume service's, unchanged (VOLUME_CONTRACT.md);
    `device` the name asked for (a hint)."""

    kind: ClassVar[str] = "attach_volume"
    reply_type: ClassVar[type[Message] | None] = VolumeAttachReply
    uuid: str = ""
    volume_id: str = ""
    connection_info: dict[str, Any] = field(default_factory=dict)
    device: str = ""


@dataclass
class DetachVolume(Message):
    """Control plane -> agent (call): detach a volume from an instance (a running
    guest must release it)."""

    kind: ClassVar[str] = "detach_volume"
    reply_type: ClassVar[type[Message] | None] = VolumeAttachReply
    uuid: str = ""
    volume_id: str = ""


@dataclass
class CacheImages(Message):
    """Control plane -> agent (cast): fetch these images into the host's image cache
    ahead of any spawn (Nova's image pre-caching, `POST os-aggregates/{id}/images`)."""

    kind: ClassVar[str] = "cache_images"
    image_ids: list[str] = field(default_factory=list)


@dataclass
class ExtendAttachedVolume(Message):
    """Control plane -> agent (call): an attached volume grew to `size_bytes` (Nova's
    `volume-extended` event): the running guest is made to see the new size."""

    kind: ClassVar[str] = "extend_attached_volume"
    reply_type: ClassVar[type[Message] | None] = VolumeAttachReply
    uuid: str = ""
    volume_id: str = ""
    size_bytes: int = 0


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
    #: what the host's driver can do (Driver.capabilities): the API refuses the rest
    capabilities: list[str] = field(default_factory=list)


@dataclass
class ScheduleInstances(Message):
    """API -> conductor: place and build these instances."""

    kind: ClassVar[str] = "schedule_instances"
    uuids: list[str] = field(default_factory=list)
    request_id: str = ""


@dataclass
class EvacuateInstance(Message):
    """API -> conductor: rebuild an instance whose host is down on another host
    (Nova's evacuate). `host`: the host asked for (None: the scheduler picks);
    `force`: that host is taken as it is, without the scheduler's filters (before
    2.29, and `force` 2.29-2.67); `stop`: it ends stopped (2.95, or it was stopped)."""

    kind: ClassVar[str] = "evacuate_instance"
    uuid: str = ""
    host: str | None = None
    force: bool = False
    stop: bool = False
    request_id: str = ""


@dataclass
class EvacuatedReply(Message):
    """Conductor -> agent: the reply to Evacuated."""

    kind: ClassVar[str] = "evacuated_reply"
    uuids: list[str] = field(default_factory=list)


@dataclass
class Evacuated(Message):
    """Agent -> conductor (call), before the agent reports its host up: the instances
    evacuated away from this host (to be destroyed here: fencing)."""

    kind: ClassVar[str] = "evacuated"
    reply_type: ClassVar[type[Message] | None] = EvacuatedReply
    host: str = ""


@dataclass
class Fenced(Message):
    """Agent -> conductor: these evacuated instances are gone from this host (their
    evacuations complete; what they held on it in Placement is given back)."""

    kind: ClassVar[str] = "fenced"
    host: str = ""
    uuids: list[str] = field(default_factory=list)


@dataclass
class DesiredInstance:
    """One instance a host should hold, as the control plane sees it: its vm_state
    (`deleting` while a delete runs; `resize_source` for the copy a resize left on
    its old host, which has no spec), the power state last reported and, except for
    a resize source, everything its driver needs to build it."""

    uuid: str
    vm_state: str
    power_state: int | None = None
    instance: InstanceSpec | None = None

    def __post_init__(self) -> None:
        if isinstance(self.instance, dict):
            self.instance = InstanceSpec(**self.instance)


@dataclass
class DesiredInstancesReply(Message):
    """Conductor -> agent: the reply to DesiredState."""

    kind: ClassVar[str] = "desired_instances_reply"
    instances: list[DesiredInstance] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.instances = [d if isinstance(d, DesiredInstance) else DesiredInstance(**d)
                          for d in self.instances]

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> DesiredInstancesReply:
        """The reply from the conductor's rows (DesiredInstance's fields as dicts)."""
        return cls(instances=[DesiredInstance(**r) for r in rows])

    @classmethod
    def from_plain(cls, value: Any) -> DesiredInstancesReply | None:
        return cls.of(value) if isinstance(value, list) else None


@dataclass
class DesiredState(Message):
    """Agent -> conductor (call): which instances should exist on this host."""

    kind: ClassVar[str] = "desired_state"
    reply_type: ClassVar[type[Message] | None] = DesiredInstancesReply
    host: str = ""


@dataclass
class NetworkDesiredReply(Message):
    """Network service -> agent: what the host's dataplane should hold (the reply to
    NetworkDesired): its networks by id (mtu...), the VXLAN tunnels to other hosts,
    the DHCP servers, routers and simulated upstreams (network hosts only) and the
    ports with their security groups."""

    kind: ClassVar[str] = "network_desired_reply"
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    tunnels: list[dict[str, Any]] = field(default_factory=list)
    dhcp: list[dict[str, Any]] = field(default_factory=list)
    routers: list[dict[str, Any]] = field(default_factory=list)
    upstreams: list[dict[str, Any]] = field(default_factory=list)
    ports: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_plain(cls, value: Any) -> NetworkDesiredReply | None:
        return cls.from_body(value) if isinstance(value, dict) and "networks" in value \
            else None


@dataclass
class NetworkDesired(Message):
    """Agent -> network service (call): what this host's dataplane should hold.
    `network_host` hosts also run DHCP, routers and the simulated upstream."""

    kind: ClassVar[str] = "network_desired"
    reply_type: ClassVar[type[Message] | None] = NetworkDesiredReply
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
class MetadataReply(Message):
    """Control plane -> metadata proxy: the answer to a MetadataRequest, an HTTP
    status, its content type and body (base64: the body is bytes)."""

    kind: ClassVar[str] = "metadata_reply"
    status: int = 200
    content_type: str = "text/plain"
    body_b64: str = ""

    @classmethod
    def of(cls, status: int, content_type: str, body: bytes) -> MetadataReply:
        return cls(status=status, content_type=content_type,
                   body_b64=base64.b64encode(body).decode())

    @classmethod
    def from_plain(cls, value: Any) -> MetadataReply | None:
        return cls.from_body(value) if isinstance(value, dict) and "status" in value \
            else None

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)


@dataclass
class MetadataRequest(Message):
    """Agent's metadata proxy -> control plane (call): an instance asked the metadata
    service for `path`. The instance is named only by where the request came from: the
    network whose namespace took it and the source address (anti-spoofing makes that
    trustworthy), never by anything the guest sends. The answer is a MetadataReply."""

    kind: ClassVar[str] = "metadata_request"
    reply_type: ClassVar[type[Message] | None] = MetadataReply
    network_id: str = ""
    address: str = ""
    path: str = ""


# ------------------------------------------------------------------ block storage
# The volume service (control plane) and the storage component on each storage host
# (`agent/storage`, topic `storage.<host>`). The control plane never opens a volume's
# bytes: every byte-moving step is one of these calls, answered by a StorageReply.


@dataclass
class StorageReply(Message):
    """Storage component -> volume service: how one storage step ended. `data`
    carries the step's result (a volume's size in bytes, an export's
    connection_info, the path of an image file written for the image service)."""

    kind: ClassVar[str] = "storage_reply"
    ok: bool = True
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class CreateVolume(Message):
    """Make volume `volume_id` of `size_gb` GiB: blank, or from an image (the image
    service's file of `image_id`, in `image_format`), a snapshot or another volume."""

    kind: ClassVar[str] = "create_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    size_gb: int = 1
    image_id: str = ""
    image_format: str = ""
    snapshot_id: str = ""
    source_volid: str = ""
    #: copy the bytes from another storage host's NBD export (a migration)
    nbd_source: str = ""


@dataclass
class DeleteVolume(Message):
    """Remove a volume's bytes (and any export of it); done when it is already gone."""

    kind: ClassVar[str] = "delete_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""


@dataclass
class ExtendVolume(Message):
    """Grow a volume to `size_gb` GiB (also while attached: exports see the new size)."""

    kind: ClassVar[str] = "extend_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    size_gb: int = 1


@dataclass
class CreateSnapshot(Message):
    """A point-in-time copy of a volume (crash-consistent when it is in use)."""

    kind: ClassVar[str] = "create_snapshot"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    snapshot_id: str = ""
    volume_id: str = ""


@dataclass
class RevertVolume(Message):
    """Put a snapshot's bytes back into its volume (Cinder's revert, 3.40)."""

    kind: ClassVar[str] = "revert_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    snapshot_id: str = ""


@dataclass
class ManageVolume(Message):
    """Adopt a file already in the backend (`source_name`) as volume `volume_id`;
    the reply's data has its `size_bytes` (grown to whole GiB)."""

    kind: ClassVar[str] = "manage_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    source_name: str = ""


@dataclass
class ManageSnapshot(Message):
    """Adopt a disk already in the backend (`source_name`) as snapshot `snapshot_id`
    of a volume; the reply's data has its `size_bytes`."""

    kind: ClassVar[str] = "manage_snapshot"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    snapshot_id: str = ""
    source_name: str = ""


@dataclass
class UnmanageSnapshot(Message):
    """Keep a snapshot's bytes outside any record (renamed `unmanaged-snapshot-<id>`)."""

    kind: ClassVar[str] = "unmanage_snapshot"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    snapshot_id: str = ""


@dataclass
class UnmanageVolume(Message):
    """Give a volume's bytes back to the backend, outside any record (kept, renamed
    `unmanaged-<id>`, and manageable again)."""

    kind: ClassVar[str] = "unmanage_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""


@dataclass
class ListManageable(Message):
    """What the backend holds that no volume is: data {"volumes": [{"name", "size"}]}."""

    kind: ClassVar[str] = "list_manageable"
    reply_type: ClassVar[type[Message] | None] = StorageReply


@dataclass
class DeleteSnapshot(Message):
    kind: ClassVar[str] = "delete_snapshot"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    snapshot_id: str = ""


@dataclass
class ExportVolume(Message):
    """Make a volume reachable from the connector's host ({"host", "ip", and
    optionally "transport": "nbd"}); the reply's data is the connection_info of
    VOLUME_CONTRACT.md (`file` on the storage host itself, `nbd` elsewhere)."""

    kind: ClassVar[str] = "export_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    connector: dict[str, Any] = field(default_factory=dict)
    read_only: bool = False


@dataclass
class UnexportVolume(Message):
    """Withdraw a volume's NBD export (nothing to do for a local file)."""

    kind: ClassVar[str] = "unexport_volume"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""


@dataclass
class CopyVolumeToImage(Message):
    """Write a volume out as an image file in `disk_format`; the reply's data names
    its `path` on the storage host, for the image service to take."""

    kind: ClassVar[str] = "copy_volume_to_image"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    image_id: str = ""
    disk_format: str = "raw"


@dataclass
class ReadVolumeChunk(Message):
    """A backup's read (Cinder's backup driver on the storage host): `length` bytes
    of the volume from `offset`; the reply's data has them zlib-compressed in
    base64 (`data_b64`), their `sha256` and raw `length` (short at the end). An
    incremental backup names the sha256 its parent holds for the chunk
    (`unless_sha256`): when the bytes still have it, the reply says `unchanged`
    and carries no data."""

    kind: ClassVar[str] = "read_volume_chunk"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    offset: int = 0
    length: int = 0
    unless_sha256: str = ""
    #: read this snapshot of the volume instead (a backup of a snapshot)
    snapshot_id: str = ""


@dataclass
class WriteVolumeChunk(Message):
    """A restore's write: the bytes (zlib-compressed, base64) go to the volume at
    `offset`, once the storage host has checked their `sha256`."""

    kind: ClassVar[str] = "write_volume_chunk"
    reply_type: ClassVar[type[Message] | None] = StorageReply
    volume_id: str = ""
    offset: int = 0
    data_b64: str = ""
    sha256: str = ""


@dataclass
class StorageHeartbeat(Message):
    """Storage component -> volume service (cast, topic `volume`): this host's
    backend is up, with its capacity in GiB."""

    kind: ClassVar[str] = "storage_heartbeat"
    host: str = ""
    backend: str = ""
    availability_zone: str = "nova"
    total_gb: float = 0.0
    free_gb: float = 0.0


@dataclass
class StorageSyncReply(Message):
    """Volume service -> storage component: the volumes that must stay exported over
    NBD (every other export is withdrawn) and the leftovers of deleted records."""

    kind: ClassVar[str] = "storage_sync_reply"
    exports: list[str] = field(default_factory=list)
    delete_volumes: list[str] = field(default_factory=list)
    delete_snapshots: list[str] = field(default_factory=list)


@dataclass
class CleanupStorage(Message):
    """Volume service -> storage component (Cinder's workers cleanup, 3.24): run the
    start-up sync again, so records left in a transitional state by interrupted work
    are settled from what the host holds. Answered at once; the sync follows."""

    kind: ClassVar[str] = "cleanup_storage"
    reply_type: ClassVar[type[Message] | None] = StorageReply


@dataclass
class StorageSync(Message):
    """Storage component -> volume service (call, at start): what this host really
    holds (volume id -> bytes, snapshot ids, exported volume ids). The service
    settles every record stuck in a transitional state from it."""

    kind: ClassVar[str] = "storage_sync"
    reply_type: ClassVar[type[Message] | None] = StorageSyncReply
    host: str = ""
    volumes: dict[str, int] = field(default_factory=dict)
    snapshots: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)

