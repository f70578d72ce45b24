"""Allocation candidates: which providers (or provider trees) can satisfy a request.

Computed in SQL: one query per requested resource class finds the providers
that can still fit the amount (capacity, min/max unit, step size, usage by
correlated indexed sub-queries), filtered by forbidden traits, aggregates and
tree; only those rows reach Python, which groups them by tree. When no provider
has a parent, a single parameterised query with LIMIT answers directly.
Summaries describe every provider of the candidates' trees (capacity, usage,
traits, parent and root). `free` is the scheduler weigher's input.

Summaries are cached per provider, keyed by the provider's row as the candidate
query reads it (generation, parent, root, creation time). Every write that
changes what a summary holds bumps the provider's generation in the same
transaction (inventories, allocations, traits: `objects/base.bump`,
`Allocations._bump_all`), so a cached summary whose key still matches the row
just read is the summary the database would give; the row is read before the
summary's own rows, so a write that lands between the two can only make an entry
fresher than its key, never older. Another process's write is seen the same way
(the key comes from the database), and a deleted provider whose id is reused is
told apart by its creation time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, or_, select, text
from sqlalchemy.orm import Session

from overcast.db import Database
from overcast.kit.errors import BadRequest
from overcast.placement import models as m
from overcast.placement.errors import QUERY_MISSING_VALUE
from overcast.placement.objects.base import (
    MAX_AMOUNT,
    PlacementBase,
    driver_sql,
    fits,
    id_list,
)
from overcast.placement.objects.resource_class import check_classes
from overcast.placement.objects.trait import trait_exists

#: Above this many providers, `free` reads every provider's and keeps the wanted.
FREE_LIST_MAX = 100


@dataclass
class Candidate:
    allocations: dict[str, dict[str, int]]
    root_uuid: str
    #: the root provider's row id, when the query that found the candidate knows it
    root_id: int | None = None


def _rows(s: Session, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """All rows of a query, read off the DB-API cursor of the session's connection
    (in its transaction): plain tuples, without SQLAlchemy's per-row processing,
    which costs more than SQLite's reading at thousands of rows. `sql` names its
    parameters `:name` (SQLite's own style); for psycopg they become `%(name)s`."""
    conn = s.connection()
    cur = conn.connection.cursor()
    try:
        cur.execute(driver_sql(conn, sql), params or {})
        return list(cur.fetchall())
    finally:
        cur.close()


class Summary(dict[str, Any]):
    """One provider's summary: "resources" ({class: {"capacity", "used"}}), "traits"
    (sorted), "parent_provider_uuid", "root_provider_uuid".

    Shared by every reply while the provider is unchanged, so never mutated once
    built; `shaped` is where a view memoises its serialised forms of it (by shape).
    """

    __slots__ = ("shaped",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shaped: dict[Any, bytes] = {}


#: A provider row as the candidate queries read it:
#: (id, uuid, generation, parent_id, root_id, created_at). The cache key of its summary.
ProviderRow = tuple[Any, ...]
_ROW_COLUMNS = "p.id, p.uuid, p.generation, p.parent_id, p.root_id, p.created_at"
#: Providers whose summaries one service keeps; past it the cache starts over.
SUMMARY_CACHE_MAX = 50_000


@dataclass
class CandidateResult:
    candidates: list[Candidate] = field(default_factory=list)
    #: provider uuid -> summary of every provider in the candidates' trees
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the rows of the candidates' providers, when the query that found them read them
    rows: list[ProviderRow] = field(default_factory=list, repr=False)


class AllocationCandidates(PlacementBase):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        #: provider id -> (its row when the summary was read, the summary)
        self._summary_cache: dict[int, tuple[ProviderRow, Summary]] = {}

    def _provider_filters(self, q: Any, *, forbidden: Sequence[str],
                          member_of: Sequence[Sequence[str]], forbidden_aggs: Sequence[str],
                          in_tree_root: int | None) -> Any:
        if forbidden:
            q = q.where(~exists().where(m.ProviderTrait.provider_id == m.Provider.id,
                                        m.ProviderTrait.trait.in_(list(forbidden))))
        for group in member_of:
            q = q.where(or_(
                exists().where(m.ProviderAggregate.provider_id == m.Provider.id,
                               m.ProviderAggregate.aggregate.in_(list(group))),
                exists().where(m.ProviderAggregate.provider_id == m.Provider.root_id,
                               m.ProviderAggregate.aggregate.in_(list(group)))))
        if forbidden_aggs:
            q = q.where(~exists().where(m.ProviderAggregate.provider_id == m.Provider.id,
                                        m.ProviderAggregate.aggregate.in_(
                                            list(forbidden_aggs))))
        if in_tree_root is not None:
            q = q.where(m.Provider.root_id == in_tree_root)
        return q

    def allocation_candidates(
        self, resources: dict[str, int], *, required: Sequence[str] = (),
        forbidden: Sequence[str] = (), member_of: Sequence[Sequence[str]] = (),
        forbidden_aggs: Sequence[str] = (), in_tree: str | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        return self.candidates_with_summaries(
            resources, required=required, forbidden=forbidden, member_of=member_of,
            forbidden_aggs=forbidden_aggs, in_tree=in_tree, limit=limit,
            summaries=False).candidates

    def candidates_with_summaries(
        self, resources: dict[str, int], *, required: Sequence[str] = (),
        forbidden: Sequence[str] = (), member_of: Sequence[Sequence[str]] = (),
        forbidden_aggs: Sequence[str] = (), in_tree: str | None = None,
        limit: int | None = None, summaries: bool = True,
    ) -> CandidateResult:
        if not resources:
            raise BadRequest("Badly formed resources parameter: at least one resource class "
                             "is required.", code=QUERY_MISSING_VALUE)
        with self.db.session() as s:
            check_classes(s, resources)
            unknown = [t for t in [*required, *forbidden] if not trait_exists(s, t)]
            if unknown:
                raise BadRequest(f"No such trait(s): {', '.join(unknown)}.")
            root = None
            if in_tree:
                root = s.scalar(select(m.Provider.root_id).where(m.Provider.uuid == in_tree))
                if root is None:
                    return CandidateResult()
            if max(resources.values()) > MAX_AMOUNT:     # more than any inventory holds
                return CandidateResult()
            nested = s.scalar(select(exists().where(m.Provider.parent_id.isnot(None))))
            if nested:
                result = self._tree_candidates(s, resources, required, forbidden, member_of,
                                               forbidden_aggs, root, limit)
            else:
                result = self._flat_candidates(s, resources, required, forbidden, member_of,
                                               forbidden_aggs, root, limit)
            if summaries:
                result.summaries = self._summaries(s, result.candidates, nested=bool(nested),
                                                   rows=result.rows)
            return result

    def _flat_candidates(self, s: Session, resources: dict[str, int], required: Sequence[str],
                         forbidden: Sequence[str], member_of: Sequence[Sequence[str]],
                         forbidden_aggs: Sequence[str], root: int | None,
                         limit: int | None) -> CandidateResult:
        # Written as one parameterised SQL text: building the equivalent expression
        # tree costs more than running the query at 10,000 providers.
        where: list[str] = []
        params: dict[str, Any] = {}
        for i, (rc, amount) in enumerate(resources.items()):
            params[f"rc{i}"], params[f"amt{i}"] = rc, amount
            where.append(
                f"EXISTS (SELECT 1 FROM placement_inventories i WHERE i.provider_id = p.id "
                f"AND i.resource_class = :rc{i} AND i.min_unit <= :amt{i} "
                f"AND i.max_unit >= :amt{i} AND (:amt{i} % i.step_size) = 0 "
                f"AND (i.total - i.reserved) * i.allocation_ratio >= :amt{i} + "
                f"(SELECT COALESCE(SUM(a.used), 0) FROM placement_allocations a "
                f"WHERE a.provider_id = p.id AND a.resource_class = :rc{i}))")
        for i, t in enumerate(required):
            params[f"req{i}"] = t
            where.append(f"EXISTS (SELECT 1 FROM placement_provider_traits t "
                         f"WHERE t.provider_id = p.id AND t.trait = :req{i})")
        if forbidden:
            names = ", ".join(f":forb{i}" for i in range(len(forbidden)))
            params.update({f"forb{i}": t for i, t in enumerate(forbidden)})
            where.append(f"NOT EXISTS (SELECT 1 FROM placement_provider_traits t "
                         f"WHERE t.provider_id = p.id AND t.trait IN ({names}))")
        for g, group in enumerate(member_of):
            names = ", ".join(f":mo{g}_{i}" for i in range(len(group)))
            params.update({f"mo{g}_{i}": a for i, a in enumerate(group)})
            where.append(f"EXISTS (SELECT 1 FROM placement_provider_aggregates g "
                         f"WHERE g.provider_id = p.id AND g.aggregate IN ({names}))")
        if forbidden_aggs:
            names = ", ".join(f":nmo{i}" for i in range(len(forbidden_aggs)))
            params.update({f"nmo{i}": a for i, a in enumerate(forbidden_aggs)})
            where.append(f"NOT EXISTS (SELECT 1 FROM placement_provider_aggregates g "
                         f"WHERE g.provider_id = p.id AND g.aggregate IN ({names}))")
        if root is not None:
            params["root"] = root
            where.append("p.root_id = :root")
        sql = f"SELECT {_ROW_COLUMNS} FROM placement_providers p WHERE " + \
            " AND ".join(where) + " ORDER BY p.id"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        rows = _rows(s, sql, params)
        out = [Candidate(allocations={r[1]: dict(resources)}, root_uuid=r[1], root_id=r[0])
               for r in rows]
        return CandidateResult(candidates=out, rows=rows)

    def _tree_candidates(self, s: Session, resources: dict[str, int], required: Sequence[str],
                         forbidden: Sequence[str], member_of: Sequence[Sequence[str]],
                         forbidden_aggs: Sequence[str], root: int | None,
                         limit: int | None) -> CandidateResult:
        # Per class: the providers that can take the amount, grouped by tree.
        per_rc: dict[str, dict[int, list[int]]] = {}
        for rc, amount in resources.items():
            q = select(m.Provider.id, m.Provider.root_id).where(
                fits(m.Provider.id, rc, amount)).order_by(m.Provider.id)
            q = self._provider_filters(q, forbidden=forbidden, member_of=member_of,
                                       forbidden_aggs=forbidden_aggs, in_tree_root=root)
            groups: dict[int, list[int]] = {}
            for pid, rid in s.execute(q):
                groups.setdefault(rid, []).append(pid)
            per_rc[rc] = groups
        roots = set.intersection(*(set(g) for g in per_rc.values()))
        ids: set[int] = set()
        combos: list[tuple[int, dict[str, int]]] = []
        for rid in sorted(roots):
            options = [[(rc, pid) for pid in per_rc[rc][rid]] for rc in resources]
            for combo in itertools.product(*options):
                combos.append((rid, dict(combo)))
                ids.update(pid for _, pid in combo)
        uuids: dict[int, str] = {}
        if ids:
            uuids = {pid: u for pid, u in s.execute(select(m.Provider.id, m.Provider.uuid)
                                                    .where(m.Provider.id.in_(ids | roots)))}
        traits: dict[int, set[str]] = {}
        if required:
            for pid, t in s.execute(select(m.ProviderTrait.provider_id, m.ProviderTrait.trait)
                                    .where(m.ProviderTrait.provider_id.in_(ids))):
                traits.setdefault(pid, set()).add(t)
        out: list[Candidate] = []
        seen: set[tuple[Any, ...]] = set()
        for rid, pick in combos:
            if required:
                have = set().union(*(traits.get(pid, set()) for pid in pick.values()))
                if not set(required) <= have:
                    continue
            allocs: dict[str, dict[str, int]] = {}
            for rc, pid in pick.items():
                allocs.setdefault(uuids[pid], {})[rc] = resources[rc]
            key = tuple(sorted((k, tuple(sorted(v.items()))) for k, v in allocs.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(allocations=allocs, root_uuid=uuids[rid], root_id=rid))
            if limit is not None and len(out) >= limit:
                break
        return CandidateResult(candidates=out)

    def _summaries(self, s: Session, candidates: list[Candidate], *,
                   nested: bool = True, rows: list[ProviderRow] | None = None
                   ) -> dict[str, dict[str, Any]]:
        """Capacity, usage, traits, parent and root of every provider in the candidates'
        trees. This runs on every candidates call (a thousand trees at Nova's limit):
        a provider whose row is unchanged since its summary was cached is answered
        from the cache; the others are read as plain rows straight off the driver's
        cursor, three queries over integer id lists, no ORM objects."""
        if not candidates:
            return {}
        if nested or rows is None or any(c.root_id is None for c in candidates):
            root_ids = {c.root_id for c in candidates if c.root_id is not None}
            missing = [c.root_uuid for c in candidates if c.root_id is None]
            if missing:
                root_ids.update(s.scalars(select(m.Provider.id).where(
                    m.Provider.uuid.in_(missing))))
            rows = [tuple(r) for r in _rows(
                s, f"SELECT {_ROW_COLUMNS} FROM placement_providers p "
                   f"WHERE p.root_id IN ({id_list(root_ids)})")]
        # else no provider has a parent: each candidate is its own tree, and the
        # candidate query read its row
        cache = self._summary_cache
        uuid_of = {r[0]: r[1] for r in rows}
        out: dict[str, dict[str, Any]] = {}
        stale: list[ProviderRow] = []
        for row in rows:
            hit = cache.get(row[0])
            if hit is not None and hit[0] == row:
                out[row[1]] = hit[1]
            else:
                out[row[1]] = {}        # keeps the rows' order; filled below
                stale.append(row)
        if stale:
            if len(cache) + len(stale) > SUMMARY_CACHE_MAX:
                cache.clear()
            for row, summary in self._read_summaries(s, stale, uuid_of).items():
                cache[row[0]] = (row, summary)
                out[row[1]] = summary
        return out

    @staticmethod
    def _read_summaries(s: Session, rows: list[ProviderRow], uuid_of: dict[int, str]
                        ) -> dict[ProviderRow, Summary]:
        """The summaries of the providers of `rows` as the database holds them now
        (read after the rows, in the same unit of work)."""
        out: dict[int, Summary] = {}
        for pid, u, _gen, parent, root, _created in rows:
            out[pid] = Summary(resources={}, traits=[],
                               parent_provider_uuid=uuid_of.get(parent) if parent else None,
                               root_provider_uuid=uuid_of.get(root, u) if root else u)
        ids = id_list(out)
        used = {(pid, rc): int(n) for pid, rc, n in _rows(
            s, "SELECT provider_id, resource_class, SUM(used) FROM placement_allocations "
               f"WHERE provider_id IN ({ids}) GROUP BY provider_id, resource_class")}
        for pid, rc, total, reserved, ratio in _rows(
                s, "SELECT provider_id, resource_class, total, reserved, allocation_ratio "
                   f"FROM placement_inventories WHERE provider_id IN ({ids})"):
            out[pid]["resources"][rc] = {
                "capacity": int((total - reserved) * ratio), "used": used.get((pid, rc), 0)}
        for pid, t in _rows(s, "SELECT provider_id, trait FROM placement_provider_traits "
                               f"WHERE provider_id IN ({ids}) ORDER BY provider_id, trait"):
            out[pid]["traits"].append(t)
        return {row: out[row[0]] for row in rows}

    def free(self, uuids: Iterable[str], resource_class: str) -> dict[str, float]:
        """Capacity left of one class on each provider (the scheduler's weigher input),
        in one aggregate query."""
        ids = list(uuids)
        if not ids:
            return {}
        if len(ids) > FREE_LIST_MAX:
            return self._free_of_all(set(ids), resource_class)
        names = ", ".join(f":u{i}" for i in range(len(ids)))
        params: dict[str, Any] = {f"u{i}": u for i, u in enumerate(ids)}
        params["rc"] = resource_class
        sql = ("SELECT p.uuid, (i.total - i.reserved) * i.allocation_ratio - "
               "COALESCE((SELECT SUM(a.used) FROM placement_allocations a "
               "WHERE a.provider_id = p.id AND a.resource_class = :rc), 0) "
               "FROM placement_providers p JOIN placement_inventories i "
               "ON i.provider_id = p.id AND i.resource_class = :rc "
               f"WHERE p.uuid IN ({names})")
        with self.db.session() as s:
            return {u: float(f) for u, f in s.execute(text(sql), params)}

    def _free_of_all(self, wanted: set[str], resource_class: str) -> dict[str, float]:
        """`free` for many providers: every provider's, in one grouped query with no
        list of bound uuids (a thousand parameters cost more to bind and plan than
        the query takes), kept for the wanted ones."""
        sql = ("SELECT p.uuid, (i.total - i.reserved) * i.allocation_ratio - "
               "COALESCE(u.used, 0) FROM placement_inventories i "
               "JOIN placement_providers p ON p.id = i.provider_id "
               "LEFT JOIN (SELECT provider_id, SUM(used) AS used FROM placement_allocations "
               "WHERE resource_class = :rc GROUP BY provider_id) u "
               "ON u.provider_id = i.provider_id WHERE i.resource_class = :rc")
        with self.db.session() as s:
            return {u: float(f) for u, f in s.execute(text(sql), {"rc": resource_class})
                    if u in wanted}

    def provider_summaries(self, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self.db.session() as s:
            return self._summaries(s, [Candidate(allocations={}, root_uuid=u) for u in uuids])

