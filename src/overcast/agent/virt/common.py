"""What the real drivers share: the instance directories with their typed records
(`BaseRecord`, saved as instance.json), the lock per instance, destroy with the
unplugging of ports, host commands whose failure is worth a retry, the image fetch,
state files, console tails, processes, the host's resources and the config drive's
documents.

A driver subclasses `InstanceFiles[ItsRecord]` and fills in the hooks `_halt`
(stop the instance's process for good) and `_release` (what it holds beyond its
files: cgroups, a netns, a mount); `destroy` is then the same everywhere.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

from overcast.agent.virt.base import (
    DriverEnv,
    DriverError,
    InstanceNotFound,
    PermanentError,
    RetryableError,
)
from overcast.bus.messages import InstanceSpec
from overcast.kit.runner import CommandError, Result, run

log = logging.getLogger("overcast.agent.virt")

#: the most of a console file read back (os-getConsoleOutput)
CONSOLE_MAX = 1 << 20


@dataclass
class BaseRecord:
    """What every driver keeps about an instance in its instance.json. A driver's
    record adds its own fields; the file is the record's fields as JSON keys (the
    format the untyped records of earlier versions wrote, so their instances are
    adopted as they are). A key this version does not know is kept in `extra` and
    written back; a missing or null one takes the field's default."""

    uuid: str
    name: str = ""
    hostname: str = ""
    vcpus: int = 0
    memory_mb: int = 0
    #: the ports as the spec gave them (id, network_id, mac_address, fixed_ips, mtu)
    ports: list[dict[str, Any]] = field(default_factory=list)
    suspended: bool = False
    created_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names and v is not None}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_json(self) -> dict[str, Any]:
        out = dict(self.extra)
        out.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if f.name != "extra"})
        return out


RecordT = TypeVar("RecordT", bound=BaseRecord)


class InstanceFiles(Generic[RecordT]):
    """A directory per instance under `instances_dir` holding its record
    (instance.json) and its console.log, and a lock per instance. A driver sets
    `host`, `env`, `instances_dir` and `_locks` in its constructor, and names its
    record type and the kind of device its ports get."""

    record_type: ClassVar[type[BaseRecord]]
    #: what plug_port makes for this driver's ports: tap (a VM) or veth (a container)
    port_kind: ClassVar[str]
    #: how long a host command may take before it counts as failed
    command_timeout: ClassVar[float] = 120
    host: str
    env: DriverEnv
    instances_dir: Path
    _locks: dict[str, asyncio.Lock]

    def _dir(self, uuid: str) -> Path:
        if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", uuid):
            raise InstanceNotFound(f"{uuid!r} is not an instance id")
        return self.instances_dir / uuid

    def _lock(self, uuid: str) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    def _new_record(self, uuid: str) -> RecordT:
        """The record of an instance that has none (yet): its defaults."""
        rec: RecordT = self.record_type(uuid=uuid)  # type: ignore[assignment]
        return rec

    def _load(self, uuid: str) -> RecordT:
        d = self._dir(uuid)
        try:
            data = json.loads((d / "instance.json").read_text())
        except FileNotFoundError:
            if d.is_dir():
                return self._new_record(uuid)  # a spawn that died before writing its record
            raise InstanceNotFound(f"instance {uuid} is not on host {self.host}")
        except ValueError:
            return self._new_record(uuid)
        if not isinstance(data, dict):
            return self._new_record(uuid)
        rec: RecordT = self.record_type.from_json({**data, "uuid": data.get("uuid") or uuid})  # type: ignore[assignment]
        return rec

    async def _record(self, uuid: str) -> RecordT:
        return await asyncio.to_thread(self._load, uuid)

    def _write_record(self, rec: RecordT) -> None:
        write_json(self._dir(rec.uuid) / "instance.json", rec.to_json())

    async def _save(self, rec: RecordT) -> None:
        await asyncio.to_thread(self._write_record, rec)

    def _uuids(self) -> list[str]:
        try:
            return sorted(p.name for p in self.instances_dir.iterdir()
                          if p.is_dir() and not p.name.startswith("."))
        except FileNotFoundError:
            return []

    async def console_output(self, uuid: str, tail: int | None = None) -> str:
        """The instance's console (a guest's serial port, a container's stdout and
        stderr) across its boots; the last `tail` lines when given."""
        d = self._dir(uuid)
        if not await asyncio.to_thread(d.is_dir):
            raise InstanceNotFound(f"instance {uuid} is not on host {self.host}")
        return await asyncio.to_thread(_tail_file, d / "console.log", tail)

    # ------------------------------------------------------------- host work
    async def _run(self, argv: list[str], *, check: bool = True,
                   timeout: float | None = None, netns: str | None = None,
                   cwd: Path | None = None) -> Result:
        """A host command in a thread; its failure is a RetryableError (the host was
        short of something, or raced another change)."""
        try:
            return await asyncio.to_thread(
                run, argv, check=check,
                timeout=self.command_timeout if timeout is None else timeout,
                netns=netns, cwd=str(cwd) if cwd else None)
        except CommandError as exc:
            raise RetryableError(str(exc)) from exc

    async def cache_image(self, image_id: str) -> None:
        """Fetch the image into the host's cache (where spawns take it from)."""
        await self._fetch(image_id)

    async def _fetch(self, image_id: str) -> Path:
        """The image's bytes in a local file (the agent fetches and caches them)."""
        try:
            return Path(await self.env.image_path(image_id))
        except DriverError:
            raise
        except Exception as exc:  # noqa: BLE001 - the image service's own errors
            raise PermanentError(f"image {image_id} cannot be fetched: {exc}") from exc

    # ----------------------------------------------------------------- ports
    async def _plug_port(self, rec: RecordT, port: dict[str, Any], *,
                         netns: str | None = None, ifname: str = "eth0") -> str:
        """One port of the instance wired into its network by the dataplane
        (plug_port is idempotent); its device's name."""
        plugger = self.env.plugger
        assert plugger is not None
        from overcast.agent.net.linux import PortSpec

        spec = PortSpec(id=port["id"], mac_address=port["mac_address"],
                        fixed_ips=list(port.get("fixed_ips") or []), hostname=rec.hostname)
        try:
            return await asyncio.to_thread(
                plugger.plug_port, port["network_id"], spec, int(port.get("mtu") or 1500),
                kind=self.port_kind, netns=netns, ifname=ifname)
        except CommandError as exc:
            raise RetryableError(f"port {port['id']} could not be plugged: {exc}")

    async def _unplug(self, rec: RecordT) -> None:
        """Every port of the instance taken out of the dataplane (a failure is logged:
        the dataplane's own cleanup removes what is left)."""
        plugger = self.env.plugger
        if plugger is None:
            return
        for port in rec.ports:
            try:
                await asyncio.to_thread(plugger.unplug_port, port["id"], self.port_kind)
            except CommandError as exc:
                log.warning("unplugging port %s of %s: %s", port["id"], rec.uuid, exc)

    # --------------------------------------------------------------- destroy
    async def destroy(self, uuid: str) -> None:
        """Stop the instance for good, unplug its ports, release what the driver holds
        for it (cgroups, a netns, mounts) and remove every file. Idempotent."""
        self._dir(uuid)
        async with self._lock(uuid):
            await self._destroy(uuid)

    async def _destroy(self, uuid: str) -> None:
        d = self._dir(uuid)
        try:
            rec = await self._record(uuid)
        except InstanceNotFound:
            rec = self._new_record(uuid)
        await self._halt(rec)
        await self._unplug(rec)
        await self._release(rec)
        await asyncio.to_thread(shutil.rmtree, d, True)

    async def _halt(self, rec: RecordT) -> None:
        """End the instance's process (or container) for good."""
        raise NotImplementedError

    async def _release(self, rec: RecordT) -> None:
        """Release what the driver holds for the instance beyond its directory (its
        process is gone, its ports unplugged)."""


def hostname_of(name: str) -> str:
    """A host name from an instance name (Nova's sanitize_hostname, roughly)."""
    host = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].rstrip("-")
    return host or "instance"


def write_json(path: Path, data: Any) -> None:
    """Write a state file whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def tail(path: Path, lines: int | None, limit: int = CONSOLE_MAX) -> str:
    """The end of a console file (at most `limit` bytes, the last `lines` lines),
    without carriage returns; "" when there is none."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read().decode(errors="replace").replace("\r", "")
    except FileNotFoundError:
        return ""
    if size > limit:
        data = data.split("\n", 1)[-1]  # drop the partial first line
    if lines:
        data = "\n".join(data.rstrip("\n").split("\n")[-lines:]) + "\n"
    return data


_tail_file = tail  # for InstanceFiles.console_output, whose parameter is `tail`


def trim_console(console: Path, keep: int) -> None:
    """Cut a console file longer than CONSOLE_MAX to its last `keep` bytes (a new boot
    of the instance is about to add to it)."""
    with contextlib.suppress(FileNotFoundError):
        if console.stat().st_size > CONSOLE_MAX:
            console.write_text(tail(console, None, keep))


def proc_start(pid: int) -> str | None:
    """The start time of a live (non-zombie) process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def host_resources(state_dir: Path, hypervisor_type: str, cpu_info: str) -> dict[str, Any]:
    """VCPU, MEMORY_MB (MemTotal) and DISK_GB (the state directory's file system)."""
    memory_mb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    return {"VCPU": os.cpu_count() or 1, "MEMORY_MB": memory_mb,
            "DISK_GB": shutil.disk_usage(state_dir).total >> 30,
            "hypervisor_type": hypervisor_type, "cpu_info": cpu_info}


# --------------------------------------------------------------- config drive
def config_documents(spec: InstanceSpec) -> dict[str, Any]:
    """The config drive's openstack/latest documents. The control plane renders them
    into the spec (the same documents its metadata service answers); a spec without
    them (a driver used on its own) gets them built from its fields. The user data is
    decoded: the API carries it in base64, the guest reads the bytes."""
    docs: dict[str, Any] = dict(spec.documents) if spec.documents else _from_spec(spec)
    docs["user_data"] = _user_data(spec.user_data)
    return docs


def _user_data(user_data: str | None) -> bytes | None:
    if not user_data:
        return None
    try:
        return base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        return user_data.encode()


def _from_spec(spec: InstanceSpec) -> dict[str, Any]:
    links, networks = [], []
    for i, port in enumerate(spec.ports):
        link = f"tap{str(port.get('id', ''))[:11]}"
        links.append({"id": link, "vif_id": port.get("id"), "type": "bridge",
                      "ethernet_mac_address": port.get("mac_address"),
                      "mtu": port.get("mtu")})
        networks.append({"id": f"network{i}", "type": "ipv4_dhcp", "link": link,
                         "network_id": port.get("network_id")})
    keys = {"key": spec.key_data} if spec.key_data else {}
    return {
        "meta_data.json": {
            "uuid": spec.uuid, "name": spec.name, "hostname": hostname_of(spec.name),
            "project_id": spec.project_id, "launch_index": 0, "availability_zone": "nova",
            "public_keys": keys,
            "keys": [{"name": k, "type": "ssh", "data": v} for k, v in keys.items()],
            "meta": dict(spec.metadata), "devices": []},
        "network_data.json": {"links": links, "networks": networks, "services": []},
        "vendor_data.json": {},
    }


def write_documents(where: Path, docs: dict[str, Any]) -> None:
    """openstack/latest/<name> for each document under `where` (JSON for the
    structured ones, the bytes of the user data as they are)."""
    latest = where / "openstack" / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    for name, body in docs.items():
        if body is None:
            continue
        if name.startswith("../content/") and isinstance(body, dict):
            # a personality file's content: openstack/content/NNNN, its bytes
            content = where / "openstack" / "content" / name.rsplit("/", 1)[1]
            content.parent.mkdir(exist_ok=True)
            content.write_bytes(base64.b64decode(body.get("base64") or ""))
            continue
        if isinstance(body, bytes):
            (latest / name).write_bytes(body)
        elif isinstance(body, str):
            (latest / name).write_text(body)
        else:
            (latest / name).write_text(json.dumps(body))

