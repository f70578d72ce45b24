"""The one place host commands run (ip, qemu-img, qemu, dnsmasq, iptables, crun).

Every command is logged (argv only, never stdin), its exit code checked, and a
failure raised as `CommandError` carrying stderr, so callers never parse
`subprocess` results by hand.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger("overcast.runner")


class CommandError(RuntimeError):
    """A host command exited non-zero (or could not start)."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"command {' '.join(self.argv)!r} failed with exit code {returncode}: "
            f"{stderr.strip()[:2000]}"
        )


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | bytes | None = None,
    timeout: float | None = 120,
    netns: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Result:
    """Run a host command and return its output; raise CommandError on failure.

    `netns` runs the command inside a named network namespace (`ip netns exec`).
    """
    cmd = [str(a) for a in argv]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    log.debug("run: %s", " ".join(cmd))
    binary = isinstance(input, bytes)
    try:
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=not binary,
            timeout=timeout,
            env=env,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise CommandError(cmd, 127, "", f"{cmd[0]}: not found ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(cmd, -1, "", f"timed out after {timeout}s") from exc
    out = proc.stdout if isinstance(proc.stdout, str) else proc.stdout.decode(errors="replace")
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
    if check and proc.returncode != 0:
        raise CommandError(cmd, proc.returncode, out, err)
    return Result(cmd, proc.returncode, out, err)


def which(name: str) -> str | None:
    """Where a binary lives, also looking in the sbin directories root uses."""
    return shutil.which(name) or shutil.which(
        name, path="/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
    )
