"""The Linux dataplane of one host: bridges, veths and taps, dnsmasq for DHCP.

Everything lives in namespaces that carry the cloud's prefix, never in the host's
own network namespace: a `<prefix>-host` namespace holds one bridge per network
(and the instance-side devices); each network with DHCP gets a
`<prefix>-dhcp-<net>` namespace with a veth leg into the bridge and a dnsmasq that
hands out the ports' fixed addresses (static entries, as Neutron does, so a lease
never waits for an ICMP probe), the gateway, DNS, routes and the MTU.

Every method is idempotent: calling it again with the same arguments changes
nothing. `cleanup()` removes every namespace and process of this prefix.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overcast.kit.runner import CommandError, run, which

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


class LinuxDataplane:
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

    def delete_network(self, net_id: str) -> None:
        self.stop_dhcp(net_id)
        br = self.bridge(net_id)
        if self.host_ns in self._namespaces() and self._link_exists(br, self.host_ns):
            run(["ip", "-n", self.host_ns, "link", "del", br])

    def remove_bridge(self, name: str) -> None:
        """Remove a bridge of this prefix and whatever is still attached to it."""
        if not name.startswith(self.prefix) or self.host_ns not in self._namespaces():
            return
        out = run(["ip", "-n", self.host_ns, "-o", "link", "show", "master", name],
                  check=False).stdout
        for line in out.splitlines():
            dev = line.split(":")[1].strip().split("@")[0]
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

    # ---------------------------------------------------------------- DHCP
    def _dhcp_dir(self, net_id: str) -> Path:
        d = self.state_dir / "dhcp" / net_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def ensure_dhcp(self, net_id: str, mtu: int, dhcp_port: PortSpec,
                    subnets: list[SubnetSpec], ports: list[PortSpec],
                    lease_seconds: int = 86400) -> None:
        """DHCP for a network: the namespace, its leg into the bridge with the DHCP
        port's addresses, and dnsmasq serving every port's fixed address."""
        br = self.ensure_network(net_id, mtu)
        ns = self.dhcp_ns(net_id)
        self._ensure_ns(ns)
        leg = self._dhcp_leg(net_id)
        if not self._link_exists("ns-dhcp", ns) and self._link_exists(leg, self.host_ns):
            run(["ip", "-n", self.host_ns, "link", "del", leg])  # the namespace is new
        if not self._link_exists(leg, self.host_ns):
            peer = f"{leg}p"
            with contextlib.suppress(CommandError):
                run(["ip", "link", "del", peer])
            run(["ip", "link", "add", leg, "mtu", str(mtu), "type", "veth", "peer", "name",
                 peer, "mtu", str(mtu)])
            run(["ip", "link", "set", leg, "netns", self.host_ns])
            run(["ip", "link", "set", peer, "netns", ns])
            run(["ip", "-n", ns, "link", "set", peer, "name", "ns-dhcp"])
        run(["ip", "-n", self.host_ns, "link", "set", leg, "master", br, "up"])
        _set_link(ns, "ns-dhcp", dhcp_port.mac_address, mtu)
        have = run(["ip", "-n", ns, "-o", "addr", "show", "dev", "ns-dhcp"]).stdout
        by_subnet = {s.id: s for s in subnets}
        for ip in dhcp_port.fixed_ips:
            sub = by_subnet.get(ip["subnet_id"])
            if sub is None:
                continue
            plen = ipaddress.ip_network(sub.cidr).prefixlen
            if f" {ip['ip_address']}/{plen} " not in have:
                run(["ip", "-n", ns, "addr", "replace", f"{ip['ip_address']}/{plen}", "dev",
                     "ns-dhcp", *(["nodad"] if sub.ip_version == 6 else [])])
        # The metadata service answers at 169.254.169.254 in this namespace (the
        # agent's proxy listens there); guests reach it by a DHCP-pushed host route.
        has_v4 = any(s.dhcp_v4 for s in subnets)
        if has_v4 and f" {METADATA_CIDR} " not in have:
            run(["ip", "-n", ns, "addr", "replace", METADATA_CIDR, "dev", "ns-dhcp"])
        own = {ip["subnet_id"]: ip["ip_address"] for ip in dhcp_port.fixed_ips}
        d = self._dhcp_dir(net_id)
        hosts, opts = [], []
        for s in subnets:
            if s.dhcp_v6:
                tag = f"s{s.id.replace('-', '')[:8]}"
                if s.dns_nameservers:
                    servers = ",".join(f"[{x}]" for x in s.dns_nameservers if ":" in x)
                    if servers:
                        opts.append(f"tag:{tag},option6:dns-server,{servers}")
                continue
            if not s.dhcp_v4:
                continue
            tag = f"s{s.id.replace('-', '')[:8]}"
            if s.gateway_ip:
                opts.append(f"tag:{tag},option:router,{s.gateway_ip}")
            else:
                opts.append(f"tag:{tag},option:router")
            if s.dns_nameservers:
                opts.append(f"tag:{tag},option:dns-server,{','.join(s.dns_nameservers)}")
            opts.append(f"tag:{tag},option:mtu,{mtu}")
            routes = [f"{r['destination']},{r['nexthop']}" for r in s.host_routes]
            if own.get(s.id):
                routes.insert(0, f"{METADATA_CIDR},{own[s.id]}")
            if routes:
                if s.gateway_ip:
                    routes.append(f"0.0.0.0/0,{s.gateway_ip}")
                opts.append(f"tag:{tag},option:classless-static-route,{','.join(routes)}")
        for p in ports:
            for ip in p.fixed_ips:
                sub = by_subnet.get(ip["subnet_id"])
                if sub is None:
                    continue
                addr = ip["ip_address"]
                name = p.hostname or "host-" + addr.replace(".", "-").replace(":", "-")
                if sub.dhcp_v4:
                    hosts.append(f"{p.mac_address},{addr},{name}")
                elif sub.dhcp_v6 and sub.ipv6_address_mode == "dhcpv6-stateful":
                    # DHCPv6 names clients by DUID; dnsmasq matches the MAC of a client
                    # on the link it serves, as Neutron's static entries rely on
                    hosts.append(f"{p.mac_address},[{addr}],{name}")
        _write(d / "hosts", "\n".join(hosts) + "\n")
        _write(d / "opts", "\n".join(opts) + "\n")
        ranges = []
        for s in subnets:
            net = ipaddress.ip_network(s.cidr)
            tag = f"s{s.id.replace('-', '')[:8]}"
            if s.dhcp_v4:
                ranges.append(f"--dhcp-range=set:{tag},{net.network_address},static,"
                              f"{net.netmask},{lease_seconds}s")
            elif s.dhcp_v6:
                # static: only the ports' own addresses (stateful), or none at all and
                # only options (stateless); the router, not dnsmasq, advertises
                ranges.append(f"--dhcp-range=set:{tag},{net.network_address},static,"
                              f"{net.prefixlen},{lease_seconds}s")
        pid = self._dnsmasq_pid(net_id)
        if pid is not None and not self._release_stale_leases(ns, d / "leases", hosts):
            # no dhcp_release here: restart dnsmasq on the pruned lease file instead
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                for _ in range(200):
                    os.kill(pid, 0)
                    time.sleep(0.005)
            pid = None
        if pid is None:
            self._prune_leases(d / "leases", hosts)
        args_file = d / "args"
        argv = ["dnsmasq", "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0",
                "--interface=ns-dhcp", "--except-interface=lo", "--bind-interfaces",
                "--no-ping", "--dhcp-authoritative", f"--dhcp-hostsfile={d / 'hosts'}",
                f"--dhcp-optsfile={d / 'opts'}", f"--dhcp-leasefile={d / 'leases'}",
                f"--pid-file={d / 'pid'}", "--user=root", "--group=root",
                f"--log-facility={d / 'log'}", "--log-dhcp", *ranges]
        if pid is not None and args_file.exists() and args_file.read_text() == "\0".join(argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)  # re-read the hosts and options files
                return
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if not ranges:
            return
        run(argv, netns=ns)
        args_file.write_text("\0".join(argv))

    @staticmethod
    def _stale_leases(leases: Path, hosts: list[str]) -> tuple[str, list[list[str]]]:
        """The server's DUID and the lease lines no host entry gives any more (a
        deleted port's): dnsmasq would keep the address for the old client and refuse
        it to the port that has it now, as Neutron's DHCP agent releases them. An IPv4
        lease is the MAC's and address's; an IPv6 one (DUID and IAID, no MAC) is stale
        once no port has its address."""
        wanted4, wanted6 = set(), set()
        for h in hosts:
            mac, ip = h.split(",")[:2]
            if ip.startswith("["):
                wanted6.add(ip.strip("[]"))
            else:
                wanted4.add((mac.lower(), ip))
        try:
            text = leases.read_text()
        except FileNotFoundError:
            return "", []
        server, out = "", []
        for line in text.splitlines():
            f = line.split()
            if len(f) == 2 and f[0] == "duid":
                server = f[1]
            elif len(f) >= 3 and ":" in f[2]:
                if f[2] not in wanted6:
                    out.append(f)
            elif len(f) >= 3 and (f[1].lower(), f[2]) not in wanted4:
                out.append(f)
        return server, out

    def _release_stale_leases(self, ns: str, leases: Path, hosts: list[str]) -> bool:
        """Release stale leases with dhcp_release(6); False when that is not installed
        and some lease is stale (then the caller restarts dnsmasq on pruned leases)."""
        server, stale = self._stale_leases(leases, hosts)
        if not stale:
            return True
        v6 = [f for f in stale if ":" in f[2]]
        if not shutil.which("dhcp_release") or (v6 and not (
                shutil.which("dhcp_release6") and server and all(len(f) >= 5 for f in v6))):
            return False
        for f in stale:
            if ":" in f[2]:
                run(["dhcp_release6", "--iface", "ns-dhcp", "--ip", f[2], "--server-id",
                     server, "--client-id", f[4], "--iaid", f[1]], netns=ns, check=False)
            else:
                run(["dhcp_release", "ns-dhcp", f[2], f[1].lower()], netns=ns, check=False)
        return True

    def _prune_leases(self, leases: Path, hosts: list[str]) -> None:
        stale = {" ".join(f) for f in self._stale_leases(leases, hosts)[1]}
        if not stale:
            return
        keep = [line for line in leases.read_text().splitlines()
                if " ".join(line.split()) not in stale]
        _write(leases, "".join(f"{line}\n" for line in keep))

    def _dnsmasq_pid(self, net_id: str) -> int | None:
        return _daemon_pid(self.state_dir / "dhcp" / net_id / "pid", b"dnsmasq")

    def stop_dhcp(self, net_id: str) -> None:
        pid = self._dnsmasq_pid(net_id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        ns = self.dhcp_ns(net_id)
        if ns in self._namespaces():
            run(["ip", "netns", "del", ns])
        leg = self._dhcp_leg(net_id)
        if self.host_ns in self._namespaces() and self._link_exists(leg, self.host_ns):
            run(["ip", "-n", self.host_ns, "link", "del", leg])
        shutil.rmtree(self.state_dir / "dhcp" / net_id, ignore_errors=True)

    # ---------------------------------------------------------------- routers
    def router_ns(self, router_id: str) -> str:
        return f"{self.prefix}-r-{router_id}"

    def _router_leg(self, router_id: str, port_id: str, inner: str, net_id: str,
                    mtu: int, mac: str, cidrs: list[str]) -> None:
        """A veth from the network's bridge into the router namespace as `inner`."""
        ns = self.router_ns(router_id)
        br = self.ensure_network(net_id, mtu)
        outer = f"{self.prefix}q{port_id.replace('-', '')[:8]}"
        if not self._link_exists(inner, ns) and self._link_exists(outer, self.host_ns):
            # the namespace was made anew: its old leg's peer is gone with it
            run(["ip", "-n", self.host_ns, "link", "del", outer])
        if not self._link_exists(outer, self.host_ns):
            peer = f"{outer}p"
            with contextlib.suppress(CommandError):
                run(["ip", "link", "del", peer])
            run(["ip", "link", "add", outer, "mtu", str(mtu), "type", "veth", "peer", "name",
                 peer, "mtu", str(mtu)])
            run(["ip", "link", "set", outer, "netns", self.host_ns])
            run(["ip", "link", "set", peer, "netns", ns])
            run(["ip", "-n", ns, "link", "set", peer, "name", inner])
        run(["ip", "-n", self.host_ns, "link", "set", outer, "master", br, "up"])
        _set_link(ns, inner, mac, mtu)
        have = run(["ip", "-n", ns, "-o", "addr", "show", "dev", inner]).stdout
        for cidr in cidrs:
            if f" {cidr} " not in have:
                run(["ip", "-n", ns, "addr", "replace", cidr, "dev", inner,
                     *(["nodad"] if ":" in cidr else [])])

    def ensure_router(self, router_id: str, interfaces: list[dict[str, Any]],
                      gateway: dict[str, Any] | None, *, snat: bool = True,
                      floating_ips: list[dict[str, str]] | None = None,
                      routes: list[dict[str, str]] | None = None) -> str:
        """A router as a namespace: `qr-*` legs on its subnets, a `qg-*` leg on the
        external network, forwarding on, SNAT of its subnets behind the gateway
        address and 1:1 NAT for floating IPs (iptables, rebuilt as a whole each time).

        IPv6 subnets are routed (never NATed) and advertised by radvd on their legs,
        as Neutron's L3 agent does: every leg with an IPv6 subnet sends router
        advertisements (the guests' default route), and the subnet's ipv6_ra_mode says
        what they tell: slaac and dhcpv6-stateless an autonomous prefix (stateless also
        the O flag), dhcpv6-stateful the M flag. The metadata address sits on the
        router's loopback, so guests of a network with a router and no DHCP reach it
        through their default route.

        interfaces: [{port_id, mac, net_id, mtu, cidrs: ["10.0.0.1/24"],
                      subnets: [{cidr, ip_version, ipv6_ra_mode, dns_nameservers}]}]
        gateway: {port_id, mac, net_id, mtu, cidrs: ["172.24.4.5/24"], gateway_ip}
        floating_ips: [{floating_ip, fixed_ip}]"""
        self.ensure_host()
        ns = self.router_ns(router_id)
        self._ensure_ns(ns)
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
            netns=ns)
        lo = run(["ip", "-n", ns, "-o", "-4", "addr", "show", "dev", "lo"]).stdout
        if f" {METADATA_CIDR} " not in lo:
            run(["ip", "-n", ns, "addr", "replace", METADATA_CIDR, "dev", "lo"])
        wanted = set()
        for itf in interfaces:
            inner = f"qr-{itf['port_id'].replace('-', '')[:8]}"
            wanted.add(inner)
            self._router_leg(router_id, itf["port_id"], inner, itf["net_id"], itf["mtu"],
                             itf["mac"], itf["cidrs"])
        qg = None
        fips = floating_ips or []
        if gateway is not None:
            qg = f"qg-{gateway['port_id'].replace('-', '')[:8]}"
            wanted.add(qg)
            cidrs = list(gateway["cidrs"]) + [f"{f['floating_ip']}/32" for f in fips]
            self._router_leg(router_id, gateway["port_id"], qg, gateway["net_id"],
                             gateway["mtu"], gateway["mac"], cidrs)
            # drop floating addresses that went away
            have = run(["ip", "-n", ns, "-o", "-4", "addr", "show", "dev", qg]).stdout
            for line in have.splitlines():
                addr = line.split()[3]
                if addr.endswith("/32") and addr not in cidrs:
                    run(["ip", "-n", ns, "addr", "del", addr, "dev", qg])
            if gateway.get("gateway_ip"):
                run(["ip", "-n", ns, "route", "replace", "default", "via",
                     gateway["gateway_ip"], "dev", qg])
        for rt in routes or []:
            run(["ip", "-n", ns, "route", "replace", rt["destination"], "via", rt["nexthop"]])
        # legs that are no longer wanted
        out = run(["ip", "-n", ns, "-o", "link", "show"]).stdout
        for line in out.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(("qr-", "qg-")) and name not in wanted:
                run(["ip", "-n", ns, "link", "del", name])
        nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]",
               ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
        if qg is not None and gateway is not None:
            gw_ip = gateway["cidrs"][0].split("/")[0]
            for f in fips:
                nat.append(f"-A PREROUTING -d {f['floating_ip']}/32 -j DNAT "
                           f"--to-destination {f['fixed_ip']}")
                nat.append(f"-A OUTPUT -d {f['floating_ip']}/32 -j DNAT "
                           f"--to-destination {f['fixed_ip']}")
                nat.append(f"-A POSTROUTING -s {f['fixed_ip']}/32 -o {qg} -j SNAT "
                           f"--to-source {f['floating_ip']}")
            if snat:
                for itf in interfaces:
                    for cidr in itf["cidrs"]:
                        net = ipaddress.ip_network(cidr, strict=False)
                        if net.version == 4:
                            nat.append(f"-A POSTROUTING -s {net} -o {qg} -j SNAT "
                                       f"--to-source {gw_ip}")
        nat.append("COMMIT")
        run(["iptables-restore"], input="\n".join(nat) + "\n", netns=ns)
        self._ensure_radvd(router_id, interfaces)
        return ns

    # ---------------------------------------------------------------- radvd
    def _radvd_dir(self, router_id: str) -> Path:
        return self.state_dir / "radvd" / router_id

    def _radvd_pid(self, router_id: str) -> int | None:
        return _daemon_pid(self._radvd_dir(router_id) / "pid", b"radvd")

    def _ensure_radvd(self, router_id: str, interfaces: list[dict[str, Any]]) -> None:
        conf = ""
        for itf in interfaces:
            v6 = [x for x in itf.get("subnets", []) if x.get("ip_version") == 6]
            if not v6:
                continue
            modes = {x.get("ipv6_ra_mode") for x in v6}
            lines = ["interface qr-" + itf["port_id"].replace("-", "")[:8], "{",
                     "  AdvSendAdvert on;", "  MinRtrAdvInterval 3;",
                     "  MaxRtrAdvInterval 10;"]
            if int(itf["mtu"]) >= 1280:
                lines.append(f"  AdvLinkMTU {int(itf['mtu'])};")
            if "dhcpv6-stateless" in modes:
                lines.append("  AdvOtherConfigFlag on;")
            if "dhcpv6-stateful" in modes:
                lines.append("  AdvManagedFlag on;")
            dns = [d for x in v6 if x.get("ipv6_ra_mode") == "slaac"
                   for d in x.get("dns_nameservers") or [] if ":" in d][:3]
            if dns:
                lines.append(f"  RDNSS {' '.join(dns)} {{}};")
            for x in v6:
                mode = x.get("ipv6_ra_mode")
                if mode is None:
                    continue
                auto = "on" if mode in ("slaac", "dhcpv6-stateless") else "off"
                lines += [f"  prefix {x['cidr']}", "  {", "    AdvOnLink on;",
                          f"    AdvAutonomous {auto};", "  };"]
            lines.append("};")
            conf += "\n".join(lines) + "\n"
        d = self._radvd_dir(router_id)
        pid = self._radvd_pid(router_id)
        if not conf:
            self._stop_radvd(router_id)
            return
        d.mkdir(parents=True, exist_ok=True)
        path = d / "radvd.conf"
        old = path.read_text() if path.exists() else None
        if pid is not None and old == conf:
            return
        _write(path, conf)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)  # re-read the configuration
                return
        (d / "pid").unlink(missing_ok=True)
        # Advertisements are the IPv6 guests' only trouble here: without radvd (or when
        # it fails) the rest of the router, and the rest of the pass, still converge.
        if which("radvd") is None:
            log.warning("router %s has IPv6 subnets but radvd is not installed: no "
                        "router advertisements (apt-get install radvd)", router_id)
            return
        try:
            run(["radvd", "-C", str(path), "-p", str(d / "pid"), "-m", "logfile", "-l",
                 str(d / "log")], netns=self.router_ns(router_id))
        except CommandError as exc:
            log.warning("radvd did not start for router %s: %s", router_id, exc)
            return
        for _ in range(200):  # radvd writes its pid file once it runs in the background
            if self._radvd_pid(router_id) is not None:
                break
            time.sleep(0.01)

    def _stop_radvd(self, router_id: str) -> None:
        pid = self._radvd_pid(router_id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(self._radvd_dir(router_id), ignore_errors=True)

    def delete_router(self, router_id: str) -> None:
        self._stop_radvd(router_id)
        ns = self.router_ns(router_id)
        if ns not in self._namespaces():
            return
        out = run(["ip", "-n", ns, "-o", "link", "show"]).stdout
        for line in out.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(("qr-", "qg-")):
                run(["ip", "-n", ns, "link", "del", name], check=False)
        run(["ip", "netns", "del", ns])

    # ---------------------------------------------------------------- upstream
    @property
    def upstream_ns(self) -> str:
        return f"{self.prefix}-upstream"

    def ensure_upstream(self, net_id: str, mtu: int, cidr: str) -> str:
        """The simulated outside world of the external network `net_id`: a namespace
        on its bridge holding `cidr` (the external subnet's gateway address)."""
        ns = self.upstream_ns
        self._ensure_ns(ns)
        br = self.ensure_network(net_id, mtu)
        outer = f"{self.prefix}u{net_id.replace('-', '')[:8]}"
        if not self._link_exists(outer, self.host_ns):
            peer = f"{outer}p"
            with contextlib.suppress(CommandError):
                run(["ip", "link", "del", peer])
            run(["ip", "link", "add", outer, "mtu", str(mtu), "type", "veth", "peer", "name",
                 peer, "mtu", str(mtu)])
            run(["ip", "link", "set", outer, "netns", self.host_ns])
            run(["ip", "link", "set", peer, "netns", ns])
            run(["ip", "-n", ns, "link", "set", peer, "name", "eth0"])
        run(["ip", "-n", self.host_ns, "link", "set", outer, "master", br, "up"])
        run(["ip", "-n", ns, "link", "set", "eth0", "mtu", str(mtu), "up"])
        have = run(["ip", "-n", ns, "-o", "addr", "show", "dev", "eth0"]).stdout
        if f" {cidr} " not in have:
            run(["ip", "-n", ns, "addr", "replace", cidr, "dev", "eth0"])
        return ns

    # ---------------------------------------------------------------- security groups
    def apply_security_groups(self, ports: list[dict[str, Any]]) -> None:
        """Firewall every instance port of this host, statefully, where the bridge is
        (br_netfilter + physdev + conntrack: iptables in the cloud's namespace).

        ports: [{port_id, kind, mac, ips: [..], pairs: [{ip_address, mac_address?}],
                 port_security: bool, rules: [{direction, ethertype, protocol,
                 port_range_min, port_range_max, remote_ips: [cidr, ...] | None}]}]
        `remote_ips` None means any address; a remote group arrives resolved to its
        members' addresses. The whole filter table is rebuilt at once, so a port's
        rules never exist half-applied."""
        self.ensure_host()
        for family, tool in ((4, "iptables-restore"), (6, "ip6tables-restore")):
            lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
                     ":OUTPUT ACCEPT [0:0]"]
            body: list[str] = []
            for p in ports:
                if not p.get("port_security", True):
                    continue
                dev = self.port_device(p["port_id"], p.get("kind", "veth"))
                short = p["port_id"].replace("-", "")[:8]
                cin, cout = f"{self.prefix}-i{short}", f"{self.prefix}-o{short}"
                lines += [f":{cin} - [0:0]", f":{cout} - [0:0]"]
                body += [f"-A FORWARD -m physdev --physdev-out {dev} --physdev-is-bridged "
                         f"-j {cin}",
                         f"-A FORWARD -m physdev --physdev-in {dev} --physdev-is-bridged "
                         f"-j {cout}"]
                body += [f"-A {cin} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                         f"-A {cin} -m conntrack --ctstate INVALID -j DROP"]
                if family == 4:
                    body.append(f"-A {cin} -p udp --sport 67 --dport 68 -j RETURN")
                else:
                    body += [f"-A {cin} -p ipv6-icmp --icmpv6-type {t} -j RETURN"
                             for t in (130, 131, 132, 134, 135, 136, 143)]
                    body.append(f"-A {cin} -p udp --sport 547 --dport 546 -j RETURN")
                # an instance never acts as a DHCP server or (IPv6) a router for the
                # others on its network, whatever its security groups allow
                if family == 4:
                    body.append(f"-A {cout} -p udp --sport 67 --dport 68 -j DROP")
                else:
                    body += [f"-A {cout} -p ipv6-icmp --icmpv6-type 134 -j DROP",
                             f"-A {cout} -p udp --sport 547 --dport 546 -j DROP"]
                body += [f"-A {cout} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
                if family == 4:
                    body.append(f"-A {cout} -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp "
                                "--sport 68 --dport 67 -j RETURN")
                else:
                    body += [f"-A {cout} -p ipv6-icmp --icmpv6-type {t} -j RETURN"
                             for t in (130, 131, 132, 133, 135, 136, 143)]
                    body.append(f"-A {cout} -s {_link_local(p['mac'])}/128 -d ff02::1:2/128 "
                                "-p udp --sport 546 --dport 547 -j RETURN")
                # anti-spoofing: only the port's own addresses (and allowed pairs) with
                # the port's MAC may leave the instance (and on IPv6 its link-local
                # address, which neighbour discovery and DHCPv6 need)
                sources = [(ip, p["mac"]) for ip in p["ips"]
                           if (":" in ip) == (family == 6)]
                if family == 6:
                    sources.append((_link_local(p["mac"]), p["mac"]))
                sources += [(x["ip_address"], x.get("mac_address") or p["mac"])
                            for x in p.get("pairs", [])
                            if (":" in x["ip_address"]) == (family == 6)]
                spoof = f"{self.prefix}-s{short}"
                lines.append(f":{spoof} - [0:0]")
                for ip, mac in sources:
                    body.append(f"-A {spoof} -s {ip} -m mac --mac-source {mac} -j RETURN")
                body.append(f"-A {spoof} -j DROP")
                body.append(f"-A {cout} -j {spoof}")
                body.append(f"-A {cout} -m conntrack --ctstate INVALID -j DROP")
                for r in p.get("rules", []):
                    if (r.get("ethertype") or "IPv4") != f"IPv{family}":
                        continue
                    chain = cin if r["direction"] == "ingress" else cout
                    remotes = r.get("remote_ips")
                    for match in _rule_matches(r, family):
                        if remotes is None:
                            body.append(f"-A {chain} {match} -j RETURN")
                        else:
                            side = "-s" if r["direction"] == "ingress" else "-d"
                            body += [f"-A {chain} {side} {ip} {match} -j RETURN"
                                     for ip in remotes if (":" in ip) == (family == 6)]
                body += [f"-A {cin} -j DROP", f"-A {cout} -j DROP"]
            # Allowed traffic RETURNs from a port's chain (so the chain of the other
            # port on this host, if any, still sees it); refused traffic is dropped.
            lines += body
            lines.append("COMMIT")
            run([tool], input="\n".join(x for x in lines if x) + "\n", netns=self.host_ns)
        self._arp_filter(ports)

    def _arp_filter(self, ports: list[dict[str, Any]]) -> None:
        """ARP anti-spoofing (iptables never sees ARP): a port may only announce and
        ask from its own IPv4 addresses (and allowed pairs) with its own MAC, or from
        0.0.0.0 (an address-conflict probe). ebtables in the cloud's namespace, the
        whole table replaced at once."""
        lines = ["*filter", ":INPUT ACCEPT", ":FORWARD ACCEPT", ":OUTPUT ACCEPT"]
        body: list[str] = []
        for p in ports:
            if not p.get("port_security", True):
                continue
            dev = self.port_device(p["port_id"], p.get("kind", "veth"))
            chain = f"{self.prefix}-a{p['port_id'].replace('-', '')[:8]}"
            lines.append(f":{chain} ACCEPT")
            body.append(f"-A FORWARD -p ARP -i {dev} -j {chain}")
            pairs = [(ip, p["mac"]) for ip in p["ips"] if ":" not in ip]
            pairs += [(x["ip_address"], x.get("mac_address") or p["mac"])
                      for x in p.get("pairs", []) if ":" not in x["ip_address"]]
            for ip, mac in [*pairs, ("0.0.0.0", p["mac"])]:
                body.append(f"-A {chain} -p ARP --arp-ip-src {ip} --arp-mac-src {mac} "
                            "-j RETURN")
            body.append(f"-A {chain} -j DROP")
        run(["ebtables-restore"], input="\n".join(lines + body) + "\n", netns=self.host_ns)

    # ---------------------------------------------------------------- inventory
    def list_devices(self) -> dict[str, Any]:
        """What this prefix has on the host (for the reconciler's cleanup)."""
        namespaces = sorted(n for n in self._namespaces() if n.startswith(f"{self.prefix}-"))
        links: list[str] = []
        if self.host_ns in namespaces:
            out = run(["ip", "-n", self.host_ns, "-o", "link", "show"]).stdout
            links = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return {"namespaces": namespaces,
                "links": [name for name in links if name.startswith(self.prefix)]}

    def cleanup(self) -> None:
        """Remove every namespace, device and dnsmasq of this prefix."""
        dhcp = self.state_dir / "dhcp"
        if dhcp.exists():
            for d in dhcp.iterdir():
                pid = self._dnsmasq_pid(d.name)
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            shutil.rmtree(dhcp, ignore_errors=True)
        radvd = self.state_dir / "radvd"
        if radvd.exists():
            for d in radvd.iterdir():
                self._stop_radvd(d.name)
            shutil.rmtree(radvd, ignore_errors=True)
        for ns in self._namespaces():
            if ns.startswith(f"{self.prefix}-"):
                run(["ip", "netns", "del", ns], check=False)


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


def _rule_matches(rule: dict[str, Any], family: int) -> list[str]:
    """iptables match arguments for one security group rule (without addresses)."""
    proto = rule.get("protocol")
    if proto in (None, "", "any", "0"):
        return [""]
    names = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "132": "sctp",
             "icmpv6": "ipv6-icmp"}
    proto = names.get(str(proto), str(proto))
    if proto == "icmp" and family == 6:
        proto = "ipv6-icmp"
    pmin, pmax = rule.get("port_range_min"), rule.get("port_range_max")
    if proto in ("tcp", "udp", "sctp", "udplite", "dccp"):
        if pmin is None:
            return [f"-p {proto}"]
        ports = str(pmin) if pmin == pmax else f"{pmin}:{pmax}"
        return [f"-p {proto} -m {proto} --dport {ports}"]
    if proto in ("icmp", "ipv6-icmp"):
        if pmin is None:
            return [f"-p {proto}"]
        opt = "--icmp-type" if proto == "icmp" else "--icmpv6-type"
        code = f"/{pmax}" if pmax is not None else ""
        return [f"-p {proto} {opt} {pmin}{code}"]
    return [f"-p {proto}"]
