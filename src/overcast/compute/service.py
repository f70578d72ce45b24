"""Nova's domain logic for servers: quotas, create (desired state first, then a
cast to the conductor), list/show/update/delete, actions, metadata, instance
actions and events, compute services/hypervisors and server groups.

Every state change goes through `states.check` (Nova's legal-state table) and
is written with the task_state it expects (`UPDATE ... WHERE task_state IS
:seen`), so two racing actions cannot both win: the loser gets a 409.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
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
from overcast.compute import models as m
from overcast.compute import states
from overcast.compute.flavors import FlavorService, snapshot
from overcast.compute.keypairs import KeyPairService
from overcast.db import Database, utcnow
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, Forbidden, NotFound

#: The instance columns server views read (everything but secrets and internals).
LIST_ATTRS = ("uuid", "name", "project_id", "user_id", "flavor_id", "flavor", "image_ref",
              "key_name", "user_data", "metadata_", "vm_state", "task_state", "power_state",
              "host", "availability_zone", "access_ip_v4", "access_ip_v6", "config_drive",
              "locked", "description", "hostname", "reservation_id", "launch_index",
              "fault", "tags", "launched_at", "terminated_at", "created_at", "updated_at")

#: What a listing selects first: enough to filter, page and tell whether a cached
#: rendering of the server is still current (see `server_rows`).
KEY_ATTRS = ("uuid", "name", "project_id", "host", "updated_at", "vm_state",
             "task_state", "power_state")

SERVICE_DOWN_AFTER = 60  # seconds without a heartbeat (Nova's service_down_time)

DEFAULT_QUOTAS = {
    "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
    "server_groups": 10, "server_group_members": 10, "injected_files": 5,
    "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
    "floating_ips": -1, "fixed_ips": -1, "security_groups": -1, "security_group_rules": -1,
}


class ComputeService:
    def __init__(self, db: Database, bus: Bus) -> None:
        self.db = db
        self.bus = bus
        self.flavors = FlavorService(db)
        self.keypairs = KeyPairService(db)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.image_lookup: Callable[[RequestContext, str], dict[str, Any]] | None = None
        #: Hooks the image service sets: create an image record for a snapshot,
        #: take a snapshot's file as an image's data, remove a failed snapshot.
        self.image_create: Callable[[RequestContext, dict[str, Any]], dict[str, Any]] | None \
            = None
        self.image_import: Callable[[str, Path, str], None] | None = None
        #: Hooks the network service sets: check/resolve requested networks at create
        #: time, give back an instance's ports, and the addresses of instances.
        self.network_resolve: Callable[[RequestContext, Any, int, list[str] | None],
                                       list[dict[str, Any]]] \
            | None = None
        self.network_release: Callable[[str], None] | None = None
        #: (instance uuid, project id, requested networks, host, vif kind "tap" or
        #: "veth") -> the ports the driver plugs, made and bound to the host.
        self.network_allocate: Callable[[str, str, list[dict[str, Any]], str, str],
                                        list[dict[str, Any]]] | None = None
        self.network_ports: Callable[[str], list[dict[str, Any]]] | None = None
        self.network_addresses: Callable[[list[str]], dict[str, dict[str, Any]]] | None \
            = None
        self.network_security_groups: Callable[[list[str]],
                                               dict[str, list[dict[str, str]]]] | None = None
        #: (ctx, instance uuid, group name or id, add?): addSecurityGroup and
        #: removeSecurityGroup on the server's ports
        self.network_group_action: Callable[[RequestContext, str, str, bool], None] \
            | None = None
        self.image_discard: Callable[[str], None] | None = None
        self._host_statuses: tuple[float, dict[str, str]] | None = None

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

    # ------------------------------------------------------------- quotas
    def quota_limits(self, s: Session, project_id: str) -> dict[str, int]:
        limits = dict(DEFAULT_QUOTAS)
        for q in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
            limits[q.resource] = q.hard_limit
        return limits

    def quota_usage(self, s: Session, project_id: str) -> dict[str, int]:
        flavors = list(s.scalars(select(m.Instance.flavor).where(
            m.Instance.project_id == project_id, m.Instance.deleted.is_(False))))
        groups = s.scalar(select(func.count()).select_from(m.ServerGroup).where(
            m.ServerGroup.project_id == project_id)) or 0
        return {"instances": len(flavors), "cores": sum(int(f["vcpus"]) for f in flavors),
                "ram": sum(int(f["ram"]) for f in flavors), "server_groups": int(groups)}

    def set_quotas(self, project_id: str, values: dict[str, int]) -> None:
        with self.db.transaction() as s:
            for k, v in values.items():
                row = s.get(m.Quota, (project_id, k))
                if row is None:
                    s.add(m.Quota(project_id=project_id, resource=k, hard_limit=v))
                else:
                    row.hard_limit = v

    def delete_quotas(self, project_id: str) -> None:
        with self.db.transaction() as s:
            for q in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
                s.delete(q)

    def _check_quota(self, s: Session, project_id: str, count: int, vcpus: int,
                     ram: int) -> None:
        limits = self.quota_limits(s, project_id)
        want = {"instances": count, "cores": vcpus * count, "ram": ram * count}
        if all(limits[r] < 0 for r in want):
            return  # unlimited: no need to count what the project holds
        used = self.quota_usage(s, project_id)
        over = [r for r, n in want.items()
                if limits[r] >= 0 and used[r] + n > limits[r]]
        if over:
            r = over[0]
            raise Forbidden(f"Quota exceeded for {r}: Requested {want[r]}, but already used "
                            f"{used[r]} of {limits[r]} {r}")

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
        s.add(m.InstanceActionEvent(action_id=act.id, event=event))

    def boot_image(self, ctx: RequestContext, image_ref: str) -> dict[str, Any]:
        """The image a server boots from, as Nova checks it (400s, not 404s)."""
        assert self.image_lookup is not None
        try:
            image = self.image_lookup(ctx, image_ref)
        except NotFound:
            raise BadRequest(f"Image {image_ref} could not be found.")
        if image.get("status") != "active":
            raise BadRequest(f"Image {image_ref} is not active.")
        return image

    def create_servers(self, ctx: RequestContext, req: dict[str, Any]) -> list[str]:
        """Write the instances (BUILD/scheduling) and ask the conductor to place them."""
        image: dict[str, Any] = {}
        if req["image_ref"] and self.image_lookup is not None:
            image = self.boot_image(ctx, req["image_ref"])
        requested: list[dict[str, Any]] | None = None
        if self.network_resolve is not None and req.get("networks") != "none":
            # absent (before 2.37) behaves as "auto": the project's network, if any
            requested = self.network_resolve(ctx, req.get("networks") or "auto",
                                             req["max_count"],
                                             req.get("security_groups")) or None
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
            key_data = None
            if req.get("key_name"):
                kp = s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == ctx.user_id,
                                                      m.KeyPair.name == req["key_name"]))
                if kp is None:
                    raise BadRequest("Invalid key_name provided.")
                key_data = kp.public_key
            group = None
            hints = req.get("scheduler_hints") or {}
            if hints.get("group"):
                group = s.get(m.ServerGroup, hints["group"])
                if group is None or (not ctx.is_admin and group.project_id != ctx.project_id):
                    raise BadRequest(f"Invalid server group {hints['group']}.")
            count = req["max_count"]
            self._check_quota(s, ctx.project_id or "", count, flavor.vcpus, flavor.ram)
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
                    description=req.get("description"),
                    hostname=re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]
                    or "server", reservation_id=reservation, launch_index=i,
                    scheduler_hints=hints, server_group=group.uuid if group else None,
                    tags=[], requested_networks=requested))
                if group is not None:
                    s.add(m.ServerGroupMember(group_uuid=group.uuid, instance_uuid=uuid))
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
            elif not filters.get("changes-since"):
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
            if filters.get("vm_states"):
                q = q.where(m.Instance.vm_state.in_(filters["vm_states"]))
            if filters.get("name"):
                # Nova's name filter is a regular expression: filter in Python, then page.
                rows, _ = keyset_page(s, q, m.Instance, limit=None, marker=None, sort=sort,
                                      id_attr="uuid", as_rows=True)
                try:
                    rx = re.compile(filters["name"])
                except re.error:
                    rx = re.compile(re.escape(filters["name"]))
                rows = [r for r in rows if rx.search(r.name)]
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
            for key in ("name", "description", "access_ip_v4", "access_ip_v6"):
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
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            states.check("delete", uuid, inst.vm_state, inst.task_state)
            self.record_action(s, ctx, uuid, "delete", "compute_terminate_instance")
            host_up = inst.host is not None and self._host_up(s, inst.host)
            local = not host_up
            if not local:
                inst.task_state = "deleting"
                inst.updated_at = utcnow()
            host = inst.host
        if local:
            # Never placed, or its host is gone: delete locally, as Nova does. The
            # allocations go first so nothing is held for a server that is gone.
            self.release(uuid)
            with self.db.transaction() as s:
                row = s.get(m.Instance, uuid)
                if row is not None and not row.deleted:
                    self._finish_delete(s, row)
        else:
            self.cast(f"agent.{host}", DeleteInstance(uuid=uuid))

    def _finish_delete(self, s: Session, inst: m.Instance) -> None:
        now = utcnow()
        inst.vm_state, inst.task_state, inst.power_state = states.DELETED, None, 0
        inst.deleted, inst.deleted_at, inst.terminated_at, inst.updated_at = True, now, now, now
        for mem in s.scalars(select(m.ServerGroupMember).where(
                m.ServerGroupMember.instance_uuid == inst.uuid)):
            s.delete(mem)

    def release(self, uuid: str) -> None:
        """Give back what Placement holds for an instance and its ports (hooks set by
        the app)."""
        if self.release_allocations is not None:
            self.release_allocations(uuid)
        if self.network_release is not None:
            self.network_release(uuid)

    release_allocations: Callable[[str], None] | None = None

    def _host_up(self, s: Session, host: str) -> bool:
        svc = s.scalar(select(m.Service).where(m.Service.host == host,
                                               m.Service.binary == "nova-compute"))
        return svc is not None and service_up(svc)

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

    # ------------------------------------------------------- rebuild, resize
    spec_of: Callable[[m.Instance], Any] | None = None
    placement: Any = None

    def _spec(self, inst: m.Instance) -> dict[str, Any]:
        from dataclasses import asdict

        assert self.spec_of is not None
        return asdict(self.spec_of(inst))

    def rebuild(self, ctx: RequestContext, uuid: str, image_ref: str, name: str | None,
                metadata: dict[str, str] | None) -> m.Instance:
        """Start a rebuild; returns the instance as it is now (REBUILD), for the reply."""
        if self.image_lookup is not None:
            self.boot_image(ctx, image_ref)
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            self._transition(s, inst, "rebuild")
            inst.image_ref = image_ref
            if name:
                inst.name = name
            if metadata is not None:
                inst.metadata_ = metadata
            self.record_action(s, ctx, uuid, "rebuild", "compute_rebuild_instance")
            host, spec = inst.host, self._spec(inst)
        self.cast(f"agent.{host}", RebuildInstance(instance=spec))
        return inst

    def create_image(self, ctx: RequestContext, uuid: str, name: str,
                     metadata: dict[str, str]) -> str:
        """createImage: a private snapshot image, filled by the instance's host."""
        if self.image_create is None:
            raise Conflict("Snapshots need the image service, which is not running.")
        with self.db.session() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            states.check("createImage", uuid, inst.vm_state, inst.task_state)
            base_ref, flavor = inst.image_ref, dict(inst.flavor)
        props: dict[str, Any] = {}
        # a container's snapshot is a root file system tarball, as its image was
        container_format = "bare"
        if base_ref and self.image_lookup is not None:
            try:
                base = self.image_lookup(ctx, base_ref)
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
        props.update(metadata)
        props.update({"name": name, "visibility": "private",
                      "container_format": container_format,
                      "image_type": "snapshot", "instance_uuid": uuid,
                      "base_image_ref": base_ref or "", "user_id": ctx.user_id or "",
                      "owner_project_name": ctx.project_name or "",
                      "owner_user_name": ctx.user_name or "",
                      "min_disk": int(flavor.get("disk") or 0)})
        image = self.image_create(ctx, props)
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            try:
                self._transition(s, inst, "createImage")
            except Conflict:
                if self.image_discard is not None:
                    self.image_discard(image["id"])
                raise
            self.record_action(s, ctx, uuid, "createImage", "compute_snapshot_instance")
            host = inst.host
        self.cast(f"agent.{host}", SnapshotInstance(uuid=uuid, image_id=image["id"],
                                                    request_id=ctx.request_id))
        return str(image["id"])

    @staticmethod
    def migration_consumer(uuid: str) -> str:
        return str(uuidlib.uuid5(uuidlib.UUID(uuid), "resize-source"))

    def resize(self, ctx: RequestContext, uuid: str, flavor_ref: str) -> None:
        """Cold resize on the instance's host: the old allocations move to a migration
        consumer, the new flavor is claimed for the instance, both in Placement."""
        from overcast.compute.conductor import provider_uuid

        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            try:
                flavor = self.flavors.get(s, flavor_ref, ctx)
            except NotFound:
                raise BadRequest(f"Unable to find flavor {flavor_ref}")
            if flavor.id == inst.flavor_id:
                raise BadRequest("When resizing, instances must change flavor!")
            states.check("resize", uuid, inst.vm_state, inst.task_state)
            new = snapshot(flavor, self.flavors.extra_specs(s, flavor.id))
            extra_vcpu = max(0, new["vcpus"] - inst.flavor["vcpus"])
            extra_ram = max(0, new["ram"] - inst.flavor["ram"])
            limits = self.quota_limits(s, inst.project_id)
            used = self.quota_usage(s, inst.project_id)
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
        old_allocs = self.placement.get_allocations(uuid)
        dest = None
        for target in self._resize_targets(host, zone, resources):
            try:
                # One transaction: the old flavor's resources move to the migration
                # consumer on the source, the new flavor is claimed on the target.
                self.placement.set_allocations({
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
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            try:
                self._transition(s, inst, "resize")
            except Conflict:
                self.placement.set_allocations({
                    uuid: {"allocations": old_allocs, "project_id": project,
                           "user_id": user}, mig: {"allocations": {}}})
                raise
            inst.old_flavor, inst.flavor, inst.flavor_id = inst.flavor, new, flavor.id
            if dest != host:
                inst.host, inst.resize_source_host = dest, host
            self.record_action(s, ctx, uuid, "resize", "compute_resize_instance")
            spec = self._spec(inst)
        if dest != host:
            self.cast(f"agent.{host}", CleanupInstance(uuid=uuid, destroy=False))
        self.cast(f"agent.{dest}", ResizeInstance(instance=spec))

    def _resize_targets(self, source: str, zone: str | None,
                        resources: dict[str, int]) -> list[str]:
        """Hosts a resize may go to, best first: up, enabled hosts of the instance's zone
        with room for the new flavor, the emptiest first; the source host last (a resize
        in place is allowed, as with allow_resize_to_same_host, but moving is preferred)."""
        from overcast.compute.conductor import provider_uuid

        with self.db.session() as s:
            services = {svc.host: svc for svc in s.scalars(select(m.Service).where(
                m.Service.binary == "nova-compute"))}
        by_provider = {provider_uuid(h): h for h in services}
        hosts = []
        for c in self.placement.allocation_candidates(resources, limit=1000):
            h = by_provider.get(c.root_uuid)
            if h is None or h == source:
                continue
            svc = services[h]
            if svc.disabled or not service_up(svc) or (zone and svc.zone != zone):
                continue
            hosts.append(h)
        free = self.placement.free([provider_uuid(h) for h in hosts], "MEMORY_MB")
        hosts.sort(key=lambda h: -free.get(provider_uuid(h), 0.0))
        return [*hosts, source]

    def confirm_resize(self, ctx: RequestContext, uuid: str) -> None:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            states.check("confirmResize", uuid, inst.vm_state, inst.task_state,
                         "confirmResize")
            inst.vm_state, inst.old_flavor = states.ACTIVE, None
            source, inst.resize_source_host = inst.resize_source_host, None
            self.record_action(s, ctx, uuid, "confirmResize", "compute_confirm_resize")
            s.flush()
            # Confirming happens here and now: its event finishes with it.
            act = s.scalar(select(m.InstanceAction).where(
                m.InstanceAction.instance_uuid == uuid).order_by(m.InstanceAction.id.desc()))
            if act is not None:
                for ev in s.scalars(select(m.InstanceActionEvent).where(
                        m.InstanceActionEvent.action_id == act.id)):
                    ev.finish_time, ev.result = utcnow(), "Success"
        self.placement.release(self.migration_consumer(uuid))
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
            target = None
            if inst.resize_source_host:
                # Back to where it came from; the target's copy goes away.
                target, inst.host = inst.host, inst.resize_source_host
                inst.resize_source_host = None
            host, project, user, spec = inst.host, inst.project_id, inst.user_id, \
                self._spec(inst)
        mig = self.migration_consumer(uuid)
        self.placement.set_allocations({
            uuid: {"allocations": self.placement.get_allocations(mig), "project_id": project,
                   "user_id": user},
            mig: {"allocations": {}}})
        if target:
            self.cast(f"agent.{target}", CleanupInstance(uuid=uuid, destroy=True))
        self.cast(f"agent.{host}", ResizeInstance(instance=spec))

    def set_lock(self, ctx: RequestContext, uuid: str, locked: bool) -> None:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            if not locked and inst.locked and inst.locked_by == "admin" and not ctx.is_admin:
                raise Forbidden("Unlock of an instance locked by an admin is not allowed.")
            inst.locked = locked
            inst.locked_by = ("admin" if ctx.is_admin else "owner") if locked else None
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
        return str(self.call(f"agent.{host}", ConsoleOutput(uuid=uuid, length=length)).output)

    # ------------------------------------------------------------ metadata
    def set_metadata(self, ctx: RequestContext, uuid: str, meta: dict[str, str],
                     replace: bool) -> dict[str, str]:
        with self.db.transaction() as s:
            inst = self.get_instance(s, ctx, uuid)
            self._check_lock(ctx, inst)
            new = dict(meta) if replace else {**(inst.metadata_ or {}), **meta}
            limit = self.quota_limits(s, inst.project_id)["metadata_items"]
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

    # ---------------------------------------------------- services, groups
    def host_statuses(self) -> dict[str, str]:
        """Nova's host_status (UP, DOWN, MAINTENANCE) of every compute host.

        Listings ask on every request; the answer is kept for a second (a host
        goes down after a minute without heartbeats, and changes made through
        this API clear it at once)."""
        cached = self._host_statuses
        if cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        with self.db.session() as s:
            rows = s.execute(select(m.Service.host, m.Service.forced_down, m.Service.disabled,
                                    m.Service.last_seen_at).where(
                m.Service.binary == "nova-compute")).all()
        now = utcnow()
        limit = dt.timedelta(seconds=SERVICE_DOWN_AFTER)
        out = {}
        for host, forced_down, disabled, seen in rows:
            if forced_down or seen is None or now - seen >= limit:
                out[host] = "DOWN"
            else:
                out[host] = "MAINTENANCE" if disabled else "UP"
        self._host_statuses = (time.monotonic(), out)
        return out

    def services(self) -> list[m.Service]:
        with self.db.session() as s:
            return list(s.scalars(select(m.Service).order_by(m.Service.id)))

    def update_service(self, service_id: str, data: dict[str, Any]) -> m.Service:
        with self.db.transaction() as s:
            svc = s.scalar(select(m.Service).where(
                (m.Service.uuid == service_id) | (m.Service.id == _int_or(service_id))))
            if svc is None:
                raise NotFound(f"Service {service_id} not found.")
            for key in ("disabled", "disabled_reason", "forced_down"):
                if key in data:
                    setattr(svc, key, data[key])
            self._host_statuses = None
            if "disabled" in data and not data["disabled"]:
                svc.disabled_reason = None
            svc.updated_at = utcnow()
            return svc

    def create_group(self, ctx: RequestContext, name: str, policy: str,
                     rules: dict[str, Any]) -> m.ServerGroup:
        with self.db.transaction() as s:
            limit = self.quota_limits(s, ctx.project_id or "")["server_groups"]
            if 0 <= limit <= self.quota_usage(s, ctx.project_id or "")["server_groups"]:
                raise Forbidden("Quota exceeded, too many server groups.")
            g = m.ServerGroup(uuid=str(uuidlib.uuid4()), name=name,
                              project_id=ctx.project_id or "", user_id=ctx.user_id or "",
                              policy=policy, rules=rules)
            s.add(g)
            return g

    def groups(self, ctx: RequestContext, all_projects: bool) -> list[tuple[
            m.ServerGroup, list[str]]]:
        with self.db.session() as s:
            q = select(m.ServerGroup).order_by(m.ServerGroup.created_at)
            if not (all_projects and ctx.is_admin):
                q = q.where(m.ServerGroup.project_id == ctx.project_id)
            return [(g, self._members(s, g.uuid)) for g in s.scalars(q)]

    def _members(self, s: Session, group: str) -> list[str]:
        return list(s.scalars(select(m.ServerGroupMember.instance_uuid).where(
            m.ServerGroupMember.group_uuid == group)))

    def group(self, ctx: RequestContext, uuid: str) -> tuple[m.ServerGroup, list[str]]:
        with self.db.session() as s:
            g = s.get(m.ServerGroup, uuid)
            if g is None or (not ctx.is_admin and g.project_id != ctx.project_id):
                raise NotFound(f"Instance group {uuid} could not be found.")
            return g, self._members(s, uuid)

    def delete_group(self, ctx: RequestContext, uuid: str) -> None:
        with self.db.transaction() as s:
            g = s.get(m.ServerGroup, uuid)
            if g is None or (not ctx.is_admin and g.project_id != ctx.project_id):
                raise NotFound(f"Instance group {uuid} could not be found.")
            s.delete(g)


def _int_or(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


def service_up(svc: m.Service) -> bool:
    if svc.forced_down or svc.last_seen_at is None:
        return False
    return (utcnow() - svc.last_seen_at) < dt.timedelta(seconds=SERVICE_DOWN_AFTER)
