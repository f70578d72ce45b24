"""The fake driver: instances live in memory. Its docstrings define the driver
contract that every real driver (qemu, container) must honour too.

It has a configurable spawn latency and failure injection (an image or
instance name containing `fail`, or metadata `fake_fail=1`, makes spawn fail
permanently), and one process can host many simulated hosts, so scale tests
and benchmarks run without QEMU.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from overcast.agent.virt import base
from overcast.agent.virt.base import (
    Driver,
    DriverError,
    InstanceNotFound,
    MigrationAborted,
    MigrationRequests,
    PermanentError,
    ProgressFn,
)
from overcast.bus.messages import InstanceSpec


@dataclass
class FakeInstance:
    spec: InstanceSpec
    power_state: int = base.RUNNING
    console: list[str] = field(default_factory=list)
    #: attached volumes: volume id -> the device name given
    volumes: dict[str, str] = field(default_factory=dict)
    #: the size in bytes the guest sees of each attached volume once it was extended
    volume_sizes: dict[str, int] = field(default_factory=dict)
    #: the rescue image it runs from while rescued ("" when not rescued)
    rescue_image: str = ""
    #: the administrator password last set in the guest
    admin_password: str | None = None


class FakeDriver(Driver):
    name = "fake"
    capabilities = frozenset({"pause", "suspend", "reboot", "rebuild", "resize",
                              "console_output", "snapshot", "volume_attach", "rescue",
                              "rescue_bfv",
                              "set_admin_password", "interface_attach",
                              "live_migration"})

    def __init__(self, host: str = "fake-host", *, vcpus: int = 32, memory_mb: int = 131072,
                 disk_gb: int = 2048, spawn_latency: float = 0.0,
                 state_path: Path | None = None) -> None:
        self.host = host
        self.vcpus, self.memory_mb, self.disk_gb = vcpus, memory_mb, disk_gb
        self.spawn_latency = spawn_latency
        self.instances: dict[str, FakeInstance] = {}
        #: instances being received by a live migration (not running here yet)
        self.incoming: dict[str, FakeInstance] = {}
        #: the images asked to be cached here (the fake boots no image bytes, so its
        #: "cache" is the ids)
        self.cached_images: set[str] = set()
        # With a state file the fake "hypervisor" outlives the agent, as real
        # guests outlive a restarted agent; the agent then re-adopts them.
        self.state_path = state_path
        if state_path is not None and state_path.exists():
            for uuid, item in json.loads(state_path.read_text()).items():
                self.instances[uuid] = FakeInstance(spec=InstanceSpec(**item["spec"]),
                                                    power_state=item["power_state"],
                                                    console=item["console"],
                                                    volumes=item.get("volumes", {}))

    def _save(self) -> None:
        if self.state_path is None:
            return
        data = {u: {"spec": asdict(i.spec), "power_state": i.power_state,
                    "console": i.console[-50:], "volumes": i.volumes}
                for u, i in self.instances.items()}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.state_path)

    def _get(self, uuid: str) -> FakeInstance:
        inst = self.instances.get(uuid)
        if inst is None:
            raise InstanceNotFound(f"instance {uuid} is not on host {self.host}")
        return inst

    async def cache_image(self, image_id: str) -> None:
        self.cached_images.add(image_id)

    async def spawn(self, instance: InstanceSpec) -> None:
        """Create and start the instance; return when it is RUNNING.

        Idempotent: spawning an instance that already runs changes nothing.
        Raises PermanentError when the instance can never be built here.
        """
        if instance.uuid in self.instances:
            return
        if self.spawn_latency:
            await asyncio.sleep(self.spawn_latency)
        if "fail" in instance.name or instance.metadata.get("fake_fail") or \
                "fail" in str(instance.image.get("name", "")):
            raise PermanentError(f"fake spawn failure injected for {instance.name}")
        self.instances[instance.uuid] = FakeInstance(spec=instance, console=_boot_log(
            instance), volumes={
                str(b["volume_id"]): str(b.get("device") or _disk_name(i + 1))
                for i, b in enumerate(instance.block_devices)})
        self._save()

    async def destroy(self, uuid: str) -> None:
        """Remove the instance and everything it used on the host. Idempotent:
        destroying an unknown instance is not an error."""
        self.instances.pop(uuid, None)
        self._save()

    async def power_off(self, uuid: str, timeout: float = 60) -> None:
        """Stop the guest (graceful first, hard after `timeout`); state SHUTDOWN."""
        self._get(uuid).power_state = base.SHUTDOWN
        self._save()

    async def power_on(self, uuid: str) -> None:
        """Start a stopped guest; state RUNNING."""
        inst = self._get(uuid)
        inst.console += _boot_log(inst.spec)
        inst.power_state = base.RUNNING
        self._save()

    async def reboot(self, uuid: str, hard: bool) -> None:
        """Restart the guest (hard: reset without asking it); ends RUNNING."""
        inst = self._get(uuid)
        inst.console.append(f"reboot ({'hard' if hard else 'soft'})")
        inst.console += _boot_log(inst.spec)
        inst.power_state = base.RUNNING
        self._save()

    async def pause(self, uuid: str) -> None:
        """Freeze the guest in memory; state PAUSED."""
        self._get(uuid).power_state = base.PAUSED
        self._save()

    async def unpause(self, uuid: str) -> None:
        self._get(uuid).power_state = base.RUNNING
        self._save()

    async def suspend(self, uuid: str) -> None:
        """Save the guest's state to disk and stop it; state SUSPENDED."""
        self._get(uuid).power_state = base.SUSPENDED
        self._save()

    async def resume(self, uuid: str) -> None:
        self._get(uuid).power_state = base.RUNNING
        self._save()

    async def attach_interface(self, uuid: str, port: dict[str, Any]) -> None:
        """Plug one more port (here: added to the spec's ports, and said on the
        console); attaching a plugged port again changes nothing."""
        inst = self._get(uuid)
        if all(p.get("id") != port.get("id") for p in inst.spec.ports):
            inst.spec.ports = [*inst.spec.ports, port]
            inst.console.append(f"virtio_net: new device with MAC {port.get('mac_address')}")
            self._save()

    async def detach_interface(self, uuid: str, port_id: str) -> None:
        inst = self._get(uuid)
        inst.spec.ports = [p for p in inst.spec.ports if p.get("id") != port_id]
        self._save()

    async def rescue(self, uuid: str, image_ref: str) -> None:
        """Boot the instance from the rescue image `image_ref`, its own disk attached as
        a second disk; RUNNING after. (Here: remembered, and said on the console.)"""
        inst = self._get(uuid)
        inst.rescue_image = image_ref or inst.spec.image_ref
        inst.console.append(f"rescue: booting {inst.rescue_image}, own disk on /dev/vdb")
        inst.console += _boot_log(inst.spec)
        inst.power_state = base.RUNNING
        self._save()

    async def unrescue(self, uuid: str) -> None:
        """Boot from its own disk again; RUNNING after."""
        inst = self._get(uuid)
        inst.rescue_image = ""
        inst.console += _boot_log(inst.spec)
        inst.power_state = base.RUNNING
        self._save()

    async def set_admin_password(self, uuid: str, password: str) -> None:
        """Set the guest's administrator password through its agent (here:
        remembered). PermanentError when the guest is not running."""
        inst = self._get(uuid)
        if inst.power_state != base.RUNNING:
            raise PermanentError(f"instance {uuid} is not running")
        inst.admin_password = password

    async def get_info(self, uuid: str) -> int:
        """The power state read back from the hypervisor, never assumed."""
        return self._get(uuid).power_state

    async def list_instances(self) -> list[str]:
        """The uuids of every instance that really exists on this host."""
        return sorted(self.instances)

    async def console_output(self, uuid: str, tail: int | None = None) -> str:
        """The serial console's text (its last `tail` lines when given), each line
        ending in a newline. It grows as a guest's does: a boot log at every start,
        and while the guest runs a line each time it is read (here: a heartbeat)."""
        inst = self._get(uuid)
        if inst.power_state == base.RUNNING:
            inst.console.append(f"overcast-guest: instance-id={uuid} is up "
                                f"({len(inst.console)} lines logged)")
            del inst.console[:-CONSOLE_KEEP]
        lines = inst.console
        return "\n".join(lines[-tail:] if tail else lines) + "\n"

    async def attach_volume(self, uuid: str, connection_info: dict[str, Any],
                            device: str) -> str:
        """Attach the volume `connection_info` describes (VOLUME_CONTRACT.md) to the
        instance, live when it runs, kept across stops, reboots and agent restarts;
        return the device name the guest sees (`device` is only a wish). Attaching
        an attached volume again returns its device. PermanentError for an
        unsupported connection_info or an instance that cannot take volumes now.
        (Here: remembered in memory, and in the state file when there is one.)"""
        inst = self._get(uuid)
        data = connection_info.get("data") if isinstance(connection_info, dict) else None
        if not isinstance(data, dict) or not data.get("volume_id") or \
                connection_info.get("driver_volume_type") not in ("file", "nbd"):
            raise PermanentError("connection_info must be a file or nbd volume with a "
                                 "volume_id")
        if inst.power_state == base.SUSPENDED:
            raise PermanentError(f"instance {uuid} is suspended")
        vid = str(data["volume_id"])
        if vid not in inst.volumes:  # the lowest free name, as a guest's kernel gives
            taken = set(inst.volumes.values())
            inst.volumes[vid] = next(_disk_name(i) for i in range(1, len(taken) + 2)
                                     if _disk_name(i) not in taken)
            self._save()
        return inst.volumes[vid]

    async def detach_volume(self, uuid: str, volume_id: str, timeout: float = 30) -> None:
        """Detach the volume, waiting up to `timeout` s for the guest to release it
        (RetryableError when it does not). Not attached: no error."""
        inst = self._get(uuid)
        if inst.volumes.pop(volume_id, None) is not None:
            self._save()

    async def extend_volume(self, uuid: str, volume_id: str, size_bytes: int) -> None:
        """The guest sees the attached volume's new size (here: remembered in
        `volume_sizes`). Not attached: no error."""
        inst = self._get(uuid)
        if volume_id in inst.volumes:
            inst.volume_sizes[volume_id] = size_bytes

    async def snapshot(self, uuid: str, dest: Path) -> str:
        """A fake disk: a raw image of 1 MiB that names the instance and its image, so a
        test can tell one snapshot from another."""
        inst = self._get(uuid)
        await asyncio.sleep(self.spawn_latency)
        head = (f"overcast fake disk of {uuid} from image {inst.spec.image_ref}\n"
                f"metadata {json.dumps(inst.spec.metadata, sort_keys=True)}\n").encode()
        dest.write_bytes(head + b"\0" * ((1 << 20) - len(head)))
        return "raw"

    # -------------------------------------------------------- live migration
    async def live_migration_source_info(self, uuid: str) -> dict[str, Any]:
        """The guest's console and power state (a real hypervisor carries them in
        the migrated state)."""
        inst = self._get(uuid)
        return {"console": inst.console[-CONSOLE_KEEP:], "power_state": inst.power_state}

    async def prepare_live_migration(self, instance: InstanceSpec,
                                     source_info: dict[str, Any],
                                     block_migration: bool) -> dict[str, Any]:
        """Ready to receive: an instance kept aside (not listed) until finished."""
        if instance.uuid in self.instances:
            raise PermanentError(f"instance {instance.uuid} already runs on {self.host}")
        self.incoming[instance.uuid] = FakeInstance(
            spec=instance, power_state=int(source_info.get("power_state") or base.RUNNING),
            console=list(source_info.get("console") or []),
            volumes={str(b["volume_id"]): str(b.get("device") or _disk_name(i + 1))
                     for i, b in enumerate(instance.block_devices)})
        return {"host": self.host}

    async def live_migrate(self, uuid: str, target: dict[str, Any], block_migration: bool,
                           progress: ProgressFn, requests: MigrationRequests
                           ) -> dict[str, int]:
        """Copies for metadata `fake_migration_seconds` (0 by default), reporting
        progress every 0.1 s; metadata `fake_migration_fail=1` makes it fail. A
        forced completion pauses the guest and ends the copy at once."""
        inst = self._get(uuid)
        meta = inst.spec.metadata
        total = int(inst.spec.memory_mb) << 20
        disk = (int(inst.spec.root_gb) << 30) if block_migration else 0
        seconds = float(meta.get("fake_migration_seconds") or 0)
        steps = max(1, int(seconds / 0.1))
        counters: dict[str, int] = {}
        for i in range(steps + 1):
            if requests.abort:
                raise MigrationAborted(f"live migration of {uuid} aborted")
            done = i / steps
            counters = {"memory_total_bytes": total,
                        "memory_processed_bytes": int(total * done),
                        "memory_remaining_bytes": total - int(total * done),
                        "disk_total_bytes": disk, "disk_processed_bytes": int(disk * done),
                        "disk_remaining_bytes": disk - int(disk * done)}
            await progress(counters)
            if requests.force_complete or i == steps:
                break
            await asyncio.sleep(seconds / steps)
        if meta.get("fake_migration_fail"):
            raise DriverError(f"fake live migration failure injected for {uuid}")
        inst.console.append(f"[overcast] migrated to {target.get('host')}")
        inst.power_state = base.SHUTDOWN
        self._save()
        return {**counters, "memory_remaining_bytes": 0, "disk_remaining_bytes": 0,
                "memory_processed_bytes": total, "disk_processed_bytes": disk,
                "downtime_ms": 0}

    async def finish_live_migration(self, uuid: str, ok: bool) -> None:
        """Ok: the received instance runs here now; else it is dropped."""
        inst = self.incoming.pop(uuid, None)
        if ok and inst is not None:
            self.instances[uuid] = inst
            inst.console.append(f"[overcast] running on {self.host} after a live "
                                "migration")
            self._save()

    def host_resources(self) -> dict[str, Any]:
        """Inventory for Placement: VCPU, MEMORY_MB, DISK_GB totals of the host."""
        return {"VCPU": self.vcpus, "MEMORY_MB": self.memory_mb, "DISK_GB": self.disk_gb,
                "hypervisor_type": "fake", "cpu_info": "fake"}


#: the lines a fake console keeps (a real one is cut to its last bytes, too)
CONSOLE_KEEP = 500


def _boot_log(spec: InstanceSpec) -> list[str]:
    """What a small Linux guest prints on its serial console as it boots."""
    return [
        f"fake console of {spec.uuid}",
        "Linux version 6.1.0-overcast-fake (fake@overcast) #1 SMP",
        "Command line: console=ttyS0 root=/dev/vda rw",
        f"Memory: {spec.memory_mb * 1024}K available",
        f"smpboot: Allowing {spec.vcpus} CPUs",
        "virtio_blk virtio1: [vda] attached",
        "EXT4-fs (vda): mounted filesystem",
        "Run /sbin/init as init process",
        "overcast-guest: starting network",
        "overcast-guest: eth0 configured by DHCP",
        "overcast-guest: reading the config drive / metadata service",
        f"overcast-guest: instance-id={spec.uuid} hostname={spec.name}",
        "overcast-guest: authorized ssh keys installed",
        "overcast-guest: running user data",
        "overcast-guest: boot finished",
        f"{spec.name} login: ",
    ]


def _disk_name(index: int) -> str:
    return f"/dev/vd{chr(ord('a') + index)}" if index < 26 else f"/dev/vd{index}"
