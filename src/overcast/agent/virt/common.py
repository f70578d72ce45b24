"""What the real drivers share: the instance directories with their records, state
files, console tails, processes, the host's resources and the config drive's
documents."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from overcast.agent.virt.base import InstanceNotFound
from overcast.agent.virt.fake import host_uptime
from overcast.bus.messages import InstanceSpec

#: the most of a console file read back (os-getConsoleOutput)
CONSOLE_MAX = 1 << 20


class InstanceFiles:
    """A directory per instance under `instances_dir` holding its record
    (instance.json) and its console.log, and a lock per instance. A driver sets
    `host`, `instances_dir` and `_locks` in its constructor."""

    host: str
    instances_dir: Path
    _locks: dict[str, asyncio.Lock]

    def _dir(self, uuid: str) -> Path:
        if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", uuid):
            raise InstanceNotFound(f"{uuid!r} is not an instance id")
        return self.instances_dir / uuid

    def _lock(self, uuid: str) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    def _load(self, uuid: str) -> dict[str, Any]:
        d = self._dir(uuid)
        try:
            rec: dict[str, Any] = json.loads((d / "instance.json").read_text())
            return rec
        except FileNotFoundError:
            if d.is_dir():
                return {"uuid": uuid}  # a spawn that died before writing its record
            raise InstanceNotFound(f"instance {uuid} is not on host {self.host}")
        except ValueError:
            return {"uuid": uuid}

    async def _record(self, uuid: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._load, uuid)

    async def _save(self, rec: dict[str, Any]) -> None:
        await asyncio.to_thread(write_json, self._dir(rec["uuid"]) / "instance.json", rec)

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
            "hypervisor_type": hypervisor_type, "cpu_info": cpu_info,
            "uptime": host_uptime()}


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
        if isinstance(body, bytes):
            (latest / name).write_bytes(body)
        elif isinstance(body, str):
            (latest / name).write_text(body)
        else:
            (latest / name).write_text(json.dumps(body))

