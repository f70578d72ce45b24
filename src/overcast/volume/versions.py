"""The block storage API's microversion range (3.0 to 3.55), shared by the routes
that negotiate it and the views that differ along it.

What the range holds, and where:
  3.0   volumes, snapshots, types (extra specs, access), QoS specs, quotas and quota
        classes, limits, transfers, zones, services, hosts, pools, capabilities,
        manage/unmanage, extensions; backups (full, kept in the object store:
        `backups.py`; where no object store runs, as Cinder without cinder-backup)
  3.1   upload-to-image visibility/protected   3.3/3.5  user messages, paged
  3.7   clusters (none: no service runs clustered)   3.8  manageable volumes/snapshots
  3.10  group_id filter   3.11  group types   3.12  volumes summary
  3.13  groups   3.14  group snapshots and groups from them   3.15  metadata ETags
  3.9   backup update   3.18  backups' os-backup-project-attr:project_id
  3.19/3.20  group (snapshot) status resets   3.21  provider_id   3.22  snapshot
        metadata filter   3.23  volume delete with force   3.25  group volumes
  3.27  attachments   3.30  snapshot sorting   3.32  log levels   3.33  resource
        filters   3.34  like
        filters   3.36  summary metadata   3.39  limits of a project   3.40  revert
        to snapshot   3.41  snapshot user_id   3.42  extend in-use   3.44  attachment
        complete   3.45  counts   3.48  shared_targets   3.49  backend_state
  3.50  multiattach types   3.52  type filter by extra specs   3.54  attachment mode
  3.55  transfers without snapshots
  3.16  migration to a cluster (none here: never an available destination)
  3.24  workers cleanup (`workers.py`: a storage host's start-up sync again)
  3.26  failover (no backend replicates: refused as Cinder refuses it for such a
        backend), freeze/thaw by cluster, cluster listings' replication filters
  3.46  a volume from the empty image of a volume-backed server snapshot (made
        from the snapshot its block_device_mapping boots from)
  3.47  a volume from a backup (restored into the new volume)
  os-migrate_volume (an admin's): an available volume to another storage host, which
        copies it from the old host's NBD export (not in-use volumes: that needs
        compute's swap); os-retype onto another backend with migration_policy on-demand
  3.43  backup metadata   3.51  backups in a zone (the backup service's own zone;
        another is Cinder's 503 for a zone without cinder-backup)
  backups: full and incremental (only changed chunks stored, `backups.py`)
"""

from __future__ import annotations

from overcast.kit.microversion import APIVersion, VersionRange

VERSIONS = VersionRange("volume", APIVersion(3, 0), APIVersion(3, 55))
