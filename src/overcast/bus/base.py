"""The bus interface every implementation provides."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from typing import Any

from overcast.bus.messages import Message

#: The conductor's topics: `CONDUCTOR` for what the API asks of it and the agents'
#: heartbeats and calls, `REPORTS` for what the agents report of their instances
#: (state, snapshots, live migrations, fencing: one topic, so they stay in the
#: order they were sent), a queue and consumer of their own, so the end of a boot
#: does not wait behind a burst of schedules.
CONDUCTOR = "conductor"
REPORTS = "conductor.reports"

#: A handler gets a message; what it returns is the reply to a `call`.
Handler = Callable[[Message], Awaitable[Any]]


class BusTimeout(TimeoutError):
    """A `call` got no reply in time (the other side is down or too slow)."""


class RemoteError(RuntimeError):
    """The handler on the other side of a `call` raised (in another process)."""


class Bus(abc.ABC):
    #: (when this process lost the broker, when it had it back: inf while it has
    #: not), wall-clock seconds, of the latest outage; None: never lost. Whoever
    #: judges others by the messages they send (the conductor, by heartbeats) must
    #: not blame them for this silence.
    last_outage: tuple[float, float] | None = None

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def cast(self, topic: str, message: Message) -> None:
        """Deliver `message` to the topic's subscriber; do not wait for it to be handled."""

    @abc.abstractmethod
    async def call(self, topic: str, message: Message, timeout: float = 30) -> Any:
        """Deliver `message` and wait for the handler's return value: a typed reply
        (checked against the message's `reply_type`: UnexpectedReply) or, for a
        message that names none, the plain JSON value the handler returned."""

    @abc.abstractmethod
    async def subscribe(self, topic: str, handler: Handler) -> None:
        """Handle every message sent to `topic` (one handler per topic)."""
