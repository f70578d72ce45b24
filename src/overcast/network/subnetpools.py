"""Subnet pools (subnet_allocation): prefixes that subnets are carved from.

A pool holds CIDR prefixes of one IP version (overlapping ones merged, as Neutron
compacts them) and the bounds of what may be taken from it (min, max and default
prefix lengths). A subnet created with `subnetpool_id` either names a CIDR inside the
pool or asks for a `prefixlen` (the pool's default when absent) and gets the first
free block; the subnets of one pool never overlap. A pool with subnets cannot be
deleted, and its prefixes only grow. Visibility: its project's, shared ones, and all
for an admin.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from overcast.kit.context import RequestContext
from overcast.network import errors, ipam, policy, views
from overcast.network import models as m
from overcast.network.common import (
    COMMON_FILTERS,
    Store,
    bump,
    flag,
    new_id,
    owner_project,
    text,
)
from overcast.network.quotas import Quotas

MAX_LEN = {4: 32, 6: 128}


def _prefixes(raw: Any) -> list[ipam.IPNetwork]:
    """The pool's prefixes, checked, of one version, merged where they overlap."""
    if not isinstance(raw, list) or not raw:
        raise errors.invalid_field("prefixes", ". Reason: a non-empty list of CIDRs.")
    nets = [ipam.parse_cidr(p, of_subnet=False) for p in raw]
    if len({n.version for n in nets}) > 1:
        raise errors.subnetpool_prefix_versions()
    merged = ipaddress.collapse_addresses(nets)  # type: ignore[type-var]
    return sorted(merged, key=lambda n: (int(n.network_address), n.prefixlen))


def _length(body: dict[str, Any], key: str, default: int, version: int) -> int:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, str) and v.isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_LEN[version]:
        raise errors.invalid_field(key, f". Reason: '{v}' is not a prefix length of an "
                                        f"IPv{version} network.")
    return v


def _bounds(pool: m.SubnetPool, body: dict[str, Any]) -> None:
    """Set the three prefix lengths from `body` (keeping the others), checked against
    each other. A minimum wider than the pool's widest prefix is raised to it:
    nothing wider can be taken."""
    v = pool.ip_version
    lo = _length(body, "min_prefixlen", pool.min_prefixlen, v)
    hi = _length(body, "max_prefixlen", pool.max_prefixlen, v)
    lo = max(lo, min(ipaddress.ip_network(p).prefixlen for p in pool.prefixes))
    default = _length(body, "default_prefixlen", pool.default_prefixlen or lo, v)
    if lo > hi:
        raise errors.subnetpool_prefix_bounds("min_prefixlen", lo, "max_prefixlen", hi)
    if default < lo:
        raise errors.subnetpool_prefix_bounds("default_prefixlen", default,
                                              "min_prefixlen", lo)
    if default > hi:
        raise errors.subnetpool_prefix_bounds("default_prefixlen", default,
                                              "max_prefixlen", hi)
    pool.min_prefixlen, pool.max_prefixlen, pool.default_prefixlen = lo, hi, default


class SubnetPools:
    model: ClassVar[Any] = m.SubnetPool
    filters: ClassVar[dict[str, str]] = {
        **COMMON_FILTERS, "ip_version": "ip_version", "shared": "shared",
        "is_default": "is_default", "default_prefixlen": "default_prefixlen",
        "min_prefixlen": "min_prefixlen", "max_prefixlen": "max_prefixlen"}

    def __init__(self, store: Store, quotas: Quotas) -> None:
        self.store = store
        self.quotas = quotas

    def query(self, ctx: RequestContext) -> Select[Any]:
        q = select(m.SubnetPool)
        if not ctx.is_admin:
            q = q.where(or_(m.SubnetPool.project_id == ctx.project_id,
                            m.SubnetPool.shared.is_(True)))
        return q

    def get(self, s: Session, ctx: RequestContext, pool_id: str) -> m.SubnetPool:
        pool = s.scalar(self.query(ctx).where(m.SubnetPool.id == pool_id))
        if pool is None:
            raise errors.not_found("SubnetPool", pool_id)
        return pool

    def views(self, s: Session, rows: list[m.SubnetPool]) -> list[dict[str, Any]]:
        return [views.subnetpool(p) for p in rows]

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        if "name" not in body:
            raise errors.required_attribute("name")
        prefixes = _prefixes(body.get("prefixes"))
        version = prefixes[0].version
        shared = flag(body, "shared", False)
        is_default = flag(body, "is_default", False)
        if (shared or is_default) and not ctx.is_admin:
            raise errors.policy_forbids("(rule:create_subnetpool and rule:create_subnetpool"
                                        ":shared) is disallowed by policy")
        policy.check_owner_project(ctx, body, "subnetpool")
        pool = m.SubnetPool(
            id=new_id(), name=text(body, "name"), description=text(body, "description"),
            project_id=owner_project(ctx, body), ip_version=version,
            prefixes=[str(p) for p in prefixes], shared=shared, is_default=is_default,
            min_prefixlen=8 if version == 4 else 64, max_prefixlen=MAX_LEN[version],
            default_prefixlen=0)
        _bounds(pool, body)
        with self.store.db.transaction() as s:
            if is_default:
                self._one_default(s, pool)
            s.add(pool)
            s.flush()
            out = views.subnetpool(pool)
        self.store.changed("subnetpool", pool.id)
        return out

    @staticmethod
    def _one_default(s: Session, pool: m.SubnetPool) -> None:
        """One default pool per IP version: a second is refused, as Neutron does."""
        other = s.scalar(select(m.SubnetPool.id).where(
            m.SubnetPool.is_default.is_(True), m.SubnetPool.ip_version == pool.ip_version,
            m.SubnetPool.id != pool.id))
        if other is not None:
            raise errors.invalid_input("A default subnetpool for this IP family has "
                                       "already been set. Only one default may exist per "
                                       "IP family")

    def update(self, ctx: RequestContext, pool_id: str, body: dict[str, Any],
               if_match: str | None = None) -> dict[str, Any]:
        for key in ("ip_version", "shared"):
            if key in body:
                raise errors.read_only(key)
        with self.store.db.transaction() as s:
            pool = self.get(s, ctx, pool_id)
            policy.must_own(ctx, pool.project_id, "subnetpool")
            bump(pool, if_match)
            if "name" in body:
                pool.name = text(body, "name")
            if "description" in body:
                pool.description = text(body, "description")
            if "prefixes" in body:
                new = _prefixes(body["prefixes"])
                if new[0].version != pool.ip_version:
                    raise errors.subnetpool_prefix_versions()
                if not all(any(ipaddress.ip_network(old).subnet_of(n)  # type: ignore[arg-type]
                               for n in new) for old in pool.prefixes):
                    raise errors.subnetpool_prefixes_shrunk()
                pool.prefixes = [str(p) for p in new]
            if "is_default" in body:
                if not ctx.is_admin:
                    raise errors.policy_forbids("(rule:update_subnetpool:is_default) is "
                                                "disallowed by policy")
                pool.is_default = flag(body, "is_default", False)
                if pool.is_default:
                    self._one_default(s, pool)
            _bounds(pool, body)
            s.flush()
            out = views.subnetpool(pool)
        self.store.changed("subnetpool", pool_id)
        return out

    def delete(self, ctx: RequestContext, pool_id: str) -> None:
        with self.store.db.transaction() as s:
            pool = self.get(s, ctx, pool_id)
            policy.must_own(ctx, pool.project_id, "subnetpool")
            if s.scalar(select(m.Subnet.id).where(m.Subnet.subnetpool_id == pool_id)
                        .limit(1)):
                raise errors.subnetpool_in_use(pool_id)
            s.delete(pool)
        self.store.changed("subnetpool", pool_id)

    # ----- allocation (the subnets' side) ------------------------------------------
    def pool_for(self, s: Session, ctx: RequestContext, body: dict[str, Any],
                 version: int) -> m.SubnetPool | None:
        """The pool a new subnet comes from: the one named, or with
        use_default_subnetpool the default pool of its IP version."""
        pool_id = body.get("subnetpool_id")
        if pool_id is None and flag(body, "use_default_subnetpool", False):
            pool = s.scalar(select(m.SubnetPool).where(
                m.SubnetPool.is_default.is_(True), m.SubnetPool.ip_version == version))
            if pool is None:
                raise errors.invalid_input(f"No default subnetpool found for IPv{version}")
            return pool
        if pool_id is None:
            return None
        pool = self.get(s, ctx, str(pool_id))
        if pool.ip_version != version:
            raise errors.subnetpool_version_mismatch(version, pool.ip_version)
        return pool

    @staticmethod
    def allocate(s: Session, pool: m.SubnetPool, cidr: ipam.IPNetwork | None,
                 prefixlen: Any) -> ipam.IPNetwork:
        """The CIDR a new subnet of the pool gets: `cidr` when it lies in the pool and
        is free, else the first free block of `prefixlen` (the pool's default)."""
        taken = sorted((ipaddress.ip_network(c) for c in s.scalars(
            select(m.Subnet.cidr).where(m.Subnet.subnetpool_id == pool.id))),
            key=lambda n: int(n.network_address))
        prefixes = [ipaddress.ip_network(p) for p in pool.prefixes]
        if cidr is not None:
            if not pool.min_prefixlen <= cidr.prefixlen <= pool.max_prefixlen:
                raise errors.subnet_allocation(
                    f"Unable to allocate subnet with prefix length {cidr.prefixlen}, "
                    f"minimum allowed prefix is {pool.min_prefixlen}, maximum allowed "
                    f"prefix is {pool.max_prefixlen}")
            if not any(cidr.subnet_of(p) for p in prefixes):  # type: ignore[arg-type]
                raise errors.subnet_allocation(f"Cidr {cidr} is not within the pool's "
                                               "prefixes")
            if any(cidr.overlaps(t) for t in taken):
                raise errors.subnet_allocation(f"Cidr {cidr} overlaps a subnet already "
                                               "allocated from the pool")
            return cidr
        length = pool.default_prefixlen if prefixlen is None else prefixlen
        if isinstance(length, str) and length.isdigit():
            length = int(length)
        if isinstance(length, bool) or not isinstance(length, int) or \
                not pool.min_prefixlen <= length <= pool.max_prefixlen:
            raise errors.subnet_allocation(
                f"Unable to allocate subnet with prefix length {length}, minimum allowed "
                f"prefix is {pool.min_prefixlen}, maximum allowed prefix is "
                f"{pool.max_prefixlen}")
        size = 1 << (MAX_LEN[pool.ip_version] - length)
        for prefix in prefixes:
            # Walk the prefix block by block, jumping past each allocation in the way:
            # as many steps as there are allocations, whatever the prefix's size.
            at = int(prefix.network_address)
            end = int(prefix.broadcast_address)
            while at + size - 1 <= end:
                block = ipaddress.ip_network((at, length))
                clash = next((t for t in taken if t.overlaps(block)), None)
                if clash is None:
                    return block
                past = int(clash.broadcast_address) + 1
                at = max(at + size, -(-past // size) * size)
        raise errors.subnet_allocation(f"Insufficient prefix space to allocate subnet "
                                       f"size /{length}")
