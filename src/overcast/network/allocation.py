"""The database side of address management: a port's MAC and its fixed IPs.

`ipam` decides which address to try; here the rows are written, and the unique
keys (subnet, address) and (mac) decide every race: a lost race is retried on
another address or reported as Neutron's conflict, never resolved by a read.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.network import errors, ipam
from overcast.network import models as m


def free_mac(s: Session) -> str:
    """A random MAC (OpenStack's fa:16:3e prefix) no port holds yet."""
    for _ in range(16):
        mac = ipam.random_mac()
        if not s.scalar(select(m.Port.id).where(m.Port.mac_address == mac)):
            return mac
    raise errors.mac_generation_failed()


def allocate(s: Session, port: m.Port, net: m.Network,
             requested: list[dict[str, Any]] | None) -> None:
    """Give the port its fixed IPs: those `requested` (by subnet and/or address),
    or by default one IPv4 address (on the first v4 subnet with room) and one on
    each IPv6 subnet (SLAAC ones derived from the MAC)."""
    subnets = list(s.scalars(select(m.Subnet).where(m.Subnet.network_id == net.id)
                             .order_by(m.Subnet.created_at)))
    wanted = _wanted(subnets, net, requested)
    for sub, addr in wanted:
        if addr is None and sub.ip_version == 6 and sub.ipv6_address_mode in (
                "slaac", "dhcpv6-stateless"):
            addr = ipam.eui64(ipaddress.ip_network(sub.cidr), port.mac_address)
        if addr is not None:
            if s.get(m.IPAllocation, (sub.id, addr)) is not None:
                raise errors.ip_in_use(addr, sub.id)
            insert_ip(s, sub, addr, port)
            continue
        candidates_subnets = [sub]
        if requested is None and sub.ip_version == 4:
            candidates_subnets = [x for x in subnets if x.ip_version == 4]
        for cand in candidates_subnets:
            if auto_ip(s, cand, port):
                break
        else:
            raise errors.no_more_addresses(net.id)


def _wanted(subnets: list[m.Subnet], net: m.Network, requested: list[dict[str, Any]] | None
            ) -> list[tuple[m.Subnet, str | None]]:
    """Which subnet (and address, if one was asked for) each fixed IP comes from."""
    wanted: list[tuple[m.Subnet, str | None]] = []
    if requested is None:
        v4 = [x for x in subnets if x.ip_version == 4]
        v6 = [x for x in subnets if x.ip_version == 6]
        if v4:
            wanted.append((v4[0], None))  # retried on the next v4 subnet when full
        wanted += [(x, None) for x in v6]
        return wanted
    by_id = {x.id: x for x in subnets}
    for fip in requested:
        if not isinstance(fip, dict):
            raise errors.invalid_field("fixed_ips", ".")
        sid, addr = fip.get("subnet_id"), fip.get("ip_address")
        if addr is not None:
            addr = str(ipam.parse_ip(addr, "fixed_ips"))
        if sid is not None:
            sub = by_id.get(sid)
            if sub is None:
                raise errors.fixed_ips_invalid_subnet(net.id, sid)
        elif addr is not None:
            sub = next((x for x in subnets if ipaddress.ip_address(addr) in
                        ipaddress.ip_network(x.cidr)), None)
            if sub is None:
                raise errors.ip_not_on_network(addr)
        else:
            raise errors.fixed_ip_shape()
        if addr is not None and not _usable(addr, sub):
            raise errors.ip_not_on_subnet(addr)
        wanted.append((sub, addr))
    return wanted


def _usable(addr: str, sub: m.Subnet) -> bool:
    """On the subnet and neither its network address nor (IPv4) its broadcast one,
    as Neutron's IPAM checks a requested address."""
    ip, net = ipaddress.ip_address(addr), ipaddress.ip_network(sub.cidr)
    if ip not in net or ip == net.network_address:
        return False
    return not (net.version == 4 and ip == net.broadcast_address)


def auto_ip(s: Session, sub: m.Subnet, port: m.Port) -> bool:
    """Give the port a free address of the subnet; False when there is none.

    The lowest free address first; when the database says another allocator took
    it meanwhile (concurrent requests read the same free list), random picks
    among the next free ones, then the rest in order. The unique key decides,
    never a read. In a big pool (a /16) random addresses are tried first, without
    reading the used ones: one insert almost always wins."""
    pools = list(sub.allocation_pools or [])
    if ipam.pool_size(pools) > 4096:
        for addr in ipam.random_addresses(pools, 8):
            if addr != sub.gateway_ip and _try_ip(s, sub, addr, port):
                return True
    used = set(s.scalars(select(m.IPAllocation.ip_address).where(
        m.IPAllocation.subnet_id == sub.id)))
    if sub.gateway_ip:
        used.add(sub.gateway_ip)
    free = ipam.candidates(list(sub.allocation_pools or []), used)
    first = next(free, None)
    if first is None:
        return False
    if _try_ip(s, sub, first, port):
        return True
    window = [a for _, a in zip(range(32), free, strict=False)]
    random.shuffle(window)
    return any(_try_ip(s, sub, addr, port)
               for addr in itertools.chain(window, free))


def _note_ip(port: m.Port, sub: m.Subnet, addr: str) -> None:
    """Remember an address given to a port being created (its view needs no
    read-back)."""
    written = getattr(port, "_written_ips", None)
    if written is not None:
        written.append({"subnet_id": sub.id, "ip_address": addr})


def _try_ip(s: Session, sub: m.Subnet, addr: str, port: m.Port) -> bool:
    try:
        with s.begin_nested():
            s.add(m.IPAllocation(subnet_id=sub.id, ip_address=addr, port_id=port.id,
                                 network_id=sub.network_id))
            s.flush()
    except IntegrityError:
        return False
    _note_ip(port, sub, addr)
    return True


def insert_ip(s: Session, sub: m.Subnet, addr: str, port: m.Port) -> None:
    """Give the port this very address; a conflict when another port has it."""
    try:
        with s.begin_nested():
            s.add(m.IPAllocation(subnet_id=sub.id, ip_address=addr, port_id=port.id,
                                 network_id=sub.network_id))
            s.flush()
    except IntegrityError:
        raise errors.ip_in_use(addr, sub.id)
    _note_ip(port, sub, addr)
