"""The dataplane's fabric: the specs it is given, the names of its devices and
namespaces, the `<prefix>-host` namespace with one bridge per network, the VXLAN
tunnels between hosts and the instances' ports (veths and taps) on the bridges.
The DHCP servers (dhcp.py), routers (routers.py) and security groups (firewall.py)
build on it; linux.LinuxDataplane is all of them together."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from overcast.kit.runner import CommandError, run

log = logging.getLogger("overcast.agent.net")

METADATA_CIDR = "169.254.169.254/32"


@dataclass
class SubnetSpec:
    id: str
    cidr: str
    gateway_ip: str | None
    dns_nameservers: list[str] = field(default_factory=list)
    host_routes: list[dict[str, str]] = field(default_factory=list)
    enable_dhcp: bool = True
    ip_version: int = 4
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None

    @property
    def dhcp_v4(self) -> bool:
        return self.enable_dhcp and self.ip_version == 4

    @property
    def dhcp_v6(self) -> bool:
        """DHCPv6 serves this subnet: its addresses (stateful) or only its options
        (stateless; the addresses come from SLAAC)."""
        return self.enable_dhcp and self.ip_version == 6 and self.ipv6_address_mode in (
            "dhcpv6-stateful", "dhcpv6-stateless")


@dataclass
class PortSpec:
    id: str
    mac_address: str
    fixed_ips: list[dict[str, str]]
    hostname: str = ""



class Fabric:
    """Bridges, tunnels and ports of one prefix (every method idempotent)."""

    def __init__(self, prefix: str, state_dir: Path, *, underlay_ns: str | None = None
                 ) -> None:
        if not prefix.isalnum() or len(prefix) > 5:
            raise ValueError("the prefix is at most 5 letters and digits (device names "
                             "are 15 characters)")
        self.prefix = prefix
        self.state_dir = state_dir
        self.host_ns = f"{prefix}-host"
        #: where VXLAN packets travel: the host's own namespace (None), or a namespace
        #: standing for a host's physical network in tests that put hosts side by side
        self.underlay_ns = underlay_ns

    # ---------------------------------------------------------------- names
    def bridge(self, net_id: str) -> str:
        return f"{self.prefix}b{net_id.replace('-', '')[:8]}"

    def dhcp_ns(self, net_id: str) -> str:
        return f"{self.prefix}-dhcp-{net_id}"

    def _dhcp_leg(self, net_id: str) -> str:
        return f"{self.prefix}d{net_id.replace('-', '')[:8]}"

    def port_device(self, port_id: str, kind: str = "veth") -> str:
        return f"{self.prefix}{'t' if kind == 'tap' else 'v'}{port_id.replace('-', '')[:8]}"

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _namespaces() -> set[str]:
        out = run(["ip", "netns", "list"]).stdout
        return {line.split()[0] for line in out.splitlines() if line.strip()}

    def _ensure_ns(self, name: str) -> None:
        if name not in self._namespaces():
            run(["ip", "netns", "add", name])
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _link_exists(self, name: str, netns: str | None = None) -> bool:
        argv = ["ip", "-n", netns, "link", "show", name] if netns else ["ip", "link", "show",
                                                                          name]
        return run(argv, check=False).returncode == 0

    # ---------------------------------------------------------------- networks
    def ensure_host(self) -> None:
        self._ensure_ns(self.host_ns)

    def ensure_network(self, net_id: str, mtu: int) -> str:
        self.ensure_host()
        br = self.bridge(net_id)
        if not self._link_exists(br, self.host_ns):
            run(["ip", "-n", self.host_ns, "link", "add", br, "type", "bridge",
                 "stp_state", "0", "forward_delay", "0"])
        run(["ip", "-n", self.host_ns, "link", "set", br, "mtu", str(mtu), "up"])
        return br

    def tunnel(self, vni: int) -> str:
        return f"{self.prefix}x{vni:06x}"

    def ensure_tunnel(self, net_id: str, vni: int, mtu: int, local_ip: str,
                      remotes: list[str]) -> str:
        """The network's VXLAN leg on its bridge, with a flooding entry to each remote
        host (head-end replication: broadcasts go to every remote; the device learns
        which remote holds a MAC, so unicast goes to that one only). The device is made
        in the underlay's namespace, so its UDP socket lives there, and then moved into
        the cloud's namespace: nothing of it shows in the host's own interfaces."""
        br = self.ensure_network(net_id, mtu)
        dev = self.tunnel(vni)
        if not self._link_exists(dev, self.host_ns):
            under = ["-n", self.underlay_ns] if self.underlay_ns else []
            with contextlib.suppress(CommandError):
                run(["ip", *under, "link", "del", dev])
            run(["ip", *under, "link", "add", dev, "type", "vxlan", "id", str(vni), "local",
                 local_ip, "dstport", "4789"])
            run(["ip", *under, "link", "set", dev, "netns", self.host_ns])
        run(["ip", "-n", self.host_ns, "link", "set", dev, "master", br, "mtu", str(mtu),
             "up"])
        have = set()
        out = run(["bridge", "-n", self.host_ns, "fdb", "show", "dev", dev]).stdout
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "00:00:00:00:00:00" and "dst" in parts:
                have.add(parts[parts.index("dst") + 1])
        for ip in sorted(set(remotes) - have):
            run(["bridge", "-n", self.host_ns, "fdb", "append", "00:00:00:00:00:00", "dev",
                 dev, "dst", ip])
        for ip in sorted(have - set(remotes)):
            run(["bridge", "-n", self.host_ns, "fdb", "del", "00:00:00:00:00:00", "dev", dev,
                 "dst", ip], check=False)
        return dev

    def remove_bridge(self, name: str) -> None:
        """Remove a bridge of this prefix and the dataplane's own legs on it (DHCP,
        router, upstream, tunnel). A bridge that still carries an instance's device
        (a QEMU tap or a container's veth) is left alone: that device goes with its
        instance (the driver unplugs it on destroy), and deleting it under a running
        guest cuts the guest off for good (QEMU keeps the dead tap). A pass that saw
        a partial picture of what this host holds, as after a restart, must not do
        that; the next pass, with the whole picture, takes the bridge if it is
        still unwanted and empty."""
        if not name.startswith(self.prefix) or self.host_ns not in self._namespaces():
            return
        out = run(["ip", "-n", self.host_ns, "-o", "link", "show", "master", name],
                  check=False).stdout
        devs = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        guests = [d for d in devs if d.startswith((f"{self.prefix}t", f"{self.prefix}v"))]
        if guests:
            log.warning("bridge %s is not wanted but instances' devices are on it (%s): "
                        "left for their instances to unplug", name, ", ".join(guests))
            return
        for dev in devs:
            run(["ip", "-n", self.host_ns, "link", "del", dev], check=False)
        run(["ip", "-n", self.host_ns, "link", "del", name], check=False)

    # ---------------------------------------------------------------- ports
    def plug_port(self, net_id: str, port: PortSpec, mtu: int, *, kind: str = "veth",
                  netns: str | None = None, ifname: str = "eth0") -> str:
        """Wire a port into its network's bridge: a tap (for QEMU, in the host
        namespace) or a veth whose peer goes into `netns` as `ifname` with the port's
        MAC (containers, and tests' stand-in instances)."""
        br = self.ensure_network(net_id, mtu)
        dev = self.port_device(port.id, kind)
        if kind == "tap":
            if not self._link_exists(dev, self.host_ns):
                run(["ip", "-n", self.host_ns, "tuntap", "add", "dev", dev, "mode", "tap"])
        else:
            if netns is None:
                raise ValueError("a veth port needs the namespace of its instance")
            if not self._link_exists(dev, self.host_ns):
                peer = f"{dev}p"
                with contextlib.suppress(CommandError):
                    run(["ip", "link", "del", peer])
                run(["ip", "link", "add", dev, "mtu", str(mtu), "type", "veth", "peer",
                     "name", peer, "mtu", str(mtu)])
                run(["ip", "link", "set", dev, "netns", self.host_ns])
                run(["ip", "link", "set", peer, "netns", netns])
                run(["ip", "-n", netns, "link", "set", peer, "name", ifname])
            _set_link(netns, ifname, port.mac_address, mtu)
        run(["ip", "-n", self.host_ns, "link", "set", dev, "master", br, "mtu", str(mtu),
             "up"])
        return dev

    def unplug_port(self, port_id: str, kind: str = "veth") -> None:
        dev = self.port_device(port_id, kind)
        if self.host_ns in self._namespaces() and self._link_exists(dev, self.host_ns):
            run(["ip", "-n", self.host_ns, "link", "del", dev])



def _set_link(ns: str, dev: str, mac: str, mtu: int) -> None:
    """Give `dev` (in `ns`) this MAC and MTU and bring it up, changing only what
    differs: setting the address, even to the one it has, makes the kernel flush the
    device's neighbour table, so every converge would make the guests behind it be
    resolved again (and one whose ARP was under way wait for the next try)."""
    link = run(["ip", "-n", ns, "-o", "link", "show", "dev", dev]).stdout
    change = []
    if f"link/ether {mac.lower()} " not in link:
        change += ["address", mac]
    if f" mtu {mtu} " not in link:
        change += ["mtu", str(mtu)]
    flags = link.split("<", 1)[-1].split(">", 1)[0].split(",")
    if "UP" not in flags:
        change.append("up")
    if change:
        run(["ip", "-n", ns, "link", "set", dev, *change])


def _link_local(mac: str) -> str:
    """The IPv6 link-local address the kernel gives an interface with this MAC."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes(octets[:3] + [0xFF, 0xFE] + octets[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))


def _daemon_pid(pidfile: Path, name: bytes) -> int | None:
    """The pid in `pidfile` if that process still runs and is `name` (a pid reused
    by something else after a reboot is not ours)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    with contextlib.suppress(OSError):
        if name in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    return None


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


