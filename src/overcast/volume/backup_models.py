"""The table of volume backups (Cinder's `backups`): one row per backup, whose
bytes are objects in the project's object-store container (see `backups.py`).
Sizes are GiB like the volumes'; quota usage is counted from these rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.base import Base, utcnow


class Backup(Base):
    __tablename__ = "volume_backups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255), default="")
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: GiB, the volume's size when backed up
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    fail_reason: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    #: the object-store container and the objects' name prefix
    container: Mapped[str] = mapped_column(String(255), default="volumebackups")
    prefix: Mapped[str] = mapped_column(String(255), default="")
    #: the account holding the objects when it is not the project's own (a record
    #: imported into another project; see `account`)
    object_account: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: the user's metadata of the backup (3.43)
    backup_metadata: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    #: an incremental backup's parent: the backup whose chunks it does not repeat
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    #: the volume's status before the backup (or restore) made it busy
    volume_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: the volume a restore is writing (while `restoring`)
    restore_volume_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    data_timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True,
                                                           onupdate=utcnow)
    __table_args__ = (Index("ix_volume_backups_project_created", "project_id",
                            "created_at", "id"),)


def account(b: Backup) -> str:
    """The object-store account a backup's objects are in."""
    return b.object_account or f"AUTH_{b.project_id}"
