"""The block storage service: Cinder semantics over the volume tables, as one object
(`app.state.volume`) made of one part per resource.

  volumes, actions, attachments, snapshots, types, transfers, quotas, services,
  messages, groups, qos, manage, workers
              domain logic and transactions (no HTTP)
  common      the Store (database, storage bus bridge, image service) and lookups
  policy      who may see and do what;  errors  every refusal, worded once
  views       the wire shapes;  versions  the microversion range
  instances   what compute calls (the VolumePort);  local  the in-process storage host
  api, routes the HTTP routes only (no SQL)

The bytes are never here: every step that makes, copies, exports or removes them
is a message to the storage component of the volume's host (`agent/storage`).
"""

from __future__ import annotations

from typing import Any

from overcast.bus.messages import Message, StorageHeartbeat, StorageSync
from overcast.db import Database
from overcast.object.store import ObjectStore
from overcast.volume.actions import Actions
from overcast.volume.attachments import Attachments
from overcast.volume.backups import Backups
from overcast.volume.common import ImageSource, Storage, Store
from overcast.volume.groups import Groups
from overcast.volume.instances import Instances
from overcast.volume.manage import Manage
from overcast.volume.messages import Messages
from overcast.volume.qos import Qos
from overcast.volume.quotas import Quotas
from overcast.volume.services import Services
from overcast.volume.snapshots import Snapshots
from overcast.volume.transfers import Transfers
from overcast.volume.types import Types
from overcast.volume.volumes import Volumes
from overcast.volume.workers import Workers


class VolumeService:
    def __init__(self, db: Database, *, images: ImageSource | None = None,
                 availability_zone: str = "nova") -> None:
        self.store = Store(db, Storage(), images, availability_zone=availability_zone)
        self.quotas = Quotas(self.store)
        self.services = Services(self.store)
        self.types = Types(self.store)
        self.volumes = Volumes(self.store, self.quotas, self.services)
        self.attachments = Attachments(self.store)
        self.actions = Actions(self.store, self.volumes, self.attachments, self.quotas)
        self.snapshots = Snapshots(self.store, self.quotas)
        self.transfers = Transfers(self.store, self.quotas)
        self.instances = Instances(self.store, self.volumes, self.attachments,
                                   self.snapshots)
        self.messages = Messages(self.store)
        self.groups = Groups(self.store, self.volumes, self.snapshots)
        self.qos = Qos(self.store)
        self.manage = Manage(self.store, self.volumes, self.quotas)
        self.workers = Workers(self.store, self.services)
        #: the object store backups go to (set at start-up; None: no backups)
        self.object_store: ObjectStore | None = None
        self.backups = Backups(self.store, self.quotas, lambda: self.object_store)
        self.volumes.backups = self.backups

    @property
    def storage(self) -> Storage:
        return self.store.storage

    def handle(self, msg: Message) -> Any:
        """What the storage components send on topic `volume` (run in a thread)."""
        if isinstance(msg, StorageHeartbeat):
            self.services.heartbeat(msg)
            return None
        if isinstance(msg, StorageSync):
            return self.services.sync(msg)
        return None
