"""Security groups on the dataplane: per-port iptables/ip6tables chains built from
the ports' rules (stateful, anti-spoofing on the port's addresses, the metadata
address allowed), and ebtables ARP filtering so a port answers only for its own
addresses."""

from __future__ import annotations

import logging
from typing import Any

from overcast.agent.net.fabric import Fabric, _link_local
from overcast.kit.runner import run

log = logging.getLogger("overcast.agent.net")


class Firewall(Fabric):
    """Security groups and ARP filtering (applied whole: every call idempotent)."""

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

