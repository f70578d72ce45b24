"""What every server action handler shares: the call it gets and the table entry that
names it (`server_actions` dispatches; actions with a module of their own, one per
action group as Nova's controllers, export their `ACTIONS` for it to merge)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from overcast.kit.context import RequestContext


@dataclass(frozen=True)
class Call:
    """One action request: who asks, on which server, with which argument."""

    request: Request
    ctx: RequestContext
    uuid: str
    name: str
    arg: Any


Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Action:
    handler: Handler
    #: the lowest microversion with this action (None: every version)
    min_version: str | None = None
    admin: bool = False
