"""Volumes on QEMU guests: the block nodes and virtio-blk devices of attached
volumes, on the command line at start and hot-plugged over QMP while the guest runs.

A volume's connection_info (VOLUME_CONTRACT.md) is either a local file
(`driver_volume_type: file`, qcow2 or raw) or an NBD export (`nbd`, raw over the
export, reached by QEMU's own userspace NBD client: the host kernel has no nbd
module). Each volume is two block nodes (the protocol node: file or nbd; the
format node over it: qcow2 or raw) and one `virtio-blk-pci` device whose serial is
the first 20 characters of the volume id (as Nova/libvirt do), so the guest finds
it at /dev/disk/by-id/virtio-<serial> whatever name its kernel gives it.

A file volume (the compute host is its storage host) is opened with O_DIRECT where
its file system allows (`cache.direct`, QEMU's thread pool: Nova's cache=none), so
the guest's page cache is the only one; that measured 2-4 times the guest's reads
of the page-cache path (bench/volume_attach.py). An NBD volume's cache is the
storage host's daemon's business (agent/storage/nbd.py).

Attach on a running guest: `blockdev-add` of the format node (the protocol node
inline) and `device_add`; the guest sees the disk about a second later (ACPI PCI
hot-plug on `pc`'s root bus). Detach: `device_del`, then the device's disappearance
is waited for (the guest must release it: ACPI eject; the request is repeated
every 2 s, as a guest still booting misses it), then `blockdev-del`. A guest
that does not release it within the timeout gets a RetryableError naming the
volume; the unplug request stays pending in QEMU, and a later detach finishes it.
On a stopped guest both only change the record: the next start has the volume on
its command line (`-blockdev` JSON and `-device`), as do a hard reboot's restart,
a stop and start and a restart of the agent.

`pc` hot-plugs; `q35` would need PCIe root ports, which overcast does not add, and
`microvm` (virtio-mmio) cannot hot-plug at all: a running guest on those takes
volumes only at start (attach while it is stopped).

QEMU runs in the dataplane's network namespace when the instance has ports, where
127.0.0.1 is not the host's: an NBD server is then connected from the agent (in
the host's namespace) and the connected socket handed to QEMU (QMP `getfd`, the
nbd node's server `{"type": "fd"}`); such a guest is started paused (`-S`) and
its NBD volumes added before it runs (a root volume over NBD is the exception:
it is on the command line, so a guest booting from an NBD volume must have QEMU in
the host's namespace, i.e. no ports, or a storage host it can route to).

Each volume gets its own PCI slot (0x10 and up, kept in the record), the same when
hot-plugged and on a later command line: a suspended guest's saved devices then
match the QEMU that loads them.

The device names returned ("/dev/vdb"...) are the ones the guest's kernel gives
in probe order (the root disk, the config drive, then the volumes in attach
order): a hint, as Nova's are; the serial is what identifies the disk.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from overcast.agent.virt.base import PermanentError

#: a virtio-blk serial holds 20 bytes
SERIAL_LEN = 20
FORMATS = ("qcow2", "raw")


def serial(volume_id: str) -> str:
    return volume_id[:SERIAL_LEN]


def names(volume_id: str) -> tuple[str, str, str]:
    """(format node, protocol node, device id) of a volume: QEMU ids start with a
    letter and node names hold at most 31 characters."""
    tag = re.sub(r"[^0-9A-Za-z-]", "", volume_id)[:SERIAL_LEN]
    return f"vf-{tag}", f"vp-{tag}", f"vd-{tag}"


def check(connection_info: dict[str, Any]) -> dict[str, Any]:
    """The connection_info's data, checked (a PermanentError says what is wrong)."""
    if not isinstance(connection_info, dict):
        raise PermanentError("connection_info must be an object")
    kind = connection_info.get("driver_volume_type")
    data = connection_info.get("data")
    if not isinstance(data, dict) or not data.get("volume_id"):
        raise PermanentError("connection_info has no data.volume_id")
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z-]*", str(data["volume_id"])):
        raise PermanentError(f"{data['volume_id']!r} is not a volume id")
    fmt = str(data.get("format") or "raw")
    if fmt not in FORMATS:
        raise PermanentError(f"volume format {fmt!r} is not one of {', '.join(FORMATS)}")
    if kind == "file":
        path = data.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise PermanentError("a file volume's connection_info needs an absolute path")
    elif kind == "nbd":
        if fmt != "raw":
            raise PermanentError("an NBD export presents the guest's bytes: format raw")
        if not data.get("host") or not isinstance(data.get("port"), int | str) or \
                not data.get("export_name"):
            raise PermanentError("an nbd connection_info needs host, port and export_name")
    else:
        raise PermanentError(f"driver_volume_type {kind!r} is not supported by the QEMU "
                             "driver (file, nbd)")
    return data


def blockdev(connection_info: dict[str, Any], fd_name: str | None = None
             ) -> dict[str, Any]:
    """The format node (with its protocol node inline) for `blockdev-add` or a
    `-blockdev` argument; `fd_name` is a socket handed over with getfd (NBD from
    a guest in another network namespace)."""
    data = check(connection_info)
    fmt_node, proto_node, _ = names(str(data["volume_id"]))
    ro = bool(data.get("read_only"))
    proto: dict[str, Any]
    cache: dict[str, Any] = {}
    if connection_info["driver_volume_type"] == "file":
        proto = {"driver": "file", "filename": data["path"], "aio": "threads"}
        if direct_io(str(data["path"])):
            cache = {"cache": {"direct": True, "no-flush": False}}
    else:
        server: dict[str, Any] = {"type": "fd", "str": fd_name} if fd_name else \
            {"type": "inet", "host": str(data["host"]), "port": str(data["port"])}
        proto = {"driver": "nbd", "server": server, "export": str(data["export_name"])}
    return {"driver": str(data.get("format") or "raw"), "node-name": fmt_node,
            "read-only": ro, "discard": "unmap", **cache,
            "file": {**proto, "node-name": proto_node, "read-only": ro, **cache}}


def direct_io(path: str) -> bool:
    """Whether the file can be opened with O_DIRECT (not on tmpfs, for one): a file
    volume is then read and written past the host's page cache (`cache.direct`,
    Nova's cache=none), which measured 2-4 times the guest's read throughput of
    the page-cache path under TCG (bench/volume_attach.py); where it cannot, QEMU
    keeps the page cache."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


#: the PCI slots volumes get (explicitly, the same at hot-plug and on the command
#: line, so a guest's saved state loads into a QEMU started with its volumes)
SLOTS = range(0x10, 0x20)


def free_slot(taken: set[int]) -> int:
    for slot in SLOTS:
        if slot not in taken:
            return slot
    raise PermanentError(f"no free PCI slot for another volume ({len(SLOTS)} at most)")


def device(volume_id: str, machine: str, bootindex: int | None = None,
           slot: int | None = None) -> dict[str, Any]:
    """The virtio-blk device of a volume (device_add arguments)."""
    fmt_node, _, dev = names(volume_id)
    args: dict[str, Any] = {
        "driver": "virtio-blk-device" if machine == "microvm" else "virtio-blk-pci",
        "drive": fmt_node, "id": dev, "serial": serial(volume_id)}
    if bootindex is not None:
        args["bootindex"] = bootindex
    if slot is not None and machine != "microvm":
        args["addr"] = f"0x{slot:x}"
    return args


def device_arg(args: dict[str, Any]) -> str:
    """device_add arguments as a `-device` option (QEMU's comma syntax)."""
    rest = ",".join(f"{k}={str(v).replace(',', ',,')}" for k, v in args.items()
                    if k != "driver")
    return f"{args['driver']},{rest}"


def blockdev_arg(connection_info: dict[str, Any]) -> str:
    """A `-blockdev` option (JSON: the file name needs no escaping)."""
    return json.dumps(blockdev(connection_info), separators=(",", ":"))


def guest_name(index: int) -> str:
    """/dev/vda, /dev/vdb, ... /dev/vdz, /dev/vdaa (the kernel's virtio-blk names)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return f"/dev/vd{letters}"
