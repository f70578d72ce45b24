"""The compute API's microversion range, shared by the routes that negotiate it and
the request schemas that differ along it.

Each version above 2.47 is raised only once what it changes works (a gate above the
maximum fails tests/unit/test_version_gates.py); what each one changes here:

- 2.48: server diagnostics in Nova's standard format (`views.diagnostics`).
- 2.49: a device `tag` on volume attach, kept on the mapping as at create, and on
  interface attach (kept by port, `compute.device_tags`).
- 2.50: `os-quota-class-sets` (new here) shows the server group quotas and no
  longer the network ones.
- 2.51: instance action events shown to the server's owner (tracebacks stay
  admin-only); `volume-extended` taken by os-server-external-events.
- 2.52: `tags` at server create.
- 2.53: services and hypervisors named by UUID; `PUT /os-services/{uuid}`;
  `with_servers`, `hypervisor_hostname_pattern` and UUID paging markers on
  hypervisors (no service delete API here, before or after).
- 2.54: `key_name` on rebuild (null removes the key pair); the guest's metadata
  carries the new key.
- 2.55: flavor `description` (in lists too), at create and by `PUT /flavors/{id}`.
- 2.56: `migrate` takes a target `host` (400 for the server's own host or a host
  with no compute service; the host must still pass the scheduler's checks).
- 2.57: rebuild takes `user_data` (null removes it; the reply shows it);
  `personality` is refused at create and rebuild, and the personality quotas leave
  `/limits`, quota sets and quota classes.
- 2.58: a server's actions show `updated_at`, page by `limit`/`marker` (a request
  id) with a `next` link, filter by `changes-since` (`compute.action_log`).
- 2.59: `os-migrations` shows each move's `uuid`, pages by `limit`/`marker` (a
  migration uuid) with `migrations_links`, filters by `changes-since`.
- 2.60: multiattach volumes (attach and boot); refused below it (`compute.multiattach`).
- 2.61: a flavor's `extra_specs` in its views (show, detail, create, update).
- 2.62: action events show the `hostId` of the host they ran on, and admins the
  `host`.
- 2.63: `trusted_image_certificates` at create and rebuild, in the server's views;
  kept, never verified, as Nova with its default `verify_glance_signatures = False`
  (`compute.trusted_certs`).
- 2.64: server groups have one `policy` and `rules` (`max_server_per_host`, for
  anti-affinity, honoured by the scheduler) instead of `policies` and `metadata`.
- 2.65: a live migration still `queued` or `preparing` may be aborted too
  (`ABORT_QUEUED_LIVE_MIGRATION`; the server migrations API checks it).
- 2.66: `changes-before` (with `changes-since`, which must not be later) filters
  servers, instance actions and migrations.
- 2.67: `volume_type` (id or name) in a `block_device_mapping_v2` item: the type of
  the volume made for the server (`compute.volume_types`).
- 2.68: `force` leaves the `os-migrateLive` and `evacuate` bodies (400 from it:
  `NO_FORCE`; those actions' schemas check it).
- 2.69: partial results for servers and services in cells that are down; overcast
  has no cells, so every answer is whole, as Nova's with all cells up.

- 2.70: os-interface and os-volume_attachments show each device's `tag`: a
  network's at create, an interface attach's (taken from 2.49, kept by port:
  `compute.device_tags`) and a volume attach's.

- 2.71: a server's show, update and rebuild views name its `server_groups`.

- 2.72: servers may boot with ports that carry resource requests (minimum
  bandwidth QoS); overcast's network service has no such requests, so no port is
  refused before it or treated differently after it.
- 2.73: `lock` takes a `locked_reason` (kept in system_metadata, as Nova; unlock
  forgets it), shown as `locked_reason`; servers filter and sort by `locked`.

- 2.74: an admin's `host` and/or `hypervisor_hostname` at create, held to the
  scheduler's checks (`compute.requested_destination`).

- 2.75: the update and rebuild replies are the server as a GET shows it
  (`views.server_action_reply`); listings and the other query strings Nova checks
  refuse a parameter Nova's schema does not name (400, `schemas.strict_from_275`),
  and the server sort keys Nova used to ignore; a flavor's `swap` is 0, not "", when
  it has none; hypervisors asked `with_servers` always carry `servers`.
- 2.76: `power-update` (tag POWER_ON/POWER_OFF) in os-server-external-events: a
  start/stop action recorded, and the server started/stopped when its states are the
  opposite of the tag's with no task under way (`ComputeService.power_update`).
- 2.77: unshelve of an offloaded server takes an `availability_zone` (it must exist;
  409 for a server not offloaded); the server is pinned to it (`shelve.pinned_zone`,
  the zone part of `requested_az`), and an offloaded server unshelves into the zone it
  is pinned to (any, when none), as Nova's request spec.
- 2.78: `GET /servers/{id}/topology`; overcast's drivers build no guest NUMA cells
  nor pin CPUs, so it is always Nova's answer for a server without a NUMA topology.
- 2.79: `delete_on_termination` at volume attach, shown by the attachment views
  (`volumes.attachment_view`); honoured when the server is deleted.
- 2.80: os-migrations and a server's migrations show the `user_id` and `project_id`
  of who asked for each move (kept on the record from now on), and os-migrations
  filters by them.
- 2.81: `POST /os-aggregates/{id}/images`: each host of the aggregate fetches the
  images into its image cache (`CacheImages`; the QEMU and container drivers' cache
  is where spawns read images from).
- 2.82: `accelerator-request-bound` in os-server-external-events (a tag needed);
  no accelerator service here, so nothing waits on it (`compute.events`).
- 2.83: non-admins may filter servers by availability_zone, config_drive, key_name,
  created_at, launched_at, terminated_at, power_state, task_state, vm_state, progress
  and user_id (`schemas.FILTERS_2_83`); below it those are dropped from a non-admin's
  query, as Nova drops them (admins have them at every version).
- 2.84: an action's events show admins `details`: why a failed event failed (null
  for the others).
- 2.85: `PUT /servers/{id}/os-volume_attachments/{volume}` with the same volumeId
  updates the attachment's `delete_on_termination` (`ServerVolumes.update`); another
  volumeId still asks for a swap.
- 2.86: flavor extra specs in the namespaces Nova validates (hw, hw_rng, hw_video, os,
  quota, resources, trait, accel, ...) are checked on POST os-extra_specs and PUT
  os-extra_specs/{key} (`compute.extra_specs`); others are free.
- 2.87: a volume-backed server may be rescued with an image naming hw_rescue_bus and
  hw_rescue_device, on a host whose driver can ("rescue_bfv": the fake driver; QEMU
  and containers rescue nothing), else 400 as before (`compute.rescue`).
- 2.88: a hypervisor's detail drops the resource counts
  (`views.HYPERVISOR_FIELDS_GONE_2_88`) and carries `uptime`, asked of the host;
  os-hypervisors/statistics and /{id}/uptime are 404.
- 2.89: the volume attachment list and show carry `attachment_id` and `bdm_uuid`
  (`volumes.bdm_uuid`: derived from the mapping's row, stable) and no `id`.
- 2.90: `hostname` (a DNS label) at create (400 with max_count > 1), update and
  rebuild, given to the guest's metadata; OS-EXT-SRV-ATTR:hostname shown to everyone,
  and a `hostname` filter for non-admins.
- 2.91: unshelve of an offloaded server to a `host` (admins; it must be in the zone
  the server is pinned to, 409) and `availability_zone` null unpins it
  (`Shelving._pin`).
- 2.92: a key pair create needs its `public_key` (none is generated), and its name
  may have '@' and '.' (refused below 2.92, as Nova).

Up to 2.92 a volume-backed server is rebuilt only with the image in its root volume
(another is a 400, as Nova says it). Next: 2.93 rebuilds one with another image by
reimaging its root volume (Cinder's os-reimage and the `volume-reimaged` event), which
the block storage service does not offer yet; 2.94 (FQDN hostnames), 2.95 (evacuate
leaves the server stopped) and 2.96 (pinned_availability_zone) wait behind it.
"""

from __future__ import annotations

from overcast.kit.microversion import APIVersion, VersionRange

VERSIONS = VersionRange("compute", APIVersion(2, 1), APIVersion(2, 92),
                        legacy_header="X-OpenStack-Nova-API-Version")

#: 2.65: `DELETE /servers/{id}/migrations/{mid}` also aborts a live migration whose
#: status is `queued` or `preparing` (below it, only a `running` one; others 400).
ABORT_QUEUED_LIVE_MIGRATION = "2.65"
#: 2.68: no `force` in `os-migrateLive` and `evacuate` bodies (a 400 from it).
NO_FORCE = "2.68"
