"""Benchmark: the host data path of volumes (root, QEMU under TCG), through the QEMU
driver directly (no cloud): what issue 14 asks to measure on the compute side.

- boot of overcast-tiny (kernel + ramdisk, PVH) on `-M pc` (hot-plug) against
  `-M microvm`: spawn to the guest's OVERCAST-GUEST-UP on its console, and the
  guest's own uptime at that line (kernel + init), p50 over N boots each;
- attach of a qcow2 volume to a running guest: the driver's call (QMP
  blockdev-add + device_add) and until the guest reports the disk mounted
  (its volume watcher polls every 0.5 s), then detach (device_del until the guest
  released it, blockdev-del), p50 over N;
- sequential throughput seen by the guest, against the same I/O on the local
  file (`dd`, O_DIRECT, --bs MiB requests, --mib MiB read then written, on the
  host): a QEMU guest with the volume attached as the file itself (what a compute
  host that is the storage host gets), the same guest with it over NBD from the
  host's qemu-storage-daemon on 127.0.0.1 (the remote path), and a container with
  it as a loop device. The guest (overcast-tiny's init, OVERCAST-BENCH) and the
  container time their own `dd`; each repetition measures the local file right
  before, and the ratio is taken per repetition (the machine is shared: its load
  moves between runs). The volumes are made, exported and attached by the real
  code (FileDriver, QemuDriver, ContainerDriver);
- the transports from the host, without a guest: `qemu-img bench` (1 MiB
  requests, queue depth 16) on the file and over NBD.

Targets (issue 14): attach to a running guest <= 1 s p50; attached volume >= 70%
of the local file.

    .venv/bin/python bench/volume_attach.py [--boots 5] [--attaches 10] [--mib 256]
        [--bs 4] [--reps 3] [--only throughput]
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


def host_transports(work: Path, mib: int) -> list[tuple[str, float, float]]:
    """MB/s of the file and of NBD from the host, without a guest (qemu-img bench)."""
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


MB = 1e6
#: (read MB/s, write MB/s) of one measurement
Rate = tuple[float, float]


def drop_cache(path: Path) -> None:
    """The file's pages out of the host's page cache (this file only)."""
    subprocess.run(["dd", f"if={path}", "iflag=nocache", "count=0", "status=none"],
                   check=True)


def local_dd(path: Path, mib: int, bs: int) -> Rate:
    """The I/O the guests do, on the host's file: `mib` MiB after the first MiB read,
    then written, `bs` MiB at a time with O_DIRECT (the written data synced)."""
    drop_cache(path)
    common = [f"bs={bs}M", f"count={mib // bs}", "status=none"]
    t0 = time.monotonic()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "skip=1048576",
                    "iflag=direct,skip_bytes", *common], check=True)
    t1 = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "seek=1048576",
                    "oflag=direct,seek_bytes", "conv=fsync,notrunc", *common], check=True)
    t2 = time.monotonic()
    return mib * (1 << 20) / (t1 - t0) / MB, mib * (1 << 20) / (t2 - t1) / MB


def rates(mib: int, read_cs: str, write_cs: str) -> Rate:
    """MB/s from centiseconds (/proc/uptime's resolution in the guests)."""
    return (mib * (1 << 20) / max(int(read_cs), 1) * 100 / MB,
            mib * (1 << 20) / max(int(write_cs), 1) * 100 / MB)


async def vm_dd(d: QemuDriver, uuid_: str, info: dict[str, Any], mib: int,
                nth: int) -> Rate:
    """The guest's own dd of an attached volume that starts OVERCAST-BENCH (the
    `nth` time this volume is attached to this guest), then detached."""
    vid = info["data"]["volume_id"]
    await d.attach_volume(uuid_, info, "")
    line = re.compile(rf"OVERCAST-VOLUME-BENCH {vid[:20]} (.*)")
    deadline = time.monotonic() + 300
    while len(found := line.findall(await d.console_output(uuid_))) < nth:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no OVERCAST-VOLUME-BENCH from {uuid_} for {vid}")
        await asyncio.sleep(0.05)
    await d.detach_volume(uuid_, vid)
    got = re.fullmatch(r"mib=\d+ read_cs=(\d+) write_cs=(\d+)\s*", found[nth - 1])
    if got is None:
        raise RuntimeError(f"the guest said: OVERCAST-VOLUME-BENCH {found[nth - 1]}")
    # the guest's watcher (every 0.5 s) must see it gone, or the next attach of
    # the same volume looks to it like the disk it already knows
    await wait_for(d, uuid_, f"OVERCAST-VOLUME-GONE {vid[:20]}", nth)
    return rates(mib, got[1], got[2])


async def container_dd(cd: Any, uuid_: str, info: dict[str, Any], mib: int,
                       bs: int) -> Rate:
    """The container's own dd of the attached volume (its /dev/vdb), then detached."""
    rt = await cd.runtime()
    dev = await cd.attach_volume(uuid_, info, "")
    n = mib // bs
    script = (f"read a _ </proc/uptime; dd if={dev} of=/dev/null bs={bs}M skip=1048576 "
              f"count={n} iflag=direct,skip_bytes 2>/dev/null; read b _ </proc/uptime; "
              f"dd if=/dev/zero of={dev} bs={bs}M seek=1048576 count={n} "
              f"oflag=direct,seek_bytes conv=fsync 2>/dev/null; read c _ </proc/uptime; "
              'echo "${a%.*}${a#*.} ${b%.*}${b#*.} ${c%.*}${c#*.}"')
    try:
        r = await asyncio.to_thread(subprocess.run, rt.argv(
            "exec", cd.cid(uuid_), "/bin/sh", "-c", script), capture_output=True,
            text=True, timeout=600, check=True)
    finally:
        await cd.detach_volume(uuid_, info["data"]["volume_id"])
    a, b, c = (int(x) for x in r.stdout.split())
    return rates(mib, str(b - a), str(c - b))


async def guest_throughput(d: QemuDriver, work: Path, oci: Path, mib: int, bs: int,
                           reps: int) -> dict[str, list[Rate]]:
    """Per repetition: the local file, then the volume in a VM (file, NBD) and in a
    container (loop device)."""
    from overcast.agent.storage.file import FileDriver
    from overcast.agent.virt import container as ct

    storage = FileDriver(work / "volumes", host="bench-host", nbd_port=free_port())
    await storage.start()
    vid = str(uuid.uuid4())
    await storage.create_blank(vid, -(-(mib + 1) // 1024))
    path = storage.volume_path(vid)
    with open(path, "r+b") as fh:  # the guest's bench marker, then data to read
        fh.write(f"OVERCAST-BENCH {mib} {bs}\n".encode())
    subprocess.run(["dd", "if=/dev/urandom", f"of={path}", "bs=1M", "seek=1",
                    f"count={mib}", "conv=notrunc", "status=none"], check=True)
    here = await storage.export(vid, {"host": "bench-host"})
    out: dict[str, list[Rate]] = {"local file (dd on the host)": [],
                                  "VM, attached as the file": [],
                                  "VM, over NBD (TCP 127.0.0.1)": []}
    s = spec("throughput", None)
    await d.spawn(s)
    cd, c = None, None
    why = ct.available()
    if why is None:
        async def oci_path(_image_id: str) -> Path:
            return oci

        cd = ct.ContainerDriver("bench", DriverEnv(state_dir=work / "ct", image_path=oci_path))
        c = InstanceSpec(uuid=str(uuid.uuid4()), name="ct-bench", project_id="bench",
                         vcpus=1, memory_mb=128, root_gb=1, image_ref="oci",
                         image={"id": "oci", "name": "overcast-tiny-oci",
                                "disk_format": "raw", "container_format": "docker"})
        await cd.spawn(c)
        out["container, loop device on the file"] = []
    else:
        print(f"(no container row: {why})")
    try:
        await wait_for(d, s.uuid, "OVERCAST-GUEST-UP")
        for i in range(1, reps + 1):
            out["local file (dd on the host)"].append(
                await asyncio.to_thread(local_dd, path, mib, bs))
            drop_cache(path)
            out["VM, attached as the file"].append(await vm_dd(d, s.uuid, here, mib, 2 * i - 1))
            remote = await storage.export(vid, {"host": "another-host"})
            try:
                out["VM, over NBD (TCP 127.0.0.1)"].append(
                    await vm_dd(d, s.uuid, remote, mib, 2 * i))
            finally:
                await storage.unexport(vid)
            if cd is not None and c is not None:
                drop_cache(path)
                out["container, loop device on the file"].append(
                    await container_dd(cd, c.uuid, here, mib, bs))
    finally:
        await d.destroy(s.uuid)
        if cd is not None and c is not None:
            await cd.destroy(c.uuid)
        await storage.stop()
    return out


def print_throughput(results: dict[str, list[Rate]], mib: int, bs: int) -> None:
    local = results["local file (dd on the host)"]
    print(f"\n{f'sequential, {mib} MiB, {bs} MiB O_DIRECT requests':<38} "
          f"{'read MB/s':>10} {'write MB/s':>11} {'read/local':>11} {'write/local':>12}")
    for what, values in results.items():
        r = p50([v[0] for v in values])
        w = p50([v[1] for v in values])
        rr = p50([v[0] / lo[0] for v, lo in zip(values, local, strict=False)])
        wr = p50([v[1] / lo[1] for v, lo in zip(values, local, strict=False)])
        print(f"{what:<38} {r:>10.0f} {w:>11.0f} {rr:>11.0%} {wr:>12.0%}")
    print(f"(p50 of {len(local)}; ratios per repetition against the local file "
          "measured right before; target >= 70%)")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boots", type=int, default=5)
    ap.add_argument("--attaches", type=int, default=10)
    ap.add_argument("--mib", type=int, default=256, help="MiB each throughput run moves")
    ap.add_argument("--bs", type=int, default=4, help="MiB per request in the guests")
    ap.add_argument("--reps", type=int, default=3, help="throughput repetitions")
    ap.add_argument("--only", choices=("boot", "attach", "throughput"),
                    help="one part of the bench")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("qemu-system-x86_64"):
        sys.exit("needs root and qemu-system-x86_64")
    if args.bs < 1 or args.mib % args.bs:
        sys.exit("--mib must be a multiple of --bs")
    built = build_test_image(load_settings(data_dir=Path(tempfile.mkdtemp())).
                             guest_cache_dir)
    files = {KERNEL: built.kernel, RAMDISK: built.ramdisk, MACHINE: built.rootfs}

    async def image_path(image_id: str) -> Path:
        return files[image_id]

    with tempfile.TemporaryDirectory(prefix="bench-volume-", dir="/var/tmp") as tmp:
        work = Path(tmp)  # (not a tmpfs /tmp: volumes there get no O_DIRECT)
        d = QemuDriver("bench", DriverEnv(state_dir=work / "state", image_path=image_path))
        accel = (await d.accelerator()).name
        load = Path("/proc/loadavg").read_text().split()[0]
        print(f"QEMU driver, {accel}; overcast-tiny {built.kernel_version}; "
              f"{os.cpu_count()} CPUs, load average {load} at the start\n")
        if args.only in (None, "boot"):
            print(f"{'boot to OVERCAST-GUEST-UP':<44} {'p50 spawn->up':>14} "
                  f"{'p50 guest uptime':>17}")
            for machine in ("pc", "microvm"):
                walls, ups = await boots(d, None if machine == "pc" else machine,
                                         args.boots)
                print(f"{'-M ' + machine + f' (n={args.boots})':<44} {p50(walls):>12.2f} s "
                      f"{p50(ups):>15.2f} s")
        if args.only in (None, "attach"):
            print(f"\n{'attach/detach, qcow2 file (n=' + str(args.attaches) + ')':<44} "
                  f"{'p50':>10} {'max':>10}")
            for what, values in (await attaches(d, work, args.attaches)).items():
                print(f"{what:<44} {p50(values) * 1e3:>7.0f} ms {max(values) * 1e3:>7.0f} ms")
        if args.only in (None, "throughput"):
            print_throughput(await guest_throughput(d, work, built.oci, args.mib, args.bs,
                                                    args.reps), args.mib, args.bs)
            print(f"\n{'host side, ' + str(args.mib) + ' MiB, 1 MiB requests, qd 16':<44} "
                  f"{'read MB/s':>10} {'write MB/s':>11}")
            for what, r, w in await asyncio.to_thread(host_transports, work, args.mib):
                print(f"{what:<44} {r:>10.0f} {w:>11.0f}")


if __name__ == "__main__":
    asyncio.run(main())
