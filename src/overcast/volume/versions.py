"""The block storage API's microversion range (3.0 to 3.55), shared by the routes
that negotiate it and the views that differ along it.

What each version up to the maximum changes, and where it is honoured:
  3.27  the attachments API (`attachments.py`)          3.42  extend an in-use volume
  3.44  attachment complete (`os-complete`)              3.45  `count` in lists
  3.48  `shared_targets` and `service_uuid` in volumes   3.50  multiattach volumes
  3.54  attachment `mode`                                3.55  transfers with snapshots
  3.12  /volumes/summary;  3.33 /resource_filters;  3.34  `like` filters (name~)
  3.41  snapshots' `user_id`;  3.21 `provider_id`;  3.13/3.25  `group_id` (null: no groups)
  3.7   services' `cluster` (null: no clusters);  3.30  snapshot list sorting
"""

from __future__ import annotations

from overcast.kit.microversion import APIVersion, VersionRange

VERSIONS = VersionRange("volume", APIVersion(3, 0), APIVersion(3, 55))
