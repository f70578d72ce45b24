"""The OCI runtime the container driver runs its containers with (crun or runc):
which one is installed and really creates a container on this host, and how it is
invoked (its stdio on the instance's console, in a session of its own, with the
cgroup2 mounts that make crun refuse a hybrid-cgroups host hidden: HOST_FACTS §1)."""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import tempfile
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

from overcast.kit.runner import CommandError, run, which

RUNTIMES = ("crun", "runc")
#: names of the container, its netns and its cgroup: ovct-<uuid>
PREFIX = "ovct-"


@dataclass(frozen=True)
class Runtime:
    name: str  # crun | runc
    binary: str
    #: cgroup2 mounts hidden from it while it creates a container (crun, hybrid hosts)
    hide: tuple[str, ...] = ()

    def describe(self) -> str:
        extra = f" (creates with {', '.join(self.hide)} hidden: hybrid cgroups)" \
            if self.hide else ""
        return f"{self.name} at {self.binary}{extra}"

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def launch_argv(self, console: Path, *args: str) -> list[str]:
        """The runtime with `args` (a `create`), its stdio (and so the container's)
        on the console file, in a new session (a signal to the agent's process group
        never reaches a guest) and with the cgroup2 mounts hidden when needed."""
        hide = "".join(f"umount {shlex.quote(m)} 2>/dev/null; " for m in self.hide)
        argv = ["setsid", "--wait", "sh", "-c", hide + 'exec "$@" </dev/null >>"$0" 2>&1',
                str(console), self.binary, *args]
        return ["unshare", "--mount", "--propagation", "private", *argv] if self.hide \
            else argv


def _hidden_cgroup2_mounts() -> tuple[str, ...]:
    """cgroup2 mounts that make crun refuse a hybrid host: with cgroup v1 hierarchies
    mounted, any cgroup2 mount that holds a controller."""
    v1, v2 = False, []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return ()
    for line in lines:
        fields = line.split()
        if "-" not in fields:
            continue
        fstype = fields[fields.index("-") + 1]
        if fstype == "cgroup":
            v1 = True
        elif fstype == "cgroup2":
            v2.append(fields[4])
    if not v1:
        return ()
    hide = []
    for mnt in v2:
        with contextlib.suppress(OSError):
            if (Path(mnt) / "cgroup.controllers").read_text().strip():
                hide.append(mnt)
    return tuple(hide)


def runtime_named(name: str) -> Runtime | None:
    binary = which(name)
    if binary is None:
        return None
    return Runtime(name, binary, _hidden_cgroup2_mounts() if name == "crun" else ())


def probe_runtime(scratch: Path, names: tuple[str, ...] = RUNTIMES
                  ) -> tuple[Runtime | None, list[str]]:
    """The first of `names` that really creates a container here (namespaces, mounts
    and a cgroup with a memory limit; the process is never started), with the reason
    each one before it failed."""
    notes: list[str] = []
    for name in names:
        rt = runtime_named(name)
        if rt is None:
            notes.append(f"{name}: not installed")
            continue
        bundle = Path(tempfile.mkdtemp(prefix=".probe-", dir=scratch))
        cid = f"{PREFIX}probe-{uuidlib.uuid4().hex[:12]}"
        try:
            for sub in ("proc", "dev"):
                (bundle / "rootfs" / sub).mkdir(parents=True)
            (bundle / "rootfs" / "probe").touch(mode=0o755)
            (bundle / "config.json").write_text(json.dumps({
                "ociVersion": "1.0.2",
                "process": {"args": ["/probe"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                            "terminal": False},
                "root": {"path": "rootfs", "readonly": True},
                "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
                "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"},
                                         {"type": "network"}],
                          "cgroupsPath": f"/{cid}",
                          "resources": {"memory": {"limit": 64 << 20}}}}))
            # The created container's process holds the runtime's stdio: not our pipes.
            hide = "".join(f"umount {shlex.quote(m)} 2>/dev/null; " for m in rt.hide)
            errors = bundle / "runtime.log"
            argv = ["sh", "-c", hide + 'exec "$@" </dev/null >/dev/null 2>&1', "sh",
                    *rt.argv("--log", str(errors), "create", "--bundle", str(bundle), cid)]
            if rt.hide:
                argv = ["unshare", "--mount", "--propagation", "private", *argv]
            r = run(argv, check=False, timeout=30)
            if r.returncode == 0:
                return rt, notes
            why = errors.read_text().strip() if errors.exists() else f"rc {r.returncode}"
            notes.append(f"{name}: {why[-300:]}")
        except (OSError, CommandError) as exc:
            notes.append(f"{name}: {exc}")
        finally:
            with contextlib.suppress(CommandError):
                run(rt.argv("delete", "--force", cid), check=False, timeout=30)
            shutil.rmtree(bundle, ignore_errors=True)
    return None, notes
