"""Enforcing application credential access rules on every API (what
keystonemiddleware's `validate_allowed_request` does in front of each OpenStack
service). A token made from a credential with rules reaches a handler only if one
rule names the service's catalog type, the request's method, and a path template
matching the request's path below the service's endpoint (`/v2.1/servers/*/ips`:
`*` or `{name}` is one segment, `**` any number). Reading the token itself
(`GET /identity/v3/auth/tokens`) is always allowed. Anything else is a 401, the
answer keystonemiddleware gives.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from overcast.kit.errors import Unauthorized

_TOKEN = re.compile(r"\{[^}]*\}|\*\*|\*|[^{}*]+")


@functools.lru_cache(maxsize=1024)
def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    for piece in _TOKEN.findall(template):
        if piece == "**":
            parts.append(".*")
        elif piece == "*" or piece.startswith("{"):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(piece))
    return re.compile("^" + "".join(parts) + "$")


def path_matches(path: str, template: str) -> bool:
    return _pattern(template).match(path) is not None


def allows(rules: Iterable[dict[str, str]], service_types: Iterable[str], method: str,
           path: str) -> bool:
    """Whether one of `rules` lets `method path` through on a service of one of
    `service_types` (its catalog type and aliases)."""
    types = set(service_types)
    return any(r.get("method") == method and r.get("service") in types
               and path_matches(path, r.get("path", "")) for r in rules)


def enforce(rules: Sequence[dict[str, str]], specs: Sequence[Any], method: str,
            full_path: str) -> None:
    """Refuse (401) a request no rule allows. `specs` are the mounted services
    (`kit.web.ServiceSpec`): the one whose prefix holds the path names the
    service type and what the path is relative to."""
    spec = max((s for s in specs if full_path == s.prefix
                or full_path.startswith(s.prefix.rstrip("/") + "/")),
               key=lambda s: len(s.prefix), default=None)
    if spec is not None:
        path = full_path[len(spec.prefix.rstrip("/")):] or "/"
        types = [spec.type, *(alias[0] for alias in spec.aliases)]
        if spec.type == "identity" and method in ("GET", "HEAD") \
                and path.endswith("/v3/auth/tokens"):
            return
        if allows(rules, types, method, path):
            return
    raise Unauthorized("The request you have made requires authentication.")
