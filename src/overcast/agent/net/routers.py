"""Routers of the dataplane: a `<prefix>-r-<router>` namespace per router with a
leg into each of its networks, its gateway to the (simulated) upstream, SNAT and
floating IPs, static routes, and radvd for the IPv6 subnets' advertisements; the
upstream namespace that stands for the outside world."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from overcast.agent.net.fabric import METADATA_CIDR, Fabric, _daemon_pid, _set_link, _write
from overcast.kit.runner import CommandError, run, which

log = logging.getLogger("overcast.agent.net")


class Routers(Fabric):
    """Router namespaces, radvd and the upstream (every method idempotent)."""

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

