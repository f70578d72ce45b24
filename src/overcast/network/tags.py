"""Tags on every resource with standard attributes (standard-attr-tag): read by
anyone who sees the resource, changed only by its project (or an admin)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from overcast.kit.context import RequestContext
from overcast.network import errors, policy
from overcast.network.common import Collection, Store


class Tags:
    def __init__(self, store: Store, resources: Mapping[str, Collection]) -> None:
        self.store = store
        self.resources = resources

    def get(self, kind: str, ctx: RequestContext, ident: str) -> list[str]:
        res = self.resources[kind]
        with self.store.db.session() as s:
            return list(res.get(s, ctx, ident).tags or [])

    def check(self, kind: str, ctx: RequestContext, ident: str, tag: str) -> None:
        """A 404 unless the resource carries the tag."""
        res = self.resources[kind]
        with self.store.db.session() as s:
            if tag not in (res.get(s, ctx, ident).tags or []):
                raise errors.tag_not_found(tag)

    def replace(self, kind: str, ctx: RequestContext, ident: str, tags: list[str]
                ) -> list[str]:
        return self._change(kind, ctx, ident, lambda _old: list(tags))

    def add(self, kind: str, ctx: RequestContext, ident: str, tag: str) -> list[str]:
        return self._change(kind, ctx, ident, lambda old: [*old, tag])

    def remove(self, kind: str, ctx: RequestContext, ident: str, tag: str) -> list[str]:
        def change(old: list[str]) -> list[str]:
            if tag not in old:
                raise errors.tag_not_found(tag)
            return [t for t in old if t != tag]

        return self._change(kind, ctx, ident, change)

    def clear(self, kind: str, ctx: RequestContext, ident: str) -> list[str]:
        return self._change(kind, ctx, ident, lambda _old: [])

    def _change(self, kind: str, ctx: RequestContext, ident: str,
                change: Callable[[list[str]], list[str]]) -> list[str]:
        res = self.resources[kind]
        with self.store.db.session() as s:
            policy.check_tag_owner(ctx, res.get(s, ctx, ident))
        with self.store.db.transaction() as s:
            obj = s.get(res.model, ident)
            if obj is None:
                raise errors.tagged_not_found(kind, ident)
            tags = change(list(obj.tags or []))
            for t in tags:
                if not isinstance(t, str) or not t or len(t) > 255 or "," in t:
                    raise errors.invalid_tag(t)
            obj.tags = list(dict.fromkeys(tags))
            obj.revision_number += 1
            return list(obj.tags)
