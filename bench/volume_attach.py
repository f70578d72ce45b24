"""Benchmark: the host data path of volumes (root, QEMU under TCG), through the QEMU
driver directly (no cloud): what issue 14 asks to measure on the compute side.

- boot of overcast-tiny (kernel + ramdisk, PVH) on `-M pc` (hot-plug) against
  `-M microvm`: spawn to the guest's OVERCAST-GUEST-UP on its console, and the
  guest's own uptime at that line (kernel + init), p50 over N boots each;
- attach of a qcow2 volume to a running guest: the driver's call (QMP
  blockdev-add + device_add) and until the guest reports the disk mounted
  (its volume watcher polls every 0.5 s), then detach (device_del until the guest
  released it, blockdev-del), p50 over N;
- sequential throughput from the host over the transports a guest uses:
  `qemu-img bench` (1 MiB requests, queue depth 16) on the local raw file and on
  the same file exported by qemu-storage-daemon over NBD on 127.0.0.1, with
  `dd` of the file as the ceiling. Target: NBD >= 70% of the local file.

Targets (issue 14): attach to a running guest <= 1 s p50; NBD >= 70% of file.

    .venv/bin/python bench/volume_attach.py [--boots 5] [--attaches 10] [--mib 256]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from overcast.agent.virt.base import DriverEnv  # noqa: E402
from overcast.agent.virt.qemu import QemuDriver  # noqa: E402
from overcast.bus.messages import InstanceSpec  # noqa: E402
from overcast.config import load_settings  # noqa: E402
from overcast.image.builder import build_test_image  # noqa: E402

KERNEL, RAMDISK, MACHINE = (f"0a1b2c3d-0000-4000-8000-00000000c00{i}" for i in (1, 2, 3))


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spec(name: str, machine: str | None) -> InstanceSpec:
    image: dict[str, Any] = {"id": MACHINE, "name": "overcast-tiny", "disk_format": "ami",
                             "container_format": "ami", "kernel_id": KERNEL,
                             "ramdisk_id": RAMDISK}
    if machine:
        image["hw_machine_type"] = machine
    return InstanceSpec(uuid=str(uuid.uuid4()), name=name, project_id="bench", vcpus=1,
                        memory_mb=128, root_gb=1, image_ref=MACHINE, image=image,
                        config_drive=True)


async def wait_for(d: QemuDriver, uuid_: str, text: str, count: int = 1,
                   timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = await d.console_output(uuid_)
        if out.count(text) >= count:
            return out
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not on the console of {uuid_}")
        await asyncio.sleep(0.01)


async def boots(d: QemuDriver, machine: str | None, n: int) -> tuple[list[float],
                                                                      list[float]]:
    walls, uptimes = [], []
    for i in range(n):
        s = spec(f"boot-{machine or 'pc'}-{i}", machine)
        t0 = time.monotonic()
        await d.spawn(s)
        out = await wait_for(d, s.uuid, "uptime: ")
        walls.append(time.monotonic() - t0)
        found = re.findall(r"uptime: ([0-9.]+)", out)
        if found:
            uptimes.append(float(found[-1]))
        await d.destroy(s.uuid)
    return walls, uptimes


async def attaches(d: QemuDriver, work: Path, n: int) -> dict[str, list[float]]:
    s = spec("attach", None)
    await d.spawn(s)
    await wait_for(d, s.uuid, "OVERCAST-GUEST-UP")
    raw = work / "attach.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "64M"], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(raw)], check=True)
    vol = work / "attach.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(vol)],
                   check=True)
    vid = str(uuid.uuid4())
    info = {"driver_volume_type": "file",
            "data": {"volume_id": vid, "path": str(vol), "format": "qcow2"}}
    out: dict[str, list[float]] = {"attach call": [], "attach, guest sees it": [],
                                   "detach call (guest released)": []}
    try:
        for i in range(1, n + 1):
            t0 = time.monotonic()
            await d.attach_volume(s.uuid, info, "")
            out["attach call"].append(time.monotonic() - t0)
            await wait_for(d, s.uuid, f"OVERCAST-VOLUME-WROTE {vid[:20]}", i)
            out["attach, guest sees it"].append(time.monotonic() - t0)
            t0 = time.monotonic()
            await d.detach_volume(s.uuid, vid)
            out["detach call (guest released)"].append(time.monotonic() - t0)
            await wait_for(d, s.uuid, f"OVERCAST-VOLUME-GONE {vid[:20]}", i)
    finally:
        await d.destroy(s.uuid)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_img(target: str, write: bool, mib: int) -> float:
    """MB/s of `qemu-img bench` over `target` (1 MiB sequential requests)."""
    argv = ["qemu-img", "bench", "-f", "raw", "-c", str(mib), "-s", "1M", "-S", "1M",
            "-d", "16", "-t", "none" if target.startswith("/") else "writeback"]
    if write:
        argv.append("-w")
    t0 = time.monotonic()
    subprocess.run([*argv, target], check=True, capture_output=True, text=True)
    return mib * (1 << 20) / (time.monotonic() - t0) / 1e6


def throughput(work: Path, mib: int) -> list[tuple[str, float, float]]:
    vol = work / "tp.raw"
    subprocess.run(["dd", "if=/dev/urandom", f"of={vol}", "bs=1M", f"count={mib}",
                    "status=none"], check=True)
    rows = []
    t0 = time.monotonic()
    subprocess.run(["dd", f"if={vol}", "of=/dev/null", "bs=1M", "status=none"], check=True)
    dd_read = mib * (1 << 20) / (time.monotonic() - t0) / 1e6
    rows.append(("dd of the file (ceiling)", dd_read, float("nan")))
    rows.append(("local file (qemu-img bench)", bench_img(str(vol), False, mib),
                 bench_img(str(vol), True, mib)))
    port, name = free_port(), f"volume-{secrets.token_hex(3)}"
    daemon = subprocess.Popen(
        ["qemu-storage-daemon", "--blockdev",
         f"driver=file,node-name=f0,filename={vol},cache.direct=on",
         "--nbd-server", f"addr.type=inet,addr.host=127.0.0.1,addr.port={port}",
         "--export", f"type=nbd,id=e0,node-name=f0,name={name},writable=on"],
        stderr=subprocess.DEVNULL)  # (the readiness probe's bare connect is logged)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("qemu-storage-daemon did not listen")
            time.sleep(0.05)
        uri = f"nbd://127.0.0.1:{port}/{name}"
        rows.append(("NBD, qemu-storage-daemon on 127.0.0.1", bench_img(uri, False, mib),
                     bench_img(uri, True, mib)))
    finally:
        daemon.terminate()
        daemon.wait(10)
    return rows


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boots", type=int, default=5)
    ap.add_argument("--attaches", type=int, default=10)
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("qemu-system-x86_64"):
        sys.exit("needs root and qemu-system-x86_64")
    built = build_test_image(load_settings(data_dir=Path(tempfile.mkdtemp())).
                             guest_cache_dir)
    files = {KERNEL: built.kernel, RAMDISK: built.ramdisk, MACHINE: built.rootfs}

    async def image_path(image_id: str) -> Path:
        return files[image_id]

    with tempfile.TemporaryDirectory(prefix="bench-volume-") as tmp:
        work = Path(tmp)
        d = QemuDriver("bench", DriverEnv(state_dir=work / "state", image_path=image_path))
        accel = (await d.accelerator()).name
        load = Path("/proc/loadavg").read_text().split()[0]
        print(f"QEMU driver, {accel}; overcast-tiny {built.kernel_version}; "
              f"{os.cpu_count()} CPUs, load average {load} at the start\n")
        print(f"{'boot to OVERCAST-GUEST-UP':<44} {'p50 spawn->up':>14} {'p50 guest uptime':>17}")
        for machine in ("pc", "microvm"):
            walls, ups = await boots(d, None if machine == "pc" else machine, args.boots)
            print(f"{'-M ' + machine + f' (n={args.boots})':<44} {p50(walls):>12.2f} s "
                  f"{p50(ups):>15.2f} s")
        print(f"\n{'attach/detach, qcow2 file (n=' + str(args.attaches) + ')':<44} "
              f"{'p50':>10} {'max':>10}")
        for what, values in (await attaches(d, work, args.attaches)).items():
            print(f"{what:<44} {p50(values) * 1e3:>7.0f} ms {max(values) * 1e3:>7.0f} ms")
        print(f"\n{'sequential, ' + str(args.mib) + ' MiB, 1 MiB requests':<44} "
              f"{'read MB/s':>10} {'write MB/s':>11}")
        rows = await asyncio.to_thread(throughput, work, args.mib)
        for what, r, w in rows:
            print(f"{what:<44} {r:>10.0f} {w:>11.0f}")
        local, nbd = rows[1], rows[2]
        print(f"\nNBD / local file: read {nbd[1] / local[1]:.0%}, write "
              f"{nbd[2] / local[2]:.0%} (target >= 70%)")


if __name__ == "__main__":
    asyncio.run(main())
