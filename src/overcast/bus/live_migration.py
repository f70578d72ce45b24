"""The messages of a live migration (Nova's os-migrateLive), between the control
plane, the source host's agent and the target host's agent.

The control plane decides and claims (compute/live_migration.py), then asks the
source (`LiveMigrateInstance`). The source's agent asks the target's agent to get
ready (`PrepareLiveMigration`, a call: the target builds the instance's files,
plugs its ports and starts its hypervisor waiting for the incoming state, and
answers with where to send it), moves the guest, and tells the target how it ended
(`FinishLiveMigration`, a call: the target lets the guest run, or removes what it
built). The source reports progress and the outcome to the conductor
(`LiveMigrationState`); the guest runs on exactly one host at every moment, and on
any failure it keeps running on the source.

An operator's `force_complete` and abort reach the source as
`LiveMigrationControl`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from overcast.bus.messages import Message


@dataclass
class LiveMigrateInstance(Message):
    """Control plane -> source agent: move the running instance to `dest` (legal in
    vm_states active and paused, task_state migrating). `instance` is its spec as the
    target must build it; `block_migration` copies its local disks (false: they are
    on shared storage, i.e. volumes). Reported as LiveMigrationState."""

    kind: ClassVar[str] = "live_migrate_instance"
    uuid: str = ""
    dest: str = ""
    migration_id: int = 0
    block_migration: bool = True
    instance: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""


@dataclass
class LiveMigrationTarget(Message):
    """Target agent -> source agent: ready (`ok`), with what the source's driver
    needs to reach it (`info`: driver specific, e.g. the addresses of the migration
    stream and the disk export), or why not (`error`)."""

    kind: ClassVar[str] = "live_migration_target"
    ok: bool = False
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class PrepareLiveMigration(Message):
    """Source agent -> target agent (call): get ready to receive `instance` from
    `source` (its files, ports and a hypervisor waiting for the incoming state).
    `source_info` is what the source's driver says about the instance (e.g. its disk
    format and size)."""

    kind: ClassVar[str] = "prepare_live_migration"
    reply_type: ClassVar[type[Message] | None] = LiveMigrationTarget
    instance: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    block_migration: bool = True
    source_info: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinishLiveMigration(Message):
    """Source agent -> target agent (call): the migration ended; `ok` true: the guest
    is now the target's (let it run); false: remove what the prepare built."""

    kind: ClassVar[str] = "finish_live_migration"
    reply_type: ClassVar[type[Message] | None] = LiveMigrationTarget
    uuid: str = ""
    ok: bool = False


@dataclass
class LiveMigrationControl(Message):
    """Control plane -> source agent: `force_complete` (pause the guest so the copy
    converges) or `abort` the live migration of `uuid` under way."""

    kind: ClassVar[str] = "live_migration_control"
    uuid: str = ""
    action: str = ""


@dataclass
class LiveMigrationState(Message):
    """Source agent -> control plane: how the live migration `migration_id` of
    `uuid` goes. `status`: preparing, running, completed, failed or cancelled;
    `progress` has Nova's counters (memory_total_bytes, memory_processed_bytes,
    memory_remaining_bytes, disk_total_bytes, disk_processed_bytes,
    disk_remaining_bytes) and, once completed, `downtime_ms` as the hypervisor
    measured it. `power_state` is the guest's where it runs after."""

    kind: ClassVar[str] = "live_migration_state"
    uuid: str = ""
    migration_id: int = 0
    source: str = ""
    dest: str = ""
    status: str = ""
    progress: dict[str, int] = field(default_factory=dict)
    power_state: int = 0
    error: str | None = None
    request_id: str = ""
