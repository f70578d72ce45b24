"""The all-in-one cloud's own agents: `overcast up` runs the host agent in-process.

`agent_driver` names the drivers, comma-separated: `fake` (with `fake_hosts` it
simulates many hosts), `qemu`, `container`, `real` (both real drivers), or `auto`
(the default: the real drivers this host can run when the Linux dataplane runs,
that is as root; else the fake one), or `none`: no compute host here, only the
network node (its dataplane: DHCP, routers, the upstream, the metadata proxy) for
compute hosts that are all remote (`overcast lab`). Each real driver is its own compute host (the
machine's name for QEMU, `<name>-ct` for containers), so the scheduler sends OCI
images to the container host and disk images to the QEMU host; one dataplane serves
both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from overcast.bus import Bus
from overcast.config import Settings

REAL = ("qemu", "container")


def driver_names(setting: str) -> list[str]:
    names = []
    for part in setting.replace(" ", "").split(","):
        if part == "real":
            names += [n for n in REAL if n not in names]
        elif part and part not in names:
            names.append(part)
    unknown = [n for n in names if n not in ("fake", *REAL)]
    if unknown or not names:
        raise RuntimeError(f"unknown virt driver {', '.join(unknown) or setting!r}: use fake, "
                           "qemu, container or real (qemu and container)")
    if "fake" in names and len(names) > 1:
        raise RuntimeError("the fake driver cannot be combined with real drivers")
    return names


def auto_drivers(plane_kind: str, data_dir: Path | None = None) -> list[str]:
    """`auto`: the real drivers this host can run when instances get real networks
    (the Linux dataplane), else the fake one; and in any case the real drivers whose
    guests are still on this host (a cloud started with the QEMU driver and started
    again without saying so must not come back with the fake one, which knows none
    of them and would report every guest lost)."""
    if plane_kind == "linux":
        wanted = list(REAL)
    else:
        wanted = [n for n in REAL if data_dir is not None and holds_guests(data_dir, n)]
    return [n for n in wanted if _unavailable(n) is None] or ["fake"]


def holds_guests(data_dir: Path, name: str) -> bool:
    """Whether the real driver `name` has instances in this cloud's data directory."""
    try:
        return any(p.is_dir() for p in (data_dir / "instances" / name / "instances").iterdir())
    except OSError:
        return False


def _unavailable(name: str) -> str | None:
    import importlib

    try:
        module = importlib.import_module(f"overcast.agent.virt.{name}")
    except ImportError:
        return "this version of overcast does not have that driver"
    return module.available()  # type: ignore[no-any-return]


async def start_local_agents(app: Any, settings: Settings, bus: Bus) -> list[Any]:
    from overcast.agent.host import Agent
    from overcast.agent.virt.base import DriverEnv
    from overcast.agent.virt.fake import FakeDriver

    base_host = socket.gethostname()
    plane_kind = settings.dataplane
    if plane_kind == "auto":
        plane_kind = "linux" if os.geteuid() == 0 and shutil.which("ip") else "none"
    if settings.agent_driver == "none":
        names = []
    elif settings.agent_driver == "auto":
        names = ["fake"] if settings.fake_hosts > 1 else \
            auto_drivers(plane_kind, settings.data_dir)
    else:
        names = driver_names(settings.agent_driver)
    plane = None
    if plane_kind == "linux":
        from overcast.agent.net.linux import LinuxDataplane

        plane = LinuxDataplane(settings.net_prefix, settings.data_dir / "net")
    agents: list[Any] = []
    if settings.agent_driver == "none":
        if plane is not None:
            agents.append(NetworkNode(base_host, bus, _net(plane, [], settings.tunnel_ip)))
    elif names == ["fake"]:
        count = max(1, settings.fake_hosts)
        hosts = [base_host if count == 1 else f"{base_host}-{i:03d}" for i in range(count)]
        for i, host in enumerate(hosts):
            state = "fake-hypervisor.json" if count == 1 else f"fake-hypervisor-{host}.json"
            driver: Any = FakeDriver(host, state_path=settings.data_dir / state,
                                     spawn_latency=settings.fake_spawn_latency)
            agents.append(Agent(host, driver, bus, components=_net(
                plane, [], settings.tunnel_ip) if i == 0 else []))
    else:
        images = app.state.images

        async def image_path(image_id: str) -> Path:
            return await asyncio.to_thread(images.local_file, image_id)

        hosts = [base_host if n == names[0] else f"{base_host}-ct" for n in names]
        for name in names:
            why = _unavailable(name)
            if why:
                raise RuntimeError(f"the {name} driver cannot run here: {why} "
                                   "(`overcast doctor` says more)")
        for i, (name, host) in enumerate(zip(names, hosts, strict=True)):
            env = DriverEnv(state_dir=settings.data_dir / "instances" / name,
                            image_path=image_path, plugger=plane)
            env.state_dir.mkdir(parents=True, exist_ok=True)
            if name == "qemu":
                from overcast.agent.virt.qemu import QemuDriver

                driver = QemuDriver(host, env)
            else:
                from overcast.agent.virt.container import ContainerDriver

                driver = ContainerDriver(host, env)
            agents.append(Agent(host, driver, bus, components=_net(
                plane, hosts[1:], settings.tunnel_ip) if i == 0 else []))
    for agent in agents:
        await agent.start()
    return agents


def _net(plane: Any, also: list[str], tunnel_ip: str = "") -> list[Any]:
    if plane is None:
        return []
    from overcast.agent.net.component import NetworkAgent

    return [NetworkAgent(plane, also=also, tunnel_ip=tunnel_ip)]


class NetworkNode:
    """The network node without a compute host: what the network component needs of
    an agent (its host name and the bus), started and stopped like one; it listens
    on the agent's topic for the network service's Resync (a port bound on another
    host needs a tunnel here) and converges periodically too. It sends no
    heartbeat: it is no compute service."""

    def __init__(self, host: str, bus: Bus, components: list[Any],
                 resync_interval: float = 60.0) -> None:
        self.host, self.bus, self.components = host, bus, components
        self.resync_interval = resync_interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.bus.subscribe(f"agent.{self.host}", self.handle)
        for c in self.components:
            await c.start(self)
        self._task = asyncio.create_task(self._periodic())

    async def handle(self, msg: Any) -> None:
        from overcast.bus.messages import Resync

        if isinstance(msg, Resync):
            for c in self.components:
                asyncio.create_task(c.reconcile())

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            for c in self.components:
                await c.reconcile()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for c in self.components:
            await c.stop()
