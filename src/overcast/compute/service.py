"""Nova's domain logic for servers: create (desired state first, then a cast to
the conductor), list/show/update/delete, actions, metadata, instance actions and
events. Quotas, server groups and compute hosts have their own modules, which
`ComputeService` holds (`quotas`, `server_groups`, `hosts`).

The other services are reached only through the ports it is given (`network`,
`image`, `placement`: see `ports.py`); an absent port keeps the fallback it always
had. It never imports the conductor: what both need is in `hosts` and `instances`.

Every state change goes through `states.check` (Nova's legal-state table) and
is written with the task_state it expects (`UPDATE ... WHERE task_state IS
:seen`), so two racing actions cannot both win: the loser gets a 409.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import uuid as uuidlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from overcast.bus import Bus
from overcast.bus.messages import (
    CleanupInstance,
    ConsoleOutput,
    DeleteInstance,
    Message,
    PowerAction,
    RebuildInstance,
    ResizeInstance,
    ScheduleInstances,
    SnapshotInstance,
)
from overcast.compute import device_tags, migrations, personality, states, trusted_certs
from overcast.compute import models as m
from overcast.compute.admin_password import AdminPasswords
from overcast.compute.audit import migration_consumer
from overcast.compute.backups import backup_properties
from overcast.compute.deferred_delete import DeferredDelete
from overcast.compute.events import ServerEvents
from overcast.compute.flavors import FlavorService, snapshot
from overcast.compute.hosts import HostService, ServiceGroup, provider_uuid
from overcast.compute.instances import finish_delete, instance_spec
from overcast.compute.interfaces import ServerInterfaces
from overcast.compute.keypairs import KeyPairService
from overcast.compute.live_migration import LiveMigrations
from overcast.compute.ports import ImagePort, NetworkPort, PlacementPort, VolumePort
from overcast.compute.quotas import QuotaService
from overcast.compute.rescue import Rescues
from overcast.compute.server_groups import ServerGroupService
from overcast.compute.server_password import ServerPasswords
from overcast.compute.shelve import Shelving, forget_shelved_image
from overcast.compute.volumes import ServerVolumes
from overcast.db import Database, utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound

#: Nova's power_state of a running and of a stopped guest
RUNNING, SHUTDOWN = 1, 4

#: The instance columns server views read (everything but secrets and internals).
LIST_ATTRS = ("uuid", "name", "project_id", "user_id", "flavor_id", "flavor", "image_ref",
              "key_name", "user_data", "metadata_", "vm_state", "task_state", "power_state",
              "host", "availability_zone", "access_ip_v4", "access_ip_v6", "config_drive",
              "auto_disk_config", "locked", "description", "hostname", "reservation_id",
              "launch_index", "fault", "tags", "launched_at", "terminated_at", "created_at",
              "updated_at", "system_metadata")

#: What a listing selects first: enough to filter, page and tell whether a cached
#: rendering of the server is still current (see `server_rows`).
KEY_ATTRS = ("uuid", "name", "project_id", "host", "updated_at", "vm_state",
             "task_state", "power_state")



def _column_matches(s: Session, rows: list[Any], patterns: dict[str, str]) -> list[Any]:
    """The rows whose columns match these regular expressions (Nova's regex filters
    on power_state, progress, config_drive and the times, 2.83 for non-admins), each
    column read as its text (a time as the database writes it, a flag as Nova's
    "True" or "")."""
    cols = [c for c in patterns if c != "progress"]
    values = {r[0]: r[1:] for r in s.execute(
        select(m.Instance.uuid, *[getattr(m.Instance, c) for c in cols]).where(
            m.Instance.uuid.in_([r.uuid for r in rows])))}
    if "progress" in patterns:  # no column: what the views show (0 building, 100 up)
        rx = _regex(patterns["progress"])
        shown = {"BUILD": "0", "ACTIVE": "100"}
        rows = [r for r in rows if rx.search(shown.get(
            states.status(r.vm_state, r.task_state), ""))]

    def text(value: Any) -> str:
        if value is None or value is False:
            return ""
        return "True" if value is True else str(value)

    for i, col in enumerate(cols):
        rx = _regex(patterns[col])
        rows = [r for r in rows if r.uuid in values and rx.search(text(values[r.uuid][i]))]
    return rows


def _regex(pattern: str) -> re.Pattern[str]:
    """A filter's regular expression; one that does not compile matches literally."""
    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(re.escape(pattern))


class ComputeService:
    def __init__(self, db: Database, bus: Bus, *, network: NetworkPort | None = None,
                 image: ImagePort | None = None,
                 placement: PlacementPort | None = None,
                 volume: VolumePort | None = None,
                 reclaim_instance_interval: float = 0.0,
                 shelved_offload_time: float = 0.0,
                 service_down_time: float = 60.0) -> None:
        self.db = db
        self.bus = bus
        #: whether a compute service is up, for every check of this cloud (its
        #: service_down_time, and the grace after a broker outage this bus saw)
        self.servicegroup = ServiceGroup(service_down_time, bus)
        #: the other services, as compute sees them (None: not running in this app)
        self.network = network
        self.image = image
        self.placement = placement
        self.flavors = FlavorService(db)
        self.keypairs = KeyPairService(db)
        self.quotas = QuotaService(db)
        self.server_groups = ServerGroupService(db, self.quotas)
        self.hosts = HostService(db, placement, self.servicegroup)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.volume = volume
        self.server_volumes = ServerVolumes(db, volume, self.call)
        self.events = ServerEvents(db, volume, self.call)
        self.passwords = ServerPasswords(db)
        self.deferred = DeferredDelete(self, reclaim_instance_interval)
        self.shelving = Shelving(self, shelved_offload_time)
        self.rescues = Rescues(self)
        self.admin_passwords = AdminPasswords(self)
        self.interfaces = ServerInterfaces(self)
        self.live_migrations = LiveMigrations(self)

    # ---------------------------------------------------------------- bus
    def cast(self, topic: str, msg: Message) -> None:
        """Send from any thread (API handlers run in worker threads)."""
        loop = self.loop
        if loop is None:
            raise RuntimeError("compute service is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self.bus.cast(topic, msg))
        else:
            asyncio.run_coroutine_threadsafe(self.bus.cast(topic, msg), loop).result(30)

    def call(self, topic: str, msg: Message, timeout: float = 30) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(self.bus.call(topic, msg, timeout),
                                                self.loop).result(timeout + 5)

    def call_many(self, calls: list[tuple[str, Message]], timeout: float,
                  width: int = 64) -> list[Any]:
        """Ask many topics at once (at most `width` in flight): each answer in order,
        None for one that failed or had not answered when `timeout` seconds were
        up for them all (a best-effort fan-out, such as every host's uptime)."""
        assert self.loop is not None
        if not calls:
            return []

        async def ask_all() -> list[Any]:
            gate = asyncio.Semaphore(width)

            async def one(topic: str, msg: Message) -> Any:
                async with gate:
                    return await self.bus.call(topic, msg, timeout)

            tasks = [asyncio.ensure_future(one(t, m)) for t, m in calls]
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                t.cancel()
            return [t.result() if t in done and not t.cancelled() and t.exception() is None
                    else None for t in tasks]

        return asyncio.run_coroutine_threadsafe(ask_all(), self.loop).result(timeout + 5)

    # ------------------------------------------------------------ servers
    def get_instance(self, s: Session, ctx: RequestContext, uuid: str) -> m.Instance:
        inst = s.get(m.Instance, uuid)
        if inst is None or inst.deleted or (not ctx.is_admin and
                                            inst.project_id != ctx.project_id):
            raise NotFound(f"Instance {uuid} could not be found.")
        return inst

    def record_action(self, s: Session, ctx: RequestContext, uuid: str, action: str,
                      event: str) -> None:
        act = m.InstanceAction(instance_uuid=uuid, action=action, request_id=ctx.request_id,
                               user_id=ctx.user_id or "", project_id=ctx.project_id or "")
        s.add(act)
        s.flush()
        # the event runs on the server's host (when it has one yet; else the host
        # that finishes it is written then: `conductor._finish_event`)
        inst = s.get(m.Instance, uuid)
        s.add(m.InstanceActionEvent(action_id=act.id, event=event,
                                    host=inst.host if inst is not None else None))

    def instance(self, ctx: RequestContext, uuid: str) -> m.Instance:
        """A server the caller may see (404 otherwise)."""
        with self.db.session() as s:
            return self.get_instance(s, ctx, uuid)

    @staticmethod
    def _key_data(s: Session, ctx: RequestContext, key_name: str | None) -> str | None:
        """The public key of the caller's key pair `key_name` (400 when there is none)."""
        if not key_name:
            return None
        kp = s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == ctx.user_id,
                                              m.KeyPair.name == key_name))
        if kp is None:
            raise BadRequest("Invalid key_name provided.")
        return kp.public_key

    def reservation_id(self, uuid: str) -> str:
        with self.db.session() as s:
            inst = s.get(m.Instance, uuid)
            return inst.reservation_id if inst else ""

    def boot_image(self, ctx: RequestContext, image_ref: str) -> dict[str, Any]:
        """The image a server boots from, as Nova checks it (400s, not 404s)."""
        assert self.image is not None
        try:
            image = self.image.lookup(ctx, image_ref)
        except NotFound:
            raise BadRequest(f"Image {image_ref} could not be found.")
        if image.get("status") != "active":
            raise BadRequest(f"Image {image_ref} is not active.")
        return image

    def create_servers(self, ctx: RequestContext, req: dict[str, Any]) -> list[str]:
        """Write the instances (BUILD/scheduling) and ask the conductor to place them."""
        image: dict[str, Any] = {}
        if req["image_ref"] and self.image is not None:
            image = self.boot_image(ctx, req["image_ref"])
        devices = req.get("block_devices") or []
        mapped = ServerVolumes.from_image(image)
        if mapped:
            # a volume-backed server's snapshot: its volumes are made from the
            # snapshots it maps (those the request maps itself, by device, win), and
            # the server boots from the root one, not from the (empty) image
            asked = {str(d.get("device_name") or "").rsplit("/", 1)[-1] for d in devices}
            asked.discard("")
            root_asked = any(d.get("boot_index") == 0 for d in devices)
            devices = devices + [
                d for d in mapped
                if str(d.get("device_name") or "").rsplit("/", 1)[-1] not in asked and
                not (root_asked and d.get("boot_index") == 0)]
            if any(d.get("boot_index") == 0 for d in devices):
                req = {**req, "image_ref": ""}
        self.server_volumes.check_requested(ctx, devices, req["max_count"])
        for d in devices:
            if d["source_type"] == "image" and self.image is not None:
                self.boot_image(ctx, d["uuid"])
        requested: list[dict[str, Any]] | None = None
        if self.network is not None and req.get("networks") != "none":
            # absent (before 2.37) behaves as "auto": the project's network, if any
            requested = self.network.resolve_requested(ctx, req.get("networks") or "auto",
                                                       req["max_count"],
                                                       req.get("security_groups")) or None
            device_tags.carry(req.get("networks"), requested)
        with self.db.transaction() as s:
            try:
                flavor = self.flavors.get(s, req["flavor_ref"], ctx)
            except NotFound:
                raise BadRequest(f"Flavor {req['flavor_ref']} could not be found.")
            if flavor.disabled:
                raise BadRequest(f"Flavor {flavor.id} is disabled.")
            min_ram = int(image.get("min_ram") or 0)
            if min_ram and flavor.ram < min_ram:
                raise BadRequest("Flavor's memory is too small for requested image.")
            key_data = self._key_data(s, ctx, req.get("key_name"))
            group = None
            hints = req.get("scheduler_hints") or {}
            if hints.get("group"):
                group = s.get(m.ServerGroup, hints["group"])
                if group is None or (not ctx.is_admin and group.project_id != ctx.project_id):
                    raise BadRequest(f"Invalid server group {hints['group']}.")
            self._check_metadata_quota(s, ctx.project_id or "", req.get("metadata") or {})
            files = req.get("personality") or []
            if files:
                personality.check_quota(files, self.quotas.limits(s, ctx.project_id or ""))
            count = req["max_count"]
            self.quotas.check_servers(s, ctx.project_id or "", count, flavor.vcpus,
                                      flavor.ram)
            az = req.get("availability_zone")
            if az:
                zones = set(s.scalars(select(m.Service.zone).where(
                    m.Service.binary == "nova-compute")))
                zone = az.split(":", 1)[0]
                if zone and zone not in zones:
                    raise BadRequest("The requested availability zone is not available")
            snap = snapshot(flavor, self.flavors.extra_specs(s, flavor.id))
            reservation = f"r-{uuidlib.uuid4().hex[:8]}"
            uuids = []
            for i in range(count):
                uuid = str(uuidlib.uuid4())
                name = req["name"] if count == 1 else f"{req['name']}-{i + 1}"
                s.add(m.Instance(
                    uuid=uuid, name=name, project_id=ctx.project_id or "",
                    user_id=ctx.user_id or "", flavor_id=flavor.id, flavor=snap,
                    image_ref=req["image_ref"], key_name=req.get("key_name"),
                    key_data=key_data, user_data=req.get("user_data"),
                    metadata_=req.get("metadata") or {}, vm_state=states.BUILDING,
                    task_state="scheduling", power_state=0, requested_az=az or None,
                    availability_zone=(az.split(":", 1)[0] or None) if az else None,
                    access_ip_v4=req.get("access_ip_v4"), access_ip_v6=req.get("access_ip_v6"),
                    config_drive=bool(req.get("config_drive")),
                    auto_disk_config=bool(req.get("auto_disk_config")),
                    description=req.get("description"),
                    hostname=req.get("hostname")  # 2.90: asked for
                    or re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]
                    or "server", reservation_id=reservation, launch_index=i,
                    scheduler_hints=hints, server_group=group.uuid if group else None,
                    tags=list(req.get("tags") or []), requested_networks=requested,
                    system_metadata={**({personality.KEY: files} if files else {}),
                                     **trusted_certs.for_create(req)} or None))
                if group is not None:
                    s.add(m.ServerGroupMember(group_uuid=group.uuid, instance_uuid=uuid))
                ServerVolumes.add_requested(s, uuid, devices)
                s.flush()
                self.record_action(s, ctx, uuid, "create", "compute__do_build_and_run_instance")
                uuids.append(uuid)
        self.cast("conductor", ScheduleInstances(uuids=uuids, request_id=ctx.request_id))
        return uuids

    def list_servers(self, ctx: RequestContext, filters: dict[str, Any], *,
                     limit: int | None, marker: str | None,
                     sort: list[tuple[str, str]]) -> tuple[list[Any], bool]:
        from overcast.kit.paging import keyset_page

        with self.db.session() as s:
            # Plain rows of a few key columns, not ORM objects: the API renders
            # servers it has cached from these and loads full rows only for the rest.
            q = select(*[getattr(m.Instance, a) for a in KEY_ATTRS])
            deleted = filters.get("deleted", False)
            if deleted and ctx.is_admin:
                q = q.where(m.Instance.deleted.is_(True))
            elif not (filters.get("changes-since") or filters.get("changes-before")):
                q = q.where(m.Instance.deleted.is_(False))
            if filters.get("all_tenants") and ctx.is_admin:
                if filters.get("project_id"):
                    q = q.where(m.Instance.project_id == filters["project_id"])
            else:
                q = q.where(m.Instance.project_id == ctx.project_id)
            for key, col in (("image", m.Instance.image_ref), ("flavor", m.Instance.flavor_id),
                             ("host", m.Instance.host), ("key_name", m.Instance.key_name),
                             ("availability_zone", m.Instance.availability_zone),
                             ("reservation_id", m.Instance.reservation_id),
                             ("user_id", m.Instance.user_id)):
                if filters.get(key) is not None:
                    q = q.where(col == filters[key])
            if filters.get("changes-since"):
                q = q.where(m.Instance.updated_at >= filters["changes-since"])
            if filters.get("changes-before"):  # 2.66
                q = q.where(m.Instance.updated_at <= filters["changes-before"])
            if filters.get("locked") is not None:  # 2.73
                q = q.where(m.Instance.locked.is_(bool(filters["locked"])))
            if filters.get("vm_states"):
                q = q.where(m.Instance.vm_state.in_(filters["vm_states"]))
            if filters.get("vm_state"):  # admins, and from 2.83 everyone
                q = q.where(m.Instance.vm_state.in_(filters["vm_state"]))
            if filters.get("task_state"):
                wanted = [t for t in filters["task_state"] if t is not None]
                cond = m.Instance.task_state.in_(wanted)
                q = q.where(or_(cond, m.Instance.task_state.is_(None))
                            if None in filters["task_state"] else cond)
            if filters.get("name") or filters.get("ip") or filters.get("ip6") or \
                    filters.get("regex"):
                # Nova's name and ip filters are regular expressions: filter in Python,
                # then page.
                rows, _ = keyset_page(s, q, m.Instance, limit=None, marker=None, sort=sort,
                                      id_attr="uuid", as_rows=True)
                if filters.get("name"):
                    rx = _regex(filters["name"])
                    rows = [r for r in rows if rx.search(r.name)]
                if filters.get("ip") or filters.get("ip6"):
                    rows = self._ip_matches(rows, filters.get("ip"), filters.get("ip6"))
                if filters.get("regex"):
                    rows = _column_matches(s, rows, filters["regex"])
                if marker is not None:
                    ids = [r.uuid for r in rows]
                    if marker not in ids:
                        raise BadRequest(f"marker [{marker}] not found")
                    rows = rows[ids.index(marker) + 1:]
                more = limit is not None and len(rows) > limit
                rows = rows[:limit] if limit is not None else rows
            else:
                # Keyset paging in SQL: a page costs an index range, whatever the offset.
                rows, more = keyset_page(s, q, m.Instance, limit=limit, marker=marker,
                                         sort=sort, id_attr="uuid", as_rows=True)
            if filters.get("status"):
                rows = [r for r in rows if states.status(r.vm_state, r.task_state)
                        == filters["status"]]
            return rows, more

    def _ip_matches(self, rows: list[Any], ip: str | None, ip6: str | None) -> list[Any]:
        """The rows with a fixed address the `ip` (IPv4) or `ip6` (IPv6) regular
        expression matches from its start (Nova's `re.match`)."""
        addrs = self.addresses([r.uuid for r in rows])
        rx = {4: _regex(ip) if ip else None, 6: _regex(ip6) if ip6 else None}

        def hit(uuid: str) -> bool:
            for entries in addrs.get(uuid, {}).values():
                for a in entries:
                    pattern = rx.get(a.get("version"))
                    if a.get("OS-EXT-IPS:type", "fixed") == "fixed" and pattern is not None \
                            and pattern.match(a["addr"]):
                        return True
            return False
        return [r for r in rows if hit(r.uuid)]

    def server_rows(self, uuids: list[str]) -> dict[str, Any]:
        """Full view rows (LIST_ATTRS) of these instances, by uuid."""
        out: dict[str, Any] = {}
        with self.db.session() as s:
            for i in range(0, len(uuids), 500):
                q = select(*[getattr(m.Instance, a) for a in LIST_ATTRS]).where(
                    m.Instance.uuid.in_(uuids[i:i + 500]))
                for row in s.execute(q):
                    out[row.uuid] = row
        return out

    def update_server(self, ctx: RequestContext, uuid: str, data: dict[str, Any]) -> None:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            for key in ("name", "description", "access_ip_v4", "access_ip_v6",
                        "auto_disk_config", "hostname"):
                if key in data:
                    setattr(inst, key, data[key])
            inst.updated_at = utcnow()

    @staticmethod
    def _check_lock(ctx: RequestContext, inst: m.Instance) -> None:
        if inst.locked and not ctx.is_admin:
            raise Conflict(f"Instance {inst.uuid} is locked")

    def _transition(self, s: Session, inst: m.Instance, action: str,
                    name: str | None = None) -> str | None:
        new_task = states.check(action, inst.uuid, inst.vm_state, inst.task_state, name)
        seen = inst.task_state
        cond = m.Instance.task_state.is_(None) if seen is None else \
            m.Instance.task_state == seen
        res = s.execute(update(m.Instance).where(m.Instance.uuid == inst.uuid, cond)
                        .values(task_state=new_task, updated_at=utcnow()))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"Cannot '{name or action}' instance {inst.uuid}: another action "
                           f"changed it meanwhile.")
        inst.task_state = new_task
        return new_task

    def delete_server(self, ctx: RequestContext, uuid: str) -> None:
        """DELETE /servers/{id}: a soft delete when deletes are deferred
        (`deferred_delete`), else at once."""
        if not self.deferred.soft_delete(ctx, uuid):
            self.delete_now(ctx, uuid, "delete")

    def delete_now(self, ctx: RequestContext, uuid: str, action: str) -> None:
        """Delete the server now (`action`: delete or forceDelete, whose legal states
        differ)."""
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            states.check(action, uuid, inst.vm_state, inst.task_state)
            self.record_action(s, ctx, uuid, "delete" if action == "delete" else
                               "forceDelete", "compute_terminate_instance")
            shelved_image = forget_shelved_image(inst)  # deleted with it, as Nova does
            local = inst.host is None or not self.servicegroup.host_up(s, inst.host)
            if local:
                # Never placed, or its host is gone: deleted here, as Nova does, in
                # the same transaction that saw no host. The scheduler, which writes
                # the host in its own transaction, then finds the row deleted and
                # gives its claim back itself; releasing first and deleting after
                # let a claim made in between outlive the server.
                finish_delete(s, inst)
            else:
                inst.task_state = "deleting"
                inst.updated_at = utcnow()
            host = inst.host
        if shelved_image and self.image is not None:
            self.image.discard(shelved_image)
        if local:
            self.release(uuid)
        else:
            self.cast(f"agent.{host}", DeleteInstance(uuid=uuid))

    def release(self, uuid: str) -> None:
        """Give back what Placement holds for an instance, and its ports."""
        if self.placement is not None:
            self.placement.release(uuid)
        if self.network is not None:
            self.network.release_for_instance(uuid)
        self.server_volumes.release(uuid)

    def attach_volume(self, ctx: RequestContext, uuid: str, volume_id: str,
                      device: str | None, tag: str | None = None,
                      delete_on_termination: bool = False) -> m.BlockDeviceMapping:
        inst = self.instance(ctx, uuid)
        self._check_lock(ctx, inst)
        bdm = self.server_volumes.attach(ctx, inst, volume_id, device, tag,
                                         delete_on_termination)
        with self.db.transaction() as s:
            self.record_action(s, ctx, uuid, "attach_volume", "compute_attach_volume")
        return bdm

    def detach_volume(self, ctx: RequestContext, uuid: str, volume_id: str) -> None:
        inst = self.instance(ctx, uuid)
        self._check_lock(ctx, inst)
        if self.volume is not None:
            try:
                self.volume.lookup(ctx, volume_id)
            except NotFound:
                raise NotFound(f"Volume {volume_id} could not be found.")
        self.server_volumes.detach(inst, volume_id)
        with self.db.transaction() as s:
            self.record_action(s, ctx, uuid, "detach_volume", "compute_detach_volume")

    def volumes_attached(self, uuids: list[str]) -> dict[str, list[m.BlockDeviceMapping]]:
        """Each server's volumes (its `os-extended-volumes:volumes_attached`)."""
        return self.server_volumes.attached(uuids)

    def power_action(self, ctx: RequestContext, uuid: str, action: str, label: str) -> None:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            self._transition(s, inst, action, label)
            self.record_action(s, ctx, uuid, label, f"compute_{label}_instance")
            host = inst.host
        if host is None:
            raise Conflict(f"Cannot '{label}' instance {uuid}: it has no host.")
        self.cast(f"agent.{host}", PowerAction(uuid=uuid, action=action,
                                               request_id=ctx.request_id))

    def power_update(self, ctx: RequestContext, uuid: str, tag: str) -> None:
        """A `power-update` external event (2.76; `tag` POWER_ON or POWER_OFF): the
        server's power was changed from outside compute. As Nova: a `start`/`stop`
        action is recorded for it, and a stopped (shut down) server being told
        POWER_ON, or an active (running) one POWER_OFF, with no task under way, is
        started/stopped on its host so its states end as the event says; in any
        other state the event changes nothing."""
        action = "start" if tag == "POWER_ON" else "stop"
        with self.db.transaction() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or inst.deleted or not inst.host:
                return
            self.record_action(s, ctx, uuid, action, "compute_power_update")
            valid = inst.task_state is None and (
                (action == "start" and inst.vm_state == states.STOPPED
                 and inst.power_state == SHUTDOWN)
                or (action == "stop" and inst.vm_state == states.ACTIVE
                    and inst.power_state == RUNNING))
            if not valid:  # Nova's compute host logs it and does nothing
                return
            self._transition(s, inst, action)
            host = inst.host
        self.cast(f"agent.{host}", PowerAction(uuid=uuid, action=action,
                                               request_id=ctx.request_id))

    # ------------------------------------------------------- rebuild, resize
    def _spec(self, inst: m.Instance) -> dict[str, Any]:
        return asdict(instance_spec(inst, self.image, self.network,
                                    self.server_volumes.devices(inst.uuid)))

    def _placement(self) -> PlacementPort:
        if self.placement is None:
            raise RuntimeError("compute has no placement service")
        return self.placement

    def rebuild(self, ctx: RequestContext, uuid: str, req: dict[str, Any]) -> m.Instance:
        """Start a rebuild (`req` as schemas.rebuild gives it); returns the instance as
        it is now (REBUILD), for the reply. A new key pair is the caller's, as at create."""
        image_ref, name, metadata = req["image_ref"], req.get("name"), req.get("metadata")
        if self.image is not None:
            self.boot_image(ctx, image_ref)
        if self.server_volumes.root_volume(uuid) is not None:
            # a volume-backed server's disk is its volume: rebuilt with the image in
            # it only (reimaging the volume is Nova's 2.93, past this API's range)
            self.instance(ctx, uuid)  # 404 first
            booted = (self.server_volumes.boot_volume_image(ctx, uuid) or {}).get("image_id")
            if booted != image_ref:
                raise BadRequest(f"Image {image_ref} is unacceptable: Unable to rebuild "
                                 "with a different image for a volume-backed server.")
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            if "key_name" in req:
                inst.key_name, inst.key_data = req["key_name"], self._key_data(
                    s, ctx, req["key_name"])
            power_on = inst.vm_state != states.STOPPED  # a stopped server stays stopped
            self._transition(s, inst, "rebuild")
            inst.image_ref = image_ref
            if name:
                inst.name = name
            if metadata is not None:
                self._check_metadata_quota(s, inst.project_id, metadata)
                inst.metadata_ = metadata
            for key in ("access_ip_v4", "access_ip_v6"):
                if key in req:
                    setattr(inst, key, req[key])
            if req.get("auto_disk_config") is not None:
                inst.auto_disk_config = req["auto_disk_config"]
            if "user_data" in req:  # 2.57
                inst.user_data = req["user_data"]
            if "trusted_certs" in req:  # 2.63
                trusted_certs.store(inst, req["trusted_certs"])
            if req.get("hostname"):  # 2.90
                inst.hostname = req["hostname"]
            if req.get("personality") is not None:  # injected again, as Nova does
                personality.check_quota(req["personality"],
                                        self.quotas.limits(s, inst.project_id))
                personality.store(inst, req["personality"])
            self.record_action(s, ctx, uuid, "rebuild", "compute_rebuild_instance")
            host, spec = inst.host, self._spec(inst)
        self.cast(f"agent.{host}", RebuildInstance(instance=spec, power_on=power_on))
        return inst

    def create_image(self, ctx: RequestContext, uuid: str, name: str,
                     metadata: dict[str, str], backup: tuple[str, int] | None = None) -> str:
        """createImage: a private snapshot image, filled by the instance's host (or,
        for a volume-backed server, snapshots of its volumes the image maps).
        createBackup too, with `backup` (its type and rotation; see `backups`)."""
        if self.image is None:
            raise Conflict("Snapshots need the image service, which is not running.")
        action = "createImage" if backup is None else "createBackup"
        with self.db.session() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            states.check(action, uuid, inst.vm_state, inst.task_state)
        if self.server_volumes.root_volume(uuid) is not None:
            if backup is not None:
                raise BadRequest("Backup is not supported for volume-backed instances.")
            return self._snapshot_volume_backed(ctx, uuid, name, metadata)
        image_id = self.snapshot_image(ctx, uuid, name, metadata,
                                       backup_properties(backup[0]) if backup else None)
        try:
            with self.db.transaction() as s:
                inst = self.get_instance(s, ctx, uuid)
                self._transition(s, inst, action)
                self.record_action(s, ctx, uuid, action, "compute_snapshot_instance"
                                   if backup is None else "compute_backup_instance")
                host = inst.host
        except (Conflict, NotFound):
            # Refused: the image made for it goes, once the transaction is over.
            self.image.discard(image_id)
            raise
        self.cast(f"agent.{host}", SnapshotInstance(uuid=uuid, image_id=image_id,
                                                    request_id=ctx.request_id,
                                                    rotation=backup[1] if backup else -1))
        return image_id

    def snapshot_image(self, ctx: RequestContext, uuid: str, name: str,
                       metadata: dict[str, str] | None = None,
                       extra: dict[str, str] | None = None) -> str:
        """A new (queued) private image for a snapshot of the server's disk (createImage,
        createBackup with its `extra` properties, shelve), with the properties Nova
        gives it: its boot image's, then `metadata`, then Nova's own."""
        assert self.image is not None
        with self.db.session() as s:
            inst = self.get_instance(s, ctx, uuid)
            base_ref, flavor = inst.image_ref, dict(inst.flavor)
        props: dict[str, Any] = {}
        # a container's snapshot is a root file system tarball, as its image was
        container_format = "bare"
        if base_ref:
            try:
                base = self.image.lookup(ctx, base_ref)
            except NotFound:
                base = {}
            skip = {"id", "name", "status", "visibility", "protected", "os_hidden", "owner",
                    "disk_format", "container_format", "size", "virtual_size", "checksum",
                    "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "tags",
                    "created_at", "updated_at", "self", "file", "schema", "stores",
                    "image_type", "instance_uuid", "base_image_ref", "owner_user_name",
                    "owner_project_name", "user_id"}
            # kernel_id/ramdisk_id are kept, as Nova keeps them: the snapshot of an
            # AMI-style instance is its root disk, booted with the same kernel
            props.update({k: v for k, v in base.items()
                          if k not in skip and isinstance(v, str)})
            if base.get("container_format") == "docker":
                container_format = "docker"
            if base.get("min_ram"):
                props["min_ram"] = base["min_ram"]
        props.update({"image_type": "snapshot", "instance_uuid": uuid, **(extra or {}),
                      "base_image_ref": base_ref or "", "user_id": ctx.user_id or "",
                      "owner_project_name": ctx.project_name or "",
                      "owner_user_name": ctx.user_name or ""})
        props.update(metadata or {})  # the caller's properties win, as in Nova
        props.update({"name": name, "visibility": "private",
                      "container_format": container_format,
                      "min_disk": int(flavor.get("disk") or 0)})
        return str(self.image.create(ctx, props)["id"])

    def _snapshot_volume_backed(self, ctx: RequestContext, uuid: str, name: str,
                                metadata: dict[str, str]) -> str:
        """Nova's `snapshot_volume_backed`: each volume of the server snapshotted
        (forced), and an image with no data (size 0, active) whose properties map
        those snapshots (`block_device_mapping`, `bdm_v2`, `root_device_name`), on
        top of the root volume's image properties."""
        assert self.image is not None
        root = self.server_volumes.root_volume(uuid)
        assert root is not None and self.volume is not None
        base = self.volume.lookup(ctx, root).get("volume_image_metadata") or {}
        skip = {"checksum", "size", "image_id", "image_name", "container_format",
                "disk_format", "min_disk", "min_ram", "block_device_mapping", "bdm_v2",
                "root_device_name", "image_location", "owner_specified.openstack.md5",
                "owner_specified.openstack.sha256", "owner_specified.openstack.object"}
        props: dict[str, Any] = {k: v for k, v in base.items()
                                 if k not in skip and isinstance(v, str)}
        props.update(metadata)
        mapping = self.server_volumes.snapshot_mappings(ctx, uuid, name)
        root_dev = next((str(b["device_name"]) for b in mapping if b["boot_index"] == 0),
                        "/dev/vda")
        props.update({"name": name, "visibility": "private", "disk_format": "raw",
                      "container_format": "bare", "image_type": "snapshot",
                      "instance_uuid": uuid, "base_image_ref": "",
                      "user_id": ctx.user_id or "",
                      "owner_project_name": ctx.project_name or "",
                      "owner_user_name": ctx.user_name or "",
                      "block_device_mapping": json.dumps(mapping), "bdm_v2": "True",
                      "root_device_name": root_dev})
        image = self.image.create(ctx, props)
        # no data: the image is made active with zero bytes, as Nova's force_activate
        # (which labels it qcow2; zero bytes are no qcow2 to this image service's
        # format check, so they are labelled raw, which they are)
        try:
            with tempfile.NamedTemporaryFile(prefix="bfv-snapshot-") as empty:
                self.image.import_file(image["id"], Path(empty.name), "raw")
        except Exception:
            self.image.discard(image["id"])
            raise
        with self.db.transaction() as s:
            self.record_action(s, ctx, uuid, "createImage", "compute_snapshot_instance")
        return str(image["id"])

    migration_consumer = staticmethod(migration_consumer)

    def resize(self, ctx: RequestContext, uuid: str, flavor_ref: str | None,
               migrate: bool = False, auto_disk_config: bool | None = None,
               to_host: str | None = None) -> None:
        """Cold resize on the instance's host: the old allocations move to a migration
        consumer, the new flavor is claimed for the instance, both in Placement.
        `migrate` (an admin's cold migration): the same flavor, on another host."""
        placement = self._placement()
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            flavor_ref = inst.flavor_id if migrate else flavor_ref
            try:
                flavor = self.flavors.get(s, str(flavor_ref), ctx)
            except NotFound:
                raise BadRequest(f"Unable to find flavor {flavor_ref}")
            if flavor.id == inst.flavor_id and not migrate:
                raise BadRequest("When resizing, instances must change flavor!")
            states.check("resize", uuid, inst.vm_state, inst.task_state)
            new = snapshot(flavor, self.flavors.extra_specs(s, flavor.id))
            extra_vcpu = max(0, new["vcpus"] - inst.flavor["vcpus"])
            extra_ram = max(0, new["ram"] - inst.flavor["ram"])
            limits = self.quotas.limits(s, inst.project_id)
            used = self.quotas.usage(s, inst.project_id)
            for res, n in (("cores", extra_vcpu), ("ram", extra_ram)):
                if n and limits[res] >= 0 and used[res] + n > limits[res]:
                    raise Forbidden(f"Quota exceeded for {res}: Requested {n}, but already "
                                    f"used {used[res]} of {limits[res]} {res}")
            host, project, user = inst.host, inst.project_id, inst.user_id
            zone = inst.availability_zone
        if host is None:
            raise Conflict(f"Cannot 'resize' instance {uuid}: it has no host.")
        resources = {"VCPU": new["vcpus"], "MEMORY_MB": new["ram"]}
        if new["disk"]:
            resources["DISK_GB"] = new["disk"]
        mig = self.migration_consumer(uuid)
        old_allocs = placement.get_allocations(uuid)
        dest = None
        targets = self._resize_targets(host, zone, resources)
        if migrate:  # a migration moves (to `to_host` only, when the admin names one)
            targets = [t for t in targets[:-1] if to_host in (None, t)]
        for target in targets:
            try:
                # One transaction: the old flavor's resources move to the migration
                # consumer on the source, the new flavor is claimed on the target.
                placement.set_allocations({
                    mig: {"allocations": old_allocs, "project_id": project, "user_id": user},
                    uuid: {"allocations": {provider_uuid(target): resources},
                           "project_id": project, "user_id": user}})
            except Conflict:
                continue
            dest = target
            break
        if dest is None:
            raise BadRequest(f"No valid host was found. No host has enough free resources "
                             f"for flavor {flavor.name}.")
        try:
            with self.db.transaction() as s:
                inst = self.get_instance(s, ctx, uuid)
                self._transition(s, inst, "resize")
                migrations.record(s, ctx, inst, "migration" if migrate else "resize", host,
                                  dest, inst.flavor_id, flavor.id)
                inst.old_flavor, inst.flavor, inst.flavor_id = inst.flavor, new, flavor.id
                if auto_disk_config is not None:
                    inst.auto_disk_config = auto_disk_config
                if dest != host:
                    inst.host, inst.resize_source_host = dest, host
                self.record_action(s, ctx, uuid, "migrate" if migrate else "resize",
                                   "compute_resize_instance")
                spec, power_on = self._spec(inst), inst.vm_state != states.STOPPED
        except (Conflict, NotFound):
            # Refused: the claim made for the new flavor is undone, once the
            # transaction is over (Placement's own would wait on its lock).
            placement.set_allocations({
                uuid: {"allocations": old_allocs, "project_id": project,
                       "user_id": user}, mig: {"allocations": {}}})
            raise
        if dest != host:
            self.cast(f"agent.{host}", CleanupInstance(uuid=uuid, destroy=False))
            if self.network is not None:
                self.network.bind_for_instance(uuid, dest)
        # a move: the target pulls the disk from the source (bus/disk_transfer.py)
        self.cast(f"agent.{dest}", ResizeInstance(instance=spec, power_on=power_on,
                                                  source_host=host if dest != host else ""))

    def _resize_targets(self, source: str, zone: str | None,
                        resources: dict[str, int]) -> list[str]:
        """Hosts a resize may go to, best first: up, enabled hosts of the instance's zone
        with room for the new flavor, the emptiest first; the source host last (a resize
        in place is allowed, as with allow_resize_to_same_host, but moving is preferred)."""
        placement = self._placement()
        with self.db.session() as s:
            services = {svc.host: svc for svc in s.scalars(select(m.Service).where(
                m.Service.binary == "nova-compute"))}
        by_provider = {provider_uuid(h): h for h in services}
        hosts = []
        for c in placement.allocation_candidates(resources, limit=1000):
            h = by_provider.get(c.root_uuid)
            if h is None or h == source:
                continue
            svc = services[h]
            if svc.disabled or not self.servicegroup.is_up(svc) or (zone and svc.zone != zone):
                continue
            hosts.append(h)
        free = placement.free([provider_uuid(h) for h in hosts], "MEMORY_MB")
        hosts.sort(key=lambda h: -free.get(provider_uuid(h), 0.0))
        return [*hosts, source]

    def confirm_resize(self, ctx: RequestContext, uuid: str) -> None:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            states.check("confirmResize", uuid, inst.vm_state, inst.task_state,
                         "confirmResize")
            # a server resized while stopped stays stopped (SHUTOFF), as in Nova
            inst.vm_state = states.STOPPED if inst.power_state == SHUTDOWN else states.ACTIVE
            inst.old_flavor = None
            source, inst.resize_source_host = inst.resize_source_host, None
            migrations.close(s, uuid, "confirmed")
            self.record_action(s, ctx, uuid, "confirmResize", "compute_confirm_resize")
            s.flush()
            # Confirming happens here and now: its event finishes with it.
            act = s.scalar(select(m.InstanceAction).where(
                m.InstanceAction.instance_uuid == uuid).order_by(m.InstanceAction.id.desc()))
            if act is not None:
                for ev in s.scalars(select(m.InstanceActionEvent).where(
                        m.InstanceActionEvent.action_id == act.id)):
                    ev.finish_time, ev.result = utcnow(), "Success"
        self._placement().release(self.migration_consumer(uuid))
        if source:
            self.cast(f"agent.{source}", CleanupInstance(uuid=uuid, destroy=True))

    def revert_resize(self, ctx: RequestContext, uuid: str) -> None:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            self._transition(s, inst, "revertResize", "revertResize")
            assert inst.old_flavor is not None
            inst.flavor, inst.flavor_id, inst.old_flavor = inst.old_flavor, \
                inst.old_flavor["id"], None
            self.record_action(s, ctx, uuid, "revertResize", "compute_revert_resize")
            migrations.close(s, uuid, "reverted")
            target = None
            if inst.resize_source_host:
                # Back to where it came from; the target's copy goes away.
                target, inst.host = inst.host, inst.resize_source_host
                inst.resize_source_host = None
            host, project, user, spec = inst.host, inst.project_id, inst.user_id, \
                self._spec(inst)
            power_on = inst.power_state != SHUTDOWN
        mig, placement = self.migration_consumer(uuid), self._placement()
        placement.set_allocations({
            uuid: {"allocations": placement.get_allocations(mig), "project_id": project,
                   "user_id": user},
            mig: {"allocations": {}}})
        if target:
            self.cast(f"agent.{target}", CleanupInstance(uuid=uuid, destroy=True))
            if self.network is not None and host:
                self.network.bind_for_instance(uuid, host)
        self.cast(f"agent.{host}", ResizeInstance(instance=spec, power_on=power_on))

    def set_lock(self, ctx: RequestContext, uuid: str, locked: bool,
                 reason: str | None = None) -> None:
        """Lock (with a `reason`, 2.73, kept in system_metadata as Nova keeps it) or
        unlock (which forgets the reason)."""
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            if not locked and inst.locked and inst.locked_by == "admin" and not ctx.is_admin:
                raise Forbidden("Unlock of an instance locked by an admin is not allowed.")
            inst.locked = locked
            inst.locked_by = ("admin" if ctx.is_admin else "owner") if locked else None
            sysmeta = dict(inst.system_metadata or {})
            sysmeta.pop("locked_reason", None)
            if locked and reason:
                sysmeta["locked_reason"] = reason
            inst.system_metadata = sysmeta
            self.record_action(s, ctx, uuid, "lock" if locked else "unlock",
                               "api_lock" if locked else "api_unlock")

    def console_output(self, ctx: RequestContext, uuid: str, length: int | None) -> str:
        with self.db.session() as s:
            inst = self.get_instance(s, ctx, uuid)
            states.check("getConsoleOutput", uuid, inst.vm_state, inst.task_state,
                         "get_console_output")
            host = inst.host
        if host is None:
            raise Conflict(f"Instance {uuid} has no console yet.")
        if length == 0:
            return ""
        out = str(self.call(f"agent.{host}", ConsoleOutput(uuid=uuid, length=length)).output)
        if length is None:
            return out
        # Nova's tail: the last `length` pieces of the log split at newlines, so the
        # reply splits into exactly `length` lines (the driver may return more).
        return "\n".join(out.split("\n")[-length:])

    # ------------------------------------------------------------ metadata
    def _check_metadata_quota(self, s: Session, project_id: str,
                              meta: dict[str, str]) -> None:
        """A server's metadata on create or rebuild: at most the project's
        metadata_items (128 by default), 403 beyond it, as Nova."""
        allowed = self.quotas.limits(s, project_id)["metadata_items"]
        if 0 <= allowed < len(meta):
            raise Forbidden(f"Maximum number of metadata items exceeds {allowed}")

    def set_metadata(self, ctx: RequestContext, uuid: str, meta: dict[str, str],
                     replace: bool) -> dict[str, str]:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            new = dict(meta) if replace else {**(inst.metadata_ or {}), **meta}
            limit = self.quotas.limits(s, inst.project_id)["metadata_items"]
            if 0 <= limit < len(new):
                raise Forbidden("Quota exceeded for metadata_items: the number of metadata "
                                "items exceeds the quota.")
            inst.metadata_ = new
            inst.updated_at = utcnow()
            return new

    def delete_metadata(self, ctx: RequestContext, uuid: str, key: str) -> None:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            meta = dict(inst.metadata_ or {})
            if key not in meta:
                raise NotFound("Metadata item was not found")
            del meta[key]
            inst.metadata_ = meta

    # ----------------------------------------------------- instance actions
    def actions(self, ctx: RequestContext, uuid: str) -> list[m.InstanceAction]:
        with self.db.session() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or (not ctx.is_admin and inst.project_id != ctx.project_id):
                raise NotFound(f"Instance {uuid} could not be found.")
            return list(s.scalars(select(m.InstanceAction).where(
                m.InstanceAction.instance_uuid == uuid).order_by(
                m.InstanceAction.start_time.desc(), m.InstanceAction.id.desc())))

    def action(self, ctx: RequestContext, uuid: str, request_id: str) -> tuple[
            m.InstanceAction, list[m.InstanceActionEvent]]:
        with self.db.session() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or (not ctx.is_admin and inst.project_id != ctx.project_id):
                raise NotFound(f"Instance {uuid} could not be found.")
            act = s.scalar(select(m.InstanceAction).where(
                m.InstanceAction.instance_uuid == uuid,
                m.InstanceAction.request_id == request_id))
            if act is None:
                raise NotFound(f"Action for request_id {request_id} on instance {uuid} not "
                               f"found")
            events = list(s.scalars(select(m.InstanceActionEvent).where(
                m.InstanceActionEvent.action_id == act.id)))
            return act, events

    # ------------------------------------------------------- network views
    def addresses(self, uuids: list[str]) -> dict[str, dict[str, Any]]:
        """Nova's `addresses` of each server, from the network service (one query)."""
        return self.network.addresses(uuids) if self.network is not None and uuids else {}

    def security_groups(self, uuids: list[str]) -> dict[str, list[dict[str, str]]]:
        """Nova's `security_groups` of each server whose ports have any."""
        return self.network.instance_security_groups(uuids) \
            if self.network is not None and uuids else {}

    def security_group_action(self, ctx: RequestContext, uuid: str, group: str,
                              add: bool) -> None:
        """addSecurityGroup / removeSecurityGroup (404 for a server the caller
        cannot see, 400 without the network service)."""
        self.instance(ctx, uuid)
        if self.network is None:
            raise BadRequest("Security groups need the network service, which is not "
                             "running.")
        self.network.server_group_action(ctx, uuid, group, add)

    # ------------------------------------------------------------- hosts
    def services(self) -> list[m.Service]:
        return self.hosts.services()

    def host_statuses(self) -> dict[str, str]:
        return self.hosts.host_statuses()
