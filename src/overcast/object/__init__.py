"""The object store: one store of accounts, containers and objects, served as
OpenStack Swift's v1 API (and, on the same domain layer, S3).

- `api.py` the Swift routes; `access.py` who is calling and may they touch an
  object; `bulk.py` bulk delete and archive extraction; `formpost.py` FormPost.
- Domain (plain values in, `records` out, no HTTP), for Swift and S3 alike:
  `accounts.py`, `containers.py` (and `listing.py`, the index scan behind every
  listing), `objects.py` (streamed writes, reads, copies, deletes, expiry,
  recovery), `large.py` (SLO/DLO segments), `versions.py` (legacy versioning),
  `ranges.py` (Range and conditional requests), `store.py` (the `ObjectStore`
  handle: database, backend, per-project quotas).
- `policy.py` keystoneauth's decisions and ACLs; `tempurl.py` signatures;
  `schemas.py` Swift's constraints and request checks; `views.py` the wire
  shapes; `errors.py` Swift's refusals; `models.py` the tables.
- `backends/` the data contract (`base.py`) and the embedded file backend.
"""
