"""The cgroups of an instance's QEMU: its CPU capped at the flavor's vCPUs, its
memory at the guest's RAM plus QEMU's own overhead. Best effort: a host without
cgroups runs guests without limits. v1 cpu and memory hierarchies (a hybrid host)
or one cgroup2 directory, named ovq-<uuid>."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: the cgroups of an instance's QEMU: ovq-<uuid>
PREFIX = "ovq-"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD = 100_000
#: QEMU's own memory on top of the guest's RAM (TCG code buffer, the kernel it
#: loaded, device state: about 150 MB at -m 128 under TCG)
MEMORY_OVERHEAD_MB = 256


def name_of(uuid: str) -> str:
    """The name of the instance's cgroups."""
    return f"{PREFIX}{uuid}"


def dirs(name: str) -> list[Path]:
    """Where an instance's cgroups go: v1 cpu and memory hierarchies (a hybrid host),
    else one cgroup2 directory when it has the cpu and memory controllers."""
    dirs = []
    for ctrl in ("cpu", "cpu,cpuacct", "memory"):
        root = CGROUP_ROOT / ctrl
        if (root / "cgroup.procs").exists() and not root.is_symlink():
            dirs.append(root / name)
    if dirs:
        return dirs
    try:
        controllers = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
    except OSError:
        return []
    return [CGROUP_ROOT / name] if {"cpu", "memory"} <= set(controllers) else []


def enter(name: str, pid: int, vcpus: int, memory_mb: int) -> None:
    """Put `pid` (all its threads) in the instance's cgroups, with the CPU capped at
    `vcpus` and memory at the guest's plus QEMU's overhead."""
    limit = (memory_mb + MEMORY_OVERHEAD_MB) << 20
    quota = max(1, vcpus) * CPU_PERIOD
    for d in dirs(name):
        d.mkdir(exist_ok=True)
        files: dict[str, str] = {}
        if (d / "cpu.cfs_quota_us").exists():
            files = {"cpu.cfs_period_us": str(CPU_PERIOD), "cpu.cfs_quota_us": str(quota)}
        elif (d / "memory.limit_in_bytes").exists():
            files = {"memory.limit_in_bytes": str(limit)}
        elif (d / "cpu.max").exists() or (d / "memory.max").exists():
            files = {"cpu.max": f"{quota} {CPU_PERIOD}", "memory.max": str(limit)}
        for fname, value in files.items():
            if (d / fname).exists():
                (d / fname).write_text(value)
        (d / "cgroup.procs").write_text(str(pid))


def remove(name: str) -> bool:
    """Remove the instance's cgroups; False while one is still busy (a killed QEMU
    stays in its cgroup until init reaps it, about a second later here)."""
    gone = True
    for d in dirs(name):
        try:
            d.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            gone = False
    return gone


def names() -> set[str]:
    """The names of every instance cgroup on the host (ovq-*)."""
    found: set[str] = set()
    for d in {p.parent for p in dirs(f"{PREFIX}x")}:
        with contextlib.suppress(OSError):
            found.update(n for n in os.listdir(d) if n.startswith(PREFIX))
    return found

