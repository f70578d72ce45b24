"""Container images to root file systems: the container driver's read-only lower layers.

Two kinds of image bytes are understood:

* a root file system tarball (the built-in `overcast-tiny-oci`, `docker export`
  output, and this driver's own snapshots); what it runs is `/init`, else
  `/sbin/init`;
* a `docker save` archive: `manifest.json` naming a config and layer tarballs
  (plain or compressed), applied in order with their whiteouts (`.wh.<name>`
  removes a lower entry, `.wh..wh..opq` hides a directory's lower contents); what it
  runs comes from the config (Entrypoint + Cmd, Env, WorkingDir, User).

An image is tenant data, so the unpacking runs in a child process that first
chroots into the target directory: an absolute symlink, a `..` or a link through a
link then resolves inside the image, never on the host. Device nodes are skipped
(the runtime gives a container its /dev). The child prints what to run as JSON.

    python -m overcast.agent.virt.oci_image IMAGE.tar ROOTFS_DIR
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
from pathlib import Path
from typing import IO, Any

#: A line overcast-tiny's /init (image/guest/init.sh) prints; it marks that guest.
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageError(Exception):
    """The bytes are no container image this driver can run."""


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _clean(name: str) -> str:
    """An archive path as a path relative to the root ('' for the root itself)."""
    return os.path.normpath("/" + name).lstrip("/")


def apply_layer(layer: tarfile.TarFile) -> None:
    """Extract one layer onto '/' (the caller has chrooted into the root file system),
    replacing what lower layers put there and honouring whiteouts."""
    created: set[str] = set()
    for member in layer:
        name = _clean(member.name)
        if not name:
            continue
        parent, base = os.path.split(name)
        if base == ".wh..wh..opq":
            # Opaque directory: lower layers' entries vanish, this layer's stay.
            where = "/" + parent
            if os.path.isdir(where) and not os.path.islink(where):
                for entry in os.listdir(where):
                    if os.path.join(parent, entry) not in created:
                        _remove(os.path.join(where, entry))
            continue
        if base.startswith(".wh."):
            _remove("/" + os.path.join(parent, base[4:]))
            continue
        if member.ischr() or member.isblk():
            continue
        target = "/" + name
        keep_dir = member.isdir() and os.path.isdir(target) and not os.path.islink(target)
        if os.path.lexists(target) and not keep_dir:
            _remove(target)
        member.name = name
        if member.islnk():
            member.linkname = _clean(member.linkname)
        layer.extract(member, "/", set_attrs=True, numeric_owner=True,
                      filter="fully_trusted")
        created.add(name)


def _ids(user: str) -> dict[str, int]:
    """An image's User ("name", "uid", "uid:gid", "name:group") as numeric ids, read
    from the image's own /etc/passwd and /etc/group (we are chrooted into it)."""
    if not user:
        return {"uid": 0, "gid": 0}
    name, _, group = user.partition(":")

    def lookup(path: str, key: str) -> tuple[int, int] | None:
        try:
            with open(path) as fh:
                for line in fh:
                    parts = line.strip().split(":")
                    if len(parts) >= 4 and parts[0] == key:
                        return int(parts[2]), int(parts[3])
        except (OSError, ValueError):
            return None
        return None

    if name.isdigit():
        uid, gid = int(name), int(name)
    else:
        found = lookup("/etc/passwd", name)
        if found is None:
            raise ImageError(f"the image's user {name!r} is not in its /etc/passwd")
        uid, gid = found
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = lookup("/etc/group", group)
            if g is None:
                raise ImageError(f"the image's group {group!r} is not in its /etc/group")
            gid = g[0]
    return {"uid": uid, "gid": gid}


def _default_init() -> list[str]:
    for candidate in ("/init", "/sbin/init"):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return [candidate]
    raise ImageError("the root file system has no /init or /sbin/init to run")


def _layers(outer: tarfile.TarFile) -> tuple[list[IO[bytes]], dict[str, Any]] | None:
    """The layer streams and the image config of a `docker save` archive, or None
    when the archive is a plain root file system."""
    def read(name: str) -> IO[bytes]:
        f = outer.extractfile(_clean(name))
        if f is None:
            raise ImageError(f"{name} is not a file in the image archive")
        return f

    try:
        manifest = json.load(read("manifest.json"))
    except (KeyError, ValueError, ImageError):
        return None
    if not (isinstance(manifest, list) and manifest and isinstance(manifest[0], dict)
            and "Layers" in manifest[0]):
        return None  # a root file system that happens to hold /manifest.json
    try:
        entry = manifest[0]
        config = json.load(read(entry["Config"])) if entry.get("Config") else {}
        return [read(layer) for layer in entry["Layers"]], config
    except (KeyError, TypeError, ValueError) as exc:
        raise ImageError(f"manifest.json of the image archive is not usable: {exc}")


def unpack(src: Path, rootfs: Path) -> dict[str, Any]:
    """Unpack the image file `src` into the empty directory `rootfs`; return what to
    run: {"format", "args", "env", "cwd", "user": {"uid", "gid"}}.

    Chroots this process into `rootfs`: call it in a child process (main())."""
    try:
        with tarfile.open(src, "r:*") as outer:
            return _unpack(outer, rootfs)
    except (tarfile.TarError, OSError) as exc:
        raise ImageError(f"the image cannot be unpacked: {exc}")


def _unpack(outer: tarfile.TarFile, rootfs: Path) -> dict[str, Any]:
    found = _layers(outer)
    docker = found is not None
    layers, config = found if found is not None else ([], {})
    os.chroot(rootfs)
    os.chdir("/")
    os.umask(0o022)  # for parent directories the archive does not list
    if docker:
        for stream in layers:
            with tarfile.open(fileobj=stream, mode="r:*") as layer:
                apply_layer(layer)
    else:
        apply_layer(outer)
    cfg = (config.get("config") or config.get("Config") or {}) if docker else {}
    args = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    env = list(cfg.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    return {"format": "docker-save" if docker else "rootfs",
            "args": args or _default_init(), "env": env,
            "cwd": cfg.get("WorkingDir") or "/", "user": _ids(str(cfg.get("User") or ""))}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m overcast.agent.virt.oci_image IMAGE ROOTFS", file=sys.stderr)
        return 2
    try:
        result = unpack(Path(argv[0]), Path(argv[1]))
    except ImageError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
