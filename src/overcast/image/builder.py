"""Builds overcast's tiny test guest (`overcast-tiny`) from Debian packages.

Nothing comes from the internet: the kernel is Debian's `linux-image-6.1.*-amd64`
(the package that the `linux-image-amd64` metapackage depends on), fetched with
`apt-get download` and unpacked with `dpkg-deb -x`; the userland is the host's
static busybox (package busybox-static). The build makes:

* `vmlinux`: the uncompressed ELF kernel, taken out of the xz-compressed bzImage
  here in Python. QEMU enters it directly through its PVH note (`-kernel vmlinux`),
  which under TCG reaches userspace in about 2 s instead of about 5 s.
* `initrd.gz`: a gzip'd newc cpio with busybox, the kernel modules the guest needs
  (virtio PCI and MMIO, IDE CD-ROM, ext4, vfat, iso9660, ACPI button, evdev) in
  dependency order (read from each module's `.modinfo`; the package has no
  modules.dep), and overcast's `/init` (guest/init.sh): DHCP with the network's
  MTU, metadata from a config drive or 169.254.169.254, the keypair's keys, a
  console report, a one-line web page on port 80, and a watcher of volumes
  (disks with a serial) that mounts each new one, reports its files on the
  console and writes one of its own (what tests of volumes read back).
* `disk.qcow2`: an ordinary bootable disk (MBR boot code, one active FAT16
  partition with syslinux, Debian's bzImage and the same initrd) that boots
  through the firmware with no `-kernel`. Built with mkfs.vfat, mtools and
  `syslinux --install`: no mounting, no loop devices.
* `rootfs.img` (a small ext4 machine image for the AMI triple) and `rootfs.tar`
  (the busybox userland and /init as a container root file system).

Results are cached under `cache_dir` (its callers pass `Settings.guest_cache_dir`:
the builder reads no environment), keyed on the kernel package's version and a
hash of the guest scripts, the module list, busybox and this builder. A build is
made in a temporary directory and renamed into place only when complete, so a
crash never leaves a cache entry that looks finished. A repeated call answers
from the cache without running anything (the apt lookup is remembered for a day).
"""

from __future__ import annotations

import bz2
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GUEST = Path(__file__).parent / "guest"
#: The guest's scripts: (file in GUEST, path in the ramdisk).
GUEST_FILES = (("init.sh", "init"), ("udhcpc.sh", "etc/udhcpc.sh"))
BUSYBOX = Path("/bin/busybox")
MBR_BIN = Path("/usr/lib/syslinux/mbr/mbr.bin")
METAPACKAGE = "linux-image-amd64"
KERNEL_PACKAGE = re.compile(r"^linux-image-(6\.1\.\d+-\d+-amd64)$")

#: Modules the guest loads, by module name. Their dependencies (from each module's
#: `.modinfo`) are added and loaded first; the order here is otherwise kept, so the
#: slow probes (the IDE controller) start early and overlap the rest.
MODULES = (
    "ata_piix", "sr_mod",  # config drives on an IDE CD-ROM (-M pc, -cdrom)
    "virtio_pci", "virtio_mmio", "virtio_net", "virtio_blk",
    "crc32c_generic", "ext4",  # ext4 wants crc32c (a soft dependency)
    "vfat", "nls_cp437", "nls_ascii",  # vfat config drives (codepage 437, iocharset ascii)
    "isofs",  # iso9660 config drives
    "button", "evdev",  # ACPI power button -> acpid -> clean poweroff
)

#: Bump when the layout of a build changes in a way the hashed inputs don't show.
BUILD_FORMAT = 2
#: How long the apt answer "which kernel package is newest" is trusted.
RESOLVE_TTL = 24 * 3600.0
#: The boot partition: FAT16 of this many KiB at sector 2048 (1 MiB).
FAT_KIB = 32768
PART_START = 2048

SYSLINUX_CFG = """\
SERIAL 0 115200
DEFAULT overcast
PROMPT 0
TIMEOUT 0
LABEL overcast
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=tty0 console=ttyS0,115200 quiet panic=-1
"""

Progress = Callable[[str, float], None]


class BuildError(Exception):
    """The image can't be built (a missing host tool or package, apt failed)."""


@dataclass
class BuiltImage:
    kernel: Path  # uncompressed ELF vmlinux (boots via PVH)
    ramdisk: Path  # gzip'd newc cpio initramfs
    disk: Path  # qcow2 bootable disk (MBR + syslinux, bzImage + initrd inside)
    kernel_version: str  # the kernel release, e.g. 6.1.0-56-amd64

    @property
    def directory(self) -> Path:
        return self.kernel.parent

    @property
    def rootfs(self) -> Path:
        """Small ext4 machine image (the `ami` of the AMI triple)."""
        return self.directory / "rootfs.img"

    @property
    def oci(self) -> Path:
        """Root file system tarball for the container driver."""
        return self.directory / "rootfs.tar"

    @property
    def vmlinuz(self) -> Path:
        """Debian's compressed bzImage, as in the package."""
        return self.directory / "vmlinuz"

    @property
    def package_version(self) -> str:
        info = json.loads((self.directory / "built.json").read_text())
        return str(info["package_version"])


# --------------------------------------------------------------------------- helpers


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 300) -> str:
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise BuildError(f"{argv[0]} is missing: install the host packages "
                         "(scripts/install-host.sh)")
    except subprocess.TimeoutExpired:
        raise BuildError(f"{' '.join(argv)} took more than {timeout:.0f} s")
    if r.returncode != 0:
        raise BuildError(f"{' '.join(argv)} failed (rc {r.returncode}): "
                         f"{(r.stderr or r.stdout).strip()[-600:]}")
    return r.stdout


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    """One builder at a time per cache (the CLI and a test run may race)."""
    with open(cache_dir / ".lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------- the kernel package


@dataclass(frozen=True)
class KernelPackage:
    name: str  # linux-image-6.1.0-56-amd64
    version: str  # 6.1.192-2 (the Debian package version)

    @property
    def release(self) -> str:
        m = KERNEL_PACKAGE.match(self.name)
        assert m is not None
        return m.group(1)


def _apt_candidate(package: str) -> dict[str, str] | None:
    """The candidate version's control fields, or None when apt doesn't know it."""
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", package],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    fields: dict[str, str] = {}
    for line in r.stdout.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith(" "):
            fields[key] = value.strip()
    return fields


def _version_key(version: str) -> list[tuple[int, Any]]:
    """Good-enough ordering of Debian versions of the same kernel series."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+~:-]", version)]


def resolve_kernel_package() -> KernelPackage:
    """The newest installable `linux-image-6.1.*-amd64`: the real package behind the
    `linux-image-amd64` metapackage, or (when that points elsewhere) the highest
    candidate among the 6.1 images apt knows."""
    try:
        meta = _apt_candidate(METAPACKAGE)
    except FileNotFoundError:
        raise BuildError("apt-cache is missing: the test image is built from Debian packages")
    if meta is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
        meta = _apt_candidate(METAPACKAGE)
    if meta is None:
        raise BuildError(f"apt knows no {METAPACKAGE}: run `apt-get update` and retry")
    for dep in meta.get("Depends", "").split(","):
        m = re.match(r"\s*(\S+)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?", dep)
        if m and KERNEL_PACKAGE.match(m.group(1)):
            info = _apt_candidate(m.group(1)) if m.group(2) is None else None
            version = m.group(2) or (info or {}).get("Version")
            if version:
                return KernelPackage(m.group(1), version)
    names = [n for n in _run(["apt-cache", "pkgnames", "linux-image-6.1."]).split()
             if KERNEL_PACKAGE.match(n)]
    best: KernelPackage | None = None
    for name in names:
        info = _apt_candidate(name)
        if info and info.get("Version"):
            cand = KernelPackage(name, info["Version"])
            if best is None or _version_key(cand.version) > _version_key(best.version):
                best = cand
    if best is None:
        raise BuildError("apt has no installable linux-image-6.1.*-amd64")
    return best


def _deb_name(pkg: KernelPackage) -> str:
    return f"{pkg.name}_{pkg.version.replace(':', '%3a')}_amd64.deb"


def fetch_kernel_deb(pkg: KernelPackage, debs: Path) -> Path:
    """`apt-get download` into debs/ (through a temporary directory, so a broken
    download never looks like a package); older kernels' packages are removed."""
    debs.mkdir(parents=True, exist_ok=True)
    deb = debs / _deb_name(pkg)
    if deb.exists():
        return deb
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=debs))
    try:
        _run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=tmp, timeout=1200)
        got = list(tmp.glob("*.deb"))
        if len(got) != 1:
            raise BuildError(f"apt-get download {pkg.name} left {len(got)} .deb files")
        fields = _run(["dpkg-deb", "-f", str(got[0]), "Package", "Version"])
        if f"Package: {pkg.name}" not in fields or f"Version: {pkg.version}" not in fields:
            raise BuildError(f"the downloaded package is not {pkg.name} {pkg.version}")
        os.replace(got[0], deb)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in debs.glob("linux-image-*.deb"):
        if old != deb:
            old.unlink(missing_ok=True)
    return deb


# ------------------------------------------------------------------ bzImage -> vmlinux


def _inflate(kind: str, data: bytes) -> bytes:
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if kind == "lzma":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)
    if kind == "gzip":  # one member; what follows it is not ours
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(data)
    tool = {"zstd": ["zstd", "-dc"], "lz4": ["lz4", "-dc"], "lzo": ["lzop", "-dc"]}[kind]
    if shutil.which(tool[0]) is None:
        raise BuildError(f"the kernel is {kind}-compressed and {tool[0]} is not installed")
    # The payload is followed by other data; the tools complain but write the kernel.
    return subprocess.run(tool, input=data, capture_output=True, timeout=300).stdout


#: Compression formats of a bzImage payload, by their leading bytes.
_MAGICS = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x5d\x00\x00", "lzma"),
    (b"BZh", "bzip2"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x89LZO", "lzo"),
)


def _payload_offset(vmlinuz: bytes) -> int | None:
    """Where the compressed kernel starts, from the x86 boot protocol's setup header
    (2.08+: payload_offset is relative to the protected-mode code)."""
    if len(vmlinuz) < 0x250 or vmlinuz[0x202:0x206] != b"HdrS":
        return None
    if struct.unpack_from("<H", vmlinuz, 0x206)[0] < 0x208:
        return None
    setup_sects = vmlinuz[0x1F1] or 4
    offset = struct.unpack_from("<I", vmlinuz, 0x248)[0]
    start = (setup_sects + 1) * 512 + offset
    return start if start < len(vmlinuz) else None


def extract_vmlinux(vmlinuz: bytes) -> bytes:
    """The ELF kernel inside a bzImage: locate the compressed payload (through the
    setup header, else by scanning for a compression magic), inflate it and check
    that it is an ELF."""
    candidates: list[tuple[int, str]] = []
    start = _payload_offset(vmlinuz)
    if start is not None:
        candidates += [(start, kind) for magic, kind in _MAGICS
                       if vmlinuz.startswith(magic, start)]
    for magic, kind in _MAGICS:
        at = vmlinuz.find(magic)
        while at >= 0 and len(candidates) < 64:
            candidates.append((at, kind))
            at = vmlinuz.find(magic, at + 1)
    tried: set[tuple[int, str]] = set()
    for at, kind in candidates:
        if (at, kind) in tried:
            continue
        tried.add((at, kind))
        try:
            out = _inflate(kind, vmlinuz[at:])
        except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError):
            continue
        if out[:4] == b"\x7fELF":
            return out
    raise BuildError("no ELF kernel found inside the bzImage (unknown compression)")


# ----------------------------------------------------------------------- kernel modules


def modinfo(ko: bytes) -> dict[str, list[str]]:
    """The `.modinfo` section of an ELF64 kernel module: key -> values."""
    if ko[:4] != b"\x7fELF" or ko[4] != 2:
        raise BuildError("not an ELF64 kernel module")
    shoff, = struct.unpack_from("<Q", ko, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, off, size = struct.unpack_from(
            "<IIQQQQ", ko, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = section(shstrndx)
    info: dict[str, list[str]] = {}
    for i in range(shnum):
        name, off, size = section(i)
        end = ko.index(b"\0", stroff + name)
        if ko[stroff + name:end] != b".modinfo":
            continue
        for item in ko[off:off + size].split(b"\0"):
            key, sep, value = item.decode(errors="replace").partition("=")
            if sep:
                info.setdefault(key, []).append(value)
    return info


def module_load_order(tree: Path, wanted: tuple[str, ...] = MODULES
                      ) -> list[tuple[str, Path]]:
    """(module name, .ko file) for `wanted` and everything they depend on, each after
    its dependencies. `tree` is lib/modules/<release>/kernel of the extracted package."""
    files = {ko.name[:-3].replace("-", "_"): ko for ko in tree.rglob("*.ko")}
    order: list[tuple[str, Path]] = []
    done: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in chain:
            raise BuildError(f"module dependency loop: {' -> '.join(chain + (name,))}")
        if name not in files:
            raise BuildError(f"the kernel package has no module {name}"
                             + (f" (needed by {chain[-1]})" if chain else ""))
        deps = modinfo(files[name].read_bytes()).get("depends", [""])[0]
        for dep in filter(None, deps.split(",")):
            visit(dep.replace("-", "_"), chain + (name,))
        done.add(name)
        order.append((name, files[name]))

    for name in wanted:
        visit(name, ())
    return order


# ------------------------------------------------------------------------ cpio (newc)


S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000


@dataclass
class Entry:
    """One member of a newc archive. `data` is a symlink's target for links."""
    path: str
    mode: int  # file type | permissions
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def newc(entries: list[Entry]) -> bytes:
    """A cpio archive in the kernel's newc format (root-owned, mtime 0)."""
    out = io.BytesIO()

    def put(ino: int, path: str, mode: int, data: bytes, rdev: tuple[int, int]) -> None:
        name = path.encode() + b"\0"
        nlink = 2 if mode & 0o170000 == S_IFDIR else 1
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name), 0)
        out.write(b"070701" + "".join(f"{v:08x}" for v in fields).encode() + name)
        out.write(b"\0" * (-out.tell() % 4))
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))

    for ino, e in enumerate(entries, start=1):
        put(ino, e.path, e.mode, e.data, e.rdev)
    put(0, "TRAILER!!!", 0, b"", (0, 0))
    return out.getvalue()


def is_static_elf(binary: bytes) -> bool:
    """True for an ELF64 executable without a program interpreter (PT_INTERP)."""
    if binary[:4] != b"\x7fELF" or binary[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", binary, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", binary, 0x36)
    return all(struct.unpack_from("<I", binary, phoff + i * phentsize)[0] != 3
               for i in range(phnum))


def _userland() -> list[Entry]:
    """busybox, the device nodes the kernel needs before /init runs, our scripts."""
    if not BUSYBOX.exists():
        raise BuildError(f"{BUSYBOX} is missing: install the busybox-static package")
    busybox = BUSYBOX.read_bytes()
    if not is_static_elf(busybox):
        raise BuildError(f"{BUSYBOX} is not a static binary: install busybox-static")
    dirs = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "lib", "lib/modules", "dev",
            "proc", "sys", "run", "mnt", "root", "var", "var/www")
    entries = [Entry(d, S_IFDIR | 0o755) for d in dirs]
    entries += [
        Entry("tmp", S_IFDIR | 0o1777),
        Entry("dev/console", S_IFCHR | 0o600, rdev=(5, 1)),
        Entry("dev/null", S_IFCHR | 0o666, rdev=(1, 3)),
        Entry("bin/busybox", S_IFREG | 0o755, busybox),
        Entry("bin/sh", S_IFLNK | 0o777, b"busybox"),
    ]
    entries += [Entry(dst, S_IFREG | 0o755, (GUEST / src).read_bytes())
                for src, dst in GUEST_FILES]
    return entries


# -------------------------------------------------------------------------- disk image


def _chs(lba: int) -> bytes:
    """CHS address for an MBR entry (255 heads, 63 sectors; capped at cylinder 1023)."""
    cyl, rest = divmod(lba, 255 * 63)
    if cyl > 1023:
        return b"\xfe\xff\xff"
    head, sector = divmod(rest, 63)
    return bytes((head, ((cyl >> 2) & 0xC0) | (sector + 1), cyl & 0xFF))


def mbr(boot_code: bytes, start: int, sectors: int, ptype: int, signature: int) -> bytes:
    """A 512-byte MBR: boot code, disk signature, one active partition."""
    entry = struct.pack("<B3sB3sII", 0x80, _chs(start), ptype, _chs(start + sectors - 1),
                        start, sectors)
    head = boot_code[:440].ljust(440, b"\0") + struct.pack("<IH", signature, 0)
    return head + entry + b"\0" * 48 + b"\x55\xaa"


def _bootable_disk(work: Path, signature: int) -> Path:
    """disk.qcow2: MBR (syslinux's mbr.bin) + one active FAT16 partition at 1 MiB that
    holds syslinux, Debian's bzImage and our initrd. Firmware boots it like any disk."""
    for tool, package in (("mkfs.vfat", "dosfstools"), ("mcopy", "mtools"),
                          ("syslinux", "syslinux"), ("qemu-img", "qemu-utils")):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is missing: install {package} (scripts/install-host.sh)")
    if not MBR_BIN.exists():
        raise BuildError(f"{MBR_BIN} is missing: install syslinux-common")
    fat = work / "fat.img"
    _run(["mkfs.vfat", "-C", "-F", "16", "-n", "OVERCAST", "-h", str(PART_START),
          "-i", f"{signature:08x}", str(fat), str(FAT_KIB)])
    _run(["syslinux", "--install", str(fat)])
    (work / "syslinux.cfg").write_text(SYSLINUX_CFG)
    for name in ("syslinux.cfg", "vmlinuz", "initrd.gz"):
        _run(["mcopy", "-o", "-i", str(fat), str(work / name), f"::/{name}"])
    raw = work / "disk.raw"
    with open(raw, "wb") as out, open(fat, "rb") as src:
        out.write(mbr(MBR_BIN.read_bytes(), PART_START, FAT_KIB * 2, 0x0E, signature))
        out.seek(PART_START * 512)
        shutil.copyfileobj(src, out, 1 << 20)
    disk = work / "disk.qcow2"
    _run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(disk)])
    for name in ("fat.img", "disk.raw", "syslinux.cfg"):
        (work / name).unlink()
    return disk


def _machine_image(work: Path) -> None:
    """rootfs.img: the `ami` of the AMI triple (the guest itself runs from its ramdisk)."""
    seed = work / "seed"
    seed.mkdir()
    (seed / "README").write_text("overcast-tiny: the guest runs from its ramdisk.\n")
    img = work / "rootfs.img"
    with open(img, "wb") as fh:
        fh.truncate(8 << 20)
    _run(["mkfs.ext4", "-q", "-F", "-L", "overcast-root", "-d", str(seed), str(img)])
    shutil.rmtree(seed)


def _oci_tarball(work: Path, entries: list[Entry]) -> None:
    """rootfs.tar: the busybox userland and /init (no modules, no device nodes: a
    container shares the host's kernel and gets its /dev from the runtime)."""
    with tarfile.open(work / "rootfs.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            kind = e.mode & 0o170000
            if kind == S_IFCHR or e.path.endswith(".ko"):
                continue
            info = tarfile.TarInfo(e.path)
            info.mode, info.mtime = e.mode & 0o7777, 0
            if kind == S_IFDIR:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == S_IFLNK:
                info.type, info.linkname = tarfile.SYMTYPE, e.data.decode()
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))


# ------------------------------------------------------------------------------ build


def _inputs_digest() -> str:
    """What the build depends on besides the kernel package."""
    h = hashlib.sha256(f"format {BUILD_FORMAT}\n{MODULES}\n{SYSLINUX_CFG}".encode())
    for src, dst in GUEST_FILES:
        h.update(f"{src}:{dst}\0".encode() + (GUEST / src).read_bytes())
    h.update(Path(__file__).read_bytes())
    if BUSYBOX.exists():
        st = BUSYBOX.stat()
        h.update(f"busybox {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _build_dir(cache_dir: Path, pkg: KernelPackage) -> Path:
    version = re.sub(r"[^A-Za-z0-9.+-]", "_", pkg.version)
    return cache_dir / f"{pkg.release}_{version}-{_inputs_digest()}"


def _built(out: Path) -> BuiltImage | None:
    """The build in `out` if it is complete (built.json is written last)."""
    try:
        release = str(json.loads((out / "built.json").read_text())["kernel_version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    image = BuiltImage(out / "vmlinux", out / "initrd.gz", out / "disk.qcow2", release)
    if all(p.exists() for p in (image.kernel, image.ramdisk, image.disk)):
        return image
    return None


def _remembered(cache_dir: Path) -> tuple[KernelPackage, float] | None:
    try:
        info = json.loads((cache_dir / "kernel.json").read_text())
        return KernelPackage(info["package"], info["version"]), float(info["resolved_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember(cache_dir: Path, pkg: KernelPackage) -> None:
    tmp = cache_dir / f".kernel.json.{os.getpid()}"
    tmp.write_text(json.dumps({"package": pkg.name, "version": pkg.version,
                               "resolved_at": time.time()}))
    os.replace(tmp, cache_dir / "kernel.json")


def build_test_image(cache_dir: Path, progress: Progress | None = None, *,
                     force: bool = False) -> BuiltImage:
    """Build overcast-tiny into `cache_dir` (`Settings.guest_cache_dir`), or return
    the cached build. `progress(step, fraction)` is told what is going on; `force`
    asks apt again and rebuilds even when the cache has the build."""
    cache_dir = Path(cache_dir)
    say: Progress = progress or (lambda _step, _fraction: None)
    cache_dir.mkdir(parents=True, exist_ok=True)

    remembered = _remembered(cache_dir)
    if not force and remembered and time.time() - remembered[1] < RESOLVE_TTL:
        image = _built(_build_dir(cache_dir, remembered[0]))
        if image is not None:
            say("cached", 1.0)
            return image

    say("asking apt for the newest 6.1 kernel", 0.02)
    try:
        pkg = resolve_kernel_package()
    except BuildError:
        # Offline, or apt's lists are gone: a build we already have is good enough.
        if remembered and not force and (image := _built(_build_dir(cache_dir,
                                                                    remembered[0]))):
            say("cached (apt unavailable)", 1.0)
            return image
        raise
    _remember(cache_dir, pkg)
    out = _build_dir(cache_dir, pkg)
    if not force and (image := _built(out)) is not None:
        say("cached", 1.0)
        return image

    with _locked(cache_dir):
        if not force and (image := _built(out)) is not None:  # built while we waited
            say("cached", 1.0)
            return image
        image = _build(cache_dir, pkg, out, say)
    say("built", 1.0)
    return image


def _build(cache_dir: Path, pkg: KernelPackage, out: Path, say: Progress) -> BuiltImage:
    for stale in [*cache_dir.glob(".build-*"), *cache_dir.glob("debs/.download-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by a crashed build
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        debs = cache_dir / "debs"
        if not (debs / _deb_name(pkg)).exists():
            say(f"downloading {pkg.name} {pkg.version}", 0.05)
        deb = fetch_kernel_deb(pkg, debs)

        say("unpacking the kernel package", 0.25)
        tree = work / "pkg"
        _run(["dpkg-deb", "-x", str(deb), str(tree)])
        vmlinuz = tree / "boot" / f"vmlinuz-{pkg.release}"
        modules_dir = tree / "lib" / "modules" / pkg.release / "kernel"
        if not vmlinuz.exists() or not modules_dir.is_dir():
            raise BuildError(f"{deb.name} has no boot/vmlinuz-{pkg.release} or modules")
        shutil.copyfile(vmlinuz, work / "vmlinuz")

        say("uncompressing vmlinux (for a PVH boot)", 0.45)
        _write(work / "vmlinux", extract_vmlinux((work / "vmlinuz").read_bytes()))

        say("assembling the ramdisk", 0.65)
        order = module_load_order(modules_dir)
        entries = _userland()
        entries += [Entry(f"lib/modules/{name}.ko", S_IFREG | 0o644, ko.read_bytes())
                    for name, ko in order]
        entries.append(Entry("lib/modules/order", S_IFREG | 0o644,
                             "".join(f"{name}\n" for name, _ in order).encode()))
        _write(work / "initrd.gz", gzip.compress(newc(entries), compresslevel=6, mtime=0))
        shutil.rmtree(tree)

        say("making the bootable disk (MBR + syslinux)", 0.75)
        signature = int(hashlib.sha256(out.name.encode()).hexdigest()[:8], 16)
        _bootable_disk(work, signature)

        say("making the machine image and the container root file system", 0.9)
        _machine_image(work)
        _oci_tarball(work, entries)

        (work / "built.json").write_text(json.dumps({
            "package": pkg.name, "package_version": pkg.version,
            "kernel_version": pkg.release, "deb": deb.name,
            "modules": [name for name, _ in order], "built_at": time.time()}, indent=1))
        say("saving to the cache", 0.97)
        _fsync_tree(work)
        os.chmod(work, 0o755)
        if out.exists():  # a forced rebuild replaces the old one
            shutil.rmtree(out)
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    for old in cache_dir.iterdir():  # builds of other kernels or older guest scripts
        if old.is_dir() and old != out and old.name[:1].isdigit():
            shutil.rmtree(old, ignore_errors=True)
    image = _built(out)
    assert image is not None
    return image


# ------------------------------------------------------------------------ registering

#: Names the built images are registered under.
KERNEL_NAME, RAMDISK_NAME, MACHINE_NAME = ("overcast-tiny-kernel", "overcast-tiny-ramdisk",
                                           "overcast-tiny")
DISK_NAME, OCI_NAME = "overcast-tiny-disk", "overcast-tiny-oci"


def register_test_images(images: Any, built: BuiltImage,
                         progress: Progress | None = None) -> str:
    """Register (or find, when already there with the same bytes) the AMI triple and
    the disk and container variants in the image service; returns the machine
    image's id."""
    from overcast.kit.context import RequestContext

    say = progress or (lambda _msg, _frac: None)
    ctx = RequestContext(internal=True, roles=["admin"], project_id=None)

    def ensure(name: str, path: Path, fmt: str, props: dict[str, Any],
               container: str | None = None) -> str:
        md5 = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as fh:
            while chunk := fh.read(4 << 20):
                md5.update(chunk)
        found, _ = images.list_images(ctx, [("name", name)], limit=100, marker=None)
        for img in found:
            if img["status"] == "active" and img["checksum"] == md5.hexdigest():
                return str(img["id"])
        created = images.create(ctx, {"name": name, "disk_format": fmt,
                                      "container_format": container or fmt,
                                      "visibility": "public", **props})
        images.import_file(created["id"], path, fmt)
        for img in found:  # older builds of the same image step aside
            if img["status"] != "active" or img["checksum"] != md5.hexdigest():
                images.discard(img["id"])
        return str(created["id"])

    say("registering the kernel", 0.3)
    kernel = ensure(KERNEL_NAME, built.kernel, "aki", {})
    say("registering the ramdisk", 0.6)
    ramdisk = ensure(RAMDISK_NAME, built.ramdisk, "ari", {})
    say("registering the machine image", 0.8)
    machine = ensure(MACHINE_NAME, built.rootfs, "ami", {
        "kernel_id": kernel, "ramdisk_id": ramdisk, "os_distro": "overcast-tiny",
        "os_type": "linux", "architecture": "x86_64", "min_ram": 64,
        "os_kernel_version": built.kernel_version})
    say("registering the bootable disk", 0.9)
    common = {"os_distro": "overcast-tiny", "os_type": "linux", "architecture": "x86_64"}
    if built.disk.exists():
        ensure(DISK_NAME, built.disk, "qcow2", {**common, "min_ram": 64}, "bare")
    if built.oci.exists():
        ensure(OCI_NAME, built.oci, "raw", {**common, "hypervisor_type": "container"},
               "docker")
    say("registered", 1.0)
    return machine
