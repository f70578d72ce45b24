"""The block storage service's refusals, worded as Cinder words them.

Cinder's faults are Nova's envelope (`{"itemNotFound": {"code": 404, "message":
...}}`, `badRequest`, `conflictingRequest`, `overLimit` for quota, ...): the kit
renders the `cinder` style from the status. Cinder refuses most state conflicts
with 400 (InvalidVolume, InvalidSnapshot are `Invalid` exceptions), not 409.
"""

from __future__ import annotations

from overcast.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RequestEntityTooLarge,
    ServiceUnavailable,
)

POLICY = "Policy doesn't allow %s to be performed."


def forbidden(rule: str) -> Forbidden:
    return Forbidden(POLICY % rule)


def volume_not_found(volume_id: str) -> NotFound:
    return NotFound(f"Volume {volume_id} could not be found.")


def snapshot_not_found(snapshot_id: str) -> NotFound:
    return NotFound(f"Snapshot {snapshot_id} could not be found.")


def type_not_found(type_id: str) -> NotFound:
    return NotFound(f"Volume type {type_id} could not be found.")


def type_name_not_found(name: str) -> NotFound:
    return NotFound(f"Volume type with name {name} could not be found.")


def transfer_not_found(transfer_id: str) -> NotFound:
    return NotFound(f"Transfer {transfer_id} could not be found.")


def attachment_not_found(attachment_id: str) -> NotFound:
    return NotFound(f"Volume attachment could not be found with filter: "
                    f"attachment_id = {attachment_id}.")


def metadata_key_not_found(key: str, owner: str, ident: str) -> NotFound:
    return NotFound(f"{owner} {ident} has no metadata with key {key}.")


def invalid_volume(reason: str) -> BadRequest:
    return BadRequest(f"Invalid volume: {reason}")


def invalid_snapshot(reason: str) -> BadRequest:
    return BadRequest(f"Invalid snapshot: {reason}")


def invalid_input(reason: str) -> BadRequest:
    return BadRequest(f"Invalid input received: {reason}")


def invalid_host(reason: str) -> BadRequest:
    return BadRequest(f"Invalid host: {reason}")


def invalid_type(reason: str) -> BadRequest:
    return BadRequest(f"Invalid volume type: {reason}")


def type_exists(name: str) -> Conflict:
    return Conflict(f"Volume Type {name} already exists.")


def type_in_use(type_id: str) -> BadRequest:
    return BadRequest(f"Volume Type {type_id} deletion is not allowed with volumes "
                      "present with the type.")


def type_access_exists(type_id: str, project_id: str) -> Conflict:
    return Conflict(f"Volume type access for {type_id} / {project_id} combination "
                    "already exists.")


def type_access_not_found(type_id: str, project_id: str) -> NotFound:
    return NotFound(f"Volume type access not found for {type_id} / {project_id} "
                    "combination.")


def invalid_auth_key(transfer_id: str) -> BadRequest:
    return BadRequest(f"Invalid auth key: Attempt to transfer {transfer_id} with invalid "
                      "auth key.")


def gigabytes_quota(name: str, requested: int, quota: int, consumed: int
                    ) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
        f"{name} quota. Requested {requested}G, quota is {quota}G and {consumed}G has "
        "been consumed.")


def volume_limit(name: str, allowed: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"VolumeLimitExceeded: Maximum number of volumes allowed "
                                 f"({allowed}) exceeded for quota '{name}'.")


def snapshot_limit(name: str, allowed: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"SnapshotLimitExceeded: Maximum number of snapshots "
                                 f"allowed ({allowed}) exceeded for quota '{name}'.")


def quota_below_usage(resource: str, value: int, in_use: int) -> BadRequest:
    return BadRequest(f"Invalid input received: Quota limit {value} for {resource} must "
                      f"be greater than or equal to already used and reserved {in_use}.")


def backup_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("Service cinder-backup could not be found.")


def no_valid_backend(reason: str) -> str:
    return f"No valid backend was found. {reason}"


def bad_marker(marker: str, noun: str) -> NotFound:
    """A list's marker that names no visible record: Cinder looks the marker up as a
    record of the listed kind, and answers that kind's 404."""
    return NotFound(f"{noun} {marker} could not be found.")


def bad_sort_key(key: str) -> BadRequest:
    return BadRequest(f"Invalid input received: Invalid sort key {key}")
