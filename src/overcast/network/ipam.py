"""Address management: CIDRs, gateways, allocation pools, the next free address.

Pure functions over `ipaddress`; the database guarantees uniqueness (an address is
a row keyed by subnet and address), these decide which address to try.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Iterator
from typing import Any

from overcast.network import errors

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_cidr(raw: Any, ip_version: int | None = None, *, of_subnet: bool = True
               ) -> IPNetwork:
    """A CIDR as Neutron accepts it. `of_subnet`: the CIDR of a subnet, which must
    leave room for addresses; a host route's destination may be a single host (/32)."""
    if not isinstance(raw, str):
        raise errors.cidr_invalid(raw)
    try:
        net = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise errors.cidr_invalid(raw)
    if str(net) != raw and str(net.network_address) != raw.split("/")[0]:
        raise errors.cidr_not_recommended(raw, net)
    if ip_version is not None and net.version != ip_version:
        raise errors.cidr_version_mismatch()
    if of_subnet and ((net.version == 4 and net.prefixlen > 30)
                      or (net.version == 6 and net.prefixlen > 126)):
        raise errors.cidr_too_small(net)
    return net


def parse_ip(raw: Any, what: str = "ip_address") -> IPAddress:
    try:
        return ipaddress.ip_address(raw)
    except (ValueError, TypeError):
        raise errors.ip_invalid(what, raw)


def _first_last(net: IPNetwork) -> tuple[int, int]:
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        return first + 1, last - 1  # no network and broadcast addresses
    return first + 1, last  # v6: the subnet-router anycast address is skipped


def default_gateway(net: IPNetwork) -> str:
    return str(ipaddress.ip_address(_first_last(net)[0]))


def default_pools(net: IPNetwork, gateway: str | None) -> list[dict[str, str]]:
    first, last = _first_last(net)
    gw = int(ipaddress.ip_address(gateway)) if gateway else None
    ranges: list[tuple[int, int]] = []
    if gw is not None and first <= gw <= last:
        if gw > first:
            ranges.append((first, gw - 1))
        if gw < last:
            ranges.append((gw + 1, last))
    else:
        ranges.append((first, last))
    return [{"start": str(ipaddress.ip_address(a)), "end": str(ipaddress.ip_address(b))}
            for a, b in ranges]


def validate_pools(net: IPNetwork, pools: Any, gateway: str | None) -> list[dict[str, str]]:
    if not isinstance(pools, list):
        raise errors.pools_not_list()
    spans: list[tuple[int, int]] = []
    out = []
    for p in pools:
        if not isinstance(p, dict) or set(p) != {"start", "end"}:
            raise errors.pool_shape()
        start, end = parse_ip(p["start"], "allocation_pools"), parse_ip(p["end"],
                                                                         "allocation_pools")
        if start.version != net.version or end.version != net.version or \
                start not in net or end not in net:
            raise errors.pool_outside_cidr(p["start"], p["end"], net)
        if int(start) > int(end):
            raise errors.pool_reversed(p["start"], p["end"])
        for a, b in spans:
            if int(start) <= b and a <= int(end):
                raise errors.pools_overlap(p["start"], p["end"])
        spans.append((int(start), int(end)))
        out.append({"start": str(start), "end": str(end)})
    if gateway:
        gw = int(ipaddress.ip_address(gateway))
        for a, b in spans:
            if a <= gw <= b:
                raise errors.gateway_in_pool(gateway, ipaddress.ip_address(a),
                                             ipaddress.ip_address(b))
    return out


def in_pools(pools: Iterable[dict[str, str]], address: str) -> bool:
    a = int(ipaddress.ip_address(address))
    return any(int(ipaddress.ip_address(p["start"])) <= a <= int(ipaddress.ip_address(p["end"]))
               for p in pools)


def pool_spans(pools: list[dict[str, str]]) -> list[tuple[int, int]]:
    return [(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
            for p in pools]


def _text(version: int, i: int) -> str:
    return str(ipaddress.IPv4Address(i) if version == 4 else ipaddress.IPv6Address(i))


def random_addresses(pools: list[dict[str, str]], count: int) -> list[str]:
    """`count` addresses drawn uniformly from the pools (big pools: a free one is
    almost always found at the first try, without reading what is used)."""
    spans = pool_spans(pools)
    if not spans:
        return []
    version = ipaddress.ip_address(pools[0]["start"]).version
    sizes = [b - a + 1 for a, b in spans]
    out = []
    for _ in range(count):
        (a, _b), = random.choices(spans, weights=sizes)
        size = _b - a + 1
        out.append(_text(version, a + random.randrange(size)))
    return out


def pool_size(pools: list[dict[str, str]]) -> int:
    return sum(b - a + 1 for a, b in pool_spans(pools))


def candidates(pools: list[dict[str, str]], used: set[str]) -> Iterator[str]:
    """Free addresses of the pools (`used` holds addresses in their canonical text),
    lowest first for small pools; big pools start at a random place (so concurrent
    allocators rarely collide) and wrap."""
    spans = pool_spans(pools)
    version = ipaddress.ip_address(pools[0]["start"]).version if pools else 4
    for a, b in spans:
        size = b - a + 1
        start = a if size <= 4096 else a + random.randrange(size)
        i = start
        for _ in range(min(size, 1 << 20)):
            text = _text(version, i)
            if text not in used:
                yield text
            i = a if i == b else i + 1


def eui64(net: IPNetwork, mac: str) -> str:
    """The SLAAC address of `mac` in a /64."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xFF, 0xFE] + octets[3:]
    value = int(net.network_address) | int.from_bytes(bytes(iid), "big")
    return str(ipaddress.IPv6Address(value))


def random_mac(base: str = "fa:16:3e") -> str:
    return base + ":" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
