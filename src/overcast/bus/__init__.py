"""The message bus between the control plane and the host agents.

`Bus` is the interface: `cast` (fire and forget), `call` (request/reply with a
timeout) and `subscribe` (a handler per topic). Topics are `conductor`,
`conductor.reports` (the agents' reports on their instances), `agent.<host>` and
`events`. `memory.MemoryBus` is the embedded implementation (asyncio queues in
one process); a RabbitMQ implementation plugs in behind the same interface for
several hosts.
"""

# the live migration's and the disk transfer's messages live in modules of their
# own; imported here so every process that reads messages from the bus knows them
from overcast.bus import disk_transfer as _disk_transfer  # noqa: F401, I001
from overcast.bus import live_migration as _live_migration  # noqa: F401
from overcast.bus.base import CONDUCTOR, REPORTS, Bus, BusTimeout, Handler
from overcast.bus.memory import MemoryBus

__all__ = ["CONDUCTOR", "REPORTS", "Bus", "BusTimeout", "Handler", "MemoryBus", "make_bus"]


def make_bus(url: str, namespace: str = "overcast") -> Bus:
    """`memory` for the embedded bus, `amqp://...` for RabbitMQ."""
    if url in ("", "memory"):
        return MemoryBus()
    if url.startswith(("amqp://", "amqps://")):
        from overcast.bus.rabbit import RabbitBus

        return RabbitBus(url, namespace)
    raise ValueError(f"unknown bus URL {url!r}: use 'memory' or an amqp:// URL")
