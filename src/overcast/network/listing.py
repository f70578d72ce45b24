"""Neutron's collection queries: filters, tags, sorting and paging over one
resource's visible rows.

The routes hand over the query string as (key, value) pairs; here each filter is
checked against the resource's filterable attributes (filter-validation: an
unknown one is a 400), values are coerced to the column's type, and the page is
read with the kit's keyset paging. Ports also filter by fixed IP and by security
group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from overcast.kit.context import RequestContext
from overcast.kit.errors import NotFound
from overcast.kit.paging import keyset_page, parse_limit
from overcast.network import errors
from overcast.network import models as m
from overcast.network.common import Collection, Store

TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


@dataclass
class Page:
    items: list[dict[str, Any]]
    #: the marker of the next page, when there is one
    next_marker: str | None


def _coerce(col: Any, raw: str) -> Any:
    python_type = getattr(col.type, "python_type", str)
    if python_type is bool:
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise errors.invalid_filter_value(raw, "a boolean")
    if python_type is int:
        try:
            value = int(raw)
        except ValueError:
            raise errors.invalid_filter_value(raw, "an integer")
        if not -(2**63) <= value < 2**63:
            raise errors.invalid_filter_value(raw, "an integer of at most 64 bits")
        return value
    return raw


def _tags_match(tags: set[str], f: dict[str, list[str]]) -> bool:
    if "tags" in f and not set(f["tags"]) <= tags:
        return False
    if "tags-any" in f and not set(f["tags-any"]) & tags:
        return False
    if "not-tags" in f and set(f["not-tags"]) <= tags:
        return False
    return not ("not-tags-any" in f and set(f["not-tags-any"]) & tags)


def _fixed_ips(q: Select[Any], filters: list[str]) -> Select[Any]:
    for f in filters:
        k, _, v = f.partition("=")
        if k not in ("ip_address", "subnet_id", "ip_address_substr"):
            raise errors.invalid_fixed_ips_filter(f)
        col = m.IPAllocation.ip_address if k.startswith("ip_address") else \
            m.IPAllocation.subnet_id
        # a substring, not a pattern: `_` and `%` in it match only themselves
        cond = col.contains(v, autoescape=True) if k == "ip_address_substr" else col == v
        q = q.where(m.Port.id.in_(select(m.IPAllocation.port_id).where(cond)))
    return q


def page(store: Store, res: Collection, kind: str, ctx: RequestContext,
         params: list[tuple[str, str]]) -> Page:
    """One page of the collection as the query string asks (fields aside: the
    routes project them)."""
    q = res.query(ctx)
    grouped: dict[str, list[str]] = {}
    for k, v in params:
        grouped.setdefault(k, []).append(v)
    tag_filters: dict[str, list[str]] = {}
    fixed_ip_filters: list[str] = []
    sort_keys = grouped.pop("sort_key", [])
    sort_dirs = grouped.pop("sort_dir", [])
    grouped.pop("fields", None)
    limit_raw = grouped.pop("limit", [None])[0]
    marker = grouped.pop("marker", [None])[0]
    grouped.pop("page_reverse", None)
    for key, values in grouped.items():
        if key in TAG_FILTERS:
            tag_filters[key] = [t for v in values for t in v.split(",")]
            continue
        if key == "fixed_ips" and kind == "port":
            fixed_ip_filters += values
            continue
        if key == "router:external" and kind == "subnet":
            # subnet-external-network: the subnet's network's flag
            wanted = {_coerce(m.Network.external, v) for v in values}
            q = q.where(m.Subnet.network_id.in_(select(m.Network.id).where(
                m.Network.external.in_(wanted))))
            continue
        if key == "security_group_id" and kind == "port":
            sel = m.PortSecurityGroup
            q = q.where(m.Port.id.in_(select(sel.port_id).where(
                sel.security_group_id.in_(values))))
            continue
        attr = res.filters.get(key)
        if attr is None:
            # Neutron ignores filters on attributes it has but cannot query; unknown
            # attributes are refused (filter-validation).
            raise errors.invalid_filter(key)
        col = getattr(res.model, attr)
        vals = [_coerce(col, v) for v in values]
        q = q.where(col.in_(vals)) if len(vals) > 1 else q.where(col == vals[0])
    if fixed_ip_filters:
        q = _fixed_ips(q, fixed_ip_filters)
    sort = _sort(res, sort_keys, sort_dirs)
    limit = parse_limit(limit_raw, default=None, maximum=None)
    if limit == 0:
        limit = None
    with store.db.session() as s:
        if tag_filters:
            rows, _ = keyset_page(s, q, res.model, limit=None, marker=None, sort=sort,
                                  marker_error=NotFound)
            rows = [r for r in rows if _tags_match(set(r.tags or []), tag_filters)]
            if marker is not None:
                ids = [r.id for r in rows]
                if marker not in ids:
                    raise errors.marker_not_found(marker)
                rows = rows[ids.index(marker) + 1:]
            more = limit is not None and len(rows) > limit
            rows = rows[:limit] if limit is not None else rows
        else:
            rows, more = keyset_page(s, q, res.model, limit=limit, marker=marker, sort=sort,
                                     marker_error=NotFound)
        items = res.views(s, rows)
    return Page(items, rows[-1].id if more and rows else None)


def _sort(res: Collection, keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    sort: list[tuple[str, str]] = []
    for i, key in enumerate(keys):
        attr = res.filters.get(key)
        if attr is None:
            raise errors.invalid_sort_key(key)
        d = dirs[i] if i < len(dirs) else "asc"
        if d not in ("asc", "desc"):
            raise errors.invalid_sort_dir(d)
        sort.append((attr, d))
    if not sort:
        sort = [("created_at", "asc")] if hasattr(res.model, "created_at") else [("id", "asc")]
    return sort
