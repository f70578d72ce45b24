"""Benchmark: live migration of a QEMU guest (root, TCG) between two hosts on one
machine, with its disk, through the real agents and QEMU drivers (no cloud): two
agents on an in-process bus, each with its own state directory, the migration
stream and the disk's NBD export over TCP on 127.0.0.1.

For each guest memory size, N migrations back and forth of one overcast-tiny guest
that has DISK MiB written on its disk (beyond its image): the time from the request
to the guest running on the target, the downtime QEMU measured (`query-migrate`:
the guest paused for the last round, the disk mirror completed and the device
state sent), the memory sent and the disk mirrored. p50 and max over N.

Target (issue 18): downtime <= 1 s.

    .venv/bin/python bench/live_migration.py [--runs 5] [--memory 128,512] [--disk 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overcast.agent.host import Agent  # noqa: E402
from overcast.agent.virt.base import DriverEnv  # noqa: E402
from overcast.agent.virt.qemu import QemuDriver  # noqa: E402
from overcast.bus import MemoryBus  # noqa: E402
from overcast.bus.live_migration import LiveMigrateInstance, LiveMigrationState  # noqa: E402
from overcast.bus.messages import InstanceSpec, Message  # noqa: E402
from overcast.config import load_settings  # noqa: E402
from overcast.image.builder import build_test_image  # noqa: E402

KERNEL, RAMDISK, MACHINE = (f"0a1b2c3d-0000-4000-8000-00000000d00{i}" for i in (1, 2, 3))


async def run(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    built = build_test_image(load_settings(data_dir=work / "settings").guest_cache_dir)
    files = {KERNEL: built.kernel, RAMDISK: built.ramdisk, MACHINE: built.rootfs}
    image = {"id": MACHINE, "name": "overcast-tiny", "disk_format": "ami",
             "container_format": "ami", "kernel_id": KERNEL, "ramdisk_id": RAMDISK}

    async def image_path(image_id: str) -> Path:
        return files[image_id]

    bus = MemoryBus()
    await bus.start()
    reports: list[LiveMigrationState] = []

    async def conductor(msg: Message) -> Any:
        if isinstance(msg, LiveMigrationState):
            reports.append(msg)
        return None

    await bus.subscribe("conductor", conductor)
    hosts = {}
    for name in ("bench-a", "bench-b"):
        (work / name).mkdir()
        hosts[name] = Agent(name, QemuDriver(name, DriverEnv(state_dir=work / name,
                                                             image_path=image_path),
                                             accel="tcg"), bus)
        await bus.subscribe(hosts[name].topic, hosts[name].handle)
    rows = []
    try:
        for memory in args.memory:
            spec = InstanceSpec(uuid=str(uuid.uuid4()), name="bench", project_id="p",
                                vcpus=1, memory_mb=memory, root_gb=1, image_ref=MACHINE,
                                image=image)
            src, dst = "bench-a", "bench-b"
            first = hosts[src].driver
            assert isinstance(first, QemuDriver)
            await first.spawn(spec)
            deadline = time.monotonic() + 120
            while "OVERCAST-GUEST-UP" not in await first.console_output(spec.uuid):
                assert time.monotonic() < deadline, "the guest did not boot"
                await asyncio.sleep(0.2)
            if args.disk:
                await first._qmp(spec.uuid, ("human-monitor-command", {
                    "command-line": f"qemu-io root \"write -P 0x5a 256M {args.disk}M\""}))
            for i in range(args.runs):
                seen = len(reports)
                t0 = time.monotonic()
                await bus.cast(f"agent.{src}", LiveMigrateInstance(
                    uuid=spec.uuid, dest=dst, migration_id=i + 1, block_migration=True,
                    instance=spec.__dict__))
                while not [r for r in reports[seen:] if r.status in
                           ("completed", "failed", "cancelled")]:
                    await asyncio.sleep(0.02)
                took = time.monotonic() - t0
                (done,) = [r for r in reports[seen:] if r.status != "running"]
                if done.status != "completed":
                    raise SystemExit(f"migration {i} {done.status}: {done.error}")
                rows.append({"memory_mb": memory, "run": i, "seconds": took,
                             "downtime_ms": done.progress["downtime_ms"],
                             "memory_sent_mib": done.progress["memory_processed_bytes"] >> 20,
                             "disk_mib": done.progress["disk_total_bytes"] >> 20})
                src, dst = dst, src
            last = hosts[src].driver
            await last.destroy(spec.uuid)
    finally:
        for agent in hosts.values():
            for u in await agent.driver.list_instances():
                await agent.driver.destroy(u)
        await bus.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--memory", default="128,512",
                    type=lambda v: [int(x) for x in v.split(",")])
    ap.add_argument("--disk", type=int, default=64, help="MiB written on the disk first")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (QEMU guests, cgroups)")
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="overcast-bench-lm-") as tmp:
        rows = asyncio.run(run(args, Path(tmp)))
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    print(f"live migration, QEMU (TCG) on one machine ({platform.machine()}, "
          f"{os.cpu_count()} CPUs); load before {' '.join(load0)}, after {' '.join(load1)}")
    print(f"{'guest':<16} {'n':>3} {'p50 total':>10} {'max total':>10} {'p50 downtime':>13} "
          f"{'max downtime':>13} {'memory sent':>12} {'disk':>8}")
    for memory in args.memory:
        mine = [r for r in rows if r["memory_mb"] == memory]
        secs = [r["seconds"] for r in mine]
        down = [r["downtime_ms"] for r in mine]
        print(f"{f'{memory} MB, {args.disk} MiB':<16} {len(mine):>3} "
              f"{statistics.median(secs):>8.2f} s {max(secs):>8.2f} s "
              f"{statistics.median(down):>10.0f} ms {max(down):>10.0f} ms "
              f"{statistics.median(r['memory_sent_mib'] for r in mine):>8.0f} MiB "
              f"{mine[0]['disk_mib']:>4} MiB")
    print("target: downtime <= 1 s (issue 18)")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
