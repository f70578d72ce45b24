"""The agent's half of a live migration (bus/live_migration.py tells the whole
exchange): on the source it drives the move and reports it, on the target it
prepares and finishes what the source asks.

The source asks the target to get ready (a call: the target's driver builds the
instance's files, plugs its ports and starts the hypervisor waiting), lets its
own driver send the guest, then tells the target how it ended. The guest runs on
exactly one host at every moment: until the source's driver returns it runs here,
and on any failure (or an abort) the target's copy is removed and the guest goes
on here. After a success the copy here is destroyed; the conductor hears the
outcome (`LiveMigrationState`) and moves the instance's host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from overcast.agent.virt import base
from overcast.agent.virt.base import MigrationAborted, MigrationRequests
from overcast.bus import REPORTS, BusTimeout
from overcast.bus.live_migration import (
    FinishLiveMigration,
    LiveMigrateInstance,
    LiveMigrationControl,
    LiveMigrationState,
    LiveMigrationTarget,
    PrepareLiveMigration,
)
from overcast.bus.messages import InstanceSpec, Message

if TYPE_CHECKING:
    from overcast.agent.host import Agent

log = logging.getLogger("overcast.agent.live_migration")

#: how long the source waits for the target to get ready (a TCG guest's image may
#: have to be fetched and cached there first)
PREPARE_TIMEOUT = 300.0
#: at most this often a running migration's progress is reported
PROGRESS_EVERY = 1.0
#: how long after a migration ends the reconciler still leaves the instance alone
#: here (the conductor may not have moved its host yet: the target would take it for
#: an orphan, the source for lost)
SETTLE = 60.0

MESSAGES = (LiveMigrateInstance, PrepareLiveMigration, FinishLiveMigration,
            LiveMigrationControl)


class LiveMigrations:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        #: migrations leaving this host: uuid -> what the operator asked of it
        self.outgoing: dict[str, MigrationRequests] = {}
        #: instances this host is receiving
        self.incoming: set[str] = set()
        #: instances that just left or arrived (see SETTLE)
        self.settling: set[str] = set()

    def busy(self) -> set[str]:
        """The instances the reconciler must leave alone: moving or just moved."""
        return self.incoming | set(self.outgoing) | self.settling

    def _settle(self, uuid: str) -> None:
        self.settling.add(uuid)
        asyncio.get_running_loop().call_later(SETTLE, self.settling.discard, uuid)

    async def handle(self, msg: Message) -> Any:
        driver = self.agent.driver
        if isinstance(msg, LiveMigrateInstance):
            if msg.uuid not in self.outgoing:
                self.outgoing[msg.uuid] = MigrationRequests()
                asyncio.create_task(self._migrate(msg))
            return None
        if isinstance(msg, LiveMigrationControl):
            req = self.outgoing.get(msg.uuid)
            if req is not None:
                if msg.action == "abort":
                    req.abort = True
                elif msg.action == "force_complete":
                    req.force_complete = True
            return None
        if isinstance(msg, PrepareLiveMigration):
            spec = InstanceSpec(**msg.instance)
            self.incoming.add(spec.uuid)
            try:
                info = await driver.prepare_live_migration(spec, msg.source_info,
                                                           msg.block_migration)
            except Exception as exc:  # noqa: BLE001 - the source must hear why
                log.warning("preparing to receive %s on %s failed: %s", spec.uuid,
                            self.agent.host, exc)
                self.incoming.discard(spec.uuid)
                with contextlib.suppress(Exception):
                    await driver.finish_live_migration(spec.uuid, False)
                return LiveMigrationTarget(ok=False, error=str(exc) or type(exc).__name__)
            return LiveMigrationTarget(ok=True, info=info)
        if isinstance(msg, FinishLiveMigration):
            try:
                await driver.finish_live_migration(msg.uuid, msg.ok)
            except Exception as exc:  # noqa: BLE001 - the source must hear why
                log.exception("finishing the live migration of %s failed", msg.uuid)
                return LiveMigrationTarget(ok=False, error=str(exc))
            finally:
                if msg.ok:
                    self._settle(msg.uuid)
                self.incoming.discard(msg.uuid)
            return LiveMigrationTarget(ok=True)
        return None

    async def _state(self, msg: LiveMigrateInstance, status: str, *,
                     progress: dict[str, int] | None = None, power_state: int = 0,
                     error: str | None = None) -> None:
        await self.agent.bus.cast(REPORTS, LiveMigrationState(
            uuid=msg.uuid, migration_id=msg.migration_id, source=self.agent.host,
            dest=msg.dest, status=status, progress=progress or {},
            power_state=power_state, error=error, request_id=msg.request_id))

    async def _migrate(self, msg: LiveMigrateInstance) -> None:
        """The source's side, start to end; always ends with a reported outcome."""
        driver, bus = self.agent.driver, self.agent.bus
        requests = self.outgoing[msg.uuid]
        target_topic = f"agent.{msg.dest}"
        prepared = False
        last = [0.0]

        async def progress(counters: dict[str, int]) -> None:
            if time.monotonic() - last[0] >= PROGRESS_EVERY:
                last[0] = time.monotonic()
                await self._state(msg, "running", progress=counters)

        try:
            source_info = await driver.live_migration_source_info(msg.uuid)
            try:
                ready: LiveMigrationTarget = await bus.call(target_topic, PrepareLiveMigration(
                    instance=msg.instance, source=self.agent.host,
                    block_migration=msg.block_migration, source_info=source_info),
                    timeout=PREPARE_TIMEOUT)
            except BusTimeout:
                raise base.DriverError(f"host {msg.dest} did not get ready in time")
            prepared = True
            if not ready.ok:
                raise base.DriverError(f"host {msg.dest} cannot receive the instance: "
                                       f"{ready.error}")
            if requests.abort:
                raise MigrationAborted(f"live migration of {msg.uuid} aborted")
            result = await driver.live_migrate(msg.uuid, ready.info, msg.block_migration,
                                               progress, requests)
        except Exception as exc:  # noqa: BLE001 - the guest stays here; say why
            aborted = isinstance(exc, MigrationAborted)
            if not aborted:
                log.warning("live migration of %s to %s failed: %s", msg.uuid, msg.dest,
                            exc)
            if prepared:
                with contextlib.suppress(Exception):
                    await bus.call(target_topic, FinishLiveMigration(uuid=msg.uuid, ok=False),
                                   timeout=120)
            self.outgoing.pop(msg.uuid, None)
            try:
                power = await driver.get_info(msg.uuid)
            except Exception:  # noqa: BLE001
                power = base.NOSTATE
            await self._state(msg, "cancelled" if aborted else "failed", power_state=power,
                              error=None if aborted else (str(exc) or type(exc).__name__))
            return
        # The guest runs on the target now (its hypervisor took over): let it, then
        # remove the copy here.
        try:
            done: LiveMigrationTarget = await bus.call(
                target_topic, FinishLiveMigration(uuid=msg.uuid, ok=True), timeout=120)
            if not done.ok:
                log.error("the target of %s could not finish: %s", msg.uuid, done.error)
        except BusTimeout:
            log.error("the target of %s did not answer the finish", msg.uuid)
        self._settle(msg.uuid)
        self.outgoing.pop(msg.uuid, None)
        with contextlib.suppress(Exception):
            await driver.destroy(msg.uuid)
        power = int(result.pop("power_state", base.RUNNING))
        log.info("live migration of %s to %s done (downtime %s ms)", msg.uuid, msg.dest,
                 result.get("downtime_ms"))
        await self._state(msg, "completed", progress=result, power_state=power)
