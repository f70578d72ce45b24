"""What this host's QEMU is: its binaries (`available`, `binary`) and the accelerator
its guests get.

The accelerator is chosen once per host boot by booting a 512-byte test guest under
KVM (with `-cpu host`, as instances get): a /dev/kvm that cannot run it, or takes
seconds for it, means TCG; so does a host whose KVM is kvm_pvm (/dev/kvm exists,
the test guest may even run, but real guests hang or crash). The answer is cached
in the state directory, keyed by the boot id.

Binaries are looked up through the package (`overcast.agent.virt.qemu.which`), the
one place a test hides a tool from every module of the driver.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overcast.agent.virt.base import PermanentError
from overcast.agent.virt.common import write_json
from overcast.kit.runner import CommandError, run

log = logging.getLogger("overcast.agent.virt.qemu")

QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
#: Debian packages of the binaries the driver needs
PACKAGES = {QEMU: "qemu-system-x86", QEMU_IMG: "qemu-utils", "genisoimage": "genisoimage"}
#: a healthy KVM runs the test guest in well under a second; kvm_pvm takes seconds
KVM_PROBE_TIMEOUT = 2.0
#: present when the host's KVM is kvm_pvm, under which real guests crash (seen here:
#: `kvm-pvm: INTERNAL_ERROR in batch emul`, at boot or after a live migration) even
#: when the probe's test guest runs
PVM_MODULE = "/sys/module/kvm_pvm"
#: the test guest's exit code: isa-debug-exit turns `out 0xf4, 0x31` into (0x31 << 1) | 1
KVM_PROBE_EXIT = 99


def _which(name: str) -> str | None:
    from overcast.agent.virt import qemu

    return qemu.which(name)


def available() -> str | None:
    """None when this host can run QEMU guests, else what is missing."""
    for binary in (QEMU, QEMU_IMG):
        if _which(binary) is None:
            return f"{binary} is missing: apt-get install {PACKAGES[binary]}"
    return None


def describe() -> str:
    """The accelerator guests get here and why (for `overcast doctor`)."""
    why = available()
    if why:
        return why
    accel = probe_accel(Path(tempfile.gettempdir()) / "overcast-qemu-accel.json")
    return accel.describe()


def binary(name: str) -> str:
    """The path of a binary the driver needs; PermanentError naming its package when
    the host has none."""
    path = _which(name)
    if path is None:
        raise PermanentError(f"{name} is missing on this host: apt-get install "
                             f"{PACKAGES.get(name, name)}")
    return path


def esc(path: Path | str) -> str:
    """A path inside a QEMU option string (commas are doubled)."""
    return str(path).replace(",", ",,")



@dataclass(frozen=True)
class Accel:
    name: str  # kvm | tcg
    why: str

    def describe(self) -> str:
        what = "KVM (hardware virtualization)" if self.name == "kvm" else \
            "TCG (software emulation, guests boot in seconds)"
        return f"{what}: {self.why}"


_ACCEL: dict[str, Accel] = {}


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _probe_sector() -> bytes:
    """A boot sector that says `out 0xf4, 0x31` (QEMU's isa-debug-exit ends QEMU with
    exit code 99) and halts."""
    code = bytes([0xB0, 0x31, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
    return code.ljust(510, b"\0") + b"\x55\xaa"


def _run_kvm_probe(qemu: str) -> Accel:
    scratch = Path(tempfile.mkdtemp(prefix="overcast-kvm-probe-"))
    try:
        img = scratch / "probe.img"
        img.write_bytes(_probe_sector())
        t0 = time.monotonic()
        try:
            r = run([qemu, "-accel", "kvm", "-cpu", "host", "-M", "pc", "-m", "16",
                     "-nodefaults", "-no-user-config", "-display", "none",
                     "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                     "-drive", f"file={esc(img)},format=raw,if=ide"],
                    check=False, timeout=KVM_PROBE_TIMEOUT)
        except CommandError:
            return Accel("tcg", f"/dev/kvm is there but a test guest under KVM did not "
                                f"finish within {KVM_PROBE_TIMEOUT:.0f} s (a broken or "
                                "paravirtual KVM, such as kvm_pvm)")
        took = (time.monotonic() - t0) * 1e3
        if r.returncode == KVM_PROBE_EXIT:
            return Accel("kvm", f"a test guest ran under KVM in {took:.0f} ms")
        err = [line for line in r.stderr.splitlines() if line.strip()]
        detail = err[0].strip() if err else f"exit code {r.returncode}"
        return Accel("tcg", f"/dev/kvm is there but a test guest failed under KVM "
                            f"({detail[:300]})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def probe_accel(cache: Path | None = None) -> Accel:
    """KVM when a test guest really runs under it, else TCG; asked once per process
    and remembered in `cache` (a JSON file) until the host reboots or QEMU changes."""
    qemu = _which(QEMU)
    if qemu is None:
        return Accel("tcg", f"{QEMU} is missing")
    if not os.path.exists("/dev/kvm"):
        return Accel("tcg", "this host has no /dev/kvm")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return Accel("tcg", "/dev/kvm is not accessible to this user")
    st = os.stat(qemu)
    key = f"{_boot_id()}:{qemu}:{st.st_size}:{st.st_mtime_ns}"
    saved: dict[str, Any] = {}
    if cache is not None:
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads(cache.read_text())
    accel = _ACCEL.get(key)
    if os.path.isdir(PVM_MODULE):  # whatever an earlier probe of this boot said
        accel = Accel("tcg", "this host's KVM is kvm_pvm (paravirtual): the test guest "
                             "may run under it, but real guests stop with KVM internal "
                             "errors, at boot or after a live migration")
    if accel is None and saved.get("key") == key and saved.get("name") in ("kvm", "tcg"):
        accel = Accel(str(saved["name"]), str(saved.get("why", "")))
    if accel is None:
        accel = _run_kvm_probe(qemu)
        log.info("QEMU accelerator: %s", accel.describe())
    _ACCEL[key] = accel
    if cache is not None and (saved.get("key"), saved.get("name"), saved.get("why")) != \
            (key, accel.name, accel.why):
        with contextlib.suppress(OSError):
            write_json(cache, {"key": key, "name": accel.name, "why": accel.why})
    return accel

