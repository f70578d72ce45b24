"""DHCP for the dataplane's networks: each network with DHCP gets a
`<prefix>-dhcp-<net>` namespace with a veth leg into the bridge and a dnsmasq that
hands out the ports' fixed addresses (static entries, as Neutron does, so a lease
never waits for an ICMP probe), the gateway, DNS, routes and the MTU; leases of
ports gone are released."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import time
from pathlib import Path

from overcast.agent.net.fabric import (
    METADATA_CIDR,
    Fabric,
    PortSpec,
    SubnetSpec,
    _daemon_pid,
    _set_link,
    _write,
)
from overcast.kit.runner import CommandError, run

log = logging.getLogger("overcast.agent.net")


class Dhcp(Fabric):
    """dnsmasq per network (every method idempotent)."""

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

