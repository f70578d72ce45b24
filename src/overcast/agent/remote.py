"""A compute host apart from the control plane (`overcast agent --driver qemu|...`).

The host runs the real drivers and its own Linux dataplane: a bridge per network
its instances use, VXLAN tunnels from its `tunnel_ip` to the other hosts' (the
network service tells each host where the others' tunnels end), and the instances'
ports. DHCP, routers, floating IPs, the upstream and the metadata proxy live on the
network host (the control plane's `overcast up`): a guest here reaches them
through its network's tunnel, so the metadata service answers on every host
without a proxy per host (the DHCP server's host route to 169.254.169.254 points
at the network host's DHCP namespace, which serves it).

The control plane's files are never read: images come over HTTP from the image
API and snapshots go back the same way (cloud_client.CloudClient, with the
service user's credential); console logs and everything else go over the bus.

Each real driver is its own compute host, as in the all-in-one cloud: HOST for
QEMU and HOST-ct for containers (the scheduler sends OCI images to the container
host).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overcast.agent.cloud_client import CREDENTIAL_FILE, CloudClient, load_credential
from overcast.agent.host import Agent
from overcast.agent.virt.base import DriverEnv
from overcast.bus import Bus

log = logging.getLogger("overcast.agent.remote")

REAL = ("qemu", "container")


@dataclass
class RemoteHost:
    """What `overcast agent` runs with a real driver."""

    host: str
    drivers: list[str]
    data_dir: Path
    public_url: str
    tunnel_ip: str = ""
    #: the dataplane's prefix (namespaces and devices); unique per host on a machine
    net_prefix: str = ""
    credential_file: Path | None = None
    heartbeat_interval: float = 10.0
    #: QEMU's accelerator: None probes (KVM when a test guest runs under it), or
    #: "kvm"/"tcg" as configured
    qemu_accel: str | None = None


def real_drivers(setting: str) -> list[str]:
    """`qemu`, `container`, `real` (both) or a comma-separated list of them."""
    names: list[str] = []
    for part in setting.replace(" ", "").split(","):
        for n in (REAL if part == "real" else (part,)):
            if n and n not in names:
                names.append(n)
    bad = [n for n in names if n not in REAL]
    if bad or not names:
        raise ValueError(f"unknown driver {', '.join(bad) or setting!r}: use fake, qemu, "
                         "container or real")
    return names


def unavailable(name: str) -> str | None:
    module = importlib.import_module(f"overcast.agent.virt.{name}")
    return module.available()  # type: ignore[no-any-return]


async def start_remote_host(cfg: RemoteHost, bus: Bus,
                            say: Callable[[str], None] = lambda _m: None
                            ) -> tuple[list[Agent], CloudClient]:
    """Authenticate, build the dataplane and the drivers, start the agents."""
    from overcast.agent.net.component import NetworkAgent
    from overcast.agent.net.linux import LinuxDataplane

    for name in cfg.drivers:
        why = unavailable(name)
        if why:
            raise RuntimeError(f"the {name} driver cannot run here: {why}")
    cred_path = cfg.credential_file or cfg.data_dir / CREDENTIAL_FILE
    client = CloudClient(cfg.public_url, load_credential(cred_path),
                         cfg.data_dir / "image-cache")
    try:
        await client.token()  # a wrong credential or URL is said now, not at a boot
    except BaseException:
        await client.close()
        raise
    say(f"authenticated to {client.auth_url} as the service user")
    plane = LinuxDataplane(cfg.net_prefix or "ochst", cfg.data_dir / "net")
    hosts = [cfg.host if n == cfg.drivers[0] else f"{cfg.host}-ct" for n in cfg.drivers]
    agents: list[Agent] = []
    for i, (name, host) in enumerate(zip(cfg.drivers, hosts, strict=True)):
        env = DriverEnv(state_dir=cfg.data_dir / "instances" / name,
                        image_path=client.image_path, plugger=plane,
                        migration_address=cfg.tunnel_ip or "127.0.0.1")
        env.state_dir.mkdir(parents=True, exist_ok=True)
        driver: Any
        if name == "qemu":
            from overcast.agent.virt.qemu import QemuDriver

            driver = QemuDriver(host, env, accel=cfg.qemu_accel)
        else:
            from overcast.agent.virt.container import ContainerDriver

            driver = ContainerDriver(host, env)
        components: list[Any] = []
        if i == 0:
            components.append(NetworkAgent(plane, network_host=False, also=hosts[1:],
                                           tunnel_ip=cfg.tunnel_ip))
        agents.append(Agent(host, driver, bus, components=components,
                            heartbeat_interval=cfg.heartbeat_interval,
                            upload_snapshot=client.upload_snapshot,
                            scratch_dir=cfg.data_dir / "snapshots",
                            host_ip=cfg.tunnel_ip))
    for agent in agents:
        await agent.start()
    return agents, client


async def stop_remote_host(agents: list[Agent], client: CloudClient) -> None:
    for agent in agents:
        await agent.stop()
    await client.close()

