"""`overcast doctor`: what this host offers and what overcast needs from it."""

from __future__ import annotations

import importlib
import os

from rich.console import Console
from rich.table import Table

from overcast.config import Settings
from overcast.kit.runner import which

#: (binary, Debian package, what needs it)
REQUIREMENTS = [
    ("ip", "iproute2", "networking: namespaces, bridges, veth, tap"),
    ("iptables", "iptables", "networking: security groups, NAT"),
    ("ebtables-restore", "iptables", "networking: ARP anti-spoofing"),
    ("dnsmasq", "dnsmasq-base", "networking: DHCP"),
    ("qemu-system-x86_64", "qemu-system-x86", "QEMU driver"),
    ("qemu-img", "qemu-utils", "QEMU driver and images"),
    ("genisoimage", "genisoimage", "QEMU driver: config drives"),
    ("dhcp_release", "dnsmasq-utils", "networking: giving a deleted port's lease back"),
    ("radvd", "radvd", "networking: IPv6 router advertisements"),
    ("crun", "crun", "container driver"),
    ("runc", "runc", "container driver (fallback)"),
    ("busybox", "busybox-static", "guest image build"),
]


def run_checks(settings: Settings, console: Console) -> bool:
    table = Table(title="overcast doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    ok = True
    table.add_row("root", "ok" if os.geteuid() == 0 else "missing",
                  "needed for namespaces, taps and cgroups")
    for binary, package, purpose in REQUIREMENTS:
        path = which(binary)
        if path:
            table.add_row(binary, "ok", path)
        else:
            ok = False
            table.add_row(binary, "[red]missing[/red]",
                          f"{purpose}: apt-get install {package}")
    tun = os.path.exists("/dev/net/tun")
    table.add_row("/dev/net/tun", "ok" if tun else "[red]missing[/red]", "taps for QEMU")
    for name in ("qemu", "container"):
        try:
            module = importlib.import_module(f"overcast.agent.virt.{name}")
        except ImportError as exc:
            table.add_row(f"{name} driver", "[red]missing[/red]", str(exc))
            continue
        why = module.available()
        table.add_row(f"{name} driver", "ok" if why is None else "[yellow]unavailable[/yellow]",
                      why or _driver_detail(module))
    console.print(table)
    return ok


def _driver_detail(module: object) -> str:
    """What the driver chose here and why (the QEMU accelerator, the OCI runtime)."""
    describe = getattr(module, "describe", None)
    try:
        return str(describe()) if callable(describe) else "usable"
    except Exception as exc:  # noqa: BLE001 - a doctor reports, never fails
        return f"usable; probe failed: {exc}"
