"""CPU seconds a service spends, read from /proc: the load-independent half of a
benchmark on a shared machine.

A wall-clock rate on a machine that other work keeps busy says as much about the
neighbours as about the service. What the service's own processes spent on the
CPU per request does not: the kernel charges each process only for the time it
ran (utime + stime in /proc/<pid>/stat), however long it waited for a core. So
every side-by-side benchmark measures, beside the rate, the CPU seconds of the
serving processes over the same N requests, and reports

  CPU ms per request   (cpu seconds / requests),
  ceiling per core     (requests / cpu seconds: the rate one idle core would
                        sustain were the service CPU-bound, which these are
                        once the client is fast and the disk is not the limit).

The service is a process tree: every process under the given roots (the uWSGI
master and its workers, overcast's engine and its API workers, Swift's four
servers and their workers, memcached). Children that ended and were reaped
inside the tree are counted through their parent's cutime/cstime.

    meter = CpuMeter([pid])
    before = meter.seconds()
    ... N requests ...
    cpu = meter.seconds() - before
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. reaped children) of one process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
    ppid = int(fields[1])
    ticks = sum(int(x) for x in fields[11:15])
    return ppid, ticks / TICK


def tree(roots: Iterable[int]) -> dict[int, float]:
    """CPU seconds of every live process under `roots` (the roots included)."""
    procs: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                procs[int(entry.name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, float] = {}
    todo = [r for r in roots if r in procs]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out[pid] = procs[pid][1]
        todo.extend(children.get(pid, []))
    return out


class CpuMeter:
    """CPU seconds of one service's process tree, sampled before and after a run.

    A process that was not there at the first sample (a worker started again)
    counts from zero; one that ended unreaped between samples is lost, which the
    benchmarks notice as a missing worker anyway."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)
        self._start: dict[int, float] = {}

    def start(self) -> None:
        self._start = tree(self.roots)

    def stop(self) -> float:
        """CPU seconds spent since `start`."""
        now = tree(self.roots)
        return sum(v - self._start.get(pid, 0.0) for pid, v in now.items())


def per_request(cpu_seconds: float, requests: int) -> dict[str, float]:
    """The two figures a table shows: CPU ms per request, and the requests per
    second of one core's worth of CPU (the CPU-bound ceiling)."""
    with contextlib.suppress(ZeroDivisionError):
        return {"cpu_ms": 1000 * cpu_seconds / requests,
                "per_core": requests / cpu_seconds if cpu_seconds else float("inf")}
    return {"cpu_ms": float("nan"), "per_core": float("nan")}
