"""The virt driver contract: one driver per kind of instance (fake, qemu, container).

The fake driver's docstrings (virt/fake.py) spell out each method's contract;
every driver passes the same contract tests (tests/unit/test_driver_contract.py).
Drivers never touch the database or a service: they get plain specs.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from overcast.bus.messages import InstanceSpec

# Nova's power states (nova/compute/power_state.py values).
NOSTATE = 0
RUNNING = 1
PAUSED = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED = 7


class DriverError(Exception):
    """Base of driver failures."""


class RetryableError(DriverError):
    """Worth trying again (a busy host, a lost race, a timeout). The agent tries the
    action again a few times with growing waits (or after `delay` seconds when the
    driver knows better, as kopf's TemporaryError) before it gives up into ERROR."""

    def __init__(self, *args: object, delay: float | None = None) -> None:
        super().__init__(*args)
        self.delay = delay


class PermanentError(DriverError):
    """Will fail again the same way (bad image, missing binary, impossible request)."""


class InstanceNotFound(PermanentError):
    """The driver has no such instance."""


class PortPlugger(Protocol):
    """What a driver needs from the host's dataplane (agent/net/linux.py
    LinuxDataplane has exactly these): wire an instance's port into its network."""

    host_ns: str

    def plug_port(self, net_id: str, port: Any, mtu: int, *, kind: str = "veth",
                  netns: str | None = None, ifname: str = "eth0") -> str: ...

    def unplug_port(self, port_id: str, kind: str = "veth") -> None: ...


@dataclass
class DriverEnv:
    """What the agent gives a real driver.

    `state_dir` is the driver's own directory (instances, caches, logs) and survives
    agent restarts. `image_path(image_id)` returns a local, read-only file holding the
    image's bytes (fetched and cached by the agent). `plugger` is the dataplane, or
    None when the host runs without one (then instances get no network devices).
    The config drive's documents come in the spec (InstanceSpec.documents).
    `migration_address` is where other hosts reach this one's live migrations.
    """

    state_dir: Path
    image_path: Callable[[str], Awaitable[Path]]
    plugger: PortPlugger | None = None
    #: the host's address for live migration streams and disk exports (127.0.0.1
    #: for hosts on one machine; the management address where hosts are apart)
    migration_address: str = "127.0.0.1"


@dataclass
class MigrationRequests:
    """What an operator asked of a live migration under way, read by the source's
    driver while it copies: `force_complete` (pause the guest so the copy ends) and
    `abort` (stop, the guest keeps running here)."""

    force_complete: bool = False
    abort: bool = False


class MigrationAborted(DriverError):
    """A live migration stopped because it was asked to (the guest stays where it
    was)."""


#: reports a live migration's progress (Nova's counters, see LiveMigrationState)
ProgressFn = Callable[[dict[str, int]], Awaitable[None]]


class Driver(abc.ABC):
    name: str = "abstract"
    #: actions the host can do; the API refuses what the host's driver cannot
    capabilities: frozenset[str] = frozenset()

    @abc.abstractmethod
    async def spawn(self, instance: InstanceSpec) -> None: ...

    async def cache_image(self, image_id: str) -> None:
        """Have the image in the host's image cache before any spawn needs it (Nova's
        image pre-caching). A driver that keeps no image cache says so, as Nova's
        drivers without `cache_image` do."""
        raise NotImplementedError(f"the {self.name} driver keeps no image cache")

    @abc.abstractmethod
    async def destroy(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def power_off(self, uuid: str, timeout: float = 60) -> None: ...

    @abc.abstractmethod
    async def power_on(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def reboot(self, uuid: str, hard: bool) -> None: ...

    @abc.abstractmethod
    async def pause(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def unpause(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def suspend(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def resume(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def get_info(self, uuid: str) -> int: ...

    @abc.abstractmethod
    async def list_instances(self) -> list[str]: ...

    @abc.abstractmethod
    async def console_output(self, uuid: str, tail: int | None = None) -> str: ...

    @abc.abstractmethod
    def host_resources(self) -> dict[str, Any]: ...

    async def resize(self, instance: InstanceSpec) -> None:
        """Give the instance the flavor in `instance` (vCPUs, memory, a root disk grown,
        never shrunk), keeping its disk: stopped and started again, RUNNING after. An
        instance this host does not have (a resize from another host) is spawned.
        This default rebuilds it, which suits drivers whose instances hold no data."""
        try:
            await self.destroy(instance.uuid)
        except InstanceNotFound:
            pass
        await self.spawn(instance)

    async def attach_volume(self, uuid: str, connection_info: dict[str, Any],
                            device: str) -> str:
        """Attach the volume `connection_info` describes (VOLUME_CONTRACT.md: a local
        file or an NBD export) to the instance, live when it runs, and keep it
        attached across stops, reboots and agent restarts; return the device name
        the guest sees (a hint: the disk's serial is the volume id's first 20
        characters). `device` is the caller's wish, which drivers may not honour.
        Attaching an attached volume again is no error. This default refuses."""
        raise PermanentError(f"the {self.name} driver cannot attach volumes")

    async def detach_volume(self, uuid: str, volume_id: str, timeout: float = 30) -> None:
        """Detach the volume, waiting up to `timeout` seconds for a running guest to
        release it (RetryableError when it does not). Detaching a volume that is not
        attached is no error. This default refuses."""
        raise PermanentError(f"the {self.name} driver cannot detach volumes")

    async def extend_volume(self, uuid: str, volume_id: str, size_bytes: int) -> None:
        """An attached volume grew (its bytes already did, on the storage host): make
        the running guest see `size_bytes` (a stopped one sees it at its next start).
        A volume that is not attached is no error. This default refuses."""
        raise PermanentError(f"the {self.name} driver cannot extend attached volumes")

    async def attach_interface(self, uuid: str, port: dict[str, Any]) -> None:
        """Plug one more port (as InstanceSpec.ports has them) into the instance, live
        when it runs, kept across stops and agent restarts. Drivers that can declare
        "interface_attach" in `capabilities`. This default refuses."""
        raise PermanentError(f"the {self.name} driver cannot attach interfaces")

    async def detach_interface(self, uuid: str, port_id: str) -> None:
        """Unplug the port; one that is not plugged is no error."""
        raise PermanentError(f"the {self.name} driver cannot detach interfaces")

    async def rescue(self, uuid: str, image_ref: str) -> None:
        """Boot the instance from the rescue image `image_ref` (its own image when the
        caller named none), its own disk attached as a second disk; RUNNING after.
        Drivers that can declare "rescue" in `capabilities` (the API refuses the
        action otherwise). This default refuses."""
        raise PermanentError(f"the {self.name} driver cannot rescue instances")

    async def unrescue(self, uuid: str) -> None:
        """Boot the instance from its own disk again after a rescue; RUNNING after."""
        raise PermanentError(f"the {self.name} driver cannot rescue instances")

    async def set_admin_password(self, uuid: str, password: str) -> None:
        """Set the guest's administrator password (Nova's changePassword), through a
        guest agent. Drivers that can declare "set_admin_password" in `capabilities`.
        This default refuses."""
        raise PermanentError(f"the {self.name} driver cannot set admin passwords")

    async def snapshot(self, uuid: str, dest: Path) -> str:
        """Write the instance's root disk, as it is now, to the file `dest` and return
        its disk format (Glance's name: raw, qcow2, ...). The instance keeps running
        (or stays as it was). Drivers that cannot snapshot raise DriverError."""
        raise DriverError(f"{type(self).__name__} cannot snapshot instances")

    # -------------------------------------------------------- live migration
    # Drivers that can declare "live_migration" in `capabilities`; the agent runs the
    # steps in this order: source_info (source), prepare_live_migration (target),
    # live_migrate (source), finish_live_migration (target), and on success the
    # source's copy is destroyed.

    async def live_migration_source_info(self, uuid: str) -> dict[str, Any]:
        """What the target must know of the instance here before it prepares (e.g.
        its root disk's size and format). This default knows nothing."""
        return {}

    async def prepare_live_migration(self, instance: InstanceSpec,
                                     source_info: dict[str, Any],
                                     block_migration: bool) -> dict[str, Any]:
        """Target side: build what the instance needs here (files, ports, a disk to
        receive its own when `block_migration`) and start it waiting for the incoming
        state; return what the source's driver needs to reach it. Nothing of the
        instance runs here as a guest until finish_live_migration(ok=True). This
        default refuses."""
        raise PermanentError(f"the {self.name} driver cannot live-migrate instances")

    async def live_migrate(self, uuid: str, target: dict[str, Any], block_migration: bool,
                           progress: ProgressFn, requests: MigrationRequests
                           ) -> dict[str, int]:
        """Source side: send the running instance's state (and its disks, with
        `block_migration`) to the target prepared with `target`; return once the
        guest runs there, with the final counters and `downtime_ms`. The copy here is
        left stopped (the agent destroys it). On any failure, or MigrationAborted
        when `requests.abort` is set, the guest keeps running here. This default
        refuses."""
        raise PermanentError(f"the {self.name} driver cannot live-migrate instances")

    async def finish_live_migration(self, uuid: str, ok: bool) -> None:
        """Target side: the migration ended. `ok`: the guest is this host's now
        (running); else remove everything the prepare built. This default refuses."""
        raise PermanentError(f"the {self.name} driver cannot live-migrate instances")

    # ------------------------------------------------ cold migration's disk
    async def export_disk(self, uuid: str) -> dict[str, Any]:
        """Source side of a cold migration: power the instance off (if it runs) and
        serve its disk for one reader over the network; return where (driver
        specific). This default has no disk to give (its instances hold no data)."""
        return {}

    async def import_disk(self, instance: InstanceSpec, source: dict[str, Any]) -> None:
        """Target side: pull the disk `source` (export_disk's answer) so that the
        resize that follows builds the instance on it instead of a fresh one. This
        default takes nothing."""
        return None


def host_uptime() -> str:
    """The machine's uptime line, as `uptime` prints it (Nova's hypervisor uptime)."""
    try:
        seconds = float(Path("/proc/uptime").read_text().split()[0])
        loads = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return ""
    days, rem = divmod(int(seconds), 86400)
    hours, rem = divmod(rem, 3600)
    up = f"{days} days, {hours}:{rem // 60:02d}" if days else f"{hours}:{rem // 60:02d}"
    return (f" {time.strftime('%H:%M:%S')} up {up},  0 users,  load average: "
            f"{', '.join(loads)}")
